// The simulated hardware timer, as Nachos's machine/timer.cc: an interrupt
// every TimerTicks ticks, or (seeded) at random intervals of 1..2*TimerTicks
// ticks so that preemption points vary with the seed but never between two
// runs with the same seed. Its handler is the kernel's preemption hook.
import { type Interrupt, IntType } from './interrupt.js';
import { TimerTicks } from './stats.js';

/** Deterministic 32-bit PRNG (xorshift32): the whole state is one number, so it saves with the machine. */
export class Rng {
  state: number;
  constructor(seed: number) {
    // Spread the seed and keep it nonzero (xorshift's one fixed point).
    this.state = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) || 1;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return x >>> 0;
  }
}

export type TimerMode = 'periodic' | 'random' | 'off';

export interface TimerState {
  mode: TimerMode;
  interval: number;
  rng: number;
}

export class Timer {
  private readonly rng: Rng;
  /** Called at each timer interrupt (with interrupts off, in system mode). */
  onTick: (() => void) | null = null;

  constructor(
    private readonly interrupt: Interrupt,
    readonly mode: TimerMode,
    seed = 0,
    readonly interval = TimerTicks,
  ) {
    if (!Number.isInteger(interval) || interval < 1) throw new Error(`timer interval must be a positive number of ticks (got ${interval})`);
    this.rng = new Rng(seed);
    interrupt.setHandler(IntType.Timer, () => this.expired());
  }

  /** Schedules the first interrupt; call once when the machine starts. */
  start(): void {
    if (this.mode !== 'off') this.interrupt.schedule(IntType.Timer, this.nextInterval());
  }

  private expired(): void {
    this.interrupt.schedule(IntType.Timer, this.nextInterval());
    this.onTick?.();
  }

  private nextInterval(): number {
    return this.mode === 'random' ? 1 + (this.rng.next() % (2 * this.interval)) : this.interval;
  }

  save(): TimerState {
    return { mode: this.mode, interval: this.interval, rng: this.rng.state };
  }

  /** Restores the generator; the mode and interval must be this timer's (they shape the pending events). */
  restore(s: TimerState): void {
    if (s.mode !== this.mode || s.interval !== this.interval) {
      throw new Error(`the saved machine's timer is ${s.mode} every ${s.interval} ticks, this one's ${this.mode} every ${this.interval}`);
    }
    this.rng.state = s.rng;
  }
}
