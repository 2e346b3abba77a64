// An extent held in memory: for tests and for building images quickly.
// Sparse: only 1 MiB chunks that were written take memory.
import { BlockDevice, DeviceError } from './blockDevice.js';

const CHUNK = 1 << 20;

export class MemoryDevice implements BlockDevice {
  readonly readOnly = false;
  private chunks = new Map<number, Uint8Array>();

  constructor(
    readonly name: string,
    public size: number,
  ) {}

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.check(buf.length, offset, 'read');
    this.each(buf.length, offset, (chunk, at, pos, len) => {
      if (chunk) buf.set(chunk.subarray(at, at + len), pos);
      else buf.fill(0, pos, pos + len);
    });
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.check(buf.length, offset, 'write');
    this.each(buf.length, offset, (chunk, at, pos, len, index) => {
      if (!chunk) {
        chunk = new Uint8Array(CHUNK);
        this.chunks.set(index, chunk);
      }
      chunk.set(buf.subarray(pos, pos + len), at);
    });
  }

  /** An independent copy (tests damage copies of one image). */
  clone(name = this.name): MemoryDevice {
    const copy = new MemoryDevice(name, this.size);
    for (const [i, c] of this.chunks) copy.chunks.set(i, Uint8Array.from(c));
    return copy;
  }

  async setSize(size: number): Promise<void> {
    this.size = size;
    for (const i of this.chunks.keys()) if (i * CHUNK >= size) this.chunks.delete(i);
  }

  async flush(): Promise<void> {}
  async refreshSize(): Promise<number> {
    return this.size;
  }
  async close(): Promise<void> {}

  private check(length: number, offset: number, what: string): void {
    if (offset < 0 || offset + length > this.size) {
      throw new DeviceError(`${this.name}: ${what} of ${length} bytes at ${offset} is past the end (${this.size} bytes)`);
    }
  }

  private each(length: number, offset: number, fn: (chunk: Uint8Array | undefined, at: number, pos: number, len: number, index: number) => void): void {
    let pos = 0;
    while (pos < length) {
      const abs = offset + pos;
      const index = Math.floor(abs / CHUNK);
      const at = abs - index * CHUNK;
      const len = Math.min(CHUNK - at, length - pos);
      fn(this.chunks.get(index), at, pos, len, index);
      pos += len;
    }
  }
}
