// VMs in a datastore shared by several hosts (processes joined with
// --host-uuid, short cluster timings): two hosts race to run one VM and
// exactly one runs, the other names it; a host killed with SIGKILL while
// `vm ha --watch` runs on another: the VM resumes there from its checkpoint,
// its console log continues exactly as an uninterrupted run's, and the dead
// host's lock is gone; two ha passes at once restart it once; a VM that
// ran without checkpoints boots afresh (an earlier run's checkpoint is
// never resumed); a host paused past its lease stops its guest and
// exits 5 without writing, while ha has restarted the VM elsewhere.
import { afterAll, describe, expect, it } from 'vitest';
import { openDatastore } from '../../src/fs/datastore.js';
import { createSample } from '../../src/vm/create.js';
import { DatastoreFolder, datastoreVm } from '../../src/vm/datastoreFolder.js';
import { readText } from '../../src/vm/folderFiles.js';
import { tempDir } from '../helpers.js';
import { makeVolume } from '../cluster/clusterHelpers.js';
import { expectedSortStatus } from '../mips/guest.js';
import { datastore, datastoreVm as memoryVm, run } from './vmHelpers.js';
import { vmfs, vmfsBackground, type Background } from './vmProcess.js';

const started: Background[] = [];
const dirs: { cleanup: () => void }[] = [];
afterAll(async () => {
  for (const p of started) p.child.kill('SIGKILL');
  await Promise.all(started.map((p) => p.exited));
  for (const d of dirs) d.cleanup();
});

const A = '6b00000a-0000000a-000a-00000000000a';
const B = '6b00000b-0000000b-000b-00000000000b';
const C = '6b00000c-0000000c-000c-00000000000c';
const INPUT = 'run matmult\nrun sort\n';

function background(args: string[]): Background {
  const p = vmfsBackground(args);
  started.push(p);
  return p;
}

/** A fresh datastore (short leases) holding the shell sample VM. */
async function datastoreWithShell(name: string): Promise<string> {
  const dir = tempDir(`vmfs-vmcluster-${name}-`);
  dirs.push(dir);
  const ds = await makeVolume(dir.path);
  const fs = await openDatastore([ds]);
  await fs.mkdir('/shell');
  await createSample(datastoreVm(fs, '/shell', 'shell'), 'shell');
  await fs.close();
  return ds;
}

/** Reads a file of the datastore (opened read-only beside the running hosts). */
async function readDs(ds: string, path: string): Promise<string> {
  const fs = await openDatastore([ds], { readOnly: true });
  try {
    const dir = path.slice(0, path.lastIndexOf('/'));
    return await readText(new DatastoreFolder(fs, dir), path.slice(dir.length + 1));
  } finally {
    await fs.close();
  }
}


