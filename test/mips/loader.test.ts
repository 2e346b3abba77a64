// The loaders: ELF32 little-endian MIPS executables and Nachos NOFF files,
// and a clear error for everything else.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoaderError, loadProgram } from '../../src/mips/loader/index.js';
import { NoffHeader, NoffMagic } from '../../src/mips/loader/noff.js';
import { Machine } from '../../src/mips/machine.js';
import { guestFile } from './guest.js';

function patched(offset: number, bytes: number[], name = 'matmult'): Uint8Array {
  const f = guestFile(name).slice();
  f.set(bytes, offset);
  return f;
}

describe('ELF', () => {
  it('reads the committed Nachos build: one segment at 0 with its bss, entry 0, mips1', () => {
    const img = loadProgram(guestFile('matmult'), 'matmult');
    expect(img.format).toBe('elf');
    expect(img.entry).toBe(0);
    expect(img.isa).toBe('mips1');
    expect(img.segments).toHaveLength(1);
    const [s] = img.segments;
    expect(s.vaddr).toBe(0);
    // Three 20x20 int matrices live in bss: memory size exceeds file size by at least that.
    expect(s.memSize - s.data.length).toBeGreaterThanOrEqual(3 * 20 * 20 * 4);
    // The first instruction is start.S's "jal main".
    expect((s.data[3] >>> 2)).toBe(0x03);
  });

  it('reads the Linux builds at 0x400000 with the ISA their header gives', () => {
    const img = loadProgram(guestFile('arith', 'linux-mips32'), 'arith');
    expect(img.isa).toBe('mips32');
    expect(img.entry).toBeGreaterThanOrEqual(0x400000);
    expect(img.segments[0].vaddr).toBe(0x400000);
    expect(img.segments[0].writable).toBe(false);
  });

  it.each([
    ['64-bit', patched(4, [2]), 'x: a 64-bit ELF file; the machine runs 32-bit MIPS'],
    ['big-endian', patched(5, [2]), 'x: a big-endian ELF file; the machine is little-endian (build with -EL)'],
    ['another machine', patched(18, [3, 0]), 'x: an ELF file for machine 3, not MIPS'],
    ['relocatable', patched(16, [1, 0]), 'x: a relocatable object, not a static executable (link with -static)'],
    ['shared', patched(16, [3, 0]), 'x: a shared object or PIE, not a static executable (link with -static)'],
    ['mips64 code', patched(36 + 3, [0x60]), 'x: built for mips64; the machine runs mips1 and mips32 code'],
    ['dynamic', patched(0x34, [3, 0, 0, 0]), 'x: dynamically linked; link with -static -nostdlib'],
    ['truncated', guestFile('matmult').slice(0, 300), 'x: segment 0 runs past the end of the file'],
    ['headers cut off', guestFile('matmult').slice(0, 60), 'x: program headers run past the end of the file'],
    ['not ELF at all', new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'x: not a MIPS executable (neither ELF nor Nachos NOFF)'],
    ['empty', new Uint8Array(0), 'x: not a MIPS executable (neither ELF nor Nachos NOFF)'],
  ])('refuses %s with a clear message', (_what, file, message) => {
    expect(() => loadProgram(file, 'x')).toThrow(new LoaderError(message));
  });

  it('never fails with anything but a LoaderError on damaged files', () => {
    const base = guestFile('sort');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(200), fc.nat(255)), { maxLength: 8 }), fc.nat(base.length), (edits, cut) => {
        const f = base.slice(0, Math.max(cut, 1));
        for (const [at, v] of edits) if (at < f.length) f[at] = v;
        try {
          loadProgram(f, 'fuzz');
        } catch (e) {
          expect(e).toBeInstanceOf(LoaderError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('NOFF', () => {
  /** Turns a Nachos-ABI ELF build into NOFF, as Nachos's coff2noff does for COFF. */
  function toNoff(elf: Uint8Array): Uint8Array {
    const [seg] = loadProgram(elf, 'elf').segments;
    const header = NoffHeader.encode({
      magic: NoffMagic,
      codeVirtualAddr: 0,
      codeInFileAddr: NoffHeader.size,
      codeSize: seg.data.length,
      initDataVirtualAddr: 0,
      initDataInFileAddr: 0,
      initDataSize: 0,
      uninitDataVirtualAddr: seg.data.length,
      uninitDataInFileAddr: 0,
      uninitDataSize: seg.memSize - seg.data.length,
    });
    const out = new Uint8Array(header.length + seg.data.length);
    out.set(header);
    out.set(seg.data, header.length);
    return out;
  }

  it('runs matmult from a NOFF file', async () => {
    const noff = toNoff(guestFile('matmult'));
    const img = loadProgram(noff, 'matmult.noff');
    expect(img.format).toBe('noff');
    expect(img.segments.map((s) => [s.vaddr, s.data.length, s.memSize])).toEqual([
      [0, img.segments[0].data.length, img.segments[0].data.length],
      [img.segments[0].data.length, 0, img.segments[1].memSize],
    ]);
    const m = new Machine();
    m.load(noff, 'matmult.noff');
    expect((await m.run()).exitStatus).toBe(7220);
  });

  it('refuses a NOFF file whose segment runs past its end', () => {
    const noff = toNoff(guestFile('halt')).slice(0, 60);
    expect(() => loadProgram(noff, 'h')).toThrow(new LoaderError('h: NOFF code segment runs past the end of the file'));
  });
});
