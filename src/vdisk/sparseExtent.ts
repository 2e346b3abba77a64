// A hosted sparse extent (the KDMV format of monolithicSparse VMDKs): a
// header, the embedded descriptor, a grain directory (GD) of grain tables
// (GTs) mapping each grain of the disk to a sector of the file, and a
// redundant copy of both that VMware keeps in step. Grains are allocated at
// the end of the file on first write.
//
// Layout written by create(), the one VMware and qemu write:
//   sector 0 header | 1..20 descriptor | redundant GD | redundant GTs | GD | GTs | pad to a grain | grains...
import { defineStruct, type Decoded } from '../util/struct.js';
import { MAX_DESCRIPTOR_BYTES } from './descriptor.js';
import { DiskError } from './errors.js';
import { readExact, writeExact, type RandomAccessFile } from './file.js';

export const SECTOR = 512;
export const SPARSE_MAGIC = 0x564d444b; // "KDMV"
/** The largest capacity a hosted sparse extent can address (32-bit sector numbers in its tables). */
export const MAX_SPARSE_CAPACITY = 2 ** 32 * SECTOR;

const FLAG_NEWLINE_TEST = 1 << 0;
const FLAG_REDUNDANT_GT = 1 << 1;
const FLAG_ZERO_GRAIN = 1 << 2;
const FLAG_COMPRESSED = 1 << 16;
const FLAG_MARKERS = 1 << 17;

const GRAIN_SECTORS = 128; // 64 KiB grains
const GTES_PER_GT = 512;
const DESCRIPTOR_SECTORS = 20;
/** A GD bigger than this (16 MiB) only comes from damage or absurd parameters. */
const MAX_GD_ENTRIES = 2 ** 22;
/** GTE value of a grain that reads as zeros without storage (FLAG_ZERO_GRAIN). */
const ZERO_GTE = 1;
/** lookup() result of a zeroed grain. */
export const ZERO_GRAIN = -1;

export const sparseHeader = defineStruct('SparseExtentHeader', SECTOR, {
  magic: { offset: 0, type: 'u32' },
  version: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  capacity: { offset: 12, type: 'u64' }, // sectors
  grainSize: { offset: 20, type: 'u64' }, // sectors
  descriptorOffset: { offset: 28, type: 'u64' }, // sectors
  descriptorSize: { offset: 36, type: 'u64' }, // sectors
  numGTEsPerGT: { offset: 44, type: 'u32' },
  rgdOffset: { offset: 48, type: 'u64' }, // sectors
  gdOffset: { offset: 56, type: 'u64' }, // sectors
  overHead: { offset: 64, type: 'u64' }, // sectors before the first grain
  uncleanShutdown: { offset: 72, type: 'u8' },
  singleEndLineChar: { offset: 73, type: 'u8' }, // '\n'
  nonEndLineChar: { offset: 74, type: 'u8' }, // ' '
  doubleEndLineChar1: { offset: 75, type: 'u8' }, // '\r'
  doubleEndLineChar2: { offset: 76, type: 'u8' }, // '\n'
  compressAlgorithm: { offset: 77, type: 'u16' },
});
export type SparseHeader = Decoded<typeof sparseHeader.fields>;

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

export class SparseExtent {
  /** Grain directory and its redundant copy: sector of each GT (0: none). */
  private readonly gd: Uint32Array;
  private readonly rgd: Uint32Array | null;
  private readonly gts = new Map<number, Uint32Array>();
  /** End of the file in bytes; new grains and tables go here. */
  private end: number;
  readonly grainBytes: number;
  readonly grainCount: number;
  private readonly gtSectors: number;

  private constructor(
    readonly file: RandomAccessFile,
    /** The file's name for messages. */
    readonly what: string,
    readonly header: SparseHeader,
    gd: Uint32Array,
    rgd: Uint32Array | null,
    fileSize: number,
  ) {
    this.gd = gd;
    this.rgd = rgd;
    this.end = ceilDiv(fileSize, SECTOR) * SECTOR;
    this.grainBytes = header.grainSize * SECTOR;
    this.grainCount = ceilDiv(header.capacity, header.grainSize);
    this.gtSectors = ceilDiv(header.numGTEsPerGT * 4, SECTOR);
  }

  get capacity(): number {
    return this.header.capacity * SECTOR;
  }

  get fileSize(): number {
    return this.end;
  }

