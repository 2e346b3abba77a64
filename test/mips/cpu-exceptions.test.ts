// Every exception kind, with the cause, BadVAddr, PC and instruction count
// the kernel sees; translation through page tables and the software TLB
// (use/dirty bits, read-only pages, bus errors, retry after a page fault);
// faults in delay slots; the kernel's syscall protocol; bad configuration.
import { describe, expect, it } from 'vitest';
import { Cpu } from '../../src/mips/cpu.js';
import { exceptionName, ExceptionType, MachineConfigError, MipsFault } from '../../src/mips/exceptions.js';
import { PhysicalMemory } from '../../src/mips/memory.js';
import { Mmu } from '../../src/mips/mmu.js';
import { BadVAddrReg, NextPCReg, PCReg, PrevPCReg } from '../../src/mips/registers.js';
import * as A from './asm.js';
import { engines, exec, layout, machine, pageTable } from './cpu-harness.js';

const { t0, t1, t2 } = A;
const PAGE = 4096;

describe.each(engines)('exceptions ($name)', ({ jit }) => {
  it.each([
    ['lw', A.lw(t0, 2, t1)],
    ['lh', A.lh(t0, 1, t1)],
    ['lhu', A.lhu(t0, 3, t1)],
    ['sw', A.sw(t0, 1, t1)],
    ['sh', A.sh(t0, 1, t1)],
  ])('misaligned %s: address error at the instruction, BadVAddr = address, nothing changed', (_n, instr) => {
    const m = exec([A.nop, instr, A.syscall], { jit, regs: { [t0]: 99, [t1]: 0x2000 } });
    expect(m.cpu.exception).toBe(ExceptionType.AddressError);
    const off = (instr & 0xffff) << 16 >> 16;
    expect(m.r[BadVAddrReg]).toBe(0x2000 + off);
    expect([m.r[PCReg], m.r[NextPCReg], m.r[PrevPCReg]]).toEqual([4, 8, 0]);
    expect(m.r[t0]).toBe(99);
    expect(m.mem.i32[0x2000 >> 2]).toBe(0);
    expect(m.count).toBe(2);
  });

  it('identity map: an address past physical memory is an address error', () => {
    const m = exec([A.lw(t0, 0, t1)], { jit, memBytes: 8 * PAGE, regs: { [t1]: 8 * PAGE } });
    expect(m.cpu.exception).toBe(ExceptionType.AddressError);
    expect(m.r[BadVAddrReg]).toBe(8 * PAGE);
  });

  it('syscall stops with PC on it; the kernel advances PC and the program continues', () => {
    const m = exec([A.addiu(A.v0, 0, 7), A.syscall, A.addiu(t0, A.v0, 1), A.syscall], { jit });
    expect(m.cpu.exception).toBe(ExceptionType.Syscall);
    expect(m.count).toBe(2);
    expect(m.r[PCReg]).toBe(4);
    expect(m.r[BadVAddrReg]).toBe(0);
    // Nachos's kernel: PrevPC = PC, PC = NextPC, NextPC += 4.
    m.r[PrevPCReg] = m.r[PCReg];
    m.r[PCReg] = m.r[NextPCReg];
    m.r[NextPCReg] += 4;
    expect(m.cpu.run(100)).toBe(2);
    expect(m.r[t0]).toBe(8);
    expect(m.r[PCReg]).toBe(12);
  });

  it('break raises Break', () => {
    const m = exec([A.nop, A.brk(7)], { jit });
    expect(m.cpu.exception).toBe(ExceptionType.Break);
    expect(m.r[PCReg]).toBe(4);
  });

  it.each([
    ['an unused opcode', 0xfc000000],
    ['a coprocessor 1 (FPU) instruction', 0x46020000],
    ['a coprocessor 0 instruction', 0x40806000],
    ['an unused SPECIAL function', 0x00000005],
    ['ins with msb < lsb', A.ins(t0, t1, 8, 8) & ~(31 << 11) | (3 << 11)],
  ])('%s is an illegal instruction', (_n, word) => {
    const m = exec([A.addiu(t0, 0, 1), word, A.syscall], { jit });
    expect(m.cpu.exception).toBe(ExceptionType.IllegalInstr);
    expect(m.r[PCReg]).toBe(4);
    expect(m.count).toBe(2);
  });

  it.each([
    ['mul', A.mul(t0, t1, t2)],
    ['movz', A.movz(t0, t1, t2)],
    ['teq', A.teq(t1, t2)],
    ['seb', A.seb(t0, t1)],
    ['ll', A.ll(t0, 0, 0)],
  ])('%s is illegal on an R3000 (mips1)', (_n, word) => {
    const m = exec([word], { jit, isa: 'mips1' });
    expect(m.cpu.exception).toBe(ExceptionType.IllegalInstr);
  });

  describe('with a page table', () => {
    // Virtual pages 0..3 -> frames 5, 2, 7, 1.
    function paged(program: number[]) {
      const m = machine([], { jit, memBytes: 8 * PAGE });
      const table = pageTable([5, 2, 7, 1]);
      program.forEach((w, i) => (m.mem.i32[(5 * PAGE) / 4 + i] = w));
      m.mmu.pageTable = table;
      return { ...m, table };
    }

    it('translates through the table and sets use and dirty bits', () => {
      const m = paged([A.lui(t1, 0), A.ori(t1, t1, 2 * PAGE + 8), A.lw(t0, 0, t1), A.sw(t0, PAGE - 2 * PAGE - 8 + 4, t1), A.syscall]);
      m.mem.i32[(7 * PAGE + 8) / 4] = 1234;
      m.cpu.run(100);
      expect(m.cpu.exception).toBe(ExceptionType.Syscall);
      expect(m.r[t0]).toBe(1234);
      expect(m.mem.i32[(2 * PAGE + 4) / 4]).toBe(1234);
      expect(m.table.map((e) => [e.use, e.dirty])).toEqual([
        [true, false],
        [true, true],
        [true, false],
        [false, false],
      ]);
    });

    it('an invalid page is a page fault; the kernel maps it and the access is retried', () => {
      const m = paged([A.addiu(t1, 0, 3 * PAGE), A.sw(t1, 16, t1), A.lw(t0, 16, t1), A.syscall]);
      m.table[3].valid = false;
      expect(m.cpu.run(100)).toBe(2);
      expect(m.cpu.exception).toBe(ExceptionType.PageFault);
      expect(m.r[BadVAddrReg]).toBe(3 * PAGE + 16);
      expect(m.r[PCReg]).toBe(4);
      m.table[3].valid = true;
      m.table[3].physicalPage = 6;
      expect(m.cpu.run(100)).toBe(3);
      expect(m.cpu.exception).toBe(ExceptionType.Syscall);
      expect(m.r[t0]).toBe(3 * PAGE);
      expect(m.mem.i32[(6 * PAGE + 16) / 4]).toBe(3 * PAGE);
      expect(m.table[3].dirty).toBe(true);
    });

    it('a virtual page past the end of the table is an address error', () => {
      const m = paged([A.lui(t1, 0), A.ori(t1, t1, 4 * PAGE), A.lb(t0, 5, t1), A.syscall]);
      m.cpu.run(100);
      expect(m.cpu.exception).toBe(ExceptionType.AddressError);
      expect(m.r[BadVAddrReg]).toBe(4 * PAGE + 5);
    });

    it('a write to a read-only page raises ReadOnly and writes nothing; reads work', () => {
      const m = paged([A.addiu(t1, 0, PAGE), A.lw(t0, 0, t1), A.sb(t1, 3, t1), A.syscall]);
      m.table[1].readOnly = true;
      m.mem.i32[(2 * PAGE) / 4] = 77;
      expect(m.cpu.run(100)).toBe(3);
      expect(m.cpu.exception).toBe(ExceptionType.ReadOnly);
      expect(m.r[BadVAddrReg]).toBe(PAGE + 3);
      expect(m.r[t0]).toBe(77);
      expect(m.mem.i32[(2 * PAGE) / 4]).toBe(77);
      expect(m.table[1].dirty).toBe(false);
    });

    it('a frame past physical memory is a bus error', () => {
      const m = paged([A.addiu(t1, 0, 3 * PAGE), A.lw(t0, 0, t1), A.syscall]);
      m.table[3].physicalPage = 8;
      m.cpu.run(100);
      expect(m.cpu.exception).toBe(ExceptionType.BusError);
      expect(m.r[BadVAddrReg]).toBe(3 * PAGE);
    });

    it('fetching from an invalid page is a page fault at the PC', () => {
      const m = paged([A.j(2 * PAGE), A.nop]);
      m.table[2].valid = false;
      expect(m.cpu.run(100)).toBe(3);
      expect(m.cpu.exception).toBe(ExceptionType.PageFault);
      expect(m.r[PCReg]).toBe(2 * PAGE);
      expect(m.r[BadVAddrReg]).toBe(2 * PAGE);
    });

    it('a fault in a delay slot leaves PC on the slot and NextPC on the target; the retry goes there', () => {
      const m = paged([A.addiu(t1, 0, 3 * PAGE), A.beq(0, 0, 8), A.sw(t1, 0, t1), ...new Array(8).fill(A.nop), A.addiu(t0, 0, 5), A.syscall]);
      m.table[3].valid = false;
      expect(m.cpu.run(100)).toBe(3);
      expect(m.cpu.exception).toBe(ExceptionType.PageFault);
      expect([m.r[PrevPCReg], m.r[PCReg], m.r[NextPCReg]]).toEqual([4, 8, 0x28]);
      m.table[3].valid = true;
      // The store, then the nop at the target 0x28, the addiu and the syscall.
      expect(m.cpu.run(100)).toBe(4);
      expect(m.r[t0]).toBe(5);
      expect(m.mem.i32[(PAGE) / 4]).toBe(3 * PAGE);
    });

    it('after the kernel evicts a page in place and flushes, the next access faults', () => {
      const m = paged([A.addiu(t1, 0, 3 * PAGE), A.lw(t0, 0, t1), A.syscall, A.lw(t0, 0, t1), A.syscall]);
      expect(m.cpu.run(100)).toBe(3);
      m.table[3].valid = false;
      m.mmu.flush();
      m.r[PCReg] = 12;
      m.r[NextPCReg] = 16;
      expect(m.cpu.run(100)).toBe(1);
      expect(m.cpu.exception).toBe(ExceptionType.PageFault);
    });

    it('switching page tables switches address spaces', () => {
      const m = paged([A.addiu(t1, 0, 3 * PAGE), A.lw(t0, 0, t1), A.syscall]);
      m.mem.i32[PAGE / 4] = 11;
      m.mem.i32[(6 * PAGE) / 4] = 22;
      m.cpu.run(100);
      expect(m.r[t0]).toBe(11);
      m.mmu.pageTable = pageTable([5, 2, 7, 6]);
      m.r[PCReg] = 0;
      m.r[NextPCReg] = 4;
      m.cpu.run(100);
      expect(m.r[t0]).toBe(22);
    });
  });

  describe('with a software TLB', () => {
    it('a miss is a page fault; after the kernel fills an entry and flushes, the access completes', () => {
      const m = machine([], { jit, memBytes: 8 * PAGE });
      m.mem.i32[(4 * PAGE) / 4] = A.lw(t0, 8, t1);
      m.mem.i32[(4 * PAGE) / 4 + 1] = A.syscall;
      m.mem.i32[(6 * PAGE + 8) / 4] = 4321;
      const code = { virtualPage: 0, physicalPage: 4, valid: true, readOnly: true, use: false, dirty: false };
      const tlb = [code, { virtualPage: 0, physicalPage: 0, valid: false, readOnly: false, use: false, dirty: false }];
      m.mmu.tlb = tlb;
      m.r[t1] = 9 * PAGE;
      expect(m.cpu.run(100)).toBe(1);
      expect(m.cpu.exception).toBe(ExceptionType.PageFault);
      expect(m.r[BadVAddrReg]).toBe(9 * PAGE + 8);
      tlb[1] = { virtualPage: 9, physicalPage: 6, valid: true, readOnly: false, use: false, dirty: false };
      m.mmu.flush();
      expect(m.cpu.run(100)).toBe(2);
      expect(m.cpu.exception).toBe(ExceptionType.Syscall);
      expect(m.r[t0]).toBe(4321);
      expect(tlb[1].use).toBe(true);
      expect(code.use).toBe(true);
    });
  });

  it('a fault after a jump back into code already run in the same pass reports the right instruction', () => {
    // 0x20 lw; j 0x10; nop; 0x10 addiu t1,2; nop; nop; nop; then 0x20 again: misaligned now.
    const m = machine(layout({ 0x10: [A.addiu(t1, t1, 2), A.nop, A.nop, A.nop, A.lw(t0, 0, t1), A.j(0x10), A.nop] }), { jit });
    m.mmu.readWord(0); // a warm translation, so that a block starts at 0x20
    m.r[t1] = 0x1000;
    m.r[PCReg] = 0x20;
    m.r[NextPCReg] = 0x24;
    expect(m.cpu.run(100)).toBe(8);
    expect(m.cpu.exception).toBe(ExceptionType.AddressError);
    expect([m.r[PrevPCReg], m.r[PCReg], m.r[BadVAddrReg]]).toEqual([0x1c, 0x20, 0x1002]);
  });

  it('a guest store into compiled code is seen the next time the code runs', () => {
    // 0x40: addiu t0,t0,1 (compiled after two runs); then the code at 0 overwrites it and jumps there.
    const m = machine(layout({ 0: [A.sw(t2, 0x40, 0), A.j(0x40), A.nop], 0x40: [A.addiu(t0, t0, 1), A.syscall] }), { jit });
    const runFrom = (pc: number) => {
      m.r[PCReg] = pc;
      m.r[NextPCReg] = pc + 4;
      m.cpu.run(10);
      return m.r[t0];
    };
    expect([runFrom(0x40), runFrom(0x40)]).toEqual([1, 2]);
    m.r[t2] = A.addiu(t0, t0, 100);
    expect(runFrom(0)).toBe(102);
    expect(runFrom(0x40)).toBe(202);
  });

  it('mmu.noteWrite() over a range spanning pages drops the compiled code it covers', () => {
    // Code at the start of page 1; the kernel rewrites the last 4 bytes of page 0 and the first word of page 1.
    const m = machine(layout({ 0: [A.j(PAGE), A.nop], [PAGE]: [A.addiu(t0, 0, 1), A.syscall] }), { jit, memBytes: 4 * PAGE });
    const again = () => {
      m.r[PCReg] = 0;
      m.r[NextPCReg] = 4;
      m.cpu.run(10);
      return m.r[t0];
    };
    // The first run fills the translation cache, the second compiles.
    expect([again(), again()]).toEqual([1, 1]);
    m.mem.i32[PAGE / 4] = A.addiu(t0, 0, 2);
    m.mmu.noteWrite(PAGE - 4, 8);
    expect(again()).toBe(2);
  });

  it('invalidateCode() makes the CPU see code the kernel wrote into memory', () => {
    const m = machine([A.addiu(t0, 0, 1), A.syscall], { jit });
    const again = () => {
      m.r[PCReg] = 0;
      m.r[NextPCReg] = 4;
      m.cpu.run(10);
      return m.r[t0];
    };
    expect([again(), again()]).toEqual([1, 1]);
    m.mem.i32[0] = A.addiu(t0, 0, 2);
    m.cpu.invalidateCode();
    expect([again(), again()]).toEqual([2, 2]);
  });
});

