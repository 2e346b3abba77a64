// vmfs vm as a user runs it: a child process on a datastore file, console on
// stdin/stdout, one-line errors and the documented exit codes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { makeVolume } from '../cluster/clusterHelpers.js';
import { expectedSortStatus } from '../mips/guest.js';
import { vmfs as vmfsCli, vmfsBackground } from './vmProcess.js';

const tmp = tempDir('vmfs-vmcli-');
afterAll(() => tmp.cleanup());

const vmfs = (args: string[], input = '') => vmfsCli(['vm', ...args], input);

describe('vmfs vm', async () => {
  // Short cluster timings: writing commands join the datastore as a host.
  const ds = await makeVolume(tmp.path);

  it('creates the samples, runs one with console input, lists and reads its disk', () => {
    const c = vmfs(['create-samples', '-d', ds]);
    expect(c.stderr).toBe('');
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/^created shell: /m);
    const r = vmfs(['run', 'shell', '-d', ds], 'hi\nrun sort\nrun files\nexit\n');
    expect(r.stdout).toBe(`--> hi\n--> exit status ${expectedSortStatus()}\n--> hello, file\nread 12\nmissing -1\nexit status 0\n--> `);
    expect(r.status).toBe(0);
    const ls = vmfs(['disk', 'ls', 'shell', '-d', ds]);
    expect(ls.stdout).toMatch(/^ +12 {2}note\.txt$/m);
    expect(vmfs(['disk', 'get', 'shell', 'note.txt', '-', '-d', ds]).stdout).toBe('hello, file\n');
  });

  it("exits with the guest's status; snapshots while running and resumes", () => {
    const r = vmfs(['run', 'matmult', 'mid', '--snapshot-at', '30000', '-d', ds]);
    expect(r.status).toBe(7220 & 0xff);
    expect(r.stderr).toBe("vmfs: snapshot 'mid' taken\n");
    expect(vmfs(['snapshots', 'matmult', '-d', ds]).stdout).toBe('mid  (running, tick 30000; matmult-Snapshot1.vmsn, disk matmult.vmdk)\n  * you are here\n');
    const again = vmfs(['run', 'matmult', '--snapshot', 'mid', '-d', ds]);
    expect(again.status).toBe(7220 & 0xff);
  });

  it('refuses a missing VM and bad usage in one line, with their exit codes', () => {
    expect(vmfs(['run', 'nosuch', '-d', ds])).toMatchObject({ status: 1, stderr: "vmfs: no VM 'nosuch' ([datastore] /nosuch/nosuch.vmx does not exist)\n" });
    expect(vmfs(['run', 'matmult', '--snapshot-at', '10', '-d', ds]).status).toBe(2);
    expect(vmfs(['run', 'matmult', '--host-uuid', 'esx-b', '-d', ds])).toMatchObject({ status: 2, stderr: 'vmfs: --host-uuid esx-b: not a VMFS UUID (xxxxxxxx-xxxxxxxx-xxxx-xxxxxxxxxxxx)\n' });
    expect(vmfs(['ha', '--watch'])).toMatchObject({ status: 2, stderr: 'vmfs: vm ha needs the datastore (-d EXTENTS): it watches its cluster hosts\n' });
  });
});

describe('vmfs vm on a host folder', () => {
  it('creates a VM from host programs, puts a file on its disk, snapshots, deletes the snapshot; a damaged disk is one line', () => {
    const dir = join(tmp.path, 'vms', 'mine');
    const bin = fileURLToPath(new URL('../../fixtures/guest/bin/nachos-mips1', import.meta.url));
    const c = vmfs(['create', dir, '--mem', '4M', '--disk', '1M', '--add', `${bin}/shell:init`, '--add', `${bin}/files`]);
    expect(c).toMatchObject({ status: 0, stderr: '' });
    writeFileSync(join(tmp.path, 'greeting'), 'hello from the host\n');
    expect(vmfs(['disk', 'put', dir, join(tmp.path, 'greeting')]).status).toBe(0);
    expect(vmfs(['snapshot', dir, 'before']).status).toBe(0);
    const r = vmfs(['run', dir], 'run files\nexit\n');
    expect(r.stdout).toBe('--> hello, file\nread 12\nmissing -1\nexit status 0\n--> ');
    expect(vmfs(['snapshot', dir, 'before', '--delete'])).toMatchObject({ status: 0, stdout: "deleted snapshot 'before' (disk consolidated)\n" });
    expect(vmfs(['disk', 'ls', dir]).stdout).toMatch(/^ +20 {2}greeting$/m);
    writeFileSync(join(dir, 'mine.vmdk'), 'KDMV not really');
    const bad = vmfs(['run', dir]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^vmfs: .*mine\.vmdk: [^\n]+\n$/);
  });
});

describe('two runs of one VM', () => {
  it('while one process runs the VM, a second is refused with the holder named, exit 4', async () => {
    const dir = join(tmp.path, 'vms', 'busy');
    expect(vmfs(['create', dir, '--sample', 'shell']).status).toBe(0);
    const first = vmfsBackground(['vm', 'run', dir]);
    // The shell's prompt: the first run holds the lock and waits for input.
    await first.waitFor(/--> /);
    expect(first.stdout()).toBe('--> ');
    const second = vmfs(['run', dir], 'exit\n');
    expect(second.status).toBe(4);
    expect(second.stderr).toMatch(new RegExp(`^vmfs: VM 'busy' is in use: held by host [^,]+, pid ${first.child.pid}, since `));
    first.child.stdin!.end('exit\n');
    expect((await first.exited).code).toBe(0);
    expect(vmfs(['run', dir], 'exit\n').status).toBe(0);
  });
});
