// A thin disk or delta disk on a hosted sparse extent. Reads of grains the
// extent does not hold fall through to the parent (or read as zeros); a write
// to such a grain allocates whole grains, filling the bytes around the write
// from the parent first (copy-on-write at grain size).
import type { Descriptor } from './descriptor.js';
import type { DiskFolder } from './file.js';
import { SparseExtent, ZERO_GRAIN } from './sparseExtent.js';
import type { BlockStatus } from './virtualDisk.js';
import { VmdkDisk } from './vmdkDisk.js';

/** The most grains one allocation writes at once (16 MiB of 64 KiB grains). */
const MAX_RUN_GRAINS = 256;

export class SparseDisk extends VmdkDisk {
  readonly kind = 'sparse';

  constructor(
    folder: DiskFolder,
    name: string,
    descriptor: Descriptor,
    readonly extent: SparseExtent,
    /** The extent's file name; the same as `name` when the descriptor is embedded. */
    private readonly extentName: string,
    /** Stores the descriptor (embedded in the extent, or its own file). */
    private readonly saveDescriptor: (text: string) => Promise<void>,
    private readonly closeDescriptor: () => Promise<void>,
    parent: VmdkDisk | null,
    readOnly: boolean,
  ) {
    super(folder, name, descriptor, parent, readOnly, extent.capacity);
  }

  get files(): string[] {
    return this.extentName === this.name ? [this.name] : [this.name, this.extentName];
  }

  async allocatedBytes(): Promise<number> {
    return this.extent.fileSize;
  }

  async flush(): Promise<void> {
    await this.extent.file.sync();
  }

  protected async readRange(buf: Uint8Array, offset: number): Promise<void> {
    const end = offset + buf.length;
    for (let pos = offset; pos < end; ) {
      const { at, runEnd } = await this.run(pos, end);
      const part = buf.subarray(pos - offset, runEnd - offset);
      if (at > 0) await this.extent.readAt(part, at);
      else if (at === 0) await this.readParent(part, pos);
      else part.fill(0);
      pos = runEnd;
    }
  }

  protected async writeRange(buf: Uint8Array, offset: number): Promise<void> {
    const gb = this.extent.grainBytes;
    const end = offset + buf.length;
    for (let pos = offset; pos < end; ) {
      const { at, runEnd } = await this.run(pos, end);
      const part = buf.subarray(pos - offset, runEnd - offset);
      if (at > 0) {
        await this.extent.writeAt(part, at);
      } else {
        // New grains: the bytes of the grains around the write come from below (parent or zeros).
        const first = Math.floor(pos / gb);
        const count = Math.ceil(runEnd / gb) - first;
        const start = first * gb;
        if (pos === start && runEnd === start + count * gb) {
          await this.extent.allocate(first, count, part); // whole grains: nothing to fill around
          pos = runEnd;
          continue;
        }
        const data = new Uint8Array(count * gb);
        const fill = async (from: number, to: number) => {
          const stop = Math.min(to, this.capacity);
          if (at === 0 && from < stop) await this.readParent(data.subarray(from - start, stop - start), from);
        };
        await fill(start, pos);
        data.set(part, pos - start);
        await fill(runEnd, start + count * gb);
        await this.extent.allocate(first, count, data);
      }
      pos = runEnd;
    }
  }

  protected async status(offset: number, length: number): Promise<BlockStatus> {
    const { at, runEnd } = await this.run(offset, offset + length);
    if (at > 0) return { allocated: true, length: runEnd - offset };
    if (at === ZERO_GRAIN || !this.parent || offset >= this.parent.capacity) return { allocated: false, length: runEnd - offset };
    return this.parent.blockStatus(offset, Math.min(runEnd, this.parent.capacity) - offset);
  }

  protected async beginWriting(): Promise<void> {
    await this.saveDescriptor(this.descriptor.format());
    await this.extent.setUncleanShutdown(true);
  }

  protected async endWriting(): Promise<void> {
    await this.extent.setUncleanShutdown(false);
    await this.extent.file.sync();
  }

  protected async closeFiles(): Promise<void> {
    await this.extent.file.close();
    await this.closeDescriptor();
  }

  /**
   * The run of grains from `pos` (up to `end`) stored alike: contiguous in the
   * file (at: file position of pos), all unallocated (at: 0) or all zeroed
   * (at: ZERO_GRAIN).
   */
  private async run(pos: number, end: number): Promise<{ at: number; runEnd: number }> {
    const gb = this.extent.grainBytes;
    const g = Math.floor(pos / gb);
    const first = await this.extent.lookup(g);
    let next = g + 1;
    while (next * gb < end && next - g < MAX_RUN_GRAINS) {
      const a = await this.extent.lookup(next);
      if (first > 0 ? a !== first + (next - g) * gb : a !== first) break;
      next++;
    }
    return { at: first > 0 ? first + (pos - g * gb) : first, runEnd: Math.min(end, next * gb) };
  }
}
