// Table-driven codec for on-disk structures: each structure is declared once,
// with the offset and type of every field, and the same table both encodes
// and decodes it. Integers are little-endian, as everywhere in VMFS.
import { formatUuid, parseUuid } from './uuid.js';

export type FieldType =
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64'
  | 'uuid' // 16 bytes, shown as VMFS's text form
  | { bytes: number } // raw bytes
  | { cstring: number }; // NUL-padded text of at most n-1 bytes

export interface FieldDef {
  offset: number;
  type: FieldType;
}

type ValueOf<T extends FieldType> = T extends 'u8' | 'u16' | 'u32' | 'u64'
  ? number
  : T extends 'uuid'
    ? string
    : T extends { bytes: number }
      ? Buffer
      : string;

export type Decoded<S extends Record<string, FieldDef>> = { [K in keyof S]: ValueOf<S[K]['type']> };

export function fieldSize(t: FieldType): number {
  if (t === 'u8') return 1;
  if (t === 'u16') return 2;
  if (t === 'u32') return 4;
  if (t === 'u64') return 8;
  if (t === 'uuid') return 16;
  return 'bytes' in t ? t.bytes : t.cstring;
}

/** A field as the codec walks it: worked out once per structure, not on every call. */
interface Step {
  key: string;
  offset: number;
  type: FieldType;
  what: string;
}

export class Struct<S extends Record<string, FieldDef>> {
  private readonly steps: Step[];

  constructor(
    readonly name: string,
    readonly size: number,
    readonly fields: S,
  ) {
    this.steps = Object.entries(fields).map(([key, f]) => ({ key, offset: f.offset, type: f.type, what: `${name}.${key}` }));
    for (const s of this.steps) {
      if (s.offset + fieldSize(s.type) > size) throw new Error(`${s.what} lies outside the ${size}-byte structure`);
    }
  }

  decode(buf: Uint8Array, base = 0): Decoded<S> {
    const b = asBuffer(buf);
    const out: Record<string, unknown> = {};
    for (const s of this.steps) out[s.key] = readField(b, base + s.offset, s.type);
    return out as Decoded<S>;
  }

  /** Writes every field of `value` into `buf` at `base`; bytes not covered by a field are left alone. */
  encodeInto(value: Decoded<S>, buf: Uint8Array, base = 0): void {
    const b = asBuffer(buf);
    for (const s of this.steps) writeField(b, base + s.offset, s.type, (value as Record<string, unknown>)[s.key], s.what);
  }

  encode(value: Decoded<S>): Buffer {
    const buf = zeroedBuffer(this.size);
    this.encodeInto(value, buf);
    return buf;
  }
}

/**
 * A zero-filled buffer. Small ones come from Node's shared pool: Buffer.alloc
 * gives each its own backing store, which costs more than the zeroing on the
 * paths that encode a few structures per operation.
 */
export function zeroedBuffer(size: number): Buffer {
  return Buffer.allocUnsafe(size).fill(0);
}

function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

const TWO_32 = 2 ** 32;
const TWO_64 = 2 ** 64;

export function defineStruct<S extends Record<string, FieldDef>>(name: string, size: number, fields: S): Struct<S> {
  return new Struct(name, size, fields);
}

function readField(b: Buffer, at: number, t: FieldType): unknown {
  switch (t) {
    case 'u8':
      return b.readUInt8(at);
    case 'u16':
      return b.readUInt16LE(at);
    case 'u32':
      return b.readUInt32LE(at);
    case 'u64': {
      // Offsets and counts on disk fit in 53 bits; larger values only come from damage.
      const high = b.readUInt32LE(at + 4);
      return high < 0x200000 ? high * TWO_32 + b.readUInt32LE(at) : Number.MAX_SAFE_INTEGER;
    }
    case 'uuid':
      return formatUuid(b.subarray(at, at + 16));
    default:
      if ('bytes' in t) return Buffer.from(b.subarray(at, at + t.bytes));
      {
        const raw = b.subarray(at, at + t.cstring);
        const nul = raw.indexOf(0);
        return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
      }
  }
}

function writeField(b: Buffer, at: number, t: FieldType, v: unknown, what: string): void {
  switch (t) {
    case 'u8':
      b.writeUInt8(Number(v), at);
      return;
    case 'u16':
      b.writeUInt16LE(Number(v), at);
      return;
    case 'u32':
      b.writeUInt32LE(Number(v) >>> 0, at);
      return;
    case 'u64': {
      // Any integer double below 2^64 splits exactly (a remainder and a division by a power of two).
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n >= TWO_64) throw new Error(`${what}: ${v} is not a u64`);
      b.writeUInt32LE(n % TWO_32, at);
      b.writeUInt32LE(Math.floor(n / TWO_32), at + 4);
      return;
    }
    case 'uuid':
      parseUuid(String(v)).copy(b, at);
      return;
    default:
      if ('bytes' in t) {
        const src = v as Uint8Array;
        if (src.length !== t.bytes) throw new Error(`${what}: expected ${t.bytes} bytes, got ${src.length}`);
        b.set(src, at);
        return;
      }
      {
        const s = Buffer.from(String(v), 'utf8');
        if (s.length >= t.cstring) throw new Error(`${what}: text longer than ${t.cstring - 1} bytes`);
        b.fill(0, at, at + t.cstring);
        s.copy(b, at);
      }
  }
}