/** Host A runs the shell VM with checkpoints and feeds it its input; returns once both programs ran (stdin stays open: the shell then waits for more). */
async function runShellOnA(ds: string) {
  const a = background(['vm', 'run', 'shell', '-d', ds, '--host-uuid', A, '--checkpoint-every', '1000000']);
  a.child.stdin!.write(INPUT);
  await a.waitFor(/--> exit status \d+\n--> exit status \d+\n--> $/);
  return a;
}
describe('a VM shared by cluster hosts', async () => {
  // The uninterrupted run the interrupted ones must match: same input, then end of input.
  const reference = await (async () => {
    const vm = await memoryVm(await datastore(), 'shell');
    await createSample(vm, 'shell');
    return run(vm, { input: INPUT });
  })();

  it('the reference run: matmult, then sort, then end of input', () => {
    expect(reference.out).toBe(`--> exit status 7220\n--> exit status ${expectedSortStatus()}\n--> \n`);
    expect(reference.exitCode).toBe(1);
  });

  it('two hosts run one VM at once: exactly one runs, the other names it and exits 4; nothing else changes the VM meanwhile', async () => {
    const ds = await datastoreWithShell('race');
    const hosts = [A, B].map((u) => background(['vm', 'run', 'shell', '-d', ds, '--host-uuid', u]));
    // The loser exits at once; the winner waits for console input.
    const loser = await Promise.race(hosts.map((h) => h.exited.then(() => h)));
    const winner = hosts.find((h) => h !== loser)!;
    expect((await loser.exited).code).toBe(4);
    const winnerUuid = winner === hosts[0] ? A : B;
    expect(loser.stderr()).toBe(`vmfs: VM 'shell' is in use: held by host ${winnerUuid} (on-disk lock of [datastore] /shell/shell.vmx)\n`);
    expect(loser.stdout()).toBe('');
    await winner.waitFor(/^--> $/);
    // The lock as every tool sees it.
    const locks = vmfs(['locks', '-d', ds, '/shell/shell.vmx']);
    expect(locks.stdout).toMatch(new RegExp(`^/shell/shell.vmx: exclusive by ${winnerUuid} `));
    // Nothing else changes the running VM either.
    const busy = `vmfs: VM 'shell' is in use: held by host ${winnerUuid} (on-disk lock of [datastore] /shell/shell.vmx)\n`;
    expect(vmfs(['vm', 'snapshot', 'shell', 'now', '-d', ds, '--host-uuid', C])).toMatchObject({ status: 4, stderr: busy });
    expect(vmfs(['vm', 'disk', 'rm', 'shell', 'sort', '-d', ds, '--host-uuid', C])).toMatchObject({ status: 4, stderr: busy });
    expect(vmfs(['vm', 'snapshots', 'shell', '-d', ds])).toMatchObject({ status: 0, stdout: '* you are here\n' }); // reading needs no lock
    winner.child.stdin!.end('hi\nexit\n');
    expect((await winner.exited).code).toBe(0);
    expect(winner.stdout()).toBe('--> hi\n--> ');
    expect(vmfs(['locks', '-d', ds, '/shell/shell.vmx']).stdout).toMatch(/^\/shell\/shell.vmx: free/);
  });

  it('kill -9 of the running host: vm ha on another host resumes the VM from its checkpoint; the output continues', async () => {
    const ds = await datastoreWithShell('kill');
    const ha = background(['vm', 'ha', '-d', ds, '--watch', '--host-uuid', C]);
    await ha.waitFor(/watching \/\n/);
    const a = await runShellOnA(ds);
    expect(a.stdout()).toBe(reference.out.slice(0, -1));
    a.child.kill('SIGKILL');
    await a.exited;
    await ha.waitFor(/VM 'shell': stopped/);
    const report = ha.stdout();
    const resumed = new RegExp(`VM 'shell': its host ${A} is (dead|gone); resumed from its checkpoint at tick (\\d+)\\n`).exec(report);
    expect(resumed, report).not.toBeNull();
    expect(Number(resumed![2])).toBeGreaterThanOrEqual(5_000_000);
    expect(report).toContain(`VM 'shell': stopped (exit) at tick ${reference.ticks}, exit status 1\n`);
    // Host A's console up to its last checkpoint, then host C's from there: the uninterrupted run's output.
    expect(await readDs(ds, '/shell/console.log')).toBe(reference.out);
    expect(await readDs(ds, '/shell/vmware.log')).toMatch(/Resuming snapshot 'checkpoint' at tick 5\d{6}\n/);
    // A's lock and heartbeat slot are gone; C stopped the VM and freed it.
    expect(vmfs(['locks', '-d', ds, '/shell/shell.vmx']).stdout).toMatch(/^\/shell\/shell.vmx: free/);
    const hosts = JSON.parse(vmfs(['hosts', '-d', ds, '--json']).stdout) as { hosts: { uuid: string }[] };
    expect(hosts.hosts.map((h) => h.uuid)).toEqual([C]);
    ha.child.kill('SIGTERM');
    expect((await ha.exited).code).toBe(0);
  });

  it('two ha hosts after a death: exactly one restarts the VM, the other leaves it', async () => {
    const ds = await datastoreWithShell('two-ha');
    const a = await runShellOnA(ds);
    a.child.kill('SIGKILL');
    await a.exited;
    const passes = [B, C].map((u) => background(['vm', 'ha', '-d', ds, '--host-uuid', u]));
    const ends = await Promise.all(passes.map((p) => p.exited));
    expect(ends.map((e) => e.code)).toEqual([0, 0]);
    const reports = passes.map((p) => p.stdout());
    const ran = reports.filter((r) => r.includes(`VM 'shell': stopped (exit) at tick ${reference.ticks}, exit status 1\n`));
    expect(ran, reports.join('\n')).toHaveLength(1);
    const other = reports.find((r) => !ran.includes(r))!;
    // It found the VM held by the live winner, or lost the race for the lock.
    expect(other, reports.join('\n')).toMatch(/0 VM\(s\) restarted here\n$/);
    expect(other).not.toContain('resumed');
    expect(await readDs(ds, '/shell/console.log')).toBe(reference.out);
  });

  it('a VM killed in a run without checkpoints boots afresh under ha, never from an earlier run\'s checkpoint', async () => {
    const ds = await datastoreWithShell('afresh');
    // An earlier, finished run leaves its checkpoint behind.
    const earlier = vmfs(['vm', 'run', 'shell', '-d', ds, '--host-uuid', A, '--checkpoint-every', '1000000'], INPUT);
    expect(earlier).toMatchObject({ status: 1, stdout: reference.out });
    expect(vmfs(['vm', 'snapshots', 'shell', '-d', ds]).stdout).toMatch(/^checkpoint {2}\(running, tick 5\d{6}; /);
    const a = background(['vm', 'run', 'shell', '-d', ds, '--host-uuid', A]);
    a.child.stdin!.write('hi\n');
    await a.waitFor(/^--> hi\n--> $/);
    a.child.kill('SIGKILL');
    await a.exited;
    const ha = vmfs(['vm', 'ha', '-d', ds, '--host-uuid', B]);
    expect(ha.stdout).toMatch(new RegExp(`VM 'shell': its host ${A} is (dead|gone); booted afresh \\(it has no checkpoint\\)\n`));
    expect(ha.stdout).toContain("VM 'shell': stopped (exit) at tick ");
    expect(ha.status).toBe(0);
    // The second run's own output was never written out (no checkpoint); the fresh boot's is.
    expect(await readDs(ds, '/shell/console.log')).toBe(`${reference.out}--> \n`);
    expect(vmfs(['vm', 'snapshots', 'shell', '-d', ds]).stdout).toBe('* you are here\n');
  });

  it('a host paused past its lease stops its guest and exits 5; ha had restarted the VM, which ends as the uninterrupted run', async () => {
    const ds = await datastoreWithShell('pause');
    const a = await runShellOnA(ds);
    a.child.kill('SIGSTOP');
    // One pass by another host: it waits a lease, sees A dead, takes it over and resumes the VM.
    const ha = vmfs(['vm', 'ha', '-d', ds, '--host-uuid', B]);
    a.child.kill('SIGCONT');
    expect(ha.stdout).toContain(`VM 'shell': stopped (exit) at tick ${reference.ticks}, exit status 1\n`);
    expect(ha.stdout).toMatch(/1 VM\(s\) restarted here\n$/);
    expect(ha.status).toBe(0);
    const end = await a.exited;
    expect(end.code).toBe(5);
    expect(a.stderr()).toMatch(/^vmfs: VM 'shell' stopped: this host lost the datastore lease \(.+\); another host may restart it\n$/);
    expect(await readDs(ds, '/shell/console.log')).toBe(reference.out);
    expect(vmfs(['locks', '-d', ds, '/shell/shell.vmx']).stdout).toMatch(/^\/shell\/shell.vmx: free/);
  });
});
