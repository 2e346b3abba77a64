// The hosted sparse format as we write it: the same layout as VMware's and
// qemu's, grains allocated on first write in both grain tables, CIDs and the
// unclean-shutdown flag kept as VMware keeps them.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDescriptor } from '../../src/vdisk/descriptor.js';
import { sparseHeader } from '../../src/vdisk/sparseExtent.js';
import { createDisk, openDisk } from '../../src/vdisk/virtualDisk.js';
import { hasQemu, MemoryFolder, must, tempFolder } from './helpers.js';

const MiB = 2 ** 20;

function embeddedDescriptor(file: Buffer) {
  const h = sparseHeader.decode(file);
  const area = file.subarray(h.descriptorOffset * 512, (h.descriptorOffset + h.descriptorSize) * 512);
  return parseDescriptor(area.subarray(0, area.indexOf(0)).toString(), 'test');
}

describe('hosted sparse layout', () => {
  let t: ReturnType<typeof tempFolder>;
  beforeEach(() => {
    t = tempFolder();
  });
  afterEach(() => t.cleanup());

  it.skipIf(!hasQemu && !process.env.CI).each([1 * MiB, 32 * MiB, 33 * MiB, 100 * MiB, 3 * 1024 * MiB])('matches the header and size qemu writes for %d bytes', async (size) => {
    must('qemu-img', ['create', '-q', '-f', 'vmdk', 'q.vmdk', String(size)], t.dir);
    await (await createDisk(t.folder, 'o.vmdk', { size, type: 'thin' })).close();
    const q = sparseHeader.decode(readFileSync(join(t.dir, 'q.vmdk')));
    const o = sparseHeader.decode(readFileSync(join(t.dir, 'o.vmdk')));
    expect(o).toEqual(q);
    expect(statSync(join(t.dir, 'o.vmdk')).size).toBe(statSync(join(t.dir, 'q.vmdk')).size);
  });

  it('writes the header fields VMware defines, at their offsets', async () => {
    await (await createDisk(t.folder, 'h.vmdk', { size: 100 * MiB, type: 'thin' })).close();
    const b = readFileSync(join(t.dir, 'h.vmdk'));
    expect(b.subarray(0, 4).toString('latin1')).toBe('KDMV');
    expect(b.readUInt32LE(4)).toBe(1); // version
    expect(b.readUInt32LE(8)).toBe(3); // newline test + redundant grain tables
    expect(Number(b.readBigUInt64LE(12))).toBe(204800); // capacity in sectors
    expect(Number(b.readBigUInt64LE(20))).toBe(128); // 64 KiB grains
    expect(Number(b.readBigUInt64LE(28))).toBe(1); // descriptor at sector 1
    expect(Number(b.readBigUInt64LE(36))).toBe(20); // ... for 20 sectors
    expect(b.readUInt32LE(44)).toBe(512); // entries per grain table
    expect(Number(b.readBigUInt64LE(48))).toBe(21); // redundant GD right after the descriptor
    expect(Number(b.readBigUInt64LE(56))).toBe(21 + 1 + 4 * 4); // GD after the redundant GD and its 4 tables
    expect(Number(b.readBigUInt64LE(64))).toBe(128); // first grain
    expect([...b.subarray(72, 77)]).toEqual([0, 0x0a, 0x20, 0x0d, 0x0a]);
    // Each directory points at its own, preallocated tables.
    for (let i = 0; i < 4; i++) {
      expect(b.readUInt32LE(21 * 512 + i * 4)).toBe(22 + i * 4);
      expect(b.readUInt32LE(38 * 512 + i * 4)).toBe(39 + i * 4);
    }
    const d = embeddedDescriptor(b);
    expect(d.createType).toBe('monolithicSparse');
    expect(d.extents).toEqual([{ access: 'RW', sectors: 204800, type: 'SPARSE', file: 'h.vmdk', offset: 0 }]);
    expect(d.hasParent).toBe(false);
  });

  it('allocates whole grains on first write and records them in both grain tables', async () => {
    const d = await createDisk(t.folder, 'a.vmdk', { size: 10 * MiB, type: 'thin' });
    const path = join(t.dir, 'a.vmdk');
    const start = statSync(path).size;
    await d.write(Buffer.from([1]), 3 * 65536 + 100); // grain 3
    expect(statSync(path).size).toBe(start + 65536);
    await d.write(Buffer.alloc(100, 2), 3 * 65536 + 200); // same grain: no growth
    expect(statSync(path).size).toBe(start + 65536);
    await d.write(Buffer.alloc(2 * 65536, 3), 7 * 65536); // grains 7 and 8, together
    expect(statSync(path).size).toBe(start + 3 * 65536);
    expect(await d.allocatedBytes()).toBe(start + 3 * 65536);
    expect(await d.blockStatus(0, 10 * MiB)).toEqual({ allocated: false, length: 3 * 65536 });
    expect(await d.blockStatus(3 * 65536, 10 * MiB - 3 * 65536)).toEqual({ allocated: true, length: 65536 });
    await d.close();
    const b = readFileSync(path);
    const h = sparseHeader.decode(b);
    const gt = b.readUInt32LE(h.gdOffset * 512);
    const rgt = b.readUInt32LE(h.rgdOffset * 512);
    const first = start / 512;
    for (const [g, sector] of [
      [3, first],
      [7, first + 128],
      [8, first + 256],
      [0, 0],
      [4, 0],
    ]) {
      expect(b.readUInt32LE(gt * 512 + g * 4)).toBe(sector);
      expect(b.readUInt32LE(rgt * 512 + g * 4)).toBe(sector);
    }
    expect(b[start + 100]).toBe(1);
    expect(b[start + 200]).toBe(2);
    expect(b[start + 65536 + 5]).toBe(3);
  });

  it('takes a new CID on the first write after each open, and sets uncleanShutdown while writing', async () => {
    const folder = new MemoryFolder();
    const d = await createDisk(folder, 'c.vmdk', { size: MiB, type: 'thin' });
    const cid0 = embeddedDescriptor(folder.bytes('c.vmdk')).cid;
    await d.write(Buffer.from([1]), 0);
    const cid1 = embeddedDescriptor(folder.bytes('c.vmdk')).cid;
    expect(cid1).not.toBe(cid0);
    expect(d.descriptor.cid).toBe(cid1);
    expect(sparseHeader.decode(folder.bytes('c.vmdk')).uncleanShutdown).toBe(1);
    await d.write(Buffer.from([2]), 1);
    expect(embeddedDescriptor(folder.bytes('c.vmdk')).cid).toBe(cid1);
    await d.close();
    expect(sparseHeader.decode(folder.bytes('c.vmdk')).uncleanShutdown).toBe(0);
    // Opened again: reads keep the CID, the first write changes it.
    const r = await openDisk(folder, 'c.vmdk', { write: true });
    await r.read(Buffer.alloc(10), 0);
    expect(embeddedDescriptor(folder.bytes('c.vmdk')).cid).toBe(cid1);
    await r.write(Buffer.from([3]), 2);
    expect(embeddedDescriptor(folder.bytes('c.vmdk')).cid).not.toBe(cid1);
    await r.close();
    const ro = await openDisk(folder, 'c.vmdk', { write: false });
    expect(ro.readOnly).toBe(true);
    await expect(ro.write(Buffer.from([1]), 0)).rejects.toThrow('mem:/c.vmdk: opened read-only');
    const back = Buffer.alloc(4);
    await ro.read(back, 0);
    expect([...back]).toEqual([1, 2, 3, 0]);
    await ro.close();
  });

  it('keeps concurrent writes into the same new grain', async () => {
    const folder = new MemoryFolder();
    const d = await createDisk(folder, 'w.vmdk', { size: MiB, type: 'thin' });
    const size = folder.bytes('w.vmdk').length;
    await Promise.all([0, 1, 2, 3].map((i) => d.write(Buffer.alloc(100, i + 1), 65536 + i * 1000)));
    expect(folder.bytes('w.vmdk').length).toBe(size + 65536);
    const b = Buffer.alloc(4000);
    await d.read(b, 65536);
    for (let i = 0; i < 4; i++) expect(b[i * 1000]).toBe(i + 1);
    await d.close();
  });

  it('refuses reads and writes outside the capacity', async () => {
    const d = await createDisk(new MemoryFolder(), 'r.vmdk', { size: MiB, type: 'thin' });
    await expect(d.read(Buffer.alloc(2), MiB - 1)).rejects.toThrow('mem:/r.vmdk: read of 2 bytes at 1048575 is outside the disk (1048576 bytes)');
    await expect(d.write(Buffer.alloc(1), -1)).rejects.toThrow('mem:/r.vmdk: write of 1 bytes at -1 is outside the disk (1048576 bytes)');
    await d.close();
    await expect(d.read(Buffer.alloc(1), 0)).rejects.toThrow('mem:/r.vmdk: disk already closed');
  });
});
