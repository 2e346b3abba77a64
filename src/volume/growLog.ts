// The growth intent log: how `extend` and `grow` stay crash-safe. Before any
// header or bitmap changes, every sector write of the change is recorded, with
// the bytes it replaces, in one checksummed record on the extent that holds
// segment 0 (device offset 2 MiB, a region nobody else uses), with the UUID of
// the cluster host making the change (none for a tool working alone). Opening
// the volume later, or taking over that host, finds the record and either
// finishes the change (every device it names is present, a new extent also
// found by the name its extent-table record gives) or undoes what was
// applied, so a kill -9 at any point leaves the old volume or the new one.
import CRC32 from 'crc-32';
import { BlockDevice } from '../device/blockDevice.js';
import { openDevice } from '../device/openDevice.js';
import { defineStruct } from '../util/struct.js';
import { NULL_UUID } from '../util/uuid.js';
import { EXTENT_RECORD_SIZE, EXTENT_TABLE_OFFSET, decodeExtentRecord } from './extentTable.js';
import { EXTENT_DATA_OFFSET, MAX_EXTENTS, VOLUME_HEADER_OFFSET, VOLUME_MAGIC, volumeHeaderStruct } from './volumeHeader.js';

export const GROW_LOG_OFFSET = 0x200000;
export const GROW_LOG_MAX = 0xf00000; // up to the data area
const GROW_LOG_MAGIC = 0x47524f57; // "GROW"

const recordHeader = defineStruct('grow log header', 0x40, {
  magic: { offset: 0x00, type: 'u32' },
  crc: { offset: 0x04, type: 'u32' }, // over the bytes after the header
  length: { offset: 0x08, type: 'u32' },
  count: { offset: 0x0c, type: 'u32' },
  owner: { offset: 0x10, type: 'uuid' }, // the host making the change; zero: a tool alone
});

const writeHeader = defineStruct('grow log write', 0x20, {
  deviceUuid: { offset: 0x00, type: 'uuid' },
  deviceOffset: { offset: 0x10, type: 'u64' },
  length: { offset: 0x18, type: 'u32' },
});

export interface DeviceWrite {
  /** The device UUID from the target's volume header. */
  deviceUuid: string;
  deviceOffset: number;
  before: Buffer;
  after: Buffer;
}

export interface GrowRecord {
  /** The cluster host that makes the change, NULL_UUID for a tool working alone. */
  owner: string;
  writes: DeviceWrite[];
}

export function encodeGrowLog(writes: DeviceWrite[], owner = NULL_UUID): Buffer {
  const parts: Buffer[] = [];
  for (const w of writes) {
    if (w.before.length !== w.after.length) throw new Error('grow log: before and after differ in length');
    parts.push(writeHeader.encode({ deviceUuid: w.deviceUuid, deviceOffset: w.deviceOffset, length: w.after.length }), Buffer.from(w.before), Buffer.from(w.after));
  }
  const body = Buffer.concat(parts);
  const head = recordHeader.encode({ magic: GROW_LOG_MAGIC, crc: CRC32.buf(body) >>> 0, length: body.length, count: writes.length, owner });
  const out = Buffer.concat([head, body]);
  if (out.length > GROW_LOG_MAX) throw new Error(`grow log: change too large (${out.length} bytes)`);
  return out;
}

/** The record on `device`, or null when there is none or it is torn (then nothing was applied). */
export async function readGrowLog(device: BlockDevice): Promise<GrowRecord | null> {
  if (device.size < GROW_LOG_OFFSET + 0x40) return null;
  const head = Buffer.alloc(0x40);
  await device.read(head, GROW_LOG_OFFSET);
  const h = recordHeader.decode(head);
  if (h.magic !== GROW_LOG_MAGIC || h.length > GROW_LOG_MAX) return null;
  const body = Buffer.alloc(h.length);
  await device.read(body, GROW_LOG_OFFSET + 0x40);
  if (CRC32.buf(body) >>> 0 !== h.crc) return null;
  const writes: DeviceWrite[] = [];
  let at = 0;
  for (let i = 0; i < h.count; i++) {
    const w = writeHeader.decode(body, at);
    at += 0x20;
    writes.push({ deviceUuid: w.deviceUuid, deviceOffset: w.deviceOffset, before: body.subarray(at, at + w.length), after: Buffer.from(body.subarray(at + w.length, at + 2 * w.length)) });
    at += 2 * w.length;
  }
  return { owner: h.owner, writes };
}

export async function writeGrowLog(device: BlockDevice, record: Buffer): Promise<void> {
  await device.write(record, GROW_LOG_OFFSET);
  await device.flush();
}

