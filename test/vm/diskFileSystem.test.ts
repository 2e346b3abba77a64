// The guest file system on its own, over sectors in memory: random create /
// write / read sequences agree with a model of plain byte arrays; limits
// (file size, directory, disk full) and a corrupt sector pointer are refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIR_ENTRIES, DiskFileSystem, formatFileSystem, FS_SECTOR, MAX_FILE_BYTES, type SectorIo } from '../../src/vm/diskFileSystem.js';

function memoryIo(numSectors: number): SectorIo & { bytes: Uint8Array } {
  const bytes = new Uint8Array(numSectors * FS_SECTOR);
  return {
    bytes,
    sectorSize: FS_SECTOR,
    numSectors,
    async read(s) {
      if (s < 0 || s >= numSectors) throw new Error(`sector ${s} outside`);
      return bytes.slice(s * FS_SECTOR, (s + 1) * FS_SECTOR);
    },
    async write(s, d) {
      if (s < 0 || s >= numSectors || d.length !== FS_SECTOR) throw new Error(`bad write ${s}`);
      bytes.set(d, s * FS_SECTOR);
    },
  };
}

async function fresh(numSectors = 2048): Promise<{ fs: DiskFileSystem; io: ReturnType<typeof memoryIo> }> {
  const io = memoryIo(numSectors);
  await formatFileSystem(io);
  return { fs: await DiskFileSystem.mount(io, 'test'), io };
}

describe('guest file system', () => {
  it('agrees with a model under random operations', async () => {
    const name = fc.constantFrom('a', 'b', 'c');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), name }),
      fc.record({ kind: fc.constant('write' as const), name, offset: fc.integer({ min: 0, max: 3000 }), data: fc.uint8Array({ minLength: 1, maxLength: 1500 }) }),
      fc.record({ kind: fc.constant('read' as const), name, offset: fc.integer({ min: 0, max: 4000 }), length: fc.integer({ min: 0, max: 2000 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
        const { fs } = await fresh(256);
        const model = new Map<string, Uint8Array>();
        for (const o of ops) {
          if (o.kind === 'create') {
            expect(await fs.create(o.name)).toBe(true);
            model.set(o.name, new Uint8Array(0));
          } else if (o.kind === 'write') {
            const m = model.get(o.name);
            const n = await fs.write(o.name, o.offset, o.data);
            if (!m) {
              expect(n).toBe(-1);
              continue;
            }
            expect(n).toBe(o.data.length);
            const g = new Uint8Array(Math.max(m.length, o.offset + o.data.length));
            g.set(m);
            g.set(o.data, o.offset);
            model.set(o.name, g);
          } else {
            const m = model.get(o.name) ?? new Uint8Array(0);
            expect(Buffer.from(await fs.read(o.name, o.offset, o.length)).equals(Buffer.from(m.slice(o.offset, o.offset + o.length)))).toBe(true);
          }
        }
        expect((await fs.list()).map((f) => [f.name, f.size]).sort()).toEqual([...model].map(([k, v]) => [k, v.length]).sort());
      }),
      { numRuns: 60 },
    );
  });

  it('frees the sectors of a file created again or removed', async () => {
    const { fs } = await fresh(256);
    for (let i = 0; i < 20; i++) {
      await fs.writeFile('big', new Uint8Array(40_000).fill(i));
      expect((await fs.readFile('big'))[39_999]).toBe(i);
    }
    await fs.remove('big');
    await fs.writeFile('big2', new Uint8Array(60_000).fill(7));
    expect((await fs.list()).map((f) => f.name)).toEqual(['big2']);
  });

  it('refuses what does not fit: a file past the largest size, a full directory, a full disk', async () => {
    const { fs } = await fresh(512);
    await expect(fs.writeFile('huge', new Uint8Array(MAX_FILE_BYTES + 1))).rejects.toThrow(`at most ${MAX_FILE_BYTES}`);
    expect(await fs.create('x')).toBe(true);
    expect(await fs.write('x', MAX_FILE_BYTES - 1, new Uint8Array(2))).toBe(-1);
    for (let i = 1; i < DIR_ENTRIES; i++) expect(await fs.create(`f${i}`)).toBe(true);
    expect(await fs.create('one-too-many')).toBe(false);
    const small = await fresh(128);
    await expect(small.fs.writeFile('a', new Uint8Array(MAX_FILE_BYTES))).rejects.toThrow("guest file 'a': the disk is full");
    // Nothing leaked: after removing it, a file of the free space fits.
    expect(await small.fs.create('b')).toBe(true);
    expect(await small.fs.write('b', 0, new Uint8Array(40 * FS_SECTOR))).toBe(40 * FS_SECTOR);
    expect(await fs.create('a/b')).toBe(false);
    expect(await fs.create('n'.repeat(60))).toBe(false);
  });

  it('refuses a header pointing outside the data area, and a disk without a file system', async () => {
    const { fs, io } = await fresh(256);
    await fs.writeFile('f', new Uint8Array(100).fill(1));
    // Find the header (size 100) and point its first sector at the superblock.
    for (let s = 0; s < 256; s++) {
      const v = new DataView(io.bytes.buffer, s * FS_SECTOR);
      if (v.getUint32(0, true) === 100 && v.getUint32(4, true) > 0) v.setUint32(4, 0, true);
    }
    await expect(fs.readFile('f')).rejects.toThrow('guest file system is corrupt: sector 0 is outside the data area');
    await expect(DiskFileSystem.mount(memoryIo(256), 'blank')).rejects.toThrow('blank: no guest file system on the disk (bad magic)');
  });
});
