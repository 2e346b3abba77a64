// Snapshots: taken while the VM runs at several points, each resumed, must
// continue exactly as the uninterrupted run (same console output, same final
// tick count, same exit status, same disk bytes); taking them must not
// disturb the run either. Powered-off snapshots, revert, a tree with two
// branches, deleting (consolidating) checked with qemu-img, checkpoints.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSample } from '../../src/vm/create.js';
import { withGuestFs } from '../../src/vm/guestFiles.js';
import { CHECKPOINT } from '../../src/vm/runner.js';
import { deleteSnapshot, revertTo, snapshotPoweredOff } from '../../src/vm/snapshots.js';
import { loadConfig, loadTree } from '../../src/vm/vmFiles.js';
import { drawTree } from '../../src/vm/vmsd.js';
import { has, readAll, tempDir } from '../helpers.js';
import { CountingInput, datastore, datastoreVm, diskBytes, run } from './vmHelpers.js';

const tmp = tempDir('vmfs-vmsnap-');
afterAll(() => tmp.cleanup());

const INPUT = Buffer.from('hello\nrun files\nrun matmult\nrun files\nrun sort\nexit\n');

describe('snapshots of a running VM', async () => {
  const fs = await datastore();
  const full = await datastoreVm(fs, 'full');
  await createSample(full, 'shell');
  const reference = await run(full, { input: new CountingInput(INPUT) });
  const referenceDisk = await diskBytes(full);

  it('the reference run does what the shell should', () => {
    expect(reference.out).toContain('--> hello\n--> hello, file\nread 12\nmissing -1\nexit status 0\n--> exit status 7220\n');
    expect(reference.exitCode).toBe(0);
    expect(reference.result.stats.numDiskWrites).toBeGreaterThan(0);
  });

  for (const fraction of [0.03, 0.2, 0.5, 0.8, 0.97]) {
    it(`resuming a snapshot taken at ${fraction * 100}% of the run continues exactly`, async () => {
      const vm = await datastoreVm(fs, `at${Math.round(fraction * 100)}`);
      await createSample(vm, 'shell');
      const input = new CountingInput(INPUT);
      let at: { outLength: number; taken: number; ticks: number } | null = null;
      const want = Math.round(reference.ticks * fraction);
      const first = await run(vm, { input, snapshotAt: [{ ticks: want, name: 'p' }], onSnapshot: (_n, ticks) => (at = { outLength: -1, taken: input.taken, ticks }) });
      // Taking it changed nothing.
      expect(first.out).toBe(reference.out);
      expect(first.ticks).toBe(reference.ticks);
      expect((await diskBytes(vm)).equals(referenceDisk)).toBe(true);
      expect(at).not.toBeNull();
      const taken = at!;
      expect(taken.ticks).toBeGreaterThanOrEqual(want);
      expect(first.snapshots).toEqual(['p']);
      // The output before the snapshot: what a run stopped at that tick prints.
      const prefix = await outputUntil(taken.ticks);
      const resumed = await run(vm, { snapshot: 'p', input: new CountingInput(INPUT.subarray(taken.taken)) });
      expect(prefix + resumed.out).toBe(reference.out);
      expect(resumed.ticks).toBe(reference.ticks);
      expect(resumed.exitCode).toBe(reference.exitCode);
      expect((await diskBytes(vm)).equals(referenceDisk)).toBe(true);
    });
  }

  /** What the reference run has printed by `ticks` (a fresh VM stopped there). */
  async function outputUntil(ticks: number): Promise<string> {
    const vm = await datastoreVm(fs, `until${ticks}`);
    await createSample(vm, 'shell');
    return (await run(vm, { input: new CountingInput(INPUT), maxTicks: ticks })).out;
  }

  it('checkpoints: one "checkpoint" snapshot, renewed, the disk chain stays short, and it resumes exactly', async () => {
    const vm = await datastoreVm(fs, 'ckpt');
    await createSample(vm, 'shell');
    const input = new CountingInput(INPUT);
    const seen: { ticks: number; taken: number }[] = [];
    const every = Math.floor(reference.ticks / 6);
    const r = await run(vm, { input, checkpointEvery: every, onSnapshot: (_n, ticks) => seen.push({ ticks, taken: input.taken }) });
    expect(r.out).toBe(reference.out);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    const tree = await loadTree(vm);
    expect(tree.snapshots.map((s) => s.displayName)).toEqual([CHECKPOINT]);
    expect(tree.snapshots[0].ticks).toBe(seen[seen.length - 1].ticks);
    // Base, the checkpoint's layer (merged each time), the current delta.
    const chain = await withDiskChain(vm);
    expect(chain.length).toBeLessThanOrEqual(3);
    const last = seen[seen.length - 1];
    const resumed = await run(vm, { snapshot: CHECKPOINT, input: new CountingInput(INPUT.subarray(last.taken)) });
    expect(resumed.ticks).toBe(reference.ticks);
    expect(reference.out.endsWith(resumed.out)).toBe(true);
    expect((await diskBytes(vm)).equals(referenceDisk)).toBe(true);
  });

  async function withDiskChain(vm: Awaited<ReturnType<typeof datastoreVm>>): Promise<string[]> {
    const { openDisk } = await import('../../src/vdisk/virtualDisk.js');
    const d = await openDisk(vm.folder, (await loadConfig(vm)).disk, { write: false });
    const names = d.chain.map((l) => l.name);
    await d.close();
    return names;
  }
});

