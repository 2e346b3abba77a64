// Inodes (VMFS "file descriptors"): 2 KiB items of the .fdc.sf resource file.
// A lock header, the attributes, then 256 block ids whose meaning depends on
// the addressing mode (zla): file blocks, sub-blocks or pointer blocks.
import { LockHeader, lockHeaderStruct } from '../cluster/lockHeader.js';
import { defineStruct, Decoded, zeroedBuffer } from '../util/struct.js';

export const INODE_SIZE = 0x800;
export const INODE_MAGIC = 0x10c00001;
export const INODE_BLOCKS = 256;
export const INODE_BLOCKS_OFFSET = 0x400;

export enum InodeType {
  None = 0,
  Directory = 2,
  File = 3,
  Symlink = 4,
  System = 5,
  Rdm = 6,
}

export enum Zla {
  FileBlocks = 1,
  SubBlocks = 2,
  PointerBlocks = 3,
}

export const inodeFieldsStruct = defineStruct('inode', INODE_SIZE, {
  id: { offset: 0x200, type: 'u32' },
  generation: { offset: 0x204, type: 'u32' },
  nlink: { offset: 0x208, type: 'u32' },
  type: { offset: 0x20c, type: 'u32' },
  flags: { offset: 0x210, type: 'u32' },
  size: { offset: 0x214, type: 'u64' },
  blockSize: { offset: 0x21c, type: 'u64' }, // bytes addressed by one entry of blocks[] (or of a pointer block)
  blockCount: { offset: 0x224, type: 'u64' },
  mtime: { offset: 0x22c, type: 'u32' },
  ctime: { offset: 0x230, type: 'u32' },
  atime: { offset: 0x234, type: 'u32' },
  uid: { offset: 0x238, type: 'u32' },
  gid: { offset: 0x23c, type: 'u32' },
  mode: { offset: 0x240, type: 'u32' },
  zla: { offset: 0x244, type: 'u32' },
  tbz: { offset: 0x248, type: 'u32' },
  cow: { offset: 0x24c, type: 'u32' },
});
export type InodeFields = Decoded<typeof inodeFieldsStruct.fields>;

export interface Inode extends InodeFields {
  lock: LockHeader;
  blocks: Uint32Array;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Block lists carved out of shared slabs, as Node's pool does for small Buffers. */
const BLOCK_LIST_BYTES = INODE_BLOCKS * 4;
const SLAB_BYTES = 64 * BLOCK_LIST_BYTES;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/**
 * A zeroed block list. A typed array of its own gets a backing store of its
 * own (about 0.8 us, and external memory the GC must track): every inode
 * edit copies one, and a cached inode keeps one. A view into a shared slab
 * costs a tenth of that; a slab lives as long as any of its lists.
 */
export function newBlockList(): Uint32Array {
  if (slabUsed === SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const list = new Uint32Array(slab, slabUsed, INODE_BLOCKS);
  slabUsed += BLOCK_LIST_BYTES;
  return list;
}

export function decodeInode(buf: Uint8Array, base = 0): Inode {
  const fields = inodeFieldsStruct.decode(buf, base);
  const blocks = newBlockList();
  const at = buf.byteOffset + base + INODE_BLOCKS_OFFSET;
  if (LITTLE_ENDIAN_HOST) new Uint8Array(blocks.buffer, blocks.byteOffset, BLOCK_LIST_BYTES).set(new Uint8Array(buf.buffer, at, BLOCK_LIST_BYTES)); // a byte copy: `buf` need not be aligned
  else {
    const dv = new DataView(buf.buffer, at, BLOCK_LIST_BYTES);
    for (let i = 0; i < INODE_BLOCKS; i++) blocks[i] = dv.getUint32(i * 4, true);
  }
  return { ...fields, lock: lockHeaderStruct.decode(buf, base), blocks };
}

/** Only what a free slot passes on to the next inode there: its generation and lock header. */
export function decodeInodeHead(buf: Uint8Array, base = 0): { generation: number; lock: LockHeader } {
  return { generation: inodeFieldsStruct.decode(buf, base).generation, lock: lockHeaderStruct.decode(buf, base) };
}

/** The inode's 2 KiB; without `withLock` the lock header's sector is left zero (for writes that skip it: it belongs to the lock protocol). */
export function encodeInode(inode: Inode, withLock = true): Buffer {
  const buf = zeroedBuffer(INODE_SIZE);
  if (withLock) lockHeaderStruct.encodeInto(inode.lock, buf, 0);
  inodeFieldsStruct.encodeInto(inode, buf, 0);
  if (LITTLE_ENDIAN_HOST) buf.set(new Uint8Array(inode.blocks.buffer, inode.blocks.byteOffset, BLOCK_LIST_BYTES), INODE_BLOCKS_OFFSET);
  else for (let i = 0; i < INODE_BLOCKS; i++) buf.writeUInt32LE(inode.blocks[i], INODE_BLOCKS_OFFSET + i * 4);
  return buf;
}

const INODE_FIELD_KEYS = Object.keys(inodeFieldsStruct.fields) as (keyof InodeFields)[];
const LOCK_FIELD_KEYS = Object.keys(lockHeaderStruct.fields) as (keyof LockHeader)[];

/** Whether two inodes would encode to the same bytes (cheaper than encoding both). */
export function sameInode(a: Inode, b: Inode): boolean {
  for (const k of INODE_FIELD_KEYS) if (a[k] !== b[k]) return false;
  for (const k of LOCK_FIELD_KEYS) {
    if (k === 'holders' ? !a.lock.holders.equals(b.lock.holders) : a.lock[k] !== b.lock[k]) return false;
  }
  for (let i = 0; i < INODE_BLOCKS; i++) if (a.blocks[i] !== b.blocks[i]) return false;
  return true;
}

/** A copy to change. The lock header's holder list is shared: the file system never changes it (the lock manager writes lock headers on disk). */
export function cloneInode(inode: Inode): Inode {
  const blocks = newBlockList();
  blocks.set(inode.blocks);
  return { ...inode, lock: { ...inode.lock }, blocks };
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** POSIX file type bits for an inode type (VMFS stores only permission bits in mode). */
export function typeBits(type: number): number {
  if (type === InodeType.Directory) return S_IFDIR;
  if (type === InodeType.Symlink) return S_IFLNK;
  return S_IFREG;
}

