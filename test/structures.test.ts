// Every on-disk structure: encoding then decoding gives the same value, and
// fields land at the offsets the VMFS3 layout documents.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { heartbeatSlotStruct, freshHeartbeatRegion, HB_MAGIC_FREE, HEARTBEAT_SLOTS, slotOffset } from '../src/cluster/heartbeat.js';
import { LockMode, lockHeaderStruct } from '../src/cluster/lockHeader.js';
import * as blockId from '../src/fs/blockId.js';
import { dirEntryStruct } from '../src/fs/directory.js';
import { fsInfoStruct } from '../src/fs/fsInfo.js';
import { Inode, decodeInode, encodeInode } from '../src/fs/inode.js';
import { bitmapEntryStruct, decodeBitmapEntry, encodeBitmapEntry, freshBitmapEntry, resourceHeaderStruct, ResourceKind, popcountFree, setItemFree } from '../src/fs/resourceFile.js';
import { formatUuid, newUuid, parseUuid } from '../src/util/uuid.js';
import { lvmInfoStruct, volumeHeaderStruct } from '../src/volume/volumeHeader.js';
import { Struct, FieldDef } from '../src/util/struct.js';

const uuidArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatUuid(b));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

/** An arbitrary value for every field of a struct. */
function arbitraryFor<S extends Record<string, FieldDef>>(s: Struct<S>) {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, f] of Object.entries(s.fields)) {
    const t = f.type;
    if (t === 'u8') fields[k] = fc.integer({ min: 0, max: 255 });
    else if (t === 'u16') fields[k] = fc.integer({ min: 0, max: 0xffff });
    else if (t === 'u32') fields[k] = u32;
    else if (t === 'u64') fields[k] = u64;
    else if (t === 'uuid') fields[k] = uuidArb;
    else if ('bytes' in t) fields[k] = fc.uint8Array({ minLength: t.bytes, maxLength: t.bytes }).map((b) => Buffer.from(b));
    else fields[k] = fc.string({ maxLength: t.cstring - 1 }).filter((x) => Buffer.byteLength(x) < t.cstring && !x.includes('\0'));
  }
  return fc.record(fields) as fc.Arbitrary<never>;
}

const structs = [volumeHeaderStruct, lvmInfoStruct, fsInfoStruct, lockHeaderStruct, heartbeatSlotStruct, resourceHeaderStruct, bitmapEntryStruct, dirEntryStruct];

