// Simulated interrupts and time, as Nachos's machine/interrupt.cc: an event
// queue ordered by simulated time, the interrupt enable level (re-enabling
// costs a SystemTick), pending interrupts serviced when the clock advances,
// idling that jumps to the next event, and handlers that run with interrupts
// disabled and the machine in system mode.
//
// A pending event is plain data (time, order, kind, argument): the handler
// for each kind is registered once by the device that owns it, so the whole
// queue can be saved and restored.
import type { Stats } from './stats.js';
import { SystemTick, UserTick } from './stats.js';

/** The kinds of interrupt, as Nachos's IntType. */
export enum IntType {
  Timer = 0,
  Disk = 1,
  ConsoleWrite = 2,
  ConsoleRead = 3,
}

export const intTypeNames: readonly string[] = ['timer', 'disk', 'console write', 'console read'];

/** What the machine is doing, which decides how a tick is charged. */
export enum MachineStatus {
  Idle = 0,
  System = 1,
  User = 2,
}

export interface PendingInterrupt {
  /** Simulated time at which it fires. */
  when: number;
  /** Scheduling order, so that events due at the same time fire first-scheduled first. */
  seq: number;
  type: IntType;
  arg: number;
}

export interface InterruptState {
  enabled: boolean;
  status: MachineStatus;
  yieldOnReturn: boolean;
  seq: number;
  pending: PendingInterrupt[];
}

export type InterruptHandler = (arg: number) => void;

export class Interrupt {
  enabled = false;
  status = MachineStatus.System;
  /** Set by a handler (the timer's) to ask for a context switch once servicing is done. */
  yieldOnReturn = false;
  private seq = 0;
  /** A binary min-heap on (when, seq). */
  private heap: PendingInterrupt[] = [];
  private readonly handlers: (InterruptHandler | undefined)[] = [];

  constructor(readonly stats: Stats) {}

  setHandler(type: IntType, handler: InterruptHandler): void {
    this.handlers[type] = handler;
  }

  /** Arranges for an interrupt of `type` `fromNow` ticks from now (at least 1). */
  schedule(type: IntType, fromNow: number, arg = 0): void {
    if (!(fromNow >= 1) || !Number.isInteger(fromNow)) throw new Error(`interrupt scheduled ${fromNow} ticks from now`);
    this.push({ when: this.stats.totalTicks + fromNow, seq: this.seq++, type, arg });
  }

  /** Time of the earliest pending interrupt, or Infinity. */
  nextTime(): number {
    return this.heap.length > 0 ? this.heap[0].when : Infinity;
  }

  /** Whether any interrupt other than the timer's is pending (else idling would wait forever). */
  anyDeviceEvent(): boolean {
    return this.heap.some((e) => e.type !== IntType.Timer);
  }

  pendingCount(): number {
    return this.heap.length;
  }

  /** Enables or disables interrupts; returns the old level. Re-enabling advances the clock one tick. */
  setLevel(enabled: boolean): boolean {
    const old = this.enabled;
    this.enabled = enabled;
    if (enabled && !old) this.oneTick();
    return old;
  }

  /** Charges `n` user instructions to the clock (the CPU ran them in one go, up to the next event). */
  advanceUser(n: number): void {
    this.stats.totalTicks += n * UserTick;
    this.stats.userTicks += n * UserTick;
  }

  /** One tick of the clock as Nachos's OneTick: SystemTick in system mode, UserTick in user mode, then due interrupts. */
  oneTick(): void {
    if (this.status === MachineStatus.User) this.advanceUser(1);
    else {
      this.stats.totalTicks += SystemTick;
      this.stats.systemTicks += SystemTick;
    }
    this.serviceDue();
  }

  /** Runs the handler of every interrupt now due, in time order, with interrupts off; returns how many ran. */
  serviceDue(): number {
    let n = 0;
    while (this.heap.length > 0 && this.heap[0].when <= this.stats.totalTicks) {
      this.fire(this.pop());
      n++;
    }
    return n;
  }

  /**
   * Nothing to run: jumps the clock to the next interrupt (as idle time) and
   * services everything then due. Returns false when only the timer is left,
   * i.e. nothing can ever happen again (Nachos halts there).
   */
  idle(): boolean {
    if (!this.anyDeviceEvent()) return false;
    const old = this.status;
    this.status = MachineStatus.Idle;
    const when = this.heap[0].when;
    if (when > this.stats.totalTicks) {
      this.stats.idleTicks += when - this.stats.totalTicks;
      this.stats.totalTicks = when;
    }
    this.serviceDue();
    // Whatever the handlers made ready runs next anyway: no switch to ask for.
    this.yieldOnReturn = false;
    this.status = old;
    return true;
  }

  save(): InterruptState {
    return {
      enabled: this.enabled,
      status: this.status,
      yieldOnReturn: this.yieldOnReturn,
      seq: this.seq,
      pending: this.heap.map((e) => ({ ...e })),
    };
  }

  restore(s: InterruptState): void {
    this.enabled = s.enabled;
    this.status = s.status;
    this.yieldOnReturn = s.yieldOnReturn;
    this.seq = s.seq;
    this.heap = [];
    for (const e of s.pending) this.push({ ...e });
  }

  private fire(e: PendingInterrupt): void {
    const handler = this.handlers[e.type];
    if (!handler) throw new Error(`no handler for the ${intTypeNames[e.type]} interrupt`);
    const oldLevel = this.enabled;
    const oldStatus = this.status;
    this.enabled = false;
    this.status = MachineStatus.System;
    try {
      handler(e.arg);
    } finally {
      this.enabled = oldLevel;
      this.status = oldStatus;
    }
  }

  private static before(a: PendingInterrupt, b: PendingInterrupt): boolean {
    return a.when < b.when || (a.when === b.when && a.seq < b.seq);
  }

  private push(e: PendingInterrupt): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!Interrupt.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): PendingInterrupt {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && Interrupt.before(h[l], h[m])) m = l;
        if (r < h.length && Interrupt.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
