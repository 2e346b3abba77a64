// The guest file system on a VM's disk ("NachOS FS", documented in
// docs/VM.md): a superblock, a sector bitmap, a flat directory of fixed
// entries, and one header sector per file listing its data sectors directly.
// It keeps no state between calls beyond the geometry read at mount, so a
// machine can be saved between any two calls. Its sectors move through a
// SectorIo: the simulated disk device (kernel.diskIo, with Nachos's disk
// timing) when the guest calls Create/Open/Read/Write/Exec, or the virtual
// disk directly when the host lists, puts and gets files.
import type { GuestFileSystem } from '../mips/kernel/guestFs.js';
import { Struct } from '../util/struct.js';
import { VmError } from './errors.js';

export interface SectorIo {
  readonly sectorSize: number;
  readonly numSectors: number;
  read(sector: number): Promise<Uint8Array>;
  write(sector: number, data: Uint8Array): Promise<void>;
}

export const FS_MAGIC = 'NACHOSFS';
export const FS_SECTOR = 512;
export const DIR_ENTRIES = 64;
export const MAX_NAME = 59;

const Superblock = new Struct('Superblock', 64, {
  magic: { offset: 0, type: { bytes: 8 } },
  version: { offset: 8, type: 'u32' },
  sectorSize: { offset: 12, type: 'u32' },
  numSectors: { offset: 16, type: 'u32' },
  bitmapStart: { offset: 20, type: 'u32' },
  bitmapSectors: { offset: 24, type: 'u32' },
  dirStart: { offset: 28, type: 'u32' },
  dirEntries: { offset: 32, type: 'u32' },
  dataStart: { offset: 36, type: 'u32' },
});

const DirEntry = new Struct('DirEntry', 64, {
  /** The file's header sector; 0 marks a free entry. */
  header: { offset: 0, type: 'u32' },
  name: { offset: 4, type: { cstring: MAX_NAME + 1 } },
});

/** A file header: the size, then the data sectors in order (0 past the end). */
const FileHeader = new Struct('FileHeader', FS_SECTOR, {
  size: { offset: 0, type: 'u32' },
  sectors: { offset: 4, type: { bytes: FS_SECTOR - 4 } },
});
export const DIRECT_SECTORS = (FS_SECTOR - 4) / 4;
export const MAX_FILE_BYTES = DIRECT_SECTORS * FS_SECTOR;

type Geometry = ReturnType<typeof Superblock.decode>;

function geometry(numSectors: number): Geometry {
  const bitmapSectors = Math.ceil(numSectors / (FS_SECTOR * 8));
  const dirSectors = (DIR_ENTRIES * DirEntry.size) / FS_SECTOR;
  return {
    magic: Buffer.from(FS_MAGIC),
    version: 1,
    sectorSize: FS_SECTOR,
    numSectors,
    bitmapStart: 1,
    bitmapSectors,
    dirStart: 1 + bitmapSectors,
    dirEntries: DIR_ENTRIES,
    dataStart: 1 + bitmapSectors + dirSectors,
  };
}

/** Writes an empty file system over the whole disk. */
export async function formatFileSystem(io: SectorIo): Promise<void> {
  if (io.sectorSize !== FS_SECTOR) throw new VmError(`the guest file system needs ${FS_SECTOR}-byte sectors`);
  const g = geometry(io.numSectors);
  if (g.dataStart + 16 > io.numSectors) throw new VmError(`a disk of ${io.numSectors} sectors is too small for the guest file system`);
  const zero = new Uint8Array(FS_SECTOR);
  const sb = new Uint8Array(FS_SECTOR);
  Superblock.encodeInto(g, sb);
  await io.write(0, sb);
  for (let s = 0; s < g.bitmapSectors; s++) {
    const b = new Uint8Array(FS_SECTOR);
    // The metadata sectors are in use.
    for (let bit = 0; bit < FS_SECTOR * 8; bit++) if (s * FS_SECTOR * 8 + bit < g.dataStart) b[bit >> 3] |= 1 << (bit & 7);
    await io.write(g.bitmapStart + s, b);
  }
  for (let s = g.dirStart; s < g.dataStart; s++) await io.write(s, zero);
}

export class DiskFileSystem implements GuestFileSystem {
  private constructor(
    private readonly io: SectorIo,
    private readonly g: Geometry,
  ) {}

  /** Reads and checks the superblock. */
  static async mount(io: SectorIo, what: string): Promise<DiskFileSystem> {
    if (io.sectorSize !== FS_SECTOR) throw new VmError(`${what}: the guest file system needs ${FS_SECTOR}-byte sectors`);
    const sb = Superblock.decode(await io.read(0));
    const want = geometry(io.numSectors);
    if (Buffer.from(sb.magic).toString('latin1') !== FS_MAGIC) throw new VmError(`${what}: no guest file system on the disk (bad magic)`);
    for (const k of Object.keys(want) as (keyof Geometry)[]) {
      if (k !== 'magic' && sb[k] !== want[k]) throw new VmError(`${what}: the guest file system's ${k} is ${String(sb[k])}, expected ${String(want[k])} for this disk`);
    }
    return new DiskFileSystem(io, want);
  }

