// A thick disk: a text descriptor (NAME.vmdk) and one preallocated data file
// (NAME-flat.vmdk) holding the disk's bytes as they are, from the extent's
// offset on.
import type { Descriptor } from './descriptor.js';
import { DiskError } from './errors.js';
import { readExact, writeExact, type DiskFolder, type RandomAccessFile } from './file.js';
import type { BlockStatus } from './virtualDisk.js';
import { VmdkDisk } from './vmdkDisk.js';

export class FlatDisk extends VmdkDisk {
  readonly kind = 'flat';

  private constructor(
    folder: DiskFolder,
    name: string,
    descriptor: Descriptor,
    private readonly descriptorFile: RandomAccessFile,
    readonly dataName: string,
    private readonly data: RandomAccessFile,
    /** Where the disk starts in the data file, in bytes. */
    private readonly start: number,
    readOnly: boolean,
  ) {
    super(folder, name, descriptor, null, readOnly, descriptor.capacity);
  }

  /** Opens the data file a flat descriptor names; it must hold the whole extent. */
  static async open(folder: DiskFolder, name: string, descriptor: Descriptor, descriptorFile: RandomAccessFile, readOnly: boolean): Promise<FlatDisk> {
    const what = folder.describe(name);
    const extent = descriptor.extents[0];
    if (descriptor.extents.length !== 1 || extent.file === null) {
      throw new DiskError(`${what}: flat disks with ${descriptor.extents.length} extents are not supported`);
    }
    if (descriptor.hasParent) throw new DiskError(`${what}: a flat disk cannot be a delta (it has a parentCID)`);
    const data = await folder.open(extent.file, readOnly ? 'r' : 'rw');
    const start = extent.offset * 512;
    const size = await data.size();
    if (size < start + extent.sectors * 512) {
      await data.close();
      throw new DiskError(`${folder.describe(extent.file)}: truncated flat extent (${size} bytes, ${start + extent.sectors * 512} needed)`);
    }
    return new FlatDisk(folder, name, descriptor, descriptorFile, extent.file, data, start, readOnly);
  }

  get files(): string[] {
    return [this.name, this.dataName];
  }

  async allocatedBytes(): Promise<number> {
    return (await this.descriptorFile.size()) + (await this.data.size());
  }

  async flush(): Promise<void> {
    await this.data.sync();
  }

  protected async readRange(buf: Uint8Array, offset: number): Promise<void> {
    await readExact(this.data, buf, this.start + offset, this.folder.describe(this.dataName));
  }

  protected async writeRange(buf: Uint8Array, offset: number): Promise<void> {
    await writeExact(this.data, buf, this.start + offset);
  }

  protected async status(_offset: number, length: number): Promise<BlockStatus> {
    return { allocated: true, length };
  }

  protected async beginWriting(): Promise<void> {
    await writeDescriptorFile(this.descriptorFile, this.descriptor.format());
  }

  protected async endWriting(): Promise<void> {
    await this.descriptorFile.sync();
    await this.data.sync();
  }

  protected async closeFiles(): Promise<void> {
    await this.data.close();
    await this.descriptorFile.close();
  }
}

/** Replaces the whole content of a descriptor file. */
export async function writeDescriptorFile(file: RandomAccessFile, text: string): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  await writeExact(file, bytes, 0);
  await file.truncate(bytes.length);
}
