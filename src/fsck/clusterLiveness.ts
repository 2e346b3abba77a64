// Who is on the datastore, for fsck: every heartbeat slot in use is watched
// with the cluster layer's SlotWatch until it either changes (its host is
// live) or stays the same for the lease time (its host is dead and has
// fenced itself). The wait is bounded: about one lease, and none at all when
// no slot is in use; the read issued at the bound judges every slot left.
// The survey can read the extent holding segment 0 directly (the config and
// the heartbeats live there), so fsck looks before opening the volume for
// writing, which may already finish an interrupted growth.
import { now, sleep } from '../cluster/clock.js';
import { ClusterConfig, DEFAULT_CLUSTER_PARAMS, readClusterConfig } from '../cluster/clusterConfig.js';
import { RegionSnapshot, SlotView, SlotWatch } from '../cluster/slotWatch.js';
import { VolumeIO } from '../cluster/volumeIo.js';
import { BlockDevice, DeviceError } from '../device/blockDevice.js';
import { VolumeError } from '../util/errors.js';
import { EXTENT_DATA_OFFSET, LVM_INFO_OFFSET, SEGMENT_SIZE, VOLUME_HEADER_OFFSET, VOLUME_MAGIC, lvmInfoStruct } from '../volume/volumeHeader.js';

export type Liveness = 'live' | 'dead';

export interface ClusterSurvey {
  config: ClusterConfig;
  /** Why the stored config could not be used (the defaults were): null when it could. */
  configError: string | null;
  /** The region as last read. */
  snapshot: RegionSnapshot;
  /** The verdict on every slot that was in use, by index, with the slot bytes it was judged on. */
  verdicts: Map<number, { liveness: Liveness; judged: Buffer }>;
}

/** The stored cluster config, or the defaults and why the stored one cannot be used. */
export async function readConfig(volume: VolumeIO): Promise<{ config: ClusterConfig; configError: string | null }> {
  try {
    return { config: await readClusterConfig(volume), configError: null };
  } catch (e) {
    if (!(e instanceof VolumeError)) throw e;
    return { config: { ...DEFAULT_CLUSTER_PARAMS, stored: false }, configError: e.message };
  }
}

/** Reads the cluster config and watches every slot in use until each is judged (at most about one lease). */
export async function surveyCluster(volume: VolumeIO, progress?: (done: number, total: number) => void): Promise<ClusterSurvey> {
  const { config, configError } = await readConfig(volume);
  const watch = new SlotWatch(volume, config.leaseMs);
  let snapshot = await watch.readAll();
  const first = new Map(snapshot.inUse().map((i) => [i, Buffer.from(snapshot.raw(i))]));
  const verdicts: ClusterSurvey['verdicts'] = new Map();
  const pending = new Set(first.keys());
  const start = now();
  const giveUp = start + config.leaseMs + 2 * config.renewMs;
  const step = Math.max(1, Math.min(config.renewMs, config.leaseMs / 8));
  for (let last = false; pending.size > 0 && !last; ) {
    // A read issued past the bound comes a lease after the first one completed: it judges every slot still pending.
    last = now() >= giveUp;
    progress?.(Math.min(now() - start, config.leaseMs), config.leaseMs);
    await sleep(step);
    snapshot = await watch.readAll();
    for (const i of [...pending]) {
      const v = snapshot.view(i);
      if (!v.inUse) pending.delete(i); // left while we watched
      else if (!SlotWatch.sameFields(first.get(i)!, v.raw)) settle(i, 'live', v);
      else if (watch.isDead(i)) settle(i, 'dead', v);
    }
  }
  for (const i of pending) settle(i, 'live', snapshot.view(i)); // not judged (cannot happen with a sane clock): assume the worst
  return { config, configError, snapshot, verdicts };

  function settle(i: number, liveness: Liveness, v: SlotView): void {
    verdicts.set(i, { liveness, judged: Buffer.from(v.raw) });
    pending.delete(i);
  }
}

/**
 * The verdict on slot `v` now: what the survey decided if the slot still
 * holds the bytes it was judged on, live if it changed since, null if free.
 */
export function livenessOf(survey: ClusterSurvey, v: SlotView): Liveness | null {
  if (!v.inUse) return null;
  const verdict = survey.verdicts.get(v.index);
  if (!verdict || !SlotWatch.sameFields(verdict.judged, v.raw)) return 'live';
  return verdict.liveness;
}

/**
 * The survey, read straight from the extent that holds segment 0, before the
 * volume is assembled; null when no given extent holds it whole.
 */
export async function surveyDevices(devices: BlockDevice[], progress?: (done: number, total: number) => void): Promise<ClusterSurvey | null> {
  for (const d of devices) {
    if (d.size < EXTENT_DATA_OFFSET + SEGMENT_SIZE) continue;
    const head = Buffer.alloc(0x400);
    await d.read(head, VOLUME_HEADER_OFFSET);
    if (head.readUInt32LE(0) !== VOLUME_MAGIC || lvmInfoStruct.decode(head, LVM_INFO_OFFSET - VOLUME_HEADER_OFFSET).firstSegment !== 0) continue;
    const segmentZero: VolumeIO = {
      read: async (buf, offset) => {
        if (offset < 0 || offset + buf.length > SEGMENT_SIZE) throw new VolumeError(`read at ${offset} outside segment 0`);
        await d.read(buf, EXTENT_DATA_OFFSET + offset);
      },
      write: async () => {
        throw new DeviceError(`${d.name}: the survey does not write`);
      },
      flush: async () => undefined,
    };
    return surveyCluster(segmentZero, progress);
  }
  return null;
}
