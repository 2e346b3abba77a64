// The kernel's console driver (Nachos's SynchConsole, without host
// threads): Write requests queue up and go out a character at a time, each
// started by the previous character's "write done" interrupt; readers queue
// up and each gets the next character the console delivers. Whole requests
// never interleave. The waiting threads are woken through `wake`; every
// queued request is plain data.
import { type Console, EOF } from '../console.js';

export interface WriteRequest {
  tid: number;
  data: Uint8Array;
  pos: number;
}

export interface ReadRequest {
  tid: number;
  vaddr: number;
}

export interface ConsoleDriverState {
  writes: WriteRequest[];
  reads: ReadRequest[];
  eof: boolean;
}

export class ConsoleDriver {
  private writes: WriteRequest[] = [];
  private reads: ReadRequest[] = [];
  /** The input has ended: reads answer 0 at once from now on. */
  eof = false;

  constructor(
    private readonly console: Console,
    /** Wakes `tid` with the byte count (writes), or with the byte read / null at end of input (reads). */
    private readonly wake: { written(tid: number, count: number): void; read(req: ReadRequest, byte: number | null): void },
    /** Whether a thread still exists (a killed one's requests are dropped). */
    private readonly alive: (tid: number) => boolean,
  ) {
    console.onWriteDone = () => this.writeDone();
    console.onCharAvailable = () => this.charAvailable();
  }

  /** Queues `data` for output on behalf of `tid`, which sleeps until all of it is out. */
  write(tid: number, data: Uint8Array): void {
    this.writes.push({ tid, data, pos: 0 });
    if (this.writes.length === 1) this.console.putChar(data[0]);
  }

  /** Queues a one-byte read to guest address `vaddr` for `tid`. */
  read(tid: number, vaddr: number): void {
    this.reads.push({ tid, vaddr });
    this.console.armRead();
  }

  private writeDone(): void {
    const head = this.writes[0];
    head.pos++;
    if (head.pos < head.data.length && this.alive(head.tid)) {
      this.console.putChar(head.data[head.pos]);
      return;
    }
    this.writes.shift();
    if (this.alive(head.tid)) this.wake.written(head.tid, head.data.length);
    // Skip requests whose threads died while queued.
    while (this.writes.length > 0 && !this.alive(this.writes[0].tid)) this.writes.shift();
    if (this.writes.length > 0) this.console.putChar(this.writes[0].data[0]);
  }

  private charAvailable(): void {
    while (this.reads.length > 0 && !this.alive(this.reads[0].tid)) this.reads.shift();
    const req = this.reads.shift();
    if (!req) {
      this.console.disarmRead();
      return;
    }
    const c = this.console.getChar();
    if (c === EOF || c === null) {
      this.eof = true;
      this.console.disarmRead();
      this.wake.read(req, null);
      for (const r of this.reads.splice(0)) if (this.alive(r.tid)) this.wake.read(r, null);
      return;
    }
    this.wake.read(req, c);
    if (this.reads.length === 0) this.console.disarmRead();
  }

  save(): ConsoleDriverState {
    return { writes: this.writes.map((w) => ({ ...w, data: w.data.slice() })), reads: this.reads.map((r) => ({ ...r })), eof: this.eof };
  }

  restore(s: ConsoleDriverState): void {
    this.writes = s.writes.map((w) => ({ ...w, data: w.data.slice() }));
    this.reads = s.reads.map((r) => ({ ...r }));
    this.eof = s.eof;
  }
}
