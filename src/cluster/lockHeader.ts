// The 512-byte lock header in front of every metadata object (inodes and
// resource bitmap entries). The open reader checks only its magic; the rest
// names the object's lock holder by heartbeat slot, heartbeat generation and
// host UUID, which is what lets hosts coordinate through the disk alone.
import { defineStruct, Decoded } from '../util/struct.js';
import { NULL_UUID } from '../util/uuid.js';

export const LOCK_HEADER_SIZE = 0x200;
export const MAX_LOCK_HOLDERS = 8;

export enum LockMode {
  Free = 0,
  Exclusive = 1,
  ReadOnly = 2,
  MultiWriter = 3,
}

export const lockHeaderStruct = defineStruct('lock header', LOCK_HEADER_SIZE, {
  magic: { offset: 0x00, type: 'u32' },
  pos: { offset: 0x04, type: 'u64' }, // the object's own logical offset
  hbPos: { offset: 0x0c, type: 'u64' }, // holder's heartbeat slot offset
  hbSeq: { offset: 0x14, type: 'u64' }, // holder's heartbeat generation when locked
  objSeq: { offset: 0x1c, type: 'u64' }, // bumped on each lock
  mode: { offset: 0x24, type: 'u32' },
  hbUuid: { offset: 0x28, type: 'uuid' },
  mtime: { offset: 0x38, type: 'u64' },
  numHolders: { offset: 0x40, type: 'u32' },
  holders: { offset: 0x44, type: { bytes: MAX_LOCK_HOLDERS * 0x10 } }, // read-only holders' heartbeat slot offsets (u64) and generations (u64)
});
export type LockHeader = Decoded<typeof lockHeaderStruct.fields>;

/** A lock header with no holder, for a freshly formatted object. */
export function freeLockHeader(magic: number, pos: number): LockHeader {
  return {
    magic,
    pos,
    hbPos: 0,
    hbSeq: 0,
    objSeq: 0,
    mode: LockMode.Free,
    hbUuid: NULL_UUID,
    mtime: 0,
    numHolders: 0,
    holders: Buffer.alloc(MAX_LOCK_HOLDERS * 0x10),
  };
}
