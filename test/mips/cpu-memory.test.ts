// Loads and stores: widths, sign and zero extension, lwl/lwr/swl/swr at
// every alignment against a byte-by-byte model of little-endian MIPS, the
// unaligned-access idioms, and the load delay slot (Nachos-style under
// mips1; interlocked under mips32).
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { LoadReg, LoadValueReg, PCReg } from '../../src/mips/registers.js';
import * as A from './asm.js';
import { engines, exec, layout } from './cpu-harness.js';

const { t0, t1, t2, t3 } = A;
const DATA = 0x1000;
const bytes = [0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8];
const OLD = 0x11223344;

/** Runs `program` with the test bytes at DATA. */
function run(
  program: number[],
  opts: { jit: boolean; isa?: 'mips1' | 'mips32'; regs?: Record<number, number>; budget?: number },
) {
  const m = exec([], { ...opts, budget: 0 });
  program.forEach((w, i) => (m.mem.i32[i] = w));
  m.mem.bytes.set(bytes, DATA);
  return { ...m, count: m.cpu.run(opts.budget ?? 1000) };
}

const regBytes = (v: number): number[] => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];
const fromBytes = (b: number[]): number => (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) | 0;

/** Reference semantics, byte by byte (little-endian). */
function lwlModel(mem: number[], a: number, old: number): number {
  const k = a & 3, r = regBytes(old);
  for (let i = 0; i <= k; i++) r[3 - k + i] = mem[(a & ~3) + i];
  return fromBytes(r);
}
function lwrModel(mem: number[], a: number, old: number): number {
  const k = a & 3, r = regBytes(old);
  for (let i = k; i < 4; i++) r[i - k] = mem[(a & ~3) + i];
  return fromBytes(r);
}
function swlModel(mem: number[], a: number, v: number): number[] {
  const k = a & 3, r = regBytes(v), out = [...mem];
  for (let i = 0; i <= k; i++) out[(a & ~3) + i] = r[3 - k + i];
  return out;
}
function swrModel(mem: number[], a: number, v: number): number[] {
  const k = a & 3, r = regBytes(v), out = [...mem];
  for (let i = k; i < 4; i++) out[(a & ~3) + i] = r[i - k];
  return out;
}

