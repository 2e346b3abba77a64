// vm create: a new VM in a folder: NAME.vmx, a thin NAME.vmdk holding a
// fresh guest file system with the given programs, an empty NAME.vmsd. The
// sample VMs are made from the committed guest programs in fixtures/guest.
import { readFileSync } from 'node:fs';
import { createDisk } from '../vdisk/virtualDisk.js';
import { directIo, MAX_DISK_BYTES, MIN_DISK_BYTES } from './diskDevices.js';
import { DiskFileSystem, formatFileSystem } from './diskFileSystem.js';
import { VmError } from './errors.js';
import { checkVmName, logLine, saveConfig, saveTree, vmxName, type Vm } from './vmFiles.js';
import { emptyTree } from './vmsd.js';
import { MAX_MEM_MIB, MIN_MEM_MIB } from './vmx.js';

export interface CreateVmOptions {
  memMiB: number;
  diskBytes: number;
  /** Files put on the guest file system. */
  files: { name: string; data: Uint8Array }[];
  /** The program the firmware boots (default: the first file). */
  init?: string;
  timer?: 'periodic' | 'random';
  seed?: number;
}

export async function createVm(vm: Vm, o: CreateVmOptions): Promise<void> {
  checkVmName(vm.name);
  if (!Number.isInteger(o.memMiB) || o.memMiB < MIN_MEM_MIB || o.memMiB > MAX_MEM_MIB) throw new VmError(`memory must be ${MIN_MEM_MIB} to ${MAX_MEM_MIB} MiB (got ${o.memMiB} MiB)`);
  if (o.diskBytes < MIN_DISK_BYTES || o.diskBytes > MAX_DISK_BYTES || o.diskBytes % 512 !== 0) throw new VmError(`the disk must be ${MIN_DISK_BYTES >> 10} KiB to ${MAX_DISK_BYTES / 2 ** 30} GiB, in whole sectors (got ${o.diskBytes} bytes)`);
  const init = o.init ?? o.files[0]?.name;
  if (!init) throw new VmError('a VM needs a program to boot (--add PROG, or --init NAME)');
  if (!o.files.some((f) => f.name === init)) throw new VmError(`the init program '${init}' is not among the files put on the disk`);
  if (await vm.folder.exists(vmxName(vm))) throw new VmError(`VM '${vm.name}' already exists (${vm.folder.describe(vmxName(vm))})`);
  const diskName = `${vm.name}.vmdk`;
  const disk = await createDisk(vm.folder, diskName, { size: o.diskBytes, type: 'thin' });
  try {
    const io = directIo(disk, vm.folder.describe(diskName));
    await formatFileSystem(io);
    const fs = await DiskFileSystem.mount(io, vm.folder.describe(diskName));
    for (const f of o.files) await fs.writeFile(f.name, f.data);
    await disk.flush();
  } finally {
    await disk.close();
  }
  await saveConfig(vm, { displayName: vm.name, memMiB: o.memMiB, guestOS: 'nachos-mips', disk: diskName, init, consoleLog: 'console.log', timer: o.timer ?? 'periodic', seed: o.seed ?? 0, linkedTo: null });
  await saveTree(vm, emptyTree());
  await logLine(vm, `Created ${vm.name}: ${o.memMiB} MiB, disk ${diskName} (${o.diskBytes} bytes), files ${o.files.map((f) => f.name).join(', ')}`);
}

/** The sample VMs: which guest programs go on the disk, and which one boots. */
export const SAMPLES: Record<string, { init: string; programs: string[]; about: string }> = {
  shell: { init: 'shell', programs: ['shell', 'matmult', 'sort', 'files', 'fork', 'exec'], about: 'the echo shell; "run PROG" runs a program from the disk' },
  matmult: { init: 'matmult', programs: ['matmult'], about: 'matrix multiplication; exits 7220 (52 mod 256)' },
  sort: { init: 'sort', programs: ['sort'], about: 'bubble-sorts 1024 numbers; exits with a checksum' },
  multiprog: { init: 'exec', programs: ['exec', 'matmult', 'sort'], about: 'Execs matmult and sort at once and Joins both' },
  files: { init: 'files', programs: ['files'], about: 'Creates, writes and reads back a file on the guest file system' },
};

const GUEST_BIN = new URL('../../fixtures/guest/bin/nachos-mips1/', import.meta.url);

export function sampleFiles(sample: string): CreateVmOptions['files'] {
  const s = SAMPLES[sample];
  if (!s) throw new VmError(`no sample VM '${sample}' (there are: ${Object.keys(SAMPLES).join(', ')})`);
  return s.programs.map((name) => ({ name, data: readFileSync(new URL(name, GUEST_BIN)) }));
}

export async function createSample(vm: Vm, sample: string, o: Partial<CreateVmOptions> = {}): Promise<void> {
  const files = sampleFiles(sample);
  await createVm(vm, { memMiB: 16, diskBytes: 4 << 20, ...o, files, init: SAMPLES[sample].init });
}
