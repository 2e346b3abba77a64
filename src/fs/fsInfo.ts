// The FS info block at logical 2 MiB: what kind of VMFS this is, its UUID and
// label, the file block size, and where the inode table's geometry lives.
import { defineStruct, Decoded } from '../util/struct.js';

export const FS_INFO_OFFSET = 0x200000;
export const FS_INFO_MAGIC = 0x2fabf15e;
export const VMFS3_VERSION = 4;
export const FS_MINOR_VERSION = 31;
export const DISK_BLOCK_SIZE = 512;
export const SUB_BLOCK_SIZE_DEFAULT = 64 * 1024;

export const fsInfoStruct = defineStruct('FS info', 0x200, {
  magic: { offset: 0x00, type: 'u32' },
  version: { offset: 0x04, type: 'u32' },
  minorVersion: { offset: 0x08, type: 'u8' },
  uuid: { offset: 0x09, type: 'uuid' },
  mode: { offset: 0x19, type: 'u32' },
  label: { offset: 0x1d, type: { cstring: 128 } },
  diskBlockSize: { offset: 0x9d, type: 'u32' },
  blockSize: { offset: 0xa1, type: 'u64' },
  ctime: { offset: 0xa9, type: 'u64' },
  lvmUuid: { offset: 0xb1, type: 'uuid' },
  fdcHeaderSize: { offset: 0xd1, type: 'u32' },
  fdcBitmapCount: { offset: 0xd5, type: 'u32' },
  subBlockSize: { offset: 0xd9, type: 'u32' },
});
export type FsInfo = Decoded<typeof fsInfoStruct.fields>;

export const BLOCK_SIZES = [1, 2, 4, 8].map((m) => m * 2 ** 20);

/** The file block where the inode table (.fdc.sf) starts: after FS info and heartbeats. */
export function fdcBaseBlock(blockSize: number): number {
  return Math.max(1, 0x400000 / blockSize);
}
