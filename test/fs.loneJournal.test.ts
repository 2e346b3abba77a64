// A host that changes a datastore alone, killed at any write (src/fs/loneJournal.ts).
// Every device write of a run of operations is logged; the image as it would be after
// a kill before write k is the start image plus the first k writes. Opened read-only
// (the record laid over the reads) and read-write (the record applied), every such
// image checks clean and shows the tree as it was before or after one operation:
// an operation is never seen half done. A cluster host that joins first completes it too.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/device/blockDevice.js';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { InodeType } from '../src/fs/inode.js';
import { mountClustered } from '../src/fs/clusterMount.js';
import { LONE_JOURNAL_BYTES, LONE_JOURNAL_OFFSET, pendingLoneCommit } from '../src/fs/loneJournal.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { EXTENT_DATA_OFFSET } from '../src/volume/volumeHeader.js';
import { MiB, expectClean, memoryFs, pattern, readAll } from './helpers.js';

interface Write {
  offset: number;
  data: Uint8Array;
}

/** A memory extent that logs every write. */
function recording(device: MemoryDevice, log: Write[]): BlockDevice {
  return {
    name: device.name,
    readOnly: false,
    get size() {
      return device.size;
    },
    read: (buf, offset) => device.read(buf, offset),
    write: (buf, offset) => {
      log.push({ offset, data: Uint8Array.from(buf) });
      return device.write(buf, offset);
    },
    flush: () => device.flush(),
    refreshSize: () => device.refreshSize(),
    close: () => device.close(),
  };
}

/** Every name under `dir`, with its type, size, mode, link count and bytes (or target). */
async function tree(fs: Vmfs, dir = '/'): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir)) {
    if (e.name === '.' || e.name === '..' || (dir === '/' && e.name.startsWith('.'))) continue;
    const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
    const st = await fs.stat(path, false);
    let body = '';
    if (st.type === InodeType.Directory) out.push(...(await tree(fs, path)));
    else if (st.type === InodeType.Symlink) body = await fs.readlink(path);
    else body = createHash('sha256').update(await readAll(fs, path)).digest('hex').slice(0, 16);
    out.push(`${path} ${st.type} ${st.size} ${(st.mode & 0o7777).toString(8)} ${st.nlink} ${body}`);
  }
  return out.sort();
}

/** Whether a device write went to the lone journal's region (of the only extent). */
function inJournal(w: Write): boolean {
  return w.offset >= EXTENT_DATA_OFFSET + LONE_JOURNAL_OFFSET && w.offset < EXTENT_DATA_OFFSET + LONE_JOURNAL_OFFSET + LONE_JOURNAL_BYTES;
}

/** A datastore with /d, and the writes of create(path) in it; the image as a kill after its record and one write in place leaves it. */
async function cutCreate(path: string): Promise<{ image: MemoryDevice; commit: Write[] }> {
  const { fs: made, devices } = await memoryFs([1]);
  await made.mkdir('/d');
  await made.close();
  const base = devices[0].clone();
  const log: Write[] = [];
  const fs = await Vmfs.open(await LogicalVolume.open([recording(devices[0], log)]));
  const before = log.length;
  await fs.create(path);
  const commit = log.slice(before);
  expect(commit.length).toBeGreaterThan(2); // the record, then several writes in place
  const image = base.clone();
  for (const w of log.slice(0, before + 2)) await image.write(w.data, w.offset);
  return { image, commit };
}

async function openImage(base: MemoryDevice, writes: Write[], readOnly: boolean): Promise<Vmfs> {
  const image = base.clone();
  for (const w of writes) await image.write(w.data, w.offset);
  return Vmfs.open(await LogicalVolume.open([image], { readOnly }), { readOnly });
}

