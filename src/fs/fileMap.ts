// The block map of one file: which logical bytes hold which file bytes, under
// the three VMFS3 addressing modes (zla): one sub-block for small files, up
// to 256 file blocks, or 256 pointer blocks of 1024 file blocks each. Holes
// and TBZ ("to be zeroed") blocks read as zeros. Allocation on write, mode
// changes as a file grows, and freeing on truncate are done here. Nothing
// here awaits: data it writes (zero-fill, a small file's bytes moving to a
// file block) goes into the transaction, written first at commit.
import { FsError, VolumeError } from '../util/errors.js';
import {
  BlockType,
  blockType,
  fileBlockId,
  fileBlockNumber,
  isTbz,
  pointerBlockAddress,
  pointerBlockId,
  subBlockAddress,
  subBlockId,
} from './blockId.js';
import { INODE_BLOCKS, Inode, Zla } from './inode.js';
import { Resource } from './resources.js';
import { POINTERS_PER_BLOCK } from './systemFiles.js';
import { Transaction } from './transaction.js';

export interface MapContext {
  readonly blockSize: number;
  readonly subBlockSize: number;
  readonly volumeBytes: number;
  readonly fbb: Resource;
  readonly sbc: Resource;
  readonly pbc: Resource;
  /** The pointer block as the transaction sees it (throws CacheMiss when it is not cached). */
  pointerBlock(tx: Transaction | null, id: number): Uint32Array;
  /** The transaction's own copy of a pointer block, to change (a new one starts zeroed). */
  editPointerBlock(tx: Transaction, id: number, fresh?: boolean): Uint32Array;
  /** Bytes at a logical offset as the transaction sees them, its own data writes included (throws CacheMiss to have them read). */
  readData(tx: Transaction, logical: number, length: number): Uint8Array;
}

export interface Piece {
  fileOffset: number;
  length: number;
  /** Logical offset, or null where the file reads as zeros (a hole or a TBZ block). */
  logical: number | null;
}

/** Bytes one entry of the file's map stands for. */
export function mapUnit(ctx: MapContext, inode: Inode): number {
  return inode.zla === Zla.SubBlocks ? ctx.subBlockSize : ctx.blockSize;
}

/** The largest size a file can reach. */
export function maxFileSize(ctx: MapContext): number {
  return INODE_BLOCKS * POINTERS_PER_BLOCK * ctx.blockSize;
}

function checkFileBlock(ctx: MapContext, id: number): number {
  if (blockType(id) !== BlockType.FileBlock) throw new VolumeError(`block id 0x${id.toString(16)} is not a file block`);
  const n = fileBlockNumber(id);
  if ((n + 1) * ctx.blockSize > ctx.volumeBytes) throw new VolumeError(`file block ${n} lies outside the volume`);
  return n * ctx.blockSize;
}

/** The id addressing map index `index` (a file block id, sub-block id, or 0). */
function idAt(ctx: MapContext, tx: Transaction | null, inode: Inode, index: number): number {
  if (inode.zla === Zla.PointerBlocks) {
    const pb = inode.blocks[Math.floor(index / POINTERS_PER_BLOCK)];
    if (pb === undefined || pb === 0) return 0;
    return ctx.pointerBlock(tx, pb)[index % POINTERS_PER_BLOCK];
  }
  return index < INODE_BLOCKS ? inode.blocks[index] : 0;
}

function logicalOf(ctx: MapContext, inode: Inode, id: number): number | null {
  if (id === 0) return null;
  if (inode.zla === Zla.SubBlocks) {
    if (blockType(id) !== BlockType.SubBlock) throw new VolumeError(`block id 0x${id.toString(16)} is not a sub-block`);
    const at = subBlockAddress(id);
    if (!ctx.sbc.isAllocated(null, at) && at.entry >= ctx.sbc.entries.length) throw new VolumeError(`sub-block ${at.entry}:${at.item} does not exist`);
    return ctx.sbc.itemLogical(at);
  }
  if (isTbz(id)) return null;
  return checkFileBlock(ctx, id);
}

export function mapForRead(ctx: MapContext, tx: Transaction | null, inode: Inode, offset: number, length: number): Piece[] {
  const unit = mapUnit(ctx, inode);
  const out: Piece[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const index = Math.floor(pos / unit);
    const within = pos - index * unit;
    const len = Math.min(unit - within, end - pos);
    const base = logicalOf(ctx, inode, idAt(ctx, tx, inode, index));
    const logical = base === null ? null : base + within;
    const last = out[out.length - 1];
    if (last && ((last.logical === null && logical === null) || (last.logical !== null && logical !== null && last.logical + last.length === logical))) {
      last.length += len;
    } else out.push({ fileOffset: pos, length: len, logical });
    pos += len;
  }
  return out;
}

