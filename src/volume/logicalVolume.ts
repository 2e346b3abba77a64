// The logical volume (VMFS's LVM): one or more extents, each a block device
// carrying a volume header and LVM info, concatenated segment by segment into
// one flat address space that the file system lives in.
import { BlockDevice } from '../device/blockDevice.js';
import { openDevice } from '../device/openDevice.js';
import { VolumeError } from '../util/errors.js';
import { NULL_UUID, newUuid } from '../util/uuid.js';
import { ExtentMap } from './extentMap.js';
import { readExtentTable } from './extentTable.js';
import { readGrowLog, recoverGrowth } from './growLog.js';
import {
  EXTENT_DATA_OFFSET,
  LVM_INFO_OFFSET,
  LVM_VERSION,
  LvmInfo,
  MAX_EXTENTS,
  SEGMENT_SIZE,
  VOLUME_HEADER_OFFSET,
  VOLUME_MAGIC,
  VolumeHeader,
  deviceSizeFor,
  lvmInfoStruct,
  segmentsFor,
  volumeHeaderStruct,
} from './volumeHeader.js';

export interface Extent {
  device: BlockDevice;
  header: VolumeHeader;
  lvm: LvmInfo;
  firstSegment: number;
  lastSegment: number;
}

/** How long a shared open waits for another host's extend/grow to finish. */
const SHARED_OPEN_WAIT_MS = 5_000;

export class LogicalVolume {
  private map: ExtentMap<Extent>;
  private patches: readonly { offset: number; data: Uint8Array }[] = [];

  private constructor(
    extents: Extent[],
    readonly readOnly: boolean,
  ) {
    this.map = new ExtentMap(extents);
  }

  get extents(): readonly Extent[] {
    return this.map.extents;
  }
  get size(): number {
    return this.map.size;
  }
  get uuid(): string {
    return this.map.extents[0].lvm.lvmUuid;
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    const pieces = this.map.map(offset, buf.length);
    if (pieces.length === 1 && this.patches.length === 0) return pieces[0].extent.device.read(buf, pieces[0].deviceOffset);
    for (const p of pieces) await p.extent.device.read(buf.subarray(p.bufferOffset, p.bufferOffset + p.length), p.deviceOffset);
    for (const w of this.patches) patch(buf, offset, w);
  }

  /**
   * Every read from now on shows these writes, in order, over the bytes on disk: a
   * commit a journal would complete, for a reader that does not write.
   */
  overlay(writes: readonly { offset: number; data: Uint8Array }[]): void {
    this.patches = writes;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new VolumeError('the datastore is open read-only');
    const pieces = this.map.map(offset, buf.length);
    if (pieces.length === 1) return pieces[0].extent.device.write(buf, pieces[0].deviceOffset);
    for (const p of pieces) await p.extent.device.write(buf.subarray(p.bufferOffset, p.bufferOffset + p.length), p.deviceOffset);
  }

  extentAt(offset: number): Extent {
    return this.map.extentAt(offset);
  }

  async flush(): Promise<void> {
    for (const e of this.extents) await e.device.flush();
  }

  async close(): Promise<void> {
    for (const e of this.extents) await e.device.close();
  }