export async function clearGrowLog(device: BlockDevice): Promise<void> {
  await device.write(Buffer.alloc(0x40), GROW_LOG_OFFSET);
  await device.flush();
}

/** The device UUID in a device's volume header, or null when it has none. */
export async function deviceUuidOf(device: BlockDevice): Promise<string | null> {
  if (device.size < VOLUME_HEADER_OFFSET + 0x200) return null;
  const b = Buffer.alloc(0x200);
  await device.read(b, VOLUME_HEADER_OFFSET);
  const h = volumeHeaderStruct.decode(b);
  return h.magic === VOLUME_MAGIC ? h.deviceUuid : null;
}

/** Applies each write's after (redo) or before (undo) bytes to the devices that are present. */
export async function applyGrowLog(writes: DeviceWrite[], devices: Map<string, BlockDevice>, direction: 'redo' | 'undo'): Promise<void> {
  const touched = new Set<BlockDevice>();
  for (const w of direction === 'redo' ? writes : [...writes].reverse()) {
    const d = devices.get(w.deviceUuid);
    if (!d) continue;
    await d.write(direction === 'redo' ? w.after : w.before, w.deviceOffset);
    touched.add(d);
  }
  for (const d of touched) await d.flush();
}

/**
 * Finishes or undoes an interrupted growth found on any of `devices`: redo
 * when every device the record names is present (a new extent is recognised
 * by its header, written or still as it was; one that is not among
 * `devices` is looked for under the name its extent-table record gives),
 * undo otherwise. With `owner`, only a record that host wrote is touched
 * (the takeover of a host that died growing the volume); `wrap` gives the
 * device every write goes through (the taking-over host's fencing).
 */
export async function recoverGrowth(
  devices: BlockDevice[],
  options: { owner?: string; wrap?: (d: BlockDevice) => BlockDevice } = {},
): Promise<'none' | 'finished' | 'rolled back'> {
  const wrap = options.wrap ?? ((d: BlockDevice) => d);
  for (const holder of devices) {
    const record = await readGrowLog(holder);
    if (!record || (options.owner !== undefined && record.owner !== options.owner)) continue;
    const { writes } = record;
    const byUuid = new Map<string, BlockDevice>();
    const unmatched: BlockDevice[] = [];
    for (const d of devices) {
      const uuid = await deviceUuidOf(d);
      if (uuid && writes.some((w) => w.deviceUuid === uuid)) byUuid.set(uuid, d);
      else unmatched.push(d);
    }
    const opened = await openNamedExtents(writes, holder, byUuid);
    try {
      unmatched.push(...opened);
      for (const w of writes) {
        if (byUuid.has(w.deviceUuid) || w.deviceOffset !== VOLUME_HEADER_OFFSET) continue;
        for (const d of unmatched) {
          if (d.size < w.deviceOffset + w.before.length) continue;
          const now = Buffer.alloc(w.before.length);
          await d.read(now, w.deviceOffset);
          if (now.equals(w.before) || now.equals(w.after)) {
            byUuid.set(w.deviceUuid, d);
            unmatched.splice(unmatched.indexOf(d), 1);
            break;
          }
        }
      }
      const complete = writes.every((w) => byUuid.has(w.deviceUuid));
      await applyGrowLog(writes, new Map([...byUuid].map(([uuid, d]) => [uuid, wrap(d)])), complete ? 'redo' : 'undo');
      await clearGrowLog(wrap(holder));
      return complete ? 'finished' : 'rolled back';
    } finally {
      for (const d of opened) await d.close();
    }
  }
  return 'none';
}

/**
 * The devices named by extent-table records the change writes on `holder`
 * for extents not yet found, opened (those that open at all; the header
 * check then decides whether they are the one).
 */
async function openNamedExtents(writes: DeviceWrite[], holder: BlockDevice, found: Map<string, BlockDevice>): Promise<BlockDevice[]> {
  const holderUuid = await deviceUuidOf(holder);
  const tableStart = EXTENT_DATA_OFFSET + EXTENT_TABLE_OFFSET;
  const out: BlockDevice[] = [];
  for (const w of writes) {
    if (w.deviceUuid !== holderUuid || w.after.length !== EXTENT_RECORD_SIZE) continue;
    if (w.deviceOffset < tableStart || w.deviceOffset >= tableStart + MAX_EXTENTS * EXTENT_RECORD_SIZE) continue;
    const r = decodeExtentRecord(w.after);
    if (!r || found.has(r.deviceUuid) || !writes.some((x) => x.deviceUuid === r.deviceUuid)) continue;
    try {
      out.push(await openDevice(r.name));
    } catch {
      // Gone or unreadable: the change cannot be finished, it is undone.
    }
  }
  return out;
}
