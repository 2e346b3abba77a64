// One host's membership of the datastore: it claims a heartbeat slot with a
// delta lease, renews it every renewal interval, keeps a local fencing
// deadline, and frees the slot when it leaves. Every write the host makes
// must pass assertCanWrite() first (guardVolume does it): once the deadline
// has passed, or a renewal found the slot taken, the host is fenced and no
// write of its reaches the disk again.
//
// Events: 'lost' (FencedError) once, when the lease is lost; 'late'
// ({ lateMs, what }) when a renewal ran late or a heartbeat write was slow.
import { EventEmitter } from 'node:events';
import { VolumeError } from '../util/errors.js';
import { now, sleep } from './clock.js';
import { ClusterConfig, readClusterConfig } from './clusterConfig.js';
import { FencedError } from './clusterErrors.js';
import { Mutex } from '../util/mutex.js';
import { HB_MAGIC_FREE, HB_MAGIC_IN_USE, HEARTBEAT_SLOTS, HeartbeatSlot, SlotState, encodeClusterSlot, freeSlot, slotOffset } from './heartbeat.js';
import { RegionSnapshot, SlotWatch } from './slotWatch.js';
import { VolumeIO } from './volumeIo.js';

export interface JoinOptions {
  uuid: string;
  /** File block of this host's journal, recorded in the slot for whoever replays it. */
  journalBlock?: number;
  /** Parameters to use; by default read from the volume. */
  config?: ClusterConfig;
  /** 'lowest' free slot (every joiner contends for the same one: for tests), or 'spread' among the first free ones. */
  slotChoice?: 'lowest' | 'spread';
  /** Give up joining after this long (ms); by default 20 claim rounds' worth. */
  timeoutMs?: number;
}

/** How many of the first free slots 'spread' picks among. */
const SPREAD = 16;

export class HostHeartbeat extends EventEmitter {
  readonly watch: SlotWatch;
  readonly slotOffset: number;
  private image: HeartbeatSlot;
  private lastWritten: Buffer;
  private claimedAt: number;
  private deadlineAt: number;
  private lost: FencedError | null = null;
  private left = false;
  private readonly writes = new Mutex();
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private nextRenewalAt = 0;

  private constructor(
    readonly volume: VolumeIO,
    readonly config: ClusterConfig,
    readonly slot: number,
    image: HeartbeatSlot,
    written: Buffer,
    claimStart: number,
    watch: SlotWatch,
  ) {
    super();
    this.watch = watch;
    this.slotOffset = slotOffset(slot);
    this.image = image;
    this.lastWritten = written;
    this.claimedAt = claimStart;
    this.deadlineAt = claimStart + config.leaseMs - config.ioTimeoutMs;
  }

  get uuid(): string {
    return this.image.hostUuid;
  }
  get generation(): number {
    return this.image.seq;
  }
  /** Local monotonic time (ms) after which this host must not write. */
  get deadline(): number {
    return this.deadlineAt;
  }
  get fenced(): FencedError | null {
    return this.lost;
  }
  /** The renewal timer should have fired by now (a busy event loop holds it up). */
  renewalOverdue(): boolean {
    return this.renewTimer !== undefined && !this.lost && !this.left && now() > this.nextRenewalAt;
  }

  /** Joined, not left, not fenced. */
  get active(): boolean {
    return !this.left && !this.lost;
  }

  /**
   * Claims a slot (this UUID's old one if it is free, else a free one) with
   * a delta lease: read, write our claim, wait 2 x ioTimeout, read again;
   * the claim holds if the slot still carries exactly what we wrote.
   */
  static async join(volume: VolumeIO, options: JoinOptions): Promise<HostHeartbeat> {
    const config = options.config ?? (await readClusterConfig(volume));
    const watch = new SlotWatch(volume, config.leaseMs);
    const io = config.ioTimeoutMs;
    const giveUp = now() + (options.timeoutMs ?? 20 * 3 * io);
    const tried = new Set<number>();
    while (now() < giveUp) {
      const readIssued = now();
      const snap = await watch.readAll();
      const index = pickFreeSlot(snap, options.uuid, options.slotChoice ?? 'spread', tried);
      if (index < 0) throw new VolumeError(`no free heartbeat slot (all ${HEARTBEAT_SLOTS} are in use)`);
      const old = snap.view(index).slot;
      const image: HeartbeatSlot = {
        ...freeSlot(index),
        magic: HB_MAGIC_IN_USE,
        seq: old.seq + 1,
        hostUuid: options.uuid,
        journalBlock: options.journalBlock ?? 0,
        state: SlotState.Live,
      };
      const claim = encodeClusterSlot(image);
      // Our read must still describe the slot when the claim lands: a claim
      // issued more than ioTimeout after its read could overwrite a winner
      // that has already finished waiting.
      const start = now();
      if (start - readIssued > io) continue;
      await volume.write(claim, slotOffset(index));
      if (now() - start > io) {
        tried.add(index);
        continue;
      }
      await sleep(2 * io);
      const check = Buffer.alloc(512);
      await volume.read(check, slotOffset(index));
      if (!check.equals(claim)) {
        tried.add(index); // another host's claim landed after ours: it has the slot
        continue;
      }
      const host = new HostHeartbeat(volume, config, index, image, claim, start, watch);
      await host.renew();
      if (host.lost) throw host.lost;
      host.scheduleRenewal();
      return host;
    }
    throw new VolumeError(`could not claim a heartbeat slot within ${Math.round((options.timeoutMs ?? 20 * 3 * io) / 1000)} s (contention or slow storage)`);
  }

  /** Throws FencedError unless this host still holds its lease. Synchronous: call it right before each write. */
  assertCanWrite(): void {
    if (this.lost) throw this.lost;
    if (this.left) throw new FencedError('this host has left the datastore');
    if (now() >= this.deadlineAt) throw this.fence(`no heartbeat renewal for ${Math.round(now() - this.lastRenewalStart())} ms`);
  }

