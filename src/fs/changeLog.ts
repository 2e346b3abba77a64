// The change log: which metadata objects each commit changed, so that the
// other hosts of a datastore drop just those from their caches instead of
// everything. A host that commits the metadata generation `g` (even, after
// its commit) writes one record into the ring slot of `g`, naming the
// inodes, pointer blocks, bitmap entries and directory slots it wrote.
// A host whose caches reflect an older generation reads the records in
// between; a record it cannot trust (overwritten by a newer lap of the ring,
// never written because its host died, or flagged `all`) makes it drop every
// cache, as before there was a log. Lives in space the VMFS reader ignores
// (docs/FORMAT.md); it is a hint for caches, never needed for consistency.
import CRC32 from 'crc-32';
import { defineStruct } from '../util/struct.js';
import { ResourceKind } from './resourceFile.js';

export const CHANGE_LOG_OFFSET = 0x210000;
export const CHANGE_LOG_SLOTS = 256;
const SECTOR = 512;
const MAGIC = 0x6c637476; // 'vtcl'

export const changeRecordStruct = defineStruct('change record', 0x20, {
  magic: { offset: 0x00, type: 'u32' },
  generation: { offset: 0x04, type: 'u64' },
  flags: { offset: 0x0c, type: 'u32' },
  count: { offset: 0x10, type: 'u32' },
});
const changeKeyStruct = defineStruct('change key', 9, {
  kind: { offset: 0x00, type: 'u8' },
  a: { offset: 0x01, type: 'u32' },
  b: { offset: 0x05, type: 'u32' },
});
const CRC_AT = SECTOR - 4;
const MAX_KEYS = Math.floor((CRC_AT - changeRecordStruct.size) / changeKeyStruct.size);

export enum ChangeFlag {
  /** Trust nothing cached (a replayed commit, an overflowing record). */
  All = 1,
  /** The volume's geometry changed (an extent added or grown): reload it. */
  Geometry = 2,
}

export enum ChangeKind {
  Inode = 1,
  PointerBlock = 2,
  BitmapEntry = 3,
  DirSlot = 4,
}

const RESOURCE_ORDER = [ResourceKind.FileBlocks, ResourceKind.SubBlocks, ResourceKind.PointerBlocks, ResourceKind.Inodes];

/** One changed object: an inode or pointer block id, a resource's bitmap entry, a directory's slot. */
export type Change =
  | { kind: ChangeKind.Inode; id: number }
  | { kind: ChangeKind.PointerBlock; id: number }
  | { kind: ChangeKind.BitmapEntry; resource: ResourceKind; entry: number }
  | { kind: ChangeKind.DirSlot; dir: number; slot: number };

export interface ChangeRecord {
  generation: number;
  flags: number;
  changes: Change[];
}

function slotOffset(generation: number): number {
  return CHANGE_LOG_OFFSET + ((generation / 2) % CHANGE_LOG_SLOTS) * SECTOR;
}

export function encodeChangeRecord(r: ChangeRecord): Buffer {
  const buf = Buffer.alloc(SECTOR);
  const overflow = r.changes.length > MAX_KEYS;
  const changes = overflow ? [] : r.changes;
  changeRecordStruct.encodeInto({ magic: MAGIC, generation: r.generation, flags: r.flags | (overflow ? ChangeFlag.All : 0), count: changes.length }, buf);
  changes.forEach((c, i) => {
    const key =
      c.kind === ChangeKind.BitmapEntry
        ? { kind: c.kind, a: RESOURCE_ORDER.indexOf(c.resource), b: c.entry }
        : c.kind === ChangeKind.DirSlot
          ? { kind: c.kind, a: c.dir, b: c.slot }
          : { kind: c.kind, a: c.id, b: 0 };
    changeKeyStruct.encodeInto(key, buf, changeRecordStruct.size + i * changeKeyStruct.size);
  });
  buf.writeUInt32LE(CRC32.buf(buf.subarray(0, CRC_AT)) >>> 0, CRC_AT);
  return buf;
}

/** The record in `buf` if it is intact and for `generation`; null otherwise. */
export function decodeChangeRecord(buf: Buffer, generation: number): ChangeRecord | null {
  const h = changeRecordStruct.decode(buf);
  if (h.magic !== MAGIC || h.generation !== generation || h.count > MAX_KEYS) return null;
  if ((CRC32.buf(buf.subarray(0, CRC_AT)) >>> 0) !== buf.readUInt32LE(CRC_AT)) return null;
  const changes: Change[] = [];
  for (let i = 0; i < h.count; i++) {
    const k = changeKeyStruct.decode(buf, changeRecordStruct.size + i * changeKeyStruct.size);
    if (k.kind === ChangeKind.Inode) changes.push({ kind: k.kind, id: k.a });
    else if (k.kind === ChangeKind.PointerBlock) changes.push({ kind: k.kind, id: k.a });
    else if (k.kind === ChangeKind.BitmapEntry && k.a < RESOURCE_ORDER.length) changes.push({ kind: k.kind, resource: RESOURCE_ORDER[k.a], entry: k.b });
    else if (k.kind === ChangeKind.DirSlot) changes.push({ kind: k.kind, dir: k.a, slot: k.b });
    else return null;
  }
  return { generation, flags: h.flags, changes };
}

interface VolumeLike {
  read(buf: Uint8Array, offset: number): Promise<void>;
  write(buf: Uint8Array, offset: number): Promise<void>;
}

export async function writeChangeRecord(volume: VolumeLike, record: ChangeRecord): Promise<void> {
  await volume.write(encodeChangeRecord(record), slotOffset(record.generation));
}

/**
 * The records of the commits after `from` up to `to` (even generations), in
 * order; null when some of them cannot be trusted (the caller drops everything).
 */
export async function readChangesSince(volume: VolumeLike, from: number, to: number): Promise<ChangeRecord[] | null> {
  if (from % 2 !== 0 || to % 2 !== 0 || to < from || (to - from) / 2 > CHANGE_LOG_SLOTS) return null;
  const out: ChangeRecord[] = [];
  const buf = Buffer.alloc(SECTOR);
  for (let g = from + 2; g <= to; g += 2) {
    await volume.read(buf, slotOffset(g));
    const r = decodeChangeRecord(buf, g);
    if (!r || r.flags & ChangeFlag.All) return null;
    out.push(r);
  }
  return out;
}
