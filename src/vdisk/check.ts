// vmfs disk check: opens a disk's whole chain (which checks headers, the
// descriptors and the CIDs linking them) and then walks every sparse layer's
// tables for what reading would not notice.
import type { DiskFolder } from './file.js';
import { SparseDisk } from './sparseDisk.js';
import { openDisk } from './virtualDisk.js';

export interface CheckReport {
  /** The layers checked, top first (empty when the disk would not open). */
  layers: string[];
  errors: string[];
  warnings: string[];
}

export async function checkDisk(folder: DiskFolder, name: string): Promise<CheckReport> {
  const report: CheckReport = { layers: [], errors: [], warnings: [] };
  let disk;
  try {
    disk = await openDisk(folder, name, { write: false });
  } catch (e) {
    report.errors.push((e as Error).message);
    return report;
  }
  try {
    for (const layer of disk.chain) {
      report.layers.push(layer.what);
      if (layer.parent && layer.parent.capacity !== layer.capacity) {
        report.warnings.push(`${layer.what}: capacity ${layer.capacity} differs from its parent's ${layer.parent.capacity}`);
      }
      if (layer instanceof SparseDisk) {
        const { errors, warnings } = await layer.extent.consistency();
        report.errors.push(...errors);
        report.warnings.push(...warnings);
      }
    }
  } finally {
    await disk.close();
  }
  return report;
}