  /**
   * Opens the volume made of `devices`, given in any order. Refuses a device
   * that is not an extent, an extent of another volume, a duplicate, a
   * missing extent, and an extent whose device is shorter than its segments.
   * An interrupted extend/grow is finished or undone first (growLog.ts);
   * `shared` (other hosts may be using the volume) never touches one: it
   * waits a moment for a growth in progress, then refuses.
   */
  static async open(devices: BlockDevice[], options: { readOnly?: boolean; shared?: boolean } = {}): Promise<LogicalVolume> {
    if (devices.length === 0) throw new VolumeError('no extent given');
    let owner = await pendingGrowth(devices);
    if (owner !== null && options.shared) {
      for (let waited = 0; owner !== null && waited < SHARED_OPEN_WAIT_MS; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
        owner = await pendingGrowth(devices);
      }
      if (owner === NULL_UUID) throw new VolumeError('an interrupted extend/grow must be finished first: open the datastore alone (e.g. vmfs fsck -y)');
      if (owner !== null) {
        throw new VolumeError(`host ${owner} is growing the datastore (extend/grow): try again when it is done (if that host died, another host or vmfs fsck -y finishes or undoes it)`);
      }
    }
    if (owner !== null) {
      if (options.readOnly) throw new VolumeError('an interrupted extend/grow must be finished first: open the datastore read-write (e.g. vmfs fsck -y)');
      await recoverGrowth(devices);
    }
    const extents: Extent[] = [];
    for (const device of devices) extents.push(await readExtent(device));
    return new LogicalVolume(assemble(extents), !!options.readOnly || devices.some((d) => d.readOnly));
  }

  /**
   * Takes in what another process changed: re-reads every extent's headers,
   * sees a last extent that grew, and opens an extent that was added (found
   * by name in the extent table, checked against its device and LVM UUIDs).
   * Updates `extents` and `size` in place; on any failure nothing changes.
   */
  async refresh(): Promise<void> {
    const extents: Extent[] = [];
    const opened: BlockDevice[] = [];
    try {
      for (const e of this.extents) {
        await e.device.refreshSize();
        extents.push(await readExtent(e.device));
      }
      const wanted = Math.max(...extents.map((e) => e.lvm.numExtents));
      if (wanted > extents.length) {
        const known = new Set(extents.map((e) => e.header.deviceUuid));
        for (const r of await readExtentTable((buf, offset) => this.read(buf, offset))) {
          if (known.has(r.deviceUuid) || r.lvmUuid !== this.uuid) continue;
          let device: BlockDevice;
          try {
            device = await openDevice(r.name, { readOnly: this.readOnly });
          } catch (e) {
            throw new VolumeError(`extent ${r.index} of the volume (added elsewhere) cannot be opened: ${(e as Error).message}`);
          }
          opened.push(device);
          const e = await readExtent(device);
          if (e.header.deviceUuid !== r.deviceUuid || e.lvm.lvmUuid !== r.lvmUuid) {
            throw new VolumeError(`${r.name}: holds extent ${e.header.deviceUuid} of LVM ${e.lvm.lvmUuid}, not extent ${r.deviceUuid} of this volume`);
          }
          extents.push(e);
          known.add(r.deviceUuid);
        }
      }
      this.map = new ExtentMap(assemble(extents));
    } catch (e) {
      for (const d of opened) await d.close();
      throw e;
    }
  }

  /**
   * Writes fresh volume headers and LVM info on `devices`, in this order, and
   * returns the new volume. Each device holds as many whole segments as fit.
   */
  static async create(devices: BlockDevice[], options: { lvmUuid?: string; now?: number } = {}): Promise<LogicalVolume> {
    if (devices.length === 0) throw new VolumeError('no extent given');
    if (devices.length > MAX_EXTENTS) throw new VolumeError(`${devices.length} extents given, at most ${MAX_EXTENTS} are allowed`);
    const lvmUuid = options.lvmUuid ?? newUuid();
    const now = Math.floor((options.now ?? Date.now()) / 1000);
    const counts = devices.map((d) => {
      const n = segmentsFor(d.size);
      if (n < 1) throw new VolumeError(`${d.name}: too small for an extent (${d.size} bytes; at least ${deviceSizeFor(1)} needed)`);
      return n;
    });
    const total = counts.reduce((a, b) => a + b, 0);
    const extents: Extent[] = [];
    let next = 0;
    for (let i = 0; i < devices.length; i++) {
      const header: VolumeHeader = {
        magic: VOLUME_MAGIC,
        version: LVM_VERSION,
        lun: 0,
        name: '',
        totalBytes: devices[i].size,
        numPEs: 1,
        dataOffset: EXTENT_DATA_OFFSET,
        deviceUuid: newUuid(),
        ctime: now,
        mtime: now,
      };
      const lvm: LvmInfo = {
        size: total * SEGMENT_SIZE,
        blocks: total + devices.length,
        uuidText: lvmUuid,
        lvmUuid,
        ctime: now,
        numSegments: counts[i],
        firstSegment: next,
        lastSegment: next + counts[i] - 1,
        mtime: now,
        numExtents: devices.length,
      };
      extents.push({ device: devices[i], header, lvm, firstSegment: next, lastSegment: next + counts[i] - 1 });
      next += counts[i];
    }
    for (const e of extents) await writeExtentHeaders(e);
    return new LogicalVolume(extents, false);
  }
}

