// What users do with disks (vmfs disk ...): info, snapshot, commit, clone and
// convert. Every one works on a DiskFolder, so on the host and in a datastore.
import { formatCid } from './descriptor.js';
import { DiskError } from './errors.js';
import { writeExact, type DiskFolder } from './file.js';
import { RawDisk, RAW_NAME } from './rawDisk.js';
import { SparseDisk } from './sparseDisk.js';
import { createDelta, createDisk, openDisk, vmdkBase, type VirtualDisk } from './virtualDisk.js';

export type Progress = (done: number, total: number) => void;
export type ConvertTarget = 'raw' | 'thin' | 'thick';

/** A disk in a folder. */
export interface DiskRef {
  folder: DiskFolder;
  name: string;
}

export interface LayerInfo {
  name: string;
  /** The path the user knows. */
  path: string;
  /** The descriptor's createType: monolithicSparse, monolithicFlat, vmfs, ... */
  format: string;
  type: 'thin' | 'thick';
  capacity: number;
  /** Bytes this layer's files take. */
  allocated: number;
  cid: string;
  /** null for a base disk. */
  parentCid: string | null;
  files: string[];
}

export interface DiskInfo extends LayerInfo {
  /** This disk, then its parent, down to the base. */
  chain: LayerInfo[];
}

/** Copies move this much at a time. */
const CHUNK = 1 << 20;
/** Zero detection (thin and raw targets skip zeros) works at VMDK grain size. */
const ZERO_BLOCK = 64 * 1024;

export async function diskInfo(folder: DiskFolder, name: string): Promise<DiskInfo> {
  const disk = await openDisk(folder, name, { write: false });
  try {
    const chain: LayerInfo[] = [];
    for (const d of disk.chain) {
      chain.push({
        name: d.name,
        path: d.what,
        format: d.descriptor.createType,
        type: d.kind === 'sparse' ? 'thin' : 'thick',
        capacity: d.capacity,
        allocated: await d.allocatedBytes(),
        cid: formatCid(d.descriptor.cid),
        parentCid: d.descriptor.hasParent ? formatCid(d.descriptor.parentCid) : null,
        files: d.files,
      });
    }
    return { ...chain[0], chain };
  } finally {
    await disk.close();
  }
}

/**
 * Freezes `name` and puts a new delta on top: NAME-000001.vmdk (the next free
 * number), VMware's naming. Returns the new delta's name, which takes the
 * writes from now on; `name` must not be written again.
 */
export async function snapshotDisk(folder: DiskFolder, name: string): Promise<string> {
  const base = vmdkBase(folder, name).replace(/-\d{6}$/, '');
  let deltaName = '';
  for (let n = 1; ; n++) {
    if (n > 999999) throw new DiskError(`${folder.describe(name)}: no free snapshot name left`);
    deltaName = `${base}-${String(n).padStart(6, '0')}.vmdk`;
    if (!(await folder.exists(deltaName))) break;
  }
  const parent = await openDisk(folder, name, { write: false });
  try {
    await (await createDelta(folder, deltaName, parent)).close();
  } finally {
    await parent.close();
  }
  return deltaName;
}

/**
 * Merges the delta `name` into its parent and removes the delta; returns the
 * parent's name, which takes the writes from now on. `name` must be the top
 * of its chain (a disk cannot see its children).
 */
export async function commitDisk(folder: DiskFolder, name: string, onProgress?: Progress): Promise<string> {
  const delta = await openDisk(folder, name, { write: false });
  let parentName: string;
  try {
    if (!(delta instanceof SparseDisk) || !delta.parent) throw new DiskError(`${delta.what}: not a delta disk (it has no parent to commit into)`);
    parentName = delta.parent.name;
    // The parent, opened again for writing; the delta only reads its own grains, never through to it.
    const parent = await openDisk(folder, parentName, { write: true });
    try {
      const grains = delta.extent.grainCount;
      const gb = delta.extent.grainBytes;
      const buf = new Uint8Array(CHUNK);
      let run: { first: number; count: number } | null = null;
      const flushRun = async () => {
        if (!run) return;
        const offset = run.first * gb;
        const length = Math.min(run.count * gb, delta.capacity - offset, parent.capacity - offset);
        if (length > 0) {
          const part = buf.subarray(0, length);
          await delta.read(part, offset);
          await parent.write(part, offset);
        }
        run = null;
      };
      // Zeroed grains read as zeros from the delta, so they are copied like the others.
      for await (const [g] of delta.extent.allocatedGrains()) {
        if (run && run.first + run.count === g && (run.count + 1) * gb <= CHUNK) run.count++;
        else {
          await flushRun();
          run = { first: g, count: 1 };
        }
        onProgress?.(g + 1, grains);
      }
      await flushRun();
      onProgress?.(grains, grains);
      await parent.flush();
    } finally {
      await parent.close();
    }
  } finally {
    await delta.close();
  }
  for (const f of delta.files) await folder.remove(f);
  return parentName;
}

