// The virtual disk interface, and opening or creating a VMDK in a folder:
// the descriptor picks the backend (sparse or flat), and a delta's parents are
// opened below it, read-only, with their content IDs checked.
//
// A disk with children is read-only because the chain opener opens every
// parent read-only; a parent opened on its own and written gets a new CID,
// and its children are then refused (their parentCID no longer matches).
import { formatCid, MAX_DESCRIPTOR_BYTES, newDescriptor, parseDescriptor, type Descriptor } from './descriptor.js';
import { DiskError } from './errors.js';
import { readExact, writeExact, type DiskFolder, type RandomAccessFile } from './file.js';
import { FlatDisk, writeDescriptorFile } from './flatDisk.js';
import { SparseDisk } from './sparseDisk.js';
import { SparseExtent, SPARSE_MAGIC } from './sparseExtent.js';
import type { VmdkDisk } from './vmdkDisk.js';

export interface VirtualDisk {
  /** Bytes. */
  readonly capacity: number;
  readonly readOnly: boolean;
  /** Fills `buf` from byte `offset` (any alignment); past the capacity is an error. */
  read(buf: Uint8Array, offset: number): Promise<void>;
  write(buf: Uint8Array, offset: number): Promise<void>;
  /** Makes completed writes durable. */
  flush(): Promise<void>;
  /** Bytes this disk's own files take (not its parents'). */
  allocatedBytes(): Promise<number>;
  /** Closes the disk and every parent below it. */
  close(): Promise<void>;
  /** From `offset`, how far (at most `length`) the data is alike: stored somewhere in the chain, or reading as zeros. */
  blockStatus(offset: number, length: number): Promise<BlockStatus>;
}

export interface BlockStatus {
  allocated: boolean;
  length: number;
}

export type DiskType = 'thin' | 'thick';

export interface CreateOptions {
  /** Bytes, a multiple of 512. */
  size: number;
  type: DiskType;
  /** Thick disks are written with zeros; this hears how far (bytes done, bytes in all). */
  onProgress?: (done: number, total: number) => void;
  /** Thick only: leave the zeroing out, the caller writes every byte itself (conversions). */
  noZeroing?: boolean;
}

/** Longest parent chain accepted (VMware allows 32 snapshots). */
export const MAX_CHAIN = 64;
/** The largest flat disk accepted: 62 TiB, VMware's own limit. */
export const MAX_FLAT_CAPACITY = 62 * 2 ** 40;

export async function openDisk(folder: DiskFolder, name: string, options: { write: boolean }): Promise<VmdkDisk> {
  return openLayer(folder, name, options.write, []);
}

/** Creates a new disk of the given type; `name` must end in .vmdk. The disk is returned open for writing. */
export async function createDisk(folder: DiskFolder, name: string, options: CreateOptions): Promise<VmdkDisk> {
  const what = folder.describe(name);
  const base = vmdkBase(folder, name);
  const { size, type } = options;
  const max = type === 'thin' ? 2 ** 41 : MAX_FLAT_CAPACITY;
  if (!Number.isSafeInteger(size) || size < 512 || size % 512 !== 0 || size > max) {
    throw new DiskError(`${what}: size must be a whole number of 512-byte sectors, from 512 bytes to ${max / 2 ** 40} TiB (${size} asked)`);
  }
  // Files made so far go again if a later step fails: no half-made disk is left behind.
  const made: string[] = [];
  const newFile = async (file: string, fill: (f: RandomAccessFile) => Promise<unknown>) => {
    const f = await folder.create(file);
    made.push(file);
    await fill(f).finally(() => f.close());
  };
  try {
    if (type === 'thin') {
      const d = newDescriptor({ createType: 'monolithicSparse', capacity: size, extent: { type: 'SPARSE', file: name } });
      await newFile(name, (f) => SparseExtent.create(f, what, size, d.format()));
    } else {
      const dataName = `${base}-flat.vmdk`;
      const d = newDescriptor({ createType: 'monolithicFlat', capacity: size, extent: { type: 'FLAT', file: dataName } });
      await newFile(name, (f) => writeDescriptorFile(f, d.format()));
      await newFile(dataName, async (f) => {
        await f.truncate(size);
        if (!options.noZeroing) await writeZeros(f, size, options.onProgress);
        await f.sync();
      });
    }
    return await openDisk(folder, name, { write: true });
  } catch (e) {
    for (const f of made) await folder.remove(f).catch(() => {});
    throw e;
  }
}

