// kill -9 of an online `vmfs extend` at many points while a library host is
// mounted: the host takes the dead grower over (the takeover finishes or
// undoes the growth its intent log names), sees the old or the new geometry,
// goes on writing, and afterwards the volume checks clean with every byte.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatastore } from '../src/fs/datastore.js';
import { SEGMENT_SIZE, deviceSizeFor } from '../src/volume/volumeHeader.js';
import { requireTools } from './fuse/mountHarness.js';
import { children, clusterDatastore, startHost, statfsOf, vmfsKilledAt } from './grow.hosts.js';
import { MiB, expectClean, expectVmfsToolsClean, pattern, readAll, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-grow-crash-');
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

const A = '6b00a0a0-00000001-0001-0000000000a1';

describe('an online extend killed', () => {
  it('survives a kill -9 of an online extend at many points: the host takes it over; old or new geometry, clean', async () => {
    requireTools('fsck.vmfs');
    const dir = join(tmp.path, 'crash');
    mkdirSync(dir);
    const keep = pattern(7 * MiB, 9);
    const extents = await clusterDatastore(dir, () => keep);
    const host = startHost(extents, A, 'a', 1);
    await host.next('idle');
    const outcomes: string[] = [];
    // An online extend makes about 35 device writes (joining, its journal,
    // the growth from about the 15th to the 23rd, leaving): every point of
    // the growth, and some around it.
    const points = [0, 4, 13, 15, 16, 17, 18, 19, 20, 21, 22, 24, 31];
    for (const k of points) {
      const before = (await statfsOf(host)).totalBlocks as number;
      const added = join(dir, `k${k}`);
      const r = vmfsKilledAt(k, ['extend', '-d', extents.join(','), '--add', added, '--size', String(deviceSizeFor(1))]);
      if (r.status !== 0) expect(r.signal, `write ${k}: ${r.stderr}`).toBe('SIGKILL');
      // The host takes the dead grower over (its slot is freed), finishing or undoing the growth.
      let s = await statfsOf(host);
      for (let tries = 0; s.hosts !== 1; tries++) {
        expect(tries, `write ${k}: the dead grower's slot is never freed`).toBeLessThan(100);
        await new Promise((res) => setTimeout(res, 200));
        s = await statfsOf(host);
      }
      expect([before, before + 256], `write ${k}`).toContain(s.totalBlocks);
      const grown = s.totalBlocks === before + 256;
      outcomes.push(grown ? 'new' : 'old');
      if (grown) extents.push(added);
      expect(s.extents).toBe(extents.length);
      // The host goes on writing.
      const at = host.events.length;
      host.send('resume');
      await host.next('done', at);
      await host.next('idle', at);
    }
    expect(outcomes).toContain('old');
    expect(outcomes).toContain('new');
    host.send('stop');
    expect(await host.exited).toBe(0);

    const fs = await openDatastore(extents, { readOnly: true });
    expect(fs.volume.size).toBe(extents.length * SEGMENT_SIZE);
    expect((await readAll(fs, '/keep')).equals(keep)).toBe(true);
    for (const e of host.events.filter((x) => x.event === 'done')) {
      const i = e.i as number;
      expect((await readAll(fs, e.path as string)).equals(pattern(3 * MiB + i * 4096, i + 'a'.charCodeAt(0) * 1000)), e.path as string).toBe(true);
    }
    await expectClean(fs);
    await fs.close();
    expectVmfsToolsClean(extents);
  }, 300_000);
});
