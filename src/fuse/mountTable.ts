// What the kernel's mount table says about a mount point, and how a FUSE mount whose
// daemon is gone is cleaned up. Nothing here touches the mount point itself: on a stale
// mount a stat can hang (another process may hold its /dev/fuse), so everything is read
// from /proc/self/mountinfo and /proc/PID, and a dead connection is aborted through
// fusectl before it is detached.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** The file system type our mounts show (subtype vmfs). */
export const FS_TYPE = 'fuse.vmfs';
/** Our mounts' source names the serving process: `vmfs:PID`. */
const SOURCE_PREFIX = 'vmfs:';
const FUSECTL = '/sys/fs/fuse/connections';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  /** The connection's device number (its fusectl directory for FUSE). */
  minor: number;
  options: string;
}

/**
 * A mount point argument as the mount table writes it: absolute, symlinks resolved. Never
 * looks inside a mount point (it may be a dead mount): only its parent is resolved, and a
 * symlink in its place is followed by reading the link, which lives in the parent.
 */
export function canonicalMountPoint(arg: string, depth = 0): string {
  const abs = resolve(arg);
  if (abs === '/' || depth > 40) return abs;
  let path: string;
  try {
    path = join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs; // a missing parent: mounting reports it
  }
  if (findMount(path)) return path;
  try {
    if (lstatSync(path).isSymbolicLink()) return canonicalMountPoint(resolve(dirname(path), readlinkSync(path)), depth + 1);
  } catch {
    // missing: mounting reports it
  }
  return path;
}

/** The mount at `mountPoint` (an absolute, resolved path), the topmost if stacked, or null. */
export function findMount(mountPoint: string): MountEntry | null {
  let found: MountEntry | null = null;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6) continue;
    const at = unescape(fields[4]);
    if (at !== mountPoint) continue;
    found = {
      mountPoint: at,
      fsType: fields[dash + 1],
      source: unescape(fields[dash + 2]),
      minor: Number(fields[2].split(':')[1]),
      options: fields[5],
    };
  }
  return found;
}

export function sourceFor(pid: number): string {
  return `${SOURCE_PREFIX}${pid}`;
}

/** The pid of the live process serving our mount, or null if it is gone (a stale mount). */
export function servingPid(entry: MountEntry): number | null {
  if (!entry.source.startsWith(SOURCE_PREFIX)) return null;
  const pid = Number(entry.source.slice(SOURCE_PREFIX.length));
  if (!Number.isInteger(pid) || pid <= 0) return null;
  // A reused pid does not count: the server holds /dev/fuse open.
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => safeReadlink(`/proc/${pid}/fd/${fd}`) === '/dev/fuse') ? pid : null;
  } catch {
    return null;
  }
}

export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent has not collected it yet.
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Cleans a FUSE mount nobody serves: aborts its connection (so nothing waiting on it
 * hangs, also when a child inherited /dev/fuse) and detaches it lazily.
 */
export function cleanStaleMount(entry: MountEntry): void {
  abortConnection(entry.minor);
  const r = spawnSync('fusermount', ['-uz', entry.mountPoint], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0 && findMount(entry.mountPoint)) {
    const r2 = spawnSync('umount', ['-l', entry.mountPoint], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (r2.status !== 0) throw new Error(`${entry.mountPoint}: cannot detach the stale mount: ${(r.stderr || r2.stderr).trim()}`);
  }
}

/** Unmounts a served mount unless busy; returns the reason if it was refused. */
export function unmountIfIdle(mountPoint: string): string | null {
  const r = spawnSync('fusermount', ['-u', mountPoint], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status === 0) return null;
  return r.stderr.replace(/^fusermount: /, '').trim() || `fusermount exited with ${r.status}`;
}

function abortConnection(minor: number): void {
  try {
    if (!existsSync(`${FUSECTL}/${minor}`)) {
      if (!findMount(FUSECTL)) spawnSync('mount', ['-t', 'fusectl', 'fusectl', FUSECTL], { stdio: 'ignore' });
    }
    if (existsSync(`${FUSECTL}/${minor}/abort`)) writeFileSync(`${FUSECTL}/${minor}/abort`, '1');
  } catch {
    // Not root or no fusectl: the lazy unmount alone still detaches the mount.
  }
}

function safeReadlink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
