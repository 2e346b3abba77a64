// The end state of the pause tests (a host paused or cut off past its lease,
// another host took its file over): /paused holds the taker's bytes, no host
// is left on the datastore when `noHosts`, and both checks are clean.
import { expect } from 'vitest';
import { surveyHosts } from '../../src/cluster/survey.js';
import { openDatastore } from '../../src/fs/datastore.js';
import { expectClean, expectVmfsToolsClean, readAll } from '../helpers.js';

export async function expectTakenOver(path: string, options: { noHosts?: boolean } = {}): Promise<void> {
  const fs = await openDatastore([path], { readOnly: true });
  expect((await readAll(fs, '/paused')).subarray(0, 11).toString()).toBe('B took over');
  // No late heartbeat brought the fenced host back: every slot is free.
  if (options.noHosts) expect(await surveyHosts(fs.volume, 0)).toEqual([]);
  await expectClean(fs);
  await fs.close();
  expectVmfsToolsClean([path]);
}
