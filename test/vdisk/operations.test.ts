// info, snapshot, commit, clone, convert and check, on real files, with the
// results read back by us and (when installed) by qemu-img.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkDisk } from '../../src/vdisk/check.js';
import { HostFolder } from '../../src/vdisk/hostFolder.js';
import { cloneDisk, commitDisk, convertDisk, diskInfo, snapshotDisk } from '../../src/vdisk/operations.js';
import { SparseDisk } from '../../src/vdisk/sparseDisk.js';
import { createDisk, openDisk } from '../../src/vdisk/virtualDisk.js';
import { hasQemu, MemoryFolder, must, pattern, run, tempFolder } from './helpers.js';

const MiB = 2 ** 20;
const CAP = 6 * MiB;

describe('disk operations', () => {
  let t: ReturnType<typeof tempFolder>;
  let model: Buffer;
  beforeEach(async () => {
    t = tempFolder();
    model = Buffer.alloc(CAP);
    const d = await createDisk(t.folder, 'vm.vmdk', { size: CAP, type: 'thin' });
    await write(d, 100_000, 300_000, 1);
    await write(d, 4 * MiB, 70_000, 2);
    await d.close();
  });
  afterEach(() => t.cleanup());

  async function write(d: { write(b: Buffer, o: number): Promise<void> }, off: number, len: number, seed: number) {
    const data = pattern(len, seed);
    await d.write(data, off);
    data.copy(model, off);
  }

  async function contents(folder: HostFolder | MemoryFolder, name: string): Promise<Buffer> {
    const d = await openDisk(folder, name, { write: false });
    const b = Buffer.alloc(d.capacity);
    await d.read(b, 0);
    await d.close();
    return b;
  }

  function qemuAgrees(name: string, expected: Buffer) {
    if (!hasQemu) return;
    expect(run('qemu-img', ['check', name], t.dir).status).toBe(0);
    writeFileSync(join(t.dir, 'expected.raw'), expected);
    expect(run('qemu-img', ['compare', '-F', 'raw', name, 'expected.raw'], t.dir).status).toBe(0);
  }

  it('snapshots with VMware names, freezing the disk below', async () => {
    const frozen = Buffer.from(model);
    expect(await snapshotDisk(t.folder, 'vm.vmdk')).toBe('vm-000001.vmdk');
    const top = await openDisk(t.folder, 'vm-000001.vmdk', { write: true });
    expect(top.parent!.readOnly).toBe(true);
    await expect(top.parent!.write(Buffer.alloc(1), 0)).rejects.toThrow(/vm\.vmdk: opened read-only/);
    await write(top, 200_000, 100_000, 3); // copy-on-write inside grains the parent holds
    await top.close();
    expect(await snapshotDisk(t.folder, 'vm-000001.vmdk')).toBe('vm-000002.vmdk');
    expect(await snapshotDisk(t.folder, 'vm.vmdk')).toBe('vm-000003.vmdk'); // a second child: a branch
    expect((await contents(t.folder, 'vm.vmdk')).equals(frozen)).toBe(true);
    expect((await contents(t.folder, 'vm-000002.vmdk')).equals(model)).toBe(true);
    expect((await contents(t.folder, 'vm-000003.vmdk')).equals(frozen)).toBe(true);
    qemuAgrees('vm-000002.vmdk', model);
  });

  it('reports format, capacity, allocation and the chain', async () => {
    await snapshotDisk(t.folder, 'vm.vmdk');
    const info = await diskInfo(t.folder, 'vm-000001.vmdk');
    const base = await openDisk(t.folder, 'vm.vmdk', { write: false });
    const baseCid = base.descriptor.cid.toString(16).padStart(8, '0');
    await base.close();
    expect(info).toMatchObject({
      name: 'vm-000001.vmdk',
      path: join(t.dir, 'vm-000001.vmdk'),
      format: 'monolithicSparse',
      type: 'thin',
      capacity: CAP,
      allocated: statSync(join(t.dir, 'vm-000001.vmdk')).size,
      parentCid: baseCid,
      files: ['vm-000001.vmdk'],
    });
    expect(info.chain.map((l) => [l.name, l.cid, l.parentCid, l.allocated])).toEqual([
      ['vm-000001.vmdk', info.cid, baseCid, info.allocated],
      ['vm.vmdk', baseCid, null, statSync(join(t.dir, 'vm.vmdk')).size],
    ]);
    await (await createDisk(t.folder, 'thick.vmdk', { size: MiB, type: 'thick' })).close();
    expect(await diskInfo(t.folder, 'thick.vmdk')).toMatchObject({ format: 'monolithicFlat', type: 'thick', capacity: MiB, files: ['thick.vmdk', 'thick-flat.vmdk'] });
  });

  it('commits a delta into its parent and removes it', async () => {
    await snapshotDisk(t.folder, 'vm.vmdk');
    const parentCid = (await diskInfo(t.folder, 'vm.vmdk')).cid;
    const top = await openDisk(t.folder, 'vm-000001.vmdk', { write: true });
    await write(top, 150_000, 10, 4);
    await write(top, CAP - 5000, 5000, 5);
    await top.close();
    const progress: number[] = [];
    expect(await commitDisk(t.folder, 'vm-000001.vmdk', (done, total) => progress.push(done / total))).toBe('vm.vmdk');
    expect(progress.at(-1)).toBe(1);
    expect(await t.folder.exists('vm-000001.vmdk')).toBe(false);
    expect((await contents(t.folder, 'vm.vmdk')).equals(model)).toBe(true);
    expect((await diskInfo(t.folder, 'vm.vmdk')).cid).not.toBe(parentCid);
    qemuAgrees('vm.vmdk', model);
    await expect(commitDisk(t.folder, 'vm.vmdk')).rejects.toThrow(`${join(t.dir, 'vm.vmdk')}: not a delta disk (it has no parent to commit into)`);
  });

  it('commits a delta into a thick parent, and an empty delta without touching the parent', async () => {
    await convertDisk({ folder: t.folder, name: 'vm.vmdk' }, { folder: t.folder, name: 'flat.vmdk' }, 'thick');
    await snapshotDisk(t.folder, 'flat.vmdk');
    const cid = (await diskInfo(t.folder, 'flat.vmdk')).cid;
    await commitDisk(t.folder, 'flat-000001.vmdk');
    expect((await diskInfo(t.folder, 'flat.vmdk')).cid).toBe(cid);
    await snapshotDisk(t.folder, 'flat.vmdk');
    const top = await openDisk(t.folder, 'flat-000001.vmdk', { write: true });
    await write(top, 1, 3 * MiB, 6);
    await top.close();
    await commitDisk(t.folder, 'flat-000001.vmdk');
    expect((await contents(t.folder, 'flat.vmdk')).equals(model)).toBe(true);
    qemuAgrees('flat.vmdk', model);
  });

  it('clones a chain fully (same type, no parent) and linked (a delta on the source)', async () => {
    await snapshotDisk(t.folder, 'vm.vmdk');
    const top = await openDisk(t.folder, 'vm-000001.vmdk', { write: true });
    await write(top, 3 * MiB, MiB, 7);
    await top.close();
    const src = { folder: t.folder, name: 'vm-000001.vmdk' };
    await cloneDisk(src, { folder: t.folder, name: 'full.vmdk' }, { linked: false });
    const full = await diskInfo(t.folder, 'full.vmdk');
    expect(full.chain.length).toBe(1);
    expect(full.type).toBe('thin');
    expect((await contents(t.folder, 'full.vmdk')).equals(model)).toBe(true);
    qemuAgrees('full.vmdk', model);

    await cloneDisk(src, { folder: t.folder, name: 'linked.vmdk' }, { linked: true });
    const linked = await diskInfo(t.folder, 'linked.vmdk');
    expect(linked.chain.map((l) => l.name)).toEqual(['linked.vmdk', 'vm-000001.vmdk', 'vm.vmdk']);
    expect((await contents(t.folder, 'linked.vmdk')).equals(model)).toBe(true);
    const other = new HostFolder(join(t.dir, '..'));
    await expect(cloneDisk(src, { folder: other, name: 'x.vmdk' }, { linked: true })).rejects.toThrow(/a linked clone must be in the same folder as its source/);
  });

  it('converts to raw, thin and thick; thin keeps only grains that hold data', async () => {
    model.fill(0, 4 * MiB, 4 * MiB + 70_000);
    const d = await openDisk(t.folder, 'vm.vmdk', { write: true });
    await d.write(Buffer.alloc(70_000), 4 * MiB); // grains full of zeros: allocated, but worth nothing
    await d.close();
    const src = { folder: t.folder, name: 'vm.vmdk' };
    await convertDisk(src, { folder: t.folder, name: 'out.raw' }, 'raw');
    expect(readFileSync(join(t.dir, 'out.raw')).equals(model)).toBe(true);
    await convertDisk(src, { folder: t.folder, name: 'thick.vmdk' }, 'thick');
    expect((await contents(t.folder, 'thick.vmdk')).equals(model)).toBe(true);
    expect(statSync(join(t.dir, 'thick-flat.vmdk')).size).toBe(CAP);
    qemuAgrees('thick.vmdk', model);
    await convertDisk({ folder: t.folder, name: 'thick.vmdk' }, { folder: t.folder, name: 'thin.vmdk' }, 'thin');
    expect((await contents(t.folder, 'thin.vmdk')).equals(model)).toBe(true);
    const thin = await openDisk(t.folder, 'thin.vmdk', { write: false });
    const grains: number[] = [];
    for await (const [g] of (thin as SparseDisk).extent.allocatedGrains()) grains.push(g);
    await thin.close();
    // Data at 100000..400000 covers grains 1..6; the zeroed grains at 4 MiB are left out.
    expect(grains).toEqual([1, 2, 3, 4, 5, 6]);
    qemuAgrees('thin.vmdk', model);
    // An existing target is never overwritten.
    await expect(convertDisk(src, { folder: t.folder, name: 'out.raw' }, 'raw')).rejects.toThrow(`${join(t.dir, 'out.raw')}: already exists`);
    expect(readFileSync(join(t.dir, 'out.raw')).equals(model)).toBe(true);
  });

  it('imports raw images (*.raw, *.img), a partial last sector reading as zeros', async () => {
    await convertDisk({ folder: t.folder, name: 'vm.vmdk' }, { folder: t.folder, name: 'vm.raw' }, 'raw');
    await convertDisk({ folder: t.folder, name: 'vm.raw' }, { folder: t.folder, name: 'back.vmdk' }, 'thin');
    expect((await contents(t.folder, 'back.vmdk')).equals(model)).toBe(true);
    writeFileSync(join(t.dir, 'odd.img'), Buffer.alloc(1000, 9));
    await convertDisk({ folder: t.folder, name: 'odd.img' }, { folder: t.folder, name: 'odd.vmdk' }, 'thick');
    const odd = await contents(t.folder, 'odd.vmdk');
    expect(odd.equals(Buffer.concat([Buffer.alloc(1000, 9), Buffer.alloc(24)]))).toBe(true);
    writeFileSync(join(t.dir, 'empty.img'), '');
    await expect(convertDisk({ folder: t.folder, name: 'empty.img' }, { folder: t.folder, name: 'e.vmdk' }, 'thin')).rejects.toThrow(
      `${join(t.dir, 'empty.img')}: an empty raw image`,
    );
    expect(await t.folder.exists('e.vmdk')).toBe(false);
  });

  it('zeroes thick disks at creation, reporting progress', async () => {
    const progress: [number, number][] = [];
    const d = await createDisk(t.folder, 'z.vmdk', { size: 3 * MiB + 512, type: 'thick', onProgress: (a, b) => progress.push([a, b]) });
    await d.close();
    expect(progress.at(-1)).toEqual([3 * MiB + 512, 3 * MiB + 512]);
    expect(progress.length).toBe(4);
    expect(readFileSync(join(t.dir, 'z-flat.vmdk')).equals(Buffer.alloc(3 * MiB + 512))).toBe(true);
    if (hasQemu) expect(JSON.parse(must('qemu-img', ['info', '--output=json', 'z.vmdk'], t.dir))['virtual-size']).toBe(3 * MiB + 512);
  });

  it('checks a chain, and warns of a disk that was not closed', async () => {
    await snapshotDisk(t.folder, 'vm.vmdk');
    expect(await checkDisk(t.folder, 'vm-000001.vmdk')).toEqual({
      layers: [join(t.dir, 'vm-000001.vmdk'), join(t.dir, 'vm.vmdk')],
      errors: [],
      warnings: [],
    });
    const d = await openDisk(t.folder, 'vm-000001.vmdk', { write: true });
    await d.write(Buffer.alloc(1), 0); // and no close: a crash
    const report = await checkDisk(t.folder, 'vm-000001.vmdk');
    expect(report.warnings).toEqual([`${join(t.dir, 'vm-000001.vmdk')}: not closed cleanly (uncleanShutdown is set)`]);
    expect(report.errors).toEqual([]);
    await d.close();
    writeFileSync(join(t.dir, 'bad.vmdk'), 'not a disk at all');
    expect((await checkDisk(t.folder, 'bad.vmdk')).errors).toEqual([`${join(t.dir, 'bad.vmdk')}: not a VMDK (neither a KDMV sparse header nor a descriptor)`]);
  });
});
