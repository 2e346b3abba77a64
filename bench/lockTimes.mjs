// Shared by the cluster and NBD benchmarks: how long one uncontended lock
// acquire+release takes on a cluster volume, for a host that joins it alone.
import { joinCluster } from '../dist/cluster/cluster.js';
import { LockMode } from '../dist/cluster/lockHeader.js';
import { newUuid } from '../dist/util/uuid.js';

/** Milliseconds of each of `rounds` acquire+release of the lock at logical `offset`, sorted, without the first tenth (warm-up). */
export async function lockTimes(volume, offset, rounds) {
  const m = await joinCluster(volume, { uuid: newUuid(), volumeName: volume.uuid, replay: async () => undefined });
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await m.locks.acquire(offset, LockMode.Exclusive);
    await m.locks.release(offset);
    times.push(performance.now() - t0);
  }
  await m.host.leave();
  await volume.close();
  return times.slice(rounds / 10).sort((a, b) => a - b);
}
