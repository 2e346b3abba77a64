// The patched fuse-native binding on a real mount (daemon: memfsDaemon.ts in a child
// process): handlers see the calling process's uid/gid/pid/umask, and utimens gets atime
// and mtime each exactly, with UTIME_OMIT as null.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Event {
  op: string;
  path?: string;
  mode?: number;
  atime?: { sec: number; nsec: number } | null;
  mtime?: { sec: number; nsec: number } | null;
  caller?: { uid: number; gid: number; pid: number; umask: number };
}

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const work = mkdtempSync(join(tmpdir(), 'fuse-binding-'));
const mnt = join(work, 'mnt');
let daemon: ChildProcess;
const events: Event[] = [];
let wake: () => void = () => {};
let daemonExit: string | null = null;

// Resolves with the first event that matches (each test matches its own path or pid);
// fails if the daemon dies first.
async function nextEvent(match: (e: Event) => boolean): Promise<Event> {
  for (;;) {
    const found = events.find(match);
    if (found) return found;
    if (daemonExit !== null) throw new Error(`daemon exited (${daemonExit}) before the expected event`);
    await new Promise<void>((r) => { wake = r; });
  }
}

// Runs a command to completion (as root unless wrapped in setpriv) and returns its pid.
function run(cmd: string, args: string[]): number {
  const r = spawnSync(cmd, args, { env: { ...process.env, TZ: 'UTC' }, encoding: 'utf8' });
  expect(r.stderr, `${cmd} ${args.join(' ')}`).toBe('');
  expect(r.status).toBe(0);
  return r.pid;
}

function asUser(uid: number, gid: number, argv: string[]): string[] {
  return [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', ...argv];
}

beforeAll(async () => {
  mkdirSync(mnt);
  chmodSync(work, 0o755); // non-root callers must reach the mount point
  daemon = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/fuse/memfsDaemon.ts'), mnt], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let pending = '';
  daemon.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) events.push(JSON.parse(line) as Event);
    wake();
  });
  daemon.on('exit', (code, signal) => {
    daemonExit = `code ${code}, signal ${signal}`;
    wake();
  });
  await nextEvent((e) => e.op === 'ready');
});