/** Copies the part of `w` that falls inside `buf` (read at logical `offset`) into it. */
function patch(buf: Uint8Array, offset: number, w: { offset: number; data: Uint8Array }): void {
  const from = Math.max(offset, w.offset);
  const to = Math.min(offset + buf.length, w.offset + w.data.length);
  if (from < to) buf.set(w.data.subarray(from - w.offset, to - w.offset), from - offset);
}

/**
 * Reads logical bytes of segment 0 (file system info, heartbeat slots)
 * straight from the device whose headers say it holds that segment, without
 * assembling the volume or touching an unfinished extend/grow: a look at who
 * uses the volume before deciding how to open it.
 */
export async function readSegmentZero(devices: BlockDevice[], buf: Uint8Array, offset: number): Promise<void> {
  if (offset < 0 || offset + buf.length > SEGMENT_SIZE) throw new RangeError(`logical range ${offset}+${buf.length} lies outside segment 0`);
  for (const device of devices) {
    const e = await readExtent(device);
    if (e.firstSegment === 0) return device.read(buf, EXTENT_DATA_OFFSET + offset);
  }
  throw new VolumeError(`missing extent: none of ${devices.map((d) => d.name).join(', ')} holds segment 0`);
}

export async function writeExtentHeaders(e: Extent): Promise<void> {
  const buf = Buffer.alloc(0x400);
  volumeHeaderStruct.encodeInto(e.header, buf, 0);
  lvmInfoStruct.encodeInto(e.lvm, buf, LVM_INFO_OFFSET - VOLUME_HEADER_OFFSET);
  await e.device.write(buf, VOLUME_HEADER_OFFSET);
}

/**
 * Puts extents read from their devices in order and checks they make one
 * whole volume: same LVM, same size and count, no duplicate or overlap, no
 * segment missing.
 */
