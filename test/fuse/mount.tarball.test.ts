// A real tarball (part of /usr/share/doc plus generated files: nested directories, empty,
// odd-sized and multi-block files, symlinks, a hard link) unpacked into a two-extent
// datastore mounted with `vmfs mount`: every file's bytes, mode and mtime match the source
// through our mount, and again through Debian's vmfs-fuse after unmounting; fsck.vmfs
// counts no error and our own check finds nothing.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, linkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectVmfsToolsClean, pattern } from '../helpers.js';
import { MiB, TestMount, checkFindings, expectOk, makeDatastore, requireTools, sh } from './mountHarness.js';

interface Entry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtime: number;
  sha?: string;
  target?: string;
}

/** Every entry under `root` by relative path: type, permission bits, mtime (s), and content hash or link target. */
function snapshot(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      const base = { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isSymbolicLink()) out.set(path, { type: 'symlink', ...base, mode: 0, target: readlinkSync(join(root, path)) });
      else if (st.isDirectory()) {
        out.set(path, { type: 'dir', ...base, mtime: 0 }); // unpacking the children changes it
        walk(path);
      } else out.set(path, { type: 'file', ...base, sha: createHash('sha256').update(readFileSync(join(root, path))).digest('hex') });
    }
  };
  walk('');
  return out;
}

/** The paths whose entries differ (at most 20, for a readable failure). */
function differences(want: Map<string, Entry>, got: Map<string, Entry>): string[] {
  const out: string[] = [];
  for (const [path, e] of want) {
    const g = got.get(path);
    if (JSON.stringify(g) !== JSON.stringify(e)) out.push(`${path}: want ${JSON.stringify(e)}, got ${JSON.stringify(g)}`);
  }
  for (const path of got.keys()) if (!want.has(path)) out.push(`${path}: unexpected`);
  return out.slice(0, 20);
}

let m: TestMount;
let source: string;
let tarball: string;
let want: Map<string, Entry>;
const vmfsFuseMnt = () => join(m.dir, 'vmfs-fuse');

beforeAll(async () => {
  requireTools('tar', 'vmfs-fuse', 'fsck.vmfs', 'fusermount');
  m = await makeDatastore('fuse-tarball-', 1536 * MiB, 2);
  source = join(m.dir, 'source');
  mkdirSync(join(source, 'doc'), { recursive: true });
  // About 1500 files of real documentation, whole package directories at a time.
  let files = 0;
  const pkgs: string[] = [];
  for (const pkg of readdirSync('/usr/share/doc').sort()) {
    if (files >= 1500) break;
    pkgs.push(pkg);
    files += Number(sh(`find '/usr/share/doc/${pkg}' | wc -l`).stdout.trim());
  }
  expectOk(sh(`cp -a ${pkgs.map((p) => `'/usr/share/doc/${p}'`).join(' ')} '${join(source, 'doc')}/'`), 'cp');
  // Generated: sizes around the 64 KiB sub-block and 1 MiB file block boundaries.
  const deep = join(source, 'gen/a/b/c/d');
  mkdirSync(deep, { recursive: true });
  const sizes = [0, 1, 4095, 65535, 65536, 65537, MiB - 1, MiB, MiB + 3, 5 * MiB + 12345];
  sizes.forEach((size, i) => writeFileSync(join(deep, `f${i}`), pattern(size, i + 1), { mode: i % 2 ? 0o640 : 0o755 }));
  symlinkSync('a/b/c/d/f9', join(source, 'gen/to-big'));
  symlinkSync('/nowhere/at/all', join(source, 'gen/dangling'));
  linkSync(join(deep, 'f8'), join(source, 'gen/hard-f8'));
  mkdirSync(join(source, 'gen/many'));
  for (let i = 0; i < 300; i++) writeFileSync(join(source, 'gen/many', `file-${i}.txt`), `line ${i}\n`.repeat(i));
  tarball = join(m.dir, 'source.tar');
  expectOk(sh(`tar -cf '${tarball}' -C '${source}' .`), 'tar -c');
  want = snapshot(source);
  expectOk(m.mount(['-o', 'allow_other']), 'vmfs mount');
});

afterAll(() => {
  if (m) {
    sh(`fusermount -uz '${vmfsFuseMnt()}'`);
    m.cleanup();
  }
});

describe('a tarball unpacked into the mount', () => {
  it('holds exactly the files of the source, through the mount', () => {
    expect(want.size).toBeGreaterThan(1800);
    const dest = join(m.mnt, 'unpacked');
    mkdirSync(dest);
    expectOk(sh(`tar -xf '${tarball}' -C '${dest}'`), 'tar -x');
    expect(differences(want, snapshot(dest))).toEqual([]);
    // The hard link is one inode with two names.
    const a = lstatSync(join(dest, 'gen/hard-f8'));
    const b = lstatSync(join(dest, 'gen/a/b/c/d/f8'));
    expect([a.ino, a.nlink]).toEqual([b.ino, 2]);
  });

  it('unmounts, then reads back identically through vmfs-fuse', () => {
    expectOk(m.umount(), 'vmfs umount');
    expect(m.pid()).toBeNull();
    mkdirSync(vmfsFuseMnt());
    expectOk(sh(`vmfs-fuse ${m.extents.join(' ')} '${vmfsFuseMnt()}'`), 'vmfs-fuse');
    try {
      expect(differences(want, snapshot(join(vmfsFuseMnt(), 'unpacked')))).toEqual([]);
    } finally {
      expectOk(sh(`fusermount -u '${vmfsFuseMnt()}'`), 'fusermount -u');
    }
  });

  it('passes fsck.vmfs and our consistency check', async () => {
    expectVmfsToolsClean(m.extents);
    expect(await checkFindings(m.extents)).toEqual([]);
    rmSync(source, { recursive: true, force: true });
  });
});
