// Operation bodies run over the caches and, when something is missing, throw
// a cache miss that the driver loads before running them again (src/fs/cacheMiss.ts).
// These tests open datastores with nothing cached, so that every body misses
// on its way, and check what the operations leave behind, on disk.
import { describe, expect, it } from 'vitest';
import { Zla } from '../src/fs/inode.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { MiB, expectClean, memoryFs, pattern, readAll } from './helpers.js';

async function reopen(fs: Vmfs, devices: MemoryDevice[]): Promise<Vmfs> {
  await fs.close();
  return Vmfs.open(await LogicalVolume.open(devices));
}

describe('operations on a datastore with nothing cached', () => {
  it('load what they need through symlinks, directories and pointer blocks, and leave the same result', async () => {
    const { fs: made, devices } = await memoryFs([2]);
    await made.mkdir('/d1');
    await made.mkdir('/d1/d2');
    await made.mkdir('/d1/d2/d3');
    await made.symlink('/d1/d2', '/l');
    await made.symlink('../d2/d3', '/d1/d2/rel');
    for (let i = 0; i < 5; i++) await made.write(await made.create(`/d1/d2/d3/f${i}`), Buffer.from(`file ${i}`), 0);
    const big = await made.create('/d1/big');
    const head = pattern(3000, 1);
    const far = pattern(5000, 2);
    await made.write(big, head, 0);
    await made.write(big, far, 270 * MiB); // pointer blocks
    let fs = await reopen(made, devices);

    expect((await fs.stat('/l/rel/f0')).size).toBe(6);
    fs = await reopen(fs, devices);
    await fs.unlink('/l/rel/f0');
    fs = await reopen(fs, devices);
    await fs.rename('/l/d3/f1', '/d1/moved');
    fs = await reopen(fs, devices);
    await fs.link('/l/rel/f2', '/d1/f2link');
    fs = await reopen(fs, devices);
    const more = pattern(7000, 3);
    await fs.write(big, more, 270 * MiB + 2 * MiB); // a new block under an existing pointer block
    fs = await reopen(fs, devices);
    await fs.truncate('/d1/big', 270 * MiB + 4000);
    fs = await reopen(fs, devices);
    await fs.setAttributes('/l/rel/f3', { mode: 0o600 });
    fs = await reopen(fs, devices);
    await fs.rmdir('/d1/d2/d3').then(
      () => expect.unreachable('rmdir of a non-empty directory'),
      (e) => expect(e.code).toBe('ENOTEMPTY'),
    );

    fs = await reopen(fs, devices);
    expect((await fs.readdir('/l/d3')).map((e) => e.name).sort()).toEqual(['.', '..', 'f2', 'f3', 'f4']);
    expect((await readAll(fs, '/d1/moved')).toString()).toBe('file 1');
    expect((await fs.stat('/d1/f2link')).nlink).toBe(2);
    expect((await fs.stat('/d1/d2/d3/f3')).mode & 0o7777).toBe(0o600);
    const back = await readAll(fs, '/d1/big');
    expect(back.length).toBe(270 * MiB + 4000);
    expect(back.subarray(0, head.length).equals(head)).toBe(true);
    expect(back.subarray(270 * MiB, 270 * MiB + 4000).equals(far.subarray(0, 4000))).toBe(true);
    expect((await fs.inode(null, big)).zla).toBe(Zla.PointerBlocks);
    await expectClean(fs);
  });
});

describe('a small file leaving its sub-block', () => {
  // Its sub-block still holds old bytes past the end. Growing the file zeroes
  // them (data the transaction writes at commit) and then moves the
  // sub-block into a file block, reading it back as the transaction sees it:
  // with the zeroes, not the old bytes.
  for (const how of ['write', 'truncate'] as const) {
    for (const cold of [false, true]) {
      it(`never shows the old bytes past its end (${how}, ${cold ? 'nothing cached' : 'cached'})`, async () => {
        const { fs: made, devices } = await memoryFs();
        const id = await made.create('/s');
        await made.write(id, Buffer.alloc(4000, 0xbb), 0);
        await made.truncate('/s', 100);
        expect((await made.inode(null, id)).zla).toBe(Zla.SubBlocks);
        const fs = cold ? await reopen(made, devices) : made;
        const end = 200_000;
        if (how === 'write') await fs.write(id, Buffer.from('x'), end - 1);
        else await fs.truncate('/s', end);
        expect((await fs.inode(null, id)).zla).toBe(Zla.FileBlocks);
        const back = await readAll(await reopen(fs, devices), '/s');
        expect(back.length).toBe(end);
        expect(back.subarray(0, 100).every((b) => b === 0xbb)).toBe(true);
        expect(back.subarray(100, end - 1).every((b) => b === 0)).toBe(true);
        expect(back[end - 1]).toBe(how === 'write' ? 0x78 : 0);
      });
    }
  }
});
