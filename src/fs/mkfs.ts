// Formatting: lays a fresh VMFS3 file system over a logical volume.
//
// Layout (file blocks): [0, fdcBase) belong to .vh.sf (FS info and the
// heartbeat region); then the inode table (.fdc.sf), the file-block bitmap
// (.fbb.sf), the pointer blocks (.pbc.sf), the sub-blocks (.sbc.sf), and one
// block for the root directory. Everything after is free.
import { freeLockHeader } from '../cluster/lockHeader.js';
import { ClusterParams, writeClusterConfig } from '../cluster/clusterConfig.js';
import { freshHeartbeatRegion, HEARTBEAT_REGION_OFFSET } from '../cluster/heartbeat.js';
import { BlockDevice } from '../device/blockDevice.js';
import { VolumeError } from '../util/errors.js';
import { newUuid } from '../util/uuid.js';
import { LogicalVolume } from '../volume/logicalVolume.js';
import { fileBlockId, inodeAddress } from './blockId.js';
import { DIR_ENTRY_SIZE, dirEntryStruct } from './directory.js';
import { BLOCK_SIZES, DISK_BLOCK_SIZE, FS_INFO_MAGIC, FS_INFO_OFFSET, FS_MINOR_VERSION, FsInfo, SUB_BLOCK_SIZE_DEFAULT, VMFS3_VERSION, fdcBaseBlock, fsInfoStruct } from './fsInfo.js';
import { INODE_BLOCKS, INODE_MAGIC, INODE_SIZE, Inode, InodeType, Zla, encodeInode } from './inode.js';
import {
  BITMAP_ENTRY_SIZE,
  ResourceGeometry,
  ResourceKind,
  ResourceLayout,
  encodeBitmapEntry,
  freshBitmapEntry,
  makeGeometry,
  resourceHeaderStruct,
  setItemFree,
} from './resourceFile.js';
import { POINTER_BLOCK_SIZE, ROOT_INODE_ID, SYSTEM_FILES } from './systemFiles.js';
import { Vmfs } from './vmfs.js';

export interface MkfsOptions {
  blockSize?: number;
  label?: string;
  /** Inode count; by default one per 64 KiB of volume (at least 4096). */
  inodes?: number;
  lvmUuid?: string;
  fsUuid?: string;
  now?: number;
  /** Lease time, renewal interval and the rest hosts must agree on (defaults: docs/CLUSTER.md). */
  cluster?: Partial<ClusterParams>;
}

/** File-block bitmap entries hold 200 blocks, as ESX formats them: the unit hosts take whole. */
const FBB_ITEMS_PER_ENTRY = 200;
const ENTRIES_PER_AREA = 32;
const RESOURCE_HEADER_SIZE = 0x10000;

export interface Plan {
  blockSize: number;
  totalBlocks: number;
  geometry: Record<ResourceKind, ResourceGeometry>;
  /** First file block of each system file, and how many it spans. */
  files: Record<string, { first: number; count: number; size: number }>;
  rootBlock: number;
  usedBlocks: number;
}