/** A full copy of a disk (same type as its top layer), or a linked clone: a delta on top of `src`, which is frozen from then on. */
export async function cloneDisk(src: DiskRef, dst: DiskRef, options: { linked: boolean }, onProgress?: Progress): Promise<void> {
  if (!options.linked) {
    const top = await openDisk(src.folder, src.name, { write: false });
    const kind = top.kind;
    await top.close();
    return convertDisk(src, dst, kind === 'sparse' ? 'thin' : 'thick', onProgress);
  }
  if (src.folder !== dst.folder) throw new DiskError(`${dst.folder.describe(dst.name)}: a linked clone must be in the same folder as its source`);
  const parent = await openDisk(src.folder, src.name, { write: false });
  try {
    await (await createDelta(dst.folder, dst.name, parent)).close();
  } finally {
    await parent.close();
  }
}

/** Copies what `src` reads (its whole chain) into a new disk or raw image `dst`. A `src` named *.raw or *.img is a raw image. */
export async function convertDisk(src: DiskRef, dst: DiskRef, to: ConvertTarget, onProgress?: Progress): Promise<void> {
  const disk = RAW_NAME.test(src.name) ? await RawDisk.open(src.folder, src.name, { write: false }) : await openDisk(src.folder, src.name, { write: false });
  const created: string[] = [];
  try {
    if (to === 'raw') {
      const file = await dst.folder.create(dst.name);
      created.push(dst.name);
      try {
        await file.truncate(disk.capacity); // reads as zeros where nothing is written
        await copyDisk(disk, (b, at) => writeExact(file, b, at), true, onProgress);
        await file.sync();
      } finally {
        await file.close();
      }
    } else {
      const out = await createDisk(dst.folder, dst.name, { size: disk.capacity, type: to, noZeroing: true });
      created.push(...out.files);
      try {
        await copyDisk(disk, (b, at) => out.write(b, at), to === 'thin', onProgress);
        await out.flush();
      } finally {
        await out.close();
      }
    }
  } catch (e) {
    // A half-made copy is worse than none.
    for (const f of created) await dst.folder.remove(f).catch(() => {});
    throw e;
  } finally {
    await disk.close();
  }
}

/** Copies every byte `src` reads; with skipZeros, zero blocks (and holes) are left unwritten. */
async function copyDisk(src: VirtualDisk, write: (buf: Uint8Array, offset: number) => Promise<void>, skipZeros: boolean, onProgress?: Progress): Promise<void> {
  const buf = new Uint8Array(CHUNK);
  const zeros = new Uint8Array(CHUNK);
  const cap = src.capacity;
  for (let pos = 0; pos < cap; ) {
    const st = await src.blockStatus(pos, Math.min(cap - pos, 64 * CHUNK));
    for (const stop = pos + st.length; pos < stop; ) {
      const n = Math.min(CHUNK, stop - pos);
      const part = buf.subarray(0, n);
      if (st.allocated) await src.read(part, pos);
      else if (skipZeros) {
        pos += n;
        continue;
      } else part.fill(0);
      if (!skipZeros) await write(part, pos);
      else {
        // Write runs of non-zero blocks only.
        for (let i = 0; i < n; ) {
          let j = i;
          while (j < n && !isZero(part, j, Math.min(n, j + ZERO_BLOCK), zeros)) j += ZERO_BLOCK;
          j = Math.min(j, n);
          if (j > i) await write(part.subarray(i, j), pos + i);
          i = j;
          while (i < n && isZero(part, i, Math.min(n, i + ZERO_BLOCK), zeros)) i += ZERO_BLOCK;
        }
      }
      pos += n;
      onProgress?.(pos, cap);
    }
  }
  onProgress?.(cap, cap);
}

function isZero(buf: Uint8Array, from: number, to: number, zeros: Uint8Array): boolean {
  return Buffer.compare(buf.subarray(from, to), zeros.subarray(0, to - from)) === 0;
}
