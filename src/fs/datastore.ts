// Opening and formatting datastores by extent name: the entry points tools use.
// The cluster machinery, mkfs and growth are imported when used: a short
// command that only reads (vmfs get, ls) does not pay for loading them.
import { BlockDevice } from '../device/blockDevice.js';
import { existsSync, rmSync } from 'node:fs';
import { isNbdUrl, openDevice } from '../device/openDevice.js';
import { VolumeError } from '../util/errors.js';
import { newUuid } from '../util/uuid.js';
import { LogicalVolume, readSegmentZero } from '../volume/logicalVolume.js';
import { VOLUME_HEADER_OFFSET, VOLUME_MAGIC, deviceSizeFor, segmentsFor } from '../volume/volumeHeader.js';
import type { ClusterMount } from './clusterMount.js';
import type { GrowResult } from './grow.js';
import type { MkfsOptions } from './mkfs.js';
import { OpenOptions, Vmfs } from './vmfs.js';

export async function openDatastore(extents: string[], options: OpenOptions = {}): Promise<Vmfs> {
  const devices = await openAll(extents, { readOnly: options.readOnly });
  try {
    const volume = await LogicalVolume.open(devices, { readOnly: options.readOnly });
    return await Vmfs.open(volume, options);
  } catch (e) {
    for (const d of devices) await d.close();
    throw e;
  }
}

/**
 * Opens the datastore as one cluster host among several (see clusterMount.ts).
 * An extend/grow under way elsewhere is waited for, never touched.
 */
export async function mountClusteredDatastore(extents: string[], hostUuid: string, options: { journal?: boolean } = {}): Promise<ClusterMount & { volume: LogicalVolume }> {
  const devices = await openAll(extents, {});
  try {
    const volume = await LogicalVolume.open(devices, { shared: true });
    const { mountClustered } = await import('./clusterMount.js');
    return { ...(await mountClustered(volume, { hostUuid, ...options })), volume };
  } catch (e) {
    for (const d of devices) await d.close();
    throw e;
  }
}

export interface FormatOptions extends MkfsOptions {
  /** Size to give each extent file (created or extended); block devices keep theirs. */
  size?: number;
  force?: boolean;
}

export async function formatDatastore(extents: string[], options: FormatOptions = {}): Promise<Vmfs> {
  if (new Set(extents).size !== extents.length) throw new VolumeError('an extent is named twice');
  if (options.size !== undefined && segmentsFor(options.size) < 1) throw new VolumeError(`size ${options.size} is too small for an extent (at least ${deviceSizeFor(1)} bytes)`);
  const devices = await openAll(extents, { create: true });
  try {
    // An empty file grown by setSize is one hole: it reads as zeros without writing them.
    const zeroed = new Set(devices.filter((d) => d.size === 0 && d.setSize));
    for (const d of devices) {
      if (!options.force && (await hasVolumeHeader(d))) throw new VolumeError(`${d.name}: already holds a VMFS extent (use --force to overwrite it)`);
      if (options.size !== undefined) {
        if (d.size < options.size) {
          if (!d.setSize) throw new VolumeError(`${d.name}: cannot be resized`);
          await d.setSize(options.size);
        }
      }
      if (segmentsFor(d.size) < 1) throw new VolumeError(`${d.name}: too small for an extent (${d.size} bytes; at least ${deviceSizeFor(1)} needed; give --size)`);
    }
    const { mkfs } = await import('./mkfs.js');
    return await mkfs(devices, options, zeroed);
  } catch (e) {
    for (const d of devices) await d.close();
    throw e;
  }
}

async function hasVolumeHeader(d: BlockDevice): Promise<boolean> {
  if (d.size < VOLUME_HEADER_OFFSET + 4) return false;
  const b = Buffer.alloc(4);
  await d.read(b, VOLUME_HEADER_OFFSET);
  return b.readUInt32LE(0) === VOLUME_MAGIC;
}

async function openAll(names: string[], options: { readOnly?: boolean; create?: boolean }): Promise<BlockDevice[]> {
  const out: BlockDevice[] = [];
  try {
    for (const n of names) out.push(await openDevice(n, options));
  } catch (e) {
    for (const d of out) await d.close();
    throw e;
  }
  return out;
}

/**
 * Adds `newExtent` (created or extended to `size` if given) to the datastore.
 * Refuses a device that already holds a VMFS extent unless `force`. Works
 * while other hosts use the datastore (see runGrowth).
 */
