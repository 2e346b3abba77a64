// The pieces of online growth below the cluster: a volume that stays open
// takes in an extent another process added (found through the extent table,
// checked against its UUIDs) and a last extent that grew; a grower that lost
// its lease writes nothing; one cut off midway leaves a record that only its
// own takeover finishes or undoes, and that a shared open waits for.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FencedError } from '../src/cluster/clusterErrors.js';
import { openDevice } from '../src/device/openDevice.js';
import { extendDatastore, formatDatastore, growLastExtent, openDatastore } from '../src/fs/datastore.js';
import { applyGrowth } from '../src/fs/grow.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { NULL_UUID } from '../src/util/uuid.js';
import { readExtentTable } from '../src/volume/extentTable.js';
import { GROW_LOG_MAX, GROW_LOG_OFFSET, recoverGrowth } from '../src/volume/growLog.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { SEGMENT_SIZE, deviceSizeFor } from '../src/volume/volumeHeader.js';
import { MiB, expectClean, expectVmfsToolsClean, pattern, readAll, runVmfs, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-grow-refresh-');
afterAll(() => tmp.cleanup());

const GROWER = '6b00e000-00000001-0001-0000000000ee';

/** Each file's digest, without the growth intent log's area (a cleared record leaves its body behind). */
function digest(paths: string[]): string[] {
  return paths.map((p) => {
    const b = readFileSync(p);
    if (b.length >= GROW_LOG_OFFSET + GROW_LOG_MAX) b.fill(0, GROW_LOG_OFFSET, GROW_LOG_OFFSET + GROW_LOG_MAX);
    return createHash('sha1').update(b).digest('hex');
  });
}

async function fresh(name: string, extents = 1): Promise<{ dir: string; paths: string[] }> {
  const dir = join(tmp.path, name);
  mkdirSync(dir);
  const paths = Array.from({ length: extents }, (_, i) => join(dir, `e${i}`));
  const fs = await formatDatastore(paths, { size: deviceSizeFor(1) });
  const id = await fs.create('/keep');
  await fs.write(id, pattern(5 * MiB, 1), 0);
  await fs.close();
  return { dir, paths };
}

/** A write guard that lets `allowed` writes (and flushes) through, then reports the lease lost. */
function leaseFor(allowed: number) {
  let left = allowed;
  return {
    uuid: GROWER,
    assertCanWrite() {
      if (left-- <= 0) throw new FencedError('test: lease ran out');
    },
  };
}

describe('a volume that stays open while another process grows it', () => {
  it('takes in an added extent (named relative to the grower) and a grown last extent', async () => {
    const { dir, paths } = await fresh('refresh');
    const mounted = await openDatastore(paths);
    // Another process adds an extent, named relative to its own working directory.
    const r = runVmfs(['extend', '-d', 'e0', '--add', 'e1', '--size', String(deviceSizeFor(2))], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(mounted.volume.size).toBe(SEGMENT_SIZE);
    await mounted.volume.refresh();
    expect(mounted.volume.size).toBe(3 * SEGMENT_SIZE);
    expect(mounted.volume.extents.map((e) => [e.device.name, e.firstSegment, e.lastSegment])).toEqual([
      [paths[0], 0, 0],
      [join(dir, 'e1'), 1, 2],
    ]);
    // The table names both extents by absolute path.
    const table = await readExtentTable((b, o) => mounted.volume.read(b, o));
    expect(table.map((t) => [t.index, t.name, t.deviceUuid])).toEqual(mounted.volume.extents.map((e, i) => [i, e.device.name, e.header.deviceUuid]));
    // Bytes written on the new extent by another opener are read through the refreshed volume.
    const other = await openDatastore([paths[0], join(dir, 'e1')]);
    const probe = pattern(MiB, 7);
    await other.volume.write(probe, 2 * SEGMENT_SIZE + 5 * MiB);
    await other.close();
    const back = Buffer.alloc(MiB);
    await mounted.volume.read(back, 2 * SEGMENT_SIZE + 5 * MiB);
    expect(back.equals(probe)).toBe(true);

    // The last extent's file grows by a segment; another process takes it in.
    truncateSync(join(dir, 'e1'), deviceSizeFor(3));
    await growLastExtent([paths[0], join(dir, 'e1')]);
    await mounted.volume.refresh();
    expect(mounted.volume.size).toBe(4 * SEGMENT_SIZE);
    expect(mounted.volume.extents[1].lastSegment).toBe(3);
    await mounted.volume.refresh(); // nothing changed: nothing moves
    expect(mounted.volume.size).toBe(4 * SEGMENT_SIZE);
    await mounted.close();
    const all = [paths[0], join(dir, 'e1')];
    const check = await openDatastore(all, { readOnly: true });
    expect(check.statfs().totalBlocks).toBe(1024);
    expect((await readAll(check, '/keep')).equals(pattern(5 * MiB, 1))).toBe(true);
    await expectClean(check);
    await check.close();
    expectVmfsToolsClean(all);
  });

  it('refuses an added extent it cannot open, or one that is not the extent recorded, and keeps its geometry', async () => {
    const { dir, paths } = await fresh('refuse');
    const mounted = await openDatastore(paths);
    await extendDatastore(paths, join(dir, 'e1'), { size: deviceSizeFor(1) });
    renameSync(join(dir, 'e1'), join(dir, 'moved'));
    await expect(mounted.volume.refresh()).rejects.toThrow(/extent 1 of the volume \(added elsewhere\) cannot be opened: .*e1: No such file or directory/);
    expect(mounted.volume.size).toBe(SEGMENT_SIZE);
    // Another volume's extent where the table points: refused by its UUIDs.
    (await formatDatastore([join(dir, 'e1')], { size: deviceSizeFor(1) })).close();
    await expect(mounted.volume.refresh()).rejects.toThrow(/e1: holds extent .* of LVM .*, not extent .* of this volume/);
    expect(mounted.volume.extents.length).toBe(1);
    renameSync(join(dir, 'moved'), join(dir, 'e1'));
    await mounted.volume.refresh();
    expect(mounted.volume.size).toBe(2 * SEGMENT_SIZE);
    await mounted.close();
  });
});

describe('a grower that loses its lease', () => {
  it('writes nothing once fenced', async () => {
    const { dir, paths } = await fresh('fenced');
    const added = join(dir, 'e1');
    const dev = await openDevice(added, { create: true });
    await dev.setSize!(deviceSizeFor(1));
    const before = digest([...paths, added]);
    const fs = await openDatastore(paths);
    await expect(applyGrowth(fs, { add: dev, host: leaseFor(0) })).rejects.toThrow(FencedError);
    await fs.close();
    await dev.close();
    expect(digest([...paths, added])).toEqual(before);
  });

  it('cut off midway: only its own takeover finishes or undoes the change; a shared open waits, then refuses', async () => {
    const outcomes = new Set<string>();
    for (const allowed of [1, 2, 4, 7, 9]) {
      const { dir, paths } = await fresh(`midway${allowed}`);
      const added = join(dir, 'e1');
      const dev = await openDevice(added, { create: true });
      await dev.setSize!(deviceSizeFor(1));
      const fs = await openDatastore(paths);
      await expect(applyGrowth(fs, { add: dev, host: leaseFor(allowed) })).rejects.toThrow(FencedError);
      await fs.close();
      await dev.close();
      const devices = [await openDevice(paths[0])];
      try {
        if (allowed === 1) await expect(LogicalVolume.open(devices, { shared: true })).rejects.toThrow(`host ${GROWER} is growing the datastore`);
        expect(await recoverGrowth(devices, { owner: NULL_UUID })).toBe('none');
        // Its takeover finds the new extent by the name the record carries: finished.
        const outcome = await recoverGrowth(devices, { owner: GROWER });
        outcomes.add(outcome);
        expect(outcome).toBe('finished');
      } finally {
        for (const d of devices) await d.close();
      }
      const all = [paths[0], added];
      const grown: Vmfs = await openDatastore(all, { readOnly: true });
      expect(grown.volume.size).toBe(2 * SEGMENT_SIZE);
      expect(grown.statfs().totalBlocks).toBe(512);
      expect((await readAll(grown, '/keep')).equals(pattern(5 * MiB, 1))).toBe(true);
      await expectClean(grown);
      await grown.close();
      expectVmfsToolsClean(all);
    }
    expect([...outcomes]).toEqual(['finished']);
  });

  it('cut off midway with the new extent gone: its takeover undoes the change', async () => {
    const { dir, paths } = await fresh('undo');
    const added = join(dir, 'e1');
    const dev = await openDevice(added, { create: true });
    await dev.setSize!(deviceSizeFor(1));
    const before = digest(paths);
    const fs = await openDatastore(paths);
    await expect(applyGrowth(fs, { add: dev, host: leaseFor(6) })).rejects.toThrow(FencedError);
    await fs.close();
    await dev.close();
    renameSync(added, join(dir, 'gone'));
    const devices = [await openDevice(paths[0])];
    expect(await recoverGrowth(devices, { owner: GROWER })).toBe('rolled back');
    await devices[0].close();
    expect(digest(paths)).toEqual(before);
  });
});
