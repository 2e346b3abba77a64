// One test per ALU instruction (register and immediate forms, shifts,
// comparisons, the MIPS32 bit operations), run on both engines, with the
// edge cases: sign and zero extension, shift amounts 0 and 31, unsigned
// comparisons of negative values, writes to $zero, overflow traps.
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { BadVAddrReg, PCReg } from '../../src/mips/registers.js';
import * as A from './asm.js';
import { engines, exec } from './cpu-harness.js';

const { t0, t1, t2 } = A;
const MIN = -0x80000000;
const MAX = 0x7fffffff;

/** [name, instruction computing t0 from t1 and t2, t1, t2, expected t0] */
const cases: [string, number, number, number, number][] = [
  ['addu wraps', A.addu(t0, t1, t2), MAX, 1, MIN],
  ['add in range', A.add(t0, t1, t2), -5, 3, -2],
  ['subu wraps', A.subu(t0, t1, t2), MIN, 1, MAX],
  ['sub in range', A.sub(t0, t1, t2), 3, 5, -2],
  ['addiu sign-extends', A.addiu(t0, t1, -1), 0, 0, -1],
  ['addi in range', A.addi(t0, t1, -0x8000), 0x8000, 0, 0],
  ['and', A.and(t0, t1, t2), 0x0ff0f0f0, 0x00ffff00, 0x00f0f000],
  ['or (not rs|rs)', A.or(t0, t1, t2), 0x0f00, 0x00f0, 0x0ff0],
  ['xor', A.xor(t0, t1, t2), 0xff00, 0x0ff0, 0xf0f0],
  ['nor', A.nor(t0, t1, t2), 0x0f0f0f0f, 0x30303030, ~0x3f3f3f3f],
  ['andi zero-extends', A.andi(t0, t1, 0xffff), -1, 0, 0xffff],
  ['ori zero-extends', A.ori(t0, t1, 0x8000), 0x10000, 0, 0x18000],
  ['xori zero-extends', A.xori(t0, t1, 0xffff), -1, 0, -65536],
  ['lui', A.lui(t0, 0x8001), 0, 0, 0x80010000 | 0],
  ['slt signed', A.slt(t0, t1, t2), -1, 0, 1],
  ['slt equal', A.slt(t0, t1, t2), 7, 7, 0],
  ['sltu unsigned', A.sltu(t0, t1, t2), -1, 0, 0],
  ['sltu smaller', A.sltu(t0, t1, t2), 1, -1, 1],
  ['slti sign-extended immediate', A.slti(t0, t1, -1), -2, 0, 1],
  ['sltiu compares against sign-extended immediate as unsigned', A.sltiu(t0, t1, -1), 0x7fffffff, 0, 1],
  ['sltiu max', A.sltiu(t0, t1, -1), -1, 0, 0],
  ['sll 31', A.sll(t0, t1, 31), 3, 0, MIN],
  ['sll 0', A.sll(t0, t1, 0), 0x1234, 0, 0x1234],
  ['srl is logical', A.srl(t0, t1, 4), MIN, 0, 0x08000000],
  ['srl 31', A.srl(t0, t1, 31), -1, 0, 1],
  ['sra is arithmetic', A.sra(t0, t1, 4), MIN, 0, 0xf8000000 | 0],
  ['sllv uses low 5 bits', A.sllv(t0, t1, t2), 1, 33, 2],
  ['srlv', A.srlv(t0, t1, t2), -1, 28, 15],
  ['srav', A.srav(t0, t1, t2), -256, 4, -16],
  ['rotr', A.rotr(t0, t1, 8), 0x12345678, 0, 0x78123456],
  ['rotr 0', A.rotr(t0, t1, 0), 0x12345678, 0, 0x12345678],
  ['rotrv', A.rotrv(t0, t1, t2), 0x12345678, 36, 0x81234567 | 0],
  ['movz moves when zero', A.movz(t0, t1, t2), 5, 0, 5],
  ['movn moves when non-zero', A.movn(t0, t1, t2), 5, 9, 5],
  ['mul low word', A.mul(t0, t1, t2), 0x10001, 0x10001, 0x20001],
  ['mul signed', A.mul(t0, t1, t2), -3, 7, -21],
  ['clz', A.clz(t0, t1), 0x00010000, 0, 15],
  ['clz of 0', A.clz(t0, t1), 0, 0, 32],
  ['clo', A.clo(t0, t1), 0xfff00000 | 0, 0, 12],
  ['clo of -1', A.clo(t0, t1), -1, 0, 32],
  ['seb', A.seb(t0, t1), 0x1280, 0, -128],
  ['seh', A.seh(t0, t1), 0x18000, 0, -32768],
  ['wsbh', A.wsbh(t0, t1), 0x11223344, 0, 0x22114433],
  ['ext middle', A.ext(t0, t1, 4, 8), 0x12345678, 0, 0x67],
  ['ext whole word', A.ext(t0, t1, 0, 32), -2, 0, -2],
  ['ins middle', A.ins(t0, t1, 8, 8), 0xab, 0, 0x1122ab44],
  ['ins top bit', A.ins(t0, t1, 31, 1), 1, 0, (0x11223344 | MIN) | 0],
];

