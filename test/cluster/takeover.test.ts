// A host that holds a lock stops (SIGSTOP) or dies (kill -9) while it still
// has journal records to replay. Another host waits for the lock, judges the
// first one dead after the lease, replays its journal, frees its slot and
// takes the lock. A stopped host that continues writes not one more sector
// and reports that it lost the datastore.
import { afterAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/cluster/clock.js';
import { HB_MAGIC_FREE, heartbeatSlotStruct, slotOffset } from '../../src/cluster/heartbeat.js';
import { LockMode, lockHeaderStruct } from '../../src/cluster/lockHeader.js';
import { newUuid } from '../../src/util/uuid.js';
import { MiB, tempDir } from '../helpers.js';
import { JOURNAL_BLOCK_BASE, LOCK_A, MARKER, SCRATCH, TEST_PARAMS, makeVolume, openVolume, spawnHost } from './clusterHelpers.js';
import { DATA_SECTORS, stateAfter } from './journalModel.js';

const DATA = SCRATCH + 256 * 1024;

async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const v = await openVolume(path);
  const b = Buffer.alloc(length);
  await v.read(b, offset);
  await v.close();
  return b;
}

describe.each(['SIGSTOP', 'SIGKILL'] as const)('takeover of a lock holder after %s', (signal) => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('the survivor replays the journal before it gets the lock; the stopped host writes nothing more', async () => {
    const path = await makeVolume(dir.path);
    const uuidA = newUuid();
    const a = spawnHost('lock-holder', path, { uuid: uuidA, lock: LOCK_A, marker: MARKER, journalBlock: JOURNAL_BLOCK_BASE + 1, data: DATA });
    const locked = await a.next('locked');
    expect(locked.objSeq).toBe(1);
    const held = lockHeaderStruct.decode(await readBytes(path, LOCK_A, 512));
    expect(held).toMatchObject({ mode: LockMode.Exclusive, hbUuid: uuidA, hbPos: slotOffset(locked.slot as number), hbSeq: locked.generation, objSeq: 1 });

    const b = spawnHost('taker', path, { uuid: newUuid(), lock: LOCK_A, marker: MARKER, waitMs: 30_000 });
    await b.next('joined');
    await sleep(TEST_PARAMS.leaseMs! / 2);
    expect(b.events.some((e) => e.event === 'acquired')).toBe(false); // A is alive: B waits

    a.child.kill(signal);
    const acquired = await b.next('acquired');
    await b.next('done');
    expect((await b.exited).code).toBe(0);
    // Replay of A's three unchecked-pointed records came first, then the lock (objSeq bumped once more).
    const names = b.events.map((e) => e.event);
    expect(names.indexOf('replayed')).toBeLessThan(names.indexOf('acquired'));
    expect(b.events.find((e) => e.event === 'replayed')).toMatchObject({ uuid: uuidA, records: 3 });
    expect(acquired.objSeq).toBe(2);
    expect((await readBytes(path, DATA, DATA_SECTORS * 512)).equals(stateAfter(3, DATA))).toBe(true);
    expect((await readBytes(path, MARKER, 32)).toString().trim()).toBe('B taker');
    const slotA = heartbeatSlotStruct.decode(await readBytes(path, slotOffset(locked.slot as number), 512));
    expect(slotA).toMatchObject({ magic: HB_MAGIC_FREE, hostUuid: uuidA });
    expect(lockHeaderStruct.decode(await readBytes(path, LOCK_A, 512))).toMatchObject({ mode: LockMode.Free, objSeq: 2 });

    if (signal === 'SIGSTOP') {
      // Everything A could write: its slot, its journal, the lock, the marker. None of it may change.
      const watched = async () =>
        Buffer.concat([
          await readBytes(path, slotOffset(0), 8 * 512),
          await readBytes(path, (JOURNAL_BLOCK_BASE + 1) * MiB, 64 * 1024),
          await readBytes(path, LOCK_A, 512),
          await readBytes(path, MARKER, 512),
        ]);
      const before = await watched();
      a.child.kill('SIGCONT');
      const exit = await Promise.race([a.exited, sleep(10_000).then(() => null)]);
      if (!exit) a.child.kill('SIGKILL'); // it kept going: the checks below fail
      expect((await watched()).equals(before)).toBe(true);
      expect(exit?.code).toBe(3);
      const lost = a.events.find((e) => e.event === 'lost')!;
      expect(lost.fenced).toBe(true);
      expect(lost.message).toMatch(/lost the datastore lease/);
      expect(a.events.some((e) => e.event === 'lost-event')).toBe(true);
    } else {
      expect((await a.exited).signal).toBe('SIGKILL');
    }
  });
});

describe('a host that restarts after kill -9', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('takes over its own earlier incarnation (journal replayed, lock freed) while joining', async () => {
    const path = await makeVolume(dir.path);
    const uuid = newUuid();
    const first = spawnHost('lock-holder', path, { uuid, lock: LOCK_A, marker: MARKER, journalBlock: JOURNAL_BLOCK_BASE + 2, data: DATA });
    const locked = await first.next('locked');
    first.child.kill('SIGKILL');
    await first.exited;
    const again = spawnHost('taker', path, { uuid, lock: LOCK_A, marker: MARKER, waitMs: 0 });
    await again.next('done');
    const names = again.events.map((e) => e.event);
    expect(names.slice(0, 3)).toEqual(['replayed', 'joined', 'acquired']);
    expect(again.events[0]).toMatchObject({ uuid, slot: locked.slot, records: 3 });
    expect((await readBytes(path, DATA, DATA_SECTORS * 512)).equals(stateAfter(3, DATA))).toBe(true);
    expect((await again.exited).code).toBe(0);
  });
});