/**
 * Makes sure every byte of [offset, offset+length) has storage, allocating
 * and changing the addressing mode as needed (the inode must be the
 * transaction's copy). Fresh storage that the write will not cover entirely
 * is zeroed first, so no old bytes ever show through.
 */
export function mapForWrite(ctx: MapContext, tx: Transaction, inode: Inode, offset: number, length: number): Piece[] {
  const end = offset + length;
  chooseMode(ctx, tx, inode, end);
  const unit = mapUnit(ctx, inode);
  const first = Math.floor(offset / unit);
  const last = Math.floor((end - 1) / unit);
  // Allocate missing blocks in one go, so a sequential write gets a contiguous run.
  const missing: number[] = [];
  for (let i = first; i <= last; i++) {
    const id = idAt(ctx, tx, inode, i);
    if (id === 0 || (inode.zla !== Zla.SubBlocks && isTbz(id))) missing.push(i);
  }
  if (missing.length > 0 && inode.zla === Zla.SubBlocks) {
    const sb = ctx.sbc.freeCount(tx) > 0 ? ctx.sbc.allocate(tx, 1)[0] : null;
    if (sb) {
      inode.blocks[0] = subBlockId(sb);
      inode.blockCount += 1;
      zeroUncovered(tx, ctx.sbc.itemLogical(sb), 0, unit, offset, end, Math.max(end, inode.size));
      return mapForRead(ctx, tx, inode, offset, length);
    }
    // No sub-block left: the (empty) file takes file blocks instead.
    inode.zla = Zla.FileBlocks;
    inode.blockSize = ctx.blockSize;
    return mapForWrite(ctx, tx, inode, offset, length);
  }
  if (missing.length > 0) {
    const near = previousFileBlock(ctx, tx, inode, missing[0]);
    let k = 0;
    while (k < missing.length) {
      const run = ctx.fbb.allocate(tx, missing.length - k, near === null ? undefined : near + 1 + k);
      for (const at of run) {
        const index = missing[k++];
        const old = idAt(ctx, tx, inode, index);
        const number = at.entry * ctx.fbb.layout.geometry.itemsPerEntry + at.item;
        if (old !== 0) ctx.fbb.free(tx, toFbbItem(ctx, fileBlockNumber(old))); // a TBZ block is replaced by a written one
        else inode.blockCount += 1;
        setIdAt(ctx, tx, inode, index, fileBlockId(number));
        zeroUncovered(tx, number * ctx.blockSize, index * unit, unit, offset, end, Math.max(end, inode.size));
      }
    }
  }
  return mapForRead(ctx, tx, inode, offset, length);
}

function toFbbItem(ctx: MapContext, block: number) {
  const ipe = ctx.fbb.layout.geometry.itemsPerEntry;
  return { entry: Math.floor(block / ipe), item: block % ipe };
}

/**
 * Zeroes the parts of a fresh block that lie inside the file but outside the
 * write. Bytes past the end of the file are left as they are: extending the
 * file zeroes them then (zeroGap), so a small file costs no 1 MiB zero-fill.
 */
function zeroUncovered(tx: Transaction, logical: number, blockStart: number, unit: number, wStart: number, wEnd: number, fileEnd: number): void {
  const a = Math.max(0, wStart - blockStart);
  if (a > 0) tx.data.push({ offset: logical, data: new Uint8Array(a) });
  const b = Math.min(unit, wEnd - blockStart);
  const t = Math.min(unit, fileEnd - blockStart);
  if (t > b) tx.data.push({ offset: logical + b, data: new Uint8Array(t - b) });
}

/**
 * Before a file grows from `from` to `to` bytes: the last block may hold stale
 * bytes past the old end (blocks past the end are never allocated), so zero
 * them up to the new end.
 */
export function zeroGap(ctx: MapContext, tx: Transaction, inode: Inode, from: number, to: number): void {
  const unit = mapUnit(ctx, inode);
  if (to <= from || from % unit === 0) return;
  const index = Math.floor(from / unit);
  const base = logicalOf(ctx, inode, idAt(ctx, tx, inode, index));
  if (base === null) return;
  const end = Math.min(to, (index + 1) * unit);
  tx.data.push({ offset: base + (from - index * unit), data: new Uint8Array(end - from) });
}

