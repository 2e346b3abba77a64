// Compatibility with the open VMFS reader: volumes formatted and written by
// us are listed, read and checked by Debian's vmfs-tools (debugvmfs,
// vmfs-fuse, fsck.vmfs) with the same names and bytes and 0 errors.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, readSync, closeSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDatastore } from '../src/fs/datastore.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { SEGMENT_SIZE, deviceSizeFor } from '../src/volume/volumeHeader.js';
import { MiB, expectVmfsToolsClean, has, pattern, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-compat-');
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('fusermount', ['-uz', m]);
  tmp.cleanup();
});

const GiB = 2 ** 30;


interface Expected {
  path: string;
  sha: string;
  size: number;
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Writes the tree of the issue and returns what each file must hold. */
async function writeTree(fs: Vmfs, extents: number): Promise<Expected[]> {
  const out: Expected[] = [];
  const put = async (path: string, data: Buffer) => {
    const id = await fs.create(path);
    for (let at = 0; at < data.length; at += 64 * MiB) await fs.write(id, data.subarray(at, Math.min(data.length, at + 64 * MiB)), at);
    out.push({ path, sha: sha(data), size: data.length });
  };
  await fs.mkdir('/vms');
  await fs.mkdir('/vms/deep');
  await fs.mkdir('/vms/deep/deeper');
  await put('/empty', Buffer.alloc(0));
  await put('/one', Buffer.from('x'));
  await put('/vms/k8', pattern(8 * 1024, 1));
  await put('/vms/deep/k65', pattern(65 * 1024, 2));
  await put('/vms/deep/deeper/m3', pattern(3 * MiB + 123, 3));
  // 2 GiB sparse: a hole, then data
  const sparse = await fs.create('/vms/sparse.img');
  const tail = pattern(1000, 4);
  await fs.write(sparse, tail, 2 * GiB - tail.length);
  const h = createHash('sha256');
  const zeros = Buffer.alloc(64 * MiB);
  for (let at = 0; at < 2 * GiB - tail.length; at += zeros.length) h.update(zeros.subarray(0, Math.min(zeros.length, 2 * GiB - tail.length - at)));
  out.push({ path: '/vms/sparse.img', sha: h.update(tail).digest('hex'), size: 2 * GiB });
  if (extents > 1) {
    // A filler that spans extents, then a file whose blocks land on the last extent.
    const free = fs.statfs().freeBlocks * fs.blockSize;
    const lastStart = (fs.volume.extents[extents - 1].firstSegment) * SEGMENT_SIZE;
    const used = fs.volume.size - free;
    await put('/filler', pattern(Math.max(0, lastStart - used) + fs.blockSize, 5));
  }
  await put('/vms/on-last-extent', pattern(2 * MiB + 5, 6));
  await fs.symlink('vms/deep/k65', '/link');
  return out;
}

function debugvmfs(extents: string[], ...args: string[]) {
  return spawnSync('debugvmfs', [...extents, ...args], { maxBuffer: 64 * MiB });
}

async function catSha(extents: string[], path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('debugvmfs', [...extents, 'cat', path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const h = createHash('sha256');
    p.stdout.on('data', (d) => h.update(d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(h.digest('hex')) : reject(new Error(`debugvmfs cat ${path} exited ${code}`))));
  });
}

const cases = [
  { extents: 1, blockSize: 1 * MiB },
  { extents: 3, blockSize: 1 * MiB },
  { extents: 1, blockSize: 8 * MiB },
  { extents: 3, blockSize: 8 * MiB },
];

describe('vmfs-tools reads what we write', () => {
  for (const c of cases) {
    it(`${c.extents} extent(s), ${c.blockSize / MiB} MiB blocks`, async () => {
      const dir = join(tmp.path, `v${c.extents}-${c.blockSize}`);
      mkdirSync(dir);
      const extents = Array.from({ length: c.extents }, (_, i) => join(dir, `extent${i}`));
      const fs = await formatDatastore(extents, { size: deviceSizeFor(1), blockSize: c.blockSize, label: 'compat' });
      const files = await writeTree(fs, c.extents);
      if (c.extents > 1) {
        const last = await fs.inode(null, await fs.resolve(null, '/vms/on-last-extent'));
        const firstBlock = (last.blocks[0] >>> 6) * c.blockSize;
        expect(fs.volume.extentAt(firstBlock)).toBe(fs.volume.extents[c.extents - 1]);
      }
      await fs.close();

      // fsck.vmfs: every counter 0
      expectVmfsToolsClean(extents);

      // debugvmfs ls: the same names
      const ls = (p: string) => debugvmfs(extents, 'ls', p).stdout.toString().split('\n').filter(Boolean).sort();
      expect(ls('/')).toEqual(['.', '..', '.fbb.sf', '.fdc.sf', '.pbc.sf', '.sbc.sf', '.vh.sf', 'empty', 'link', 'one', 'vms', ...(c.extents > 1 ? ['filler'] : [])].sort());
      expect(ls('/vms')).toEqual(['.', '..', 'deep', 'k8', 'on-last-extent', 'sparse.img'].sort());
      expect(ls('/vms/deep/deeper')).toEqual(['.', '..', 'm3']);
      const long = debugvmfs(extents, 'ls', '-l', '/vms/deep').stdout.toString();
      expect(long).toMatch(/^-rw-r--r-- 1 .* 66560 .* k65$/m);

      // debugvmfs cat: the same bytes (the 2 GiB sparse file on the first case only, it is slow)
      for (const f of files) {
        if (f.path === '/vms/sparse.img' && c !== cases[0]) continue;
        expect(await catSha(extents, f.path), f.path).toBe(f.sha);
      }
      expect(debugvmfs(extents, 'cat', '/link').stdout.equals(pattern(65 * 1024, 2))).toBe(true);

      // vmfs-fuse: a read-only mount shows the same tree
      if (has('vmfs-fuse')) {
        const mnt = join(dir, 'mnt');
        mkdirSync(mnt);
        const r = spawnSync('vmfs-fuse', [...extents, mnt], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        mounts.push(mnt);
        try {
          for (const f of files) {
            if (f.size > 64 * MiB) {
              // read the tail of the big files through the mount
              const fd = openSync(join(mnt, f.path), 'r');
              const b = Buffer.alloc(1000);
              readSync(fd, b, 0, 1000, f.size - 1000);
              closeSync(fd);
              if (f.path === '/vms/sparse.img') expect(b.equals(pattern(1000, 4))).toBe(true);
              continue;
            }
            expect(sha(readFileSync(join(mnt, f.path))), f.path).toBe(f.sha);
          }
          expect(readlinkSync(join(mnt, 'link'))).toBe('vms/deep/k65');
          expect(readdirSync(join(mnt, 'vms')).sort()).toEqual(['deep', 'k8', 'on-last-extent', 'sparse.img']);
        } finally {
          spawnSync('fusermount', ['-u', mnt]);
        }
      }
    });
  }

  it('a removed tree leaves nothing lost', async () => {
    const dir = join(tmp.path, 'removed');
    mkdirSync(dir);
    const extents = [join(dir, 'e0'), join(dir, 'e1')];
    const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
    await fs.mkdir('/d');
    for (let i = 0; i < 50; i++) {
      const id = await fs.create(`/d/f${i}`);
      await fs.write(id, pattern(i * 40_000, i), 0);
    }
    await fs.rename('/d/f1', '/moved');
    for (let i = 2; i < 50; i += 2) await fs.unlink(`/d/f${i}`);
    await fs.truncate('/d/f3', 10);
    await fs.close();
    expectVmfsToolsClean(extents);
    expect(debugvmfs(extents, 'check_vol_bitmaps').stdout.toString()).toMatch(/Total errors: 0/);
  });
});
