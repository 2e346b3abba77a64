// vmfs fsck: check and repair a datastore in e2fsck's manner. Pass 0 opens
// the extents and the LVM, passes 1-5 come from the file system check (inodes
// and blocks, directories, link counts, bitmaps). Repairs run in rounds until
// a check comes back clean or nothing more can be fixed; exit codes are
// e2fsck's.
import { BlockDevice, DeviceError } from '../device/blockDevice.js';
import { openDevice } from '../device/openDevice.js';
import { Finding, Fix, checkFileSystem } from '../fs/check.js';
import { Vmfs } from '../fs/vmfs.js';
import { VolumeError } from '../util/errors.js';
import { LogicalVolume } from '../volume/logicalVolume.js';
import { EXTENT_DATA_OFFSET, LVM_INFO_OFFSET, SEGMENT_SIZE, VOLUME_HEADER_OFFSET, lvmInfoStruct } from '../volume/volumeHeader.js';
import { applyFix, rebuildBitmaps } from './repair.js';

export const FSCK_OK = 0;
export const FSCK_CORRECTED = 1;
export const FSCK_REBOOT = 2;
export const FSCK_UNCORRECTED = 4;
export const FSCK_ERROR = 8;
export const FSCK_USAGE = 16;

export type FsckMode = 'check' | 'yes' | 'preen';

export interface FsckFinding extends Finding {
  fixed: boolean;
}

export interface FsckResult {
  exitCode: number;
  findings: FsckFinding[];
  files: number;
  directories: number;
}

export interface FsckOptions {
  mode: FsckMode;
  /** Called as passes advance (for a progress bar). */
  progress?: (pass: number, done: number, total: number) => void;
}

const MAX_ROUNDS = 6;

export async function fsck(extents: string[], options: FsckOptions): Promise<FsckResult> {
  const devices: BlockDevice[] = [];
  try {
    for (const name of extents) devices.push(await openDevice(name, { readOnly: options.mode === 'check' }));
  } catch (e) {
    for (const d of devices) await d.close();
    if (e instanceof DeviceError) return { exitCode: FSCK_ERROR, findings: [{ pass: 0, code: 'cannot-open', where: '', message: e.message, fixed: false }], files: 0, directories: 0 };
    throw e;
  }
  return fsckDevices(devices, options);
}

/** fsck on open devices (closed when it returns). */
export async function fsckDevices(devices: BlockDevice[], options: FsckOptions): Promise<FsckResult> {
  const findings: FsckFinding[] = [];
  // Pass 0: extents and LVM.
  let fs: Vmfs | null = null;
  try {
    fs = await openVolume(devices, options.mode, findings);
    if (!fs) {
      for (const d of devices) await d.close();
      return { exitCode: FSCK_UNCORRECTED, findings, files: 0, directories: 0 };
    }
  } catch (e) {
    for (const d of devices) await d.close();
    if (!(e instanceof VolumeError || e instanceof DeviceError)) throw e;
    findings.push({ pass: 0, code: 'volume', where: '', message: e.message, fixed: false });
    return { exitCode: FSCK_UNCORRECTED, findings, files: 0, directories: 0 };
  }

  let report = await checkFileSystem(fs, options.progress);
  const first = report.findings.map((f) => ({ ...f, fixed: false }));
  findings.push(...first);
  if (options.mode !== 'check' && report.findings.length > 0) {
    for (let round = 0; round < MAX_ROUNDS && report.findings.length > 0; round++) {
      const allowed = report.findings.filter((f) => f.fix && (options.mode === 'yes' || f.safe));
      if (allowed.length === 0) break;
      fs = await repairRound(fs, devices, allowed, options.mode);
      report = await checkFileSystem(fs, options.progress);
    }
    // What the first check found is fixed unless the same problem is still there.
    const left = new Set(report.findings.map((f) => `${f.code}|${f.where}`));
    for (const f of first) f.fixed = !left.has(`${f.code}|${f.where}`);
    for (const f of report.findings) if (!first.some((g) => g.code === f.code && g.where === f.where)) findings.push({ ...f, fixed: false });
  }
  const result = { files: report.files, directories: report.directories };
  await fs.close();
  const unfixed = findings.some((f) => !f.fixed);
  const fixed = findings.some((f) => f.fixed);
  return { exitCode: unfixed ? FSCK_UNCORRECTED : fixed ? FSCK_CORRECTED : FSCK_OK, findings, ...result };
}

/**
 * Opens the logical volume and file system; repairs a truncated extent
 * (re-extends it) when allowed, and stops (null) when it is not.
 */
async function openVolume(devices: BlockDevice[], mode: FsckMode, findings: FsckFinding[]): Promise<Vmfs | null> {
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
  const volume = await LogicalVolume.open(devices, { readOnly: mode === 'check' });
  return Vmfs.open(volume, { readOnly: mode === 'check' });
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