  private lastRenewalStart(): number {
    return this.deadlineAt - this.config.leaseMs + this.config.ioTimeoutMs;
  }

  private fence(reason: string): FencedError {
    if (!this.lost) {
      this.lost = new FencedError(reason);
      this.stopTimers();
      // Reported after the current call stack so a throwing caller sees the error first.
      const err = this.lost;
      queueMicrotask(() => this.emit('lost', err));
    }
    return this.lost;
  }

  /**
   * Writes our slot with `patch` applied (and uptime bumped). Writes are
   * serialized and each one carries the whole current image; one that
   * completes within ioTimeout moves the deadline like a renewal.
   */
  writeOwnSlot(patch: Partial<HeartbeatSlot> = {}): Promise<void> {
    Object.assign(this.image, patch);
    return this.writes.run(() => this.writeImage());
  }

  private async writeImage(): Promise<void> {
    this.image.uptime = Math.max(this.image.uptime + 1, Math.round((now() - this.claimedAt) * 1000));
    const buf = encodeClusterSlot(this.image);
    this.assertCanWrite();
    const start = now();
    await this.volume.write(buf, this.slotOffset);
    const took = now() - start;
    this.lastWritten = buf;
    if (took <= this.config.ioTimeoutMs) this.extend(start);
    else this.emit('late', { lateMs: took, what: 'heartbeat write' });
  }

  private extend(start: number): void {
    const d = start + this.config.leaseMs - this.config.ioTimeoutMs;
    if (d > this.deadlineAt) this.deadlineAt = d;
    this.armDeadline();
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      if (this.lost || this.left) return;
      if (now() >= this.deadlineAt) this.fence('heartbeat renewals stopped');
      else this.armDeadline(); // a timer may fire a little before performance.now() says it is due
    }, Math.max(1, this.deadlineAt - now() + 1));
    this.deadlineTimer.unref();
  }

  /** One renewal: read the region (watching every host), check our slot is still ours, write it. */
  private async renew(): Promise<void> {
    try {
      (await this.watch.readAll()).release();
      await this.writes.run(async () => {
        const mine = Buffer.alloc(this.lastWritten.length);
        await this.volume.read(mine, this.slotOffset);
        // Someone wrote our slot: it judged us dead (we were paused or cut off), or a second host uses our slot.
        if (!mine.equals(this.lastWritten)) throw this.fence('another host took over our heartbeat slot');
        await this.writeImage();
      });
    } catch (e) {
      if (e instanceof FencedError) return;
      // An I/O error: keep trying until the deadline decides.
      this.emit('late', { lateMs: 0, what: `heartbeat I/O failed: ${(e as Error).message}` });
    }
  }

  private scheduleRenewal(): void {
    if (this.lost || this.left) return;
    this.nextRenewalAt = now() + this.config.renewMs;
    // Not unref'd: a joined host keeps its process alive until it leaves.
    this.renewTimer = setTimeout(() => void this.tick(), this.config.renewMs);
  }

  private async tick(): Promise<void> {
    const late = now() - this.nextRenewalAt;
    // The timer fired late (event loop blocked, process paused): say so, even if the lease survived.
    if (late > this.config.renewMs / 2) this.emit('late', { lateMs: late, what: 'renewal timer' });
    this.nextRenewalAt = Infinity; // running: not overdue
    await this.renew();
    this.scheduleRenewal();
  }

  /** A fresh read of the whole region (also feeds the liveness watch). */
  readRegion(): Promise<RegionSnapshot> {
    return this.watch.readAll();
  }

  /** The slots that take part in the reservation, as cheaply as is safe (SlotWatch.readInUse). */
  readParticipants(): Promise<RegionSnapshot> {
    return this.watch.readInUse(1.5 * this.config.ioTimeoutMs);
  }

  /** Records this host's journal block in its slot. */
  setJournalBlock(block: number): Promise<void> {
    return this.writeOwnSlot({ journalBlock: block });
  }

  /** Writes another (dead) host's slot, as a takeover does: fenced like our own writes. */
  async writeOtherSlot(index: number, slot: HeartbeatSlot): Promise<void> {
    const buf = encodeClusterSlot(slot);
    this.assertCanWrite();
    await this.volume.write(buf, slotOffset(index));
  }

  /** Clean leave: stop renewing and free the slot (keeping UUID and generation so the host can come back to it). */
  async leave(): Promise<void> {
    if (this.left) return;
    this.stopTimers();
    if (!this.lost) {
      await this.writes.run(async () => {
        this.assertCanWrite();
        await this.volume.write(encodeClusterSlot(freeSlot(this.slot, { seq: this.image.seq, hostUuid: this.image.hostUuid })), this.slotOffset);
        await this.volume.flush();
      });
    }
    this.left = true;
  }

  private stopTimers(): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
  }
}

function pickFreeSlot(snap: RegionSnapshot, uuid: string, choice: 'lowest' | 'spread', tried: Set<number>): number {
  const free: number[] = [];
  for (let i = 0; i < HEARTBEAT_SLOTS; i++) {
    if (snap.raw(i).readUInt32LE(0) !== HB_MAGIC_FREE || tried.has(i)) continue;
    if (snap.view(i).slot.hostUuid === uuid) return i;
    free.push(i);
  }
  if (free.length === 0 && tried.size > 0) {
    tried.clear(); // every free slot lost a race once: try them again
    return pickFreeSlot(snap, uuid, choice, tried);
  }
  if (free.length === 0) return -1;
  return choice === 'lowest' ? free[0] : free[Math.floor(Math.random() * Math.min(SPREAD, free.length))];
}
