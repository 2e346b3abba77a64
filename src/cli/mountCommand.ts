// `vmfs mount` and `vmfs umount`. mount starts the FUSE server (src/fuse/daemon) as a
// detached process and returns once it reports the mount live, or serves in this process
// with -f; umount unmounts (refusing a busy mount, as umount does), lets the server flush
// and waits for it to exit, and cleans a mount left stale by a killed server.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { Command } from 'commander';
import { LOCK_WAIT_MS, MountConfig, RESERVED_OPTIONS, SINGLE_HOST_OPTIONS, cacheTimeout } from '../fuse/mountOptions.js';
import { isUuid, newUuid } from '../util/uuid.js';
import { FS_TYPE, canonicalMountPoint, cleanStaleMount, findMount, processAlive, servingPid, unmountIfIdle } from '../fuse/mountTable.js';
import { MountError, prepareMountPoint, serve } from '../fuse/server.js';
import { absoluteExtent, addDatastoreOption, extentList } from './datastoreOption.js';
import { EXIT_DATASTORE, EXIT_FAILED, UsageError } from './exitCodes.js';

/** How long mount waits for the server to report, and umount for it to exit. */
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;

/** A failure with its exit code; main prints the message. */
class MountCommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_FAILED,
  ) {
    super(message);
  }
}

