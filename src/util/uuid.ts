// VMFS UUIDs: 16 bytes (u32 seconds, u32 timestamp counter, u16 random,
// 6-byte MAC address), shown as %08x-%08x-%04x-%012x like VMware's tools do.
import { randomBytes } from 'node:crypto';

export const NULL_UUID = '00000000-00000000-0000-000000000000';

export function formatUuid(b: Uint8Array): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, 16);
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${hex(buf.readUInt32LE(0), 8)}-${hex(buf.readUInt32LE(4), 8)}-${hex(buf.readUInt16LE(8), 4)}-${buf.subarray(10, 16).toString('hex')}`;
}

const UUID_RE = /^([0-9a-f]{8})-([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{12})$/i;

export function parseUuid(s: string): Buffer {
  const m = UUID_RE.exec(s);
  if (!m) throw new Error(`not a VMFS UUID: ${s}`);
  const b = Buffer.alloc(16);
  b.writeUInt32LE(parseInt(m[1], 16), 0);
  b.writeUInt32LE(parseInt(m[2], 16), 4);
  b.writeUInt16LE(parseInt(m[3], 16), 8);
  Buffer.from(m[4], 'hex').copy(b, 10);
  return b;
}

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** A new UUID the way ESX makes them: creation time, a counter, random bits, and a (locally administered, random) MAC. */
export function newUuid(now = Date.now()): string {
  const b = randomBytes(16);
  b.writeUInt32LE(Math.floor(now / 1000) >>> 0, 0);
  b[10] = (b[10] | 0x02) & 0xfe; // locally administered unicast MAC
  return formatUuid(b);
}
