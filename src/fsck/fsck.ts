// vmfs fsck: check and repair a datastore in e2fsck's manner. Pass 0 opens
// the extents and the LVM, passes 1-5 come from the file system check (inodes
// and blocks, directories, link counts, bitmaps), pass 6 is the cluster state
// (heartbeats, locks, journals): it watches the heartbeats first, refuses to
// repair under a live host, and replays dead hosts' journals before the file
// system passes look. Repairs run in rounds until a check comes back clean or
// nothing more can be fixed; exit codes are e2fsck's.
import { BlockDevice, DeviceError } from '../device/blockDevice.js';
import { openDevice } from '../device/openDevice.js';
import { Finding, Fix, checkFileSystem } from '../fs/check.js';
import { Vmfs } from '../fs/vmfs.js';
import { FsError, VolumeError } from '../util/errors.js';
import { LogicalVolume } from '../volume/logicalVolume.js';
import { EXTENT_DATA_OFFSET, LVM_INFO_OFFSET, SEGMENT_SIZE, VOLUME_HEADER_OFFSET, lvmInfoStruct } from '../volume/volumeHeader.js';
import { ClusterFix, CLUSTER_PASS, applyClusterFix, checkHeartbeats, checkLocks, liveHosts } from './clusterCheck.js';
import { ClusterSurvey, surveyCluster, surveyDevices } from './clusterLiveness.js';
import { ZeroExtent, filesOnMissing, findMissingExtents, missingMessage, recreateExtent } from './missingExtent.js';
import { applyFix, rebuildBitmaps } from './repair.js';

import { FSCK_CORRECTED, FSCK_ERROR, FSCK_OK, FSCK_UNCORRECTED } from './exitCodes.js';
export * from './exitCodes.js';

export type FsckMode = 'check' | 'yes' | 'preen';

export interface FsckFinding extends Omit<Finding, 'fix'> {
  fix?: Fix | ClusterFix;
  fixed: boolean;
}

export interface FsckResult {
  exitCode: number;
  findings: FsckFinding[];
  files: number;
  directories: number;
  /** Things to know that are not problems (a live host during a check). */
  notes: string[];
}

export interface FsckOptions {
  mode: FsckMode;
  /** Called as passes advance (for a progress bar). */
  progress?: (pass: number, done: number, total: number) => void;
  /** Repair even while another host's heartbeat is live. */
  force?: boolean;
  /** Where to recreate missing extent `index` (in segment order), empty: -y only. */
  createExtent?: (index: number) => Promise<BlockDevice>;
  /** How many places createExtent can give (one per missing extent is needed). */
  createCount?: number;
}

const MAX_ROUNDS = 6;

/** An error in fsck's own operation (exit 8), not a problem of the datastore. */
class OperationalError extends Error {}

const result = (exitCode: number, findings: FsckFinding[], notes: string[] = [], files = 0, directories = 0): FsckResult => ({ exitCode, findings, files, directories, notes });

export async function fsck(extents: string[], options: FsckOptions & { recreate?: string[] }): Promise<FsckResult> {
  const devices: BlockDevice[] = [];
  try {
    for (const name of extents) devices.push(await openDevice(name, { readOnly: options.mode === 'check' }));
  } catch (e) {
    for (const d of devices) await d.close();
    if (e instanceof DeviceError) return result(FSCK_ERROR, [{ pass: 0, code: 'cannot-open', where: '', message: e.message, fixed: false }]);
    throw e;
  }
  const recreate = options.recreate ?? [];
  return fsckDevices(devices, { ...options, createExtent: async (i) => openDevice(recreate[i], { create: true }), createCount: recreate.length });
}