  /** Opens and checks a sparse extent; everything it will later address is checked to lie in the file. */
  static async open(file: RandomAccessFile, what: string): Promise<SparseExtent> {
    const fileSize = await file.size();
    if (fileSize < SECTOR) throw new DiskError(`${what}: truncated sparse header (${fileSize} bytes, 512 needed)`);
    const raw = new Uint8Array(SECTOR);
    await readExact(file, raw, 0, what);
    const h = sparseHeader.decode(raw);
    const bad = (why: string) => new DiskError(`${what}: ${why}`);
    if (h.magic !== SPARSE_MAGIC) throw bad('not a hosted sparse extent (no KDMV magic)');
    if (h.version < 1 || h.version > 3) throw bad(`unsupported sparse extent version ${h.version}`);
    if (h.flags & (FLAG_COMPRESSED | FLAG_MARKERS) || h.gdOffset === Number.MAX_SAFE_INTEGER) {
      throw bad('compressed (streamOptimized) VMDKs are not supported; convert it with qemu-img first');
    }
    if (h.grainSize < 1 || h.grainSize > 2048 || (h.grainSize & (h.grainSize - 1)) !== 0) throw bad(`invalid grain size of ${h.grainSize} sectors`);
    if (h.numGTEsPerGT < 1 || h.numGTEsPerGT > 512) throw bad(`invalid grain table size of ${h.numGTEsPerGT} entries`);
    if (h.capacity < 1 || h.capacity * SECTOR > MAX_SPARSE_CAPACITY) throw bad(`absurd capacity of ${h.capacity} sectors`);
    const sectors = ceilDiv(fileSize, SECTOR);
    if (h.overHead < 1 || h.overHead > sectors) throw bad(`truncated: the metadata ends at sector ${h.overHead}, the file has ${sectors} sectors`);
    if (h.descriptorSize > 0 && (h.descriptorSize > MAX_DESCRIPTOR_BYTES / SECTOR || h.descriptorOffset < 1 || h.descriptorOffset + h.descriptorSize > sectors)) {
      throw bad('the embedded descriptor lies outside the file');
    }
    const gdEntries = ceilDiv(h.capacity, h.grainSize * h.numGTEsPerGT);
    if (gdEntries > MAX_GD_ENTRIES) throw bad(`absurd grain directory of ${gdEntries} entries`);
    const gtSectors = ceilDiv(h.numGTEsPerGT * 4, SECTOR);
    const readGd = async (at: number, which: string) => {
      if (at < 1 || at + ceilDiv(gdEntries * 4, SECTOR) > sectors) throw bad(`the ${which} lies outside the file`);
      const b = Buffer.alloc(gdEntries * 4);
      await readExact(file, b, at * SECTOR, what);
      const dir = new Uint32Array(gdEntries);
      for (let i = 0; i < gdEntries; i++) {
        dir[i] = b.readUInt32LE(i * 4);
        // Tables are written through these entries: each must lie inside the file.
        if (dir[i] !== 0 && dir[i] + gtSectors > sectors) throw bad(`${which} entry ${i} points past the end of the file (sector ${dir[i]})`);
      }
      return dir;
    };
    const gd = await readGd(h.gdOffset, 'grain directory');
    const rgd = h.flags & FLAG_REDUNDANT_GT ? await readGd(h.rgdOffset, 'redundant grain directory') : null;
    return new SparseExtent(file, what, h, gd, rgd, fileSize);
  }

