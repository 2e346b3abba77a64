// Instruction semantics against qemu-mipsel: random straight-line streams
// (every ALU, shift, MIPS32 bit operation, multiply/divide including by
// zero, loads and stores of every width and alignment including
// lwl/lwr/swl/swr, forward branches of every kind with their delay slots)
// are wrapped in a tiny Linux ELF that loads registers from a table, runs
// the stream, and writes all registers, HI, LO and the data area to stdout.
// Our CPU (both engines) must print the same bytes. Skipped only where
// qemu-mipsel is not installed (CI installs it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Cpu } from '../../src/mips/cpu.js';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { PhysicalMemory } from '../../src/mips/memory.js';
import { Mmu } from '../../src/mips/mmu.js';
import { NextPCReg, PCReg, PrevPCReg } from '../../src/mips/registers.js';
import * as A from './asm.js';

const haveQemu = spawnSync('qemu-mipsel', ['-version']).status === 0;
const BASE = 0x400000;
const CODE = 0x100; // file offset and BASE offset of the code
const DATA = 0x8000; // 256 bytes of data, in s4
const TABLE = 0x8100; // initial registers, then the dump, in s5
const DUMP = 0x8200;
const FILE_SIZE = 0x8400;
const S4 = 20, S5 = 21;

const dst = fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 31);
const src = fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 31, S4);
const pick = <T>(xs: T[]) => fc.constantFrom(...xs);
const imm = fc.integer({ min: -0x8000, max: 0x7fff });
const aligned = (k: number) => fc.integer({ min: 0, max: Math.floor(255 / k) }).map((x) => x * k);

const straight: fc.Arbitrary<number> = fc.oneof(
  fc.tuple(pick([A.addu, A.subu, A.and, A.or, A.xor, A.nor, A.slt, A.sltu, A.sllv, A.srlv, A.srav, A.rotrv, A.movz, A.movn, A.mul]), dst, src, src).map(([f, d, s, t]) => f(d, s, t)),
  fc.tuple(pick([A.addiu, A.slti, A.sltiu, A.andi, A.ori, A.xori]), dst, src, imm).map(([f, t, s, i]) => f(t, s, i)),
  fc.tuple(pick([A.sll, A.srl, A.sra, A.rotr]), dst, src, fc.integer({ min: 0, max: 31 })).map(([f, d, t, a]) => f(d, t, a)),
  fc.tuple(dst, imm).map(([t, i]) => A.lui(t, i)),
  fc.tuple(pick([A.clz, A.clo, A.seb, A.seh, A.wsbh]), dst, src).map(([f, d, s]) => f(d, s)),
  fc.tuple(dst, src, fc.integer({ min: 0, max: 31 }), fc.integer({ min: 1, max: 32 })).map(([t, s, p, n]) => A.ext(t, s, p, Math.min(n, 32 - p))),
  fc.tuple(dst, src, fc.integer({ min: 0, max: 31 }), fc.integer({ min: 1, max: 32 })).map(([t, s, p, n]) => A.ins(t, s, p, Math.min(n, 32 - p))),
  // Divisors are often $zero, to compare division by zero.
  fc.tuple(pick([A.mult, A.multu, A.div, A.divu, A.madd, A.maddu, A.msub, A.msubu]), src, fc.oneof(src, fc.constant(0))).map(([f, s, t]) => f(s, t)),
  fc.tuple(pick([A.mfhi, A.mflo]), dst).map(([f, d]) => f(d)),
  fc.tuple(pick([A.mthi, A.mtlo]), src).map(([f, s]) => f(s)),
  fc.tuple(pick([A.lw, A.sw]), fc.oneof(dst, src), aligned(4)).map(([f, t, o]) => f(t, Math.min(o, 252), S4)),
  fc.tuple(pick([A.lh, A.lhu, A.sh]), fc.oneof(dst, src), aligned(2)).map(([f, t, o]) => f(t, Math.min(o, 254), S4)),
  fc.tuple(pick([A.lb, A.lbu, A.sb]), fc.oneof(dst, src), aligned(1)).map(([f, t, o]) => f(t, o, S4)),
  fc.tuple(pick([A.lwl, A.lwr, A.swl, A.swr]), fc.oneof(dst, src), aligned(1)).map(([f, t, o]) => f(t, o, S4)),
);
const loadOrStore = (w: number): boolean => [32, 33, 34, 35, 36, 37, 38, 40, 41, 42, 43, 46].includes(w >>> 26);
const isDest = (w: number, r: number): boolean => loadOrStore(w) && ((w >>> 16) & 31) === r && w >>> 26 < 40;
// A forward branch over 1..3 instructions, with a straight-line delay slot.
const branch = fc.tuple(
  fc.oneof(
    fc.tuple(pick([A.beq, A.bne, A.beql, A.bnel]), src, src).map(([f, s, t]) => (o: number) => f(s, t, o)),
    fc.tuple(pick([A.blez, A.bgtz, A.bltz, A.bgez, A.bltzal, A.bgezal, A.blezl, A.bgtzl, A.bltzl, A.bgezl]), src).map(([f, s]) => (o: number) => f(s, o)),
  ),
  fc.array(straight, { minLength: 1, maxLength: 4 }),
).map(([b, body]) => [b(body.length), ...body]);
// Stores and loads must not use s4/s5 as a destination; links write ra, which is fine.
const stream = fc
  .array(fc.oneof({ arbitrary: straight.map((w) => [w]), weight: 5 }, { arbitrary: branch, weight: 1 }), { minLength: 5, maxLength: 60 })
  .map((xs) => xs.flat().filter((w) => !isDest(w, S4) && !isDest(w, S5)));

