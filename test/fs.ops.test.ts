// File system operations through the library: POSIX results and errors,
// block accounting, and a clean check after each scenario.
import { describe, expect, it } from 'vitest';
import { InodeType, Zla } from '../src/fs/inode.js';
import { FsError } from '../src/util/errors.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { MiB, expectClean, memoryFs, pattern, readAll } from './helpers.js';

async function errno(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
  return 'OK';
}

describe('namespace', () => {
  it('a freed inode slot passes its generation on to the next inode there, read back from the disk', async () => {
    const { fs, devices } = await memoryFs();
    const id = await fs.create('/a');
    const first = (await fs.inode(null, id)).generation;
    await fs.unlink('/a');
    await fs.close();
    const again = await Vmfs.open(await LogicalVolume.open(devices)); // nothing cached: the old slot is read
    expect(await again.create('/b')).toBe(id);
    const reused = await again.inode(null, id);
    expect(reused.generation).toBe(first + 1);
    await expectClean(again);
  });

  it('creates, lists, renames and removes with POSIX errors', async () => {
    const { fs } = await memoryFs();
    await fs.mkdir('/a');
    await fs.mkdir('/a/b');
    const f = await fs.create('/a/f', 0o640, { uid: 1000, gid: 100 });
    expect((await fs.stat('/a/f')).uid).toBe(1000);
    expect((await fs.stat('/a/f')).mode).toBe(0o100640);
    expect((await fs.readdir('/a')).map((e) => e.name)).toEqual(['.', '..', 'b', 'f']);
    expect((await fs.stat('/a')).nlink).toBe(3);

    expect(await errno(fs.mkdir('/a'))).toBe('EEXIST');
    expect(await errno(fs.create('/a/f', 0o644, undefined, true))).toBe('EEXIST');
    expect(await fs.create('/a/f')).toBe(f); // non-exclusive open of an existing file
    expect(await errno(fs.stat('/nope'))).toBe('ENOENT');
    expect(await errno(fs.mkdir('/nope/x'))).toBe('ENOENT');
    expect(await errno(fs.mkdir('/a/f/x'))).toBe('ENOTDIR');
    expect(await errno(fs.readdir('/a/f'))).toBe('ENOTDIR');
    expect(await errno(fs.rmdir('/a'))).toBe('ENOTEMPTY');
    expect(await errno(fs.rmdir('/a/f'))).toBe('ENOTDIR');
    expect(await errno(fs.unlink('/a/b'))).toBe('EISDIR');
    expect(await errno(fs.create('/a/b'))).toBe('EISDIR');
    expect(await errno(fs.mkdir('/' + 'x'.repeat(128)))).toBe('ENAMETOOLONG');
    await fs.mkdir('/' + 'x'.repeat(127));
    expect(await errno(fs.rename('/a', '/a/b/c'))).toBe('EINVAL');
    expect(await errno(fs.rename('/a/b', '/a/f'))).toBe('ENOTDIR');
    expect(await errno(fs.rename('/a/f', '/a/b'))).toBe('EISDIR');
    expect(await errno(fs.unlink('/.fbb.sf'))).toBe('EPERM');

    // rename across directories moves "..", and replaces a target file
    await fs.mkdir('/c');
    await fs.rename('/a/b', '/c/b');
    expect((await fs.readdir('/c/b'))[1]).toMatchObject({ name: '..', id: await fs.resolve(null, '/c') });
    expect((await fs.stat('/a')).nlink).toBe(2);
    expect((await fs.stat('/c')).nlink).toBe(3);
    const g = await fs.create('/c/g');
    await fs.write(g, Buffer.from('gg'), 0);
    await fs.rename('/c/g', '/a/f');
    expect((await readAll(fs, '/a/f')).toString()).toBe('gg');
    expect(await errno(fs.stat('/c/g'))).toBe('ENOENT');
    // a directory replaces an empty directory, not a full one
    await fs.mkdir('/c/empty');
    await fs.mkdir('/c/full');
    await fs.create('/c/full/x');
    await fs.mkdir('/c/d2');
    expect(await errno(fs.rename('/c/d2', '/c/full'))).toBe('ENOTEMPTY');
    await fs.rename('/c/d2', '/c/empty');
    expect((await fs.readdir('/c')).map((e) => e.name).sort()).toEqual(['.', '..', 'b', 'empty', 'full']);
    await expectClean(fs);
    await fs.rmdir('/c/b');
    await fs.unlink('/c/full/x');
    await fs.rmdir('/c/full');
    expect((await fs.stat('/c')).nlink).toBe(3);
    await expectClean(fs);
  });

  it('statCached answers what stat() answers, from the caches, or says it cannot', async () => {
    const { fs } = await memoryFs();
    await fs.mkdir('/d');
    await fs.create('/d/f', 0o600);
    await fs.symlink('d/f', '/l');
    await fs.mkdir('/d/e');
    for (const p of ['/', '/d', '/d/f', '/d/e']) expect(fs.statCached(p)).toEqual(await fs.stat(p));
    expect(fs.statCached('/l', false)).toEqual(await fs.stat('/l', false));
    expect(fs.statCached('/l')).toBeUndefined(); // following a symlink is stat()'s
    const code = (p: string) => {
      try {
        fs.statCached(p);
      } catch (e) {
        return (e as FsError).code;
      }
      return 'OK';
    };
    expect(code('/d/none')).toBe('ENOENT');
    expect(await errno(fs.stat('/d/none'))).toBe('ENOENT');
    // A change shows at once: the caches are the committed state.
    await fs.setAttributes('/d/f', { mode: 0o644 }, false);
    expect(fs.statCached('/d/f')?.mode).toBe(0o100644);
    await fs.unlink('/d/f');
    expect(code('/d/f')).toBe('ENOENT');
  });

  it('hard links and symlinks', async () => {
    const { fs } = await memoryFs();
    const id = await fs.create('/f');
    await fs.write(id, Buffer.from('data'), 0);
    await fs.link('/f', '/g');
    expect((await fs.stat('/f')).nlink).toBe(2);
    expect(await errno(fs.link('/f', '/g'))).toBe('EEXIST');
    await fs.mkdir('/d');
    expect(await errno(fs.link('/d', '/d2'))).toBe('EPERM');
    await fs.unlink('/f');
    expect((await fs.stat('/g')).nlink).toBe(1);
    expect((await readAll(fs, '/g')).toString()).toBe('data');
    await fs.symlink('g', '/s');
    await fs.symlink('/d', '/sd');
    expect(await fs.readlink('/s')).toBe('g');
    expect((await fs.stat('/s', false)).type).toBe(InodeType.Symlink);
    expect((await fs.stat('/s')).type).toBe(InodeType.File);
    expect((await readAll(fs, '/s')).toString()).toBe('data');
    await fs.create('/sd/inside');
    expect((await fs.readdir('/d')).map((e) => e.name)).toContain('inside');
    await fs.symlink('loop2', '/loop1');
    await fs.symlink('loop1', '/loop2');
    expect(await errno(fs.stat('/loop1'))).toBe('ELOOP');
    expect(await errno(fs.readlink('/g'))).toBe('EINVAL');
    await expectClean(fs);
  });

  it('chmod, chown, utimes', async () => {
    const { fs } = await memoryFs([1], {});
    await fs.create('/f');
    await fs.setAttributes('/f', { mode: 0o4750, uid: 7, gid: 8, atime: 1000, mtime: 2000 });
    const s = await fs.stat('/f');
    expect([s.mode, s.uid, s.gid, s.atime, s.mtime]).toEqual([0o104750, 7, 8, 1000, 2000]);
  });
});

