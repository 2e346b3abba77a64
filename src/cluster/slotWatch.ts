// Reads heartbeat slots and watches them change. Liveness is judged only
// with the local monotonic clock: a slot is dead when a read issued at least
// leaseMs after we first saw its current value (timed at the end of that
// first read) still returns that value. See docs/CLUSTER.md for why that
// means its host has fenced itself.
import { now, sleep } from './clock.js';
import {
  HB_CLUSTER_MAGIC,
  HB_MAGIC_IN_USE,
  HEARTBEAT_REGION_OFFSET,
  HEARTBEAT_REGION_SIZE,
  HEARTBEAT_SLOT_SIZE,
  HEARTBEAT_SLOTS,
  HeartbeatSlot,
  SlotState,
  clusterSlotIntact,
  heartbeatSlotStruct,
  slotOffset,
} from './heartbeat.js';
import { VolumeIO } from './volumeIo.js';

/** Bytes of a slot that carry its fields; the rest of the sector is never written by us. */
const WATCHED_BYTES = 0x60;
/** Re-reads of a slot whose crc does not match before it counts as unsettled (a torn read lasts microseconds). */
const TORN_RETRIES = 20;

export interface SlotView {
  index: number;
  offset: number;
  /** Magic says in use (live or being replayed, ours or a foreign host's). */
  inUse: boolean;
  /** Written by vmfs-ts and its crc matches. */
  intact: boolean;
  /** Carries our marker but its crc kept failing: a value we could not read whole. */
  unsettled: boolean;
  slot: HeartbeatSlot;
  /** The slot's 512 bytes as read. */
  raw: Buffer;
}

export class RegionSnapshot {
  constructor(
    private readonly buf: Buffer,
    private readonly pool?: Buffer[],
    /** For a snapshot of some slots only (readInUse): the ones read and found in use. */
    private readonly only?: number[],
  ) {}

  /** Hands the 1 MiB buffer back for the next read (the snapshot must not be used after). Optional: saves garbage on hot paths. */
  release(): void {
    if (this.pool && this.pool.length < 2) this.pool.push(this.buf);
  }

  view(index: number): SlotView {
    return viewOf(this.buf, index * HEARTBEAT_SLOT_SIZE, index);
  }

  /** Indexes of slots whose magic says in use. */
  inUse(): number[] {
    if (this.only) return this.only;
    const out: number[] = [];
    for (let i = 0; i < HEARTBEAT_SLOTS; i++) if (this.buf.readUInt32LE(i * HEARTBEAT_SLOT_SIZE) === HB_MAGIC_IN_USE) out.push(i);
    return out;
  }

  raw(index: number): Buffer {
    return this.buf.subarray(index * HEARTBEAT_SLOT_SIZE, (index + 1) * HEARTBEAT_SLOT_SIZE);
  }
}

function viewOf(buf: Buffer, base: number, index: number): SlotView {
  const inUse = buf.readUInt32LE(base) === HB_MAGIC_IN_USE;
  const intact = clusterSlotIntact(buf, base);
  const marked = buf.readUInt32LE(base + 0x38) === HB_CLUSTER_MAGIC;
  const raw = buf.subarray(base, base + HEARTBEAT_SLOT_SIZE);
  return { index, offset: slotOffset(index), inUse, intact, unsettled: marked && !intact, slot: heartbeatSlotStruct.decode(buf, base), raw };
}

/** True when the slot is one of ours, live, and may take part in the reservation. */
export function isLiveParticipant(v: SlotView): boolean {
  return v.inUse && v.intact && v.slot.state === SlotState.Live;
}

interface Seen {
  bytes: Buffer;
  /** When the first read returning these bytes completed. */
  firstDone: number;
  /** When the latest read returning these bytes was issued. */
  lastSameIssued: number;
}

export class SlotWatch {
  private readonly seen = new Map<number, Seen>();
  private readonly spare: Buffer[] = [];
  /** When the latest whole-region read was issued. */
  private lastFullIssued = -Infinity;

  constructor(
    private readonly volume: VolumeIO,
    readonly leaseMs: number,
  ) {}