/** Creates a delta disk `name` on top of `parent` (which the caller keeps frozen from then on). */
export async function createDelta(folder: DiskFolder, name: string, parent: VmdkDisk): Promise<VmdkDisk> {
  vmdkBase(folder, name);
  if (parent.folder !== folder) throw new DiskError(`${folder.describe(name)}: a delta must be in the same folder as its parent`);
  if (parent.chain.length >= MAX_CHAIN) throw new DiskError(`${parent.what}: its chain is already ${MAX_CHAIN} disks long, the most allowed`);
  const d = newDescriptor({
    createType: 'monolithicSparse',
    capacity: parent.capacity,
    extent: { type: 'SPARSE', file: name },
    parent: { cid: parent.descriptor.cid, fileNameHint: parent.name },
  });
  const file = await folder.create(name);
  await SparseExtent.create(file, folder.describe(name), parent.capacity, d.format()).finally(() => file.close());
  return openDisk(folder, name, { write: true });
}

/** NAME of NAME.vmdk; anything else is refused. */
export function vmdkBase(folder: DiskFolder, name: string): string {
  const m = /^(.+)\.vmdk$/i.exec(name);
  if (!m) throw new DiskError(`${folder.describe(name)}: a VMDK's name must end in .vmdk`);
  return m[1];
}

async function writeZeros(file: RandomAccessFile, size: number, onProgress?: (done: number, total: number) => void): Promise<void> {
  const chunk = new Uint8Array(Math.min(size, 1 << 20));
  for (let at = 0; at < size; at += chunk.length) {
    await writeExact(file, chunk.subarray(0, Math.min(chunk.length, size - at)), at);
    onProgress?.(Math.min(size, at + chunk.length), size);
  }
}

