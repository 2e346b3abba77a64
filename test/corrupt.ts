// The corruption generator: a small datastore with a known tree, and one
// function per class of damage that breaks a copy of it the way a crash, a
// failing disk or a bug would, writing raw bytes below the file system. The
// cluster classes run a real host (mountClustered) in this process and kill
// it: from a chosen write on, nothing it writes reaches the extents, as when
// its process is killed with SIGKILL.
import { createHash } from 'node:crypto';
import { CLUSTER_CONFIG_OFFSET } from '../src/cluster/clusterConfig.js';
import { JOURNAL_RECORD_MAGIC } from '../src/cluster/journal.js';
import { LockMode, lockHeaderStruct } from '../src/cluster/lockHeader.js';
import { slotOffset } from '../src/cluster/heartbeat.js';
import { BlockDevice } from '../src/device/blockDevice.js';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { ClusterMount, mountClustered } from '../src/fs/clusterMount.js';
import { fileBlockId, inodeAddress } from '../src/fs/blockId.js';
import { Zla } from '../src/fs/inode.js';
import { DIR_ENTRY_SIZE } from '../src/fs/directory.js';
import { mapForRead } from '../src/fs/fileMap.js';
import { mkfs } from '../src/fs/mkfs.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';
import { TEST_PARAMS } from './cluster/clusterHelpers.js';
import { expect } from 'vitest';
import { fsckDevices } from '../src/fsck/fsck.js';
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
  const fs = await mkfs(devices, { cluster: TEST_PARAMS }); // short leases: fsck watches a dead host for 1.5 s
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
  /** Files that must be there after the repair, with their bytes (a replayed commit made them). */
  made?: Record<string, Buffer>;
  /** The extent (index) the damage takes away: -y is given a new empty device to recreate it on. */
  dropsExtent?: number;
  /** Text -n must say about the problem (a host UUID, a path). */
  says?: RegExp;
  apply(fs: Vmfs, raw: LogicalVolume, devices: MemoryDevice[]): Promise<void>;
}

/** The extent as a killed host sees it: writes land until the host dies, then none does. */
class Killable implements BlockDevice {
  readonly readOnly = false;
  constructor(
    private readonly inner: MemoryDevice,
    private readonly host: { dead: boolean; dieAfter: ((buf: Uint8Array) => boolean) | null },
  ) {}
  get name() {
    return this.inner.name;
  }
  get size() {
    return this.inner.size;
  }
  read(buf: Uint8Array, offset: number) {
    return this.inner.read(buf, offset);
  }
  async write(buf: Uint8Array, offset: number) {
    if (this.host.dead) return;
    await this.inner.write(buf, offset);
    if (this.host.dieAfter?.(buf)) this.host.dead = true;
  }
  async flush() {}
  async refreshSize() {
    return this.inner.size;
  }
  async close() {}
}

export const DEAD_HOST = '5f0c2a11-6d3e4b5a-7c8d-9e0f1a2b3c4d';

/**
 * Mounts the datastore as cluster host DEAD_HOST, runs `work`, and kills the
 * host: at once when `work` returns, or right after the write `dieAfter`
 * picks (armed by `work` through `arm`).
 */
async function killedHost(devices: MemoryDevice[], work: (mount: ClusterMount, arm: (dieAfter: (buf: Uint8Array) => boolean) => void) => Promise<void>): Promise<void> {
  const host = { dead: false, dieAfter: null as ((buf: Uint8Array) => boolean) | null };
  const mount = await mountClustered(await LogicalVolume.open(devices.map((d) => new Killable(d, host))), { hostUuid: DEAD_HOST });
  try {
    await work(mount, (dieAfter) => (host.dieAfter = dieAfter));
  } finally {
    host.dead = true;
    await mount.member.host.leave().catch(() => undefined); // stops its timers; nothing it writes lands
  }
}