/** Decides the geometry and placement for a volume of `volumeBytes`. */
export function planLayout(volumeBytes: number, options: MkfsOptions = {}): Plan {
  const bs = options.blockSize ?? 2 ** 20;
  if (!BLOCK_SIZES.includes(bs)) throw new VolumeError(`unsupported block size ${bs} (VMFS3 allows 1M, 2M, 4M or 8M)`);
  const totalBlocks = Math.floor(volumeBytes / bs);
  const maxInodes = Math.floor((INODE_BLOCKS * bs - RESOURCE_HEADER_SIZE) / (ENTRIES_PER_AREA * (BITMAP_ENTRY_SIZE + 32 * INODE_SIZE))) * 32 * ENTRIES_PER_AREA;
  const inodes = options.inodes ?? Math.min(maxInodes, Math.max(4096, Math.floor(volumeBytes / 65536)));
  if (!Number.isInteger(inodes) || inodes < 64) throw new VolumeError(`inode count ${inodes}: at least 64`);
  if (inodes > Math.min(maxInodes, 65536 * 32)) throw new VolumeError(`inode count ${inodes}: at most ${Math.min(maxInodes, 65536 * 32)} with ${bs / 2 ** 20} MiB blocks`);
  const pointerBlocks = Math.max(512, Math.ceil(totalBlocks / 256));
  // Sub-blocks: about 1/16 of the volume, as many as .sbc.sf can hold in 256 blocks (about 4000 at
  // 1 MiB blocks, as on ESX); small files fall back to file blocks when they run out.
  const sbcArea = ENTRIES_PER_AREA * (BITMAP_ENTRY_SIZE + 16 * SUB_BLOCK_SIZE_DEFAULT);
  const maxSubBlocks = Math.floor((INODE_BLOCKS * bs - RESOURCE_HEADER_SIZE) / sbcArea) * 16 * ENTRIES_PER_AREA;
  const subBlocks = Math.min(maxSubBlocks, Math.max(512, Math.floor(volumeBytes / 16 / SUB_BLOCK_SIZE_DEFAULT)));
  const fbbIpe = Math.max(FBB_ITEMS_PER_ENTRY, Math.ceil(totalBlocks / ((INODE_BLOCKS * bs - RESOURCE_HEADER_SIZE) / BITMAP_ENTRY_SIZE)));
  const geometry: Record<ResourceKind, ResourceGeometry> = {
    [ResourceKind.Inodes]: makeGeometry(32, ENTRIES_PER_AREA, INODE_SIZE, inodes, RESOURCE_HEADER_SIZE),
    [ResourceKind.FileBlocks]: makeGeometry(fbbIpe, ENTRIES_PER_AREA, 0, totalBlocks, RESOURCE_HEADER_SIZE),
    [ResourceKind.PointerBlocks]: makeGeometry(16, ENTRIES_PER_AREA, POINTER_BLOCK_SIZE, pointerBlocks, RESOURCE_HEADER_SIZE),
    [ResourceKind.SubBlocks]: makeGeometry(16, ENTRIES_PER_AREA, SUB_BLOCK_SIZE_DEFAULT, subBlocks, RESOURCE_HEADER_SIZE),
  };
  const fdcBase = fdcBaseBlock(bs);
  const files: Plan['files'] = { '.vh.sf': { first: 0, count: fdcBase, size: fdcBase * bs } };
  let next = fdcBase;
  for (const [name, kind] of [
    ['.fdc.sf', ResourceKind.Inodes],
    ['.fbb.sf', ResourceKind.FileBlocks],
    ['.pbc.sf', ResourceKind.PointerBlocks],
    ['.sbc.sf', ResourceKind.SubBlocks],
  ] as const) {
    const size = new ResourceLayout(geometry[kind]).fileSize();
    const count = Math.ceil(size / bs);
    if (count > INODE_BLOCKS) throw new VolumeError(`${name} would need ${count} blocks; at most ${INODE_BLOCKS} (use a larger block size or fewer inodes)`);
    files[name] = { first: next, count, size };
    next += count;
  }
  const rootBlock = next++;
  if (next + 1 > totalBlocks) throw new VolumeError(`the volume (${totalBlocks} blocks of ${bs / 2 ** 20} MiB) is too small for its metadata (${next} blocks)`);
  return { blockSize: bs, totalBlocks, geometry, files, rootBlock, usedBlocks: next };
}

/**
 * Formats `devices` as one datastore. `zeroed` names those known to read as
 * zeros already (a file created empty): stale bytes cannot show through there,
 * so nothing is written to clear them.
 */