export function registerMountCommands(program: Command): void {
  addDatastoreOption(program.command('mount').description('mount a datastore with FUSE (in the background unless -f)'))
    .argument('<mountpoint>', 'an existing directory')
    .option('-o, --options <list>', 'mount options, comma-separated: ro, allow_other, allow_root, or any libfuse option (repeatable)', collect, [])
    .option('-f, --foreground', 'serve in this process until SIGINT/SIGTERM')
    .option('--attr-timeout <seconds>', `how long the kernel trusts attributes it got (default: ${cacheTimeout(false)}, or ${cacheTimeout(true)} as a cluster host)`)
    .option('--entry-timeout <seconds>', `how long the kernel trusts names it looked up (default: ${cacheTimeout(false)}, or ${cacheTimeout(true)} as a cluster host)`)
    .option('--log <file>', 'append the server’s log to this file (default: discarded)')
    .option('--host-uuid <uuid>', 'mount as this cluster host (several hosts may then share the datastore; see docs/CLUSTER.md)')
    .option('--cluster', 'mount as a cluster host with a new host UUID')
    .option('--lock-wait <seconds>', `how long a cluster host's open for writing waits for another host to let the file go before EBUSY (default: ${LOCK_WAIT_MS / 1000})`)
    .addHelpText(
      'after',
      `
Caching: a single host lets the kernel keep attributes and names for ${cacheTimeout(false)} s
(--attr-timeout, --entry-timeout). A cluster host (--cluster, --host-uuid) keeps
none by default, so another host's rename or rewrite shows in the very next
call, and refuses -o kernel_cache, -o auto_cache and -o ro. File pages are
dropped on every open either way.

Locks: a cluster host's open for writing fails with EBUSY while another host
has the file open for writing. It first waits up to --lock-wait seconds,
because the kernel reports a close to the server only after close() returned.`,
    )
    .action(async (mountPoint: string, opts) => {
      if (opts.hostUuid !== undefined && !isUuid(opts.hostUuid)) throw new UsageError(`--host-uuid ${opts.hostUuid}: not a VMFS UUID (xxxxxxxx-xxxxxxxx-xxxx-xxxxxxxxxxxx)`);
      const clusterHost = opts.hostUuid !== undefined || opts.cluster === true;
      const timeout = (flag: string, value: string | undefined) => (value === undefined ? cacheTimeout(clusterHost) : parseTimeout(flag, value));
      const config: MountConfig = {
        extents: extentList(opts.datastore).map(absoluteExtent),
        mountPoint: canonicalMountPoint(mountPoint),
        ...parseOptionList(opts.options as string[], clusterHost),
        attrTimeout: timeout('--attr-timeout', opts.attrTimeout),
        entryTimeout: timeout('--entry-timeout', opts.entryTimeout),
        hostUuid: opts.hostUuid ?? (opts.cluster ? newUuid() : undefined),
        lockWaitMs: opts.lockWait === undefined ? LOCK_WAIT_MS : parseTimeout('--lock-wait', opts.lockWait) * 1000,
      };
      // A read-only mount does not join the cluster: it would never see another host's change.
      if (clusterHost && config.readOnly) throw new UsageError('-o ro cannot be given to a cluster host: a read-only mount does not follow other hosts’ changes');
      if (!clusterHost && opts.lockWait !== undefined) throw new UsageError('--lock-wait applies to a cluster host only (--cluster, --host-uuid): a single host locks nothing on disk');
      const log = (line: string) => process.stderr.write(line);
      try {
        await prepareMountPoint(config, log);
        if (opts.foreground) {
          await serve(config, { ready: () => {}, log });
          // fuse-native keeps a libuv handle referenced after an unmount it did not make itself.
          process.exit(0);
        }
      } catch (e) {
        throw e instanceof MountError ? new MountCommandError(e.message) : e;
      }
      await startDaemon(config, opts.log as string | undefined);
    });

  program
    .command('umount')
    .description('flush and unmount a mounted datastore (also cleans a mount left by a killed server)')
    .argument('<mountpoint>')
    .action(async (mountPoint: string) => {
      const mp = canonicalMountPoint(mountPoint);
      const entry = findMount(mp);
      if (!entry) throw new MountCommandError(`${mp}: not mounted`);
      if (entry.fsType !== FS_TYPE) throw new MountCommandError(`${mp}: not a vmfs mount (${entry.fsType})`);
      const pid = servingPid(entry);
      if (pid === null) {
        cleanStaleMount(entry);
        return;
      }
      const refused = unmountIfIdle(mp);
      if (refused) throw new MountCommandError(`${mp}: ${refused}`);
      // The mount is gone; the server flushes, closes the datastore and exits.
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (processAlive(pid)) {
        if (Date.now() > deadline) throw new MountCommandError(`${mp}: unmounted, but its server (process ${pid}) did not exit within ${STOP_TIMEOUT_MS / 1000} s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
}

/** Starts the daemon detached and waits for its one-line report on fd 3. */
async function startDaemon(config: MountConfig, logFile: string | undefined): Promise<void> {
  const here = fileURLToPath(import.meta.url);
  // The same flavour as this module: compiled .js, or .ts when run through tsx.
  const daemon = fileURLToPath(new URL(`../fuse/daemon${extname(here)}`, import.meta.url));
  // The daemon runs in / where a bare `--import tsx` would not resolve.
  const loader = extname(here) === '.ts' ? ['--import', import.meta.resolve('tsx')] : [];
  const out = logFile ? openSync(resolve(logFile), 'a') : 'ignore';
  const child = spawn(process.execPath, [...loader, daemon, JSON.stringify(config)], {
    detached: true,
    cwd: '/', // never hold a directory busy, least of all the mount's parent
    stdio: ['ignore', out, out, 'pipe'],
  });
  if (typeof out === 'number') closeSync(out);
  const reportStream = child.stdio[3] as Readable;
  try {
    const report = await new Promise<{ ready?: boolean; error?: string; kind?: string }>((resolveReport, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new MountCommandError(`${config.mountPoint}: the mount server did not report within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      reportStream.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        const nl = text.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        try {
          resolveReport(JSON.parse(text.slice(0, nl)));
        } catch {
          reject(new MountCommandError(`${config.mountPoint}: the mount server sent a garbled report`));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new MountCommandError(`${config.mountPoint}: the mount server exited (${signal ?? `code ${code}`}) before mounting${logFile ? `; see ${logFile}` : ''}`));
      });
    });
    if (!report.ready) {
      const datastore = report.kind === 'VolumeError' || report.kind === 'DeviceError';
      throw new MountCommandError(report.error ?? 'the mount server failed', datastore ? EXIT_DATASTORE : EXIT_FAILED);
    }
  } catch (e) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw e;
  } finally {
    reportStream.destroy();
    child.removeAllListeners('exit');
    child.unref();
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Splits and checks `-o a,b=c` lists (the flag may be repeated). */
function parseOptionList(lists: string[], clusterHost: boolean): { options: string[]; readOnly: boolean } {
  const options: string[] = [];
  let readOnly = false;
  for (const item of lists.flatMap((l) => l.split(',')).map((s) => s.trim()).filter(Boolean)) {
    if (!/^[a-z_]+(=[A-Za-z0-9_.:/+-]+)?$/.test(item)) throw new UsageError(`mount option "${item}": expected NAME or NAME=VALUE`);
    const name = item.split('=')[0];
    const why = RESERVED_OPTIONS.get(name);
    if (why) throw new UsageError(`mount option "${name}" cannot be given: ${why}`);
    const unsafe = clusterHost ? SINGLE_HOST_OPTIONS.get(name) : undefined;
    if (unsafe) throw new UsageError(`mount option "${name}" cannot be given to a cluster host: ${unsafe}`);
    if (name === 'ro') readOnly = true;
    else if (name === 'rw') readOnly = false;
    else if (name !== 'default_permissions' && !options.includes(item)) options.push(item);
  }
  return { options, readOnly };
}

function parseTimeout(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 86400) throw new UsageError(`${flag} ${value}: expected seconds from 0 to 86400`);
  return n;
}
