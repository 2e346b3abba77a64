// The disk on the whole machine: guest programs reading and writing
// sectors through DiskRead/DiskWrite, and kernel code on the host (a file
// system on the simulated disk) waiting for sectors with simulated latency,
// over synchronous and asynchronous sector stores.
import { describe, expect, it } from 'vitest';
import { MemorySectorStore, type SectorStore } from '../../src/mips/disk.js';
import type { GuestFileSystem } from '../../src/mips/kernel/guestFs.js';
import type { Kernel } from '../../src/mips/kernel/kernel.js';
import { Machine } from '../../src/mips/machine.js';
import { RotationTime } from '../../src/mips/stats.js';
import { guestFile, runGuest } from './guest.js';

function store(): MemorySectorStore {
  const s = new MemorySectorStore(64, 512);
  s.bytes.set(new TextEncoder().encode('MIPS disk label!'), 0);
  return s;
}

/** The same sectors behind promises that settle on a later host turn, like a virtual disk file. */
function asyncStore(inner: MemorySectorStore): SectorStore {
  const later = (): Promise<void> => new Promise((r) => setImmediate(r));
  return {
    sectorSize: inner.sectorSize,
    numSectors: inner.numSectors,
    readSector: async (n, buf) => {
      await later();
      inner.readSector(n, buf);
    },
    writeSector: async (n, buf) => {
      await later();
      inner.writeSector(n, buf);
    },
  };
}

describe('guest disk calls', () => {
  it.each(['sync', 'async'])('diskio reads, writes and reads back (%s store)', async (kind) => {
    const s = store();
    const { out, result } = await runGuest('diskio', 'nachos-mips1', { disk: kind === 'sync' ? s : asyncStore(s), timer: 'random', seed: 1 });
    expect(out).toBe('sectors 64\nsector size 512\nsector 0: MIPS disk label!\nbad sector -1\ndisk ok\n');
    expect(result.exitStatus).toBe(0);
    expect(result.stats.numDiskReads).toBe(2);
    expect(result.stats.numDiskWrites).toBe(1);
    // While the only thread waited for the disk, the machine was idle.
    expect(result.stats.idleTicks).toBeGreaterThanOrEqual(3 * RotationTime - 3 * 100);
    expect(Array.from(s.bytes.subarray(63 * 512, 63 * 512 + 4))).toEqual([1, 4, 7, 10]);
  });

  it('sync and async stores give the very same run', async () => {
    const a = await runGuest('diskio', 'nachos-mips1', { disk: store() });
    const b = await runGuest('diskio', 'nachos-mips1', { disk: asyncStore(store()) });
    expect(b.out).toBe(a.out);
    expect(b.result).toEqual(a.result);
  });

  it('without a disk the calls answer -1', async () => {
    const { out, result } = await runGuest('diskio', 'nachos-mips1');
    expect(out).toBe('no disk\n');
    expect(result.exitStatus).toBe(1);
  });
});

/** A toy file system on the simulated disk: file "sN" is sector N. Each read costs disk time. */
class SectorFileSystem implements GuestFileSystem {
  kernel!: Kernel;
  reads: number[] = [];
  create(): boolean {
    return false;
  }
  open(name: string): boolean {
    return /^s\d+$/.test(name);
  }
  async read(name: string, offset: number, length: number): Promise<Uint8Array> {
    const sector = await this.kernel.diskIo(Number(name.slice(1)), null);
    this.reads.push(this.kernel.dev.stats.totalTicks);
    return sector.subarray(offset, offset + length);
  }
  write(): number {
    return -1;
  }
  close(): void {}
}

describe('kernel code waiting for the disk', () => {
  it('a file system on the disk serves Exec: the program comes off the sectors', async () => {
    const prog = guestFile('matmult');
    const s = new MemorySectorStore(Math.ceil(prog.length / 512) + 1, 512);
    s.bytes.set(prog, 512);
    // One "file" per sector would be silly for real; here the file is the program, read sector by sector.
    const fs: GuestFileSystem & { kernel?: Kernel; reads: number } = {
      reads: 0,
      create: () => false,
      open: (name) => name === 'matmult',
      read: async (_name, offset, length) => {
        const out = new Uint8Array(Math.max(0, Math.min(length, prog.length - offset)));
        for (let at = 0; at < out.length; ) {
          const sector = await fs.kernel!.diskIo(1 + Math.floor((offset + at) / 512), null);
          const from = (offset + at) % 512;
          const n = Math.min(out.length - at, 512 - from);
          out.set(sector.subarray(from, from + n), at);
          at += n;
          fs.reads++;
        }
        return out;
      },
      write: () => -1,
      close: () => {},
    };
    let out = '';
    const m = new Machine({ fs, disk: asyncStore(s), input: 'run matmult\nexit\n', output: (b) => (out += String.fromCharCode(b)) });
    m.load(guestFile('shell'), 'shell');
    fs.kernel = m.kernel;
    const r = await m.run();
    expect(m.log).toEqual([]);
    expect(out).toBe('--> exit status 7220\n--> ');
    expect(r.exitStatus).toBe(0);
    expect(r.stats.numDiskReads).toBe(fs.reads);
    expect(r.stats.numDiskReads).toBeGreaterThanOrEqual(Math.ceil(prog.length / 512));
    expect(r.stats.idleTicks).toBeGreaterThan(r.stats.numDiskReads * RotationTime - 1);
  });

  it('host-side disk waits are deterministic across runs, whatever the host timing', async () => {
    const run = async (): Promise<{ ticks: number[]; log: readonly string[]; stats: unknown }> => {
      const fs = new SectorFileSystem();
      const m = new Machine({ fs, disk: asyncStore(store()), input: 'run s1\nrun s40\nexit\n', timer: 'random', seed: 4 });
      m.load(guestFile('shell'), 'shell');
      fs.kernel = m.kernel;
      const r = await m.run();
      return { ticks: fs.reads, log: m.log, stats: r.stats };
    };
    const a = await run();
    // Exec reads each "file" twice (its sector, then the end); the sectors hold no program.
    expect(a.ticks).toHaveLength(4);
    expect([...a.ticks].sort((x, y) => x - y)).toEqual(a.ticks);
    expect(a.log).toEqual(['Exec: s1: not a MIPS executable (neither ELF nor Nachos NOFF)', 'Exec: s40: not a MIPS executable (neither ELF nor Nachos NOFF)']);
    expect(await run()).toEqual(a);
  });

});

describe('snapshots with the disk busy', () => {
  it('saved at any point of diskio and restored, the run and the disk end the same', async () => {
    const whole = await runGuest('diskio', 'nachos-mips1', { disk: store() });
    const total = whole.result.stats.totalTicks;
    for (let k = 1; k < 8; k++) {
      const s = store();
      let out = '';
      const first = new Machine({ disk: s, output: (b) => (out += String.fromCharCode(b)) });
      first.load(guestFile('diskio'), 'diskio');
      expect((await first.run({ maxTicks: Math.floor((total * k) / 8) })).reason).toBe('limit');
      const state = structuredClone(first.save());
      const second = new Machine({ disk: s, output: (b) => (out += String.fromCharCode(b)) });
      second.restore(state);
      const end = await second.run();
      expect(out).toBe(whole.out);
      expect(end).toEqual(whole.result);
    }
  });
});
