// Extents on a regular (usually sparse) file or a block device node.
//
// The interface is asynchronous because network backends need it, but a local
// file is served with positioned synchronous calls: they cost a few
// microseconds, while a trip through libuv's thread pool costs more than the
// small metadata I/O that dominates a file system.
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, writeSync, constants } from 'node:fs';
import { BlockDevice, DeviceError } from './blockDevice.js';

export interface FileDeviceOptions {
  readOnly?: boolean;
  /** Create the file if it is missing (mkfs, extend). */
  create?: boolean;
}

export class FileDevice implements BlockDevice {
  private fd: number;
  size: number;
  private readonly isBlockDevice: boolean;

  private constructor(
    readonly name: string,
    fd: number,
    readonly readOnly: boolean,
  ) {
    this.fd = fd;
    const st = fstatSync(fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      closeSync(fd);
      throw new DeviceError(`${name}: not a regular file or block device`);
    }
    this.isBlockDevice = st.isBlockDevice();
    this.size = this.isBlockDevice ? blockDeviceSize(name, st.rdev) : st.size;
  }

  static open(path: string, options: FileDeviceOptions = {}): FileDevice {
    const flags = options.readOnly ? constants.O_RDONLY : constants.O_RDWR | (options.create ? constants.O_CREAT : 0);
    let fd: number;
    try {
      fd = openSync(path, flags, 0o644);
    } catch (e) {
      throw new DeviceError(`${path}: ${describeSystemError(e)}`);
    }
    return new FileDevice(path, fd, !!options.readOnly);
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.readSync(buf, offset);
  }

  readSync(buf: Uint8Array, offset: number): void {
    if (offset < 0 || offset + buf.length > this.size) {
      throw new DeviceError(`${this.name}: read of ${buf.length} bytes at ${offset} is past the end (${this.size} bytes)`);
    }
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, offset + done);
      if (n === 0) throw new DeviceError(`${this.name}: unexpected end of file at ${offset + done}`);
      done += n;
    }
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new DeviceError(`${this.name}: opened read-only`);
    faultPoint();
    if (offset < 0 || offset + buf.length > this.size) {
      throw new DeviceError(`${this.name}: write of ${buf.length} bytes at ${offset} is past the end (${this.size} bytes)`);
    }
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, offset + done);
  }

  async flush(): Promise<void> {
    // fdatasync still persists what reading the bytes back needs (the size
    // after setSize, newly allocated blocks of a sparse file); it skips the
    // mtime, which would cost a host-file-system journal commit every time.
    if (!this.readOnly) fdatasyncSync(this.fd);
  }

  /** Sets a regular file's size (mkfs and extend; sparse: no blocks are written). */
  async setSize(size: number): Promise<void> {
    if (this.isBlockDevice) {
      if (size > this.size) throw new DeviceError(`${this.name}: block device holds ${this.size} bytes, ${size} asked`);
      return;
    }
    ftruncateSync(this.fd, size);
    this.size = size;
  }

  async refreshSize(): Promise<number> {
    const st = fstatSync(this.fd);
    this.size = this.isBlockDevice ? blockDeviceSize(this.name, st.rdev) : st.size;
    return this.size;
  }

  async close(): Promise<void> {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** A block device's size, from sysfs (fstat reports 0 for device nodes). */
function blockDeviceSize(name: string, rdev: number): number {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  try {
    return Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim()) * 512;
  } catch {
    throw new DeviceError(`${name}: cannot read the block device's size`);
  }
}

export function describeSystemError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const map: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
    EROFS: 'Read-only file system',
    ENOSPC: 'No space left on device',
    EIO: 'Input/output error',
  };
  return (err.code && map[err.code]) || err.message || String(e);
}

// Fault injection for crash tests: VMFS_FAULT_KILL_AFTER_WRITES=N kills the
// process (SIGKILL, no cleanup) at the N+1st device write, as a crash would.
let writesLeft = process.env.VMFS_FAULT_KILL_AFTER_WRITES === undefined ? -1 : Number(process.env.VMFS_FAULT_KILL_AFTER_WRITES);
function faultPoint(): void {
  if (writesLeft < 0) return;
  if (writesLeft === 0) process.kill(process.pid, 'SIGKILL');
  writesLeft--;
}
