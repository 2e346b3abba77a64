// Multiply and divide through HI/LO: mult/multu/div/divu against BigInt
// arithmetic, division by zero (no trap; LO = dividend, HI = 0, as
// qemu-mipsel), INT_MIN / -1, mthi/mtlo, and the MIPS32 madd/msub family.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { HiReg, LoReg } from '../../src/mips/registers.js';
import * as A from './asm.js';
import { engines, exec } from './cpu-harness.js';

const { t1, t2, t3, t4 } = A;
const i32 = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(0, 1, -1, 0x7fffffff, -0x80000000, 0xffff, 0x10000));
const split = (x: bigint): [number, number] => [Number(BigInt.asIntN(32, x)), Number(BigInt.asIntN(32, x >> 32n))];
const u = (x: number): bigint => BigInt(x >>> 0);
const s = (x: number): bigint => BigInt(x | 0);

describe.each(engines)('multiply and divide ($name)', ({ jit }) => {
  const run = (instrs: number[], a: number, b: number, hi = 0, lo = 0) =>
    exec([A.mthi(t3), A.mtlo(t4), ...instrs, A.mfhi(A.s0), A.mflo(A.s1), A.syscall], {
      jit,
      regs: { [t1]: a, [t2]: b, [t3]: hi, [t4]: lo },
    });

  it('mult and multu give the 64-bit product in HI:LO', () => {
    fc.assert(
      fc.property(i32, i32, (a, b) => {
        const m1 = run([A.mult(t1, t2)], a, b);
        expect([m1.r[A.s1], m1.r[A.s0]]).toEqual(split(s(a) * s(b)));
        const m2 = run([A.multu(t1, t2)], a, b);
        expect([m2.r[A.s1], m2.r[A.s0]]).toEqual(split(u(a) * u(b)));
      }),
      { numRuns: 300 },
    );
  });

  it('div and divu truncate toward zero, remainder takes the dividend sign', () => {
    fc.assert(
      fc.property(i32, i32.filter((b) => b !== 0), (a, b) => {
        fc.pre(!(a === -0x80000000 && b === -1));
        const m1 = run([A.div(t1, t2)], a, b);
        expect([m1.r[A.s1], m1.r[A.s0]]).toEqual([Number(BigInt.asIntN(32, s(a) / s(b))), Number(s(a) % s(b))]);
        const m2 = run([A.divu(t1, t2)], a, b);
        expect([m2.r[A.s1], m2.r[A.s0]]).toEqual([Number(BigInt.asIntN(32, u(a) / u(b))), Number(BigInt.asIntN(32, u(a) % u(b)))]);
      }),
      { numRuns: 300 },
    );
  });

  it('a few fixed products and quotients', () => {
    let m = run([A.mult(t1, t2)], -0x80000000, -0x80000000);
    expect([m.r[A.s0], m.r[A.s1]]).toEqual([0x40000000, 0]);
    m = run([A.multu(t1, t2)], -1, -1);
    expect([m.r[A.s0], m.r[A.s1]]).toEqual([-2, 1]);
    m = run([A.div(t1, t2)], -7, 2);
    expect([m.r[A.s1], m.r[A.s0]]).toEqual([-3, -1]);
    m = run([A.divu(t1, t2)], -7, 2);
    expect([m.r[A.s1], m.r[A.s0]]).toEqual([0x7ffffffc, 1]);
  });

  it.each([
    ['div', A.div(t1, t2), 7],
    ['div negative', A.div(t1, t2), -7],
    ['divu', A.divu(t1, t2), -7],
  ])('%s by zero does not trap: LO = dividend, HI = 0', (_n, instr, a) => {
    const m = run([instr], a, 0, 123, 456);
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
    expect([m.r[A.s1], m.r[A.s0]]).toEqual([a, 0]);
  });

  it('div INT_MIN / -1 gives LO = INT_MIN, HI = 0', () => {
    const m = run([A.div(t1, t2)], -0x80000000, -1);
    expect([m.r[A.s1], m.r[A.s0]]).toEqual([-0x80000000, 0]);
  });

  it('mthi/mtlo set HI and LO; mfhi/mflo read them', () => {
    const m = run([], 0, 0, -5, 9);
    expect([m.r[A.s0], m.r[A.s1], m.r[HiReg], m.r[LoReg]]).toEqual([-5, 9, -5, 9]);
  });

  it('madd/maddu/msub/msubu accumulate the 64-bit product into HI:LO', () => {
    fc.assert(
      fc.property(i32, i32, i32, i32, (a, b, hi, lo) => {
        const acc = (BigInt(hi) << 32n) | u(lo);
        const cases: [number, bigint][] = [
          [A.madd(t1, t2), acc + s(a) * s(b)],
          [A.maddu(t1, t2), acc + u(a) * u(b)],
          [A.msub(t1, t2), acc - s(a) * s(b)],
          [A.msubu(t1, t2), acc - u(a) * u(b)],
        ];
        for (const [instr, want] of cases) {
          const m = run([instr], a, b, hi, lo);
          expect([m.r[A.s1], m.r[A.s0]]).toEqual(split(want));
        }
      }),
      { numRuns: 200 },
    );
  });
});