describe.each(engines)('loads and stores ($name)', ({ jit }) => {
  it('lb/lbu/lh/lhu/lw extend correctly', () => {
    const m = run(
      [A.lb(t0, 0, t1), A.lbu(t2, 0, t1), A.lh(t3, 2, t1), A.lhu(A.t4, 2, t1), A.lw(A.t5, 4, t1), A.lb(A.t6, 1, t1), A.syscall],
      { jit, regs: { [t1]: DATA } },
    );
    expect(m.r[t0]).toBe(-127);
    expect(m.r[t2]).toBe(0x81);
    expect(m.r[t3]).toBe(0xb4a3 - 0x10000);
    expect(m.r[A.t4]).toBe(0xb4a3);
    expect(m.r[A.t5]).toBe(0xf8e7d6c5 | 0);
    expect(m.r[A.t6]).toBe(0x92 - 0x100);
  });

  it('negative offsets address below the base', () => {
    const m = run([A.lbu(t0, -4, t1), A.syscall], { jit, regs: { [t1]: DATA + 4 } });
    expect(m.r[t0]).toBe(0x81);
  });

  it('sb/sh/sw store the low bytes, little-endian', () => {
    const m = run([A.sw(t0, 0, t1), A.sh(t0, 4, t1), A.sb(t0, 7, t1), A.syscall], { jit, regs: { [t0]: 0x0a0b0c0d, [t1]: DATA } });
    expect([...m.mem.bytes.subarray(DATA, DATA + 8)]).toEqual([0x0d, 0x0c, 0x0b, 0x0a, 0x0d, 0x0c, 0xe7, 0x0d]);
  });

  for (const k of [0, 1, 2, 3]) {
    it(`lwl and lwr at alignment ${k}`, () => {
      const m = run([A.lwl(t0, k, t1), A.lwr(t2, k, t1), A.syscall], { jit, regs: { [t0]: OLD, [t2]: OLD, [t1]: DATA } });
      const mem: number[] = [];
      mem[DATA] = 0;
      bytes.forEach((b, i) => (mem[DATA + i] = b));
      expect(m.r[t0]).toBe(lwlModel(mem, DATA + k, OLD));
      expect(m.r[t2]).toBe(lwrModel(mem, DATA + k, OLD));
    });

    it(`swl and swr at alignment ${k}`, () => {
      const mem = new Array(DATA + 8).fill(0);
      bytes.forEach((b, i) => (mem[DATA + i] = b));
      const ml = run([A.swl(t0, k, t1), A.syscall], { jit, regs: { [t0]: OLD, [t1]: DATA } });
      expect([...ml.mem.bytes.subarray(DATA, DATA + 8)]).toEqual(swlModel(mem, DATA + k, OLD).slice(DATA));
      const mr = run([A.swr(t0, k, t1), A.syscall], { jit, regs: { [t0]: OLD, [t1]: DATA } });
      expect([...mr.mem.bytes.subarray(DATA, DATA + 8)]).toEqual(swrModel(mem, DATA + k, OLD).slice(DATA));
    });

    it(`the unaligned idioms lwr+lwl and swr+swl move the 4 bytes at offset ${k} (mips1, back to back)`, () => {
      // lwl right after lwr merges into the value still in flight, as on hardware.
      const m = run([A.lwr(t0, k, t1), A.lwl(t0, k + 3, t1), A.nop, A.swr(t0, 8 + k, t1), A.swl(t0, 8 + k + 3, t1), A.syscall], {
        jit,
        isa: 'mips1',
        regs: { [t1]: DATA },
      });
      expect(m.r[t0]).toBe(fromBytes(bytes.slice(k, k + 4)));
      expect([...m.mem.bytes.subarray(DATA + 8 + k, DATA + 12 + k)]).toEqual(bytes.slice(k, k + 4));
    });
  }

  it('mips1 load delay: the next instruction sees the old value, the one after sees the new', () => {
    const m = run([A.lw(t0, 0, t1), A.addu(t2, t0, 0), A.addu(t3, t0, 0), A.syscall], {
      jit,
      isa: 'mips1',
      regs: { [t0]: 5, [t1]: DATA },
    });
    expect(m.r[t2]).toBe(5);
    expect(m.r[t3]).toBe(0xb4a39281 | 0);
  });

  it('mips32 loads are interlocked: the next instruction sees the new value', () => {
    const m = run([A.lw(t0, 0, t1), A.addu(t2, t0, 0), A.syscall], { jit, regs: { [t0]: 5, [t1]: DATA } });
    expect(m.r[t2]).toBe(0xb4a39281 | 0);
  });

  it('mips1: a write to the loading register in the delay slot is overwritten by the load (as Nachos)', () => {
    const m = run([A.lw(t0, 0, t1), A.addiu(t0, 0, 7), A.syscall], { jit, isa: 'mips1', regs: { [t1]: DATA } });
    expect(m.r[t0]).toBe(0xb4a39281 | 0);
  });

  it('mips1: two loads in a row land one after the other', () => {
    const m = run([A.lbu(t0, 0, t1), A.lbu(t0, 1, t1), A.addu(t2, t0, 0), A.addu(t3, t0, 0), A.syscall], {
      jit,
      isa: 'mips1',
      regs: { [t1]: DATA },
    });
    expect([m.r[t2], m.r[t3]]).toEqual([0x81, 0x92]);
  });

  it('mips1: a load in a taken branch delay slot lands after the first target instruction', () => {
    const prog = layout({
      0: [A.beq(0, 0, 15), A.lbu(t0, 0, t1)],
      0x40: [A.addu(t2, t0, 0), A.addu(t3, t0, 0), A.syscall],
    });
    const m = run(prog, { jit, isa: 'mips1', regs: { [t1]: DATA } });
    expect([m.r[t2], m.r[t3]]).toEqual([0, 0x81]);
  });

  it('mips1: the load in flight survives the end of a run and lands after the next instruction', () => {
    const m = run([A.addiu(t0, 0, 1), A.lbu(t0, 0, t1), A.addu(t2, t0, 0), A.addu(t3, t0, 0), A.syscall], {
      jit,
      isa: 'mips1',
      regs: { [t1]: DATA },
      budget: 2,
    });
    expect(m.count).toBe(2);
    expect([m.r[LoadReg], m.r[LoadValueReg], m.r[t0]]).toEqual([t0, 0x81, 1]);
    expect(m.cpu.run(1)).toBe(1);
    expect([m.r[t2], m.r[t0], m.r[LoadReg]]).toEqual([1, 0x81, 0]);
    expect(m.cpu.run(100)).toBe(2);
    expect(m.r[t3]).toBe(0x81);
  });

  it('mips1: a fault completes the load in flight (Nachos DelayedLoad(0,0))', () => {
    const m = run([A.lbu(t0, 0, t1), A.lw(t2, 1, t1), A.syscall], { jit, isa: 'mips1', regs: { [t1]: DATA } });
    expect(m.cpu.exception).toBe(ExceptionType.AddressError);
    expect(m.r[PCReg]).toBe(4);
    expect(m.r[t0]).toBe(0x81);
    expect(m.r[LoadReg]).toBe(0);
  });

  it('ll/sc behave as lw/sw with sc reporting success (mips32)', () => {
    const m = run([A.ll(t0, 0, t1), A.sc(t2, 8, t1), A.syscall], { jit, regs: { [t1]: DATA, [t2]: 42 } });
    expect(m.r[t0]).toBe(0xb4a39281 | 0);
    expect(m.r[t2]).toBe(1);
    expect(m.mem.i32[(DATA + 8) >> 2]).toBe(42);
  });
});
