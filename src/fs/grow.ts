// Growing a datastore: adding an extent (`extend`) or taking in the room a
// last extent's file or device gained (`grow`). The logical volume gains
// segments, the file-block bitmap gains the blocks they hold (its file grows
// into the new space if it must), and the extent table records where the
// new extent can be opened. Every sector write is first recorded in the
// growth intent log (volume/growLog.ts), so a crash at any point leaves the
// old volume or the new one. As a cluster host, the change is made under the
// host's name (a takeover finishes or undoes it) and every device write is
// fenced by its lease.
import { LOCK_HEADER_SIZE } from '../cluster/lockHeader.js';
import { WriteGuard, guardVolume } from '../cluster/guardedVolume.js';
import { BlockDevice } from '../device/blockDevice.js';
import { VolumeError } from '../util/errors.js';
import { NULL_UUID, newUuid } from '../util/uuid.js';
import { ExtentMap } from '../volume/extentMap.js';
import { EXTENT_RECORD_SIZE, decodeExtentRecord, encodeExtentRecord, extentRecordOffset, recordableName } from '../volume/extentTable.js';
import { DeviceWrite, applyGrowLog, clearGrowLog, deviceUuidOf, encodeGrowLog, recoverGrowth, writeGrowLog } from '../volume/growLog.js';
import { Extent, LogicalVolume } from '../volume/logicalVolume.js';
import {
  EXTENT_DATA_OFFSET,
  LVM_INFO_OFFSET,
  LVM_VERSION,
  MAX_EXTENTS,
  SEGMENT_SIZE,
  VOLUME_HEADER_OFFSET,
  VOLUME_MAGIC,
  deviceSizeFor,
  lvmInfoStruct,
  segmentsFor,
  volumeHeaderStruct,
} from '../volume/volumeHeader.js';
import { fileBlockId, fileBlockNumber, inodeAddress } from './blockId.js';
import { INODE_BLOCKS, decodeInode, encodeInode } from './inode.js';
import { BITMAP_ENTRY_SIZE, ResourceKind, ResourceLayout, cloneBitmapEntry, encodeBitmapEntry, freshBitmapEntry, resourceHeaderStruct, setItemFree } from './resourceFile.js';
import { FileLayout, Resource, mapFileRange, piecesOf } from './resources.js';
import { systemFileId } from './systemFiles.js';
import { Vmfs } from './vmfs.js';

export interface GrowResult {
  oldSize: number;
  newSize: number;
  addedSegments: number;
}

export interface GrowOptions {
  /** The device to add as a new extent; without it, the last extent grows into its device. */
  add?: BlockDevice;
  /** The cluster host making the change: named in the intent log, and asked before every device write. */
  host?: WriteGuard & { readonly uuid: string };
}

/** Plans and applies the growth on a datastore nobody else uses; `fs` (and `add`) are closed afterwards. */
export async function growDatastore(fs: Vmfs, options: GrowOptions = {}): Promise<GrowResult> {
  const result = await applyGrowth(fs, options);
  await fs.close();
  await options.add?.close();
  return result;
}

/**
 * Refuses, with the error applyGrowth would give, a growth that cannot be
 * done (too many extents, an extent twice, too small, nothing to grow into):
 * before taking every host's attention for it.
 */
export async function checkGrowth(volume: LogicalVolume, options: GrowOptions = {}): Promise<void> {
  await planGrowth(volume, options);
}

/**
 * Plans and applies the growth on `fs`, open read-write, and leaves it open.
 * Nothing else may change metadata meanwhile: run it inside
 * `fs.changeGeometry` (which then has every host, this one included, take
 * in the new volume and bitmaps), or on a datastore nobody else uses. Reads
 * what it changes from disk, not from caches. `add` stays open. Once the
 * intent log is written, a failure finishes or undoes the change before it
 * is reported (unless this host may not write any more: then its takeover does).
 */
