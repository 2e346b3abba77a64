// Who runs a VM: at most one runner at a time. VmLock is the narrow seam;
// ClusterVmLock (clusterVmLock.ts) is the datastore's version, an on-disk
// lock held through the host's heartbeat. FileVmLock is the version for a VM
// in a host folder or on a FUSE mount of the datastore: a lock file in the
// VM's folder created exclusively and naming its holder (one runner per
// host), plus the .vmx held open for writing while the VM runs, which on a
// cluster FUSE mount takes the mount's own lock on the .vmx (another host's
// mount, or a `vm run -d` elsewhere, then gets EBUSY: one runner in all).
import { hostname } from 'node:os';
import type { DiskFolder, RandomAccessFile } from '../vdisk/file.js';
import { VmLockedError } from './errors.js';
import { readText } from './folderFiles.js';

export interface VmLockHolder {
  /** A host name (lock file) or a cluster host UUID (on-disk lock). */
  host: string;
  /** The holding process, when the lock says. */
  pid?: number;
  /** ISO time it was taken, when the lock says. */
  since?: string;
}

export interface VmLock {
  /** Takes the lock or throws VmLockedError naming the holder. */
  acquire(): Promise<void>;
  /** Gives it up (a no-op if not held). */
  release(): Promise<void>;
  /** Who holds it, or null. */
  holder(): Promise<VmLockHolder | null>;
  /**
   * Aborted when the lock can no longer be trusted (the host lost its
   * datastore lease): the runner stops the guest at once and writes nothing.
   */
  readonly lost?: AbortSignal;
}

export const LOCK_FILE = 'vm.lck';

export class FileVmLock implements VmLock {
  private held = false;
  private vmx: RandomAccessFile | null = null;

  constructor(
    private readonly folder: DiskFolder,
    private readonly vmName: string,
    private readonly me: VmLockHolder = { host: hostname(), pid: process.pid },
  ) {}

  async acquire(): Promise<void> {
    let file;
    try {
      file = await this.folder.create(LOCK_FILE);
    } catch (e) {
      const h = await this.holder().catch(() => null);
      if (h && this.leftByDeadProcess(h)) {
        await this.folder.remove(LOCK_FILE); // its runner was killed on this machine: the lock is stale
        return this.acquire();
      }
      if (h || (await this.folder.exists(LOCK_FILE))) {
        throw new VmLockedError(`VM '${this.vmName}' is in use: ${h ? `held by host ${h.host}, pid ${h.pid}, since ${h.since}` : 'its lock file exists'} (${this.folder.describe(LOCK_FILE)})`);
      }
      throw e;
    }
    try {
      const text = `host = "${this.me.host}"\npid = "${this.me.pid}"\nsince = "${new Date().toISOString()}"\n`;
      const bytes = new TextEncoder().encode(text);
      await file.write(bytes, 0, bytes.length, 0);
      await file.sync();
    } finally {
      await file.close();
    }
    this.held = true;
    const vmx = `${this.vmName}.vmx`;
    try {
      this.vmx = await this.folder.open(vmx, 'rw');
    } catch (e) {
      await this.release();
      if (/resource busy/i.test((e as Error).message)) {
        throw new VmLockedError(`VM '${this.vmName}' is in use on another host (${this.folder.describe(vmx)} is open for writing there)`);
      }
      throw e;
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.vmx?.close();
    this.vmx = null;
    await this.folder.remove(LOCK_FILE);
  }

  /** The lock names this machine and a process that no longer exists. */
  private leftByDeadProcess(h: VmLockHolder): boolean {
    const pid = h.pid;
    if (h.host !== this.me.host || pid === undefined || !Number.isSafeInteger(pid) || pid <= 0 || pid === this.me.pid) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }

  async holder(): Promise<VmLockHolder | null> {
    if (!(await this.folder.exists(LOCK_FILE))) return null;
    const text = await readText(this.folder, LOCK_FILE, 4096);
    const get = (k: string) => new RegExp(`^${k} = "([^"]*)"$`, 'm').exec(text)?.[1] ?? '?';
    return { host: get('host'), pid: Number(get('pid')), since: get('since') };
  }
}
