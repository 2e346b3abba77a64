// Hostile and damaged input: each is refused with a clear DiskError naming
// the file, and nothing is read or written outside the disk's files.
import { describe, expect, it } from 'vitest';
import { checkDisk } from '../../src/vdisk/check.js';
import { parseDescriptor } from '../../src/vdisk/descriptor.js';
import { DiskError } from '../../src/vdisk/errors.js';
import { snapshotDisk } from '../../src/vdisk/operations.js';
import { sparseHeader } from '../../src/vdisk/sparseExtent.js';
import { createDisk, MAX_CHAIN, openDisk } from '../../src/vdisk/virtualDisk.js';
import { MemoryFolder } from './helpers.js';

const MiB = 2 ** 20;

/** A thin 4 MiB disk with grain 1 written; returns the folder. */
async function thinDisk(name = 'd.vmdk'): Promise<MemoryFolder> {
  const folder = new MemoryFolder();
  const d = await createDisk(folder, name, { size: 4 * MiB, type: 'thin' });
  await d.write(Buffer.alloc(65536, 0x42), 65536);
  await d.close();
  return folder;
}

function patchHeader(folder: MemoryFolder, name: string, change: Partial<ReturnType<typeof sparseHeader.decode>>): void {
  const b = folder.bytes(name);
  sparseHeader.encodeInto({ ...sparseHeader.decode(b), ...change }, b);
}

/** Rewrites a sparse disk's embedded descriptor with `edit` applied. */
function patchDescriptor(folder: MemoryFolder, name: string, edit: (text: string) => string): void {
  const b = folder.bytes(name);
  const h = sparseHeader.decode(b);
  const area = b.subarray(h.descriptorOffset * 512, (h.descriptorOffset + h.descriptorSize) * 512);
  const text = edit(area.subarray(0, area.indexOf(0)).toString());
  area.fill(0);
  area.write(text);
}

/** Where grain `g`'s entry lives in the primary grain table. */
function gteOffset(folder: MemoryFolder, name: string, g: number): number {
  const b = folder.bytes(name);
  const h = sparseHeader.decode(b);
  return b.readUInt32LE(h.gdOffset * 512) * 512 + g * 4;
}

/**
 * Runs `action` and returns its DiskError; asserts every read stayed inside
 * the files and nothing was written (but the header and descriptor sectors
 * when `metadataWrites`: a first write stores the new CID).
 */
async function refused(folder: MemoryFolder, action: () => Promise<unknown>, metadataWrites = false): Promise<DiskError> {
  const before = new Map(folder.names().map((n) => [n, Buffer.from(folder.bytes(n))]));
  const logStart = folder.log.length;
  const e = await action().then(
    () => null,
    (x) => x,
  );
  expect(e).toBeInstanceOf(DiskError);
  for (const a of folder.log.slice(logStart)) {
    expect(before.has(a.name), `${a.op} of ${a.name}`).toBe(true);
    expect(a.op === 'truncate' || a.op === 'create' || a.op === 'remove').toBe(false);
    if (a.op === 'write') expect(metadataWrites && a.position! + a.length! <= 21 * 512, `write at ${a.position}`).toBe(true);
    if (a.op === 'read') expect(a.position! + a.length!).toBeLessThanOrEqual(before.get(a.name)!.length);
  }
  if (!metadataWrites) for (const [n, b] of before) expect(folder.bytes(n).equals(b)).toBe(true);
  return e as DiskError;
}

