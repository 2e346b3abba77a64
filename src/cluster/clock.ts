// The local monotonic clock, in milliseconds: the only clock the cluster code
// trusts. Hosts never compare clocks; each judges time on its own.
import { performance } from 'node:perf_hooks';

export function now(): number {
  return performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Waits `ms` like sleep(), but a wait under a timer's 1 ms granularity
 * (a host polling the reservation's registers) blocks this thread on a
 * futex instead, burning no CPU, then lets the event loop run once (timers,
 * the heartbeat renewal, I/O callbacks) before it resolves.
 */
export function pause(ms: number): Promise<void> {
  if (ms >= 1) return sleep(ms);
  Atomics.wait(pauseCell, 0, 0, ms);
  return new Promise((resolve) => setImmediate(resolve));
}