export async function applyGrowth(fs: Vmfs, options: GrowOptions = {}): Promise<GrowResult> {
  const volume = fs.volume;
  await volume.refresh();
  const { extents, oldSegments, newSegments, added } = await planGrowth(volume, options);
  const map = new ExtentMap(extents);
  const read = async (offset: number, length: number) => {
    const b = Buffer.alloc(length);
    await volume.read(b, offset);
    return b;
  };
  const logical = [...(await bitmapWrites(fs, newSegments, read)), ...(await extentTableWrites(extents, read))];

  // Everything as device writes, with the bytes each replaces; fenced when a cluster host makes them.
  const fenced = (d: BlockDevice) => (options.host ? guardVolume(d, options.host) : d);
  const writes: DeviceWrite[] = [];
  const record = async (device: BlockDevice, uuid: string, deviceOffset: number, after: Uint8Array) => {
    const before = Buffer.alloc(after.length);
    if (deviceOffset + after.length <= device.size) await device.read(before, deviceOffset);
    writes.push({ deviceUuid: uuid, deviceOffset, before, after: Buffer.from(after) });
  };
  for (const w of logical) {
    for (const p of map.map(w.offset, w.data.length)) {
      await record(p.extent.device, p.extent.header.deviceUuid, p.deviceOffset, w.data.subarray(p.bufferOffset, p.bufferOffset + p.length));
    }
  }
  for (const e of extents) {
    const buf = Buffer.alloc(0x400);
    volumeHeaderStruct.encodeInto(e.header, buf, 0);
    lvmInfoStruct.encodeInto(e.lvm, buf, LVM_INFO_OFFSET - VOLUME_HEADER_OFFSET);
    await record(e.device, e.header.deviceUuid, VOLUME_HEADER_OFFSET, buf);
  }

  const owner = options.host?.uuid ?? NULL_UUID;
  const logHolder = fenced(extents[0].device);
  await writeGrowLog(logHolder, encodeGrowLog(writes, owner));
  try {
    await applyGrowLog(writes, new Map(extents.map((e) => [e.header.deviceUuid, fenced(e.device)])), 'redo');
    await clearGrowLog(logHolder);
  } catch (e) {
    await recoverGrowth(
      extents.map((x) => x.device),
      { owner, wrap: fenced },
    ).catch(() => undefined);
    throw e;
  }
  return { oldSize: oldSegments * SEGMENT_SIZE, newSize: newSegments * SEGMENT_SIZE, addedSegments: added };
}

/** The extents after the growth, with their new headers; refuses a growth that cannot be done. */
async function planGrowth(volume: LogicalVolume, options: GrowOptions): Promise<{ extents: Extent[]; oldSegments: number; newSegments: number; added: number }> {
  const oldSegments = volume.size / SEGMENT_SIZE;
  const now = Math.floor(Date.now() / 1000);
  const extents: Extent[] = volume.extents.map((e) => ({ ...e, header: { ...e.header }, lvm: { ...e.lvm } }));
  let added: number;
  if (options.add) {
    const d = options.add;
    if (extents.length >= MAX_EXTENTS) throw new VolumeError(`the datastore already has ${MAX_EXTENTS} extents, the most VMFS allows`);
    const uuid = await deviceUuidOf(d);
    if (extents.some((e) => e.device.name === d.name || e.header.deviceUuid === uuid)) throw new VolumeError(`${d.name}: already an extent of this datastore`);
    added = segmentsFor(d.size);
    if (added < 1) throw new VolumeError(`${d.name}: too small for an extent (${d.size} bytes; at least ${deviceSizeFor(1)} needed)`);
    extents.push({
      device: d,
      firstSegment: oldSegments,
      lastSegment: oldSegments + added - 1,
      header: { magic: VOLUME_MAGIC, version: LVM_VERSION, lun: 0, name: '', totalBytes: d.size, numPEs: 1, dataOffset: EXTENT_DATA_OFFSET, deviceUuid: newUuid(), ctime: now, mtime: now },
      lvm: { ...extents[0].lvm, numSegments: added, firstSegment: oldSegments, lastSegment: oldSegments + added - 1, ctime: now },
    });
  } else {
    const last = extents[extents.length - 1];
    await last.device.refreshSize();
    added = segmentsFor(last.device.size) - last.lvm.numSegments;
    if (added < 1) {
      throw new VolumeError(
        `${last.device.name}: nothing to grow into (${last.device.size} bytes hold ${segmentsFor(last.device.size)} segments of 256 MiB; ${last.lvm.numSegments} already in use)`,
      );
    }
    last.lvm.numSegments += added;
    last.lvm.lastSegment += added;
    last.lastSegment += added;
    last.header.totalBytes = last.device.size;
  }
  const newSegments = oldSegments + added;
  for (const e of extents) {
    e.lvm.size = newSegments * SEGMENT_SIZE;
    e.lvm.blocks = newSegments + extents.length;
    e.lvm.numExtents = extents.length;
    e.lvm.mtime = now;
  }
  return { extents, oldSegments, newSegments, added };
}

/**
 * For the takeover of a host that died: finishes or undoes a growth it left
 * unfinished (its record names it), every write fenced by the host taking
 * over. The hosts then take in the geometry as after any growth.
 */
export async function recoverHostGrowth(volume: LogicalVolume, deadHostUuid: string, taker: WriteGuard): Promise<'none' | 'finished' | 'rolled back'> {
  return recoverGrowth(
    volume.extents.map((e) => e.device),
    { owner: deadHostUuid, wrap: (d) => guardVolume(d, taker) },
  );
}

type Read = (offset: number, length: number) => Promise<Buffer>;

/**
 * The file-block bitmap over a volume of `newSegments`: its header, the new
 * entries (whole), the old last entry completed (after its lock header,
 * which belongs to the lock protocol), zeros after the last entry of an
 * area, and its inode (again after the lock header) when its file grows.
 */
