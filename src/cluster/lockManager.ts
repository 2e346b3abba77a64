// Locks in the lock headers of metadata objects (inodes, bitmap entries).
// A lock names its holder by heartbeat slot, heartbeat generation and UUID;
// it is valid while that host incarnation is live. Acquiring reads, checks
// and writes the lock sector inside the volume-wide reservation and bumps
// objSeq, which the caller compares with the objSeq of its last hold to tell
// whether its cached copy of the object is stale. A lock held by a dead host
// is broken only after that host's journal has been replayed (Takeover).
//
// Modes: exclusive (one holder), read-only and multi-writer (up to 8 holders
// each, listed in the header's holders array as slot offset + generation).
import { VolumeError } from '../util/errors.js';
import { NULL_UUID } from '../util/uuid.js';
import { now, sleep } from './clock.js';
import { LockBusyError } from './clusterErrors.js';
import { HostHeartbeat } from './hostHeartbeat.js';
import { LOCK_HEADER_SIZE, LockHeader, LockMode, MAX_LOCK_HOLDERS, lockHeaderStruct } from './lockHeader.js';
import { Reservation } from './reservation.js';
import { HolderStatus, ReplayFn, Takeover } from './takeover.js';
import { VolumeIO } from './volumeIo.js';

export interface LockGrant {
  offset: number;
  mode: LockMode;
  /** The object's objSeq after this acquisition. Equal to (objSeq of our last hold + 1) iff nobody locked it since. */
  objSeq: number;
}

export interface AcquireOptions {
  /** How long to wait (ms) for a live holder to release, or a dead one to be taken over; 0 (default) fails at once with LockBusyError. */
  waitMs?: number;
}

export interface LockManagerOptions {
  host: HostHeartbeat;
  /** The volume to read and write lock sectors through: a guarded one, so a fenced host writes nothing. */
  volume: VolumeIO;
  reservation: Reservation;
  /** Replays a dead host's journal before its locks are broken. */
  replay: ReplayFn;
}

interface Holder {
  pos: number;
  gen: number;
}

export interface LockState {
  mode: LockMode;
  objSeq: number;
  /** Exclusive: the holder; shared modes: every listed holder. */
  holders: { slotOffset: number; generation: number; status: HolderStatus }[];
  uuid: string;
}

const MODE_NAMES: Record<LockMode, string> = { [LockMode.Free]: 'free', [LockMode.Exclusive]: 'exclusive', [LockMode.ReadOnly]: 'read-only', [LockMode.MultiWriter]: 'multi-writer' };

export class LockManager {
  readonly takeover: Takeover;
  private readonly held = new Map<number, LockMode>();
  private readonly host: HostHeartbeat;
  private readonly volume: VolumeIO;
  private readonly reservation: Reservation;

  constructor(options: LockManagerOptions) {
    this.host = options.host;
    this.volume = options.volume;
    this.reservation = options.reservation;
    this.takeover = new Takeover(options.host, options.reservation, options.replay, options.volume);
  }

  /** Locks the object whose lock header is at logical `offset` in `mode`. */
  async acquire(offset: number, mode: LockMode.Exclusive | LockMode.ReadOnly | LockMode.MultiWriter, options: AcquireOptions = {}): Promise<LockGrant> {
    const giveUp = now() + (options.waitMs ?? 0);
    for (let backoff = 1; ; backoff = Math.min(this.host.config.renewMs / 4, backoff * 2)) {
      const r = await this.reservation.run(() => this.tryAcquire(offset, mode));
      if ('objSeq' in r) {
        this.held.set(offset, mode);
        return r;
      }
      let progressed = false;
      for (const b of r.blockers) if (await this.takeover.resolve(b.pos, b.gen)) progressed = true;
      if (progressed) continue;
      if (now() >= giveUp) throw new LockBusyError(offset, r.uuid, MODE_NAMES[r.mode as LockMode] ?? `mode ${r.mode}`);
      await sleep(backoff);
    }
  }

