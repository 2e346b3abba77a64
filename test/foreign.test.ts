// Reading (and then writing) a volume that another writer made, with its own
// geometry: everything comes from the volume, nothing from our mkfs's choices.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatastore } from '../src/fs/datastore.js';
import { Zla } from '../src/fs/inode.js';
import { MiB, ROOT_DIR, expectClean, pattern, readAll, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-foreign-');
afterAll(() => tmp.cleanup());

describe('a volume written by an independent writer', () => {
  it('reads its files, writes new ones, and stays clean for both checkers', async () => {
    const img = join(tmp.path, 'independent.img');
    writeFileSync(img, gunzipSync(readFileSync(join(ROOT_DIR, 'fixtures', 'foreign', 'independent.img.gz'))));
    const fs = await openDatastore([img]);
    expect(fs.fdc.layout.geometry.totalItems).toBe(1024);
    expect(fs.sbc.layout.geometry.totalItems).toBe(64);
    expect(fs.info.label).toBe('mylab');
    expect((await fs.readdir('/')).map((e) => e.name)).toEqual(['.', '..', '.fbb.sf', '.fdc.sf', '.pbc.sf', '.sbc.sf', '.vh.sf', 'hello.txt', 'sub', 'link']);
    expect((await readAll(fs, '/hello.txt')).toString()).toBe('Hello, VMFS!\n');
    expect((await readAll(fs, '/link')).toString()).toBe('Hello, VMFS!\n');
    const big = await readAll(fs, '/sub/big');
    expect(big.length).toBe(2 * MiB + 5);
    expect(big.subarray(0, MiB).every((b) => b === 0x41)).toBe(true);
    expect(big.subarray(MiB, 2 * MiB).every((b) => b === 0)).toBe(true); // the hole
    expect(big.subarray(2 * MiB).toString()).toBe('BBBBB');
    expect((await fs.inode(null, await fs.resolve(null, '/sub/big'))).zla).toBe(Zla.PointerBlocks);
    await expectClean(fs);

    const data = pattern(5 * MiB + 3, 11);
    const id = await fs.create('/sub/new.bin');
    await fs.write(id, data, 0);
    await fs.mkdir('/sub/d');
    await fs.rename('/hello.txt', '/sub/d/hello.txt');
    await expectClean(fs);
    await fs.close();

    const again = await openDatastore([img], { readOnly: true });
    expect((await readAll(again, '/sub/new.bin')).equals(data)).toBe(true);
    await again.close();
    const fsck = spawnSync('fsck.vmfs', [img], { encoding: 'utf8' }).stdout;
    for (const counter of ['Unallocated blocks', 'Lost blocks', 'Undefined inodes', 'Orphaned inodes', 'Directory errors']) expect(fsck).toMatch(new RegExp(`${counter}\\s*: 0`));
    const cat = spawnSync('debugvmfs', [img, 'cat', '/sub/d/hello.txt'], { encoding: 'utf8' });
    expect(cat.stdout).toBe('Hello, VMFS!\n');
  });
});
