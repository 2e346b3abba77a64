// Fencing on the write path: wraps a volume (a LogicalVolume or anything
// with read/write/flush) so that every write and flush first asks the host
// whether it still holds its lease. The check is synchronous and the inner
// write starts in the same tick, so a host that wakes from a pause past its
// deadline fails the write with FencedError before a single sector moves.
//
// Local files are written synchronously, so a long run of writes is one long
// chain of promise callbacks during which no timer runs, not even the
// heartbeat renewal. When a renewal is overdue, a read or write first yields
// to the timers (the renewal runs) and only then checks and goes on.
import { VolumeIO } from './volumeIo.js';

export interface WriteGuard {
  /** Throws (FencedError) when this host must not write. */
  assertCanWrite(): void;
  /** True when the heartbeat renewal is waiting for the event loop. */
  renewalOverdue?(): boolean;
}

const yieldToTimers = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** `inner` with write() and flush() guarded (and read() yielding to an overdue renewal); everything else (size, extents, close) passes through. */
export function guardVolume<T extends VolumeIO>(inner: T, guard: WriteGuard): T {
  const checked = <A extends unknown[]>(op: (...args: A) => Promise<void>) => {
    const now = (...args: A): Promise<void> => {
      try {
        guard.assertCanWrite();
      } catch (e) {
        return Promise.reject(e);
      }
      return op(...args);
    };
    return (...args: A): Promise<void> => (guard.renewalOverdue?.() ? yieldToTimers().then(() => now(...args)) : now(...args));
  };
  const write = checked((buf: Uint8Array, offset: number) => inner.write(buf, offset));
  const flush = checked(() => inner.flush());
  // Reads need no check, but a long run of them must not starve the renewal either.
  const read: VolumeIO['read'] = (buf, offset) => (guard.renewalOverdue?.() ? yieldToTimers().then(() => inner.read(buf, offset)) : inner.read(buf, offset));
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'write') return write;
      if (prop === 'read') return read;
      if (prop === 'flush') return flush;
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