describe('file data', () => {
  it('reads back what was written at any offset, across every addressing mode', async () => {
    const { fs } = await memoryFs([2]);
    const id = await fs.create('/f');
    const model = Buffer.alloc(300 * MiB);
    const writeBoth = async (data: Buffer, at: number) => {
      await fs.write(id, data, at);
      data.copy(model, at);
    };
    await writeBoth(Buffer.from('small'), 10);
    expect((await fs.inode(null, id)).zla).toBe(Zla.SubBlocks);
    await writeBoth(pattern(100_000, 1), 50_000); // past one sub-block: file blocks
    expect((await fs.inode(null, id)).zla).toBe(Zla.FileBlocks);
    await writeBoth(pattern(3 * MiB + 123, 2), 5 * MiB - 7);
    await writeBoth(pattern(4096, 3), 260 * MiB); // past 256 blocks: pointer blocks, with a hole
    expect((await fs.inode(null, id)).zla).toBe(Zla.PointerBlocks);
    const size = 260 * MiB + 4096;
    expect((await fs.stat('/f')).size).toBe(size);
    const back = await readAll(fs, '/f');
    expect(back.equals(model.subarray(0, size))).toBe(true);
    await expectClean(fs);
    // shrink: blocks freed, tail zeroed for later growth
    const before = fs.statfs().freeBlocks;
    await fs.truncate('/f', 5 * MiB);
    expect(fs.statfs().freeBlocks).toBeGreaterThan(before);
    await fs.truncate('/f', 7 * MiB);
    const grown = await readAll(fs, '/f');
    expect(grown.subarray(0, 5 * MiB).equals(model.subarray(0, 5 * MiB))).toBe(true);
    expect(grown.subarray(5 * MiB).every((b) => b === 0)).toBe(true);
    await expectClean(fs);
    await fs.unlink('/f');
    await expectClean(fs);
  });

  it('a partial write into a fresh block never shows old bytes', async () => {
    const { fs } = await memoryFs();
    const a = await fs.create('/a');
    await fs.write(a, Buffer.alloc(2 * MiB, 0xee), 0);
    await fs.unlink('/a');
    const b = await fs.create('/b');
    await fs.write(b, Buffer.from('x'), MiB + 100);
    const back = await readAll(fs, '/b');
    expect(back.length).toBe(MiB + 101);
    expect(back.subarray(0, MiB + 100).every((x) => x === 0)).toBe(true);
    expect(back[MiB + 100]).toBe(0x78);
  });

  it('ENOSPC leaves nothing corrupted and nothing leaked', async () => {
    const { fs } = await memoryFs([1]);
    const free0 = fs.statfs().freeBlocks;
    const id = await fs.create('/big');
    let written = 0;
    let err = '';
    try {
      for (;;) {
        await fs.write(id, Buffer.alloc(8 * MiB, 1), written);
        written += 8 * MiB;
      }
    } catch (e) {
      err = (e as FsError).code;
    }
    expect(err).toBe('ENOSPC');
    expect((await fs.stat('/big')).size).toBe(written);
    await expectClean(fs);
    expect(await errno(fs.mkdir('/d'))).toBe('OK'); // a sub-block or inode is still there
    await fs.unlink('/big');
    await fs.rmdir('/d');
    expect(fs.statfs().freeBlocks).toBe(free0);
    await expectClean(fs);
  });

  it('runs out of inodes cleanly', async () => {
    const { fs } = await memoryFs([1], { inodes: 64 });
    let made = 0;
    let err = '';
    try {
      for (;;) {
        await fs.create(`/f${made}`);
        made++;
      }
    } catch (e) {
      err = (e as FsError).code;
    }
    expect(err).toBe('ENOSPC');
    expect(made).toBe(64 - 6);
    await expectClean(fs);
  });

  it('grows a directory past one sub-block and shrinks it back', async () => {
    const { fs } = await memoryFs();
    await fs.mkdir('/d');
    for (let i = 0; i < 1000; i++) await fs.create(`/d/file-with-a-longish-name-${i}`);
    expect((await fs.inode(null, await fs.resolve(null, '/d'))).zla).toBe(Zla.FileBlocks);
    expect((await fs.readdir('/d')).length).toBe(1002);
    await expectClean(fs);
    for (let i = 0; i < 1000; i += 2) await fs.unlink(`/d/file-with-a-longish-name-${i}`);
    const names = (await fs.readdir('/d')).map((e) => e.name);
    expect(names.length).toBe(502);
    expect(names.slice(0, 2)).toEqual(['.', '..']);
    expect(names).toContain('file-with-a-longish-name-999');
    await expectClean(fs);
  });
});
