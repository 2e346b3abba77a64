// The corruption generator: a small datastore with a known tree, and one
// function per class of damage that breaks a copy of it the way a crash, a
// failing disk or a bug would, writing raw bytes below the file system.
import { createHash } from 'node:crypto';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { inodeAddress } from '../src/fs/blockId.js';
import { DIR_ENTRY_SIZE } from '../src/fs/directory.js';
import { mapForRead } from '../src/fs/fileMap.js';
import { mkfs } from '../src/fs/mkfs.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';
import { MiB, pattern, readAll } from './helpers.js';

export const TREE: Record<string, number> = {
  '/small': 1000,
  '/small2': 2000,
  '/dir/a': 3 * MiB,
  '/dir/c': 2 * MiB + 5,
  '/dir/sub/b': 100_000,
  '/dir/sub/deeper/d': 70_000,
  '/sparse': 0, // written at 300 MiB: pointer blocks
};

export async function buildImage(): Promise<{ devices: MemoryDevice[]; sums: Map<string, string> }> {
  const devices = [new MemoryDevice('ext0', deviceSizeFor(1)), new MemoryDevice('ext1', deviceSizeFor(1))];
  const fs = await mkfs(devices);
  await fs.mkdir('/dir');
  await fs.mkdir('/dir/sub');
  await fs.mkdir('/dir/sub/deeper');
  await fs.mkdir('/empty');
  let seed = 1;
  for (const [path, size] of Object.entries(TREE)) {
    const id = await fs.create(path);
    if (path === '/sparse') await fs.write(id, pattern(5000, 77), 300 * MiB);
    else await fs.write(id, pattern(size, seed++), 0);
  }
  await fs.symlink('small', '/link');
  const sums = await checksums(fs);
  await fs.close();
  return { devices, sums };
}

export async function checksums(fs: Vmfs, paths = [...Object.keys(TREE), '/link']): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of paths) {
    try {
      out.set(p, createHash('sha256').update(await readAll(fs, p)).digest('hex'));
    } catch {
      /* gone */
    }
  }
  return out;
}

export interface Damage {
  name: string;
  /** The finding code(s) `-n` must report (one of them). */
  codes: string[];
  /** Paths whose bytes the damage itself destroyed (the rest must survive a repair). */
  lost?: string[];
  /** Where a file moves to in the repair (orphans go to lost+found). */
  moved?: (fs: Vmfs) => Promise<Map<string, string>>;
  apply(fs: Vmfs, raw: LogicalVolume): Promise<void>;
}

async function inodeOffset(fs: Vmfs, path: string): Promise<number> {
  const id = await fs.resolve(null, path, false);
  return fs.fdc.itemRange(inodeAddress(id))[0].logical;
}

async function dirSlotOffset(fs: Vmfs, dir: string, slot: number): Promise<number> {
  const inode = await fs.inode(null, await fs.resolve(null, dir));
  const [p] = await mapForRead((fs as unknown as { ctx: never }).ctx, null, inode, slot * DIR_ENTRY_SIZE, DIR_ENTRY_SIZE);
  return p.logical!;
}

async function patch(raw: LogicalVolume, offset: number, fn: (b: Buffer) => void, length = 4): Promise<void> {
  const b = Buffer.alloc(length);
  await raw.read(b, offset);
  fn(b);
  await raw.write(b, offset);
}

