// Resource files (.fbb.sf, .fdc.sf, .pbc.sf, .sbc.sf): a header giving the
// geometry, then areas, each made of bitmap entries followed by the items the
// entries account for. A set bit in an entry's bitmap means the item is FREE.
//
// The geometry is always read from the header, never assumed, so that volumes
// formatted by ESX (with its own choices) open too.
import { LockHeader, freeLockHeader, lockHeaderStruct } from '../cluster/lockHeader.js';
import { defineStruct, Decoded, zeroedBuffer } from '../util/struct.js';
import { EntryItem } from './blockId.js';

export const BITMAP_ENTRY_SIZE = 0x400;
export const BITMAP_BYTES = 0x1f0;
export const MAX_ITEMS_PER_ENTRY = BITMAP_BYTES * 8;

export enum ResourceKind {
  FileBlocks = 'fbb',
  Inodes = 'fdc',
  PointerBlocks = 'pbc',
  SubBlocks = 'sbc',
}

export const ENTRY_MAGIC: Record<ResourceKind, number> = {
  [ResourceKind.FileBlocks]: 0x10c00002,
  [ResourceKind.SubBlocks]: 0x10c00003,
  [ResourceKind.PointerBlocks]: 0x10c00004,
  [ResourceKind.Inodes]: 0x10c00005,
};

export const resourceHeaderStruct = defineStruct('resource file header', 0x200, {
  itemsPerEntry: { offset: 0x00, type: 'u32' },
  entriesPerArea: { offset: 0x04, type: 'u32' },
  headerSize: { offset: 0x08, type: 'u32' },
  dataSize: { offset: 0x0c, type: 'u32' }, // bytes per item; 0 for file blocks (they live in place)
  areaSize: { offset: 0x10, type: 'u32' },
  totalItems: { offset: 0x14, type: 'u32' },
  areaCount: { offset: 0x18, type: 'u32' },
});
export type ResourceGeometry = Decoded<typeof resourceHeaderStruct.fields>;

export const bitmapEntryStruct = defineStruct('bitmap entry', BITMAP_ENTRY_SIZE, {
  id: { offset: 0x200, type: 'u32' },
  total: { offset: 0x204, type: 'u32' },
  free: { offset: 0x208, type: 'u32' },
  firstFree: { offset: 0x20c, type: 'u32' },
  bitmap: { offset: 0x210, type: { bytes: BITMAP_BYTES } },
});

export interface BitmapEntry extends Decoded<typeof bitmapEntryStruct.fields> {
  lock: LockHeader;
}

export function decodeBitmapEntry(buf: Uint8Array, base = 0): BitmapEntry {
  return { ...bitmapEntryStruct.decode(buf, base), lock: lockHeaderStruct.decode(buf, base) };
}

/** The entry's 1 KiB; without `withLock` the lock header's sector is left zero (for writes that skip it). */
export function encodeBitmapEntry(e: BitmapEntry, withLock = true): Buffer {
  const buf = zeroedBuffer(BITMAP_ENTRY_SIZE);
  if (withLock) lockHeaderStruct.encodeInto(e.lock, buf, 0);
  bitmapEntryStruct.encodeInto(e, buf, 0);
  return buf;
}

export function cloneBitmapEntry(e: BitmapEntry): BitmapEntry {
  return { ...e, bitmap: Buffer.from(e.bitmap), lock: { ...e.lock } }; // holders shared, as cloneInode does
}

/** A fresh entry with `total` items, all free. */
export function freshBitmapEntry(kind: ResourceKind, id: number, total: number, pos: number): BitmapEntry {
  const bitmap = Buffer.alloc(BITMAP_BYTES);
  for (let i = 0; i < total; i++) bitmap[i >> 3] |= 1 << (i & 7);
  return { lock: freeLockHeader(ENTRY_MAGIC[kind], pos), id, total, free: total, firstFree: 0, bitmap };
}

export function isItemFree(e: BitmapEntry, item: number): boolean {
  return (e.bitmap[item >> 3] & (1 << (item & 7))) !== 0;
}

export function setItemFree(e: BitmapEntry, item: number, free: boolean): void {
  const was = isItemFree(e, item);
  if (was === free) return;
  if (free) e.bitmap[item >> 3] |= 1 << (item & 7);
  else e.bitmap[item >> 3] &= ~(1 << (item & 7));
  e.free += free ? 1 : -1;
  e.firstFree = firstFreeItem(e);
}

