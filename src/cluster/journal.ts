// A host's metadata journal: a region of logical bytes (in file blocks that
// .vh.sf owns) holding checksummed records, each one transaction's writes.
// commit() appends the record, then applies the writes in place (the
// caller flushes when it wants them durable); checkpoint() flushes the
// in-place writes and moves the header past
// the applied records. replayJournal() re-applies, in order, every complete
// record after the checkpoint and stops at the first torn or stale one; it
// is idempotent. The host replays its own journal when it opens it; another
// host replays it when this host dies, before breaking its locks.
//
// A record may carry a tag (the file system's metadata generation when it was
// committed). On a datastore that several hosts change, replaying a record
// another host has since overwritten would undo its work; there, a dead
// host's journal replays only the record whose tag says it was cut short
// (replayJournal's `tag` option), so commits need no checkpoint each.
//
// Layout: sector 0 is the header; records follow, each a whole number of
// sectors: a 0x28-byte record header, then per write an 12-byte descriptor
// (offset u64, length u32) and the data. A journal carries a random nonce,
// so records left by an earlier journal in the same blocks never replay.
import { randomBytes } from 'node:crypto';
import CRC32 from 'crc-32';
import { VolumeError } from '../util/errors.js';
import { defineStruct } from '../util/struct.js';
import { Mutex } from '../util/mutex.js';
import { VolumeIO } from './volumeIo.js';

export interface JournalRegion {
  /** Logical offset of the region (sector-aligned). */
  offset: number;
  /** Bytes (a multiple of 512). */
  length: number;
}

/** One write of a transaction: the shape of the file system's MetaWrite. */
export interface JournalWrite {
  offset: number;
  data: Uint8Array;
}

/** Writes of the caller's to issue together with a commit's steps (`Journal.commit`). */
export interface Alongside {
  /** Issued with the record: done before the first in-place write starts. */
  record?: () => Promise<void>;
  /** Issued with the in-place writes. */
  apply?: () => Promise<void>;
}

const SECTOR = 512;
export const JOURNAL_MAGIC = 0x686a7476; // 'vtjh'
export const JOURNAL_RECORD_MAGIC = 0x726a7476; // 'vtjr'
const JOURNAL_VERSION = 2;

export const journalHeaderStruct = defineStruct('journal header', SECTOR, {
  magic: { offset: 0x00, type: 'u32' },
  version: { offset: 0x04, type: 'u32' },
  nonce: { offset: 0x08, type: 'u64' }, // random per journal: records of an earlier journal do not match
  length: { offset: 0x10, type: 'u32' }, // region bytes
  start: { offset: 0x14, type: 'u32' }, // region-relative offset of the first record not known applied
  nextSeq: { offset: 0x18, type: 'u64' }, // its sequence number
  crc: { offset: 0x1fc, type: 'u32' }, // crc-32 of bytes 0..0x1fc
});

export const journalRecordStruct = defineStruct('journal record header', 0x28, {
  magic: { offset: 0x00, type: 'u32' },
  nonce: { offset: 0x04, type: 'u64' },
  seq: { offset: 0x0c, type: 'u64' },
  count: { offset: 0x14, type: 'u32' }, // writes in the record
  bytes: { offset: 0x18, type: 'u32' }, // whole record, sector-aligned
  crc: { offset: 0x1c, type: 'u32' }, // crc-32 of the whole record with this field zero
  tag: { offset: 0x20, type: 'u64' }, // the committer's tag (0: none)
});

export const journalWriteStruct = defineStruct('journal write', 12, {
  offset: { offset: 0x00, type: 'u64' },
  length: { offset: 0x08, type: 'u32' },
});

const RECORD_CRC = 0x1c;

interface HeaderState {
  nonce: number;
  start: number;
  nextSeq: number;
}

function checkRegion(region: JournalRegion): void {
  if (region.offset % SECTOR !== 0 || region.length % SECTOR !== 0 || region.length < 2 * SECTOR || region.length > 0xffffffff) {
    throw new VolumeError(`journal region ${region.offset}+${region.length}: offset and length must be sector multiples, length at least 1 KiB`);
  }
}

function encodeHeader(region: JournalRegion, s: HeaderState): Buffer {
  const buf = journalHeaderStruct.encode({ magic: JOURNAL_MAGIC, version: JOURNAL_VERSION, nonce: s.nonce, length: region.length, start: s.start, nextSeq: s.nextSeq, crc: 0 });
  buf.writeUInt32LE(CRC32.buf(buf.subarray(0, 0x1fc)) >>> 0, 0x1fc);
  return buf;
}

