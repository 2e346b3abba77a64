// The .vmsn saved-state container: a fixed header (magic, version, sizes,
// CRC-32 of everything after it), a JSON document (the MachineState with
// every typed array replaced by a reference {"$blob": i}, plus what the
// runner needs: the disk layer, the tick count, the config it ran with), a
// table of blobs, and the blobs themselves. Large byte arrays (the physical
// memory) are stored sparsely: only their non-zero 4 KiB pages. Decoding
// checks every size and offset against the file before touching it.
import { crc32 } from 'node:zlib';
import { Struct } from '../util/struct.js';
import { VmError } from './errors.js';

export const VMSN_MAGIC = 'NACHVMSN';
export const VMSN_VERSION = 1;
/** Largest .vmsn read: memory (256 MiB at most) plus a margin. */
export const MAX_VMSN_BYTES = 300 << 20;
const PAGE = 4096;

const Header = new Struct('VmsnHeader', 32, {
  magic: { offset: 0, type: { bytes: 8 } },
  version: { offset: 8, type: 'u32' },
  metaLength: { offset: 12, type: 'u32' },
  blobCount: { offset: 16, type: 'u32' },
  crc: { offset: 20, type: 'u32' },
  payloadLength: { offset: 24, type: 'u64' },
});

/** One entry of the blob table (after the JSON): where a typed array's bytes are. */
const BlobEntry = new Struct('VmsnBlob', 24, {
  kind: { offset: 0, type: 'u32' },
  /** 1: sparse (a page count, page numbers, then the non-zero pages). */
  sparse: { offset: 4, type: 'u32' },
  /** Bytes of the array once decoded. */
  length: { offset: 8, type: 'u64' },
  /** Where its stored bytes start and how many, from the start of the blob area. */
  offset: { offset: 16, type: 'u32' },
  stored: { offset: 20, type: 'u32' },
});

const KINDS = [Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float64Array] as const;
type Typed = InstanceType<(typeof KINDS)[number]>;

export interface SavedState {
  /** The machine (Machine.save()), or null for a powered-off snapshot. */
  machine: unknown;
  /** The disk layer the state belongs to (frozen by the snapshot). */
  disk: string;
  ticks: number;
  memMiB: number;
}

export function encodeVmsn(state: SavedState): Uint8Array {
  const blobs: Typed[] = [];
  const json = JSON.stringify(state, (_k, v: unknown) => {
    if (ArrayBuffer.isView(v)) {
      blobs.push(v as Typed);
      return { $blob: blobs.length - 1 };
    }
    if (v === Infinity) return { $inf: 1 };
    return v;
  });
  const meta = new TextEncoder().encode(json);
  const stored = blobs.map(storeBlob);
  const tableAt = Header.size + meta.length;
  const areaAt = tableAt + blobs.length * BlobEntry.size;
  const total = areaAt + stored.reduce((n, s) => n + s.bytes.length, 0);
  const out = new Uint8Array(total);
  out.set(meta, Header.size);
  let at = 0;
  stored.forEach((s, i) => {
    BlobEntry.encodeInto({ kind: s.kind, sparse: s.sparse ? 1 : 0, length: s.length, offset: at, stored: s.bytes.length }, out, tableAt + i * BlobEntry.size);
    out.set(s.bytes, areaAt + at);
    at += s.bytes.length;
  });
  Header.encodeInto(
    { magic: Buffer.from(VMSN_MAGIC), version: VMSN_VERSION, metaLength: meta.length, blobCount: blobs.length, crc: crc32(out.subarray(Header.size)), payloadLength: total - Header.size },
    out,
  );
  return out;
}