function previousFileBlock(ctx: MapContext, tx: Transaction, inode: Inode, index: number): number | null {
  for (let i = index - 1; i >= Math.max(0, index - 4); i--) {
    const id = idAt(ctx, tx, inode, i);
    if (id !== 0 && !isTbz(id)) return fileBlockNumber(id);
  }
  return null;
}

function setIdAt(ctx: MapContext, tx: Transaction, inode: Inode, index: number, id: number): void {
  if (inode.zla !== Zla.PointerBlocks) {
    inode.blocks[index] = id;
    return;
  }
  const slot = Math.floor(index / POINTERS_PER_BLOCK);
  let pb = inode.blocks[slot];
  let fresh = false;
  if (pb === 0) {
    const [at] = ctx.pbc.allocate(tx, 1);
    pb = pointerBlockId(at);
    inode.blocks[slot] = pb;
    fresh = true;
  }
  (ctx.editPointerBlock(tx, pb, fresh))[index % POINTERS_PER_BLOCK] = id;
}

/** Picks the addressing mode a file of `end` bytes needs, converting the existing map. */
export function chooseMode(ctx: MapContext, tx: Transaction, inode: Inode, end: number): void {
  if (end > maxFileSize(ctx)) throw new FsError('EFBIG', `inode 0x${inode.id.toString(16)}`);
  const empty = inode.blocks.every((b) => b === 0);
  if (inode.zla === Zla.SubBlocks) {
    if (end <= ctx.subBlockSize) return;
    if (empty) {
      inode.zla = Zla.FileBlocks;
      inode.blockSize = ctx.blockSize;
    } else {
      // Move the small file's bytes from its sub-block into a file block.
      const sb = subBlockAddress(inode.blocks[0]);
      const data = ctx.readData(tx, ctx.sbc.itemLogical(sb), ctx.subBlockSize);
      const [at] = ctx.fbb.allocate(tx, 1);
      const number = at.entry * ctx.fbb.layout.geometry.itemsPerEntry + at.item;
      tx.data.push({ offset: number * ctx.blockSize, data }, { offset: number * ctx.blockSize + data.length, data: new Uint8Array(ctx.blockSize - data.length) });
      ctx.sbc.free(tx, sb);
      inode.blocks.fill(0);
      inode.blocks[0] = fileBlockId(number);
      inode.zla = Zla.FileBlocks;
      inode.blockSize = ctx.blockSize;
    }
  }
  if (inode.zla === Zla.FileBlocks && end > INODE_BLOCKS * ctx.blockSize) {
    const direct = Uint32Array.from(inode.blocks);
    inode.blocks.fill(0);
    inode.zla = Zla.PointerBlocks;
    if (direct.some((b) => b !== 0)) {
      const [at] = ctx.pbc.allocate(tx, 1);
      const pb = pointerBlockId(at);
      (ctx.editPointerBlock(tx, pb, true)).set(direct, 0);
      inode.blocks[0] = pb;
    }
  }
}

/** Frees the storage past `size` (the inode must be the transaction's copy). */
export function truncateMap(ctx: MapContext, tx: Transaction, inode: Inode, size: number): void {
  const unit = mapUnit(ctx, inode);
  const keep = Math.ceil(size / unit);
  if (inode.zla === Zla.SubBlocks) {
    if (keep === 0 && inode.blocks[0] !== 0) {
      ctx.sbc.free(tx, subBlockAddress(inode.blocks[0]));
      inode.blocks[0] = 0;
      inode.blockCount -= 1;
    }
    return;
  }
  const freeFb = (id: number) => {
    if (id === 0) return;
    ctx.fbb.free(tx, toFbbItem(ctx, fileBlockNumber(id)));
    inode.blockCount -= 1;
  };
  if (inode.zla === Zla.FileBlocks) {
    for (let i = keep; i < INODE_BLOCKS; i++) {
      freeFb(inode.blocks[i]);
      inode.blocks[i] = 0;
    }
    return;
  }
  for (let slot = 0; slot < INODE_BLOCKS; slot++) {
    const pbId = inode.blocks[slot];
    if (pbId === 0) continue;
    const firstIndex = slot * POINTERS_PER_BLOCK;
    if (firstIndex + POINTERS_PER_BLOCK <= keep) continue;
    const pb = ctx.editPointerBlock(tx, pbId);
    for (let j = Math.max(0, keep - firstIndex); j < POINTERS_PER_BLOCK; j++) {
      freeFb(pb[j]);
      pb[j] = 0;
    }
    if (firstIndex >= keep || pb.every((v) => v === 0)) {
      ctx.pbc.free(tx, pointerBlockAddress(pbId));
      inode.blocks[slot] = 0;
    }
  }
}
