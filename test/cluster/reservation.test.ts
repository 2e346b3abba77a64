// The volume-wide reservation across processes, for both kinds: the bakery
// on disk and the local-machine socket. Each host increments a counter
// sector inside the critical section; a lost update would show in the count.
// A holder killed inside the critical section holds up the others only
// until its lease runs out (disk) or not at all (local).
import { afterAll, describe, expect, it } from 'vitest';
import { ReservationKind } from '../../src/cluster/clusterConfig.js';
import { sleep } from '../../src/cluster/clock.js';
import { newUuid } from '../../src/util/uuid.js';
import { tempDir } from '../helpers.js';
import { COUNTER, TEST_PARAMS, makeVolume, openVolume, spawnHost, startTogether } from './clusterHelpers.js';

async function counter(path: string): Promise<number> {
  const v = await openVolume(path);
  const b = Buffer.alloc(512);
  await v.read(b, COUNTER);
  await v.close();
  return b.readUInt32LE(0);
}

describe.each([
  ['disk bakery', ReservationKind.Disk],
  ['local-machine socket', ReservationKind.LocalMachine],
])('reservation: %s', (_name, kind) => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('4 hosts x 200 increments inside the reservation give exactly 800', async () => {
    const path = await makeVolume(dir.path, TEST_PARAMS, kind);
    const hosts = Array.from({ length: 4 }, () => spawnHost('count', path, { uuid: newUuid(), times: 200, counter: COUNTER }));
    await startTogether(hosts);
    const done = await Promise.all(hosts.map((h) => h.next('counted')));
    expect(new Set(done.map((e) => e.slot)).size).toBe(4);
    expect((await Promise.all(hosts.map((h) => h.exited))).map((x) => x.code)).toEqual([0, 0, 0, 0]);
    expect(await counter(path)).toBe(800);
  });

  it('kill -9 of the holder inside the critical section: the others get in and finish', async () => {
    const path = await makeVolume(dir.path, TEST_PARAMS, kind);
    const holder = spawnHost('hold-reservation', path, { uuid: newUuid() });
    await startTogether([holder]);
    await holder.next('inside');
    const others = Array.from({ length: 2 }, () => spawnHost('count', path, { uuid: newUuid(), times: 50, counter: COUNTER }));
    await startTogether(others);
    await Promise.all(others.map((h) => h.next('joined-reservation-wait')));
    await sleep(TEST_PARAMS.leaseMs! / 2);
    expect(await counter(path)).toBe(0); // nobody got in while the holder lived
    holder.child.kill('SIGKILL');
    await holder.exited;
    await Promise.all(others.map((h) => h.next('counted', 30_000)));
    expect((await Promise.all(others.map((h) => h.exited))).map((x) => x.code)).toEqual([0, 0]);
    expect(await counter(path)).toBe(100);
  });
});
