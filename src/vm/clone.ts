// vm clone: a full clone copies the disk (as the source's current state or
// as a snapshot froze it) into the new VM's folder, with the same settings.
// A linked clone's disk is a delta on the layer a snapshot of the source
// froze; the clone's folder must be beside the source's, and reaches that
// layer (read-only) through a LinkedFolder. The source's snapshot records
// the clone so that it is not deleted from under it.
import { convertDisk } from '../vdisk/operations.js';
import { createDelta, openDisk } from '../vdisk/virtualDisk.js';
import { VmError } from './errors.js';
import { isLayerOf } from './linkedFolder.js';
import { checkVmName, diskFolder, loadConfig, loadTree, logLine, saveConfig, saveTree, vmxName, type Vm } from './vmFiles.js';
import { emptyTree, findSnapshot } from './vmsd.js';

export async function cloneVm(src: Vm, dst: Vm, opts: { snapshot?: string; linked?: boolean } = {}): Promise<void> {
  checkVmName(dst.name);
  const config = await loadConfig(src);
  if (await dst.folder.exists(vmxName(dst))) throw new VmError(`VM '${dst.name}' already exists (${dst.folder.describe(vmxName(dst))})`);
  const srcDisks = await diskFolder(src, config);
  const disk = `${dst.name}.vmdk`;
  if (!opts.linked) {
    const from = opts.snapshot !== undefined ? findSnapshot(await loadTree(src), opts.snapshot).disk : config.disk;
    const top = await openDisk(srcDisks, from, { write: false });
    const type = top.kind === 'sparse' ? 'thin' : 'thick';
    await top.close();
    await convertDisk({ folder: srcDisks, name: from }, { folder: dst.folder, name: disk }, type);
    await saveConfig(dst, { ...config, displayName: dst.name, disk, linkedTo: null });
    await saveTree(dst, emptyTree());
    await logLine(dst, `Cloned from ${src.name}${opts.snapshot !== undefined ? ` at snapshot '${opts.snapshot}'` : ''} (full clone of ${from})`);
    return;
  }
  if (opts.snapshot === undefined) throw new VmError('a linked clone builds on a snapshot of the source (--snapshot SNAP)');
  if (config.linkedTo !== null) throw new VmError(`'${src.name}' is itself a linked clone; make a full clone of it first`);
  if (src.name === dst.name || isLayerOf(src.name, disk)) throw new VmError(`a linked clone of '${src.name}' cannot be called '${dst.name}' (its disk names would mix with the source's)`);
  const beside = dst.sibling ? await dst.sibling(src.name) : null;
  if (!beside || beside.describe(vmxName(src)) !== src.folder.describe(vmxName(src))) throw new VmError(`a linked clone must be in a folder beside its source '${src.name}'`);
  const tree = await loadTree(src);
  const snap = findSnapshot(tree, opts.snapshot);
  const dstConfig = { ...config, displayName: dst.name, disk, linkedTo: src.name };
  const dstDisks = await diskFolder(dst, dstConfig);
  const parent = await openDisk(dstDisks, snap.disk, { write: false });
  try {
    await (await createDelta(dstDisks, disk, parent)).close();
  } finally {
    await parent.close();
  }
  snap.clones.push(dst.name);
  await saveTree(src, tree);
  await saveConfig(dst, dstConfig);
  await saveTree(dst, emptyTree());
  await logLine(dst, `Linked clone of ${src.name} at snapshot '${opts.snapshot}' (disk ${disk} on ${snap.disk})`);
  await logLine(src, `Linked clone ${dst.name} made from snapshot '${opts.snapshot}'`);
}