/** fsck on open devices (closed when it returns). */
export async function fsckDevices(devices: BlockDevice[], options: FsckOptions): Promise<FsckResult> {
  const findings: FsckFinding[] = [];
  // Pass 6 looks first, before anything is written (opening the volume for writing may finish an interrupted growth).
  const progress = options.progress && ((done: number, total: number) => options.progress!(CLUSTER_PASS, done, total));
  let survey: ClusterSurvey | null;
  try {
    survey = await surveyDevices(devices, progress);
  } catch (e) {
    if (!(e instanceof VolumeError || e instanceof DeviceError)) throw e;
    survey = null; // the extent holding segment 0 is damaged: pass 0 says how, and the survey reads the volume later
  }
  const live = survey ? liveHosts(survey) : [];
  if (live.length > 0 && options.mode !== 'check' && !options.force) {
    for (const d of devices) await d.close();
    return result(FSCK_ERROR, live.map((f) => ({ ...f, message: `${f.message}: unmount the datastore there first, or give --force`, fixed: false })));
  }
  // Pass 0: extents and LVM.
  let opened: Opened | null;
  try {
    opened = await openVolume(devices, options, findings);
    if (!opened) {
      for (const d of devices) await d.close();
      return result(FSCK_UNCORRECTED, findings);
    }
  } catch (e) {
    for (const d of devices) await d.close();
    if (e instanceof OperationalError) return result(FSCK_ERROR, [...findings, { pass: 0, code: 'cannot-recreate', where: '', message: e.message, fixed: false }]);
    if (!(e instanceof VolumeError || e instanceof DeviceError)) throw e;
    findings.push({ pass: 0, code: 'volume', where: '', message: e.message, fixed: false });
    return result(FSCK_UNCORRECTED, findings);
  }
  try {
    return await passes(opened, survey ?? (await surveyCluster(opened.fs.volume, progress)), options, findings);
  } catch (e) {
    // Storage that fails under us (an I/O error, an extent that shrank): fsck's own trouble, not a verdict.
    if (!(e instanceof VolumeError || e instanceof DeviceError || e instanceof FsError)) throw e;
    await opened.fs.close().catch(() => undefined);
    return result(FSCK_ERROR, [...findings, { pass: 0, code: 'operational', where: '', message: e.message, fixed: false }]);
  }
}