  /** Reads the whole region (one 1 MiB read), re-reading torn slots, and records what changed. */
  async readAll(): Promise<RegionSnapshot> {
    const buf = this.spare.pop() ?? Buffer.allocUnsafe(HEARTBEAT_REGION_SIZE);
    const issued = now();
    await this.volume.read(buf, HEARTBEAT_REGION_OFFSET);
    const done = now();
    this.lastFullIssued = issued;
    for (let i = 0; i < HEARTBEAT_SLOTS; i++) {
      const base = i * HEARTBEAT_SLOT_SIZE;
      if (buf.readUInt32LE(base) !== HB_MAGIC_IN_USE) {
        this.seen.delete(i);
        continue;
      }
      if (buf.readUInt32LE(base + 0x38) === HB_CLUSTER_MAGIC && !clusterSlotIntact(buf, base)) {
        await this.settle(buf.subarray(base, base + HEARTBEAT_SLOT_SIZE), i);
        this.observe(i, buf.subarray(base, base + HEARTBEAT_SLOT_SIZE), now(), now());
      } else {
        this.observe(i, buf.subarray(base, base + HEARTBEAT_SLOT_SIZE), issued, done);
      }
    }
    return new RegionSnapshot(buf, this.spare);
  }

  /**
   * Reads just the slots the latest whole-region read found in use, one
   * sector each, if that read was issued within `maxAgeMs`; otherwise the
   * whole region. The reservation may use it: a joining host waits twice the
   * I/O timeout after its claim before it takes part, so with `maxAgeMs`
   * below that, the whole-region read saw its claim (docs/CLUSTER.md §4).
   */
  async readInUse(maxAgeMs: number): Promise<RegionSnapshot> {
    if (now() - this.lastFullIssued > maxAgeMs) return this.readAll();
    const buf = this.spare.pop() ?? Buffer.allocUnsafe(HEARTBEAT_REGION_SIZE);
    const found: number[] = [];
    for (const index of [...this.seen.keys()].sort((a, b) => a - b)) {
      const sector = buf.subarray(index * HEARTBEAT_SLOT_SIZE, (index + 1) * HEARTBEAT_SLOT_SIZE);
      const view = await this.readInto(sector, index);
      if (view.inUse) found.push(index);
    }
    return new RegionSnapshot(buf, this.spare, found);
  }

  /** Reads one slot, re-reading a torn value, and records it. */
  readSlot(index: number): Promise<SlotView> {
    return this.readInto(Buffer.allocUnsafe(HEARTBEAT_SLOT_SIZE), index);
  }

  private async readInto(buf: Buffer, index: number): Promise<SlotView> {
    const issued = now();
    await this.volume.read(buf, slotOffset(index));
    let done = now();
    if (buf.readUInt32LE(0x38) === HB_CLUSTER_MAGIC && !clusterSlotIntact(buf)) {
      await this.settle(buf, index);
      done = now();
    }
    if (buf.readUInt32LE(0) === HB_MAGIC_IN_USE) this.observe(index, buf, issued, done);
    else this.seen.delete(index);
    return viewOf(buf, 0, index);
  }

  private async settle(sector: Buffer, index: number): Promise<void> {
    for (let n = 0; n < TORN_RETRIES && !clusterSlotIntact(sector); n++) {
      await sleep(n < 5 ? 0 : 1);
      await this.volume.read(sector, slotOffset(index));
    }
  }

  private observe(index: number, sector: Buffer, issued: number, done: number): void {
    const fields = sector.subarray(0, WATCHED_BYTES);
    const s = this.seen.get(index);
    if (s && s.bytes.equals(fields)) {
      s.lastSameIssued = Math.max(s.lastSameIssued, issued);
    } else {
      this.seen.set(index, { bytes: Buffer.from(fields), firstDone: done, lastSameIssued: issued });
    }
  }

  /** How long (ms) we have watched the slot keep its current value; 0 if it just changed or is unknown. */
  unchangedFor(index: number): number {
    const s = this.seen.get(index);
    return s ? Math.max(0, s.lastSameIssued - s.firstDone) : 0;
  }

  isDead(index: number): boolean {
    return this.unchangedFor(index) >= this.leaseMs;
  }

  /** Every watched slot that is dead now, with the generation it shows. */
  deadSlots(): { index: number; generation: number }[] {
    const out: { index: number; generation: number }[] = [];
    for (const [index, s] of this.seen) {
      if (s.lastSameIssued - s.firstDone >= this.leaseMs) out.push({ index, generation: Number(s.bytes.readBigUInt64LE(0x0c)) });
    }
    return out;
  }

  /** The value last seen in the slot's watched bytes (to check nothing changed before acting on a death). */
  lastSeen(index: number): Buffer | undefined {
    return this.seen.get(index)?.bytes;
  }

  /** True when `sector` still holds the bytes we judged. */
  static sameFields(a: Uint8Array, b: Uint8Array): boolean {
    return Buffer.from(a.buffer, a.byteOffset, WATCHED_BYTES).equals(Buffer.from(b.buffer, b.byteOffset, WATCHED_BYTES));
  }
}
