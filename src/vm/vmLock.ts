// Who runs a VM: at most one runner at a time. VmLock is the narrow seam the
// cluster layer will implement with on-disk locks (held through heartbeats,
// broken when a host dies); FileVmLock is the single-host version, a lock
// file in the VM's folder created exclusively and naming its holder.
import { hostname } from 'node:os';
import type { DiskFolder } from '../vdisk/file.js';
import { VmLockedError } from './errors.js';
import { readText } from './folderFiles.js';

export interface VmLockHolder {
  host: string;
  pid: number;
  /** ISO time it was taken. */
  since: string;
}

export interface VmLock {
  /** Takes the lock or throws VmLockedError naming the holder. */
  acquire(): Promise<void>;
  /** Gives it up (a no-op if not held). */
  release(): Promise<void>;
  /** Who holds it, or null. */
  holder(): Promise<VmLockHolder | null>;
}

export const LOCK_FILE = 'vm.lck';

export class FileVmLock implements VmLock {
  private held = false;

  constructor(
    private readonly folder: DiskFolder,
    private readonly vmName: string,
    private readonly me: VmLockHolder = { host: hostname(), pid: process.pid, since: '' },
  ) {}

  async acquire(): Promise<void> {
    let file;
    try {
      file = await this.folder.create(LOCK_FILE);
    } catch (e) {
      const h = await this.holder().catch(() => null);
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
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.folder.remove(LOCK_FILE);
  }

  async holder(): Promise<VmLockHolder | null> {
    if (!(await this.folder.exists(LOCK_FILE))) return null;
    const text = await readText(this.folder, LOCK_FILE, 4096);
    const get = (k: string) => new RegExp(`^${k} = "([^"]*)"$`, 'm').exec(text)?.[1] ?? '?';
    return { host: get('host'), pid: Number(get('pid')), since: get('since') };
  }
}