function storeBlob(a: Typed): { kind: number; sparse: boolean; length: number; bytes: Uint8Array } {
  const kind = KINDS.findIndex((K) => a instanceof K);
  if (kind < 0) throw new Error('vmsn: unsupported array type in the machine state');
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (bytes.length < 16 * PAGE || bytes.length % PAGE !== 0) return { kind, sparse: false, length: bytes.length, bytes: bytes.slice() };
  const pages: number[] = [];
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  for (let p = 0; p < bytes.length / PAGE; p++) {
    for (let w = (p * PAGE) >> 2, end = w + PAGE / 4; w < end; w++) {
      if (words[w] !== 0) {
        pages.push(p);
        break;
      }
    }
  }
  const out = new Uint8Array(4 + pages.length * 4 + pages.length * PAGE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, pages.length, true);
  pages.forEach((p, i) => {
    dv.setUint32(4 + i * 4, p, true);
    out.set(bytes.subarray(p * PAGE, (p + 1) * PAGE), 4 + pages.length * 4 + i * PAGE);
  });
  return { kind, sparse: true, length: bytes.length, bytes: out };
}

export function decodeVmsn(file: Uint8Array, what: string): SavedState {
  const bad = (why: string) => new VmError(`${what}: not a usable saved state (${why})`);
  if (file.length < Header.size) throw bad('shorter than its header');
  const h = Header.decode(file);
  if (Buffer.from(h.magic).toString('latin1') !== VMSN_MAGIC) throw bad('bad magic');
  if (h.version !== VMSN_VERSION) throw bad(`version ${h.version}, this runner reads ${VMSN_VERSION}`);
  if (h.payloadLength !== file.length - Header.size) throw bad(`the header says ${h.payloadLength} bytes follow, the file has ${file.length - Header.size}`);
  if (crc32(file.subarray(Header.size)) !== h.crc) throw bad('checksum mismatch');
  const tableAt = Header.size + h.metaLength;
  const areaAt = tableAt + h.blobCount * BlobEntry.size;
  if (h.blobCount > 10000 || areaAt > file.length) throw bad('the blob table runs past the end');
  const blobs: Typed[] = [];
  for (let i = 0; i < h.blobCount; i++) {
    const e = BlobEntry.decode(file, tableAt + i * BlobEntry.size);
    const K = KINDS[e.kind];
    if (!K || e.offset + e.stored > file.length - areaAt || e.length > MAX_VMSN_BYTES || e.length % K.BYTES_PER_ELEMENT !== 0) throw bad(`blob ${i} is out of bounds`);
    const src = file.subarray(areaAt + e.offset, areaAt + e.offset + e.stored);
    const bytes = new Uint8Array(e.length);
    if (e.sparse) {
      const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      const n = src.length >= 4 ? dv.getUint32(0, true) : -1;
      if (n < 0 || 4 + n * (4 + PAGE) !== src.length) throw bad(`blob ${i}: bad page list`);
      for (let j = 0; j < n; j++) {
        const p = dv.getUint32(4 + j * 4, true);
        if ((p + 1) * PAGE > e.length) throw bad(`blob ${i}: page ${p} outside the array`);
        bytes.set(src.subarray(4 + n * 4 + j * PAGE, 4 + n * 4 + (j + 1) * PAGE), p * PAGE);
      }
    } else {
      if (e.stored !== e.length) throw bad(`blob ${i}: stored size differs`);
      bytes.set(src);
    }
    blobs.push(new K(bytes.buffer));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(Header.size, tableAt)), (_k, v: unknown) => {
      if (v && typeof v === 'object' && '$blob' in v) {
        const b = blobs[(v as { $blob: number }).$blob];
        if (!b) throw bad('a reference to a missing blob');
        return b;
      }
      if (v && typeof v === 'object' && '$inf' in v) return Infinity;
      return v;
    });
  } catch (e) {
    if (e instanceof VmError) throw e;
    throw bad('its description is not valid JSON');
  }
  const s = parsed as Partial<SavedState> | null;
  if (!s || typeof s !== 'object' || typeof s.disk !== 'string' || !Number.isSafeInteger(s.ticks) || !Number.isInteger(s.memMiB) || typeof s.machine !== 'object') {
    throw bad('its description lacks the disk, ticks, memory size or machine');
  }
  return s as SavedState;
}
