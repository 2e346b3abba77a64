// Real mounts for the mount tests: a datastore on sparse extent files, mounted by the
// vmfs CLI (run through tsx, so no build is needed) whose daemon serves it from its own
// process; commands run as root or as another user; and a cleanup that works whatever
// state a test left: lazy unmount first (never blocks, even on a dead or hung server),
// then the server is killed.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatDatastore, openDatastore } from '../../src/fs/datastore.js';
import { checkFileSystem } from '../../src/fs/check.js';
import { findMount, servingPid } from '../../src/fuse/mountTable.js';
import { ROOT_DIR, has, tempDir } from '../helpers.js';

export const MiB = 2 ** 20;
const CLI = join(ROOT_DIR, 'test/fuse/vmfsCli.ts');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function result(r: SpawnSyncReturns<string>): Run {
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The vmfs CLI with the mount commands. */
export function vmfs(args: string[], timeoutMs = 150_000): Run {
  return result(spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT_DIR, encoding: 'utf8', timeout: timeoutMs }));
}

/** A shell command (as root, or as uid/gid with no supplementary groups). */
export function sh(script: string, options: { cwd?: string; user?: number; timeoutMs?: number; env?: Record<string, string> } = {}): Run {
  const argv = options.user === undefined ? ['sh', '-c', script] : ['setpriv', `--reuid=${options.user}`, `--regid=${options.user}`, '--clear-groups', 'sh', '-c', script];
  return result(spawnSync(argv[0], argv.slice(1), { cwd: options.cwd, encoding: 'utf8', timeout: options.timeoutMs ?? 150_000, env: { ...process.env, ...options.env }, maxBuffer: 64 * MiB }));
}

/** Fails (not skips) when a tool the test needs is missing: CI must install it. */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((t) => !has(t));
  if (missing.length > 0) throw new Error(`missing tools: ${missing.join(', ')} (Debian: apt-get install fio stress-ng vmfs-tools git fuse)`);
}

export function expectOk(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (${r.signal ?? `exit ${r.code}`}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

export interface TestMount {
  dir: string;
  extents: string[];
  mnt: string;
  log: string;
  /** Mounts (in the background) with extra CLI arguments. */
  mount(args?: string[]): Run;
  umount(): Run;
  /** The serving process, or null when nothing (live) serves the mount point. */
  pid(): number | null;
  cleanup(): void;
}

/** Formats a datastore of `extentCount` sparse extents of `extentSize` bytes and prepares a mount point; nothing is mounted yet. */
export async function makeDatastore(prefix: string, extentSize = 600 * MiB, extentCount = 1): Promise<TestMount> {
  const tmp = tempDir(prefix);
  const dir = tmp.path;
  chmodSync(dir, 0o755); // non-root callers must reach the mount point
  const extents = Array.from({ length: extentCount }, (_, i) => join(dir, `extent${i}.vmfs`));
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const fs = await formatDatastore(extents, { size: extentSize });
  await fs.close();
  const log = join(dir, 'daemon.log');
  const m: TestMount = {
    dir,
    extents,
    mnt,
    log,
    mount: (args = []) => vmfs(['mount', '-d', extents.join(','), mnt, '--log', log, ...args]),
    umount: () => vmfs(['umount', mnt]),
    pid: () => {
      const entry = findMount(mnt);
      return entry ? servingPid(entry) : null;
    },
    cleanup: () => {
      const pid = m.pid();
      spawnSync('fusermount', ['-uz', mnt]);
      if (pid !== null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      tmp.cleanup();
    },
  };
  return m;
}

/** Opens the (unmounted) datastore and returns the consistency check's findings. */
export async function checkFindings(extents: string[]): Promise<string[]> {
  const fs = await openDatastore(extents, { readOnly: true });
  try {
    const report = await checkFileSystem(fs);
    return report.findings.map((f) => `${f.code} ${f.where}: ${f.message}`);
  } finally {
    await fs.close();
  }
}

