// run(budget) executes exactly `budget` instructions (unless an exception
// stops it first), also when the budget ends inside a compiled block or a
// compiled self-loop, and leaves the same state as single-stepping.
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { PCReg } from '../../src/mips/registers.js';
import * as A from './asm.js';
import { engines, machine } from './cpu-harness.js';

const { t0, t1, t2 } = A;
// 3 + 50 * 5 + 1 instructions, then a syscall.
const program = [
  A.addiu(t0, 0, 50),
  A.addiu(t1, 0, 0),
  A.addiu(t2, 0, 0x800),
  A.addiu(t1, t1, 7), // loop at 0xc
  A.sw(t1, 0, t2),
  A.addiu(t2, t2, 4),
  A.addiu(t0, t0, -1),
  A.bgtz(t0, -5),
  A.nop,
  A.syscall,
];
const total = 3 + 50 * 6 + 1;

describe.each(engines)('budgets ($name)', ({ jit }) => {
  it('run(b) executes exactly b instructions and matches single-stepping', () => {
    for (let b = 1; b < total; b += 1) {
      const m = machine(program, { jit });
      const stepped = machine(program, { jit: false });
      expect(m.cpu.run(b)).toBe(b);
      expect(m.cpu.exception).toBe(ExceptionType.None);
      for (let i = 0; i < b; i++) expect(stepped.cpu.run(1)).toBe(1);
      expect(Array.from(m.r)).toEqual(Array.from(stepped.r));
      expect(Buffer.from(m.mem.bytes).equals(Buffer.from(stepped.mem.bytes))).toBe(true);
    }
  });

  it('the sum of slices is the whole program, whatever the slicing', () => {
    for (const size of [1, 2, 3, 5, 6, 7, 13, 64]) {
      const m = machine(program, { jit });
      let done = 0;
      while (m.cpu.exception === ExceptionType.None) done += m.cpu.run(size);
      expect(done).toBe(total);
      expect(m.cpu.exception).toBe(ExceptionType.Syscall);
      expect(m.r[t1]).toBe(350);
      expect(m.r[PCReg]).toBe(9 * 4);
    }
  });

  it('an exception ends the run early and counts the faulting instruction', () => {
    const m = machine(program, { jit });
    expect(m.cpu.run(1_000_000)).toBe(total);
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
  });

  it('budgets below 1 execute nothing; fractional budgets round down', () => {
    const m = machine(program, { jit });
    expect(m.cpu.run(0)).toBe(0);
    expect(m.cpu.run(-3)).toBe(0);
    expect(m.cpu.run(Number.NaN)).toBe(0);
    expect(m.r[PCReg]).toBe(0);
    expect(m.cpu.run(2.9)).toBe(2);
    expect(m.r[PCReg]).toBe(8);
  });
});
