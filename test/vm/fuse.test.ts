// VMs on a FUSE mount of the datastore: every sample VM created, booted and
// checked (console output, exit status, the file it leaves) with the runner
// pointed at its folder on the mount; and the two kinds of runner exclude
// each other: a `vm run -d` cluster host beside the mount's host holds the
// .vmx's on-disk lock, so a run on the mount gets EBUSY opening it (exit 4),
// and a run on the mount holds the .vmx open for writing, which is the
// mount's own lock, so the cluster host is refused naming the mount's host.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeClusterConfig } from '../../src/cluster/clusterConfig.js';
import { openDatastore } from '../../src/fs/datastore.js';
import { TEST_PARAMS } from '../cluster/clusterHelpers.js';
import { checkFindings, expectOk, makeDatastore, type TestMount } from '../fuse/mountHarness.js';
import { expectedSortStatus } from '../mips/guest.js';
import { vmfs, vmfsBackground, type Background } from './vmProcess.js';

let ds: TestMount;
const started: Background[] = [];
afterAll(async () => {
  for (const p of started) p.child.kill('SIGKILL');
  await Promise.all(started.map((p) => p.exited));
  ds?.cleanup();
});

const MOUNT_HOST = '6b00000f-0000000f-000f-00000000000f';
const RUNNER_HOST = '6b00000d-0000000d-000d-00000000000d';

const SAMPLES: { name: string; input?: string; out: string; status: number }[] = [
  { name: 'matmult', out: '', status: 7220 & 0xff },
  { name: 'sort', out: '', status: expectedSortStatus() & 0xff },
  { name: 'multiprog', out: `matmult 7220\nsort ${expectedSortStatus()}\njoin again -1\n`, status: 0 },
  { name: 'files', out: 'hello, file\nread 12\nmissing -1\n', status: 0 },
  { name: 'shell', input: 'hi\nrun matmult\nrun files\nexit\n', out: '--> hi\n--> exit status 7220\n--> hello, file\nread 12\nmissing -1\nexit status 0\n--> ', status: 0 },
];

describe('VMs on a FUSE mount', async () => {
  ds = await makeDatastore('vmfs-vmfuse-');
  const fs = await openDatastore(ds.extents);
  await writeClusterConfig(fs.volume, TEST_PARAMS);
  await fs.close();
  // A cluster mount (file locks on), caches off: other hosts write too.
  expectOk(ds.mount(['--host-uuid', MOUNT_HOST, '--attr-timeout', '0', '--entry-timeout', '0']), 'mount');
  const on = (name: string) => join(ds.mnt, name);

  for (const s of SAMPLES) {
    it(`creates and boots ${s.name}`, () => {
      expect(vmfs(['vm', 'create', on(s.name), '--sample', s.name])).toMatchObject({ status: 0, stderr: '' });
      const r = vmfs(['vm', 'run', on(s.name)], s.input ?? '');
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(s.out);
      expect(r.status).toBe(s.status);
      expect(vmfs(['vm', 'disk', 'ls', on(s.name)]).stdout).toMatch(new RegExp(`^ +\\d+ {2}${s.name === 'multiprog' ? 'exec' : s.name}$`, 'm'));
    });
  }

  it('the datastore runner sees the files the mount wrote: the note the files VM left', () => {
    const r = vmfs(['vm', 'disk', 'get', 'files', 'note.txt', '-', '-d', ds.extents.join(',')]);
    expect(r).toMatchObject({ status: 0, stdout: 'hello, file\n' });
  });

  it('a cluster host running a VM keeps the mount off it, and the other way round', async () => {
    const remote = vmfsBackground(['vm', 'run', 'shell', '-d', ds.extents.join(','), '--host-uuid', RUNNER_HOST]);
    started.push(remote);
    await remote.waitFor(/^--> $/);
    expect(vmfs(['vm', 'run', on('shell')], 'exit\n')).toMatchObject({
      status: 4,
      stdout: '',
      stderr: `vmfs: VM 'shell' is in use on another host (${on('shell')}/shell.vmx is open for writing there)\n`,
    });
    remote.child.stdin!.end('exit\n');
    expect((await remote.exited).code).toBe(0);

    const local = vmfsBackground(['vm', 'run', on('shell')]);
    started.push(local);
    await local.waitFor(/^--> $/);
    expect(vmfs(['vm', 'run', 'shell', '-d', ds.extents.join(','), '--host-uuid', RUNNER_HOST], 'exit\n')).toMatchObject({
      status: 4,
      stderr: `vmfs: VM 'shell' is in use: held by host ${MOUNT_HOST} (on-disk lock of [datastore] /shell/shell.vmx)\n`,
    });
    local.child.stdin!.end('exit\n');
    expect((await local.exited).code).toBe(0);
  });

  it('leaves a clean datastore', async () => {
    expectOk(ds.umount(), 'umount');
    expect(await checkFindings(ds.extents)).toEqual([]);
  });
});
