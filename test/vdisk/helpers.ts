// Shared by the vdisk tests: temporary host folders, qemu-img/qemu-io runs,
// an in-memory DiskFolder that logs every access, and a seeded random source.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskError } from '../../src/vdisk/errors.js';
import type { DiskFolder, RandomAccessFile } from '../../src/vdisk/file.js';
import { HostFolder } from '../../src/vdisk/hostFolder.js';

export const hasQemu = spawnSync('qemu-img', ['--version']).status === 0;

export function tempFolder(): { dir: string; folder: HostFolder; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-test-'));
  return { dir, folder: new HostFolder(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function run(cmd: string, args: string[], cwd?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed; returns its stdout. */
export function must(cmd: string, args: string[], cwd?: string): string {
  const r = run(cmd, args, cwd);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A deterministic pseudo-random source (mulberry32). */
export function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) >>> 0;
  };
}

/** Bytes that differ from every other call's: a counter pattern from `seed`. */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (seed * 131 + i * 7 + (i >> 9)) & 0xff;
  return b;
}

export interface Access {
  op: 'open' | 'create' | 'read' | 'write' | 'truncate' | 'remove' | 'rename';
  name: string;
  position?: number;
  length?: number;
}

/** A DiskFolder in memory; `log` records every access, and reads or writes outside a file's bytes throw. */
export class MemoryFolder implements DiskFolder {
  /** Each file's bytes live in the first `length` bytes of a buffer that grows by doubling. */
  private readonly store = new Map<string, { buf: Buffer; length: number }>();
  readonly log: Access[] = [];

  describe(name: string): string {
    return `mem:/${name}`;
  }

  async exists(name: string): Promise<boolean> {
    return this.store.has(name);
  }

  names(): string[] {
    return [...this.store.keys()].sort();
  }

  /** A file's bytes (a live view: changing it changes the file). */
  bytes(name: string): Buffer {
    const f = this.store.get(name);
    if (!f) throw new Error(`no file ${name}`);
    return f.buf.subarray(0, f.length);
  }

  setBytes(name: string, data: Uint8Array): void {
    this.store.set(name, { buf: Buffer.from(data), length: data.length });
  }

  async create(name: string): Promise<RandomAccessFile> {
    this.log.push({ op: 'create', name });
    if (this.store.has(name)) throw new DiskError(`${this.describe(name)}: already exists`);
    this.store.set(name, { buf: Buffer.alloc(0), length: 0 });
    return this.handle(name, false);
  }

  async open(name: string, mode: 'r' | 'rw'): Promise<RandomAccessFile> {
    this.log.push({ op: 'open', name });
    if (!this.store.has(name)) throw new DiskError(`${this.describe(name)}: No such file or directory`);
    return this.handle(name, mode === 'r');
  }

  async remove(name: string): Promise<void> {
    this.log.push({ op: 'remove', name });
    if (!this.store.delete(name)) throw new DiskError(`${this.describe(name)}: No such file or directory`);
  }

  async rename(from: string, to: string): Promise<void> {
    this.log.push({ op: 'rename', name: from });
    this.store.set(to, this.store.get(from)!);
    this.store.delete(from);
  }

  private handle(name: string, readOnly: boolean): RandomAccessFile {
    const folder = this;
    const file = () => folder.store.get(name)!;
    const resize = (size: number) => {
      const f = file();
      if (size > f.buf.length) {
        const grown = Buffer.alloc(Math.max(size, f.buf.length * 2));
        f.buf.copy(grown, 0, 0, f.length);
        f.buf = grown;
      } else if (size < f.length) f.buf.fill(0, size, f.length);
      f.length = size;
    };
    return {
      async size() {
        return file().length;
      },
      async read(buf, offset, length, position) {
        folder.log.push({ op: 'read', name, position, length });
        if (position < 0 || !Number.isSafeInteger(position)) throw new Error(`bad read position ${position}`);
        const f = file();
        const n = Math.max(0, Math.min(length, f.length - position));
        f.buf.copy(buf, offset, position, position + n);
        return n;
      },
      async write(buf, offset, length, position) {
        folder.log.push({ op: 'write', name, position, length });
        if (readOnly) throw new DiskError(`${name}: opened read-only`);
        if (position < 0 || !Number.isSafeInteger(position) || position + length > 2 ** 32) throw new Error(`bad write position ${position}`);
        if (position + length > file().length) resize(position + length);
        Buffer.from(buf.buffer, buf.byteOffset + offset, length).copy(file().buf, position);
        return length;
      },
      async truncate(size) {
        folder.log.push({ op: 'truncate', name, length: size });
        if (readOnly) throw new DiskError(`${name}: opened read-only`);
        resize(size);
      },
      async sync() {},
      async close() {},
    };
  }
}