  private async tryAcquire(offset: number, mode: LockMode): Promise<LockGrant | { blockers: Holder[]; uuid: string; mode: number }> {
    const { header: h, raw } = await this.readHeader(offset);
    const me: Holder = { pos: this.host.slotOffset, gen: this.host.generation };
    const others: Holder[] = [];
    for (const x of holdersOf(h)) {
      if (x.pos === me.pos && x.gen === me.gen) continue;
      if ((await this.takeover.status(x.pos, x.gen)) !== 'gone') others.push(x);
    }
    const shared = mode === LockMode.ReadOnly || mode === LockMode.MultiWriter;
    const compatible = others.length === 0 || (shared && h.mode === mode && others.length < MAX_LOCK_HOLDERS);
    if (!compatible) return { blockers: others, uuid: h.hbUuid, mode: h.mode };
    const holders = shared ? [...others, me] : [];
    const next: LockHeader = {
      ...h,
      hbPos: me.pos,
      hbSeq: me.gen,
      objSeq: h.objSeq + 1,
      mode,
      hbUuid: this.host.uuid,
      mtime: Math.floor(Date.now() / 1000),
      numHolders: holders.length,
      holders: encodeHolders(holders),
    };
    await this.writeHeader(offset, raw, next);
    return { offset, mode, objSeq: next.objSeq };
  }

  /** Releases a lock this host holds. */
  async release(offset: number): Promise<void> {
    const mode = this.held.get(offset);
    if (mode === undefined) throw new Error(`lock 0x${offset.toString(16)} is not held by this host`);
    const me: Holder = { pos: this.host.slotOffset, gen: this.host.generation };
    const drop = async () => {
      const { header: h, raw } = await this.readHeader(offset);
      const all = holdersOf(h);
      const rest = all.filter((x) => !(x.pos === me.pos && x.gen === me.gen));
      // Someone broke our hold (only possible once we were presumed dead): leave their lock alone.
      if (rest.length === all.length) throw new VolumeError(`lock 0x${offset.toString(16)} is no longer held by this host (now ${MODE_NAMES[h.mode as LockMode] ?? h.mode}, host ${h.hbUuid})`);
      const freed = h.mode === LockMode.Exclusive || rest.length === 0;
      const next: LockHeader = freed
        ? { ...h, hbPos: 0, hbSeq: 0, mode: LockMode.Free, hbUuid: NULL_UUID, numHolders: 0, holders: encodeHolders([]) }
        : { ...h, numHolders: rest.length, holders: encodeHolders(rest) };
      await this.writeHeader(offset, raw, next);
    };
    // While we hold it exclusively no other host writes the sector, so one write frees it;
    // shared holders edit a common list and need the reservation.
    try {
      if (mode === LockMode.Exclusive) await drop();
      else await this.reservation.run(drop);
    } finally {
      this.held.delete(offset);
    }
  }

  /** Who holds the lock at `offset`, and how each holder stands (for tools). */
  async inspect(offset: number): Promise<LockState> {
    const { header: h } = await this.readHeader(offset);
    const holders = [];
    for (const x of holdersOf(h)) holders.push({ slotOffset: x.pos, generation: x.gen, status: await this.takeover.status(x.pos, x.gen) });
    return { mode: h.mode, objSeq: h.objSeq, holders, uuid: h.hbUuid };
  }

  private async readHeader(offset: number): Promise<{ header: LockHeader; raw: Buffer }> {
    const raw = Buffer.alloc(LOCK_HEADER_SIZE);
    await this.volume.read(raw, offset);
    return { header: lockHeaderStruct.decode(raw), raw };
  }

  /** Writes the sector as read with the header fields replaced (bytes past them stay as they are). */
  private async writeHeader(offset: number, raw: Buffer, h: LockHeader): Promise<void> {
    lockHeaderStruct.encodeInto(h, raw);
    await this.volume.write(raw, offset);
  }
}

/** The holders a header names: the owner for exclusive, the listed ones for shared modes. */
export function holdersOf(h: LockHeader): Holder[] {
  if (h.mode === LockMode.Exclusive) return [{ pos: h.hbPos, gen: h.hbSeq }];
  if (h.mode !== LockMode.ReadOnly && h.mode !== LockMode.MultiWriter) return [];
  const out: Holder[] = [];
  const n = Math.min(h.numHolders, MAX_LOCK_HOLDERS);
  for (let i = 0; i < n; i++) out.push({ pos: Number(h.holders.readBigUInt64LE(i * 16)), gen: Number(h.holders.readBigUInt64LE(i * 16 + 8)) });
  return out;
}

function encodeHolders(list: Holder[]): Buffer {
  const b = Buffer.alloc(MAX_LOCK_HOLDERS * 16);
  list.forEach((x, i) => {
    b.writeBigUInt64LE(BigInt(x.pos), i * 16);
    b.writeBigUInt64LE(BigInt(x.gen), i * 16 + 8);
  });
  return b;
}
