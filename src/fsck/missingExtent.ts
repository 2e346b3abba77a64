// A missing extent, for fsck: which segments no given extent holds, a
// stand-in that reads as zeros (so `-n` can check everything else and say
// which files had bytes there), and on `-y` a fresh empty extent with the
// right headers in a place the user names. What the extent held is lost:
// every file with blocks there is reported, and those bytes read as zeros.
import { BlockDevice, DeviceError } from '../device/blockDevice.js';
import { BlockType, blockType, fileBlockNumber, subBlockAddress } from '../fs/blockId.js';
import { Inode, InodeType, Zla } from '../fs/inode.js';
import { POINTERS_PER_BLOCK, ROOT_INODE_ID } from '../fs/systemFiles.js';
import { Vmfs } from '../fs/vmfs.js';
import { newUuid } from '../util/uuid.js';
import { writeExtentHeaders } from '../volume/logicalVolume.js';
import {
  LVM_INFO_OFFSET,
  LVM_VERSION,
  LvmInfo,
  SEGMENT_SIZE,
  VOLUME_HEADER_OFFSET,
  VOLUME_MAGIC,
  VolumeHeader,
  deviceSizeFor,
  lvmInfoStruct,
  volumeHeaderStruct,
} from '../volume/volumeHeader.js';

export interface MissingExtent {
  firstSegment: number;
  lastSegment: number;
  header: VolumeHeader;
  lvm: LvmInfo;
  /** Device bytes the extent needs. */
  size: number;
}

/**
 * The extents missing from `devices`, each with the headers it must carry;
 * [] when none is missing, or when the given extents cannot tell (not all of
 * one volume, or two missing extents side by side): opening the volume
 * then says what is wrong.
 */
export async function findMissingExtents(devices: BlockDevice[]): Promise<MissingExtent[]> {
  const present: { header: VolumeHeader; lvm: LvmInfo }[] = [];
  for (const d of devices) {
    if (d.size < VOLUME_HEADER_OFFSET + 0x400) return [];
    const buf = Buffer.alloc(0x400);
    await d.read(buf, VOLUME_HEADER_OFFSET);
    const header = volumeHeaderStruct.decode(buf, 0);
    const lvm = lvmInfoStruct.decode(buf, LVM_INFO_OFFSET - VOLUME_HEADER_OFFSET);
    if (header.magic !== VOLUME_MAGIC || header.version !== LVM_VERSION) return [];
    present.push({ header, lvm });
  }
  const first = present[0];
  if (!first || present.some((p) => p.lvm.lvmUuid !== first.lvm.lvmUuid || p.lvm.size !== first.lvm.size || p.lvm.numExtents !== first.lvm.numExtents)) return [];
  const total = first.lvm.size / SEGMENT_SIZE;
  if (!Number.isInteger(total) || total < 1 || present.length >= first.lvm.numExtents) return [];
  const byStart = [...present].sort((a, b) => a.lvm.firstSegment - b.lvm.firstSegment);
  const holes: [number, number][] = [];
  let expect = 0;
  for (const p of byStart) {
    if (p.lvm.firstSegment < expect || p.lvm.lastSegment < p.lvm.firstSegment || p.lvm.lastSegment >= total) return [];
    if (p.lvm.firstSegment > expect) holes.push([expect, p.lvm.firstSegment - 1]);
    expect = p.lvm.lastSegment + 1;
  }
  if (expect < total) holes.push([expect, total - 1]);
  if (holes.length !== first.lvm.numExtents - present.length) return [];
  return holes.map(([a, b]) => {
    const size = deviceSizeFor(b - a + 1);
    return {
      firstSegment: a,
      lastSegment: b,
      size,
      header: { ...first.header, totalBytes: size, deviceUuid: newUuid() },
      lvm: { ...first.lvm, numSegments: b - a + 1, firstSegment: a, lastSegment: b },
    };
  });
}

function describe(m: MissingExtent): string {
  return `segments ${m.firstSegment}-${m.lastSegment} (logical bytes ${m.firstSegment * SEGMENT_SIZE}-${(m.lastSegment + 1) * SEGMENT_SIZE - 1})`;
}

export function missingMessage(m: MissingExtent): string {
  return `missing extent: nothing holds ${describe(m)}`;
}

/** A read-only stand-in for a missing extent: its headers, and zeros everywhere else. */
export class ZeroExtent implements BlockDevice {
  readonly readOnly = true;
  readonly name: string;
  readonly size: number;
  private readonly headers = Buffer.alloc(0x400);

