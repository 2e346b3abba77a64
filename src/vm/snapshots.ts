// Snapshots of a VM: taking one (the machine's saved state, if it runs, goes
// to NAME-SnapshotN.vmsn; the disk's top layer is frozen and a new delta
// takes the writes), reverting to one (a new delta on the snapshot's frozen
// layer; the abandoned current delta is removed), deleting one (its record
// and state go; its disk layer is consolidated with its only child when the
// chain allows), and reading a snapshot's saved state back.
import { commitDisk, snapshotDisk } from '../vdisk/operations.js';
import { openDisk } from '../vdisk/virtualDisk.js';
import { VmError } from './errors.js';
import { readWhole, writeWhole } from './folderFiles.js';
import type { DiskFolder } from '../vdisk/file.js';
import { diskFolder, loadConfig, loadTree, logLine, saveConfig, saveTree, type Vm } from './vmFiles.js';
import { decodeVmsn, encodeVmsn, MAX_VMSN_BYTES, type SavedState } from './vmsn.js';
import { findSnapshot, MAX_SNAPSHOTS, type SnapshotEntry } from './vmsd.js';

const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+ -]{0,63}$/;

export function checkSnapshotName(name: string): string {
  if (!SNAPSHOT_NAME.test(name)) throw new VmError(`'${name}' is not a snapshot name (letters, digits, space, _ . + -, at most 64)`);
  return name;
}

/**
 * Records a snapshot whose disk layer `frozen` was just frozen (the config
 * already names the new delta): writes its .vmsn, adds it to the tree under
 * the current snapshot and makes it current.
 */
export async function recordSnapshot(vm: Vm, displayName: string, frozen: string, machine: unknown, ticks: number, memMiB: number): Promise<SnapshotEntry> {
  const tree = await loadTree(vm);
  if (tree.snapshots.some((s) => s.displayName === displayName)) throw new VmError(`VM '${vm.name}' already has a snapshot '${displayName}'`);
  if (tree.snapshots.length >= MAX_SNAPSHOTS) throw new VmError(`VM '${vm.name}' has ${MAX_SNAPSHOTS} snapshots, the most it may have`);
  const uid = tree.lastUid + 1;
  const file = `${vm.name}-Snapshot${uid}.vmsn`;
  await writeWhole(vm.folder, file, encodeVmsn({ machine, disk: frozen, ticks, memMiB }));
  const entry: SnapshotEntry = { uid, displayName, parent: tree.current, file, disk: frozen, running: machine !== null, ticks, clones: [] };
  tree.snapshots.push(entry);
  tree.lastUid = uid;
  tree.current = uid;
  await saveTree(vm, tree);
  await logLine(vm, `Snapshot '${displayName}' taken (${machine !== null ? `running, tick ${ticks}` : 'powered off'}); disk ${frozen} frozen`);
  return entry;
}

/** Snapshot of a powered-off VM (the caller holds its lock). */
export async function snapshotPoweredOff(vm: Vm, displayName: string): Promise<SnapshotEntry> {
  checkSnapshotName(displayName);
  const config = await loadConfig(vm);
  if ((await loadTree(vm)).snapshots.some((s) => s.displayName === displayName)) throw new VmError(`VM '${vm.name}' already has a snapshot '${displayName}'`);
  const delta = await snapshotDisk(await diskFolder(vm, config), config.disk);
  const frozen = config.disk;
  await saveConfig(vm, { ...config, disk: delta });
  return recordSnapshot(vm, displayName, frozen, null, 0, config.memMiB);
}

/** The state saved with a snapshot, checked against the VM's memory size. */
export async function loadSnapshotState(vm: Vm, s: SnapshotEntry, memMiB: number): Promise<SavedState> {
  if (!(await vm.folder.exists(s.file))) throw new VmError(`snapshot '${s.displayName}': ${vm.folder.describe(s.file)} is missing`);
  const state = decodeVmsn(await readWhole(vm.folder, s.file, MAX_VMSN_BYTES), vm.folder.describe(s.file));
  if (state.disk !== s.disk) throw new VmError(`${vm.folder.describe(s.file)}: saved for disk ${state.disk}, the snapshot tree says ${s.disk}`);
  if (state.memMiB !== memMiB) throw new VmError(`${vm.folder.describe(s.file)}: saved with ${state.memMiB} MiB of memory, the VM has ${memMiB}`);
  if (s.running !== (state.machine !== null)) throw new VmError(`${vm.folder.describe(s.file)}: the tree and the state disagree on whether the VM was running`);
  return state;
}

