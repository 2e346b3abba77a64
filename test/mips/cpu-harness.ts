// Test harness for the CPU: a machine with physical memory, an MMU and a
// CPU, a program loaded at address 0 (identity-mapped unless a page table
// is given), and helpers to run it and read registers.
import { Cpu, type CpuOptions } from '../../src/mips/cpu.js';
import { PhysicalMemory } from '../../src/mips/memory.js';
import { Mmu, type PageTableEntry } from '../../src/mips/mmu.js';
import { NextPCReg, PCReg } from '../../src/mips/registers.js';

export interface TestMachine {
  mem: PhysicalMemory;
  mmu: Mmu;
  cpu: Cpu;
  r: Int32Array;
}

export function machine(
  program: (number | number[])[],
  opts: CpuOptions & { memBytes?: number; pageSize?: number; at?: number } = {},
): TestMachine {
  const mem = new PhysicalMemory(opts.memBytes ?? 64 * 1024);
  const mmu = new Mmu(mem, opts.pageSize ?? 4096);
  const cpu = new Cpu(mmu, { isa: opts.isa, jit: opts.jit });
  load(mem, opts.at ?? 0, program.flat());
  cpu.regs[PCReg] = opts.at ?? 0;
  cpu.regs[NextPCReg] = (opts.at ?? 0) + 4;
  return { mem, mmu, cpu, r: cpu.regs };
}

export function load(mem: PhysicalMemory, at: number, words: number[]): void {
  words.forEach((w, i) => (mem.i32[(at >> 2) + i] = w));
}

/**
 * Runs `program` (loaded at 0) with the given initial registers until it
 * stops (a syscall ends most test programs); returns the machine and the
 * number of instructions executed.
 */
export function exec(
  program: (number | number[])[],
  opts: CpuOptions & { regs?: Record<number, number>; budget?: number; memBytes?: number } = {},
): TestMachine & { count: number } {
  const m = machine(program, opts);
  for (const [k, v] of Object.entries(opts.regs ?? {})) m.r[Number(k)] = v;
  const count = m.cpu.run(opts.budget ?? 10_000);
  return { ...m, count };
}

/** A page table mapping virtual page i to physical page frames[i] (valid, writable). */
export function pageTable(frames: number[]): PageTableEntry[] {
  return frames.map((f, i) => ({ virtualPage: i, physicalPage: f, valid: true, readOnly: false, use: false, dirty: false }));
}

/** Both execution engines, for tests that must hold for each. */
export const engines: { name: string; jit: boolean }[] = [
  { name: 'interpreter', jit: false },
  { name: 'jit', jit: true },
];

/** Lays out code chunks at byte addresses (gaps are nops) as one program starting at 0. */
export function layout(chunks: Record<number, (number | number[])[]>): number[] {
  const words: number[] = [];
  for (const [addr, code] of Object.entries(chunks)) code.flat().forEach((w, i) => (words[Number(addr) / 4 + i] = w));
  return Array.from(words, (w) => w ?? 0);
}
