// The lock of a VM in the datastore when this process is a cluster host: an
// exclusive on-disk lock on the VM's .vmx inode (its lock header, as ESX
// locks a running VM's files), held through this host's heartbeat. Another
// host's try fails naming this host's UUID. If this host dies the lock names
// a dead host incarnation; once a survivor has taken that host over, the
// lock is stale and the next acquire breaks it (vm ha restarts the VM so).
// Losing the lease aborts `lost`, and the runner stops the guest.
import type { HolderStatus } from '../cluster/takeover.js';
import { LockBusyError } from '../cluster/clusterErrors.js';
import { LockMode } from '../cluster/lockHeader.js';
import type { ClusterMount } from '../fs/clusterMount.js';
import type { DatastoreFolder } from './datastoreFolder.js';
import { VmLockedError } from './errors.js';
import type { VmLock, VmLockHolder } from './vmLock.js';

const leaseSignals = new WeakMap<ClusterMount, AbortSignal>();

/** Aborted (with the FencedError) once the mount's host loses its lease. */
export function leaseSignal(mount: ClusterMount): AbortSignal {
  let signal = leaseSignals.get(mount);
  if (!signal) {
    const ac = new AbortController();
    const host = mount.member.host;
    if (host.fenced) ac.abort(host.fenced);
    else host.once('lost', (e: Error) => ac.abort(e));
    signal = ac.signal;
    leaseSignals.set(mount, signal);
  }
  return signal;
}

export interface ExclusiveHolder {
  host: string;
  status: HolderStatus;
  /** The lock's objSeq: bumped by every acquisition. */
  objSeq: number;
}

/** Who holds the exclusive lock on the file at `path`, and how that host stands; null when it is not locked exclusively. */
export async function exclusiveHolder(mount: ClusterMount, path: string): Promise<ExclusiveHolder | null> {
  const id = await mount.fs.resolve(null, path, false);
  // The inode's lock header: the sector mount.lockFile locks.
  const state = await mount.member.locks.inspect(mount.lockOffset(id));
  if (state.mode !== LockMode.Exclusive || state.holders.length === 0) return null;
  return { host: state.uuid, status: state.holders[0].status, objSeq: state.objSeq };
}

export class ClusterVmLock implements VmLock {
  readonly lost: AbortSignal;
  private id: number | null = null;

  /**
   * With `breaking`, the lock must be taken straight from the stale hold seen
   * then (its objSeq): if anyone locked the VM in between (another host
   * restarted it), acquire gives the lock back and refuses.
   */
  constructor(
    private readonly mount: ClusterMount,
    private readonly folder: DatastoreFolder,
    private readonly vmName: string,
    private readonly breaking?: ExclusiveHolder,
  ) {
    this.lost = leaseSignal(mount);
  }

  private get vmx(): string {
    return `${this.vmName}.vmx`;
  }

  private get path(): string {
    return `${this.folder.dir.replace(/\/+$/, '')}/${this.vmx}`;
  }

  async acquire(): Promise<void> {
    const id = await this.mount.fs.resolve(null, this.path, false);
    try {
      await this.mount.lockFile(id, LockMode.Exclusive);
    } catch (e) {
      if (e instanceof LockBusyError) throw new VmLockedError(`VM '${this.vmName}' is in use: held by host ${e.holder} (on-disk lock of ${this.folder.describe(this.vmx)})`);
      throw e;
    }
    this.id = id;
    const now = this.breaking && (await exclusiveHolder(this.mount, this.path));
    if (this.breaking && (!now || now.objSeq !== this.breaking.objSeq + 1)) {
      await this.release();
      throw new VmLockedError(`VM '${this.vmName}' was restarted by another host since host ${this.breaking.host} died`);
    }
  }

  async release(): Promise<void> {
    if (this.id === null) return;
    const id = this.id;
    this.id = null;
    await this.mount.unlockFile(id);
  }

  async holder(): Promise<VmLockHolder | null> {
    const h = await exclusiveHolder(this.mount, this.path);
    return h && h.status !== 'gone' ? { host: h.host } : null;
  }
}
