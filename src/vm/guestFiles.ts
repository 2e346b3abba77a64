// vm disk: the guest file system of a powered-off VM, read and written from
// the host straight through its virtual disk (like mtools on a floppy image).
import { openDisk } from '../vdisk/virtualDisk.js';
import { directIo } from './diskDevices.js';
import { DiskFileSystem } from './diskFileSystem.js';
import { FileVmLock, type VmLock } from './vmLock.js';
import { diskFolder, loadConfig, type Vm } from './vmFiles.js';

/** Runs `fn` on the VM's guest file system; writing takes the VM's lock (not while it runs; default: its lock file). */
export async function withGuestFs<T>(vm: Vm, write: boolean, fn: (fs: DiskFileSystem) => Promise<T>, vmLock?: VmLock): Promise<T> {
  let config = await loadConfig(vm);
  const lock = write ? (vmLock ?? new FileVmLock(vm.folder, vm.name)) : null;
  await lock?.acquire();
  try {
    config = await loadConfig(vm);
    const disk = await openDisk(await diskFolder(vm, config), config.disk, { write });
    try {
      const what = vm.folder.describe(config.disk);
      const r = await fn(await DiskFileSystem.mount(directIo(disk, what), what));
      if (write) await disk.flush();
      return r;
    } finally {
      await disk.close();
    }
  } finally {
    await lock?.release();
  }
}
