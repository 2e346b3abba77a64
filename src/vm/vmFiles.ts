// A VM's folder and the files in it: NAME.vmx, NAME.vmsd, the snapshots'
// NAME-SnapshotN.vmsn, the log (vmware.log) and the console log. Loads and
// saves the config and the snapshot tree, and opens the VM's disk files.
import type { DiskFolder } from '../vdisk/file.js';
import { VmError } from './errors.js';
import { LinkedFolder } from './linkedFolder.js';
import { appendText, readText, rewriteText, writeWhole } from './folderFiles.js';
import { emptyTree, formatVmsd, parseVmsd, type SnapshotTree } from './vmsd.js';
import { formatVmx, MAX_CONFIG_BYTES, parseVmx, VM_NAME, type VmConfig } from './vmx.js';

export const LOG_FILE = 'vmware.log';

/** A VM: its folder and its name (the folder holds NAME.vmx). */
export interface Vm {
  folder: DiskFolder;
  name: string;
  /** The folder of another VM beside this one (linked clones reach their source's disk layers through it). */
  sibling?: (name: string) => Promise<DiskFolder>;
}

/** The folder the VM's disk layers are opened in: its own, or for a linked clone its own plus the source's layers (read-only). */
export async function diskFolder(vm: Vm, config: VmConfig): Promise<DiskFolder> {
  if (config.linkedTo === null) return vm.folder;
  if (!vm.sibling) throw new VmError(`VM '${vm.name}' is a linked clone of '${config.linkedTo}', which cannot be reached from here`);
  return new LinkedFolder(vm.folder, await vm.sibling(config.linkedTo), config.linkedTo);
}

export function checkVmName(name: string): string {
  if (!VM_NAME.test(name)) throw new VmError(`'${name}' is not a VM name (letters, digits, _ . + -, at most 64, no '..')`);
  return name;
}

export const vmxName = (vm: Vm) => `${vm.name}.vmx`;
export const vmsdName = (vm: Vm) => `${vm.name}.vmsd`;

export async function loadConfig(vm: Vm): Promise<VmConfig> {
  if (!(await vm.folder.exists(vmxName(vm)))) throw new VmError(`no VM '${vm.name}' (${vm.folder.describe(vmxName(vm))} does not exist)`);
  return parseVmx(await readText(vm.folder, vmxName(vm), MAX_CONFIG_BYTES), vm.folder.describe(vmxName(vm)));
}

/** Writes the config: a new VM's whole, an existing one's in place (its inode carries the VM's lock). */
export async function saveConfig(vm: Vm, c: VmConfig): Promise<void> {
  if (!(await vm.folder.exists(vmxName(vm)))) return writeWhole(vm.folder, vmxName(vm), formatVmx(c));
  await rewriteText(vm.folder, vmxName(vm), formatVmx(c, await readText(vm.folder, vmxName(vm), MAX_CONFIG_BYTES)));
}

export async function loadTree(vm: Vm): Promise<SnapshotTree> {
  if (!(await vm.folder.exists(vmsdName(vm)))) return emptyTree();
  return parseVmsd(await readText(vm.folder, vmsdName(vm), MAX_CONFIG_BYTES), vm.folder.describe(vmsdName(vm)));
}

export async function saveTree(vm: Vm, t: SnapshotTree): Promise<void> {
  await writeWhole(vm.folder, vmsdName(vm), formatVmsd(t));
}

/** One line in the VM's log, vmware.log style: "TIME| vmx| text". */
export async function logLine(vm: Vm, text: string): Promise<void> {
  await appendText(vm.folder, LOG_FILE, `${new Date().toISOString()}| vmx| ${text}\n`);
}