const isJournalRecord = (buf: Uint8Array) => buf.length >= 512 && Buffer.from(buf.buffer, buf.byteOffset, 4).readUInt32LE(0) === JOURNAL_RECORD_MAGIC;

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
  {
    name: 'stale heartbeat (a host killed while mounted)',
    codes: ['stale-heartbeat'],
    says: new RegExp(DEAD_HOST),
    apply: async (_fs, _raw, devices) => killedHost(devices, async () => undefined),
  },
  {
    name: 'stale lock (held by hosts that are gone)',
    codes: ['stale-lock'],
    says: /inode 0x[0-9a-f]+: exclusive lock of host .*heartbeat slot 12 is free/,
    apply: async (fs, raw) => {
      // An exclusive lock on /dir/a by an incarnation whose slot is free, and a shared lock on a
      // bitmap entry naming one holder that is no heartbeat slot at all.
      const at = await inodeOffset(fs, '/dir/a');
      await patch(raw, at, (b) => lockHeaderStruct.encodeInto({ ...lockHeaderStruct.decode(b), mode: LockMode.Exclusive, hbPos: slotOffset(12), hbSeq: 7, hbUuid: DEAD_HOST, objSeq: 3 }, b), 512);
      const holders = Buffer.alloc(128);
      holders.writeBigUInt64LE(0x1234n, 0);
      holders.writeBigUInt64LE(1n, 8);
      await patch(raw, fs.sbc.entryLogical(0), (b) => lockHeaderStruct.encodeInto({ ...lockHeaderStruct.decode(b), mode: LockMode.ReadOnly, numHolders: 1, holders }, b), 512);
    },
  },
  {
    name: 'half-written journal (a host killed after its commit record, before the writes in place)',
    codes: ['journal-replay'],
    says: new RegExp(`${DEAD_HOST} died in the middle of a commit`),
    made: { '/journaled': pattern(150_000, 99) },
    apply: async (_fs, _raw, devices) =>
      killedHost(devices, async (mount, arm) => {
        const id = await mount.fs.create('/journaled');
        await mount.lockFile(id, LockMode.Exclusive); // held open for writing: a stale lock after the kill
        arm(isJournalRecord);
        await mount.fs.write(id, pattern(150_000, 99), 0); // data, then the record, then (lost) the writes in place
      }),
  },
  {
    name: 'bit flip in the cluster config',
    codes: ['cluster-config'],
    says: /cluster config at 0x200200 is damaged/,
    apply: async (_fs, raw) => patch(raw, CLUSTER_CONFIG_OFFSET + 8, (b) => (b[0] ^= 4), 1),
  },
  {
    name: 'missing extent',
    codes: ['extent-missing'],
    says: /\/far: 1048576 bytes .* lay on the missing extent/,
    dropsExtent: 1,
    lost: ['/far'],
    apply: async (fs) => {
      // A file with a block on the second extent (segment 1): its bytes go with the extent.
      const id = await fs.create('/far');
      const bs = fs.blockSize;
      const ipe = fs.fbb.layout.geometry.itemsPerEntry;
      await fs.transact(async (tx) => {
        const [at] = fs.fbb.allocate(tx, 1, (300 * MiB) / bs);
        const block = at.entry * ipe + at.item;
        if (block * bs < 256 * MiB) throw new Error('the test wants a block on the second extent');
        await fs.volume.write(pattern(bs, 5), block * bs);
        const inode = await fs.editInode(tx, id);
        Object.assign(inode, { zla: Zla.FileBlocks, blockSize: bs, blockCount: 1, size: bs });
        inode.blocks[0] = fileBlockId(block);
      });
    },
  },
];

/** A seeded generator for the fuzz tests: rand(n) in 0..n-1. */
export function seededRandom(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
}

/**
 * One fuzz round: damages a few sectors chosen by `pick` (a pattern, or a few
 * bit flips within the first `span` bytes), then fsck -y must end with one of
 * its codes in time, and a repaired volume must check clean. Returns the exit code.
 */
export async function fuzzRound(devices: MemoryDevice[], pick: () => number, rand: (n: number) => number, seed: number, span = 512): Promise<number> {
  const raw = await LogicalVolume.open(devices);
  for (let h = 0, hits = 1 + rand(3); h < hits; h++) {
    const at = pick();
    const sector = Buffer.alloc(512);
    await raw.read(sector, at);
    if (rand(4) === 0) sector.set(pattern(512, seed * 7 + h));
    else for (let k = 0; k < 1 + rand(8); k++) sector[rand(span)] ^= 1 << rand(8);
    await raw.write(sector, at);
  }
  const t = Date.now();
  const r = await fsckDevices(devices, { mode: 'yes' });
  expect(Date.now() - t, `seed ${seed}`).toBeLessThan(30_000);
  expect([0, 1, 2, 4], `seed ${seed}: ${JSON.stringify(r.findings)}`).toContain(r.exitCode); // 8 would be fsck's own failure (a read outside the extents)
  if (r.exitCode === 1 || r.exitCode === 2) {
    const again = await fsckDevices(devices, { mode: 'check' });
    expect(again.findings, `seed ${seed}`).toEqual([]);
  }
  return r.exitCode;
}
