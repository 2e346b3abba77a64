// vmfs hosts and vmfs locks against a real host process holding a lock.
import { afterAll, describe, expect, it } from 'vitest';
import { inodeAddress } from '../src/fs/blockId.js';
import { openDatastore } from '../src/fs/datastore.js';
import { ROOT_INODE_ID } from '../src/fs/systemFiles.js';
import { JOURNAL_BLOCK_BASE, MARKER, SCRATCH, makeVolume, spawnHost } from './cluster/clusterHelpers.js';
import { runVmfs, tempDir } from './helpers.js';

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
