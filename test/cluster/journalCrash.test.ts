// The journal under real crashes: a process commits transactions in a loop
// (checkpointing every seventh, wrapping around a 64 KiB journal) and is
// killed with SIGKILL at a random moment. Replay must leave exactly the
// transactions it reported committed, plus possibly the one in flight, whole.
import { afterAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/cluster/clock.js';
import { replayJournal } from '../../src/cluster/journal.js';
import { MiB, tempDir } from '../helpers.js';
import { JOURNAL_BLOCK_BASE, SCRATCH, makeVolume, openVolume, spawnHost } from './clusterHelpers.js';
import { DATA_SECTORS, stateAfter } from './journalModel.js';

describe('journal crash trials', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('kill -9 at random points: replay gives exactly the committed prefix', async () => {
    const path = await makeVolume(dir.path);
    const outcomes: string[] = [];
    for (let trial = 0; trial < 6; trial++) {
      const data = SCRATCH + 512 * 1024 + trial * 64 * 1024;
      const region = { offset: (JOURNAL_BLOCK_BASE + trial) * MiB, length: 64 * 1024 };
      const p = spawnHost('journal', path, { journalBlock: JOURNAL_BLOCK_BASE + trial, journalBytes: region.length, data, from: 1 });
      await p.next('committed');
      await sleep(50 + Math.random() * 400);
      p.child.kill('SIGKILL');
      await p.exited;
      const reported = Math.max(...p.events.filter((e) => e.event === 'committed').map((e) => e.k as number));
      const v = await openVolume(path);
      const before = Buffer.alloc(DATA_SECTORS * 512);
      await v.read(before, data);
      const { records } = await replayJournal(v, region);
      const after = Buffer.alloc(DATA_SECTORS * 512);
      await v.read(after, data);
      await v.close();
      const k = [reported, reported + 1].find((n) => after.equals(stateAfter(n, data)));
      expect(k, `trial ${trial}: state after replay is no committed prefix (reported ${reported})`).toBeDefined();
      outcomes.push(`${reported}->${k} (${records} replayed, ${before.equals(after) ? 'already in place' : 'repaired'})`);
    }
    expect(outcomes).toHaveLength(6);
  });
});
