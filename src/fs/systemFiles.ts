// The system files every volume has in its root directory, with the fixed
// inode ids the open reader expects, and the geometry our mkfs gives the
// resource files (ESX's own choices where they suit; sizes scale with the volume).
import { inodeId } from './blockId.js';
import { ResourceKind } from './resourceFile.js';

export const ROOT_INODE_ID = inodeId({ entry: 0, item: 0 }); // 0x4

export interface SystemFileSpec {
  name: string;
  id: number;
  kind?: ResourceKind;
}

export const SYSTEM_FILES: SystemFileSpec[] = [
  { name: '.fbb.sf', id: inodeId({ entry: 0, item: 1 }), kind: ResourceKind.FileBlocks },
  { name: '.fdc.sf', id: inodeId({ entry: 0, item: 2 }), kind: ResourceKind.Inodes },
  { name: '.pbc.sf', id: inodeId({ entry: 0, item: 3 }), kind: ResourceKind.PointerBlocks },
  { name: '.sbc.sf', id: inodeId({ entry: 0, item: 4 }), kind: ResourceKind.SubBlocks },
  { name: '.vh.sf', id: inodeId({ entry: 0, item: 5 }) },
];

export const SYSTEM_NAMES = new Set(SYSTEM_FILES.map((f) => f.name));

export function systemFileId(kind: ResourceKind): number {
  return SYSTEM_FILES.find((f) => f.kind === kind)!.id;
}

/** Items per pointer block (4 KiB of 32-bit block ids). */
export const POINTER_BLOCK_SIZE = 4096;
export const POINTERS_PER_BLOCK = POINTER_BLOCK_SIZE / 4;