describe('powered-off snapshots, revert, branches, delete', async () => {
  const fs = await datastore();
  const names = async (vm: Awaited<ReturnType<typeof datastoreVm>>) => (await withGuestFs(vm, false, (g) => g.list())).map((f) => f.name).sort();

  it('revert goes back; two branches from one snapshot each keep their own disk', async () => {
    const vm = await datastoreVm(fs, 'tree');
    await createSample(vm, 'files');
    await snapshotPoweredOff(vm, 'clean');
    expect((await run(vm)).exitCode).toBe(0);
    expect(await names(vm)).toEqual(['files', 'note.txt']);
    await snapshotPoweredOff(vm, 'ran');
    await revertTo(vm, 'clean');
    expect(await names(vm)).toEqual(['files']);
    await withGuestFs(vm, true, (g) => g.writeFile('other', Buffer.from('branch b')));
    await snapshotPoweredOff(vm, 'branch-b');
    expect(drawTree(await loadTree(vm))).toBe(
      [
        'clean  (powered off; tree-Snapshot1.vmsn, disk tree.vmdk)',
        '  ran  (powered off; tree-Snapshot2.vmsn, disk tree-000001.vmdk)',
        '  branch-b  (powered off; tree-Snapshot3.vmsn, disk tree-000003.vmdk)',
        '    * you are here',
      ].join('\n'),
    );
    await revertTo(vm, 'ran');
    expect(await names(vm)).toEqual(['files', 'note.txt']);
    await revertTo(vm, 'branch-b');
    expect(await names(vm)).toEqual(['files', 'other']);
    // The branch point has two child layers: deleting it keeps its layer; the branches become roots and still work.
    expect(await deleteSnapshot(vm, 'clean')).toBe(false);
    expect(await vm.folder.exists('tree.vmdk')).toBe(true);
    expect((await loadTree(vm)).snapshots.map((s) => [s.displayName, s.parent])).toEqual([
      ['ran', null],
      ['branch-b', null],
    ]);
    await revertTo(vm, 'ran');
    expect(await names(vm)).toEqual(['files', 'note.txt']);
  });

  it('deleting a snapshot merges its disk layer; qemu-img finds the disk clean', async () => {
    const vm = await datastoreVm(fs, 'del');
    await createSample(vm, 'files');
    await snapshotPoweredOff(vm, 's');
    expect((await loadConfig(vm)).disk).toBe('del-000001.vmdk');
    await run(vm);
    expect(await deleteSnapshot(vm, 's')).toBe(true);
    expect((await loadConfig(vm)).disk).toBe('del.vmdk');
    expect(await vm.folder.exists('del-000001.vmdk')).toBe(false);
    expect(await vm.folder.exists('del-Snapshot1.vmsn')).toBe(false);
    expect((await loadTree(vm)).snapshots).toEqual([]);
    expect(await names(vm)).toEqual(['files', 'note.txt']);
    if (!has('qemu-img')) return;
    const host = join(tmp.path, 'del.vmdk');
    writeFileSync(host, await readAll(fs, '/del/del.vmdk'));
    const check = spawnSync('qemu-img', ['check', host], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const raw = join(tmp.path, 'del.raw');
    expect(spawnSync('qemu-img', ['convert', '-O', 'raw', host, raw]).status).toBe(0);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(raw).includes(Buffer.from('hello, file\n'))).toBe(true);
  });
});
