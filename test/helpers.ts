// Shared test helpers: temporary folders, in-memory and file-backed datastores, the CLI.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { mkfs, MkfsOptions } from '../src/fs/mkfs.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { checkFileSystem } from '../src/fs/check.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';

export const MiB = 2 ** 20;
export const ROOT_DIR = join(import.meta.dirname, '..');

export function tempDir(prefix = 'vmfs-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(process.env.VMFS_TEST_TMP ?? tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A fresh file system on in-memory extents of `segments[i]` segments each. */
export async function memoryFs(segments: number[] = [1], options: MkfsOptions = {}): Promise<{ fs: Vmfs; devices: MemoryDevice[] }> {
  const devices = segments.map((n, i) => new MemoryDevice(`mem${i}`, deviceSizeFor(n)));
  const fs = await mkfs(devices, options);
  return { fs, devices };
}

export async function expectClean(fs: Vmfs): Promise<void> {
  const report = await checkFileSystem(fs);
  if (report.findings.length > 0) throw new Error(`check found problems:\n${report.findings.map((f) => `${f.code} ${f.where}: ${f.message}`).join('\n')}`);
}

export function runVmfs(args: string[], options: { input?: string | Buffer; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [join(ROOT_DIR, 'bin', 'vmfs'), ...args], { input: options.input, cwd: options.cwd, encoding: 'buffer', maxBuffer: 1 << 30 });
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString(), raw: r.stdout };
}

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** A deterministic byte pattern, different for each seed (64 KiB of xorshift, tiled with a tile counter). */
export function pattern(length: number, seed: number): Buffer {
  const tile = Buffer.allocUnsafe(65536);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < tile.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    tile[i] = x & 0xff;
  }
  const b = Buffer.allocUnsafe(length);
  for (let at = 0, n = 0; at < length; at += tile.length, n++) {
    tile.writeUInt32LE(n, 0);
    tile.copy(b, at, 0, Math.min(tile.length, length - at));
  }
  return b;
}

export async function readAll(fs: Vmfs, path: string): Promise<Buffer> {
  const id = await fs.resolve(null, path);
  const st = await fs.statId(id);
  const buf = Buffer.alloc(st.size);
  let pos = 0;
  while (pos < st.size) {
    const n = await fs.read(id, buf.subarray(pos, Math.min(st.size, pos + 64 * MiB)), pos);
    if (n === 0) break;
    pos += n;
  }
  return buf;
}

/** Debian's fsck.vmfs on `extents`: its five counters (Unallocated blocks ... Directory errors), by name; all five must be there. */
export function vmfsToolsCounters(extents: string[]): Record<string, number> {
  const r = spawnSync('fsck.vmfs', extents, { encoding: 'utf8' });
  const counters: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^(Unallocated blocks|Lost blocks|Undefined inodes|Orphaned inodes|Directory errors)\s*:\s*(\d+)/gm)) counters[m[1]] = Number(m[2]);
  expect(Object.keys(counters).length, r.stdout + r.stderr).toBe(5);
  return counters;
}

/** fsck.vmfs finds nothing wrong. */
export function expectVmfsToolsClean(extents: string[]): void {
  expect(vmfsToolsCounters(extents)).toEqual({ 'Unallocated blocks': 0, 'Lost blocks': 0, 'Undefined inodes': 0, 'Orphaned inodes': 0, 'Directory errors': 0 });
}
