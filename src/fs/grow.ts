// Growing a datastore: adding an extent (`extend`) or taking in the room a
// last extent's file or device gained (`grow`). The logical volume gains
// segments, and the file-block bitmap gains the blocks they hold (its file
// grows into the new space if it must). Every sector write is first recorded
// in the growth intent log (volume/growLog.ts), so a crash at any point leaves
// the old volume or the new one.
import { BlockDevice } from '../device/blockDevice.js';
import { VolumeError } from '../util/errors.js';
import { newUuid } from '../util/uuid.js';
import { ExtentMap } from '../volume/extentMap.js';
import { DeviceWrite, applyGrowLog, clearGrowLog, encodeGrowLog, writeGrowLog } from '../volume/growLog.js';
import { Extent } from '../volume/logicalVolume.js';
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
import { fileBlockId } from './blockId.js';
import { INODE_BLOCKS, cloneInode, encodeInode } from './inode.js';
import { BITMAP_ENTRY_SIZE, ResourceKind, ResourceLayout, cloneBitmapEntry, encodeBitmapEntry, freshBitmapEntry, resourceHeaderStruct, setItemFree } from './resourceFile.js';
import { inodeAddress } from './blockId.js';
import { mapFileRange, piecesOf, FileLayout } from './resources.js';
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
}

/** Plans and applies the growth. `fs` must be open read-write and is closed afterwards. */
export async function growDatastore(fs: Vmfs, options: GrowOptions = {}): Promise<GrowResult> {
  const volume = fs.volume;
  const bs = fs.blockSize;
  const oldSegments = volume.size / SEGMENT_SIZE;
  const now = Math.floor(Date.now() / 1000);
  const extents: Extent[] = volume.extents.map((e) => ({ ...e, header: { ...e.header }, lvm: { ...e.lvm } }));
  let added: number;
  if (options.add) {
    const d = options.add;
    if (extents.length >= MAX_EXTENTS) throw new VolumeError(`the datastore already has ${MAX_EXTENTS} extents, the most VMFS allows`);
    if (extents.some((e) => e.device.name === d.name)) throw new VolumeError(`${d.name}: already an extent of this datastore`);
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
  const map = new ExtentMap(extents);

  // The file-block bitmap covers the new blocks; its file grows into the new space if needed.
  const fbb = fs.fbb;
  const g = fbb.layout.geometry;
  const oldTotal = g.totalItems;
  const newTotal = Math.floor((newSegments * SEGMENT_SIZE) / bs);
  const layout = new ResourceLayout({ ...g, totalItems: newTotal, areaCount: Math.ceil(newTotal / (g.itemsPerEntry * g.entriesPerArea)) });
  const fbbId = systemFileId(ResourceKind.FileBlocks);
  const fbbInode = cloneInode(await fs.inode(null, fbbId));
  const haveBlocks = Math.ceil(fbbInode.size / bs);
  const needSize = Math.max(fbbInode.size, layout.fileSize());
  const needBlocks = Math.ceil(needSize / bs);
  if (needBlocks > INODE_BLOCKS) throw new VolumeError(`the file-block bitmap would need ${needBlocks} blocks (at most ${INODE_BLOCKS}): use a larger block size`);
  const fileBlocks: number[] = [...fbb.file.blocks];
  for (let i = haveBlocks; i < needBlocks; i++) {
    const block = oldTotal + (i - haveBlocks); // the first blocks of the new space
    fbbInode.blocks[i] = fileBlockId(block);
    fbbInode.blockCount += 1;
    fileBlocks.push(block * bs);
  }
  fbbInode.size = needSize;
  const file: FileLayout = { blocks: fileBlocks, blockSize: bs };
  const ownBlocks = new Set<number>();
  for (let i = haveBlocks; i < needBlocks; i++) ownBlocks.add(oldTotal + (i - haveBlocks));

  const logical: { offset: number; data: Uint8Array }[] = [];
  const header = Buffer.alloc(0x200);
  resourceHeaderStruct.encodeInto(layout.geometry, header, 0);
  logical.push(...piecesOf(mapFileRange(file, 0, 0x200), header));
  for (let area = Math.floor((fbb.layout.entryCount - 1) / g.entriesPerArea); area < layout.geometry.areaCount; area++) {
    // Whole runs of entry records per area: new entries, the old last one completed, zeros after the last.
    const region = Buffer.alloc(g.entriesPerArea * BITMAP_ENTRY_SIZE);
    const firstEntry = area * g.entriesPerArea;
    for (let k = 0; k < g.entriesPerArea; k++) {
      const e = firstEntry + k;
      if (e >= layout.entryCount) break;
      const pos = mapFileRange(file, layout.entryOffset(e), 1)[0].logical;
      const entry = e < fbb.entries.length ? cloneBitmapEntry(fbb.entries[e]) : freshBitmapEntry(ResourceKind.FileBlocks, e, layout.itemsInEntry(e), pos);
      const total = layout.itemsInEntry(e);
      for (let i = entry.total; i < total; i++) {
        entry.total = i + 1;
        entry.free += 1;
        entry.bitmap[i >> 3] |= 1 << (i & 7); // a new block: free
      }
      for (let i = 0; i < total; i++) if (ownBlocks.has(e * g.itemsPerEntry + i)) setItemFree(entry, i, false);
      encodeBitmapEntry(entry).copy(region, k * BITMAP_ENTRY_SIZE);
    }
    logical.push(...piecesOf(mapFileRange(file, layout.entryOffset(firstEntry), region.length), region));
  }
  logical.push(...piecesOf(fs.fdc.itemRange(inodeAddress(fbbId)), encodeInode(fbbInode)));

  // Everything as device writes, with the bytes each replaces.
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

  const logHolder = extents[0].device;
  await writeGrowLog(logHolder, encodeGrowLog(writes));
  await applyGrowLog(writes, new Map(extents.map((e) => [e.header.deviceUuid, e.device])), 'redo');
  await clearGrowLog(logHolder);
  await fs.close();
  if (options.add) await options.add.close();
  return { oldSize: oldSegments * SEGMENT_SIZE, newSize: newSegments * SEGMENT_SIZE, addedSegments: added };
}

