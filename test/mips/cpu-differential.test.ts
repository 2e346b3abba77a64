// The block compiler against the interpreter: random instruction streams
// (ALU, multiply/divide, loads and stores of every width including
// lwl/lwr/swl/swr, branches of every kind, jumps, traps, syscalls, illegal
// words) run through both engines under random budget slices, with and
// without paging, as mips1 and mips32. After every slice the full register
// file, the exception, the instruction count and the data memory must agree.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { NextPCReg, PCReg, PrevPCReg } from '../../src/mips/registers.js';
import * as A from './asm.js';
import { machine, pageTable, type TestMachine } from './cpu-harness.js';

const PAGE = 4096;
const DATA = 4 * PAGE; // data base (held in s4, never written by the streams)
const BASE = 20;
const dst = fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 31);
const src = fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 31, BASE);
const imm = fc.oneof(fc.integer({ min: -0x8000, max: 0x7fff }), fc.constantFrom(0, 1, -1, 0x7fff, -0x8000));
const sa = fc.integer({ min: 0, max: 31 });
const off = fc.integer({ min: -6, max: 6 });
const memOff = fc.integer({ min: 0, max: 255 });

const alu3 = [A.addu, A.subu, A.and, A.or, A.xor, A.nor, A.slt, A.sltu, A.add, A.sub, A.sllv, A.srlv, A.srav, A.movz, A.movn, A.mul, A.rotrv];
const aluI = [A.addiu, A.addi, A.slti, A.sltiu, A.andi, A.ori, A.xori];
const shifts = [A.sll, A.srl, A.sra, A.rotr];
const loads = [A.lb, A.lbu, A.lh, A.lhu, A.lw, A.lwl, A.lwr];
const stores = [A.sb, A.sh, A.sw, A.swl, A.swr];
const muldiv = [A.mult, A.multu, A.div, A.divu, A.madd, A.maddu, A.msub, A.msubu];
const branch2 = [A.beq, A.bne, A.beql, A.bnel];
const branch1 = [A.blez, A.bgtz, A.bltz, A.bgez, A.bltzal, A.bgezal, A.blezl, A.bgtzl, A.bltzl, A.bgezl, A.bltzall, A.bgezall];
const traps = [A.teq, A.tne, A.tge, A.tgeu, A.tlt, A.tltu];

const pick = <T>(xs: T[]) => fc.constantFrom(...xs);
const instr: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.tuple(pick(alu3), dst, src, src).map(([f, d, s, t]) => f(d, s, t)), weight: 10 },
  { arbitrary: fc.tuple(pick(aluI), dst, src, imm).map(([f, t, s, i]) => f(t, s, i)), weight: 8 },
  { arbitrary: fc.tuple(pick(shifts), dst, src, sa).map(([f, d, t, s]) => f(d, t, s)), weight: 3 },
  { arbitrary: fc.tuple(dst, imm).map(([t, i]) => A.lui(t, i)), weight: 1 },
  { arbitrary: fc.tuple(pick([A.clz, A.clo, A.seb, A.seh, A.wsbh]), dst, src).map(([f, d, s]) => f(d, s)), weight: 2 },
  { arbitrary: fc.tuple(dst, src, fc.integer({ min: 0, max: 31 }), fc.integer({ min: 1, max: 32 })).map(([t, s, p, n]) => A.ext(t, s, p, Math.min(n, 32 - p))), weight: 1 },
  { arbitrary: fc.tuple(dst, src, fc.integer({ min: 0, max: 31 }), fc.integer({ min: 1, max: 32 })).map(([t, s, p, n]) => A.ins(t, s, p, Math.min(n, 32 - p))), weight: 1 },
  { arbitrary: fc.tuple(pick(loads), dst, memOff).map(([f, t, o]) => f(t, o, BASE)), weight: 8 },
  { arbitrary: fc.tuple(pick(stores), src, memOff).map(([f, t, o]) => f(t, o, BASE)), weight: 6 },
  { arbitrary: fc.tuple(pick(loads), dst, src, imm).map(([f, t, s, o]) => f(t, o, s)), weight: 1 },
  { arbitrary: fc.tuple(pick(muldiv), src, src).map(([f, s, t]) => f(s, t)), weight: 3 },
  { arbitrary: fc.tuple(pick([A.mfhi, A.mflo]), dst).map(([f, d]) => f(d)), weight: 3 },
  { arbitrary: fc.tuple(pick([A.mthi, A.mtlo]), src).map(([f, s]) => f(s)), weight: 1 },
  { arbitrary: fc.tuple(pick(branch2), src, src, off).map(([f, s, t, o]) => f(s, t, o)), weight: 5 },
  { arbitrary: fc.tuple(pick(branch1), src, off).map(([f, s, o]) => f(s, o)), weight: 5 },
  { arbitrary: fc.tuple(pick([A.j, A.jal]), fc.integer({ min: 0, max: 63 })).map(([f, w]) => f(w * 4)), weight: 2 },
  { arbitrary: fc.tuple(dst, src).map(([d, s]) => (s === BASE ? A.jr(d) : A.jalr(d, s))), weight: 1 },
  { arbitrary: fc.tuple(pick(traps), src, src).map(([f, s, t]) => f(s, t)), weight: 1 },
  { arbitrary: fc.constantFrom(A.syscall, A.brk(3), 0xfc000000, A.nop), weight: 1 },
);

