// The heartbeat region: one 512-byte slot per host. A mounted host keeps its
// slot "in use" and changes it periodically; other hosts judge it alive by
// seeing it change. A freshly formatted volume has every slot free.
import { defineStruct, Decoded } from '../util/struct.js';
import { NULL_UUID } from '../util/uuid.js';

export const HEARTBEAT_REGION_OFFSET = 0x300000; // logical
export const HEARTBEAT_SLOT_SIZE = 0x200;
export const HEARTBEAT_SLOTS = 2048;

export const HB_MAGIC_FREE = 0xabcdef01;
export const HB_MAGIC_IN_USE = 0xabcdef02;

export const heartbeatSlotStruct = defineStruct('heartbeat slot', HEARTBEAT_SLOT_SIZE, {
  magic: { offset: 0x00, type: 'u32' },
  pos: { offset: 0x04, type: 'u64' }, // the slot's own logical offset
  seq: { offset: 0x0c, type: 'u64' }, // generation
  uptime: { offset: 0x14, type: 'u64' }, // microseconds, renewed with the slot
  hostUuid: { offset: 0x1c, type: 'uuid' },
  journalBlock: { offset: 0x2c, type: 'u32' },
  volVersion: { offset: 0x30, type: 'u32' },
  version: { offset: 0x34, type: 'u32' },
});
export type HeartbeatSlot = Decoded<typeof heartbeatSlotStruct.fields>;

export function slotOffset(index: number): number {
  return HEARTBEAT_REGION_OFFSET + index * HEARTBEAT_SLOT_SIZE;
}

/** The whole region as mkfs writes it: every slot free, each knowing its own position. */
export function freshHeartbeatRegion(): Buffer {
  const buf = Buffer.alloc(HEARTBEAT_SLOTS * HEARTBEAT_SLOT_SIZE);
  for (let i = 0; i < HEARTBEAT_SLOTS; i++) {
    const slot: HeartbeatSlot = { magic: HB_MAGIC_FREE, pos: slotOffset(i), seq: 0, uptime: 0, hostUuid: NULL_UUID, journalBlock: 0, volVersion: 0, version: 0 };
    heartbeatSlotStruct.encodeInto(slot, buf, i * HEARTBEAT_SLOT_SIZE);
  }
  return buf;
}