describe('hostile sparse extents', () => {
  it('refuses a grain table entry pointing past the end of the file', async () => {
    const folder = await thinDisk();
    folder.bytes('d.vmdk').writeUInt32LE(0x7fffff00, gteOffset(folder, 'd.vmdk', 1));
    const d = await openDisk(folder, 'd.vmdk', { write: false });
    const e = await refused(folder, () => d.read(Buffer.alloc(10), 65536 + 5));
    expect(e.message).toBe(
      `mem:/d.vmdk: grain table entry of grain 1 points past the end of the file (sector ${0x7fffff00}, file of ${folder.bytes('d.vmdk').length} bytes)`,
    );
    await d.close();
    // Writing through it is refused as well, before anything is written.
    const w = await openDisk(folder, 'd.vmdk', { write: true });
    await refused(folder, async () => {
      await w.read(Buffer.alloc(1), 65536);
    });
    await w.close();
    expect((await checkDisk(folder, 'd.vmdk')).errors.join('\n')).toMatch(/grain 1 points past the end/);
  });

  it('refuses a grain table entry pointing into the metadata', async () => {
    const folder = await thinDisk();
    folder.bytes('d.vmdk').writeUInt32LE(1, gteOffset(folder, 'd.vmdk', 1)); // the descriptor's sector
    const d = await openDisk(folder, 'd.vmdk', { write: true });
    const e = await refused(folder, () => d.write(Buffer.alloc(10), 65536), true);
    expect(e.message).toMatch(/grain table entry of grain 1 points into the metadata \(sector 1\)/);
    await d.close();
  });

  it('finds two grains sharing a sector, and tables differing from their redundant copy', async () => {
    const folder = await thinDisk();
    const b = folder.bytes('d.vmdk');
    b.writeUInt32LE(b.readUInt32LE(gteOffset(folder, 'd.vmdk', 1)), gteOffset(folder, 'd.vmdk', 2));
    const report = await checkDisk(folder, 'd.vmdk');
    expect(report.errors).toContain('mem:/d.vmdk: grain table 0 and its redundant copy differ');
    expect(report.errors.some((m) => /grains 1 and 2 are stored at the same sector/.test(m))).toBe(true);
  });

  it('refuses a grain directory entry pointing past the end', async () => {
    const folder = await thinDisk();
    const h = sparseHeader.decode(folder.bytes('d.vmdk'));
    folder.bytes('d.vmdk').writeUInt32LE(0xfffffff0, h.gdOffset * 512);
    const e = await refused(folder, () => openDisk(folder, 'd.vmdk', { write: true }));
    expect(e.message).toBe(`mem:/d.vmdk: grain directory entry 0 points past the end of the file (sector ${0xfffffff0})`);
  });

  it.each([
    [{ capacity: 2 ** 50 }, /absurd capacity of 1125899906842624 sectors/],
    [{ capacity: 0 }, /absurd capacity of 0 sectors/],
    [{ grainSize: 3 }, /invalid grain size of 3 sectors/],
    [{ grainSize: 2 ** 40 }, /invalid grain size/],
    [{ numGTEsPerGT: 0 }, /invalid grain table size of 0 entries/],
    [{ capacity: 2 ** 32, grainSize: 1, numGTEsPerGT: 1 }, /absurd grain directory of 4294967296 entries/],
    [{ version: 7 }, /unsupported sparse extent version 7/],
    [{ flags: 0x10003 }, /compressed \(streamOptimized\) VMDKs are not supported/],
    [{ gdOffset: 2 ** 40 }, /the grain directory lies outside the file/],
    [{ overHead: 2 ** 33 }, /truncated: the metadata ends at sector 8589934592/],
    [{ descriptorSize: 100000 }, /the embedded descriptor lies outside the file/],
  ])('refuses a header with %o', async (change, message) => {
    const folder = await thinDisk();
    patchHeader(folder, 'd.vmdk', change);
    const e = await refused(folder, () => openDisk(folder, 'd.vmdk', { write: true }));
    expect(e.message).toMatch(/^mem:\/d\.vmdk: /);
    expect(e.message).toMatch(message);
  });

  it('refuses truncated files', async () => {
    const folder = await thinDisk();
    folder.setBytes('short.vmdk', folder.bytes('d.vmdk').subarray(0, 100));
    expect((await refused(folder, () => openDisk(folder, 'short.vmdk', { write: false }))).message).toBe(
      'mem:/short.vmdk: truncated sparse header (100 bytes, 512 needed)',
    );
    folder.setBytes('cut.vmdk', folder.bytes('d.vmdk').subarray(0, 20 * 512));
    patchDescriptor(folder, 'cut.vmdk', (t) => t.replace('"d.vmdk"', '"cut.vmdk"'));
    expect((await refused(folder, () => openDisk(folder, 'cut.vmdk', { write: false }))).message).toMatch(
      /^mem:\/cut\.vmdk: truncated: the metadata ends at sector 128, the file has 20 sectors$/,
    );
    folder.setBytes('empty.vmdk', Buffer.alloc(0));
    expect((await refused(folder, () => openDisk(folder, 'empty.vmdk', { write: false }))).message).toMatch(/empty\.vmdk: not a VMDK/);
  });

  it('refuses files that are no VMDK, and formats it does not handle', async () => {
    const folder = new MemoryFolder();
    folder.setBytes('x.vmdk', Buffer.from('hello world, this is not a disk\n'));
    expect((await refused(folder, () => openDisk(folder, 'x.vmdk', { write: false }))).message).toBe(
      'mem:/x.vmdk: not a VMDK (neither a KDMV sparse header nor a descriptor)',
    );
    folder.setBytes('c.vmdk', Buffer.concat([Buffer.from('COWD'), Buffer.alloc(2044)]));
    expect((await refused(folder, () => openDisk(folder, 'c.vmdk', { write: false }))).message).toMatch(/vmfsSparse \(COWD\) deltas are not supported/);
    folder.setBytes('big.vmdk', Buffer.concat([Buffer.from('# Disk DescriptorFile\n'), Buffer.alloc(100_000, 0x20)]));
    expect((await refused(folder, () => openDisk(folder, 'big.vmdk', { write: false }))).message).toMatch(/not a VMDK/);
  });

  it('refuses descriptors that lie about the extent', async () => {
    const folder = await thinDisk();
    patchDescriptor(folder, 'd.vmdk', (t) => t.replace('RW 8192 SPARSE', 'RW 99999999999 SPARSE'));
    expect((await refused(folder, () => openDisk(folder, 'd.vmdk', { write: false }))).message).toMatch(
      /the descriptor says 99999999999 sectors, the sparse header 8192/,
    );
  });

  it('refuses a flat disk whose data file is short or missing', async () => {
    const folder = new MemoryFolder();
    await (await createDisk(folder, 'f.vmdk', { size: MiB, type: 'thick' })).close();
    folder.setBytes('f-flat.vmdk', folder.bytes('f-flat.vmdk').subarray(0, 1000));
    expect((await refused(folder, () => openDisk(folder, 'f.vmdk', { write: true }))).message).toBe(
      'mem:/f-flat.vmdk: truncated flat extent (1000 bytes, 1048576 needed)',
    );
    await folder.remove('f-flat.vmdk');
    await expect(openDisk(folder, 'f.vmdk', { write: true })).rejects.toThrow(/f-flat\.vmdk: No such file/);
  });
});