  /** Writes a new, empty sparse extent into an empty file (all grain tables preallocated, as VMware does). */
  static async create(file: RandomAccessFile, what: string, capacity: number, descriptor: string): Promise<SparseExtent> {
    if (capacity % SECTOR !== 0 || capacity < SECTOR || capacity > MAX_SPARSE_CAPACITY) {
      throw new DiskError(`${what}: a sparse disk holds 512 bytes to 2 TiB in whole sectors, ${capacity} bytes asked`);
    }
    const capSectors = capacity / SECTOR;
    const gdEntries = ceilDiv(capSectors, GRAIN_SECTORS * GTES_PER_GT);
    const gdSectors = ceilDiv(gdEntries * 4, SECTOR);
    const gtSectors = ceilDiv(GTES_PER_GT * 4, SECTOR);
    const rgdOffset = 1 + DESCRIPTOR_SECTORS;
    const gdOffset = rgdOffset + gdSectors + gdEntries * gtSectors;
    const overHead = ceilDiv(gdOffset + gdSectors + gdEntries * gtSectors, GRAIN_SECTORS) * GRAIN_SECTORS;
    const header: SparseHeader = {
      magic: SPARSE_MAGIC,
      version: 1,
      flags: FLAG_NEWLINE_TEST | FLAG_REDUNDANT_GT,
      capacity: capSectors,
      grainSize: GRAIN_SECTORS,
      descriptorOffset: 1,
      descriptorSize: DESCRIPTOR_SECTORS,
      numGTEsPerGT: GTES_PER_GT,
      rgdOffset,
      gdOffset,
      overHead,
      uncleanShutdown: 0,
      singleEndLineChar: 0x0a,
      nonEndLineChar: 0x20,
      doubleEndLineChar1: 0x0d,
      doubleEndLineChar2: 0x0a,
      compressAlgorithm: 0,
    };
    await file.truncate(overHead * SECTOR); // the grain tables start out as zeros
    await writeExact(file, sparseHeader.encode(header), 0);
    const dir = (firstGt: number) => {
      const b = Buffer.alloc(gdSectors * SECTOR);
      for (let i = 0; i < gdEntries; i++) b.writeUInt32LE(firstGt + i * gtSectors, i * 4);
      return b;
    };
    await writeExact(file, dir(rgdOffset + gdSectors), rgdOffset * SECTOR);
    await writeExact(file, dir(gdOffset + gdSectors), gdOffset * SECTOR);
    const extent = await SparseExtent.open(file, what);
    await extent.writeDescriptor(descriptor);
    return extent;
  }

  /** The embedded descriptor, or null when the extent has none. */
  async readDescriptor(): Promise<string | null> {
    if (this.header.descriptorSize === 0) return null;
    const b = Buffer.alloc(this.header.descriptorSize * SECTOR);
    await readExact(this.file, b, this.header.descriptorOffset * SECTOR, this.what);
    const nul = b.indexOf(0);
    return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
  }

