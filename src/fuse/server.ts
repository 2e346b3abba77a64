// Serves one datastore on one mount point until told to stop: cleans a stale mount left
// there by a killed server, opens the datastore, mounts, and on SIGINT/SIGTERM/SIGHUP (or
// when the mount is taken away by `vmfs umount`) unmounts, flushes and closes. The daemon
// process and `vmfs mount -f` both run this.
import { realpathSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { LockMode } from '../cluster/lockHeader.js';
import { mountClusteredDatastore, openDatastore } from '../fs/datastore.js';
import { Fuse } from './fuseNative.js';
import { MountConfig, fuseOptions } from './mountOptions.js';
import { FS_TYPE, cleanStaleMount, findMount, servingPid, sourceFor } from './mountTable.js';
import { VmfsOperations } from './vmfsOperations.js';
import { WriteBehind } from './writeBehind.js';

/** A mount that cannot be made, with a one-line reason. */
export class MountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MountError';
  }
}

export interface ServeHooks {
  /** The mount is live (the kernel completed FUSE init). */
  ready(): void;
  log(line: string): void;
}

/** How often the server looks whether its mount was taken away (not per operation). */
const MOUNT_CHECK_MS = 2000;

/**
 * Checks the mount point and cleans a stale mount there. Reads only the mount table before
 * the stale mount is gone: touching a dead FUSE mount can hang.
 */
export async function prepareMountPoint(config: MountConfig, log: (line: string) => void): Promise<void> {
  const mp = config.mountPoint;
  const entry = findMount(mp);
  if (entry && entry.fsType === FS_TYPE) {
    const pid = servingPid(entry);
    if (pid !== null) throw new MountError(`${mp}: already mounted (served by process ${pid}; vmfs umount ${mp})`);
    cleanStaleMount(entry);
    log(`vmfs: ${mp}: cleaned a stale mount left by a stopped server\n`);
  }
  let st;
  try {
    st = await stat(mp);
  } catch (e) {
    throw new MountError(`${mp}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new MountError(`${mp}: Not a directory`);
  // The server does synchronous I/O on its extents: one inside its own mount would deadlock it.
  const root = realpathSync(mp);
  for (const ext of config.extents) {
    let real: string;
    try {
      real = realpathSync(ext);
    } catch {
      continue; // opening it reports what is wrong
    }
    if (real === root || real.startsWith(root === '/' ? '/' : root + '/')) throw new MountError(`${ext}: the extent lies inside the mount point ${mp}`);
  }
}

/** Serves until stopped; resolves once unmounted, flushed and closed. */
export async function serve(config: MountConfig, hooks: ServeHooks): Promise<void> {
  await prepareMountPoint(config, hooks.log);
  const cluster = config.hostUuid && !config.readOnly ? await mountClusteredDatastore(config.extents, config.hostUuid) : null;
  const fs = cluster ? cluster.fs : await openDatastore(config.extents, { readOnly: config.readOnly });
  const close = async () => {
    if (!cluster) return fs.close();
    await cluster.leave();
    await cluster.volume.close();
  };
  const writeBehind = config.readOnly ? null : new WriteBehind(config.extents);
  if (cluster) cluster.member.host.on('lost', (e: Error) => hooks.log(`vmfs: ${config.mountPoint}: ${e.message}; further writes fail with EIO\n`));
  const ops = new VmfsOperations(fs, {
    log: hooks.log,
    wrote: writeBehind ? (n) => writeBehind.wrote(n) : undefined,
    fileLocks: cluster ? { lock: (id) => cluster.lockFile(id, LockMode.Exclusive, config.lockWaitMs), unlock: (id) => cluster.unlockFile(id) } : undefined,
  });
  const fuse = new Fuse(config.mountPoint, ops.handlers(), fuseOptions(config, process.pid));
  try {
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  } catch (e) {
    writeBehind?.close();
    await close();
    // libfuse only says why on stderr; the usual reason is worth naming.
    const hint = (await readdir(config.mountPoint).catch(() => [])).length > 0 ? 'the mount point is not empty (-o nonempty mounts over it)' : (e as Error).message;
    throw new MountError(`${config.mountPoint}: mount failed: ${hint}`);
  }

  // A handler bug must not take the mount down with it.
  const onUnexpected = (e: unknown) => ops.errors.unexpected('daemon', config.mountPoint, e);
  process.on('uncaughtException', onUnexpected);
  process.on('unhandledRejection', onUnexpected);

  await new Promise<void>((done) => {
    let stopping = false;
    const stillMounted = () => findMount(config.mountPoint)?.source === sourceFor(process.pid);
    const stop = () => {
      if (stopping) return;
      stopping = true;
      clearInterval(watch);
      if (!stillMounted()) return done();
      fuse.unmount((err) => {
        if (err && stillMounted()) hooks.log(`vmfs: ${config.mountPoint}: unmount failed: ${err.message}\n`);
        done();
      });
    };
    const watch = setInterval(() => {
      if (!stillMounted()) stop();
    }, MOUNT_CHECK_MS);
    // Kept installed: a second signal must not kill the server in the middle of its flush.
    // SIGHUP: the terminal of `vmfs mount -f` went away.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
    hooks.ready();
  });

  // Every write already reached the extents; this makes them durable.
  writeBehind?.close();
  await close();
  if (ops.errors.count > 0) hooks.log(`vmfs: ${config.mountPoint}: ${ops.errors.count} operation(s) failed unexpectedly (EIO)\n`);
}
