// The heartbeat region: one 512-byte slot per host. A mounted host keeps its
// slot "in use" and changes it periodically; other hosts judge it alive by
// seeing it change. A freshly formatted volume has every slot free.
//
// The first 0x38 bytes are VMFS's own fields. After them come ours (the open
// reader ignores the region): a marker saying the slot was written by this
// cluster code, the slot state, who replays a dead host's journal, the
// host's two reservation registers (see diskMutex.ts) and a crc-32 of the
// fields, which lets a reader tell a torn read from a value.
import CRC32 from 'crc-32';
import { defineStruct, Decoded } from '../util/struct.js';
import { NULL_UUID } from '../util/uuid.js';

export const HEARTBEAT_REGION_OFFSET = 0x300000; // logical
export const HEARTBEAT_SLOT_SIZE = 0x200;
export const HEARTBEAT_SLOTS = 2048;
export const HEARTBEAT_REGION_SIZE = HEARTBEAT_SLOTS * HEARTBEAT_SLOT_SIZE;

export const HB_MAGIC_FREE = 0xabcdef01;
export const HB_MAGIC_IN_USE = 0xabcdef02;

/** Marks a slot whose extension fields (state, registers, crc) were written by vmfs-ts. */
export const HB_CLUSTER_MAGIC = 0x76747362; // 'btsv'

export enum SlotState {
  Free = 0,
  Live = 1,
  /** Its host died; the host named by replayBy/replayGen is replaying its journal. */
  Replaying = 2,
}

export const heartbeatSlotStruct = defineStruct('heartbeat slot', HEARTBEAT_SLOT_SIZE, {
  magic: { offset: 0x00, type: 'u32' },
  pos: { offset: 0x04, type: 'u64' }, // the slot's own logical offset
  seq: { offset: 0x0c, type: 'u64' }, // generation, bumped on each claim
  uptime: { offset: 0x14, type: 'u64' }, // microseconds since the claim, bumped by every renewal
  hostUuid: { offset: 0x1c, type: 'uuid' },
  journalBlock: { offset: 0x2c, type: 'u32' },
  volVersion: { offset: 0x30, type: 'u32' },
  version: { offset: 0x34, type: 'u32' },
  clusterMagic: { offset: 0x38, type: 'u32' },
  state: { offset: 0x3c, type: 'u32' },
  replayBy: { offset: 0x40, type: 'u64' }, // replaying host's slot offset
  replayGen: { offset: 0x48, type: 'u64' }, // replaying host's generation
  choosing: { offset: 0x50, type: 'u32' }, // bakery register: taking a ticket
  ticket: { offset: 0x54, type: 'u64' }, // bakery register: 0 = not in or entering the reservation
  crc: { offset: 0x5c, type: 'u32' }, // crc-32 of bytes 0..0x5c
});
export type HeartbeatSlot = Decoded<typeof heartbeatSlotStruct.fields>;

const CRC_OFFSET = 0x5c;

export function slotOffset(index: number): number {
  return HEARTBEAT_REGION_OFFSET + index * HEARTBEAT_SLOT_SIZE;
}

export function slotIndex(offset: number): number {
  return (offset - HEARTBEAT_REGION_OFFSET) / HEARTBEAT_SLOT_SIZE;
}

/** A free slot at `index` (generation and host UUID can be kept so a host finds its old slot). */
export function freeSlot(index: number, keep: { seq?: number; hostUuid?: string } = {}): HeartbeatSlot {
  return {
    magic: HB_MAGIC_FREE,
    pos: slotOffset(index),
    seq: keep.seq ?? 0,
    uptime: 0,
    hostUuid: keep.hostUuid ?? NULL_UUID,
    journalBlock: 0,
    volVersion: 0,
    version: 0,
    clusterMagic: 0,
    state: SlotState.Free,
    replayBy: 0,
    replayGen: 0,
    choosing: 0,
    ticket: 0,
    crc: 0,
  };
}

/** Encodes a slot written by this cluster code: marker and crc filled in. */
export function encodeClusterSlot(slot: HeartbeatSlot): Buffer {
  const buf = heartbeatSlotStruct.encode({ ...slot, clusterMagic: HB_CLUSTER_MAGIC, crc: 0 });
  buf.writeUInt32LE(CRC32.buf(buf.subarray(0, CRC_OFFSET)) >>> 0, CRC_OFFSET);
  return buf;
}

/** True when the slot at `base` carries our marker and a matching crc. */
export function clusterSlotIntact(buf: Uint8Array, base = 0): boolean {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return b.readUInt32LE(base + 0x38) === HB_CLUSTER_MAGIC && (CRC32.buf(b.subarray(base, base + CRC_OFFSET)) >>> 0) === b.readUInt32LE(base + CRC_OFFSET);
}

/** The whole region as mkfs writes it: every slot free, each knowing its own position. */
export function freshHeartbeatRegion(): Buffer {
  const buf = Buffer.alloc(HEARTBEAT_REGION_SIZE);
  for (let i = 0; i < HEARTBEAT_SLOTS; i++) heartbeatSlotStruct.encodeInto(freeSlot(i), buf, i * HEARTBEAT_SLOT_SIZE);
  return buf;
}