/** Opens one layer and, below it, its parents; `above` holds the names already in the chain (loops). */
async function openLayer(folder: DiskFolder, name: string, write: boolean, above: string[]): Promise<VmdkDisk> {
  const what = folder.describe(name);
  if (above.includes(name)) throw new DiskError(`${folder.describe(above[0])}: the parent chain loops back to ${what}`);
  if (above.length >= MAX_CHAIN) throw new DiskError(`${folder.describe(above[0])}: parent chain longer than ${MAX_CHAIN} disks`);
  const file = await folder.open(name, write ? 'rw' : 'r');
  const owned: { close(): Promise<void> }[] = [file];
  try {
    const size = await file.size();
    const head = new Uint8Array(Math.min(size, 512));
    await readExact(file, head, 0, what);
    const magic = head.length >= 4 ? Buffer.from(head).readUInt32LE(0) : 0;
    if (magic === SPARSE_MAGIC) {
      const extent = await SparseExtent.open(file, what);
      const text = await extent.readDescriptor();
      if (text === null) throw new DiskError(`${what}: a sparse extent without a descriptor; open the disk's descriptor file instead`);
      const d = parseDescriptor(text, what);
      checkSparseExtent(d, extent, what);
      const parent = await openParent(folder, name, d, above);
      if (parent) owned.push(parent);
      return new SparseDisk(folder, name, d, extent, name, (t) => extent.writeDescriptor(t), async () => {}, parent, !write);
    }
    if (Buffer.from(head.subarray(0, 4)).toString('latin1') === 'COWD') {
      throw new DiskError(`${what}: ESX vmfsSparse (COWD) deltas are not supported`);
    }
    if (size > MAX_DESCRIPTOR_BYTES || !/^\s*#\s*Disk DescriptorFile|createType\s*=/m.test(Buffer.from(head).toString('latin1'))) {
      throw new DiskError(`${what}: not a VMDK (neither a KDMV sparse header nor a descriptor)`);
    }
    const buf = new Uint8Array(size);
    await readExact(file, buf, 0, what);
    const nul = buf.indexOf(0); // qemu pads a rewritten descriptor file with NULs
    const d = parseDescriptor(Buffer.from(buf.subarray(0, nul < 0 ? buf.length : nul)).toString('utf8'), what);
    const type = d.extents[0].type;
    if (type === 'FLAT' || type === 'VMFS') return await FlatDisk.open(folder, name, d, file, !write);
    if (type === 'SPARSE' && d.extents.length === 1 && d.extents[0].file !== null) {
      // A descriptor file with one sparse extent (qemu's twoGbMaxExtentSparse of a small disk).
      const extentName = d.extents[0].file;
      const extentFile = await folder.open(extentName, write ? 'rw' : 'r');
      owned.push(extentFile);
      const extent = await SparseExtent.open(extentFile, folder.describe(extentName));
      checkSparseExtent(d, extent, what);
      const parent = await openParent(folder, name, d, above);
      if (parent) owned.push(parent);
      return new SparseDisk(folder, name, d, extent, extentName, (t) => writeDescriptorFile(file, t), () => file.close(), parent, !write);
    }
    throw new DiskError(`${what}: createType "${d.createType}" with ${d.extents.length} ${type} extent(s) is not supported`);
  } catch (e) {
    for (const o of owned.reverse()) await o.close().catch(() => {});
    throw e;
  }
}

function checkSparseExtent(d: Descriptor, extent: SparseExtent, what: string): void {
  const e = d.extents[0];
  if (d.extents.length !== 1 || e.type !== 'SPARSE') throw new DiskError(`${what}: a sparse disk's descriptor must list exactly one SPARSE extent`);
  if (e.sectors * 512 !== extent.capacity) {
    throw new DiskError(`${what}: the descriptor says ${e.sectors} sectors, the sparse header ${extent.capacity / 512}`);
  }
}

/** Opens the parent a delta names, read-only, and checks that it is the content the delta was made on. */
async function openParent(folder: DiskFolder, name: string, d: Descriptor, above: string[]): Promise<VmdkDisk | null> {
  if (!d.hasParent) return null;
  const what = folder.describe(name);
  const parentName = parentInFolder(folder, d.parentFileNameHint!, what);
  if (!(await folder.exists(parentName))) throw new DiskError(`${what}: parent ${folder.describe(parentName)} is missing`);
  const parent = await openLayer(folder, parentName, false, [...above, name]);
  if (parent.descriptor.cid !== d.parentCid) {
    await parent.close();
    throw new DiskError(
      `${what}: its parent ${parent.what} changed after this delta was made (parentCID ${formatCid(d.parentCid)}, parent's CID ${formatCid(parent.descriptor.cid)})`,
    );
  }
  return parent;
}

/**
 * The parent's name in the delta's folder. A hint may be a plain name, or a
 * path that names a file of this same folder; anything leaving the folder is
 * refused.
 */
function parentInFolder(folder: DiskFolder, hint: string, what: string): string {
  const plain = hint.replace(/^(\.\/)+/, '');
  if (plain !== '' && !plain.includes('/') && !plain.includes('\\') && plain !== '..' && plain !== '.') return plain;
  const base = hint.slice(hint.lastIndexOf('/') + 1);
  if (base !== '' && base !== '..' && folder.describe(base) === hint) return base;
  throw new DiskError(`${what}: parent "${hint}" lies outside the disk's folder (refused)`);
}
