// `vmfs mount` / `vmfs umount` as a user meets them: clear errors and exit codes, a
// background server that outlives the command, a busy mount refused, -f with SIGTERM,
// SIGINT to the server, read-only mounts, atime/mtime set separately, /dev/fuse kept
// from the server's children, and a server killed with SIGKILL in the middle of writes:
// the stale mount is cleaned by the next mount and by umount, and every file that was
// fsync'd is there, intact, in a datastore that passes the consistency check.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, linkSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inodeAddress } from '../../src/fs/blockId.js';
import { openDatastore } from '../../src/fs/datastore.js';
import { findMount, processAlive } from '../../src/fuse/mountTable.js';
import { ROOT_DIR, pattern, readAll } from '../helpers.js';
import { MiB, TestMount, checkFindings, expectOk, makeDatastore, sh, vmfs } from './mountHarness.js';

const O_CLOEXEC = 0o2000000;
let m: TestMount;

beforeAll(async () => {
  m = await makeDatastore('fuse-lifecycle-');
});

afterAll(() => m?.cleanup());

async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('vmfs mount: errors', () => {
  it('refuses bad arguments with one line and the documented exit code', () => {
    // commander's own usage errors add a hint line
    const usage = vmfs(['mount', m.mnt]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/required option '-d, --datastore/);
    const cases: [string[], number, RegExp][] = [
      [['mount', '-d', m.extents[0], m.mnt, '-o', 'fsname=x'], 2, /^vmfs: mount option "fsname" cannot be given/],
      [['mount', '-d', m.extents[0], m.mnt, '-o', 'a b'], 2, /^vmfs: mount option "a b": expected NAME or NAME=VALUE/],
      [['mount', '-d', m.extents[0], m.mnt, '--attr-timeout', 'soon'], 2, /^vmfs: --attr-timeout soon: expected seconds/],
      [['mount', '-d', m.extents[0], m.mnt, '--cluster', '-o', 'kernel_cache'], 2, /^vmfs: mount option "kernel_cache" cannot be given to a cluster host: /],
      [['mount', '-d', m.extents[0], m.mnt, '--cluster', '-o', 'ro'], 2, /^vmfs: -o ro cannot be given to a cluster host: /],
      [['mount', '-d', m.extents[0], m.mnt, '--cluster', '--lock-wait', '-1'], 2, /^vmfs: --lock-wait -1: expected seconds/],
      [['mount', '-d', m.extents[0], m.mnt, '--lock-wait', '1'], 2, /^vmfs: --lock-wait applies to a cluster host only/],
      [['mount', '-d', m.extents[0], join(m.dir, 'nope')], 1, /^vmfs: .*\/nope: No such file or directory$/],
      [['mount', '-d', m.extents[0], m.extents[0]], 1, /^vmfs: .*extent0.vmfs: Not a directory$/],
      [['mount', '-d', join(m.dir, 'daemon.log'), m.mnt], 3, /^vmfs: /],
      [['umount', m.mnt], 1, /^vmfs: .*\/mnt: not mounted$/],
      [['umount', '/'], 1, /^vmfs: \/: not a vmfs mount/],
    ];
    writeFileSync(join(m.dir, 'daemon.log'), 'not a datastore\n'.repeat(100000));
    for (const [args, code, message] of cases) {
      const r = vmfs(args);
      expect({ args, code: r.code, lines: r.stderr.trim().split('\n').length }).toEqual({ args, code, lines: 1 });
      expect(r.stderr.trim()).toMatch(message);
    }
    expect(findMount(m.mnt)).toBeNull();
  });

  it('refuses an extent inside the mount point (the server would deadlock on itself)', async () => {
    const inner = join(m.mnt, 'inner.vmfs');
    writeFileSync(inner, '');
    try {
      const r = vmfs(['mount', '-d', `${m.extents[0]},${inner}`, m.mnt]);
      expect(r.stderr).toMatch(/^vmfs: .*inner\.vmfs: the extent lies inside the mount point .*\/mnt\n$/);
      expect(r.code).toBe(1);
    } finally {
      rmSync(inner);
    }
  });
});

describe('vmfs mount: background server', () => {
  let pid: number;

  it('returns once the mount is live, served by a detached process', () => {
    expectOk(m.mount(), 'vmfs mount');
    const entry = findMount(m.mnt);
    expect(entry?.fsType).toBe('fuse.vmfs');
    pid = m.pid()!;
    expect(pid).toBeGreaterThan(0);
    expect(readdirSync(m.mnt)).toEqual(expect.arrayContaining(['.fdc.sf', '.sbc.sf']));
    // detached: its own session, cwd / (it holds no directory busy)
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
    expect(Number(stat[3])).toBe(pid); // session id
  });

  it('keeps /dev/fuse from its children (close-on-exec)', () => {
    const fds = readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === '/dev/fuse';
      } catch {
        return false;
      }
    });
    expect(fds).toHaveLength(1);
    const flags = parseInt(/^flags:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fds[0]}`, 'utf8'))![1], 8);
    expect(flags & O_CLOEXEC).toBe(O_CLOEXEC);
  });

  it('refuses a second mount on the same mount point', () => {
    const r = m.mount();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`already mounted \\(served by process ${pid};`));
  });

  it('sets atime and mtime each on its own (touch -a / -m), to the second', () => {
    const f = join(m.mnt, 'times');
    expectOk(sh(`touch -d '2001-02-03 04:05:06' '${f}'`, { env: { TZ: 'UTC' } }), 'touch');
    expectOk(sh(`touch -a -d '2002-01-01 00:00:00' '${f}'`, { env: { TZ: 'UTC' } }), 'touch -a');
    let st = statSync(f);
    expect([st.atimeMs, st.mtimeMs]).toEqual([Date.UTC(2002, 0, 1), Date.UTC(2001, 1, 3, 4, 5, 6)]);
    expectOk(sh(`touch -m -d '2003-01-01 00:00:00' '${f}'`, { env: { TZ: 'UTC' } }), 'touch -m');
    st = statSync(f);
    expect([st.atimeMs, st.mtimeMs]).toEqual([Date.UTC(2002, 0, 1), Date.UTC(2003, 0, 1)]);
    // UTIME_NOW for mtime only: atime stays
    const before = Math.floor(Date.now() / 1000) * 1000;
    expectOk(sh(`touch -m '${f}'`), 'touch -m (now)');
    st = statSync(f);
    expect(st.atimeMs).toBe(Date.UTC(2002, 0, 1));
    expect(st.mtimeMs).toBeGreaterThanOrEqual(before);
    expect(st.mtimeMs).toBeLessThanOrEqual(Date.now());
  });

  it('O_APPEND writes at the true end even when the kernel’s cached size is stale', async () => {
    // Two names of one file are two kernel inodes (path-based FUSE): a write through one
    // leaves the other's cached size behind. (This kernel refreshes the size for O_APPEND
    // itself; vmfsOperations.test.ts checks that the server also appends on its own.)
    const a = join(m.mnt, 'append-a');
    const b = join(m.mnt, 'append-b');
    writeFileSync(a, '');
    linkSync(a, b);
    const fa = openSync(a, 'a');
    try {
      writeSync(fa, '1');
      const fb = openSync(b, 'r+');
      writeSync(fb, '2222', 1);
      closeSync(fb);
      writeSync(fa, '3');
    } finally {
      closeSync(fa);
    }
    await new Promise((r) => setTimeout(r, 1200)); // the attribute cache (1 s) expires
    expect(readFileSync(a, 'utf8')).toBe('122223');
  });

  it('refuses to unmount while busy, as umount does, and keeps serving', async () => {
    const busy = spawn('sleep', ['60'], { cwd: m.mnt, stdio: 'ignore' });
    try {
      await waitFor('sleep to start', () => busy.pid !== undefined && existsSync(`/proc/${busy.pid}/cwd`));
      const r = m.umount();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/busy/i);
      expect(m.pid()).toBe(pid);
      expect(statSync(join(m.mnt, 'times')).isFile()).toBe(true);
    } finally {
      busy.kill('SIGKILL');
      await new Promise((r) => busy.once('exit', r));
    }
  });

  it('umount flushes, unmounts and waits for the server to exit', () => {
    writeFileSync(join(m.mnt, 'before-umount'), pattern(3 * MiB + 5, 11));
    expectOk(m.umount(), 'vmfs umount');
    expect(findMount(m.mnt)).toBeNull();
    expect(processAlive(pid)).toBe(false);
  });

  it('SIGINT to the server unmounts cleanly too', async () => {
    expectOk(m.mount(), 'vmfs mount');
    const server = m.pid()!;
    process.kill(server, 'SIGINT');
    await waitFor('the server to exit', () => !processAlive(server));
    expect(findMount(m.mnt)).toBeNull();
    expect(readFileSync(m.log, 'utf8')).not.toMatch(/EIO|Error/);
  });
});

describe('vmfs mount -f', () => {
  it('serves in the foreground until SIGTERM, then exits 0 with everything on disk', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT_DIR, 'test/fuse/vmfsCli.ts'), 'mount', '-f', '-d', m.extents[0], m.mnt], { cwd: ROOT_DIR, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor('the mount', () => m.pid() === child.pid);
    writeFileSync(join(m.mnt, 'foreground'), 'served by -f\n');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(findMount(m.mnt)).toBeNull();
    const fs = await openDatastore(m.extents, { readOnly: true });
    try {
      expect((await readAll(fs, '/foreground')).toString()).toBe('served by -f\n');
      expect((await readAll(fs, '/before-umount')).equals(pattern(3 * MiB + 5, 11))).toBe(true);
    } finally {
      await fs.close();
    }
  });

  it('-o ro serves reads and refuses writes with EROFS', () => {
    expectOk(m.mount(['-o', 'ro']), 'vmfs mount -o ro');
    try {
      expect(readFileSync(join(m.mnt, 'foreground'), 'utf8')).toBe('served by -f\n');
      expect(() => writeFileSync(join(m.mnt, 'new'), 'x')).toThrow(/EROFS/);
      expect(() => mkdirSync(join(m.mnt, 'newdir'))).toThrow(/EROFS/);
    } finally {
      expectOk(m.umount(), 'vmfs umount');
    }
  });
});

describe('mount point given through a symlink', () => {
  it('mounts and unmounts the real directory', () => {
    const link = join(m.dir, 'link-to-mnt');
    symlinkSync('mnt', link);
    expectOk(vmfs(['mount', '-d', m.extents[0], link]), 'vmfs mount via a symlink');
    expect(findMount(m.mnt)?.fsType).toBe('fuse.vmfs');
    expect(vmfs(['mount', '-d', m.extents[0], link]).stderr).toMatch(/already mounted/);
    expectOk(vmfs(['umount', link]), 'vmfs umount via the symlink');
    expect(findMount(m.mnt)).toBeNull();
  });
});

describe('a server killed with SIGKILL while files are being written', () => {
  const WRITER = `
    const fs = require('node:fs');
    const dir = process.argv[1];
    for (let i = 0; ; i++) {
      const buf = Buffer.alloc(300000 + i * 1000, i % 251);
      const fd = fs.openSync(dir + '/w' + i, 'w');
      fs.writeSync(fd, buf);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      process.stdout.write(i + '\\n');
    }`;
  const expected = (i: number) => Buffer.alloc(300000 + i * 1000, i % 251);
  let synced = -1;

  async function killDuringWrites(dir: string): Promise<void> {
    synced = -1;
    const writer = spawn(process.execPath, ['-e', WRITER, dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    const done = new Promise((r) => writer.once('exit', r));
    let out = '';
    writer.stdout!.on('data', (d) => {
      out += d;
      const lines = out.trim().split('\n');
      synced = Number(lines[lines.length - 1]);
    });
    await waitFor('20 files written and fsync’d', () => synced >= 20);
    process.kill(m.pid()!, 'SIGKILL');
    await done; // its next call fails: the connection is gone
  }

  it('the next vmfs mount cleans the stale mount; fsync’d files are there', async () => {
    expectOk(m.mount(), 'vmfs mount');
    mkdirSync(join(m.mnt, 'kill'));
    const server = m.pid()!;
    await killDuringWrites(join(m.mnt, 'kill'));
    await waitFor('the server to die', () => !processAlive(server));
    expect(findMount(m.mnt)?.fsType).toBe('fuse.vmfs'); // stale: still in the mount table
    expect(m.pid()).toBeNull();
    expectOk(m.mount(), 'vmfs mount over the stale mount');
    for (let i = 0; i <= synced; i++) expect(readFileSync(join(m.mnt, `kill/w${i}`)).equals(expected(i)), `w${i}`).toBe(true);
  });

  it('vmfs umount cleans a stale mount; the datastore opens and passes the check', async () => {
    const server = m.pid()!;
    await killDuringWrites(join(m.mnt, 'kill'));
    await waitFor('the server to die', () => !processAlive(server));
    expectOk(m.umount(), 'vmfs umount of a stale mount');
    expect(findMount(m.mnt)).toBeNull();
    const fs = await openDatastore(m.extents, { readOnly: true });
    try {
      for (let i = 0; i <= synced; i++) expect((await readAll(fs, `/kill/w${i}`)).equals(expected(i)), `w${i}`).toBe(true);
    } finally {
      await fs.close();
    }
    expect(await checkFindings(m.extents)).toEqual([]);
  });
});

describe('a handler that fails unexpectedly', () => {
  it('answers EIO, is logged once, and the server keeps serving', async () => {
    const fs = await openDatastore(m.extents);
    try {
      const id = await fs.create('/damaged', 0o644);
      await fs.create('/fine', 0o644);
      // Overwrite the inode's magic: reading it throws a VolumeError, not an FsError.
      await fs.volume.write(Buffer.alloc(16, 0xee), fs.fdc.itemRange(inodeAddress(id))[0].logical);
    } finally {
      await fs.close();
    }
    expectOk(m.mount(), 'vmfs mount');
    const server = m.pid();
    for (let i = 0; i < 3; i++) expect(() => statSync(join(m.mnt, 'damaged'))).toThrow(/EIO/);
    expect(statSync(join(m.mnt, 'fine')).isFile()).toBe(true);
    expect(m.pid()).toBe(server);
    expectOk(m.umount(), 'vmfs umount');
    const log = readFileSync(m.log, 'utf8');
    expect(log.match(/getattr \/damaged: .*is damaged/g)).toHaveLength(1);
    expect(log).toMatch(/operation\(s\) failed unexpectedly \(EIO\)/);
  });
});