describe('hostile parent chains', () => {
  async function chain(): Promise<MemoryFolder> {
    const folder = await thinDisk('base.vmdk');
    const top = await snapshotDisk(folder, 'base.vmdk');
    expect(top).toBe('base-000001.vmdk');
    return folder;
  }

  it('refuses a loop in the parent chain', async () => {
    const folder = await chain();
    const topCid = parseDescriptor(
      folder.bytes('base-000001.vmdk').subarray(512, 512 * 21).toString().replace(/\0+$/, ''),
      'top',
    ).cid;
    patchDescriptor(folder, 'base.vmdk', (t) =>
      t.replace(/parentCID=ffffffff/, `parentCID=${topCid.toString(16).padStart(8, '0')}\nparentFileNameHint="base-000001.vmdk"`),
    );
    const e = await refused(folder, () => openDisk(folder, 'base-000001.vmdk', { write: true }));
    expect(e.message).toBe('mem:/base-000001.vmdk: the parent chain loops back to mem:/base-000001.vmdk');
    // A disk that is its own parent.
    patchDescriptor(folder, 'base.vmdk', (t) => t.replace('"base-000001.vmdk"', '"base.vmdk"'));
    expect((await refused(folder, () => openDisk(folder, 'base.vmdk', { write: false }))).message).toBe(
      'mem:/base.vmdk: the parent chain loops back to mem:/base.vmdk',
    );
  });

  it.each(['../base.vmdk', '/etc/passwd', 'sub/base.vmdk', '..', 'mem:/../base.vmdk'])('refuses the parent path %s, which leaves the folder', async (hint) => {
    const folder = await chain();
    patchDescriptor(folder, 'base-000001.vmdk', (t) => t.replace('parentFileNameHint="base.vmdk"', `parentFileNameHint="${hint}"`));
    const e = await refused(folder, () => openDisk(folder, 'base-000001.vmdk', { write: true }));
    expect(e.message).toBe(`mem:/base-000001.vmdk: parent "${hint}" lies outside the disk's folder (refused)`);
    expect(folder.log.filter((a) => a.op === 'open').every((a) => a.name !== hint)).toBe(true);
  });

  it('accepts a parent path naming a file of the same folder', async () => {
    const folder = await chain();
    patchDescriptor(folder, 'base-000001.vmdk', (t) => t.replace('parentFileNameHint="base.vmdk"', 'parentFileNameHint="mem:/base.vmdk"'));
    const d = await openDisk(folder, 'base-000001.vmdk', { write: false });
    expect(d.parent!.name).toBe('base.vmdk');
    await d.close();
  });

  it('refuses a missing parent and a parentCID that does not match', async () => {
    const folder = await chain();
    patchDescriptor(folder, 'base-000001.vmdk', (t) => t.replace(/parentCID=[0-9a-f]+/, 'parentCID=12345678'));
    expect((await refused(folder, () => openDisk(folder, 'base-000001.vmdk', { write: false }))).message).toMatch(
      /^mem:\/base-000001\.vmdk: its parent mem:\/base\.vmdk changed after this delta was made \(parentCID 12345678, parent's CID [0-9a-f]{8}\)$/,
    );
    await folder.rename('base.vmdk', 'gone.vmdk');
    expect((await refused(folder, () => openDisk(folder, 'base-000001.vmdk', { write: false }))).message).toBe(
      'mem:/base-000001.vmdk: parent mem:/base.vmdk is missing',
    );
  });

  it(`refuses a chain longer than ${MAX_CHAIN} disks`, async () => {
    const folder = await thinDisk('c.vmdk');
    let top = 'c.vmdk';
    for (let i = 1; i < MAX_CHAIN; i++) top = await snapshotDisk(folder, top);
    const full = await openDisk(folder, top, { write: false });
    expect(full.chain.length).toBe(MAX_CHAIN);
    await full.close();
    const names = folder.names();
    await expect(snapshotDisk(folder, top)).rejects.toThrow(`mem:/${top}: its chain is already ${MAX_CHAIN} disks long, the most allowed`);
    expect(folder.names()).toEqual(names);
    // Hang the whole chain on another delta: one disk too many below the top.
    await (await createDisk(folder, 'o.vmdk', { size: 4 * MiB, type: 'thin' })).close();
    const other = await openDisk(folder, 'o.vmdk', { write: false });
    patchDescriptor(folder, 'c.vmdk', (t) =>
      t.replace(/parentCID=ffffffff/, `parentCID=${other.descriptor.cid.toString(16).padStart(8, '0')}\nparentFileNameHint="o.vmdk"`),
    );
    await other.close();
    const e = await refused(folder, () => openDisk(folder, top, { write: false }));
    expect(e.message).toBe(`mem:/${top}: parent chain longer than ${MAX_CHAIN} disks`);
  });
});

describe('absurd sizes at creation', () => {
  it.each([
    [2 ** 60, 'thin'],
    [2 ** 41 + 512, 'thin'],
    [1000, 'thin'],
    [0, 'thick'],
    [-512, 'thick'],
    [63 * 2 ** 40, 'thick'],
  ] as const)('refuses %d bytes (%s) and creates nothing', async (size, type) => {
    const folder = new MemoryFolder();
    const e = await createDisk(folder, 'a.vmdk', { size, type }).catch((x) => x);
    expect(e).toBeInstanceOf(DiskError);
    expect(e.message).toMatch(/^mem:\/a\.vmdk: size must be a whole number of 512-byte sectors/);
    expect(folder.names()).toEqual([]);
  });

  it('leaves nothing behind when a file of the disk exists already', async () => {
    const folder = new MemoryFolder();
    folder.setBytes('t-flat.vmdk', Buffer.from('keep'));
    await expect(createDisk(folder, 't.vmdk', { size: 1 << 20, type: 'thick' })).rejects.toThrow('mem:/t-flat.vmdk: already exists');
    expect(folder.names()).toEqual(['t-flat.vmdk']);
    expect(folder.bytes('t-flat.vmdk').toString()).toBe('keep');
  });

  it('refuses names that are not NAME.vmdk', async () => {
    const e = await createDisk(new MemoryFolder(), 'a.img', { size: 1 << 20, type: 'thin' }).catch((x) => x);
    expect(e.message).toBe("mem:/a.img: a VMDK's name must end in .vmdk");
  });
});