/** Passes 6 (cluster), 1-5 (file system) and 6 again (locks, slots), repairing as the mode allows. */
async function passes(opened: Opened, survey: ClusterSurvey, options: FsckOptions, findings: FsckFinding[]): Promise<FsckResult> {
  let fs = opened.fs;
  const mode = opened.mode;
  const all = opened.devices;
  const allowed = <F extends { fix?: unknown; safe?: boolean }>(list: F[]) => list.filter((f) => f.fix && (mode === 'yes' || f.safe));

  // Pass 6, first half: who is on the datastore (a survey made now if it could not be made before). Nothing is repaired under a live host.
  const live = liveHosts(survey);
  if (live.length > 0 && options.mode !== 'check' && !options.force) {
    await fs.close();
    return result(FSCK_ERROR, [...findings, ...live.map((f) => ({ ...f, message: `${f.message}: unmount the datastore there first, or give --force`, fixed: false }))]);
  }
  const notes = live.map((f) => `${f.message}: what it changes while fsck runs may show up as problems, and nothing of it is repaired`);
  const firstCluster = (await checkHeartbeats(fs, survey)).map((f) => ({ ...f, fixed: false }));
  findings.push(...firstCluster);
  if (mode !== 'check') {
    // Journals first: what a dead host committed is part of the file system the passes check.
    const replays = allowed(firstCluster).filter((f) => f.fix!.kind === 'replay-journal' || f.fix!.kind === 'close-generation');
    for (const f of replays) await applyClusterFix(fs, f.fix!);
    if (replays.length > 0) fs = await reopen(fs, all, mode);
  }

  let report = await checkFileSystem(fs, options.progress);
  const first: FsckFinding[] = report.findings.map((f) => ({ ...f, fixed: false }));
  findings.push(...first);
  if (mode !== 'check' && report.findings.length > 0) {
    for (let round = 0; round < MAX_ROUNDS && report.findings.length > 0; round++) {
      const fixes = allowed(report.findings);
      if (fixes.length === 0) break;
      fs = await repairRound(fs, all, fixes, mode);
      report = await checkFileSystem(fs, options.progress);
    }
  }

  // Pass 6, second half: stale locks, then the slots and blocks of dead hosts.
  const locks = (await checkLocks(fs, survey)).map((f) => ({ ...f, fixed: false }));
  first.push(...firstCluster, ...locks);
  findings.push(...locks);
  if (mode !== 'check') {
    const rest = allowed([...locks, ...(await checkHeartbeats(fs, survey))]).filter((f) => f.fix!.kind !== 'replay-journal' && f.fix!.kind !== 'close-generation');
    for (const f of rest) await applyClusterFix(fs, f.fix!);
    if (rest.length > 0) {
      fs = await reopen(fs, all, mode);
      report = await checkFileSystem(fs, options.progress);
    }
    const left = [...report.findings, ...(await checkHeartbeats(fs, survey, true)), ...(await checkLocks(fs, survey, true))];
    // What the first checks found is fixed unless the same problem is still there.
    const still = new Set(left.map((f) => `${f.code}|${f.where}`));
    for (const f of first) f.fixed = !still.has(`${f.code}|${f.where}`);
    for (const f of left) if (!first.some((g) => g.code === f.code && g.where === f.where)) findings.push({ ...f, fixed: false });
  }
  const counts = { files: report.files, directories: report.directories };
  await fs.close();
  const unfixed = findings.some((f) => !f.fixed);
  const fixed = findings.some((f) => f.fixed);
  return result(unfixed ? FSCK_UNCORRECTED : fixed ? FSCK_CORRECTED : FSCK_OK, findings, notes, counts.files, counts.directories);
}

interface Opened {
  fs: Vmfs;
  /** The mode the rest runs in: a check only when a missing extent could not be recreated. */
  mode: FsckMode;
  /** The devices of the volume, stand-ins or new extents included. */
  devices: BlockDevice[];
}

/**
 * Opens the logical volume and file system. A truncated extent is
 * re-extended when repairs are allowed (null when they are not); a missing
 * extent is recreated empty where the caller says, or stood in for by zeros
 * for a check, and every file that had bytes on it is reported.
 */
async function openVolume(devices: BlockDevice[], options: FsckOptions, findings: FsckFinding[]): Promise<Opened | null> {
  let mode = options.mode;
  for (const d of devices) {
    const need = await neededSize(d);
    if (need === null || d.size >= need) continue;
    const f: FsckFinding = { pass: 0, code: 'extent-truncated', where: d.name, message: `${d.name}: extent is truncated (${d.size} bytes, its segments need ${need})`, fixed: false };
    findings.push(f);
    if (mode !== 'check' && d.setSize) {
      await d.setSize(need); // the lost tail reads as zeros; the check then finds what pointed there
      f.fixed = true;
    }
  }
  if (findings.some((f) => f.code === 'extent-truncated' && !f.fixed)) return null;
  const missing = await findMissingExtents(devices);
  const all = [...devices];
  // Segment 0 holds the file system's own metadata: without it there is nothing to rebuild from.
  const headless = missing.some((m) => m.firstSegment === 0);
  const recreate = mode === 'yes' && missing.length > 0 && !headless && options.createExtent !== undefined && options.createCount === missing.length;
  for (const [i, m] of missing.entries()) {
    const f: FsckFinding = { pass: 0, code: 'extent-missing', where: `segments ${m.firstSegment}-${m.lastSegment}`, message: missingMessage(m), fixed: false };
    findings.push(f);
    if (!recreate) {
      if (m.firstSegment === 0) f.message += ': it held the file system itself, nothing can be rebuilt without it';
      else if (mode !== 'check') f.message += `; give --recreate-extent PATH (${missing.length === 1 ? 'a new file' : `${missing.length} new files, in segment order`}) to recreate it empty: what it held is lost`;
      all.push(new ZeroExtent(m));
      continue;
    }
    let device: BlockDevice | undefined;
    try {
      device = await options.createExtent!(i);
      await recreateExtent(device, m);
      all.push(device);
    } catch (e) {
      await device?.close();
      for (const d of all.slice(devices.length)) await d.close();
      if (e instanceof DeviceError) throw new OperationalError(e.message);
      throw e;
    }
    f.message += `; recreated empty on ${device.name}`;
    f.fixed = true;
  }
  if (missing.length > 0 && !recreate) mode = 'check'; // nothing is written beside a stand-in
  const volume = await LogicalVolume.open(all, { readOnly: mode === 'check' });
  const fs = await Vmfs.open(volume, { readOnly: mode === 'check' });
  if (missing.length > 0) {
    for (const d of await filesOnMissing(fs, missing)) {
      const range = `bytes ${d.first[0]}-${d.first[1] - 1}${d.lostBytes > d.first[1] - d.first[0] ? ' and more' : ''}`;
      findings.push({ pass: 0, code: 'data-lost', where: d.path, message: `${d.lostBytes} bytes (${range}) lay on the missing extent${recreate ? ': they now read as zeros' : ''}`, fixed: recreate });
    }
  }
  return { fs, mode, devices: all };
}

