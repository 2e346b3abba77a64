// The simulated console, as Nachos's machine/console.cc: a terminal that
// writes one character at a time, each taking ConsoleTime ticks and ending
// with a "write done" interrupt, and that delivers typed characters one at a
// time through a "character available" interrupt.
//
// Unlike Nachos, the console samples its input only while the kernel has a
// reader waiting (armRead), and then waits for the host to have the next
// byte (or end of input) before simulated time goes on. So piped input gives
// the same run every time, however the host delivers it.
import { type Interrupt, IntType } from './interrupt.js';
import { ConsoleTime, type Stats } from './stats.js';

/** A byte source for the console. */
export interface ConsoleInput {
  /** Whether take() can answer now. */
  ready(): boolean;
  /** The next byte, or null at end of input; only when ready(). */
  take(): number | null;
  /** Resolves when ready() becomes true. */
  wait(): Promise<void>;
}

/** Input fixed in advance (tests, --input): always ready. */
export class BufferInput implements ConsoleInput {
  private pos = 0;
  private readonly bytes: Uint8Array;
  constructor(data: string | Uint8Array) {
    this.bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  }
  ready(): boolean {
    return true;
  }
  take(): number | null {
    return this.pos < this.bytes.length ? this.bytes[this.pos++] : null;
  }
  wait(): Promise<void> {
    return Promise.resolve();
  }
}

/** Input from a host stream (stdin): buffers chunks as they arrive. */
export class StreamInput implements ConsoleInput {
  private chunks: Uint8Array[] = [];
  private pos = 0;
  private ended = false;
  private waiter: (() => void) | null = null;

  constructor(private readonly stream: NodeJS.ReadableStream) {
    stream.on('data', (c: Buffer | string) => {
      this.chunks.push(typeof c === 'string' ? new TextEncoder().encode(c) : new Uint8Array(c));
      this.wake();
    });
    stream.on('end', () => this.finish());
    stream.on('error', () => this.finish());
    // Read only while the guest waits, so an idle guest does not keep the host busy.
    stream.pause();
  }
  ready(): boolean {
    this.dropSpent();
    return this.ended || this.chunks.length > 0;
  }
  take(): number | null {
    this.dropSpent();
    if (this.chunks.length > 0) return this.chunks[0][this.pos++];
    if (this.ended) return null;
    throw new Error('console input taken before it was ready');
  }
  wait(): Promise<void> {
    if (this.ready()) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = () => {
        this.stream.pause();
        resolve();
      };
      this.stream.resume();
    });
  }
  /** Stops listening (the guest finished before its input did). */
  close(): void {
    this.stream.pause();
    this.stream.removeAllListeners('data');
  }
  private finish(): void {
    this.ended = true;
    this.wake();
  }
  /** Drops used-up and empty chunks, so that a chunk left means a byte is there. */
  private dropSpent(): void {
    while (this.chunks.length > 0 && this.pos >= this.chunks[0].length) {
      this.chunks.shift();
      this.pos = 0;
    }
  }
  private wake(): void {
    if (this.ready() && this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }
}

/** The end-of-input marker getChar returns. */
export const EOF = -1;

export interface ConsoleState {
  putBusy: boolean;
  incoming: number | null;
  polling: boolean;
  armed: boolean;
}

export class Console {
  /** Kernel hooks, called from interrupt handlers. */
  onWriteDone: (() => void) | null = null;
  onCharAvailable: (() => void) | null = null;

  private putBusy = false;
  /** The character delivered and not yet taken by getChar (EOF included), or null. */
  private incoming: number | null = null;
  /** A read poll is scheduled. */
  private polling = false;
  /** The kernel wants input. */
  private armed = false;

  constructor(
    private readonly interrupt: Interrupt,
    private readonly stats: Stats,
    private readonly input: ConsoleInput | null,
    private readonly output: (byte: number) => void,
  ) {
    interrupt.setHandler(IntType.ConsoleWrite, () => this.writeDone());
    interrupt.setHandler(IntType.ConsoleRead, () => this.poll());
  }

  /** Starts writing one character; "write done" follows ConsoleTime ticks later. One at a time. */
  putChar(c: number): void {
    if (this.putBusy) throw new Error('console: putChar while the previous character is still being written');
    this.output(c & 0xff);
    this.putBusy = true;
    this.interrupt.schedule(IntType.ConsoleWrite, ConsoleTime);
  }

  get busy(): boolean {
    return this.putBusy;
  }

  /** Asks for input: the console polls every ConsoleTime ticks until disarmed. */
  armRead(): void {
    this.armed = true;
    if (!this.polling) {
      this.polling = true;
      this.interrupt.schedule(IntType.ConsoleRead, ConsoleTime);
    }
  }

  disarmRead(): void {
    this.armed = false;
  }

  /** Takes the delivered character: a byte, EOF, or null if none has arrived. */
  getChar(): number | null {
    const c = this.incoming;
    this.incoming = null;
    return c;
  }

  /**
   * A promise to await before simulated time goes on, when the next poll
   * would have to ask the host for a byte it does not have yet; else null.
   */
  hostWait(): Promise<void> | null {
    return this.polling && this.incoming === null && this.input && !this.input.ready() ? this.input.wait() : null;
  }

  private writeDone(): void {
    this.putBusy = false;
    this.stats.numConsoleCharsWritten++;
    this.onWriteDone?.();
  }

  private poll(): void {
    this.polling = false;
    if (!this.armed) return;
    if (this.incoming === null) {
      const c = this.input ? this.input.take() : null;
      if (c === null) this.incoming = EOF;
      else {
        this.incoming = c;
        this.stats.numConsoleCharsRead++;
      }
    }
    this.onCharAvailable?.();
    if (this.armed && !this.polling && this.incoming === null) {
      this.polling = true;
      this.interrupt.schedule(IntType.ConsoleRead, ConsoleTime);
    }
  }

  save(): ConsoleState {
    return { putBusy: this.putBusy, incoming: this.incoming, polling: this.polling, armed: this.armed };
  }

  restore(s: ConsoleState): void {
    Object.assign(this, s);
  }
}
