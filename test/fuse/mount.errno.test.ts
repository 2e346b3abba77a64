// The errno table: the same calls (errnoProbe.ts), on the same fixture, on the mount and
// on a real ext4 directory under /tmp (this machine's /tmp is ext4; the test checks that),
// as root and as an ordinary user (uid 1000, no groups). Every result, error or value
// (modes, owners, link counts, file contents), must be the same. Attributes are not cached
// (--attr-timeout 0): with a cache, the other names of a hard-linked file show the old
// link count or size for up to the timeout, because path-based FUSE gives each name its
// own kernel inode and libfuse 2's high-level API has no way to invalidate them.
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../helpers.js';
import { TestMount, expectOk, makeDatastore, requireTools, sh } from './mountHarness.js';

const PROBE = join(ROOT_DIR, 'test/fuse/errnoProbe.ts');
let m: TestMount;
let ext4: string;
let vmfsBase: string;

function probe(base: string, role: 'setup' | 'root' | 'user'): Record<string, unknown> {
  const argv = [process.execPath, '--import', 'tsx', PROBE, base, role];
  const cmd = role === 'user' ? ['setpriv', '--reuid=1000', '--regid=1000', '--clear-groups', ...argv] : argv;
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: ROOT_DIR, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`probe ${role} on ${base}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  requireTools('setpriv', 'fusermount');
  m = await makeDatastore('fuse-errno-');
  expectOk(m.mount(['-o', 'allow_other', '--attr-timeout', '0']), 'vmfs mount');
  ext4 = join(m.dir, 'ext4');
  mkdirSync(ext4, { mode: 0o755 });
  vmfsBase = join(m.mnt, 'base');
  mkdirSync(vmfsBase, { mode: 0o755 });
});

afterAll(() => m?.cleanup());

describe('errno table: the mount answers as ext4 does', () => {
  it('the reference directory is on ext4', () => {
    expect(sh(`stat -f -c %T '${ext4}'`).stdout.trim()).toBe('ext2/ext3');
    expect(sh(`stat -f -c %T '${vmfsBase}'`).stdout.trim()).toMatch(/^fuse/);
  });

  it('fixture setup', () => {
    const want = probe(ext4, 'setup');
    expect(Object.values(want).every((v) => v === 'ok')).toBe(true);
    expect(probe(vmfsBase, 'setup')).toEqual(want);
  });

  it('as root', () => {
    const want = probe(ext4, 'root');
    expect(Object.values(want)).toEqual(expect.arrayContaining(['ENOENT', 'EEXIST', 'ENOTEMPTY', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'EINVAL', 'EPERM']));
    expect(probe(vmfsBase, 'root')).toEqual(want);
  });

  it('as an ordinary user (default_permissions, new nodes owned by the caller)', () => {
    const want = probe(ext4, 'user');
    expect(Object.values(want)).toEqual(expect.arrayContaining(['EACCES', 'EPERM', 'ok']));
    expect(want['owner of shared/mine']).toMatch(/ 1000:1000 /);
    expect(probe(vmfsBase, 'user')).toEqual(want);
  });

  it('rename or link between the mount and ext4 is EXDEV both ways', () => {
    const code = (f: () => void) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as NodeJS.ErrnoException).code;
      }
    };
    expect(code(() => renameSync(join(vmfsBase, 'dir/sub'), join(ext4, 'moved')))).toBe('EXDEV');
    expect(code(() => renameSync(join(ext4, 'dir/sub'), join(vmfsBase, 'moved')))).toBe('EXDEV');
    expect(code(() => linkSync(join(vmfsBase, 'file'), join(ext4, 'linked')))).toBe('EXDEV');
  });

  it('names of 128 to 255 bytes: ext4 takes them, VMFS3 stores at most 127 bytes (ENAMETOOLONG)', () => {
    const name = 'x'.repeat(128);
    expect(sh(`touch '${join(ext4, name)}'`).code).toBe(0);
    const r = sh(`touch '${join(vmfsBase, name)}'`);
    expect(r.stderr).toMatch(/File name too long/);
    expect(sh(`touch '${join(vmfsBase, 'x'.repeat(127))}'`).code).toBe(0);
  });
});