function elf(body: number[], regs: number[], data: Uint8Array): Buffer {
  const f = Buffer.alloc(FILE_SIZE);
  f.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  f.writeUInt16LE(2, 16); // executable
  f.writeUInt16LE(8, 18); // MIPS
  f.writeUInt32LE(1, 20);
  f.writeUInt32LE(BASE + CODE, 24);
  f.writeUInt32LE(52, 28); // phoff
  f.writeUInt32LE(0x50001000, 36); // flags: mips32, o32
  f.writeUInt16LE(52, 40);
  f.writeUInt16LE(32, 42);
  f.writeUInt16LE(1, 44);
  f.writeUInt16LE(40, 46);
  const ph = 52;
  f.writeUInt32LE(1, ph); // PT_LOAD
  f.writeUInt32LE(0, ph + 4);
  f.writeUInt32LE(BASE, ph + 8);
  f.writeUInt32LE(BASE, ph + 12);
  f.writeUInt32LE(FILE_SIZE, ph + 16);
  f.writeUInt32LE(FILE_SIZE, ph + 20);
  f.writeUInt32LE(7, ph + 24);
  f.writeUInt32LE(0x1000, ph + 28);
  const dumpRegs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 31];
  const code = [
    ...A.li(S4, BASE + DATA),
    ...A.li(S5, BASE + TABLE),
    ...dumpRegs.map((r) => A.lw(r, 4 * r, S5)),
    A.lw(1, 0, S5),
    A.mthi(1),
    A.lw(1, 4, S5),
    A.mtlo(1),
    A.lw(1, 4 * 1, S5),
    ...body,
    A.nop,
    A.nop,
    A.nop,
    A.nop,
    ...A.li(S5, BASE + DUMP),
    ...dumpRegs.map((r) => A.sw(r, 4 * r, S5)),
    A.mfhi(1),
    A.sw(1, 0, S5),
    A.mflo(1),
    A.sw(1, 128, S5),
    // write(1, DATA, 0x300): data, table, dump
    A.addiu(A.a0, 0, 1),
    ...A.li(A.a1, BASE + DATA),
    A.addiu(A.a2, 0, 0x300),
    A.addiu(A.v0, 0, 4004),
    A.syscall,
    A.addiu(A.a0, 0, 0),
    A.addiu(A.v0, 0, 4001),
    A.syscall,
  ];
  code.forEach((w, i) => f.writeUInt32LE(w >>> 0, CODE + 4 * i));
  f.set(data, DATA);
  regs.forEach((v, i) => f.writeInt32LE(v, TABLE + 4 * i));
  return f;
}

/** Runs the ELF on our CPU with just write and exit; returns what it wrote. */
function ours(file: Buffer, jit: boolean): Buffer {
  const mem = new PhysicalMemory(8 << 20);
  mem.bytes.set(file, BASE);
  const cpu = new Cpu(new Mmu(mem), { jit, isa: 'mips32' });
  const r = cpu.regs;
  r[PCReg] = BASE + CODE;
  r[NextPCReg] = BASE + CODE + 4;
  const out: Buffer[] = [];
  for (let guard = 0; guard < 100; guard++) {
    cpu.run(100_000);
    if (cpu.exception !== ExceptionType.Syscall) throw new Error(`stopped with exception ${cpu.exception} at ${r[PCReg]}`);
    if (r[2] === 4001) return Buffer.concat(out);
    out.push(Buffer.from(mem.bytes.subarray(r[5], r[5] + r[6])));
    r[PrevPCReg] = r[PCReg];
    r[PCReg] = r[NextPCReg];
    r[NextPCReg] += 4;
  }
  throw new Error('no exit');
}

describe.skipIf(!haveQemu && !process.env.CI)('same results as qemu-mipsel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpu-qemu-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('on random instruction streams (both engines)', () => {
    let i = 0;
    fc.assert(
      fc.property(
        stream,
        fc.array(fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.integer({ min: -3, max: 3 })), { minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 256, maxLength: 256 }),
        (body, regs, data) => {
          const file = elf(body, regs, data);
          const path = join(dir, `t${i++}`);
          writeFileSync(path, file, { mode: 0o755 });
          const q = spawnSync('qemu-mipsel', [path], { timeout: 10_000 });
          expect(q.status).toBe(0);
          expect(q.stdout.length).toBe(0x300);
          expect(ours(file, false).equals(q.stdout)).toBe(true);
          expect(ours(file, true).equals(q.stdout)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});