async function neededSize(d: BlockDevice): Promise<number | null> {
  if (d.size < VOLUME_HEADER_OFFSET + 0x400) return null;
  const b = Buffer.alloc(0x200);
  await d.read(b, LVM_INFO_OFFSET);
  const lvm = lvmInfoStruct.decode(b);
  if (lvm.numSegments < 1 || lvm.numSegments > 1 << 20) return null;
  return EXTENT_DATA_OFFSET + lvm.numSegments * SEGMENT_SIZE;
}

/**
 * One round of repairs, in an order that never loses data: structure first
 * (entries, sizes, bad pointers), orphans into lost+found before the bitmaps
 * are rebuilt (so their blocks stay theirs), then bitmaps from what is
 * referenced, then copies of shared blocks (allocated from the rebuilt bitmaps).
 */
async function repairRound(fs: Vmfs, devices: BlockDevice[], allowed: Finding[], mode: FsckMode): Promise<Vmfs> {
  const order = (f: Fix) => (f.kind === 'orphan' ? 1 : f.kind === 'bitmaps' ? 2 : f.kind === 'copy-block' || f.kind === 'zero-tbz' ? 3 : 0);
  const fixes = allowed.map((f) => f.fix!);
  for (const f of fixes.filter((x) => order(x) === 0)) await applyFix(fs, f);
  for (const f of fixes.filter((x) => order(x) === 1)) await applyFix(fs, f);
  fs = await reopen(fs, devices, mode);
  const wantsBitmaps = fixes.some((x) => order(x) >= 2);
  if (wantsBitmaps) {
    const fresh = await checkFileSystem(fs);
    await rebuildBitmaps(fs, fresh);
    fs = await reopen(fs, devices, mode);
  }
  const copies = fixes.filter((x) => order(x) === 3);
  if (copies.length > 0) {
    // Recompute: block references may have moved in this round.
    const fresh = await checkFileSystem(fs);
    for (const f of fresh.findings) if (f.fix && order(f.fix) === 3) await applyFix(fs, f.fix);
    fs = await reopen(fs, devices, mode);
  }
  return fs;
}

/** Caches never outlive a repair step: reopen on the same devices. */
async function reopen(fs: Vmfs, devices: BlockDevice[], mode: FsckMode): Promise<Vmfs> {
  await fs.sync();
  const volume = await LogicalVolume.open(devices, { readOnly: mode === 'check' });
  return Vmfs.open(volume, { readOnly: mode === 'check' });
}
