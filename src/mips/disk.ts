// The simulated disk, as Nachos's machine/disk.cc: one sector read or
// written at a time, finishing with a "disk done" interrupt after the time a
// real disk would take: the seek to the sector's track (SeekTime per track),
// the wait for the sector to rotate under the head (RotationTime per
// sector), and the transfer of the sector itself (RotationTime); reads from
// the track most recently seeked to come from the track buffer.
//
// The sectors live behind SectorStore, which may be synchronous (memory) or
// asynchronous (a virtual disk file): the transfer to or from the store
// starts at the request, and the machine awaits it (hostWait) before
// simulated time goes on, so a run does not depend on host I/O timing.
import { type Interrupt, IntType } from './interrupt.js';
import { RotationTime, SectorsPerTrack, SeekTime, type Stats } from './stats.js';

/** What the disk stores its sectors in. */
export interface SectorStore {
  readonly sectorSize: number;
  readonly numSectors: number;
  readSector(sector: number, buf: Uint8Array): void | Promise<void>;
  writeSector(sector: number, buf: Uint8Array): void | Promise<void>;
}

/** Sectors in host memory. */
export class MemorySectorStore implements SectorStore {
  readonly bytes: Uint8Array;
  constructor(
    readonly numSectors: number,
    readonly sectorSize = 128,
  ) {
    this.bytes = new Uint8Array(numSectors * sectorSize);
  }
  readSector(sector: number, buf: Uint8Array): void {
    buf.set(this.bytes.subarray(sector * this.sectorSize, (sector + 1) * this.sectorSize));
  }
  writeSector(sector: number, buf: Uint8Array): void {
    this.bytes.set(buf.subarray(0, this.sectorSize), sector * this.sectorSize);
  }
}

export class DiskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiskError';
  }
}

export interface DiskState {
  active: boolean;
  lastSector: number;
  bufferInit: number;
  buffer: Uint8Array;
  error: string | null;
}

export class Disk {
  readonly sectorSize: number;
  readonly numSectors: number;
  /** The sector moved by the request in progress (or the last one). */
  buffer: Uint8Array;
  /** Kernel hook, called from the "disk done" interrupt. */
  onDone: (() => void) | null = null;
  /** Why the last request failed on the host, or null. */
  error: string | null = null;

  private active = false;
  private lastSector = 0;
  /** When the track buffer started filling with the current track. */
  private bufferInit = 0;
  private hostIo: Promise<void> | null = null;

  constructor(
    private readonly interrupt: Interrupt,
    private readonly stats: Stats,
    private readonly store: SectorStore,
    readonly sectorsPerTrack = SectorsPerTrack,
  ) {
    if (!(store.sectorSize > 0) || !(store.numSectors > 0)) throw new DiskError('disk: the sector store has no sectors');
    this.sectorSize = store.sectorSize;
    this.numSectors = store.numSectors;
    this.buffer = new Uint8Array(this.sectorSize);
    interrupt.setHandler(IntType.Disk, () => this.done());
  }

  get busy(): boolean {
    return this.active;
  }

  /** Starts reading `sector` into `buffer`; "disk done" follows after the modelled latency. */
  readRequest(sector: number): void {
    this.start(sector, false);
    this.transfer(() => this.store.readSector(sector, this.buffer));
    this.stats.numDiskReads++;
  }

  /** Starts writing `data` (one sector) to `sector`. */
  writeRequest(sector: number, data: Uint8Array): void {
    if (data.length !== this.sectorSize) throw new DiskError(`disk: a write is one ${this.sectorSize}-byte sector (got ${data.length} bytes)`);
    this.start(sector, true);
    this.buffer.set(data);
    this.transfer(() => this.store.writeSector(sector, this.buffer));
    this.stats.numDiskWrites++;
  }

  /** Ticks a request for `sector` issued now would take (seek + rotation + transfer). */
  computeLatency(sector: number, writing: boolean): number {
    const { seek, rotation } = this.timeToSeek(sector);
    const timeAfter = this.stats.totalTicks + seek + rotation;
    // Track buffer: the sector already passed under the head since the track was reached.
    if (
      !writing &&
      seek === 0 &&
      Math.floor((timeAfter - this.bufferInit) / RotationTime) > this.moduloDiff(sector, Math.floor(this.bufferInit / RotationTime))
    ) {
      return RotationTime;
    }
    return seek + rotation + this.moduloDiff(sector, Math.floor(timeAfter / RotationTime)) * RotationTime + RotationTime;
  }

  /** A promise to await before simulated time goes on, while a host transfer is in flight; else null. */
  hostWait(): Promise<void> | null {
    return this.hostIo;
  }

  private start(sector: number, writing: boolean): void {
    if (this.active) throw new DiskError('disk: only one request at a time');
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.numSectors) {
      throw new DiskError(`disk: sector ${sector} is outside the disk (0..${this.numSectors - 1})`);
    }
    const ticks = this.computeLatency(sector, writing);
    this.active = true;
    this.error = null;
    // Nachos's UpdateLast: a seek to a new track restarts the track buffer.
    const { seek, rotation } = this.timeToSeek(sector);
    if (seek !== 0) this.bufferInit = this.stats.totalTicks + seek + rotation;
    this.lastSector = sector;
    this.interrupt.schedule(IntType.Disk, ticks);
  }

  private transfer(io: () => void | Promise<void>): void {
    try {
      const p = io();
      if (p) {
        this.hostIo = p.then(
          () => {
            this.hostIo = null;
          },
          (e: unknown) => {
            this.hostIo = null;
            this.error = e instanceof Error ? e.message : String(e);
          },
        );
      }
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
  }

  private timeToSeek(sector: number): { seek: number; rotation: number } {
    const newTrack = Math.floor(sector / this.sectorsPerTrack);
    const oldTrack = Math.floor(this.lastSector / this.sectorsPerTrack);
    const seek = Math.abs(newTrack - oldTrack) * SeekTime;
    // Finishing the seek mid-sector means waiting for the next sector boundary.
    const over = (this.stats.totalTicks + seek) % RotationTime;
    return { seek, rotation: over > 0 ? RotationTime - over : 0 };
  }

  /** Sectors the disk must rotate to get from position `from` to sector `to`. */
  private moduloDiff(to: number, from: number): number {
    const n = this.sectorsPerTrack;
    return ((to % n) - (from % n) + n) % n;
  }

  private done(): void {
    this.active = false;
    this.onDone?.();
  }

  save(): DiskState {
    if (this.hostIo) throw new DiskError('disk: cannot save while a host transfer is in flight (await hostWait first)');
    return { active: this.active, lastSector: this.lastSector, bufferInit: this.bufferInit, buffer: this.buffer.slice(), error: this.error };
  }

  restore(s: DiskState): void {
    this.active = s.active;
    this.lastSector = s.lastSector;
    this.bufferInit = s.bufferInit;
    this.buffer = s.buffer.slice();
    this.error = s.error;
  }
}