describe('on-disk structures round-trip', () => {
  for (const s of structs) {
    it(s.name, () => {
      fc.assert(
        fc.property(arbitraryFor(s), (v) => {
          const decoded = s.decode(s.encode(v));
          expect(decoded).toEqual(v);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('inode with lock header and 256 block ids', () => {
    fc.assert(
      fc.property(arbitraryFor(lockHeaderStruct), fc.uint32Array({ minLength: 256, maxLength: 256 }), u32, u64, (lock, blocks, nlink, size) => {
        const inode: Inode = {
          lock: { ...(lock as object), magic: 0x10c00001 } as Inode['lock'],
          id: 0x4,
          generation: 7,
          nlink,
          type: 3,
          flags: 0,
          size,
          blockSize: 2 ** 20,
          blockCount: 3,
          mtime: 1,
          ctime: 2,
          atime: 3,
          uid: 1000,
          gid: 100,
          mode: 0o644,
          zla: 1,
          tbz: 0,
          cow: 0,
          blocks: Uint32Array.from(blocks),
        };
        const buf = encodeInode(inode);
        expect(buf.length).toBe(0x800);
        expect(decodeInode(buf)).toEqual(inode);
        expect(buf.readUInt32LE(0x400 + 4 * 255)).toBe(blocks[255]);
      }),
      { numRuns: 100 },
    );
  });

  it('bitmap entry: set bit means free, counts follow', () => {
    const e = freshBitmapEntry(ResourceKind.FileBlocks, 3, 200, 0x1234);
    expect(e.free).toBe(200);
    setItemFree(e, 0, false);
    setItemFree(e, 5, false);
    expect(e.free).toBe(198);
    expect(e.firstFree).toBe(1);
    expect(popcountFree(e)).toBe(198);
    const buf = encodeBitmapEntry(e);
    expect(buf.readUInt32LE(0)).toBe(0x10c00002);
    expect(buf.readUInt32LE(0x200)).toBe(3);
    expect(buf[0x210] & 1).toBe(0);
    expect(buf[0x210] & 2).toBe(2);
    expect(decodeBitmapEntry(buf)).toEqual(e);
    // no bits past the entry's total
    expect(buf[0x210 + 25]).toBe(0);
  });

  it('field offsets match the documented layout', () => {
    const vh = volumeHeaderStruct.encode({ magic: 0xc001d00d, version: 3, lun: 0, name: '', totalBytes: 0, numPEs: 0, dataOffset: 0x1100000, deviceUuid: newUuid(), ctime: 0, mtime: 0 });
    expect(vh.readUInt32LE(0)).toBe(0xc001d00d);
    expect(vh.readUInt32LE(4)).toBe(3);
    const lvm = lvmInfoStruct.encode({ size: 2 ** 29, blocks: 4, uuidText: 'x', lvmUuid: '00000001-00000002-0003-040506070809', ctime: 0, numSegments: 2, firstSegment: 5, lastSegment: 6, mtime: 0, numExtents: 2 });
    expect(lvm.readUInt32LE(0x74)).toBe(2);
    expect(lvm.readUInt32LE(0x78)).toBe(5);
    expect(lvm.readUInt32LE(0x80)).toBe(6);
    expect(lvm.readUInt32LE(0x90)).toBe(2);
    expect([...lvm.subarray(0x54, 0x54 + 16)]).toEqual([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 4, 5, 6, 7, 8, 9]);
    const hb = freshHeartbeatRegion();
    expect(hb.length).toBe(HEARTBEAT_SLOTS * 512);
    for (const i of [0, 1, 2047]) {
      expect(hb.readUInt32LE(i * 512)).toBe(HB_MAGIC_FREE);
      expect(Number(hb.readBigUInt64LE(i * 512 + 4))).toBe(slotOffset(i));
    }
    const lh = lockHeaderStruct.decode(Buffer.alloc(512));
    expect(lh.mode).toBe(LockMode.Free);
  });

  it('UUID text form', () => {
    const b = Buffer.from([...Array(16).keys()].map((i) => 0x10 + i));
    expect(formatUuid(b)).toBe('13121110-17161514-1918-1a1b1c1d1e1f');
    expect(parseUuid('13121110-17161514-1918-1a1b1c1d1e1f')).toEqual(b);
    expect(() => parseUuid('nope')).toThrow(/not a VMFS UUID/);
  });
});

describe('the struct codec', () => {
  const s = new Struct('probe', 16, { a: { offset: 0, type: 'u64' }, b: { offset: 8, type: 'u64' } });

  it('u64: little-endian bytes for every safe integer, read back exactly', () => {
    fc.assert(
      fc.property(u64, (v) => {
        const buf = s.encode({ a: v, b: 0 });
        expect(buf.readBigUInt64LE(0)).toBe(BigInt(v));
        expect(s.decode(buf).a).toBe(v);
      }),
    );
  });

  it('u64: a value past 2^53 on disk (damage) reads as MAX_SAFE_INTEGER; larger integers still encode exactly; what is no u64 is refused', () => {
    const buf = Buffer.alloc(16);
    buf.writeBigUInt64LE(2n ** 53n, 0);
    buf.writeBigUInt64LE(2n ** 64n - 1n, 8);
    expect(s.decode(buf)).toEqual({ a: Number.MAX_SAFE_INTEGER, b: Number.MAX_SAFE_INTEGER });
    // One past a damaged value (fsck closes a generation read as MAX_SAFE_INTEGER) and other integer doubles.
    expect(s.encode({ a: Number.MAX_SAFE_INTEGER + 1, b: 2 ** 63 }).readBigUInt64LE(0)).toBe(2n ** 53n);
    expect(s.encode({ a: 0, b: 2 ** 63 }).readBigUInt64LE(8)).toBe(2n ** 63n);
    for (const bad of [-1, 1.5, 2 ** 64]) expect(() => s.encode({ a: bad, b: 0 })).toThrow(/probe\.a: .* is not a u64/);
  });
});

describe('block ids', () => {
  it('file blocks', () => {
    expect(blockId.fileBlockId(0)).toBe(1);
    expect(blockId.fileBlockId(4)).toBe(0x101);
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 26 - 1 }), (n) => blockId.fileBlockNumber(blockId.fileBlockId(n)) === n));
    expect(blockId.isTbz(blockId.fileBlockId(9, true))).toBe(true);
  });
  it('sub-blocks keep a 6-bit item split across the id', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 22 - 1 }), fc.integer({ min: 0, max: 63 }), (entry, item) => {
        const id = blockId.subBlockId({ entry, item });
        expect(blockId.blockType(id)).toBe(blockId.BlockType.SubBlock);
        expect(blockId.subBlockAddress(id)).toEqual({ entry, item });
      }),
    );
  });
  it('pointer blocks and inodes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 22 - 1 }), fc.integer({ min: 0, max: 15 }), (entry, item) => {
        expect(blockId.pointerBlockAddress(blockId.pointerBlockId({ entry, item }))).toEqual({ entry, item });
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 1023 }), (entry, item) => {
        expect(blockId.inodeAddress(blockId.inodeId({ entry, item }))).toEqual({ entry, item });
      }),
    );
    // the system files' well-known ids
    expect(blockId.inodeId({ entry: 0, item: 0 })).toBe(0x4);
    expect(blockId.inodeId({ entry: 0, item: 1 })).toBe(0x400004);
    expect(blockId.inodeId({ entry: 0, item: 5 })).toBe(0x1400004);
  });
});