async function bitmapWrites(fs: Vmfs, newSegments: number, read: Read): Promise<{ offset: number; data: Uint8Array }[]> {
  const bs = fs.blockSize;
  const fbbId = systemFileId(ResourceKind.FileBlocks);
  const inodeParts = fs.fdc.itemRange(inodeAddress(fbbId));
  const inode = decodeInode(Buffer.concat(await Promise.all(inodeParts.map((p) => read(p.logical, p.length)))));
  const oldSize = inode.size;
  const haveBlocks = Math.ceil(oldSize / bs);
  const file: FileLayout = { blocks: Array.from(inode.blocks.subarray(0, haveBlocks), (id) => fileBlockNumber(id) * bs), blockSize: bs };
  const old = new ResourceLayout(resourceHeaderStruct.decode(await read(file.blocks[0], 0x200)));
  const entries = (await Resource.load(ResourceKind.FileBlocks, old, file, read)).entries;
  const g = old.geometry;
  const oldTotal = g.totalItems;
  const newTotal = Math.floor((newSegments * SEGMENT_SIZE) / bs);
  const layout = new ResourceLayout({ ...g, totalItems: newTotal, areaCount: Math.ceil(newTotal / (g.itemsPerEntry * g.entriesPerArea)) });

  // The bitmap's file grows into the first blocks of the new space if it must.
  const needSize = Math.max(inode.size, layout.fileSize());
  const needBlocks = Math.ceil(needSize / bs);
  if (needBlocks > INODE_BLOCKS) throw new VolumeError(`the file-block bitmap would need ${needBlocks} blocks (at most ${INODE_BLOCKS}): use a larger block size`);
  const ownBlocks = new Set<number>();
  for (let i = haveBlocks; i < needBlocks; i++) {
    const block = oldTotal + (i - haveBlocks);
    inode.blocks[i] = fileBlockId(block);
    inode.blockCount += 1;
    file.blocks.push(block * bs);
    ownBlocks.add(block);
  }
  inode.size = needSize;

  const out: { offset: number; data: Uint8Array }[] = [];
  const header = Buffer.alloc(0x200);
  resourceHeaderStruct.encodeInto(layout.geometry, header, 0);
  out.push(...piecesOf(mapFileRange(file, 0, 0x200), header));
  const lastOld = entries.length - 1;
  const firstChanged = layout.itemsInEntry(lastOld) > entries[lastOld].total ? lastOld : lastOld + 1;
  for (let area = Math.floor(firstChanged / g.entriesPerArea); area < layout.geometry.areaCount; area++) {
    // From the first changed slot of the area to its end: one run of entry records.
    const firstSlot = Math.max(area * g.entriesPerArea, firstChanged);
    const endSlot = (area + 1) * g.entriesPerArea;
    const region = Buffer.alloc((endSlot - firstSlot) * BITMAP_ENTRY_SIZE);
    for (let e = firstSlot; e < Math.min(endSlot, layout.entryCount); e++) {
      const pos = mapFileRange(file, layout.entryOffset(e), 1)[0].logical;
      const entry = e < entries.length ? cloneBitmapEntry(entries[e]) : freshBitmapEntry(ResourceKind.FileBlocks, e, layout.itemsInEntry(e), pos);
      const total = layout.itemsInEntry(e);
      for (let i = entry.total; i < total; i++) {
        entry.total = i + 1;
        entry.free += 1;
        entry.bitmap[i >> 3] |= 1 << (i & 7); // a new block: free
      }
      for (let i = 0; i < total; i++) if (ownBlocks.has(e * g.itemsPerEntry + i)) setItemFree(entry, i, false);
      encodeBitmapEntry(entry).copy(region, (e - firstSlot) * BITMAP_ENTRY_SIZE);
    }
    const skip = firstSlot <= lastOld ? LOCK_HEADER_SIZE : 0;
    out.push(...piecesOf(mapFileRange(file, layout.entryOffset(firstSlot), region.length), region, skip));
  }
  if (needSize !== oldSize) out.push(...piecesOf(inodeParts, encodeInode(inode, false), LOCK_HEADER_SIZE));
  return out;
}

/** Extent-table records for every extent that has none (or a stale one): where other hosts find it. */
async function extentTableWrites(extents: Extent[], read: Read): Promise<{ offset: number; data: Uint8Array }[]> {
  const out: { offset: number; data: Uint8Array }[] = [];
  for (let i = 0; i < extents.length; i++) {
    const e = extents[i];
    const now = decodeExtentRecord(await read(extentRecordOffset(i), EXTENT_RECORD_SIZE));
    // The same extent already recorded stays as it is (perhaps under another host's name for it).
    if (now && now.deviceUuid === e.header.deviceUuid && now.lvmUuid === e.lvm.lvmUuid) continue;
    out.push({ offset: extentRecordOffset(i), data: encodeExtentRecord({ index: i, deviceUuid: e.header.deviceUuid, lvmUuid: e.lvm.lvmUuid, name: recordableName(e.device.name) }) });
  }
  return out;
}
