// The virtual disk layer's folder interface over a folder of the datastore:
// VMDKs (and the VM runner's files) are read and written straight through
// the file system library, no FUSE mount needed.
import { InodeType } from '../fs/inode.js';
import { Vmfs } from '../fs/vmfs.js';
import { FsError } from '../util/errors.js';
import { DiskFolder, RandomAccessFile } from '../vdisk/file.js';
import { DiskError } from '../vdisk/errors.js';
import type { Vm } from './vmFiles.js';

class DatastoreFile implements RandomAccessFile {
  constructor(
    private readonly fs: Vmfs,
    private readonly id: number,
    private readonly writable: boolean,
    private readonly path: string,
  ) {}

  async size(): Promise<number> {
    return (await this.fs.statId(this.id)).size;
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fs.read(this.id, buf.subarray(offset, offset + length), position);
  }

  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (!this.writable) throw new DiskError(`${this.path}: opened read-only`);
    await this.fs.write(this.id, buf.subarray(offset, offset + length), position);
    return length;
  }

  async truncate(size: number): Promise<void> {
    if (!this.writable) throw new DiskError(`${this.path}: opened read-only`);
    await this.fs.truncateId(this.id, size, this.path);
  }

  async sync(): Promise<void> {
    await this.fs.sync();
  }

  async close(): Promise<void> {}
}

export class DatastoreFolder implements DiskFolder {
  /**
   * `dir` is the folder's path in the datastore; `onClose` runs when the
   * folder is closed (the opener closes the datastore when its last folder goes).
   */
  constructor(
    private readonly fs: Vmfs,
    readonly dir: string,
    private readonly onClose?: () => Promise<void>,
  ) {}

  private path(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new DiskError(`${this.describe(name)}: not a plain file name in the folder`);
    }
    return `${this.dir.replace(/\/+$/, '')}/${name}`;
  }

  async open(name: string, mode: 'r' | 'rw'): Promise<RandomAccessFile> {
    const path = this.path(name);
    // Symlinks are not followed: a link could lead out of the folder.
    const id = await this.fs.resolve(null, path, false);
    const st = await this.fs.statId(id);
    if (st.type !== InodeType.File) throw new DiskError(`${this.describe(name)}: not a regular file`);
    return new DatastoreFile(this.fs, id, mode === 'rw', this.describe(name));
  }

  async create(name: string): Promise<RandomAccessFile> {
    const path = this.path(name);
    const id = await this.fs.create(path, 0o644, { uid: 0, gid: 0 }, true);
    return new DatastoreFile(this.fs, id, true, this.describe(name));
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.fs.resolve(null, this.path(name), false);
      return true;
    } catch (e) {
      if (e instanceof FsError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return false;
      throw e;
    }
  }

  async remove(name: string): Promise<void> {
    await this.fs.unlink(this.path(name));
  }

  async rename(from: string, to: string): Promise<void> {
    await this.fs.rename(this.path(from), this.path(to));
  }

  describe(name: string): string {
    return `[datastore] ${this.dir.replace(/\/+$/, '')}/${name}`;
  }

  async close(): Promise<void> {
    await this.onClose?.();
  }
}

/** The VM in folder `dir` of the datastore (named as its folder), its sibling VMs beside it. */
export function datastoreVm(fs: Vmfs, dir: string, name: string): Vm {
  const parent = dir.replace(/\/+$/, '').replace(/\/[^/]*$/, '');
  return { folder: new DatastoreFolder(fs, dir), name, sibling: async (n) => new DatastoreFolder(fs, `${parent}/${n}`) };
}

/**
 * Hands out folders of one open datastore and closes it when the last folder
 * is closed, so that every path of one command shares one file system
 * instance (and one cache).
 */
export function datastoreFolders(open: () => Promise<Vmfs>): (path: string) => Promise<{ folder: DatastoreFolder; name: string }> {
  let fs: Promise<Vmfs> | null = null;
  let users = 0;
  return async (path: string) => {
    fs ??= open();
    const vmfs = await fs;
    users++;
    const parts = path.split('/').filter(Boolean);
    const name = parts.pop();
    if (!name) throw new DiskError(`${path}: not a file path`);
    const folder = new DatastoreFolder(vmfs, '/' + parts.join('/'), async () => {
      if (--users === 0) {
        fs = null;
        await vmfs.close();
      }
    });
    return { folder, name };
  };
}