function assemble(extents: Extent[]): Extent[] {
  const first = extents[0];
  for (const e of extents) {
    if (e.lvm.lvmUuid !== first.lvm.lvmUuid) {
      throw new VolumeError(`${e.device.name}: extent of another volume (LVM ${e.lvm.lvmUuid}, not ${first.lvm.lvmUuid} of ${first.device.name})`);
    }
  }
  // Every extent repeats the volume's size and extent count; the majority is the volume.
  const shape = (e: Extent) => `${e.lvm.size}/${e.lvm.numExtents}`;
  const votes = new Map<string, number>();
  for (const e of extents) votes.set(shape(e), (votes.get(shape(e)) ?? 0) + 1);
  const volumeShape = [...votes.entries()].sort((a, b) => b[1] - a[1])[0][0];
  for (const e of extents) {
    if (shape(e) !== volumeShape) {
      throw new VolumeError(
        `${e.device.name}: disagrees with the other extents on the volume's size (${e.lvm.size} bytes in ${e.lvm.numExtents} extents, not ${volumeShape.replace('/', ' bytes in ')} extents): left over from an undone extend?`,
      );
    }
  }
  const byStart = [...extents].sort((a, b) => a.firstSegment - b.firstSegment);
  for (let i = 1; i < byStart.length; i++) {
    const a = byStart[i - 1];
    const b = byStart[i];
    if (a.header.deviceUuid === b.header.deviceUuid || a.firstSegment === b.firstSegment) {
      throw new VolumeError(`${b.device.name}: the same extent as ${a.device.name} (given twice)`);
    }
    if (b.firstSegment <= a.lastSegment) {
      throw new VolumeError(`${b.device.name}: segments ${b.firstSegment}-${b.lastSegment} overlap ${a.device.name} (${a.firstSegment}-${a.lastSegment})`);
    }
  }
  const totalSegments = byStart[0].lvm.size / SEGMENT_SIZE;
  const wanted = byStart[0].lvm.numExtents;
  let expect = 0;
  const holes: string[] = [];
  for (const e of byStart) {
    if (e.firstSegment > expect) holes.push(`segments ${expect}-${e.firstSegment - 1}`);
    expect = e.lastSegment + 1;
  }
  if (expect < totalSegments) holes.push(`segments ${expect}-${totalSegments - 1}`);
  if (holes.length > 0 || byStart.length !== wanted) {
    throw new VolumeError(
      `${byStart.length < wanted ? 'missing extent' : 'too many extents'}: the volume ${first.lvm.lvmUuid} has ${wanted} extents, ${byStart.length} given` +
        (holes.length ? `; nothing holds ${holes.join(', ')}` : ''),
    );
  }
  if (byStart.length > MAX_EXTENTS) throw new VolumeError(`the volume has ${byStart.length} extents, at most ${MAX_EXTENTS} are allowed`);
  return byStart;
}

async function readExtent(device: BlockDevice): Promise<Extent> {
  if (device.size < VOLUME_HEADER_OFFSET + 0x400) {
    throw new VolumeError(`${device.name}: too short to be a VMFS extent (${device.size} bytes)`);
  }
  const buf = Buffer.alloc(0x400);
  await device.read(buf, VOLUME_HEADER_OFFSET);
  const header = volumeHeaderStruct.decode(buf, 0);
  const lvm = lvmInfoStruct.decode(buf, LVM_INFO_OFFSET - VOLUME_HEADER_OFFSET);
  if (header.magic !== VOLUME_MAGIC) {
    throw new VolumeError(`${device.name}: not a VMFS extent (no volume header magic at 1 MiB; found 0x${header.magic.toString(16)})`);
  }
  if (header.version !== LVM_VERSION) {
    throw new VolumeError(`${device.name}: LVM version ${header.version} is not supported (VMFS3 uses ${LVM_VERSION})`);
  }
  const total = lvm.size / SEGMENT_SIZE;
  if (
    !Number.isInteger(total) ||
    total < 1 ||
    lvm.numExtents < 1 ||
    lvm.numExtents > MAX_EXTENTS ||
    lvm.lastSegment < lvm.firstSegment ||
    lvm.lastSegment >= total ||
    lvm.numSegments !== lvm.lastSegment - lvm.firstSegment + 1
  ) {
    throw new VolumeError(
      `${device.name}: damaged LVM info (size ${lvm.size}, segments ${lvm.firstSegment}-${lvm.lastSegment} of ${lvm.numSegments}, ${lvm.numExtents} extents)`,
    );
  }
  const needed = deviceSizeFor(lvm.numSegments);
  if (device.size < needed) {
    throw new VolumeError(`${device.name}: extent is truncated (${device.size} bytes, its ${lvm.numSegments} segments need ${needed})`);
  }
  return { device, header, lvm, firstSegment: lvm.firstSegment, lastSegment: lvm.lastSegment };
}

/** The owner (a host UUID, NULL_UUID for a tool on its own) of an unfinished extend/grow, or null. */
async function pendingGrowth(devices: BlockDevice[]): Promise<string | null> {
  for (const d of devices) {
    const record = await readGrowLog(d);
    if (record) return record.owner;
  }
  return null;
}