  constructor(readonly missing: MissingExtent) {
    this.name = `(missing extent, ${describe(missing)})`;
    this.size = missing.size;
    volumeHeaderStruct.encodeInto(missing.header, this.headers, 0);
    lvmInfoStruct.encodeInto(missing.lvm, this.headers, LVM_INFO_OFFSET - VOLUME_HEADER_OFFSET);
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.size) throw new DeviceError(`${this.name}: read past the end`);
    buf.fill(0);
    const from = Math.max(offset, VOLUME_HEADER_OFFSET);
    const to = Math.min(offset + buf.length, VOLUME_HEADER_OFFSET + this.headers.length);
    if (from < to) buf.set(this.headers.subarray(from - VOLUME_HEADER_OFFSET, to - VOLUME_HEADER_OFFSET), from - offset);
  }

  async write(): Promise<void> {
    throw new DeviceError(`${this.name}: cannot be written`);
  }

  async flush(): Promise<void> {}
  async refreshSize(): Promise<number> {
    return this.size;
  }
  async close(): Promise<void> {}
}

/** Lays a fresh, empty extent for `m` on `device` (which must be empty and resizable). */
export async function recreateExtent(device: BlockDevice, m: MissingExtent): Promise<void> {
  if (device.size !== 0) throw new DeviceError(`${device.name}: not empty (${device.size} bytes): give a new file for the missing extent`);
  if (!device.setSize) throw new DeviceError(`${device.name}: cannot be resized`);
  await device.setSize(m.size);
  await writeExtentHeaders({ device, header: m.header, lvm: m.lvm, firstSegment: m.firstSegment, lastSegment: m.lastSegment });
  await device.flush();
}

export interface DamagedFile {
  path: string;
  /** Bytes of the file that lay on the missing extents (they now read as zeros). */
  lostBytes: number;
  /** The first lost range, as file offsets. */
  first: [number, number];
}

/** Every file reachable from the root with bytes on the missing extents. */
export async function filesOnMissing(fs: Vmfs, missing: MissingExtent[]): Promise<DamagedFile[]> {
  const ranges = missing.map((m) => [m.firstSegment * SEGMENT_SIZE, (m.lastSegment + 1) * SEGMENT_SIZE]);
  const lost = (logical: number, length: number) => ranges.some(([a, b]) => logical < b && logical + length > a);
  const out: DamagedFile[] = [];
  const seen = new Set<number>();
  const walk = async (id: number, path: string): Promise<void> => {
    if (seen.has(id)) return;
    seen.add(id);
    let inode: Inode;
    try {
      inode = await fs.inode(null, id);
    } catch {
      return; // the file system passes report it
    }
    const hit = await lostRanges(fs, inode, lost);
    if (hit.length > 0) out.push({ path, lostBytes: hit.reduce((n, [a, b]) => n + b - a, 0), first: hit[0] });
    if (inode.type !== InodeType.Directory) return;
    let entries;
    try {
      entries = await fs.dirEntries(null, id);
    } catch {
      return;
    }
    for (const e of entries.slice(2)) await walk(e.blockId, path === '/' ? `/${e.name}` : `${path}/${e.name}`);
  };
  await walk(ROOT_INODE_ID, '/');
  return out;
}

/** The file offset ranges of `inode` whose blocks `lost` says are gone, merged. */
async function lostRanges(fs: Vmfs, inode: Inode, lost: (logical: number, length: number) => boolean): Promise<[number, number][]> {
  const out: [number, number][] = [];
  const note = (from: number, length: number) => {
    const to = Math.min(from + length, inode.size);
    if (from >= to) return;
    const last = out[out.length - 1];
    if (last && last[1] === from) last[1] = to;
    else out.push([from, to]);
  };
  const bs = fs.blockSize;
  const fileBlock = (id: number, at: number) => {
    if (blockType(id) === BlockType.FileBlock && lost(fileBlockNumber(id) * bs, bs)) note(at, bs);
  };
  for (let slot = 0; slot < inode.blocks.length; slot++) {
    const id = inode.blocks[slot];
    if (id === 0) continue;
    if (inode.zla === Zla.FileBlocks) fileBlock(id, slot * bs);
    else if (inode.zla === Zla.SubBlocks && blockType(id) === BlockType.SubBlock) {
      const at = subBlockAddress(id);
      if (at.entry < fs.sbc.entries.length && lost(fs.sbc.itemLogical(at), fs.subBlockSize)) note(slot * fs.subBlockSize, fs.subBlockSize);
    } else if (inode.zla === Zla.PointerBlocks) {
      let ptrs: Uint32Array;
      try {
        ptrs = await fs.pointerBlock(null, id);
      } catch {
        continue;
      }
      for (let j = 0; j < POINTERS_PER_BLOCK; j++) if (ptrs[j] !== 0) fileBlock(ptrs[j], (slot * POINTERS_PER_BLOCK + j) * bs);
    }
  }
  return out;
}