const scenario = fc.record({
  program: fc.array(instr, { minLength: 8, maxLength: 64 }),
  regs: fc.array(fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.integer({ min: -4, max: 64 })), { minLength: 32, maxLength: 32 }),
  slices: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
  isa: fc.constantFrom('mips1' as const, 'mips32' as const),
  paged: fc.boolean(),
  // Small pages put branches and their delay slots on different pages.
  smallPages: fc.boolean(),
  // Loads and stores address the code itself: self-modifying code must run as in the interpreter.
  selfModifying: fc.boolean(),
});

interface Scenario {
  program: number[];
  regs: number[];
  isa: 'mips1' | 'mips32';
  paged: boolean;
  smallPages?: boolean;
  selfModifying?: boolean;
}

function build(s: Scenario, jit: boolean): TestMachine {
  const small = s.smallPages && !s.paged;
  const m = machine(s.program, { jit, isa: s.isa, memBytes: 16 * PAGE, pageSize: small ? 128 : PAGE });
  s.regs.forEach((v, i) => (m.r[i] = v));
  m.r[0] = 0;
  m.r[BASE] = s.selfModifying ? 64 : DATA + 1024;
  for (let i = 0; i < 1024; i++) m.mem.i32[(DATA >> 2) + i] = Math.imul(i + 1, 0x9e3779b1);
  if (s.paged) {
    // Code page 0 and data pages 4..5 land in other frames (the code's copy moves with it).
    m.mem.i32.copyWithin((9 * PAGE) >> 2, 0, PAGE >> 2);
    m.mem.i32.copyWithin((12 * PAGE) >> 2, DATA >> 2, (DATA + 2 * PAGE) >> 2);
    m.mmu.pageTable = pageTable([9, 1, 2, 3, 12, 13, 6, 7]);
  }
  return m;
}

/** Runs one slice; on an exception, skips the instruction as a kernel would after a syscall. */
function slice(m: TestMachine, budget: number): [number, ExceptionType] {
  const n = m.cpu.run(budget);
  const e = m.cpu.exception;
  if (e !== ExceptionType.None) {
    m.r[PrevPCReg] = m.r[PCReg];
    m.r[PCReg] = m.r[NextPCReg];
    m.r[NextPCReg] += 4;
  }
  return [n, e];
}

describe('block compiler vs interpreter', () => {
  it('agree on random instruction streams, budget slices, paging and ISAs', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const ref = build(s, false);
        const jit = build(s, true);
        for (const budget of s.slices) {
          expect(slice(jit, budget)).toEqual(slice(ref, budget));
          expect(Array.from(jit.r)).toEqual(Array.from(ref.r));
        }
        expect(Buffer.from(jit.mem.bytes).equals(Buffer.from(ref.mem.bytes))).toBe(true);
        expect(jit.mmu.pageTable?.map((e) => [e.use, e.dirty])).toEqual(ref.mmu.pageTable?.map((e) => [e.use, e.dirty]));
      }),
      { numRuns: 400 },
    );
  });

  it('agree on long loops cut into random slices', () => {
    // A counted loop with loads, stores and a multiply, run for many iterations.
    const body = [
      A.addiu(1, 0, 500), // 0: counter
      A.lw(2, 0, BASE), // 4: loop
      A.mult(2, 1),
      A.mflo(3),
      A.addu(4, 4, 3),
      A.sw(4, 4, BASE),
      A.addiu(1, 1, -1),
      A.bgtz(1, -7),
      A.lbu(5, 1, BASE),
      A.syscall,
    ];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 200 }), fc.constantFrom('mips1' as const, 'mips32' as const), (slices, isa) => {
        const s = { program: body, regs: new Array(32).fill(0), isa, paged: true };
        const ref = build(s, false);
        const jit = build(s, true);
        for (const budget of slices) {
          expect(slice(jit, budget)).toEqual(slice(ref, budget));
          expect(Array.from(jit.r)).toEqual(Array.from(ref.r));
        }
      }),
      { numRuns: 100 },
    );
  });
});