describe('kernel access helpers', () => {
  it('read and write through the page table and throw MipsFault', () => {
    const mem = new PhysicalMemory(4 * PAGE);
    const mmu = new Mmu(mem, PAGE);
    mmu.pageTable = pageTable([3, 1]);
    mmu.writeWord(8, -2);
    mmu.writeHalf(PAGE + 2, 0xbeef);
    mmu.writeByte(PAGE + 1, 0x80);
    expect(mem.i32[(3 * PAGE + 8) / 4]).toBe(-2);
    expect(mmu.readWord(8)).toBe(-2);
    expect(mmu.readHalf(PAGE + 2)).toBe(0xbeef);
    expect(mmu.readByte(PAGE + 1)).toBe(0x80);
    expect(mmu.pageTable?.[1].dirty).toBe(true);
    expect(() => mmu.readWord(2 * PAGE)).toThrow(MipsFault);
    try {
      mmu.readWord(6);
    } catch (e) {
      expect(e).toBeInstanceOf(MipsFault);
      expect((e as MipsFault).type).toBe(ExceptionType.AddressError);
      expect((e as MipsFault).badVAddr).toBe(6);
    }
  });

  it('names every exception', () => {
    expect(exceptionName(ExceptionType.PageFault)).toBe('page fault');
    expect(exceptionName(ExceptionType.AddressError)).toBe('address error');
    expect(exceptionName(ExceptionType.IllegalInstr)).toBe('illegal instruction');
    expect(new MipsFault(ExceptionType.BusError, 0x1234).message).toBe('bus error at virtual address 0x00001234');
  });

  it('rejects bad configurations with a clear error', () => {
    expect(() => new PhysicalMemory(1001)).toThrow(MachineConfigError);
    expect(() => new PhysicalMemory(-4)).toThrow(/multiple of 4/);
    expect(() => new Mmu(new PhysicalMemory(PAGE), 1000)).toThrow(/power of 2/);
    expect(() => new Mmu(new PhysicalMemory(PAGE), 64)).toThrow(MachineConfigError);
    expect(() => new Cpu(new Mmu(new PhysicalMemory(PAGE)), { isa: 'mips64' as 'mips1' })).toThrow(/unknown ISA/);
  });
});