export const DAMAGES: Damage[] = [
  {
    name: 'wrong nlink',
    codes: ['nlink'],
    apply: async (fs, raw) => patch(raw, (await inodeOffset(fs, '/small')) + 0x208, (b) => b.writeUInt32LE(5)),
  },
  {
    name: 'lost block (allocated, unused)',
    codes: ['block-lost', 'entry-free-count'],
    apply: async (fs, raw) => {
      const last = fs.fbb.entries.length - 1;
      const at = fs.fbb.entryLogical(last);
      await patch(raw, at + 0x210, (b) => (b[0] &= ~1), 1); // item 0 of the last entry: allocated
    },
  },
  {
    name: 'doubly allocated block',
    codes: ['block-shared'],
    lost: ['/dir/c'],
    apply: async (fs, raw) => {
      const a = await fs.inode(null, await fs.resolve(null, '/dir/a'));
      await patch(raw, (await inodeOffset(fs, '/dir/c')) + 0x400 + 4, (b) => b.writeUInt32LE(a.blocks[0]));
    },
  },
  {
    name: 'orphan inode',
    codes: ['orphan-inode'],
    moved: async (fs) => {
      const id = (await fs.readdir('/lost+found')).find((e) => e.name.startsWith('#'));
      return new Map([['/dir/sub/b', `/lost+found/${id?.name}`]]);
    },
    apply: async (fs, raw) => {
      // Drop b's entry (the last one moves into its slot) without touching its inode.
      const entries = await fs.readdir('/dir/sub');
      const slot = entries.findIndex((e) => e.name === 'b');
      const last = entries.length - 1;
      const lastBytes = Buffer.alloc(DIR_ENTRY_SIZE);
      await raw.read(lastBytes, await dirSlotOffset(fs, '/dir/sub', last));
      await raw.write(lastBytes, await dirSlotOffset(fs, '/dir/sub', slot));
      await patch(raw, (await inodeOffset(fs, '/dir/sub')) + 0x214, (b) => b.writeUInt32LE(last * DIR_ENTRY_SIZE));
    },
  },
  {
    name: 'bad ".."',
    codes: ['bad-dotdot'],
    apply: async (fs, raw) => patch(raw, (await dirSlotOffset(fs, '/dir/sub', 1)) + 4, (b) => b.writeUInt32LE(4)),
  },
  {
    name: 'zeroed sector (a bitmap entry)',
    codes: ['entry-header', 'entry-total', 'block-free-in-use'],
    apply: async (fs, raw) => raw.write(Buffer.alloc(512), fs.fbb.entryLogical(0) + 0x200),
  },
  {
    name: 'zeroed sector (an inode)',
    codes: ['bad-entry'],
    lost: ['/small', '/link'],
    apply: async (fs, raw) => raw.write(Buffer.alloc(512), await inodeOffset(fs, '/small')),
  },
  {
    name: 'bit flip in a bitmap',
    codes: ['block-free-in-use', 'entry-free-count'],
    apply: async (fs, raw) => {
      const a = await fs.inode(null, await fs.resolve(null, '/dir/a'));
      const block = a.blocks[1] >>> 6;
      const ipe = fs.fbb.layout.geometry.itemsPerEntry;
      const item = block % ipe;
      await patch(raw, fs.fbb.entryLogical(Math.floor(block / ipe)) + 0x210 + (item >> 3), (b) => (b[0] ^= 1 << (item & 7)), 1);
    },
  },
  {
    name: 'bit flip in a directory entry type',
    codes: ['entry-type'],
    apply: async (fs, raw) => {
      const slot = (await fs.readdir('/dir')).findIndex((e) => e.name === 'a');
      await patch(raw, await dirSlotOffset(fs, '/dir', slot), (b) => (b[0] ^= 0x07)); // 3 -> 4 (symlink)
    },
  },
  {
    name: 'bit flip in a pointer block',
    codes: ['block-out-of-range', 'bad-block-type', 'block-lost'],
    lost: ['/sparse'],
    apply: async (fs, raw) => {
      const s = await fs.inode(null, await fs.resolve(null, '/sparse'));
      const pb = s.blocks.find((x) => x !== 0)!;
      const at = fs.pbc.itemRange({ entry: (pb >>> 6) & 0x3fffff, item: pb >>> 28 })[0].logical;
      const ptrs = await fs.pointerBlock(null, pb);
      const j = ptrs.findIndex((x) => x !== 0);
      await patch(raw, at + j * 4, (b) => (b[3] ^= 0x80));
    },
  },
  {
    name: 'bit flip in an inode addressing mode',
    codes: ['bad-zla'],
    lost: ['/dir/c'],
    apply: async (fs, raw) => patch(raw, (await inodeOffset(fs, '/dir/c')) + 0x244, (b) => (b[1] ^= 0x10)),
  },
  {
    name: 'block past the file size',
    codes: ['block-past-size'],
    apply: async (fs, raw) => patch(raw, (await inodeOffset(fs, '/dir/a')) + 0x214, (b) => b.writeUInt32LE(MiB)),
    lost: ['/dir/a'],
  },
];
