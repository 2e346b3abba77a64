// DiskFolder on the host file system: one directory, whose plain file names
// are the only thing it hands out (no '..', no '/', no symlinks leading out).
//
// Positioned synchronous calls serve the I/O: on a local file they cost a few
// microseconds, less than a trip through libuv's thread pool.
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DiskError } from './errors.js';
import type { DiskFolder, RandomAccessFile } from './file.js';

export class HostFolder implements DiskFolder {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** The folder holding `path` and the file's name in it. */
  static forPath(path: string): { folder: HostFolder; name: string } {
    const full = resolve(path);
    return { folder: new HostFolder(dirname(full)), name: basename(full) };
  }

  describe(name: string): string {
    return join(this.dir, name);
  }

  async open(name: string, mode: 'r' | 'rw'): Promise<RandomAccessFile> {
    const path = this.confine(name);
    return this.openPath(path, mode === 'r' ? constants.O_RDONLY : constants.O_RDWR, mode === 'r');
  }

  async create(name: string): Promise<RandomAccessFile> {
    const path = this.confine(name);
    return this.openPath(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, false);
  }

  async exists(name: string): Promise<boolean> {
    const path = this.confine(name);
    try {
      lstatSync(path);
      return true;
    } catch {
      return false;
    }
  }

  async remove(name: string): Promise<void> {
    const path = this.confine(name);
    try {
      unlinkSync(path);
    } catch (e) {
      throw new DiskError(`${path}: ${describeSystemError(e)}`);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const a = this.confine(from);
    const b = this.confine(to);
    try {
      renameSync(a, b);
    } catch (e) {
      throw new DiskError(`${a}: ${describeSystemError(e)}`);
    }
  }

  /** The host path of `name`, or an error if `name` is not a plain name or is a symlink leading out of the folder. */
  private confine(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new DiskError(`'${name}': not a plain file name in ${this.dir} (paths leaving the folder are refused)`);
    }
    const path = join(this.dir, name);
    let isLink = false;
    try {
      isLink = lstatSync(path).isSymbolicLink();
    } catch {
      return path; // missing: create() may make it, open() reports it
    }
    if (isLink) {
      let target: string;
      try {
        target = realpathSync(path);
      } catch (e) {
        throw new DiskError(`${path}: ${describeSystemError(e)}`);
      }
      if (dirname(target) !== realpathSync(this.dir)) throw new DiskError(`${path}: a symbolic link leading out of ${this.dir} (refused)`);
    }
    return path;
  }

  private openPath(path: string, flags: number, readOnly: boolean): RandomAccessFile {
    let fd: number;
    try {
      fd = openSync(path, flags, 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new DiskError(`${path}: ${code === 'EEXIST' ? 'already exists' : describeSystemError(e)}`);
    }
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      throw new DiskError(`${path}: not a regular file`);
    }
    return new HostFile(path, fd, readOnly);
  }
}

/** Node's message for a failed system call without the repeated call and path: "no such file or directory". */
function describeSystemError(e: unknown): string {
  const message = (e as Error).message ?? String(e);
  return /^[A-Z0-9]+: ([^,]+)/.exec(message)?.[1] ?? message;
}

class HostFile implements RandomAccessFile {
  constructor(
    private readonly path: string,
    private fd: number,
    private readonly readOnly: boolean,
  ) {}

  async size(): Promise<number> {
    return fstatSync(this.live()).size;
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return readSync(this.live(), buf, offset, length, position);
  }

  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (this.readOnly) throw new DiskError(`${this.path}: opened read-only`);
    return writeSync(this.live(), buf, offset, length, position);
  }

  async truncate(size: number): Promise<void> {
    if (this.readOnly) throw new DiskError(`${this.path}: opened read-only`);
    ftruncateSync(this.live(), size);
  }

  async sync(): Promise<void> {
    if (!this.readOnly) fsyncSync(this.live());
  }

  async close(): Promise<void> {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private live(): number {
    if (this.fd < 0) throw new DiskError(`${this.path}: file already closed`);
    return this.fd;
  }
}
