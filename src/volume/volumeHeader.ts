// The two per-extent structures at the start of every extent: the volume
// header (device offset 1 MiB) and the LVM info that follows it. Together
// they say which logical volume the extent belongs to and which 256 MiB
// segments of that volume it holds.
import { defineStruct, Decoded } from '../util/struct.js';

export const VOLUME_HEADER_OFFSET = 0x100000;
export const LVM_INFO_OFFSET = 0x100200;
/** Where the extent's first segment starts on the device. */
export const EXTENT_DATA_OFFSET = 0x1100000;
export const SEGMENT_SIZE = 256 * 2 ** 20;
export const MAX_EXTENTS = 32;

export const VOLUME_MAGIC = 0xc001d00d;
/** LVM version of VMFS3; the open reader also accepts 5 (VMFS5) read-only. */
export const LVM_VERSION = 3;

export const volumeHeaderStruct = defineStruct('volume header', 0x200, {
  magic: { offset: 0x00, type: 'u32' },
  version: { offset: 0x04, type: 'u32' },
  lun: { offset: 0x0e, type: 'u8' },
  name: { offset: 0x12, type: { cstring: 28 } },
  totalBytes: { offset: 0x5e, type: 'u64' },
  numPEs: { offset: 0x6a, type: 'u32' },
  dataOffset: { offset: 0x7a, type: 'u64' },
  deviceUuid: { offset: 0x82, type: 'uuid' },
  ctime: { offset: 0x92, type: 'u64' },
  mtime: { offset: 0x9a, type: 'u64' },
});
export type VolumeHeader = Decoded<typeof volumeHeaderStruct.fields>;

export const lvmInfoStruct = defineStruct('LVM info', 0x200, {
  size: { offset: 0x00, type: 'u64' }, // logical volume bytes
  blocks: { offset: 0x08, type: 'u64' }, // total segments + extents
  uuidText: { offset: 0x14, type: { cstring: 0x40 } },
  lvmUuid: { offset: 0x54, type: 'uuid' },
  ctime: { offset: 0x68, type: 'u64' },
  numSegments: { offset: 0x74, type: 'u32' }, // in this extent
  firstSegment: { offset: 0x78, type: 'u64' },
  lastSegment: { offset: 0x80, type: 'u64' },
  mtime: { offset: 0x88, type: 'u64' },
  numExtents: { offset: 0x90, type: 'u32' },
});
export type LvmInfo = Decoded<typeof lvmInfoStruct.fields>;

/** How many whole segments a device of `deviceSize` bytes can hold. */
export function segmentsFor(deviceSize: number): number {
  return Math.max(0, Math.floor((deviceSize - EXTENT_DATA_OFFSET) / SEGMENT_SIZE));
}

/** The smallest device that holds `segments` segments. */
export function deviceSizeFor(segments: number): number {
  return EXTENT_DATA_OFFSET + segments * SEGMENT_SIZE;
}
