// Branches and jumps: every condition taken and not taken, delay slots
// (always executed, except a branch-likely's when not taken), links,
// a branch in a delay slot, and the program counters left behind.
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { BadVAddrReg, NextPCReg, PCReg, PrevPCReg } from '../../src/mips/registers.js';
import * as A from './asm.js';
import type { PageTableEntry } from '../../src/mips/mmu.js';
import { engines, exec, layout, machine } from './cpu-harness.js';

const { t0, t1, t2, t3, ra } = A;

/** The branch at 0 with slot at 4; taken goes to 0x40, otherwise falls into 8. Marks: t2 = slot ran, t3 = where it went. */
const branchProgram = (branch: number) =>
  layout({
    0: [branch, A.addiu(t2, t2, 1), A.addiu(t3, 0, 1), A.syscall],
    0x40: [A.addiu(t3, 0, 2), A.syscall],
  });

describe.each(engines)('branches ($name)', ({ jit }) => {
  const conds: [string, number, number, number, boolean][] = [
    ['beq equal', A.beq(t0, t1, 15), 5, 5, true],
    ['beq different', A.beq(t0, t1, 15), 5, 6, false],
    ['bne different', A.bne(t0, t1, 15), 5, 6, true],
    ['bne equal', A.bne(t0, t1, 15), 5, 5, false],
    ['blez zero', A.blez(t0, 15), 0, 0, true],
    ['blez negative', A.blez(t0, 15), -1, 0, true],
    ['blez positive', A.blez(t0, 15), 1, 0, false],
    ['bgtz positive', A.bgtz(t0, 15), 1, 0, true],
    ['bgtz zero', A.bgtz(t0, 15), 0, 0, false],
    ['bltz negative', A.bltz(t0, 15), -0x80000000, 0, true],
    ['bltz zero', A.bltz(t0, 15), 0, 0, false],
    ['bgez zero', A.bgez(t0, 15), 0, 0, true],
    ['bgez negative', A.bgez(t0, 15), -1, 0, false],
  ];

  it.each(conds)('%s: delay slot runs, then goes to the right place', (_n, branch, x, y, taken) => {
    const m = exec(branchProgram(branch), { jit, regs: { [t0]: x, [t1]: y } });
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
    expect(m.r[t2]).toBe(1);
    expect(m.r[t3]).toBe(taken ? 2 : 1);
    expect(m.count).toBe(4);
    expect(m.r[PCReg]).toBe(taken ? 0x44 : 0xc);
  });

  it.each([
    ['bltzal taken', A.bltzal(t0, 15), -1, true],
    ['bltzal not taken', A.bltzal(t0, 15), 1, false],
    ['bgezal taken', A.bgezal(t0, 15), 0, true],
    ['bgezal not taken', A.bgezal(t0, 15), -1, false],
  ])('%s links ra = branch + 8 either way', (_n, branch, x, taken) => {
    const m = exec(branchProgram(branch), { jit, regs: { [t0]: x } });
    expect(m.r[ra]).toBe(8);
    expect(m.r[t3]).toBe(taken ? 2 : 1);
  });

  it.each([
    ['beql', A.beql(t0, t1, 15), 1, 1, true],
    ['beql', A.beql(t0, t1, 15), 1, 2, false],
    ['bnel', A.bnel(t0, t1, 15), 1, 2, true],
    ['bnel', A.bnel(t0, t1, 15), 1, 1, false],
    ['blezl', A.blezl(t0, 15), 0, 0, true],
    ['blezl', A.blezl(t0, 15), 1, 0, false],
    ['bgtzl', A.bgtzl(t0, 15), 1, 0, true],
    ['bgtzl', A.bgtzl(t0, 15), 0, 0, false],
    ['bltzl', A.bltzl(t0, 15), -1, 0, true],
    ['bltzl', A.bltzl(t0, 15), 0, 0, false],
    ['bgezl', A.bgezl(t0, 15), 0, 0, true],
    ['bgezl', A.bgezl(t0, 15), -1, 0, false],
    ['bltzall', A.bltzall(t0, 15), -1, 0, true],
    ['bgezall', A.bgezall(t0, 15), -1, 0, false],
  ])('%s (%i, %i): the delay slot runs only when taken', (_n, branch, x, y, taken) => {
    const m = exec(branchProgram(branch), { jit, regs: { [t0]: x, [t1]: y } });
    expect(m.r[t2]).toBe(taken ? 1 : 0);
    expect(m.r[t3]).toBe(taken ? 2 : 1);
    expect(m.count).toBe(taken ? 4 : 3);
  });

  it('likely branches are illegal on an R3000 (mips1)', () => {
    const m = exec(branchProgram(A.beql(0, 0, 15)), { jit, isa: 'mips1' });
    expect(m.cpu.exception).toBe(ExceptionType.IllegalInstr);
    expect(m.r[PCReg]).toBe(0);
  });

  it('the branch decides before its delay slot changes the register', () => {
    const m = exec(branchProgram(A.beq(t0, 0, 15)), { jit, regs: { [t0]: 0 } });
    expect(m.r[t3]).toBe(2);
    const prog = branchProgram(A.beq(t0, 0, 15));
    prog[1] = A.addiu(t0, t0, 1);
    const m2 = exec(prog, { jit, regs: { [t0]: 0 } });
    expect(m2.r[t3]).toBe(2);
    expect(m2.r[t0]).toBe(1);
  });

  it('j and jal go to (PC+4)[31:28] | target; jal links PC+8', () => {
    const m = exec(layout({ 0: [A.jal(0x40), A.addiu(t2, 0, 1), A.syscall], 0x40: [A.j(0x80), A.nop], 0x80: [A.syscall] }), { jit });
    expect(m.r[ra]).toBe(8);
    expect(m.r[t2]).toBe(1);
    expect(m.r[PCReg]).toBe(0x80);
    expect(m.count).toBe(5);
  });

  it('jr and jalr jump to a register; jalr links into rd', () => {
    const m = exec(layout({ 0: [A.jalr(t1, t0), A.nop, A.syscall], 0x40: [A.jr(t1), A.addiu(t2, 0, 9)] }), {
      jit,
      regs: { [t0]: 0x40 },
    });
    expect(m.r[t1]).toBe(8);
    expect(m.r[t2]).toBe(9);
    expect(m.r[PCReg]).toBe(8);
    expect(m.count).toBe(5);
  });

  it('jalr with rd = rs jumps to the old value', () => {
    const m = exec(layout({ 0: [A.jalr(t0, t0), A.nop], 0x40: [A.syscall] }), { jit, regs: { [t0]: 0x40 } });
    expect(m.r[PCReg]).toBe(0x40);
    expect(m.r[t0]).toBe(8);
  });

  it('a branch in a delay slot: one instruction at the first target, then the second target', () => {
    // 0: beq -> 0x40, slot 4: j 0x80. Executes 0, 4, 0x40, then 0x80 (0x44 never runs).
    const m = exec(
      layout({
        0: [A.beq(0, 0, 15), A.j(0x80), A.syscall],
        0x40: [A.addiu(t2, 0, 1), A.addiu(t3, 0, 1), A.syscall],
        0x80: [A.syscall],
      }),
      { jit },
    );
    expect(m.r[t2]).toBe(1);
    expect(m.r[t3]).toBe(0);
    expect(m.r[PCReg]).toBe(0x80);
    expect(m.count).toBe(4);
  });

  it('a not-taken branch in a taken branch delay slot continues after the first target', () => {
    const m = exec(
      layout({
        0: [A.beq(0, 0, 15), A.bne(0, 0, 31), A.syscall],
        0x40: [A.addiu(t2, 0, 1), A.addiu(t3, 0, 1), A.syscall],
      }),
      { jit },
    );
    expect([m.r[t2], m.r[t3], m.r[PCReg]]).toEqual([1, 1, 0x48]);
  });

  it('a backward loop runs the exact number of times and leaves PrevPC/NextPC consistent', () => {
    const m = exec(
      [A.addiu(t0, 0, 100), A.addiu(t1, t1, 3), A.addiu(t0, t0, -1), A.bgtz(t0, -3), A.nop, A.syscall],
      { jit },
    );
    expect(m.r[t1]).toBe(300);
    expect(m.count).toBe(1 + 400 + 1);
    expect([m.r[PrevPCReg], m.r[PCReg], m.r[NextPCReg]]).toEqual([0x10, 0x14, 0x18]);
  });

  it('runs code that crosses 0x80000000 (addresses with the sign bit set)', () => {
    // Virtual pages 0x7ffff and 0x80000 -> frames 1 and 2; a loop whose body spans the boundary.
    const m = machine([], { jit, memBytes: 4 * 4096 });
    const table: PageTableEntry[] = [];
    table[0x7ffff] = { virtualPage: 0x7ffff, physicalPage: 1, valid: true, readOnly: false, use: false, dirty: false };
    table[0x80000] = { virtualPage: 0x80000, physicalPage: 2, valid: true, readOnly: false, use: false, dirty: false };
    m.mmu.pageTable = table;
    const code = [A.addiu(t0, 0, 3), A.addiu(t1, t1, 1), A.sw(t1, 0x40, t3), A.addiu(t0, t0, -1), A.bgtz(t0, -4), A.nop, A.jal(0x80000020), A.nop, A.syscall];
    code.forEach((w, i) => m.mmu.writeWord(0x7ffffff4 + 4 * i, w));
    m.mmu.writeWord(0x80000020, A.jr(ra));
    m.mmu.writeWord(0x80000024, A.lw(t2, 0x40, t3));
    m.r[t3] = 0x80000000 | 0;
    m.r[PCReg] = 0x7ffffff4;
    m.r[NextPCReg] = 0x7ffffff8;
    m.cpu.run(100);
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
    expect([m.r[t1], m.r[t2]]).toEqual([3, 3]);
    expect(m.r[ra]).toBe(0x80000014 | 0);
    expect(m.r[PCReg]).toBe(0x80000014 | 0);
  });

  it('a jump to a misaligned address faults when fetching it', () => {
    const m = exec([A.jr(t0), A.nop], { jit, regs: { [t0]: 0x42 } });
    expect(m.cpu.exception).toBe(ExceptionType.AddressError);
    expect(m.r[PCReg]).toBe(0x42);
    expect(m.r[BadVAddrReg]).toBe(0x42);
    expect(m.count).toBe(3);
  });
});
