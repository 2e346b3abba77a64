// Metadata operations run without awaiting. Their bodies work on cached
// metadata, and where something is not cached they throw a CacheMiss that
// says how to load it. A driver (Vmfs.transact and Vmfs.reading, or
// untilLoaded here) awaits the load and runs the body again. A body has no
// effect outside its Transaction, so running it again is safe.
//
// Why: on a FUSE mount every request lands on a thread that was asleep, and
// each await costs a trip through the microtask queue with cold caches. A
// body that runs start to finish touches less and answers sooner.
import { VolumeError } from '../util/errors.js';

/** A signal, not an error: no stack is taken (a miss is common), and a driver always catches it. */
export class CacheMiss {
  constructor(readonly load: () => Promise<void>) {}
}

/**
 * Loads per operation before giving up. Each load caches one more object, so
 * a body that keeps missing has a bug that would otherwise hang the caller.
 */
const MAX_LOADS = 100_000;

/** Runs `fn` until it runs without a cache miss, loading what each miss names. */
export async function untilLoaded<T>(fn: () => T | Promise<T>): Promise<T> {
  for (let loads = 0; ; loads++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof CacheMiss)) throw e;
      if (loads >= MAX_LOADS) throw new VolumeError(`metadata would not stay cached after ${MAX_LOADS} loads`);
      await e.load();
    }
  }
}
