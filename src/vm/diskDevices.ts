// The VM's disk seen three ways: as the sectors of the machine's simulated
// disk (a SectorStore over the virtual disk, whose layer can be switched when
// a snapshot freezes it), as the guest file system's SectorIo through that
// simulated disk (kernel.diskIo: Nachos disk timing), and as a SectorIo
// straight on the virtual disk (the host's put/get, the firmware).
import type { SectorStore } from '../mips/disk.js';
import type { Kernel } from '../mips/kernel/kernel.js';
import type { VirtualDisk } from '../vdisk/virtualDisk.js';
import { FS_SECTOR, type SectorIo } from './diskFileSystem.js';
import { VmError } from './errors.js';

/** Largest disk a VM may have (the simulated disk numbers its sectors in 32 bits; kept small on purpose). */
export const MAX_DISK_BYTES = 4 * 2 ** 30;
export const MIN_DISK_BYTES = 64 << 10;

export function sectorsOf(disk: VirtualDisk, what: string): number {
  if (disk.capacity < MIN_DISK_BYTES || disk.capacity > MAX_DISK_BYTES) throw new VmError(`${what}: a VM disk must be ${MIN_DISK_BYTES >> 10} KiB to ${MAX_DISK_BYTES / 2 ** 30} GiB (this one is ${disk.capacity} bytes)`);
  return Math.floor(disk.capacity / FS_SECTOR);
}

/** The simulated disk's sectors, kept in the virtual disk's current top layer. */
export class VirtualDiskStore implements SectorStore {
  readonly sectorSize = FS_SECTOR;
  readonly numSectors: number;

  constructor(
    public disk: VirtualDisk,
    what: string,
  ) {
    this.numSectors = sectorsOf(disk, what);
  }

  async readSector(sector: number, buf: Uint8Array): Promise<void> {
    await this.disk.read(buf.subarray(0, FS_SECTOR), sector * FS_SECTOR);
  }

  async writeSector(sector: number, buf: Uint8Array): Promise<void> {
    await this.disk.write(buf.subarray(0, FS_SECTOR), sector * FS_SECTOR);
  }
}

/** Sectors straight from a virtual disk (no simulated time). */
export function directIo(disk: VirtualDisk, what: string): SectorIo {
  return {
    sectorSize: FS_SECTOR,
    numSectors: sectorsOf(disk, what),
    async read(sector) {
      const buf = new Uint8Array(FS_SECTOR);
      await disk.read(buf, sector * FS_SECTOR);
      return buf;
    },
    async write(sector, data) {
      await disk.write(data, sector * FS_SECTOR);
    },
  };
}

/** Sectors through the machine's simulated disk device; the kernel is known only once the machine boots. */
export function deviceIo(numSectors: number, kernel: () => Kernel): SectorIo {
  return {
    sectorSize: FS_SECTOR,
    numSectors,
    read: (sector) => kernel().diskIo(sector, null),
    write: async (sector, data) => {
      await kernel().diskIo(sector, data);
    },
  };
}