/** The header's state, or null if the region holds no journal (never formatted, or damaged header). */
async function readHeader(volume: VolumeIO, region: JournalRegion): Promise<HeaderState | null> {
  const buf = Buffer.alloc(SECTOR);
  await volume.read(buf, region.offset);
  const h = journalHeaderStruct.decode(buf);
  if (h.magic !== JOURNAL_MAGIC || (CRC32.buf(buf.subarray(0, 0x1fc)) >>> 0) !== h.crc) return null;
  if (h.version !== JOURNAL_VERSION) throw new VolumeError(`journal at ${region.offset}: version ${h.version} is not supported`);
  if (h.length !== region.length) throw new VolumeError(`journal at ${region.offset}: its header says ${h.length} bytes, ${region.length} expected`);
  if (h.start < SECTOR || h.start > region.length || h.start % SECTOR !== 0) throw new VolumeError(`journal at ${region.offset}: damaged header (start ${h.start})`);
  return { nonce: h.nonce, start: h.start, nextSeq: h.nextSeq };
}

/** One record: its header, then each write's descriptor and bytes, padded to whole sectors (the lone journal writes them too). */
export function encodeRecord(nonce: number, seq: number, tag: number, writes: JournalWrite[]): Buffer {
  let size = journalRecordStruct.size;
  for (const w of writes) size += journalWriteStruct.size + w.data.length;
  const bytes = Math.ceil(size / SECTOR) * SECTOR;
  const buf = Buffer.alloc(bytes);
  journalRecordStruct.encodeInto({ magic: JOURNAL_RECORD_MAGIC, nonce, seq, count: writes.length, bytes, crc: 0, tag }, buf);
  let at = journalRecordStruct.size;
  for (const w of writes) {
    journalWriteStruct.encodeInto({ offset: w.offset, length: w.data.length }, buf, at);
    at += journalWriteStruct.size;
    buf.set(w.data, at);
    at += w.data.length;
  }
  buf.writeUInt32LE(CRC32.buf(buf) >>> 0, RECORD_CRC);
  return buf;
}

/** Reads the record at region-relative `pos`; null unless it is complete, valid, and the one expected. */
async function readRecord(volume: VolumeIO, region: JournalRegion, pos: number, nonce: number, seq: number): Promise<{ writes: JournalWrite[]; bytes: number; tag: number } | null> {
  const r = await readRecordAt(volume, region.offset + pos, region.length - pos);
  return r && r.nonce === nonce && r.seq === seq ? r : null;
}

export interface JournalRecord {
  nonce: number;
  seq: number;
  tag: number;
  writes: JournalWrite[];
  /** The record's length on disk. */
  bytes: number;
}

/** Reads the record at logical `offset`, within `room` bytes; null unless it is there whole (magic, bounds, CRC). */
export async function readRecordAt(volume: VolumeIO, offset: number, room: number): Promise<JournalRecord | null> {
  if (room < SECTOR) return null;
  const first = Buffer.alloc(SECTOR);
  await volume.read(first, offset);
  const r = journalRecordStruct.decode(first);
  if (r.magic !== JOURNAL_RECORD_MAGIC) return null;
  if (r.bytes < SECTOR || r.bytes % SECTOR !== 0 || r.bytes > room) return null;
  const rec = Buffer.alloc(r.bytes);
  first.copy(rec);
  if (r.bytes > SECTOR) await volume.read(rec.subarray(SECTOR), offset + SECTOR);
  rec.writeUInt32LE(0, RECORD_CRC);
  if ((CRC32.buf(rec) >>> 0) !== r.crc) return null; // torn: part of it never reached the disk
  const writes: JournalWrite[] = [];
  let at = journalRecordStruct.size;
  for (let i = 0; i < r.count; i++) {
    if (at + journalWriteStruct.size > rec.length) return null;
    const d = journalWriteStruct.decode(rec, at);
    at += journalWriteStruct.size;
    if (at + d.length > rec.length) return null;
    writes.push({ offset: d.offset, data: rec.subarray(at, at + d.length) });
    at += d.length;
  }
  return { nonce: r.nonce, seq: r.seq, tag: r.tag, writes, bytes: r.bytes };
}

export interface ReplayResult {
  /** Records re-applied. */
  records: number;
  /** Sequence number the next record will carry. */
  nextSeq: number;
}

/**
 * Re-applies every complete record after the journal's checkpoint, in order,
 * stopping at the first torn or stale one, then checkpoints past them.
 * With `tag`, re-applies only the records carrying that tag (the others are
 * known applied). Idempotent; a region that holds no journal replays nothing.
 */