  /** The same file system reached through other sectors (the simulated disk device instead of the virtual disk). */
  through(io: SectorIo): DiskFileSystem {
    if (io.numSectors !== this.g.numSectors || io.sectorSize !== FS_SECTOR) throw new VmError('the guest file system must be reached through a disk of the same geometry');
    return new DiskFileSystem(io, this.g);
  }

  // ---- the kernel's calls (GuestFileSystem) ----

  async create(name: string): Promise<boolean> {
    if (!validName(name)) return false;
    const found = await this.lookup(name);
    if (found) {
      const h = await this.header(found.header);
      await this.free(h.sectors.filter((s) => s !== 0));
      await this.writeHeader(found.header, 0, []);
      return true;
    }
    const slot = await this.freeSlot();
    if (slot === null) return false;
    const [hdr] = await this.allocate(1);
    if (hdr === undefined) return false;
    await this.writeHeader(hdr, 0, []);
    await this.setEntry(slot, hdr, name);
    return true;
  }

  async open(name: string): Promise<boolean> {
    return validName(name) && (await this.lookup(name)) !== null;
  }

  async read(name: string, offset: number, length: number): Promise<Uint8Array> {
    const found = validName(name) ? await this.lookup(name) : null;
    if (!found) return new Uint8Array(0);
    const h = await this.header(found.header);
    const end = Math.min(h.size, offset + length);
    if (offset >= end) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    for (let pos = offset; pos < end; ) {
      const i = Math.floor(pos / FS_SECTOR);
      const within = pos - i * FS_SECTOR;
      const n = Math.min(FS_SECTOR - within, end - pos);
      const sector = await this.io.read(h.sectors[i]);
      out.set(sector.subarray(within, within + n), pos - offset);
      pos += n;
    }
    return out;
  }

  async write(name: string, offset: number, data: Uint8Array): Promise<number> {
    const found = validName(name) ? await this.lookup(name) : null;
    if (!found) return -1;
    const end = offset + data.length;
    if (end > MAX_FILE_BYTES) return -1;
    const h = await this.header(found.header);
    const have = h.sectors.length;
    const need = Math.ceil(end / FS_SECTOR);
    const fresh = need > have ? await this.allocate(need - have) : [];
    if (fresh.length < need - have) {
      await this.free(fresh);
      return -1;
    }
    const sectors = [...h.sectors, ...fresh];
    // Fresh sectors between the old end and the write are zeros.
    for (let i = have; i < Math.floor(offset / FS_SECTOR); i++) await this.io.write(sectors[i], new Uint8Array(FS_SECTOR));
    for (let pos = offset; pos < end; ) {
      const i = Math.floor(pos / FS_SECTOR);
      const within = pos - i * FS_SECTOR;
      const n = Math.min(FS_SECTOR - within, end - pos);
      const whole = n === FS_SECTOR;
      const buf = whole || i >= have ? new Uint8Array(FS_SECTOR) : (await this.io.read(sectors[i])).slice();
      buf.set(data.subarray(pos - offset, pos - offset + n), within);
      await this.io.write(sectors[i], buf);
      pos += n;
    }
    await this.writeHeader(found.header, Math.max(h.size, end), sectors);
    return data.length;
  }

  close(): void {}

  // ---- the host's calls (vmfs vm disk) ----

  async list(): Promise<{ name: string; size: number }[]> {
    const out: { name: string; size: number }[] = [];
    for (const e of await this.entries()) if (e.header !== 0) out.push({ name: e.name, size: (await this.header(e.header)).size });
    return out;
  }

  async readFile(name: string): Promise<Uint8Array> {
    if (!(await this.open(name))) throw new VmError(`guest file '${name}': no such file`);
    return this.read(name, 0, MAX_FILE_BYTES);
  }

  async writeFile(name: string, data: Uint8Array): Promise<void> {
    if (!validName(name)) throw new VmError(`guest file name '${name}': 1 to ${MAX_NAME} bytes, no '/' or NUL`);
    if (data.length > MAX_FILE_BYTES) throw new VmError(`guest file '${name}': ${data.length} bytes, the guest file system holds at most ${MAX_FILE_BYTES}`);
    if (!(await this.create(name))) throw new VmError(`guest file '${name}': the directory is full (${DIR_ENTRIES} files)`);
    if (data.length > 0 && (await this.write(name, 0, data)) !== data.length) throw new VmError(`guest file '${name}': the disk is full`);
  }

  async remove(name: string): Promise<void> {
    const found = validName(name) ? await this.lookup(name) : null;
    if (!found) throw new VmError(`guest file '${name}': no such file`);
    const h = await this.header(found.header);
    await this.free([...h.sectors, found.header]);
    await this.setEntry(found.slot, 0, '');
  }

  // ---- structures ----