/** Goes back to snapshot `name` (the caller holds the lock); returns it. */
export async function revertTo(vm: Vm, name: string): Promise<SnapshotEntry> {
  const config = await loadConfig(vm);
  const tree = await loadTree(vm);
  const s = findSnapshot(tree, name);
  const old = config.disk;
  const disks = await diskFolder(vm, config);
  const delta = await snapshotDisk(disks, s.disk);
  await saveConfig(vm, { ...config, disk: delta });
  tree.current = s.uid;
  await saveTree(vm, tree);
  // The abandoned current layer: nothing else builds on it, unless a snapshot froze it.
  if (old !== delta && !tree.snapshots.some((x) => x.disk === old)) await removeLeafDelta(disks, old);
  await logLine(vm, `Reverted to snapshot '${name}'; disk ${delta} on ${s.disk}`);
  return s;
}

/**
 * Deletes snapshot `name` (the caller holds the lock): its children move to
 * its parent and its .vmsn goes. Its frozen layer is merged with its only
 * child layer when that child is a leaf (the current delta, or the layer a
 * later snapshot froze with nothing on top); otherwise the layer stays as an
 * unnamed part of the chains built on it. Returns whether it consolidated.
 */
export async function deleteSnapshot(vm: Vm, name: string): Promise<boolean> {
  const config = await loadConfig(vm);
  const tree = await loadTree(vm);
  const s = findSnapshot(tree, name);
  if (s.clones.length > 0) throw new VmError(`snapshot '${name}' is the base of the linked clone${s.clones.length > 1 ? 's' : ''} ${s.clones.join(', ')}: its disk layer must stay`);
  const disks = await diskFolder(vm, config);
  for (const c of tree.snapshots) if (c.parent === s.uid) c.parent = s.parent;
  if (tree.current === s.uid) tree.current = s.parent;
  tree.snapshots = tree.snapshots.filter((x) => x !== s);
  // The layers that may build on s.disk: every snapshot's and the current one.
  const layers = [...new Set([config.disk, ...tree.snapshots.map((x) => x.disk)])];
  const parents = new Map<string, string | null>();
  for (const l of layers) parents.set(l, await parentLayer(disks, l));
  const children = layers.filter((l) => parents.get(l) === s.disk);
  const consolidate = children.length === 1 && !layers.some((l) => parents.get(l) === children[0]) && !layers.includes(s.disk);
  if (consolidate) {
    const child = children[0];
    // The record goes first: once the merge starts, the layer no longer holds what the snapshot saw
    // (the child still reads the same, so the current disk and later snapshots stay right throughout).
    await saveTree(vm, tree);
    await commitDisk(disks, child);
    for (const x of tree.snapshots) if (x.disk === child) x.disk = s.disk;
    if (config.disk === child) await saveConfig(vm, { ...config, disk: s.disk });
  }
  await saveTree(vm, tree);
  if (await vm.folder.exists(s.file)) await vm.folder.remove(s.file);
  await logLine(vm, `Snapshot '${name}' deleted${consolidate ? `; disk ${children[0]} merged into ${s.disk}` : ''}`);
  return consolidate;
}

async function parentLayer(disks: DiskFolder, layer: string): Promise<string | null> {
  const d = await openDisk(disks, layer, { write: false });
  try {
    return d.parent?.name ?? null;
  } finally {
    await d.close();
  }
}

async function removeLeafDelta(disks: DiskFolder, layer: string): Promise<void> {
  const d = await openDisk(disks, layer, { write: false });
  const files = d.parent ? d.files : [];
  await d.close();
  for (const f of files) await disks.remove(f);
}