  async writeDescriptor(text: string): Promise<void> {
    const area = Buffer.alloc(this.header.descriptorSize * SECTOR);
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > area.length) throw new DiskError(`${this.what}: descriptor of ${bytes.length} bytes does not fit the ${area.length}-byte area`);
    bytes.copy(area);
    await writeExact(this.file, area, this.header.descriptorOffset * SECTOR);
  }

  async setUncleanShutdown(unclean: boolean): Promise<void> {
    this.header.uncleanShutdown = unclean ? 1 : 0;
    const raw = new Uint8Array(SECTOR);
    await readExact(this.file, raw, 0, this.what);
    sparseHeader.encodeInto(this.header, raw);
    await writeExact(this.file, raw, 0);
  }

  /** Where grain `g` is: its first byte in the file, 0 if unallocated, ZERO_GRAIN if it reads as zeros. */
  async lookup(g: number): Promise<number> {
    const gt = await this.table(Math.floor(g / this.header.numGTEsPerGT));
    const e = gt ? gt[g % this.header.numGTEsPerGT] : 0;
    if (e === 0) return 0;
    if (e === ZERO_GTE && this.header.flags & FLAG_ZERO_GRAIN) return ZERO_GRAIN;
    const bytes = Math.min(this.grainBytes, this.capacity - g * this.grainBytes);
    if (e < this.header.overHead) throw new DiskError(`${this.what}: grain table entry of grain ${g} points into the metadata (sector ${e})`);
    if (e * SECTOR + bytes > this.end) {
      throw new DiskError(`${this.what}: grain table entry of grain ${g} points past the end of the file (sector ${e}, file of ${this.end} bytes)`);
    }
    return e * SECTOR;
  }

  /**
   * Stores `count` whole new grains from `first` (data holds count * grainBytes
   * bytes) at the end of the file, then points their table entries at them.
   */
  async allocate(first: number, count: number, data: Uint8Array): Promise<void> {
    const n = this.header.numGTEsPerGT;
    for (let t = Math.floor(first / n); t <= Math.floor((first + count - 1) / n); t++) {
      if (this.gd[t] === 0) await this.addTable(t);
    }
    const at = this.end;
    if ((at + data.length) / SECTOR > 0xffffffff) throw new DiskError(`${this.what}: the file would outgrow what its 32-bit grain tables address`);
    await writeExact(this.file, data, at);
    this.end += count * this.grainBytes;
    // Data first, then the tables: a crash in between loses the write, never points a grain at garbage.
    let g = first;
    while (g < first + count) {
      const t = Math.floor(g / n);
      const stop = Math.min(first + count, (t + 1) * n);
      const gt = (await this.table(t))!;
      for (let i = g; i < stop; i++) gt[i % n] = (at + (i - first) * this.grainBytes) / SECTOR;
      const from = g % n;
      const le = Buffer.alloc((stop - g) * 4);
      for (let i = 0; i < stop - g; i++) le.writeUInt32LE(gt[from + i], i * 4);
      await writeExact(this.file, le, this.gd[t] * SECTOR + from * 4);
      if (this.rgd) await writeExact(this.file, le, this.rgd[t] * SECTOR + from * 4);
      g = stop;
    }
  }

  async readAt(buf: Uint8Array, position: number): Promise<void> {
    await readExact(this.file, buf, position, this.what);
  }

  async writeAt(buf: Uint8Array, position: number): Promise<void> {
    await writeExact(this.file, buf, position);
  }

  /** Every allocated grain and its file position (ZERO_GRAIN for zeroed ones), in grain order. */
  async *allocatedGrains(): AsyncGenerator<[grain: number, position: number]> {
    for (let g = 0; g < this.grainCount; g++) {
      const at = await this.lookup(g);
      if (at !== 0) yield [g, at];
    }
  }

  /** What a reader would not notice: damage (errors) and a missed clean close (warnings). */
  async consistency(): Promise<{ errors: string[]; warnings: string[] }> {
    const errors: string[] = [];
    const warnings: string[] = [];
    if (this.header.uncleanShutdown) warnings.push(`${this.what}: not closed cleanly (uncleanShutdown is set)`);
    for (let t = 0; t < this.gd.length && this.rgd; t++) {
      try {
        const gt = await this.table(t);
        const copy = await this.loadTable(this.rgd[t], `redundant grain table ${t}`);
        if ((gt === null) !== (copy === null) || (gt && copy && gt.some((v, i) => v !== copy[i]))) {
          errors.push(`${this.what}: grain table ${t} and its redundant copy differ`);
        }
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    const owner = new Map<number, number>();
    for (let g = 0; g < this.grainCount; g++) {
      let at: number;
      try {
        at = await this.lookup(g);
      } catch (e) {
        errors.push((e as Error).message);
        continue;
      }
      if (at <= 0) continue;
      const other = owner.get(at);
      if (other !== undefined) errors.push(`${this.what}: grains ${other} and ${g} are stored at the same sector ${at / SECTOR}`);
      else owner.set(at, g);
    }
    return { errors, warnings };
  }

  /** The grain table `t`, read on first use; null when the directory has none. */
  private async table(t: number): Promise<Uint32Array | null> {
    let gt = this.gts.get(t);
    if (gt) return gt;
    if (this.gd[t] === 0) return null;
    gt = (await this.loadTable(this.gd[t], `grain table ${t}`))!;
    this.gts.set(t, gt);
    return gt;
  }

  private async loadTable(sector: number, which: string): Promise<Uint32Array | null> {
    if (sector === 0) return null;
    if (sector + this.gtSectors > this.end / SECTOR) throw new DiskError(`${this.what}: ${which} lies past the end of the file (sector ${sector})`);
    const b = Buffer.alloc(this.header.numGTEsPerGT * 4);
    await readExact(this.file, b, sector * SECTOR, this.what);
    const gt = new Uint32Array(this.header.numGTEsPerGT);
    for (let i = 0; i < gt.length; i++) gt[i] = b.readUInt32LE(i * 4);
    return gt;
  }

  /** A directory entry without a table (tools may leave them out): a new, empty table (and copy) at the end. */
  private async addTable(t: number): Promise<void> {
    const zeros = new Uint8Array(this.gtSectors * SECTOR);
    const put = async (dir: Uint32Array, dirSector: number) => {
      const sector = this.end / SECTOR;
      await writeExact(this.file, zeros, this.end);
      this.end += zeros.length;
      dir[t] = sector;
      const le = Buffer.alloc(4);
      le.writeUInt32LE(sector);
      await writeExact(this.file, le, dirSector * SECTOR + t * 4);
    };
    await put(this.gd, this.header.gdOffset);
    if (this.rgd) await put(this.rgd, this.header.rgdOffset);
    this.gts.set(t, new Uint32Array(this.header.numGTEsPerGT));
  }
}
