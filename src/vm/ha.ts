// vm ha: restarting the VMs of dead hosts. A VM runs under an exclusive lock
// on its .vmx inode (ClusterVmLock). When the host running it dies, the lock
// still names that host's incarnation: dead once its heartbeat has stopped
// for the lease, gone once a survivor has taken it over (replayed its
// journal, freed its slot). That lock is the record that the VM was running
// (a clean stop frees it), so ha needs no other bookkeeping: it reads the
// .vmx lock of every VM folder under the folders it watches and restarts
// each VM whose lock names a dead or gone host. It takes the lock first
// (breaking the stale one, only if nobody locked the VM since: never two
// copies), then resumes the VM's checkpoint snapshot, or boots it afresh
// when it has none. The restarted VM has no console input; its output
// continues in its console log.
import { sleep } from '../cluster/clock.js';
import type { FencedError } from '../cluster/clusterErrors.js';
import type { ClusterMount } from '../fs/clusterMount.js';
import { InodeType } from '../fs/inode.js';
import { FsError } from '../util/errors.js';
import { ClusterVmLock, exclusiveHolder, leaseSignal, type ExclusiveHolder } from './clusterVmLock.js';
import { datastoreVm, type DatastoreFolder } from './datastoreFolder.js';
import { VmFencedError, VmLockedError } from './errors.js';
import { runVm, type RunResult } from './runner.js';
import { VM_NAME } from './vmx.js';

export interface HaOptions {
  mount: ClusterMount;
  /** Datastore folders whose sub-folders are VMs (NAME/NAME.vmx). */
  folders: string[];
  /** Checkpoint interval for the VMs restarted here. */
  checkpointEvery?: number;
  /** One line per event (restart, stop, failure). */
  report: (line: string) => void;
}

/** A VM whose lock names a dead or gone host. */
export interface OrphanVm {
  dir: string;
  name: string;
  stale: ExclusiveHolder;
}

const join = (dir: string, name: string) => `${dir.replace(/\/+$/, '')}/${name}`;

/** The VMs under `folders` whose .vmx lock is held by a dead or gone host. */
export async function findOrphans(mount: ClusterMount, folders: string[]): Promise<OrphanVm[]> {
  const out: OrphanVm[] = [];
  for (const folder of folders) {
    for (const e of await mount.fs.readdir(folder)) {
      if (e.type !== InodeType.Directory || !VM_NAME.test(e.name)) continue;
      const dir = join(folder, e.name);
      const vmx = join(dir, `${e.name}.vmx`);
      const h = await exclusiveHolder(mount, vmx).catch((err: unknown) => {
        if (err instanceof FsError && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return null; // no .vmx: not a VM
        throw err;
      });
      if (h && (h.status === 'dead' || h.status === 'gone')) out.push({ dir, name: e.name, stale: h });
    }
  }
  return out;
}

/** Restarts one orphan here; null when another host restarted it first. */
export async function restartVm(o: OrphanVm, opts: HaOptions): Promise<RunResult | null> {
  const vm = datastoreVm(opts.mount.fs, o.dir, o.name);
  const lock = new ClusterVmLock(opts.mount, vm.folder as DatastoreFolder, o.name, o.stale);
  try {
    // The checkpoint is looked for under the lock: the dead host's journal has been replayed by then.
    const r = await runVm(vm, {
      lock,
      input: null,
      fromCheckpoint: true,
      checkpointEvery: opts.checkpointEvery,
      onStart: (from) =>
        opts.report(`VM '${o.name}': its host ${o.stale.host} is ${o.stale.status}; ${from.snapshot ? `resumed from its checkpoint at tick ${from.ticks}` : 'booted afresh (it has no checkpoint)'}`),
    });
    opts.report(`VM '${o.name}': stopped (${r.result.reason}) at tick ${r.ticks}, exit status ${r.result.exitStatus ?? 'none'}`);
    return r;
  } catch (e) {
    if (!(e instanceof VmLockedError)) throw e;
    opts.report(`VM '${o.name}': not restarted here: ${e.message}`);
    return null;
  }
}

/** One pass: waits a lease (so dead hosts can be told from live ones), restarts every orphan, waits for them to stop; says how many ran here. */
export async function haPass(opts: HaOptions): Promise<number> {
  const cfg = opts.mount.member.host.config;
  await sleep(cfg.leaseMs + 2 * cfg.renewMs);
  const orphans = await findOrphans(opts.mount, opts.folders);
  const ran = (await Promise.all(orphans.map((o) => restartOne(o, opts)))).filter(Boolean).length;
  throwIfFenced(opts.mount);
  return ran;
}

/**
 * Watches until `stop` is aborted (or this host loses its lease): a pass
 * after every takeover this host makes and every lease otherwise (another
 * host may have made it). VMs restarted here run on; stopping waits for them.
 */
export async function haWatch(opts: HaOptions, stop: AbortSignal): Promise<void> {
  const host = opts.mount.member.host;
  const lost = leaseSignal(opts.mount);
  const running = new Map<string, Promise<void>>(); // VM folder -> its run here
  let busy = false;
  let again = false;
  const pass = async () => {
    if (busy) return void (again = true);
    busy = true;
    try {
      do {
        again = false;
        if (stop.aborted || lost.aborted) return;
        for (const o of await findOrphans(opts.mount, opts.folders)) {
          if (running.has(o.dir)) continue;
          running.set(o.dir, restartOne(o, opts).then(() => void running.delete(o.dir)));
        }
      } while (again);
    } catch (e) {
      if (!lost.aborted) opts.report(`scan failed: ${(e as Error).message}`);
    } finally {
      busy = false;
    }
  };
  const onTakeover = (t: { slot: number }) => {
    opts.report(`took over dead host in heartbeat slot ${t.slot}`);
    void pass();
  };
  host.on('takeover', onTakeover);
  const timer = setInterval(() => void pass(), host.config.leaseMs);
  await new Promise<void>((resolve) => {
    if (stop.aborted || lost.aborted) return resolve();
    stop.addEventListener('abort', () => resolve());
    lost.addEventListener('abort', () => resolve());
  });
  clearInterval(timer);
  host.off('takeover', onTakeover);
  await Promise.all(running.values());
  throwIfFenced(opts.mount);
}

function throwIfFenced(mount: ClusterMount): void {
  const lost = leaseSignal(mount);
  if (lost.aborted) throw new VmFencedError(`vm ha: this host lost the datastore lease (${(lost.reason as FencedError).reason}); the VMs it ran were stopped`);
}

/** Restarts one orphan, reporting a failure; says whether it ran here. */
async function restartOne(o: OrphanVm, opts: HaOptions): Promise<boolean> {
  try {
    return (await restartVm(o, opts)) !== null;
  } catch (e) {
    opts.report(`VM '${o.name}': restart failed: ${(e as Error).message}`);
    return false;
  }
}