describe.each(engines)('ALU ($name)', ({ jit }) => {
  it.each(cases)('%s', (_name, instr, x, y, expected) => {
    // t0 starts as 0x11223344 so that ins and the conditional moves show what they keep.
    const m = exec([instr, A.syscall], { jit, regs: { [t0]: 0x11223344, [t1]: x, [t2]: y } });
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
    expect(m.r[t0]).toBe(expected | 0);
    expect(m.count).toBe(2);
  });

  it('movz and movn keep rd when the condition fails', () => {
    const m = exec([A.movz(t0, t1, t2), A.movn(A.t3, t1, 0), A.syscall], {
      jit,
      regs: { [t0]: 1, [A.t3]: 2, [t1]: 5, [t2]: 9 },
    });
    expect([m.r[t0], m.r[A.t3]]).toEqual([1, 2]);
  });

  it('writes to $zero are discarded', () => {
    const m = exec([A.addiu(0, 0, 5), A.lui(0, 1), A.addu(t0, 0, 0), A.syscall], { jit });
    expect(m.r[0]).toBe(0);
    expect(m.r[t0]).toBe(0);
  });

  it.each([
    ['add', A.add(t0, t1, t2), MAX, 1],
    ['add negative', A.add(t0, t1, t2), MIN, -1],
    ['addi', A.addi(t0, t1, 1), MAX, 0],
    ['addi negative', A.addi(t0, t1, -1), MIN, 0],
    ['sub', A.sub(t0, t1, t2), MIN, 1],
    ['sub of negative', A.sub(t0, t1, t2), MAX, -1],
  ])('%s traps on overflow, leaving rd unchanged and PC on the instruction', (_n, instr, x, y) => {
    const m = exec([A.nop, instr, A.syscall], { jit, regs: { [t0]: 77, [t1]: x, [t2]: y } });
    expect(m.cpu.exception).toBe(ExceptionType.Overflow);
    expect(m.r[t0]).toBe(77);
    expect(m.r[PCReg]).toBe(4);
    expect(m.r[BadVAddrReg]).toBe(0);
    expect(m.count).toBe(2);
  });

  it('addu, addiu and subu never trap', () => {
    const m = exec([A.addu(t0, t1, t1), A.addiu(A.t3, t1, 1), A.subu(A.t4, t2, t1), A.syscall], {
      jit,
      regs: { [t1]: MAX, [t2]: MIN },
    });
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
    expect([m.r[t0], m.r[A.t3], m.r[A.t4]]).toEqual([-2, MIN, 1]);
  });

  it.each([
    ['teq', A.teq(t1, t2), 3, 3, true],
    ['teq not equal', A.teq(t1, t2), 3, 4, false],
    ['tne', A.tne(t1, t2), 3, 4, true],
    ['tge signed', A.tge(t1, t2), 0, -1, true],
    ['tgeu unsigned', A.tgeu(t1, t2), 0, -1, false],
    ['tlt', A.tlt(t1, t2), -1, 0, true],
    ['tltu', A.tltu(t1, t2), -1, 0, false],
    ['teqi', A.teqi(t1, -1), -1, 0, true],
    ['tnei', A.tnei(t1, 5), 5, 0, false],
    ['tgei', A.tgei(t1, 5), 5, 0, true],
    ['tgeiu', A.tgeiu(t1, -1), 5, 0, false],
    ['tlti', A.tlti(t1, 5), 4, 0, true],
    ['tltiu', A.tltiu(t1, -1), 4, 0, true],
  ])('%s traps when its condition holds', (_n, instr, x, y, traps) => {
    const m = exec([instr, A.syscall], { jit, regs: { [t1]: x, [t2]: y } });
    expect(m.cpu.exception).toBe(traps ? ExceptionType.Trap : ExceptionType.Syscall);
    expect(m.r[PCReg]).toBe(traps ? 0 : 4);
  });

  it('sync and pref do nothing', () => {
    const m = exec([A.sync, A.pref(0, 0, t1), A.addiu(t0, 0, 1), A.syscall], { jit, regs: { [t1]: -1 } });
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
    expect(m.r[t0]).toBe(1);
    expect(m.count).toBe(4);
  });
});