afterAll(async () => {
  // A lazy unmount never blocks, even on a hung or dead daemon; then the daemon can go.
  spawnSync('fusermount', ['-uz', mnt]);
  if (daemon && daemonExit === null) {
    const exited = new Promise((r) => daemon.once('exit', r));
    daemon.kill('SIGKILL');
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

describe('fuse-native binding (patched)', () => {
  it('loads the addon built from the patched source, not a prebuild', () => {
    const maps = readFileSync(`/proc/${daemon.pid}/maps`, 'utf8');
    const addons = new Set(maps.split('\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\s+/).pop()));
    expect([...addons]).toEqual([join(root, 'node_modules/fuse-native/build/Release/fuse.node')]);
  });

  it('create gets the non-root caller, whose file it becomes', async () => {
    const file = join(mnt, 'by-1000');
    const pid = run('setpriv', asUser(1000, 1000, ['sh', '-c', `umask 027; exec touch ${file}`]));
    const e = await nextEvent((x) => x.op === 'create' && x.path === '/by-1000');
    expect(e.caller).toEqual({ uid: 1000, gid: 1000, pid, umask: 0o027 });
    expect(e.mode).toBe(0o100640); // the kernel already applied the umask
    const st = statSync(file);
    expect([st.uid, st.gid, st.mode]).toEqual([1000, 1000, 0o100640]);
  });

  it('mkdir gets the caller too, and root stays root', async () => {
    const pid = run('setpriv', asUser(1001, 1002, ['mkdir', join(mnt, 'dir-1001')]));
    const rootPid = run('mkdir', [join(mnt, 'dir-root')]);
    const user = await nextEvent((x) => x.op === 'mkdir' && x.path === '/dir-1001');
    const byRoot = await nextEvent((x) => x.op === 'mkdir' && x.path === '/dir-root');
    expect(user.caller).toMatchObject({ uid: 1001, gid: 1002, pid });
    expect(byRoot.caller).toMatchObject({ uid: 0, gid: 0, pid: rootPid });
    const st = statSync(join(mnt, 'dir-1001'));
    expect([st.uid, st.gid, st.isDirectory()]).toEqual([1001, 1002, true]);
  });

  describe('utimens', () => {
    const file = join(mnt, 'times');
    const at = (sec: number, nsec: number) => ({ sec, nsec });
    const t2001 = Date.UTC(2001, 1, 3, 4, 5, 6) / 1000;
    const t2002 = Date.UTC(2002, 2, 4, 5, 6, 7) / 1000;
    const t2003 = Date.UTC(2003, 3, 5, 6, 7, 8) / 1000;
    // getattr carries milliseconds (fuse-native's stat format), so stat shows ms precision
    const statNs = () => {
      const st = statSync(file, { bigint: true });
      return { atime: st.atimeNs, mtime: st.mtimeNs };
    };
    const ns = (sec: number, nsec: number) => BigInt(sec) * 1_000_000_000n + BigInt(Math.floor(nsec / 1e6)) * 1_000_000n;

    // The utimens event of this very process, matched by pid
    async function touch(args: string[]): Promise<Event> {
      const pid = run('touch', [...args, file]);
      return nextEvent((x) => x.op === 'utimens' && x.caller?.pid === pid);
    }

    beforeAll(async () => {
      await touch([]);
    });

    it('touch -d sets both times to the nanosecond', async () => {
      const e = await touch(['-d', '2001-02-03 04:05:06.123456789']);
      expect([e.atime, e.mtime]).toEqual([at(t2001, 123456789), at(t2001, 123456789)]);
      expect(statNs()).toEqual({ atime: ns(t2001, 123456789), mtime: ns(t2001, 123456789) });
    });

    it('touch -a sets atime and leaves mtime alone (UTIME_OMIT is null)', async () => {
      const e = await touch(['-a', '-d', '2002-03-04 05:06:07.5']);
      expect([e.atime, e.mtime]).toEqual([at(t2002, 500000000), null]);
      expect(statNs()).toEqual({ atime: ns(t2002, 500000000), mtime: ns(t2001, 123456789) });
    });

    it('touch -m sets mtime and leaves atime alone', async () => {
      const e = await touch(['-m', '-d', '2003-04-05 06:07:08.25']);
      expect([e.atime, e.mtime]).toEqual([null, at(t2003, 250000000)]);
      expect(statNs()).toEqual({ atime: ns(t2002, 500000000), mtime: ns(t2003, 250000000) });
    });

    it('fs.utimesSync sets different atime and mtime', async () => {
      utimesSync(file, 1234567890.25, 1500000000.75);
      const e = await nextEvent((x) => x.op === 'utimens' && x.caller?.pid === process.pid);
      expect([e.atime, e.mtime]).toEqual([at(1234567890, 250000000), at(1500000000, 750000000)]);
      expect(statNs()).toEqual({ atime: ns(1234567890, 250000000), mtime: ns(1500000000, 750000000) });
    });

    it('touch -a with no date sets atime to now and still omits mtime', async () => {
      const before = Math.floor(Date.now() / 1000);
      const e = await touch(['-a']);
      const after = Math.ceil(Date.now() / 1000);
      expect(e.mtime).toBeNull();
      expect(e.atime!.sec).toBeGreaterThanOrEqual(before);
      expect(e.atime!.sec).toBeLessThanOrEqual(after);
      expect(statNs().mtime).toBe(ns(1500000000, 750000000));
    });

    it('touch with no date sets both times to the same now', async () => {
      const e = await touch([]);
      expect(e.mtime).toEqual(e.atime);
      expect(e.atime!.sec).toBeGreaterThan(1500000000);
    });
  });
});
