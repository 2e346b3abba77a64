// The kernel's disk driver (Nachos's SynchDisk, without host threads):
// sector requests queue up and go to the disk one at a time; each finishes
// at the disk's "done" interrupt. Two kinds of requester:
//   - a guest thread (DiskRead/DiskWrite system calls): the request is plain
//     data, and the thread sleeps until the interrupt;
//   - kernel code on the host (diskIo, for a file system on the simulated
//     disk): a callback from the interrupt (the kernel turns it into a promise).
import type { Disk } from '../disk.js';

export interface GuestDiskRequest {
  tid: number;
  sector: number;
  write: boolean;
  /** Guest buffer: written to the disk (write) or filled from it (read). */
  vaddr: number;
  /** The sector to write, copied from the guest at the request. */
  data: Uint8Array | null;
}

interface HostDiskRequest {
  sector: number;
  write: boolean;
  data: Uint8Array | null;
  done: (sector: Uint8Array | null, error: string | null) => void;
}

type Request = { guest: GuestDiskRequest } | { host: HostDiskRequest };

export interface DiskDriverState {
  queue: GuestDiskRequest[];
}

export class DiskDriver {
  private queue: Request[] = [];

  constructor(
    private readonly disk: Disk,
    /** Completes a guest request: the sector read (null for a write), or the error. */
    private readonly finishGuest: (req: GuestDiskRequest, sector: Uint8Array | null, error: string | null) => void,
  ) {
    disk.onDone = () => this.done();
  }

  get sectorSize(): number {
    return this.disk.sectorSize;
  }

  get numSectors(): number {
    return this.disk.numSectors;
  }

  /** Host requests waiting or in progress (a snapshot cannot hold them). */
  get hostRequests(): number {
    return this.queue.filter((r) => 'host' in r).length;
  }

  guest(req: GuestDiskRequest): void {
    this.enqueue({ guest: req });
  }

  /** Reads (data null) or writes one sector for kernel code; `done` is called from the "done" interrupt. */
  host(sector: number, data: Uint8Array | null, done: HostDiskRequest['done']): void {
    this.enqueue({ host: { sector, write: data !== null, data, done } });
  }

  private enqueue(r: Request): void {
    this.queue.push(r);
    if (this.queue.length === 1) this.start();
  }

  private start(): void {
    const r = this.queue[0];
    const { sector, write, data } = 'guest' in r ? r.guest : r.host;
    if (write) this.disk.writeRequest(sector, data!);
    else this.disk.readRequest(sector);
  }

  private done(): void {
    const r = this.queue.shift()!;
    const error = this.disk.error;
    const sector = this.disk.buffer.slice();
    if ('guest' in r) this.finishGuest(r.guest, r.guest.write ? null : sector, error);
    else r.host.done(sector, error);
    if (this.queue.length > 0) this.start();
  }

  save(): DiskDriverState {
    if (this.hostRequests > 0) throw new Error('disk driver: cannot save while kernel code waits for the disk');
    return { queue: this.queue.flatMap((r) => ('guest' in r ? [{ ...r.guest, data: r.guest.data?.slice() ?? null }] : [])) };
  }

  restore(s: DiskDriverState): void {
    this.queue = s.queue.map((g) => ({ guest: { ...g, data: g.data?.slice() ?? null } }));
  }
}
