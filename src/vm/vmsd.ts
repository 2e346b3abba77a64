// The .vmsd snapshot tree, in VMware's style: `snapshot.lastUID`,
// `snapshot.current` (the snapshot the running state descends from),
// `snapshot.numSnapshots`, and for each snapshot N `snapshotN.uid`,
// `.displayName`, `.parent` (a uid, absent for a root), `.filename` (its
// .vmsn), `.disk0.fileName` (the disk layer it froze), `.type` (0 powered
// off, 1 running). Parsed strictly: uids unique, parents existing and older
// (so the tree has no cycles), every file name confined to the VM's folder.
import { VmError } from './errors.js';
import { confinedName } from './folderFiles.js';
import { formatKeyValues, parseKeyValues, VM_NAME } from './vmx.js';

export const MAX_SNAPSHOTS = 256;

export interface SnapshotEntry {
  uid: number;
  displayName: string;
  /** uid of the parent snapshot, or null for a root. */
  parent: number | null;
  /** The .vmsn holding its saved state. */
  file: string;
  /** The disk layer frozen by this snapshot. */
  disk: string;
  /** Whether the VM was running (the .vmsn holds a machine) or powered off. */
  running: boolean;
  /** Simulated clock when taken (0 powered off). */
  ticks: number;
  /** Linked clones whose disks build on this snapshot's layer (it cannot be deleted while they exist). */
  clones: string[];
}

export interface SnapshotTree {
  lastUid: number;
  /** The snapshot the current state descends from, or null. */
  current: number | null;
  snapshots: SnapshotEntry[];
}

export const emptyTree = (): SnapshotTree => ({ lastUid: 0, current: null, snapshots: [] });

const uidOf = (v: string | undefined, what: string): number => {
  if (v === undefined || !/^\d{1,9}$/.test(v) || +v === 0) throw new VmError(`${what} must be a snapshot uid (a positive number), got '${v ?? ''}'`);
  return +v;
};

export function parseVmsd(text: string, what: string): SnapshotTree {
  const map = parseKeyValues(text, what);
  const n = Number(map.get('snapshot.numSnapshots') ?? '0');
  if (!Number.isInteger(n) || n < 0 || n > MAX_SNAPSHOTS) throw new VmError(`${what}: snapshot.numSnapshots must be 0 to ${MAX_SNAPSHOTS}`);
  const last = map.get('snapshot.lastUID') ?? '0';
  if (!/^\d{1,9}$/.test(last)) throw new VmError(`${what}: snapshot.lastUID must be a number, got '${last}'`);
  const lastUid = +last;
  const snapshots: SnapshotEntry[] = [];
  const uids = new Set<number>();
  for (let i = 0; i < n; i++) {
    const k = (f: string) => `snapshot${i}.${f}`;
    const need = (f: string) => {
      const v = map.get(k(f));
      if (v === undefined) throw new VmError(`${what}: '${k(f)}' is missing`);
      return v;
    };
    const uid = uidOf(need('uid'), `${what}: ${k('uid')}`);
    if (uid > lastUid) throw new VmError(`${what}: ${k('uid')} ${uid} is above snapshot.lastUID`);
    if (uids.has(uid)) throw new VmError(`${what}: snapshot uid ${uid} appears twice`);
    const parent = map.has(k('parent')) ? uidOf(map.get(k('parent')), `${what}: ${k('parent')}`) : null;
    // Parents are always older: this alone rules out cycles.
    if (parent !== null && (parent >= uid || !uids.has(parent))) throw new VmError(`${what}: ${k('parent')} ${parent} is not an earlier snapshot`);
    const file = confinedName(need('filename'), `${what}: ${k('filename')}`);
    if (!file.endsWith('.vmsn')) throw new VmError(`${what}: ${k('filename')} must name a .vmsn`);
    const disk = confinedName(need('disk0.fileName'), `${what}: ${k('disk0.fileName')}`);
    if (!disk.endsWith('.vmdk')) throw new VmError(`${what}: ${k('disk0.fileName')} must name a .vmdk`);
    const displayName = need('displayName');
    if (displayName === '' || snapshots.some((s) => s.displayName === displayName)) throw new VmError(`${what}: snapshot name '${displayName}' is empty or used twice`);
    const type = map.get(k('type')) ?? '0';
    if (type !== '0' && type !== '1') throw new VmError(`${what}: ${k('type')} must be 0 or 1`);
    const ticks = Number(map.get(k('nachos.ticks')) ?? '0');
    if (!Number.isSafeInteger(ticks) || ticks < 0) throw new VmError(`${what}: ${k('nachos.ticks')} must be a tick count`);
    const clones = (map.get(k('nachos.linkedClones')) ?? '').split(',').filter(Boolean);
    if (clones.some((c) => !VM_NAME.test(c))) throw new VmError(`${what}: ${k('nachos.linkedClones')} must list VM names`);
    uids.add(uid);
    snapshots.push({ uid, displayName, parent, file, disk, running: type === '1', ticks, clones });
  }
  const cur = map.get('snapshot.current');
  const current = cur === undefined ? null : uidOf(cur, `${what}: snapshot.current`);
  if (current !== null && !uids.has(current)) throw new VmError(`${what}: snapshot.current ${current} is not a snapshot`);
  return { lastUid, current, snapshots };
}

export function formatVmsd(t: SnapshotTree): string {
  const map = new Map<string, string>();
  map.set('snapshot.lastUID', String(t.lastUid));
  if (t.current !== null) map.set('snapshot.current', String(t.current));
  map.set('snapshot.numSnapshots', String(t.snapshots.length));
  t.snapshots.forEach((s, i) => {
    const k = (f: string) => `snapshot${i}.${f}`;
    map.set(k('uid'), String(s.uid));
    map.set(k('filename'), s.file);
    if (s.parent !== null) map.set(k('parent'), String(s.parent));
    map.set(k('displayName'), s.displayName);
    map.set(k('type'), s.running ? '1' : '0');
    map.set(k('numDisks'), '1');
    map.set(k('disk0.fileName'), s.disk);
    map.set(k('disk0.node'), 'scsi0:0');
    map.set(k('nachos.ticks'), String(s.ticks));
    if (s.clones.length > 0) map.set(k('nachos.linkedClones'), s.clones.join(','));
  });
  return formatKeyValues(map);
}

/** The snapshot called `name`, or an error listing what exists. */
export function findSnapshot(t: SnapshotTree, name: string): SnapshotEntry {
  const s = t.snapshots.find((x) => x.displayName === name);
  if (!s) throw new VmError(`no snapshot '${name}' (${t.snapshots.length ? 'there are: ' + t.snapshots.map((x) => x.displayName).join(', ') : 'there are none'})`);
  return s;
}

/** The tree drawn as text, one snapshot a line, the current state marked. */
export function drawTree(t: SnapshotTree): string {
  const lines: string[] = [];
  const walk = (parent: number | null, depth: number) => {
    for (const s of t.snapshots.filter((x) => x.parent === parent)) {
      const clones = s.clones.length > 0 ? `; linked clones: ${s.clones.join(', ')}` : '';
      lines.push(`${'  '.repeat(depth)}${s.displayName}  (${s.running ? `running, tick ${s.ticks}` : 'powered off'}; ${s.file}, disk ${s.disk}${clones})`);
      if (t.current === s.uid) lines.push(`${'  '.repeat(depth + 1)}* you are here`);
      walk(s.uid, depth + 1);
    }
  };
  if (t.current === null) lines.push('* you are here');
  walk(null, 0);
  return lines.join('\n');
}