export async function replayJournal(volume: VolumeIO, region: JournalRegion, options: { tag?: number } = {}): Promise<ReplayResult> {
  checkRegion(region);
  const h = await readHeader(volume, region);
  if (!h) return { records: 0, nextSeq: 1 };
  let pos = h.start;
  let seq = h.nextSeq;
  let records = 0;
  for (;;) {
    const rec = await readRecord(volume, region, pos, h.nonce, seq);
    if (!rec) break;
    if (options.tag === undefined || rec.tag === options.tag) {
      for (const w of rec.writes) await volume.write(w.data, w.offset);
      records++;
    }
    pos += rec.bytes;
    seq++;
  }
  if (pos !== h.start) {
    await volume.flush();
    await volume.write(encodeHeader(region, { nonce: h.nonce, start: pos, nextSeq: seq }), region.offset);
    await volume.flush();
  }
  return { records, nextSeq: seq };
}

export class Journal {
  private dirty = false;
  /** Commits and checkpoints from concurrent callers go one at a time: they share the tail. */
  private readonly turns = new Mutex();

  private constructor(
    private readonly volume: VolumeIO,
    readonly region: JournalRegion,
    private readonly nonce: number,
    private tail: number,
    private seq: number,
  ) {}

  /** Starts an empty journal in `region` (whatever it held is forgotten). */
  static async format(volume: VolumeIO, region: JournalRegion): Promise<Journal> {
    checkRegion(region);
    const nonce = randomBytes(6).readUIntLE(0, 6);
    await volume.write(encodeHeader(region, { nonce, start: SECTOR, nextSeq: 1 }), region.offset);
    await volume.flush();
    return new Journal(volume, region, nonce, SECTOR, 1);
  }

  /** Opens this host's journal: replays what it holds first; formats a region that holds none. */
  static async open(volume: VolumeIO, region: JournalRegion): Promise<{ journal: Journal; replayed: number }> {
    checkRegion(region);
    const { records } = await replayJournal(volume, region);
    const h = await readHeader(volume, region);
    if (!h) return { journal: await Journal.format(volume, region), replayed: 0 };
    return { journal: new Journal(volume, region, h.nonce, h.start, h.nextSeq), replayed: records };
  }

  /**
   * Logs one transaction's writes, then applies them in place. `tag` goes
   * with the record (see replayJournal). The record's write has returned
   * before the first in-place write starts, so a host that dies midway leaves
   * it whole for replay; making it durable (against power loss) is the
   * caller's flush, after the commit.
   *
   * `alongside` lets the caller put writes of its own beside each step
   * (`record` beside the record, `apply` beside the in-place writes) where
   * their order within the step does not matter: over a network each step
   * is one round trip, and a commit is made of them.
   */
  commit(writes: JournalWrite[], tag = 0, alongside: Alongside = {}): Promise<void> {
    return this.turns.run(() => this.append(writes, tag, alongside));
  }

  private async append(writes: JournalWrite[], tag: number, alongside: Alongside): Promise<void> {
    if (writes.length === 0) {
      await alongside.record?.();
      await alongside.apply?.();
      return;
    }
    const rec = encodeRecord(this.nonce, this.seq, tag, writes);
    if (rec.length > this.region.length - SECTOR) {
      throw new VolumeError(`a transaction of ${rec.length} bytes does not fit the ${this.region.length}-byte journal`);
    }
    if (this.tail + rec.length > this.region.length) await this.writeCheckpoint(SECTOR); // wrap: everything before is applied
    await Promise.all([this.volume.write(rec, this.region.offset + this.tail), alongside.record?.()]);
    this.tail += rec.length;
    this.seq++;
    this.dirty = true;
    // The record is complete: its writes may go in any order, so all at once.
    await Promise.all([...writes.map((w) => this.volume.write(w.data, w.offset)), alongside.apply?.()]);
  }

  /** Makes the in-place writes durable and marks every record applied (on unmount, before the journal's block goes back). */
  checkpoint(): Promise<void> {
    return this.turns.run(async () => {
      if (this.dirty) await this.writeCheckpoint(this.tail);
    });
  }

  private async writeCheckpoint(start: number): Promise<void> {
    await this.volume.flush();
    await this.volume.write(encodeHeader(this.region, { nonce: this.nonce, start, nextSeq: this.seq }), this.region.offset);
    await this.volume.flush();
    this.tail = start;
    this.dirty = false;
  }
}
