// Whole-file helpers over a VM's folder (a vdisk DiskFolder): read a small
// file, replace one atomically (write a temporary name, rename over) or in
// place (the .vmx, whose inode carries the VM's lock), append to the log.
// Every name goes through the folder, which confines it.
import { type DiskFolder, readExact, writeExact } from '../vdisk/file.js';
import { VmError } from './errors.js';

/** Reads a whole file of at most `limit` bytes. */
export async function readWhole(folder: DiskFolder, name: string, limit: number): Promise<Uint8Array> {
  const f = await folder.open(name, 'r');
  try {
    const size = await f.size();
    if (size > limit) throw new VmError(`${folder.describe(name)}: ${size} bytes, more than the ${limit} allowed`);
    const buf = new Uint8Array(size);
    await readExact(f, buf, 0, folder.describe(name));
    return buf;
  } finally {
    await f.close();
  }
}

export async function readText(folder: DiskFolder, name: string, limit = 1 << 20): Promise<string> {
  return new TextDecoder().decode(await readWhole(folder, name, limit));
}

/** Replaces `name` with `data`: written under a temporary name first, so a crash leaves the old file or the new one. */
export async function writeWhole(folder: DiskFolder, name: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const tmp = `${name}.tmp`;
  if (await folder.exists(tmp)) await folder.remove(tmp);
  const f = await folder.create(tmp);
  try {
    await writeExact(f, bytes, 0);
    await f.sync();
  } finally {
    await f.close();
  }
  await folder.rename(tmp, name);
}

/**
 * Rewrites `name` in place, keeping its inode (and the lock on it): text
 * shorter than the file is padded with newlines, so the size stays and a
 * small file changes in one sector write.
 */
export async function rewriteText(folder: DiskFolder, name: string, text: string): Promise<void> {
  const f = await folder.open(name, 'rw');
  try {
    const bytes = new TextEncoder().encode(text);
    const size = await f.size();
    const padded = new Uint8Array(Math.max(size, bytes.length)).fill(0x0a);
    padded.set(bytes);
    await writeExact(f, padded, 0);
    await f.sync();
  } finally {
    await f.close();
  }
}

/** Appends to `name`, creating it if needed (the VM's log). */
export async function appendText(folder: DiskFolder, name: string, text: string): Promise<void> {
  const f = (await folder.exists(name)) ? await folder.open(name, 'rw') : await folder.create(name);
  try {
    await writeExact(f, new TextEncoder().encode(text), await f.size());
  } finally {
    await f.close();
  }
}

/** A file name the VM's config may use: a plain name inside the VM's folder. */
export function confinedName(value: string, what: string): string {
  if (value === '' || value === '.' || value === '..' || value.includes('/') || value.includes('\\') || value.includes('\0') || /^[A-Za-z]:/.test(value)) {
    throw new VmError(`${what}: '${value}' is not a file name inside the VM's folder (no paths, no '..')`);
  }
  if (value.length > 200 || /[\x00-\x1f]/.test(value)) throw new VmError(`${what}: '${value.slice(0, 40)}' is not an acceptable file name`);
  return value;
}
