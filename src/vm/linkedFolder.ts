// The disk folder of a linked clone: the clone's own folder, through which
// the source VM's disk layers (SRC.vmdk, SRC-00000N.vmdk) are also reached,
// read-only, so that the clone's delta can name a frozen layer of the source
// as its parent by a plain file name. Nothing else of the source's folder is
// visible, and nothing in it can be written, created, renamed or removed.
import type { DiskFolder, RandomAccessFile } from '../vdisk/file.js';
import { DiskError } from '../vdisk/errors.js';

/** Whether `name` is one of the disk layers of the VM called `vm`. */
export function isLayerOf(vm: string, name: string): boolean {
  if (!name.startsWith(vm)) return false;
  return /^(-\d{6})?\.vmdk$/.test(name.slice(vm.length));
}

export class LinkedFolder implements DiskFolder {
  constructor(
    private readonly own: DiskFolder,
    private readonly base: DiskFolder,
    private readonly baseVm: string,
  ) {}

  private route(name: string): DiskFolder {
    return isLayerOf(this.baseVm, name) ? this.base : this.own;
  }

  private writable(name: string, what: string): DiskFolder {
    const f = this.route(name);
    if (f === this.base) throw new DiskError(`${this.base.describe(name)}: a layer of the linked clone's source VM; ${what} refused`);
    return f;
  }

  open(name: string, mode: 'r' | 'rw'): Promise<RandomAccessFile> {
    return (mode === 'r' ? this.route(name) : this.writable(name, 'writing')).open(name, mode);
  }

  create(name: string): Promise<RandomAccessFile> {
    return this.writable(name, 'creating').create(name);
  }

  exists(name: string): Promise<boolean> {
    return this.route(name).exists(name);
  }

  remove(name: string): Promise<void> {
    return this.writable(name, 'removing').remove(name);
  }

  async rename(from: string, to: string): Promise<void> {
    this.writable(from, 'renaming');
    return this.writable(to, 'renaming').rename(from, to);
  }

  describe(name: string): string {
    return this.route(name).describe(name);
  }
}