describe('a lone host killed at any write', () => {
  it('leaves a datastore that checks clean and shows each operation whole or not at all', async () => {
    const { fs: made, devices } = await memoryFs([1]);
    await made.mkdir('/d');
    await made.write(await made.create('/d/keep'), Buffer.from('kept'), 0);
    await made.close();
    const base = devices[0].clone();

    const log: Write[] = [];
    const fs = await Vmfs.open(await LogicalVolume.open([recording(devices[0], log)]));
    const ops: [string, () => Promise<unknown>][] = [
      ['mkdir', () => fs.mkdir('/d/e')],
      ['create', () => fs.create('/d/e/f')],
      ['write', async () => fs.write(await fs.resolve(null, '/d/e/f'), pattern(3000, 1), 0)],
      ['grow into a block', async () => fs.write(await fs.resolve(null, '/d/e/f'), pattern(5000, 2), 2 * MiB)],
      ['rename across directories', () => fs.rename('/d/e/f', '/g')],
      ['symlink', () => fs.symlink('/g', '/d/e/l')],
      ['link', () => fs.link('/g', '/d/g2')],
      ['unlink', () => fs.unlink('/d/keep')],
      ['truncate', () => fs.truncate('/g', 100)],
      ['chmod', () => fs.setAttributes('/g', { mode: 0o600 })],
      ['rename over', () => fs.rename('/d/g2', '/g')],
      ['unlink the symlink', () => fs.unlink('/d/e/l')],
      ['rmdir', () => fs.rmdir('/d/e')],
    ];
    const ends = [0];
    const trees = [await tree(fs)];
    for (const [, op] of ops) {
      await op();
      ends.push(log.length);
      trees.push(await tree(fs));
    }
    await fs.close();
    // The journal was used: each operation's metadata went through its record first.
    expect(log.filter(inJournal).length).toBeGreaterThanOrEqual(ops.length);

    let cutMidway = 0;
    for (let k = 0; k <= log.length; k++) {
      const j = ends.findLastIndex((end) => end <= k); // operations finished before write k
      const allowed = [trees[j], trees[Math.min(j + 1, ops.length)]];
      if (k > ends[j] && k < (ends[j + 1] ?? Infinity)) cutMidway++;
      const where = `killed before write ${k} of ${log.length}, after ${j} operations (${ops[j]?.[0] ?? 'all done'} under way)`;
      for (const readOnly of [true, false]) {
        const seen = await openImage(base, log.slice(0, k), readOnly);
        try {
          await expectClean(seen).catch((e) => expect.unreachable(`${where}, ${readOnly ? 'read-only' : 'read-write'}: ${e.message}`));
          expect(allowed, `${where}, ${readOnly ? 'read-only' : 'read-write'}`).toContainEqual(await tree(seen));
        } finally {
          await seen.close();
        }
      }
    }
    expect(cutMidway).toBeGreaterThan(ops.length); // most operations take several writes
  });

  it('a read-write open completes the cut commit on disk and empties the journal', async () => {
    const { image, commit } = await cutCreate('/d/new');
    const reopened = await Vmfs.open(await LogicalVolume.open([image]));
    await reopened.close();
    for (const w of commit.filter((x) => !inJournal(x))) {
      const now = new Uint8Array(w.data.length);
      await image.read(now, w.offset);
      expect(Buffer.from(now).equals(Buffer.from(w.data)), `write at ${w.offset}`).toBe(true);
    }
    const head = new Uint8Array(8);
    await image.read(head, EXTENT_DATA_OFFSET + LONE_JOURNAL_OFFSET + 0x14);
    expect(Buffer.from(head).readUInt32LE(0)).toBe(0); // an empty record: nothing left to apply
    const again = await Vmfs.open(await LogicalVolume.open([image], { readOnly: true }), { readOnly: true });
    expect((await again.stat('/d/new')).size).toBe(0);
    await expectClean(again);
    await again.close();
  });

  it('the first cluster host to join completes the cut commit', async () => {
    const { image } = await cutCreate('/d/joined');
    const host = await mountClustered(await LogicalVolume.open([image], { shared: true }), { hostUuid: '6b0c0000-00000001-0001-0000000000d4' });
    try {
      expect((await host.fs.readdir('/d')).map((e) => e.name)).toContain('joined');
      await expectClean(host.fs);
    } finally {
      await host.leave();
    }
    const after = await Vmfs.open(await LogicalVolume.open([image], { readOnly: true }), { readOnly: true });
    expect(await pendingLoneCommit(after.volume)).toEqual([]);
    await after.close();
  });
});
