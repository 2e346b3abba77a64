// What every VMDK layer shares, whatever stores its data: bounds and
// read-only checks, the content ID (a new CID before the first write after
// open, so that deltas made on the old content notice), and closing the chain
// below it.
import { Descriptor, newCid } from './descriptor.js';
import { DiskError } from './errors.js';
import type { DiskFolder } from './file.js';
import type { BlockStatus, VirtualDisk } from './virtualDisk.js';

export type VmdkKind = 'sparse' | 'flat';

export abstract class VmdkDisk implements VirtualDisk {
  abstract readonly kind: VmdkKind;
  private writing = false;
  private closed = false;
  /** The last write queued; the next one starts after it. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    readonly folder: DiskFolder,
    /** The descriptor's file name in the folder (for a monolithicSparse disk, the one file). */
    readonly name: string,
    readonly descriptor: Descriptor,
    /** The disk this delta reads through to, opened read-only; null for a base disk. */
    readonly parent: VmdkDisk | null,
    readonly readOnly: boolean,
    readonly capacity: number,
  ) {}

  /** The path the user knows, for messages. */
  get what(): string {
    return this.folder.describe(this.name);
  }

  /** The layers from this one down to the base. */
  get chain(): VmdkDisk[] {
    const out: VmdkDisk[] = [];
    for (let d: VmdkDisk | null = this; d; d = d.parent) out.push(d);
    return out;
  }

  /** Every file of this layer (descriptor first). */
  abstract get files(): string[];

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.checkRange(buf.length, offset, 'read');
    if (buf.length > 0) await this.readRange(buf, offset);
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new DiskError(`${this.what}: opened read-only`);
    this.checkRange(buf.length, offset, 'write');
    if (buf.length === 0) return;
    // One write at a time: two writes allocating the same grain at once would each append a copy.
    const done = this.writes.then(async () => {
      if (!this.writing) {
        this.writing = true;
        this.descriptor.cid = newCid();
        await this.beginWriting();
      }
      await this.writeRange(buf, offset);
    });
    this.writes = done.catch(() => {});
    return done;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    this.checkRange(length, offset, 'status');
    return this.status(offset, length);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes;
    try {
      if (this.writing) await this.endWriting();
    } finally {
      await this.closeFiles();
      await this.parent?.close();
    }
  }

  abstract flush(): Promise<void>;
  abstract allocatedBytes(): Promise<number>;

  protected abstract readRange(buf: Uint8Array, offset: number): Promise<void>;
  protected abstract writeRange(buf: Uint8Array, offset: number): Promise<void>;
  protected abstract status(offset: number, length: number): Promise<BlockStatus>;
  /** Called once before the first write: store the descriptor with its new CID, mark the disk in use. */
  protected abstract beginWriting(): Promise<void>;
  /** Called at close after writes: mark the disk closed cleanly. */
  protected abstract endWriting(): Promise<void>;
  protected abstract closeFiles(): Promise<void>;

  /** Reads `buf.length` bytes at `offset` from the parent, zeros where there is none (or it is smaller). */
  protected async readParent(buf: Uint8Array, offset: number): Promise<void> {
    const n = this.parent ? Math.max(0, Math.min(buf.length, this.parent.capacity - offset)) : 0;
    if (n > 0) await this.parent!.read(buf.subarray(0, n), offset);
    buf.fill(0, n);
  }

  private checkRange(length: number, offset: number, op: string): void {
    if (this.closed) throw new DiskError(`${this.what}: disk already closed`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.capacity) {
      throw new DiskError(`${this.what}: ${op} of ${length} bytes at ${offset} is outside the disk (${this.capacity} bytes)`);
    }
  }
}
