// Interoperability with qemu: qemu-img must accept our VMDKs and read our
// bytes, and we must read the bytes qemu reads from VMDKs qemu made.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskError } from '../../src/vdisk/errors.js';
import { snapshotDisk } from '../../src/vdisk/operations.js';
import { createDisk, openDisk, type VirtualDisk } from '../../src/vdisk/virtualDisk.js';
import { hasQemu, must, pattern, rng, run, tempFolder } from './helpers.js';

const MiB = 2 ** 20;

async function randomWrites(disk: VirtualDisk, model: Buffer, seed: number, count: number, maxLen: number): Promise<void> {
  const r = rng(seed);
  for (let i = 0; i < count; i++) {
    const len = 1 + r(maxLen);
    const off = r(disk.capacity - len + 1);
    const data = pattern(len, seed * 1000 + i);
    await disk.write(data, off);
    data.copy(model, off);
  }
}

async function readAll(disk: VirtualDisk): Promise<Buffer> {
  const b = Buffer.alloc(disk.capacity);
  await disk.read(b, 0);
  return b;
}

describe.skipIf(!hasQemu && !process.env.CI)('qemu interoperability', () => {
  let t: ReturnType<typeof tempFolder>;
  beforeEach(() => {
    t = tempFolder();
  });
  afterEach(() => t.cleanup());

  /** qemu-img check passes, and qemu reads exactly `model` (convert to raw and compare). */
  function qemuSees(name: string, model: Buffer): void {
    const check = run('qemu-img', ['check', name], t.dir);
    expect(check.stdout + check.stderr).toContain('No errors were found on the image.');
    expect(check.status).toBe(0);
    must('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', name, 'qemu.raw'], t.dir);
    expect(readFileSync(join(t.dir, 'qemu.raw')).equals(model)).toBe(true);
    writeFileSync(join(t.dir, 'model.raw'), model);
    const cmp = run('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', name, 'model.raw'], t.dir);
    expect(cmp.stdout).toContain('Images are identical.');
    expect(cmp.status).toBe(0);
  }

  it('accepts our thin disk after random writes, and reads our bytes', async () => {
    const cap = 40 * MiB + 512 * 7; // a partial last grain, and two grain tables
    const model = Buffer.alloc(cap);
    const d = await createDisk(t.folder, 'thin.vmdk', { size: cap, type: 'thin' });
    await randomWrites(d, model, 1, 60, 300_000);
    await d.write(pattern(4000, 9), cap - 4000); // the last, partial grain
    pattern(4000, 9).copy(model, cap - 4000);
    await d.close();
    qemuSees('thin.vmdk', model);
    const info = JSON.parse(must('qemu-img', ['info', '--output=json', 'thin.vmdk'], t.dir));
    expect(info['virtual-size']).toBe(cap);
    expect(info['format-specific'].data['create-type']).toBe('monolithicSparse');
    expect(info['cluster-size']).toBe(65536);
  });

  it('accepts our thick disk after random writes', async () => {
    const cap = 8 * MiB;
    const model = Buffer.alloc(cap);
    const d = await createDisk(t.folder, 'thick.vmdk', { size: cap, type: 'thick' });
    await randomWrites(d, model, 2, 40, 200_000);
    await d.close();
    qemuSees('thick.vmdk', model);
    const info = JSON.parse(must('qemu-img', ['info', '--output=json', 'thick.vmdk'], t.dir));
    expect(info['format-specific'].data['create-type']).toBe('monolithicFlat');
  });

  it('accepts our chain of three deltas on a thin base', async () => {
    const cap = 16 * MiB;
    const model = Buffer.alloc(cap);
    const base = await createDisk(t.folder, 'vm.vmdk', { size: cap, type: 'thin' });
    await randomWrites(base, model, 3, 30, 200_000);
    await base.close();
    let top = 'vm.vmdk';
    const frozen: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      frozen.push(Buffer.from(model));
      top = await snapshotDisk(t.folder, top);
      const d = await openDisk(t.folder, top, { write: true });
      await randomWrites(d, model, 10 + i, 25, 100_000);
      await d.close();
    }
    expect(top).toBe('vm-000003.vmdk');
    qemuSees(top, model);
    // Every frozen layer still reads as it was when frozen.
    for (const [i, name] of ['vm.vmdk', 'vm-000001.vmdk', 'vm-000002.vmdk'].entries()) {
      must('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', name, `layer${i}.raw`], t.dir);
      expect(readFileSync(join(t.dir, `layer${i}.raw`)).equals(frozen[i])).toBe(true);
    }
    const chain = JSON.parse(must('qemu-img', ['info', '--backing-chain', '--output=json', top], t.dir));
    expect(chain.map((c: { filename: string }) => c.filename)).toEqual(['vm-000003.vmdk', 'vm-000002.vmdk', 'vm-000001.vmdk', 'vm.vmdk']);
  });

  it('accepts a delta on our thick disk', async () => {
    const cap = 4 * MiB;
    const model = Buffer.alloc(cap);
    const d = await createDisk(t.folder, 'flat.vmdk', { size: cap, type: 'thick' });
    await randomWrites(d, model, 4, 10, 100_000);
    await d.close();
    const delta = await snapshotDisk(t.folder, 'flat.vmdk');
    const top = await openDisk(t.folder, delta, { write: true });
    await randomWrites(top, model, 5, 10, 100_000);
    await top.close();
    qemuSees(delta, model);
  });

  it('reads qemu-made sparse disks and chains exactly as qemu does', async () => {
    const cap = 12 * MiB;
    must('qemu-img', ['create', '-q', '-f', 'vmdk', 'base.vmdk', String(cap)], t.dir);
    must('qemu-io', ['-c', 'write -P 0xab 0 70000', '-c', `write -P 0x11 ${5 * MiB + 3000} 200000`, '-c', `write -P 0x22 ${cap - 512} 512`, 'base.vmdk'], t.dir);
    must('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', 'child.vmdk'], t.dir);
    must('qemu-io', ['-c', 'write -P 0xcd 60000 20000', '-c', `write -P 0x33 ${9 * MiB} 65536`, 'child.vmdk'], t.dir);
    // An absolute parent path inside the same folder is accepted too.
    must('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', join(t.dir, 'child.vmdk'), '-F', 'vmdk', 'grandchild.vmdk'], t.dir);
    must('qemu-io', ['-c', 'write -P 0xef 100 1000', '-c', `write -P 0x44 ${5 * MiB} 10000`, 'grandchild.vmdk'], t.dir);

    const expected = Buffer.alloc(cap);
    const put = (byte: number, off: number, len: number) => expected.fill(byte, off, off + len);
    put(0xab, 0, 70000);
    put(0x11, 5 * MiB + 3000, 200000);
    put(0x22, cap - 512, 512);
    put(0xcd, 60000, 20000);
    put(0x33, 9 * MiB, 65536);
    put(0xef, 100, 1000);
    put(0x44, 5 * MiB, 10000);
    must('qemu-img', ['convert', '-O', 'raw', 'grandchild.vmdk', 'q.raw'], t.dir);
    expect(readFileSync(join(t.dir, 'q.raw')).equals(expected)).toBe(true);

    const d = await openDisk(t.folder, 'grandchild.vmdk', { write: false });
    expect(d.chain.map((l) => l.name)).toEqual(['grandchild.vmdk', 'child.vmdk', 'base.vmdk']);
    expect((await readAll(d)).equals(expected)).toBe(true);
    // Unaligned small reads across grain and layer boundaries.
    const r = rng(77);
    for (let i = 0; i < 200; i++) {
      const len = 1 + r(150_000);
      const off = r(cap - len + 1);
      const b = Buffer.alloc(len);
      await d.read(b, off);
      expect(b.equals(expected.subarray(off, off + len))).toBe(true);
    }
    await d.close();
  });

  it('reads and writes zeroed grains (qemu zeroed_grain=on) in a delta', async () => {
    const cap = 4 * MiB;
    must('qemu-img', ['create', '-q', '-f', 'vmdk', 'z.vmdk', String(cap)], t.dir);
    must('qemu-io', ['-c', `write -P 0x11 0 ${MiB}`, 'z.vmdk'], t.dir);
    must('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'zeroed_grain=on', '-b', 'z.vmdk', '-F', 'vmdk', 'zc.vmdk'], t.dir);
    must('qemu-io', ['-c', 'write -z 0 131072', '-c', 'write -P 0x22 200000 1000', 'zc.vmdk'], t.dir);
    const model = Buffer.alloc(cap);
    model.fill(0x11, 131072, MiB);
    model.fill(0x22, 200000, 201000);
    const d = await openDisk(t.folder, 'zc.vmdk', { write: true });
    expect((await readAll(d)).equals(model)).toBe(true);
    expect(await d.blockStatus(0, cap)).toEqual({ allocated: false, length: 131072 });
    // A write into a zeroed grain keeps the rest of that grain zero (not the parent's 0x11).
    await d.write(Buffer.alloc(10, 0x33), 70000);
    model.fill(0x33, 70000, 70010);
    await d.close();
    qemuSees('zc.vmdk', model);
  });

  it('reads and writes a qemu descriptor file with one sparse extent (twoGbMaxExtentSparse)', async () => {
    const cap = 10 * MiB;
    must('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', 's.vmdk', String(cap)], t.dir);
    must('qemu-io', ['-c', 'write -P 0x61 123456 300000', 's.vmdk'], t.dir);
    const model = Buffer.alloc(cap);
    model.fill(0x61, 123456, 423456);
    const d = await openDisk(t.folder, 's.vmdk', { write: true });
    expect(d.files).toEqual(['s.vmdk', 's-s001.vmdk']);
    expect((await readAll(d)).equals(model)).toBe(true);
    await randomWrites(d, model, 8, 20, 100_000);
    await d.close();
    qemuSees('s.vmdk', model);
  });

  it('reads a qemu-made flat disk and writes qemu reads back', async () => {
    const cap = 3 * MiB;
    must('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', 'f.vmdk', String(cap)], t.dir);
    must('qemu-io', ['-c', 'write -P 0x5a 1000 3000', 'f.vmdk'], t.dir);
    const model = Buffer.alloc(cap);
    model.fill(0x5a, 1000, 4000);
    const d = await openDisk(t.folder, 'f.vmdk', { write: true });
    expect((await readAll(d)).equals(model)).toBe(true);
    await randomWrites(d, model, 6, 10, 50_000);
    await d.close();
    qemuSees('f.vmdk', model);
  });

  it('reads what qemu writes into our disk, and refuses our delta once qemu changed its parent', async () => {
    const cap = 4 * MiB;
    const base = await createDisk(t.folder, 'b.vmdk', { size: cap, type: 'thin' });
    await base.write(Buffer.alloc(1000, 7), 0);
    await base.close();
    must('qemu-io', ['-c', 'write -P 0x99 65000 70000', 'b.vmdk'], t.dir);
    const expected = Buffer.alloc(cap);
    expected.fill(7, 0, 1000);
    expected.fill(0x99, 65000, 135000);
    const again = await openDisk(t.folder, 'b.vmdk', { write: false });
    expect((await readAll(again)).equals(expected)).toBe(true);
    await again.close();

    const delta = await snapshotDisk(t.folder, 'b.vmdk');
    must('qemu-io', ['-c', 'write -P 0x01 0 512', 'b.vmdk'], t.dir); // writes the frozen parent: new CID
    await expect(openDisk(t.folder, delta, { write: false })).rejects.toThrow(/changed after this delta was made/);
  });

  it('refuses to open a qemu delta whose parent qemu changed', async () => {
    must('qemu-img', ['create', '-q', '-f', 'vmdk', 'p.vmdk', '1M'], t.dir);
    must('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'p.vmdk', '-F', 'vmdk', 'c.vmdk'], t.dir);
    must('qemu-io', ['-c', 'write 0 512', 'p.vmdk'], t.dir);
    const e = await openDisk(t.folder, 'c.vmdk', { write: false }).catch((x) => x);
    expect(e).toBeInstanceOf(DiskError);
    expect(e.message).toMatch(/c\.vmdk: its parent .*p\.vmdk changed after this delta was made \(parentCID [0-9a-f]{8}, parent's CID [0-9a-f]{8}\)/);
  });
});
