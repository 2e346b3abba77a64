// A raw disk image (NAME.raw, NAME.img): the file's bytes are the disk's, up
// to the file size rounded up to a whole sector (the tail reads as zeros).
// Used to import images into VMDKs; raw output is written by convertDisk.
import { DiskError } from './errors.js';
import { writeExact, type DiskFolder, type RandomAccessFile } from './file.js';
import type { BlockStatus, VirtualDisk } from './virtualDisk.js';

/** Names taken for raw images rather than VMDKs. */
export const RAW_NAME = /\.(raw|img)$/i;

export class RawDisk implements VirtualDisk {
  private constructor(
    private readonly file: RandomAccessFile,
    private readonly what: string,
    readonly capacity: number,
    readonly readOnly: boolean,
  ) {}

  static async open(folder: DiskFolder, name: string, options: { write: boolean }): Promise<RawDisk> {
    const file = await folder.open(name, options.write ? 'rw' : 'r');
    const size = await file.size();
    if (size === 0) {
      await file.close();
      throw new DiskError(`${folder.describe(name)}: an empty raw image`);
    }
    return new RawDisk(file, folder.describe(name), Math.ceil(size / 512) * 512, !options.write);
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.check(buf.length, offset, 'read');
    let done = 0;
    while (done < buf.length) {
      const n = await this.file.read(buf, done, buf.length - done, offset + done);
      if (n <= 0) break;
      done += n;
    }
    buf.fill(0, done); // the tail of a file that ends inside a sector
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new DiskError(`${this.what}: opened read-only`);
    this.check(buf.length, offset, 'write');
    await writeExact(this.file, buf, offset);
  }

  async blockStatus(_offset: number, length: number): Promise<BlockStatus> {
    return { allocated: true, length };
  }

  async flush(): Promise<void> {
    await this.file.sync();
  }

  async allocatedBytes(): Promise<number> {
    return this.file.size();
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  private check(length: number, offset: number, op: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.capacity) {
      throw new DiskError(`${this.what}: ${op} of ${length} bytes at ${offset} is outside the disk (${this.capacity} bytes)`);
    }
  }
}
