// Two hosts mount one datastore through FUSE (cluster mode, caches off): each
// sees the other's changes at once, a file open for writing on one host is
// busy for writers on the other, concurrent work merges, and both checkers
// find the volume clean afterwards.
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { TestMount, checkFindings, expectOk, makeDatastore, vmfs, vmfsToolsFsck } from './mountHarness.js';
import { runVmfs } from '../helpers.js';

let ds: TestMount;
let mntB: string;
afterAll(() => {
  vmfs(['umount', mntB]);
  ds?.cleanup();
});

const A = '6b000aaa-00000001-0001-00000000000a';
const B = '6b000bbb-00000002-0002-00000000000b';

describe('two FUSE hosts on one datastore', () => {
  it('share it coherently, lock writers, and leave it clean', async () => {
    ds = await makeDatastore('vmfs-fuse-multi-');
    mntB = join(ds.dir, 'mntB');
    mkdirSync(mntB);
    const opts = ['--attr-timeout', '0', '--entry-timeout', '0'];
    expectOk(ds.mount(['--host-uuid', A, ...opts]), 'mount A');
    expectOk(vmfs(['mount', '-d', ds.extents.join(','), mntB, '--log', join(ds.dir, 'b.log'), '--host-uuid', B, ...opts]), 'mount B');
    const hosts = JSON.parse(runVmfs(['hosts', '-d', ds.extents.join(','), '--json']).stdout);
    expect(hosts.hosts.map((h: { uuid: string }) => h.uuid).sort()).toEqual([A, B]);

    // Host B reads first; host A then renames and rewrites: B sees the new state right away.
    writeFileSync(join(ds.mnt, 'note'), 'first');
    expect(readFileSync(join(mntB, 'note'), 'utf8')).toBe('first');
    expect(readdirSync(mntB)).toContain('note');
    renameSync(join(ds.mnt, 'note'), join(ds.mnt, 'note2'));
    writeFileSync(join(ds.mnt, 'note2'), 'second, longer');
    expect(readdirSync(mntB)).not.toContain('note');
    expect(readFileSync(join(mntB, 'note2'), 'utf8')).toBe('second, longer');

    // A file open for writing on A is busy for writers on B; readers are fine.
    const fd = openSync(join(ds.mnt, 'note2'), 'r+');
    let err = '';
    try {
      closeSync(openSync(join(mntB, 'note2'), 'r+'));
    } catch (e) {
      err = (e as NodeJS.ErrnoException).code ?? String(e);
    }
    expect(err).toBe('EBUSY');
    expect(readFileSync(join(mntB, 'note2'), 'utf8')).toBe('second, longer');
    writeSync(fd, 'S');
    closeSync(fd);
    const fdB = openSync(join(mntB, 'note2'), 'r+'); // free again
    closeSync(fdB);

    // Both hosts create files in one directory at once.
    mkdirSync(join(ds.mnt, 'shared'));
    const work = (mnt: string, tag: string) =>
      new Promise<number | null>((resolve) => {
        const p = spawn('sh', ['-c', `for i in $(seq 1 40); do echo ${tag}$i > ${mnt}/shared/${tag}-$i; done; mv ${mnt}/shared/${tag}-7 ${mnt}/shared/${tag}-seven; rm ${mnt}/shared/${tag}-9`]);
        p.on('exit', resolve);
      });
    expect(await Promise.all([work(ds.mnt, 'a'), work(mntB, 'b')])).toEqual([0, 0]);
    const names = readdirSync(join(mntB, 'shared')).sort();
    const want: string[] = [];
    for (const t of ['a', 'b']) for (let i = 1; i <= 40; i++) if (i !== 9) want.push(i === 7 ? `${t}-seven` : `${t}-${i}`);
    expect(names).toEqual(want.sort());
    expect(readFileSync(join(ds.mnt, 'shared', 'b-33'), 'utf8')).toBe('b33\n');

    expectOk(vmfs(['umount', mntB]), 'umount B');
    expectOk(ds.umount(), 'umount A');
    expect(await checkFindings(ds.extents)).toEqual([]);
    expect(vmfsToolsFsck(ds.extents)).toEqual({ 'Unallocated blocks': 0, 'Lost blocks': 0, 'Undefined inodes': 0, 'Orphaned inodes': 0, 'Directory errors': 0 });
  });
});
