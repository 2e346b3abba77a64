// The local monotonic clock, in milliseconds: the only clock the cluster code
// trusts. Hosts never compare clocks; each judges time on its own.
import { performance } from 'node:perf_hooks';

export function now(): number {
  return performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