export async function extendDatastore(extents: string[], newExtent: string, options: { size?: number; force?: boolean } = {}): Promise<DatastoreGrowth> {
  if (extents.includes(newExtent)) throw new VolumeError(`${newExtent}: already an extent of this datastore`);
  if (options.size !== undefined && segmentsFor(options.size) < 1) throw new VolumeError(`size ${options.size} is too small for an extent (at least ${deviceSizeFor(1)} bytes)`);
  const created = options.size !== undefined && !isNbdUrl(newExtent) && !existsSync(newExtent);
  const added = await openDevice(newExtent, { create: options.size !== undefined });
  let done = false;
  try {
    if (!options.force && (await hasVolumeHeader(added))) throw new VolumeError(`${newExtent}: already holds a VMFS extent (use --force to add it anyway)`);
    if (options.size !== undefined && added.size < options.size) {
      if (!added.setSize) throw new VolumeError(`${newExtent}: cannot be resized`);
      await added.setSize(options.size);
    }
    if (segmentsFor(added.size) < 1) throw new VolumeError(`${newExtent}: too small for an extent (${added.size} bytes; at least ${deviceSizeFor(1)} needed; give --size)`);
    const result = await runGrowth(extents, added);
    done = true;
    return result;
  } finally {
    await added.close();
    if (created && !done) rmSync(newExtent, { force: true }); // a refused extend leaves no file it made
  }
}

/** Grows the volume into the room its last extent's file or device gained. Works while other hosts use the datastore. */
export async function growLastExtent(extents: string[]): Promise<DatastoreGrowth> {
  return runGrowth(extents);
}

export interface DatastoreGrowth extends GrowResult {
  /** Hosts that were using the datastore (the growth then ran as one more). */
  hosts: number;
}

/**
 * Runs one growth. With no host on the datastore, alone (an interrupted
 * growth is finished or undone on opening). With hosts on it (any heartbeat
 * slot in use), as one more cluster host: every host takes in the new
 * geometry through `changeGeometry`, the intent log names this host (its
 * takeover finishes or undoes the change), and every device write is fenced.
 */
async function runGrowth(extents: string[], add?: BlockDevice): Promise<DatastoreGrowth> {
  const { applyGrowth, checkGrowth } = await import('./grow.js');
  const hosts = await hostsPresent(extents);
  if (hosts === 0) {
    const fs = await openDatastore(extents);
    try {
      return { ...(await applyGrowth(fs, { add })), hosts };
    } finally {
      await fs.close();
    }
  }
  const mount = await mountClusteredDatastore(extents, newUuid(), { journal: false }); // a full datastore can grow too
  try {
    await checkGrowth(mount.volume, { add });
    return { ...(await mount.fs.changeGeometry(() => applyGrowth(mount.fs, { add, host: mount.member.host }))), hosts };
  } finally {
    await mount.leave().catch(() => undefined);
    await mount.volume.close();
  }
}

/**
 * Runs `fn` on the datastore for one short command: alone when no host has
 * it mounted, or else as one more cluster host (journal, reservation,
 * fencing), so a command never writes behind mounted hosts' backs.
 */
export async function withCommandDatastore<T>(extents: string[], readOnly: boolean, fn: (fs: Vmfs) => Promise<T>): Promise<T> {
  if (readOnly || (await hostsPresent(extents)) === 0) {
    const fs = await openDatastore(extents, { readOnly });
    try {
      return await fn(fs);
    } finally {
      await fs.close();
    }
  }
  const mount = await mountClusteredDatastore(extents, newUuid());
  try {
    return await fn(mount.fs);
  } finally {
    await mount.leave().catch(() => undefined);
    await mount.volume.close();
  }
}

/** How many heartbeat slots are in use (live hosts, and dead ones nobody took over yet). */
export async function hostsPresent(extents: string[]): Promise<number> {
  const devices = await openAll(extents, { readOnly: true });
  try {
    const io = {
      read: (buf: Uint8Array, offset: number) => readSegmentZero(devices, buf, offset),
      write: () => Promise.reject(new VolumeError('read-only look at the heartbeat slots')),
      flush: () => Promise.resolve(),
    };
    const { surveyHosts } = await import('../cluster/survey.js');
    return (await surveyHosts(io, 0)).length;
  } catch {
    return 0; // not a datastore as given: opening it says what is wrong
  } finally {
    for (const d of devices) await d.close();
  }
}