  private async entries(): Promise<{ slot: number; header: number; name: string }[]> {
    const out: { slot: number; header: number; name: string }[] = [];
    const perSector = FS_SECTOR / DirEntry.size;
    for (let s = 0; s < this.g.dataStart - this.g.dirStart; s++) {
      const buf = await this.io.read(this.g.dirStart + s);
      for (let i = 0; i < perSector; i++) {
        const e = DirEntry.decode(buf, i * DirEntry.size);
        out.push({ slot: s * perSector + i, header: this.checkSector(e.header, true), name: e.name });
      }
    }
    return out;
  }

  /** The entry named `name`, reading directory sectors only until it is found. */
  private async lookup(name: string): Promise<{ slot: number; header: number } | null> {
    const perSector = FS_SECTOR / DirEntry.size;
    for (let s = 0; s < this.g.dataStart - this.g.dirStart; s++) {
      const buf = await this.io.read(this.g.dirStart + s);
      for (let i = 0; i < perSector; i++) {
        const e = DirEntry.decode(buf, i * DirEntry.size);
        if (e.header !== 0 && e.name === name) return { slot: s * perSector + i, header: this.checkSector(e.header, false) };
      }
    }
    return null;
  }

  private async freeSlot(): Promise<number | null> {
    const perSector = FS_SECTOR / DirEntry.size;
    for (let s = 0; s < this.g.dataStart - this.g.dirStart; s++) {
      const buf = await this.io.read(this.g.dirStart + s);
      for (let i = 0; i < perSector; i++) if (DirEntry.decode(buf, i * DirEntry.size).header === 0) return s * perSector + i;
    }
    return null;
  }

  private async setEntry(slot: number, header: number, name: string): Promise<void> {
    const perSector = FS_SECTOR / DirEntry.size;
    const sector = this.g.dirStart + Math.floor(slot / perSector);
    const buf = (await this.io.read(sector)).slice();
    buf.fill(0, (slot % perSector) * DirEntry.size, (slot % perSector + 1) * DirEntry.size);
    DirEntry.encodeInto({ header, name }, buf, (slot % perSector) * DirEntry.size);
    await this.io.write(sector, buf);
  }

  private async header(sector: number): Promise<{ size: number; sectors: number[] }> {
    const h = FileHeader.decode(await this.io.read(sector));
    if (h.size > MAX_FILE_BYTES) throw new VmError(`guest file system: file header at sector ${sector} is corrupt (size ${h.size})`);
    const n = Math.ceil(h.size / FS_SECTOR);
    const sectors: number[] = [];
    for (let i = 0; i < n; i++) sectors.push(this.checkSector(h.sectors.readUInt32LE(i * 4), false));
    return { size: h.size, sectors };
  }

  private async writeHeader(sector: number, size: number, sectors: number[]): Promise<void> {
    const ptrs = Buffer.alloc(FS_SECTOR - 4);
    sectors.forEach((s, i) => ptrs.writeUInt32LE(s, i * 4));
    const buf = new Uint8Array(FS_SECTOR);
    FileHeader.encodeInto({ size, sectors: ptrs }, buf);
    await this.io.write(sector, buf);
  }

  /** A data sector number read from the disk, refused unless it lies in the data area. */
  private checkSector(s: number, zeroOk: boolean): number {
    if (s === 0 && zeroOk) return 0;
    if (s < this.g.dataStart || s >= this.g.numSectors) throw new VmError(`guest file system is corrupt: sector ${s} is outside the data area`);
    return s;
  }

  /** Takes `count` free sectors (fewer if the disk is full, all of them then released). */
  private async allocate(count: number): Promise<number[]> {
    const got: number[] = [];
    const bitsPer = FS_SECTOR * 8;
    for (let s = 0; s < this.g.bitmapSectors && got.length < count; s++) {
      const buf = (await this.io.read(this.g.bitmapStart + s)).slice();
      let changed = false;
      for (let bit = 0; bit < bitsPer && got.length < count; bit++) {
        const sector = s * bitsPer + bit;
        if (sector >= this.g.numSectors) break;
        if ((buf[bit >> 3] & (1 << (bit & 7))) === 0) {
          buf[bit >> 3] |= 1 << (bit & 7);
          got.push(sector);
          changed = true;
        }
      }
      if (changed) await this.io.write(this.g.bitmapStart + s, buf);
    }
    if (got.length < count) {
      await this.free(got);
      return [];
    }
    return got;
  }

  private async free(sectors: number[]): Promise<void> {
    const bitsPer = FS_SECTOR * 8;
    const bySector = new Map<number, number[]>();
    for (const s of sectors) bySector.set(Math.floor(s / bitsPer), [...(bySector.get(Math.floor(s / bitsPer)) ?? []), s % bitsPer]);
    for (const [s, bits] of bySector) {
      const buf = (await this.io.read(this.g.bitmapStart + s)).slice();
      for (const bit of bits) buf[bit >> 3] &= ~(1 << (bit & 7));
      await this.io.write(this.g.bitmapStart + s, buf);
    }
  }
}

function validName(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= MAX_NAME && !name.includes('/') && !name.includes('\0');
}