/** The first free item, or `total` when none is free. */
export function firstFreeItem(e: BitmapEntry): number {
  for (let byte = 0; byte * 8 < e.total; byte++) {
    const v = e.bitmap[byte];
    if (v === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) return Math.min(byte * 8 + bit, e.total);
  }
  return e.total;
}

export function popcountFree(e: BitmapEntry): number {
  let n = 0;
  for (let i = 0; i < e.total; i++) if (isItemFree(e, i)) n++;
  return n;
}

/** Geometry arithmetic: where an entry and an item live inside the resource file. */
export class ResourceLayout {
  readonly itemsPerArea: number;
  readonly entryCount: number;

  constructor(readonly geometry: ResourceGeometry) {
    this.itemsPerArea = geometry.itemsPerEntry * geometry.entriesPerArea;
    this.entryCount = Math.ceil(geometry.totalItems / geometry.itemsPerEntry);
  }

  entryOffset(entry: number): number {
    const g = this.geometry;
    const area = Math.floor(entry / g.entriesPerArea);
    return g.headerSize + area * g.areaSize + (entry % g.entriesPerArea) * BITMAP_ENTRY_SIZE;
  }

  /** File offset of an item's data (for resources whose items are stored in the file). */
  itemOffset({ entry, item }: EntryItem): number {
    const g = this.geometry;
    const area = Math.floor(entry / g.entriesPerArea);
    const indexInArea = (entry % g.entriesPerArea) * g.itemsPerEntry + item;
    return g.headerSize + area * g.areaSize + g.entriesPerArea * BITMAP_ENTRY_SIZE + indexInArea * g.dataSize;
  }

  /** Items in entry `entry` (the last entry may be partial). */
  itemsInEntry(entry: number): number {
    return Math.min(this.geometry.itemsPerEntry, this.geometry.totalItems - entry * this.geometry.itemsPerEntry);
  }

  /** Bytes the whole resource file occupies, every area complete (what our mkfs gives it). */
  fileSize(): number {
    return this.geometry.headerSize + this.geometry.areaCount * this.geometry.areaSize;
  }

  /** The least a resource file must hold: up to its last entry and its last item (other writers stop there). */
  requiredSize(): number {
    const g = this.geometry;
    if (g.totalItems === 0) return g.headerSize;
    const lastEntry = this.entryCount - 1;
    const lastItem = { entry: lastEntry, item: this.itemsInEntry(lastEntry) - 1 };
    return Math.max(this.entryOffset(lastEntry) + BITMAP_ENTRY_SIZE, this.itemOffset(lastItem) + g.dataSize);
  }

  /** Checks that the header describes something we can address; returns a reason or null. */
  static validate(g: ResourceGeometry, maxItemsPerEntry: number): string | null {
    if (g.itemsPerEntry < 1 || g.itemsPerEntry > Math.min(maxItemsPerEntry, MAX_ITEMS_PER_ENTRY)) return `items per entry ${g.itemsPerEntry}`;
    if (g.entriesPerArea < 1 || g.entriesPerArea > 4096) return `entries per area ${g.entriesPerArea}`;
    if (g.headerSize < 0x200) return `header size ${g.headerSize}`;
    if (g.areaSize !== g.entriesPerArea * BITMAP_ENTRY_SIZE + g.itemsPerEntry * g.entriesPerArea * g.dataSize) return `area size ${g.areaSize}`;
    if (g.totalItems > g.areaCount * g.itemsPerEntry * g.entriesPerArea) return `${g.totalItems} items in ${g.areaCount} areas`;
    return null;
  }
}

/** Geometry for a new resource file holding `totalItems` items. */
export function makeGeometry(itemsPerEntry: number, entriesPerArea: number, dataSize: number, totalItems: number, headerSize = 0x10000): ResourceGeometry {
  const areaSize = entriesPerArea * BITMAP_ENTRY_SIZE + itemsPerEntry * entriesPerArea * dataSize;
  return {
    itemsPerEntry,
    entriesPerArea,
    headerSize,
    dataSize,
    areaSize,
    totalItems,
    areaCount: Math.ceil(totalItems / (itemsPerEntry * entriesPerArea)),
  };
}

