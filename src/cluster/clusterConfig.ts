// The cluster parameters every host must agree on, stored by mkfs in one
// sector of ours right after the FS info sector (logical 0x200200, inside the
// 1 MiB that .vh.sf owns and the open reader ignores). A volume without it
// (formatted by ESX or by an older mkfs) gets the defaults.
import CRC32 from 'crc-32';
import { VolumeError } from '../util/errors.js';
import { defineStruct } from '../util/struct.js';
import { VolumeIO } from './volumeIo.js';

export const CLUSTER_CONFIG_OFFSET = 0x200200;
export const CLUSTER_CONFIG_MAGIC = 0x6c637476; // 'vtcl'
export const CLUSTER_CONFIG_VERSION = 1;

export enum ReservationKind {
  /** The bakery over the heartbeat slots: needs nothing but sector-atomic reads and writes. */
  Disk = 0,
  /** A kernel-held lock on this machine (abstract Unix socket): every host must run on one machine, in one network namespace. */
  LocalMachine = 1,
}

export const clusterConfigStruct = defineStruct('cluster config', 0x200, {
  magic: { offset: 0x00, type: 'u32' },
  version: { offset: 0x04, type: 'u32' },
  leaseMs: { offset: 0x08, type: 'u32' }, // a host whose slot has not changed for this long is dead
  renewMs: { offset: 0x0c, type: 'u32' }, // heartbeat renewal interval
  ioTimeoutMs: { offset: 0x10, type: 'u32' }, // longest a heartbeat I/O may take; also the fencing margin
  reservation: { offset: 0x14, type: 'u32' }, // ReservationKind
  journalBytes: { offset: 0x18, type: 'u32' }, // size of each host's journal
  crc: { offset: 0x1fc, type: 'u32' }, // crc-32 of bytes 0..0x1fc
});

export interface ClusterParams {
  leaseMs: number;
  renewMs: number;
  ioTimeoutMs: number;
  reservation: ReservationKind;
  journalBytes: number;
}

export interface ClusterConfig extends ClusterParams {
  /** False when the volume carries no config and these are the defaults. */
  stored: boolean;
}

/**
 * A survivor takes over a dead host after lease + at most one renewal
 * interval (under 7 s); a host fences itself when no renewal has succeeded
 * for lease - ioTimeout (5 s): four missed renewals, or storage stalls of
 * about 4 s, are survived.
 */
export const DEFAULT_CLUSTER_PARAMS: ClusterParams = Object.freeze({
  leaseMs: 6000,
  renewMs: 1000,
  ioTimeoutMs: 1000,
  reservation: ReservationKind.Disk,
  journalBytes: 1 << 20,
});

const CRC_OFFSET = 0x1fc;

/** Throws a VolumeError saying which rule `p` breaks. */
export function validateClusterParams(p: ClusterParams): void {
  const whole = (n: number) => Number.isInteger(n) && n > 0 && n <= 0xffffffff;
  for (const k of ['leaseMs', 'renewMs', 'ioTimeoutMs', 'journalBytes'] as const) {
    if (!whole(p[k])) throw new VolumeError(`cluster config: ${k} must be a positive integer (got ${p[k]})`);
  }
  if (p.renewMs < 10) throw new VolumeError(`cluster config: renewMs must be at least 10 (got ${p.renewMs})`);
  // A host fences itself lease - ioTimeout after its last renewal began; joining spends 2 x ioTimeout
  // of that waiting, and a renewal needs one interval plus one I/O to land inside it.
  if (p.leaseMs <= p.renewMs + 3 * p.ioTimeoutMs) {
    throw new VolumeError(`cluster config: leaseMs (${p.leaseMs}) must exceed renewMs + 3 * ioTimeoutMs (${p.renewMs + 3 * p.ioTimeoutMs})`);
  }
  if (p.reservation !== ReservationKind.Disk && p.reservation !== ReservationKind.LocalMachine) {
    throw new VolumeError(`cluster config: unknown reservation kind ${p.reservation}`);
  }
  if (p.journalBytes % 512 !== 0 || p.journalBytes < 64 * 1024) {
    throw new VolumeError(`cluster config: journalBytes must be a multiple of 512 and at least 64 KiB (got ${p.journalBytes})`);
  }
}

export function encodeClusterConfig(params: ClusterParams): Buffer {
  validateClusterParams(params);
  const buf = clusterConfigStruct.encode({ magic: CLUSTER_CONFIG_MAGIC, version: CLUSTER_CONFIG_VERSION, ...params, crc: 0 });
  buf.writeUInt32LE(CRC32.buf(buf.subarray(0, CRC_OFFSET)) >>> 0, CRC_OFFSET);
  return buf;
}

export function decodeClusterConfig(buf: Buffer): ClusterConfig {
  const c = clusterConfigStruct.decode(buf);
  if (c.magic !== CLUSTER_CONFIG_MAGIC) return { ...DEFAULT_CLUSTER_PARAMS, stored: false };
  if ((CRC32.buf(buf.subarray(0, CRC_OFFSET)) >>> 0) !== c.crc) throw new VolumeError('cluster config at 0x200200 is damaged (bad checksum)');
  if (c.version !== CLUSTER_CONFIG_VERSION) throw new VolumeError(`cluster config version ${c.version} is not supported (this is version ${CLUSTER_CONFIG_VERSION})`);
  const params: ClusterParams = { leaseMs: c.leaseMs, renewMs: c.renewMs, ioTimeoutMs: c.ioTimeoutMs, reservation: c.reservation, journalBytes: c.journalBytes };
  validateClusterParams(params);
  return { ...params, stored: true };
}

/** Writes the cluster parameters (missing ones take the defaults) and flushes. */
export async function writeClusterConfig(volume: VolumeIO, params: Partial<ClusterParams> = {}): Promise<ClusterConfig> {
  const full: ClusterParams = { ...DEFAULT_CLUSTER_PARAMS, ...params };
  await volume.write(encodeClusterConfig(full), CLUSTER_CONFIG_OFFSET);
  await volume.flush();
  return { ...full, stored: true };
}

export async function readClusterConfig(volume: VolumeIO): Promise<ClusterConfig> {
  const buf = Buffer.alloc(0x200);
  await volume.read(buf, CLUSTER_CONFIG_OFFSET);
  return decodeClusterConfig(buf);
}
