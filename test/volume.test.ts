// The logical volume: extents in any order, I/O across extent boundaries,
// and refusals that name the extent at fault.
import { writeFileSync, truncateSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { FileDevice } from '../src/device/fileDevice.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { EXTENT_DATA_OFFSET, SEGMENT_SIZE, deviceSizeFor } from '../src/volume/volumeHeader.js';
import { formatDatastore, openDatastore } from '../src/fs/datastore.js';
import { FS_INFO_OFFSET } from '../src/fs/fsInfo.js';
import { VolumeError } from '../src/util/errors.js';
import { MiB, pattern, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function devices(counts: number[], prefix = 'd') {
  return counts.map((n, i) => new MemoryDevice(`${prefix}${i}`, deviceSizeFor(n)));
}

describe('logical volume', () => {
  it('maps segments onto extents in order and splits I/O at extent boundaries', async () => {
    const devs = devices([1, 2, 1]);
    const vol = await LogicalVolume.create(devs);
    expect(vol.size).toBe(4 * SEGMENT_SIZE);
    expect(vol.extents.map((e) => [e.firstSegment, e.lastSegment])).toEqual([
      [0, 0],
      [1, 2],
      [3, 3],
    ]);
    // 3 MiB straddling the boundary between extent 0 and extent 1
    const data = pattern(3 * MiB, 1);
    const at = SEGMENT_SIZE - MiB;
    await vol.write(data, at);
    const back = Buffer.alloc(data.length);
    await vol.read(back, at);
    expect(back.equals(data)).toBe(true);
    // the bytes really are where the layout says: tail of extent 0, head of extent 1
    const d0 = Buffer.alloc(MiB);
    await devs[0].read(d0, EXTENT_DATA_OFFSET + SEGMENT_SIZE - MiB);
    expect(d0.equals(data.subarray(0, MiB))).toBe(true);
    const d1 = Buffer.alloc(2 * MiB);
    await devs[1].read(d1, EXTENT_DATA_OFFSET);
    expect(d1.equals(data.subarray(MiB))).toBe(true);
    // a range over three extents
    const wide = pattern(2 * SEGMENT_SIZE + 2 * MiB, 2);
    await vol.write(wide, SEGMENT_SIZE - MiB);
    const wideBack = Buffer.alloc(wide.length);
    await vol.read(wideBack, SEGMENT_SIZE - MiB);
    expect(wideBack.equals(wide)).toBe(true);
    await expect(vol.read(Buffer.alloc(2), vol.size - 1)).rejects.toThrow(RangeError);
  });

  it('opens extents given in any order', async () => {
    const devs = devices([1, 1, 1]);
    const vol = await LogicalVolume.create(devs);
    await vol.write(Buffer.from('third'), 2 * SEGMENT_SIZE + 5);
    const reopened = await LogicalVolume.open([devs[2], devs[0], devs[1]]);
    expect(reopened.extents.map((e) => e.device.name)).toEqual(['d0', 'd1', 'd2']);
    const b = Buffer.alloc(5);
    await reopened.read(b, 2 * SEGMENT_SIZE + 5);
    expect(b.toString()).toBe('third');
  });

  it('refuses a missing extent, naming what is missing', async () => {
    const devs = devices([1, 1, 1]);
    await LogicalVolume.create(devs);
    await expect(LogicalVolume.open([devs[0], devs[2]])).rejects.toThrow(/missing extent.*3 extents, 2 given.*segments 1-1/);
  });

  it('refuses a foreign extent, naming it', async () => {
    const a = devices([1, 1], 'a');
    const b = devices([1], 'b');
    await LogicalVolume.create(a);
    await LogicalVolume.create(b);
    await expect(LogicalVolume.open([a[0], b[0]])).rejects.toThrow(/b0: extent of another volume/);
  });

  it('refuses a duplicate extent', async () => {
    const devs = devices([1, 1]);
    await LogicalVolume.create(devs);
    await expect(LogicalVolume.open([devs[0], devs[0], devs[1]])).rejects.toThrow(/d0: the same extent as d0/);
  });

  it('refuses a device that is not an extent, and a zeroed volume header', async () => {
    const blank = new MemoryDevice('blank', deviceSizeFor(1));
    await expect(LogicalVolume.open([blank])).rejects.toThrow(/blank: not a VMFS extent/);
    const devs = devices([1]);
    await LogicalVolume.create(devs);
    await devs[0].write(Buffer.alloc(512), 0x100000);
    await expect(LogicalVolume.open(devs)).rejects.toThrow(/d0: not a VMFS extent/);
  });

  it('refuses too many extents and too small devices', async () => {
    await expect(LogicalVolume.create(devices(new Array(33).fill(1)))).rejects.toThrow(/at most 32/);
    await expect(LogicalVolume.create([new MemoryDevice('tiny', 100 * MiB)])).rejects.toThrow(/tiny: too small for an extent/);
  });
});

describe('datastore files', () => {
  it('refuses a truncated extent file with a clear error', async () => {
    const e0 = join(tmp.path, 'trunc0');
    const e1 = join(tmp.path, 'trunc1');
    const fs = await formatDatastore([e0, e1], { size: 300 * MiB });
    await fs.close();
    truncateSync(e1, 200 * MiB);
    await expect(openDatastore([e0, e1])).rejects.toThrow(/trunc1: extent is truncated/);
    truncateSync(e1, 1000);
    await expect(openDatastore([e0, e1])).rejects.toThrow(/trunc1: too short to be a VMFS extent/);
  });

  it('refuses an unknown block size in FS info', async () => {
    const e0 = join(tmp.path, 'bs0');
    const fs = await formatDatastore([e0], { size: 300 * MiB });
    await fs.close();
    const fd = openSync(e0, 'r+');
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(3n * BigInt(MiB) + 7n);
    writeSync(fd, b, 0, 8, EXTENT_DATA_OFFSET + FS_INFO_OFFSET + 0xa1);
    closeSync(fd);
    await expect(openDatastore([e0])).rejects.toThrow(/unknown block size 3145735/);
  });

  it('refuses a missing or unreadable extent file', async () => {
    await expect(openDatastore([join(tmp.path, 'nope')])).rejects.toThrow(/nope: No such file or directory/);
    writeFileSync(join(tmp.path, 'plain'), 'x');
    await expect(openDatastore([join(tmp.path, 'plain')])).rejects.toThrow(VolumeError);
  });

  it('keeps extent files sparse and opens them with FileDevice', async () => {
    const e0 = join(tmp.path, 'sp0');
    const fs = await formatDatastore([e0], { size: 600 * MiB });
    await fs.close();
    const d = FileDevice.open(e0, { readOnly: true });
    expect(d.size).toBe(600 * MiB);
    await d.close();
  });
});