export async function mkfs(devices: BlockDevice[], options: MkfsOptions = {}, zeroed: ReadonlySet<BlockDevice> = new Set()): Promise<Vmfs> {
  const now = options.now ?? Date.now();
  const secs = Math.floor(now / 1000);
  const volume = await LogicalVolume.create(devices, { lvmUuid: options.lvmUuid, now });
  const plan = planLayout(volume.size, options);
  const bs = plan.blockSize;
  const write = (buf: Uint8Array, offset: number) => volume.write(buf, offset);

  // System files: a fresh header and fresh entries; items zeroed where stale bytes would matter (inodes).
  const layouts = {} as Record<ResourceKind, ResourceLayout>;
  for (const spec of SYSTEM_FILES) {
    if (!spec.kind) continue;
    const layout = new ResourceLayout(plan.geometry[spec.kind]);
    layouts[spec.kind] = layout;
    const f = plan.files[spec.name];
    const base = f.first * bs;
    if (spec.kind === ResourceKind.Inodes) await zero(volume, zeroed, base, f.count * bs);
    const header = Buffer.alloc(RESOURCE_HEADER_SIZE);
    resourceHeaderStruct.encodeInto(layout.geometry, header, 0);
    await write(header, base);
    const g = layout.geometry;
    for (let area = 0; area < g.areaCount; area++) {
      const region = Buffer.alloc(g.entriesPerArea * BITMAP_ENTRY_SIZE);
      for (let k = 0; k < g.entriesPerArea; k++) {
        const entry = area * g.entriesPerArea + k;
        if (entry >= layout.entryCount) break;
        const e = freshBitmapEntry(spec.kind, entry, layout.itemsInEntry(entry), base + layout.entryOffset(entry));
        if (spec.kind === ResourceKind.FileBlocks) for (let i = 0; i < e.total; i++) if (entry * g.itemsPerEntry + i < plan.usedBlocks) setItemFree(e, i, false);
        if (spec.kind === ResourceKind.Inodes && entry === 0) for (let i = 0; i <= SYSTEM_FILES.length; i++) setItemFree(e, i, false);
        encodeBitmapEntry(e).copy(region, k * BITMAP_ENTRY_SIZE);
      }
      await write(region, base + g.headerSize + area * g.areaSize);
    }
  }

  // Inodes: the root directory and the system files.
  const fdc = layouts[ResourceKind.Inodes];
  const fdcBase = plan.files['.fdc.sf'].first * bs;
  const inodeAt = (id: number) => fdcBase + fdc.itemOffset(inodeAddress(id));
  const makeInode = (id: number, type: InodeType, size: number, first: number, count: number, mode: number, nlink: number): Inode => {
    const blocks = new Uint32Array(INODE_BLOCKS);
    for (let i = 0; i < count; i++) blocks[i] = fileBlockId(first + i);
    return {
      lock: freeLockHeader(INODE_MAGIC, inodeAt(id)),
      id,
      generation: 1,
      nlink,
      type,
      flags: 0,
      size,
      blockSize: bs,
      blockCount: count,
      mtime: secs,
      ctime: secs,
      atime: secs,
      uid: 0,
      gid: 0,
      mode,
      zla: Zla.FileBlocks,
      tbz: 0,
      cow: 0,
      blocks,
    };
  };
  const rootEntries = [
    { type: InodeType.Directory, blockId: ROOT_INODE_ID, recordId: 1, name: '.' },
    { type: InodeType.Directory, blockId: ROOT_INODE_ID, recordId: 1, name: '..' },
    ...SYSTEM_FILES.map((f) => ({ type: InodeType.System, blockId: f.id, recordId: 1, name: f.name })),
  ];
  const rootData = Buffer.alloc(bs);
  rootEntries.forEach((e, i) => dirEntryStruct.encodeInto(e, rootData, i * DIR_ENTRY_SIZE));
  await write(rootData, plan.rootBlock * bs);
  await write(encodeInode(makeInode(ROOT_INODE_ID, InodeType.Directory, rootEntries.length * DIR_ENTRY_SIZE, plan.rootBlock, 1, 0o755, 2)), inodeAt(ROOT_INODE_ID));
  for (const spec of SYSTEM_FILES) {
    const f = plan.files[spec.name];
    await write(encodeInode(makeInode(spec.id, InodeType.System, f.size, f.first, f.count, 0o400, 1)), inodeAt(spec.id));
  }

  // FS info and the heartbeat region.
  const info: FsInfo = {
    magic: FS_INFO_MAGIC,
    version: VMFS3_VERSION,
    minorVersion: FS_MINOR_VERSION,
    uuid: options.fsUuid ?? newUuid(now),
    mode: 0,
    label: options.label ?? '',
    diskBlockSize: DISK_BLOCK_SIZE,
    blockSize: bs,
    ctime: secs,
    lvmUuid: volume.uuid,
    fdcHeaderSize: RESOURCE_HEADER_SIZE,
    fdcBitmapCount: ENTRIES_PER_AREA,
    subBlockSize: SUB_BLOCK_SIZE_DEFAULT,
  };
  // The rest of FS info's megabyte (generation, change log, extent table, the lone
  // journal) starts as zeros; written only where the device may hold other bytes: a
  // small write into a big run of written zeros costs more in the host's page cache.
  await write(fsInfoStruct.encode(info), FS_INFO_OFFSET);
  await zero(volume, zeroed, FS_INFO_OFFSET + fsInfoStruct.size, HEARTBEAT_REGION_OFFSET - FS_INFO_OFFSET - fsInfoStruct.size);
  await write(freshHeartbeatRegion(), HEARTBEAT_REGION_OFFSET);
  await writeClusterConfig(volume, options.cluster);
  await volume.flush();
  return Vmfs.open(volume);
}

/**
 * Zeroes a logical range, skipping what lies on devices that read as zeros.
 * Skipping matters beyond mkfs time: the inode table takes up to 256 file
 * blocks (256 MiB at 1 MiB blocks, 2 GiB at 8 MiB), and written zeros would
 * leave it in the host's page cache as large folios, which make every later
 * small inode write slower.
 */
async function zero(volume: LogicalVolume, zeroed: ReadonlySet<BlockDevice>, offset: number, length: number): Promise<void> {
  const chunk = Buffer.alloc(Math.min(length, 8 * 2 ** 20));
  for (let at = 0; at < length; at += chunk.length) {
    const len = Math.min(chunk.length, length - at);
    if (zeroed.has(volume.extentAt(offset + at).device) && zeroed.has(volume.extentAt(offset + at + len - 1).device)) continue;
    await volume.write(chunk.subarray(0, len), offset + at);
  }
}
