// Two hosts mount one datastore through FUSE as cluster hosts, with the default cache
// settings (which, for a cluster host, cache nothing in the kernel): each sees the
// other's rename and rewrite in the very next call (stat, readdir, file bytes), a file
// open for writing on one host is busy for writers on the other (who wait a moment for
// it first), concurrent work
// merges, and both checkers find the volume clean afterwards.
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMount, checkFindings, expectOk, makeDatastore, vmfs } from './mountHarness.js';
import { expectVmfsToolsClean, runVmfs } from '../helpers.js';

let ds: TestMount;
let mntB: string;
afterAll(() => {
  if (mntB) vmfs(['umount', mntB]);
  ds?.cleanup();
});

const A = '6b000aaa-00000001-0001-00000000000a';
const B = '6b000bbb-00000002-0002-00000000000b';

function errnoOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

describe('two FUSE hosts on one datastore', () => {
  beforeAll(async () => {
    ds = await makeDatastore('vmfs-fuse-multi-');
    mntB = join(ds.dir, 'mntB');
    mkdirSync(mntB);
    // No cache options: a cluster host's defaults must be safe.
    expectOk(ds.mount(['--host-uuid', A]), 'mount A');
    expectOk(vmfs(['mount', '-d', ds.extents.join(','), mntB, '--log', join(ds.dir, 'b.log'), '--host-uuid', B]), 'mount B');
    const hosts = JSON.parse(runVmfs(['hosts', '-d', ds.extents.join(','), '--json']).stdout);
    expect(hosts.hosts.map((h: { uuid: string }) => h.uuid).sort()).toEqual([A, B]);
  });

  it("shows host A's rename and rewrite on host B at once, through B's kernel", () => {
    mkdirSync(join(ds.mnt, 'docs'));
    writeFileSync(join(ds.mnt, 'docs', 'note'), 'first');
    writeFileSync(join(ds.mnt, 'docs', 'same'), 'version 1');
    // B looks first: its kernel now holds the names, the attributes (looked at last, so
    // that the reads' atime invalidation does not refresh them) and the pages.
    const docsB = join(mntB, 'docs');
    expect(readdirSync(docsB).sort()).toEqual(['note', 'same']);
    expect(readFileSync(join(docsB, 'note'), 'utf8')).toBe('first');
    expect(readFileSync(join(docsB, 'same'), 'utf8')).toBe('version 1');
    const before = statSync(join(docsB, 'note'));
    expect(before.size).toBe(5);
    expect(statSync(join(docsB, 'same')).mode & 0o777).toBe(0o644);

    // A renames and rewrites (one file longer, one in place with the same size and a new mode).
    renameSync(join(ds.mnt, 'docs', 'note'), join(ds.mnt, 'docs', 'note2'));
    writeFileSync(join(ds.mnt, 'docs', 'note2'), 'second, longer');
    writeFileSync(join(ds.mnt, 'docs', 'same'), 'version 2');
    chmodSync(join(ds.mnt, 'docs', 'same'), 0o600);

    // B, right after: the old name is gone, the new one is the same inode with the new size.
    expect(errnoOf(() => statSync(join(docsB, 'note')))).toBe('ENOENT');
    const after = statSync(join(docsB, 'note2'));
    expect({ ino: after.ino, size: after.size }).toEqual({ ino: before.ino, size: 14 });
    expect(statSync(join(docsB, 'same')).mode & 0o777).toBe(0o600);
    expect(readdirSync(docsB).sort()).toEqual(['note2', 'same']);
    expect(readFileSync(join(docsB, 'note2'), 'utf8')).toBe('second, longer');
    expect(readFileSync(join(docsB, 'same'), 'utf8')).toBe('version 2');

    // And the other way round, for a name B's kernel has looked up and found missing.
    expect(errnoOf(() => statSync(join(ds.mnt, 'docs', 'fromB')))).toBe('ENOENT');
    writeFileSync(join(docsB, 'fromB'), 'b');
    expect(statSync(join(ds.mnt, 'docs', 'fromB')).size).toBe(1);
  });

  it('locks writers, merges concurrent work, and leaves the volume clean', async () => {
    writeFileSync(join(ds.mnt, 'note2'), 'second, longer');

    // A file open for writing on A is busy for writers on B; readers are fine.
    const fd = openSync(join(ds.mnt, 'note2'), 'r+');
    expect(errnoOf(() => closeSync(openSync(join(mntB, 'note2'), 'r+')))).toBe('EBUSY');
    expect(readFileSync(join(mntB, 'note2'), 'utf8')).toBe('second, longer');
    writeSync(fd, 'S');
    closeSync(fd);
    const fdB = openSync(join(mntB, 'note2'), 'r+'); // free again, though the kernel tells A of the close only after it returned
    closeSync(fdB);

    // A writer on B waits (--lock-wait, 0.5 s by default) for A to let the file go.
    const fdA = openSync(join(ds.mnt, 'note2'), 'r+');
    const opening = open(join(mntB, 'note2'), 'r+');
    await new Promise((r) => setTimeout(r, 150));
    closeSync(fdA);
    await (await opening).close();

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
    expectVmfsToolsClean(ds.extents);
  });
});
