// vmfs hosts and vmfs locks against a real host process holding a lock;
// short write commands (put, mkdir, mv, rm) beside a mounted host.
import { afterAll, describe, expect, it } from 'vitest';
import { inodeAddress } from '../src/fs/blockId.js';
import { openDatastore } from '../src/fs/datastore.js';
import { ROOT_INODE_ID } from '../src/fs/systemFiles.js';
import { JOURNAL_BLOCK_BASE, MARKER, SCRATCH, makeVolume, spawnHost } from './cluster/clusterHelpers.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { children, clusterDatastore, startHost, statfsOf } from './grow.hosts.js';
import { expectClean, expectVmfsToolsClean, pattern, readAll, runVmfs, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-cluster-cli-');
afterAll(() => tmp.cleanup());

describe('vmfs hosts and vmfs locks', () => {
  it('show a live host, the lock it holds, and its death', async () => {
    const path = await makeVolume(tmp.path);
    const fs = await openDatastore([path], { readOnly: true });
    const rootLock = fs.fdc.itemRange(inodeAddress(ROOT_INODE_ID))[0].logical;
    await fs.close();
    const uuid = '6b000001-00000002-0003-000000000004';
    const host = spawnHost('lock-holder', path, { uuid, journalBlock: JOURNAL_BLOCK_BASE, lock: rootLock, data: SCRATCH + 256 * 1024, marker: MARKER });
    try {
      await host.next('locked');
      const hosts = JSON.parse(runVmfs(['hosts', '-d', path, '--json']).stdout);
      expect(hosts.leaseMs).toBe(1500);
      expect(hosts.hosts).toHaveLength(1);
      expect(hosts.hosts[0]).toMatchObject({ uuid, state: 'live', renewed: true, journalBlock: JOURNAL_BLOCK_BASE });
      const lock = runVmfs(['locks', '-d', path, '/']);
      expect(lock.code).toBe(0);
      expect(lock.stdout).toMatch(new RegExp(`^/: exclusive by ${uuid} \\(slot \\d+, generation \\d+\\), obj_seq 1$`, 'm'));
      expect(runVmfs(['locks', '-d', path]).stdout).toMatch(/inode 0x4: exclusive by/);
    } finally {
      host.child.kill('SIGKILL');
      await host.exited;
    }
    const after = JSON.parse(runVmfs(['hosts', '-d', path, '--json']).stdout);
    expect(after.hosts[0]).toMatchObject({ uuid, renewed: false });
    expect(runVmfs(['hosts', '-d', path]).stdout).toMatch(/NOT renewed while watched/);
  });
});

describe('short write commands beside a mounted host', () => {
  it('join the cluster for their change: the host keeps writing, both see every byte, the volume checks clean', async () => {
    const extents = await clusterDatastore(tmp.path, () => Buffer.alloc(0));
    const host = startHost(extents, '6b000001-00000002-0003-0000000000c1', 'h', 6);
    try {
      await host.next('done');
      const local = join(tmp.path, 'local.bin');
      const data = pattern(5 * 2 ** 20 + 123, 77);
      writeFileSync(local, data);
      const ds = extents.join(',');
      for (const args of [['mkdir', '-d', ds, '/cli'], ['put', '-d', ds, local, '/cli/a.bin'], ['mv', '-d', ds, '/cli/a.bin', '/cli/b.bin'], ['put', '-d', ds, local, '/cli/c.bin'], ['rm', '-d', ds, '/cli/c.bin']]) {
        const r = runVmfs(args);
        expect(r.code, r.stderr).toBe(0);
      }
      await host.next('idle');
      // The host, which cached the root before, sees the commands' changes.
      expect((await statfsOf(host)).hosts).toBe(1); // each command left when done
      host.send('stop');
      expect(await host.exited).toBe(0);
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
    const fs = await openDatastore(extents, { readOnly: true });
    expect((await readAll(fs, '/cli/b.bin')).equals(pattern(5 * 2 ** 20 + 123, 77))).toBe(true);
    await expect(fs.stat('/cli/c.bin')).rejects.toMatchObject({ code: 'ENOENT' });
    for (let i = 0; i < 6; i++) expect((await readAll(fs, `/h/f${i}`)).equals(pattern(3 * 2 ** 20 + i * 4096, i + 'h'.charCodeAt(0) * 1000))).toBe(true);
    await expectClean(fs);
    await fs.close();
    expectVmfsToolsClean(extents);
  });
});
