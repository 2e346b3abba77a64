// Block ids: 32-bit addresses of everything a file points at. The low three
// bits give the type; the rest name a resource-file entry and item (and, for
// file blocks, flags such as TBZ). An id of 0 is a hole.

export enum BlockType {
  None = 0,
  FileBlock = 1,
  SubBlock = 2,
  PointerBlock = 3,
  Inode = 4,
}

/** "To be zeroed": allocated but never written, reads as zeros. */
export const FB_TBZ_FLAG = 0x20;

export interface EntryItem {
  entry: number;
  item: number;
}

export function blockType(id: number): BlockType {
  return (id & 7) as BlockType;
}

// File blocks are numbered flat (item = block number); everything else
// is addressed as (entry, item) in its resource file.
export function fileBlockId(block: number, tbz = false): number {
  return ((block << 6) | (tbz ? FB_TBZ_FLAG : 0) | BlockType.FileBlock) >>> 0;
}
export function fileBlockNumber(id: number): number {
  return id >>> 6;
}
export function isTbz(id: number): boolean {
  return (id & FB_TBZ_FLAG) !== 0;
}

// Sub-block: entry in bits 6-27, item's low 4 bits in 28-31, its high 2 bits in 3-4.
export function subBlockId({ entry, item }: EntryItem): number {
  return (((item & 0xf) << 28) | ((entry & 0x3fffff) << 6) | (((item >> 4) & 3) << 3) | BlockType.SubBlock) >>> 0;
}
export function subBlockAddress(id: number): EntryItem {
  return { entry: (id >>> 6) & 0x3fffff, item: ((id >>> 28) & 0xf) | (((id >>> 3) & 3) << 4) };
}

// Pointer block: entry in bits 6-27, item in 28-31.
export function pointerBlockId({ entry, item }: EntryItem): number {
  return (((item & 0xf) << 28) | ((entry & 0x3fffff) << 6) | BlockType.PointerBlock) >>> 0;
}
export function pointerBlockAddress(id: number): EntryItem {
  return { entry: (id >>> 6) & 0x3fffff, item: (id >>> 28) & 0xf };
}

// Inode (file descriptor): entry in bits 6-21, item in 22-31.
export function inodeId({ entry, item }: EntryItem): number {
  return (((item & 0x3ff) << 22) | ((entry & 0xffff) << 6) | BlockType.Inode) >>> 0;
}
export function inodeAddress(id: number): EntryItem {
  return { entry: (id >>> 6) & 0xffff, item: (id >>> 22) & 0x3ff };
}

export function formatBlockId(id: number): string {
  switch (blockType(id)) {
    case BlockType.FileBlock:
      return `FB ${fileBlockNumber(id)}${isTbz(id) ? ' (tbz)' : ''}`;
    case BlockType.SubBlock: {
      const a = subBlockAddress(id);
      return `SB ${a.entry}:${a.item}`;
    }
    case BlockType.PointerBlock: {
      const a = pointerBlockAddress(id);
      return `PB ${a.entry}:${a.item}`;
    }
    case BlockType.Inode: {
      const a = inodeAddress(id);
      return `FD ${a.entry}:${a.item}`;
    }
    default:
      return `0x${id.toString(16)}`;
  }
}
