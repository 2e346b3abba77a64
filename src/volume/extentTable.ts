// The extent table: where each extent of the volume can be opened, by name
// (an absolute path, or a URL), so that a host that has the volume open can
// find an extent another process added (`LogicalVolume.refresh`) and so that
// recovering an interrupted `extend` can reach the new extent. One 2 KiB
// record per extent, in logical 0x240000..0x24ffff (in the megabyte `.vh.sf`
// owns, which no reader looks into); the record is only a hint: whatever it
// names is opened and checked against its device and LVM UUIDs.
import CRC32 from 'crc-32';
import { isAbsolute, resolve } from 'node:path';
import { VolumeError } from '../util/errors.js';
import { defineStruct } from '../util/struct.js';
import { MAX_EXTENTS } from './volumeHeader.js';

export const EXTENT_TABLE_OFFSET = 0x240000;
export const EXTENT_RECORD_SIZE = 0x800;
const EXTENT_RECORD_MAGIC = 0x78657476; // "vtex"

const extentRecordStruct = defineStruct('extent table record', EXTENT_RECORD_SIZE, {
  magic: { offset: 0x00, type: 'u32' },
  crc: { offset: 0x04, type: 'u32' }, // over bytes 0x08..0x800
  index: { offset: 0x08, type: 'u32' },
  deviceUuid: { offset: 0x10, type: 'uuid' },
  lvmUuid: { offset: 0x20, type: 'uuid' },
  name: { offset: 0x40, type: { cstring: 0x7c0 } },
});

export interface ExtentRecord {
  /** The extent's place in the volume (0 holds segment 0). */
  index: number;
  deviceUuid: string;
  lvmUuid: string;
  name: string;
}

/** Logical offset of record `index`. */
export function extentRecordOffset(index: number): number {
  return EXTENT_TABLE_OFFSET + index * EXTENT_RECORD_SIZE;
}

/** The name to record: file paths made absolute (hosts run in other directories), URLs as given. */
export function recordableName(name: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(name) || isAbsolute(name) ? name : resolve(name);
}

export function encodeExtentRecord(r: ExtentRecord): Buffer {
  if (Buffer.byteLength(r.name) >= 0x7c0) throw new VolumeError(`${r.name}: extent name too long to record (at most ${0x7c0 - 1} bytes)`);
  const buf = extentRecordStruct.encode({ magic: EXTENT_RECORD_MAGIC, crc: 0, ...r });
  buf.writeUInt32LE(CRC32.buf(buf.subarray(8)) >>> 0, 4);
  return buf;
}

/** The record in `buf` at `base`, or null when there is none (never written, torn, damaged). */
export function decodeExtentRecord(buf: Uint8Array, base = 0): ExtentRecord | null {
  const b = Buffer.from(buf.buffer, buf.byteOffset + base, EXTENT_RECORD_SIZE);
  const r = extentRecordStruct.decode(b);
  if (r.magic !== EXTENT_RECORD_MAGIC || r.crc !== CRC32.buf(b.subarray(8)) >>> 0 || r.index >= MAX_EXTENTS) return null;
  return { index: r.index, deviceUuid: r.deviceUuid, lvmUuid: r.lvmUuid, name: r.name };
}

/** Every valid record of the table, read through `read` (logical offsets). */
export async function readExtentTable(read: (buf: Uint8Array, offset: number) => Promise<void>): Promise<ExtentRecord[]> {
  const buf = Buffer.alloc(MAX_EXTENTS * EXTENT_RECORD_SIZE);
  await read(buf, EXTENT_TABLE_OFFSET);
  const out: ExtentRecord[] = [];
  for (let i = 0; i < MAX_EXTENTS; i++) {
    const r = decodeExtentRecord(buf, i * EXTENT_RECORD_SIZE);
    if (r) out.push(r);
  }
  return out;
}
