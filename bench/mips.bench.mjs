// MIPS CPU speed: guests from test/mips/bench/ (gcc -O2 -mips1): matmult
// (100x100 integer matrices, 10 repetitions: loop-bound) and sort (quicksort
// of 200,000 integers: branchy code with calls), on our CPU with paging on
// (a page table with scattered frames), counting instructions exactly,
// against qemu-mipsel on the same binaries and spim on matmult's code (one
// repetition, from matmult-spim.s), all measured in this run. Our figures
// are the best of several runs (compile time included); qemu's the best of
// 10 minus the best of 10 runs of a guest that exits at once (its start-up).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cpu } from '../dist/mips/cpu.js';
import { ExceptionType } from '../dist/mips/exceptions.js';
import { PhysicalMemory } from '../dist/mips/memory.js';
import { Mmu } from '../dist/mips/mmu.js';
import { NextPCReg, PCReg, StackReg } from '../dist/mips/registers.js';

export const title = 'MIPS CPU: matmult and sort guests (instructions per second)';

const PAGE = 4096;
const TOP = 0x500000; // virtual pages 0..TOP/PAGE, stack just below TOP
const LI_S0_10 = 0x2410000a; // "li s0,10": the repetition count in matmult.elf's main
const LI_S0_1 = 0x24100001;

/** Loads an ELF32 little-endian executable's PT_LOAD segments into scattered frames. */
function load(elf, mem, patchReps) {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (dv.getUint32(0) !== 0x7f454c46 || elf[5] !== 1) throw new Error('not a little-endian ELF file');
  const pages = TOP / PAGE;
  // Frame of virtual page v: reversed order, so that translation is really exercised.
  const table = Array.from({ length: pages }, (_, v) => ({ virtualPage: v, physicalPage: pages - 1 - v, valid: true, readOnly: false, use: false, dirty: false }));
  const phoff = dv.getUint32(28, true);
  for (let i = 0; i < dv.getUint16(44, true); i++) {
    const ph = phoff + 32 * i;
    if (dv.getUint32(ph, true) !== 1) continue;
    const off = dv.getUint32(ph + 4, true);
    const va = dv.getUint32(ph + 8, true);
    const size = dv.getUint32(ph + 16, true);
    for (let b = 0; b < size; b++) mem.bytes[table[(va + b) >>> 12].physicalPage * PAGE + ((va + b) & (PAGE - 1))] = elf[off + b];
  }
  if (patchReps) {
    const words = [];
    for (let p = 0; p < mem.size; p += 4) if (mem.i32[p >> 2] === LI_S0_10) words.push(p);
    if (words.length !== 1) throw new Error('matmult.elf: cannot find the repetition count to patch');
    mem.i32[words[0] >> 2] = LI_S0_1;
  }
  return { table, entry: dv.getUint32(24, true) };
}

/** Runs the guest to its exit syscall in slices of `slice` instructions; returns count, seconds and exit status. */
function runOurs(elf, { jit, slice = 1_000_000, patchReps = false }) {
  const mem = new PhysicalMemory(8 << 20);
  const mmu = new Mmu(mem, PAGE);
  const { table, entry } = load(elf, mem, patchReps);
  mmu.pageTable = table;
  const cpu = new Cpu(mmu, { isa: 'mips1', jit });
  cpu.regs[PCReg] = entry;
  cpu.regs[NextPCReg] = entry + 4;
  cpu.regs[StackReg] = TOP - 16;
  let count = 0;
  const t0 = process.hrtime.bigint();
  for (;;) {
    count += cpu.run(slice);
    if (cpu.exception === ExceptionType.None) continue;
    if (cpu.exception === ExceptionType.Syscall && cpu.regs[2] === 4001) break;
    throw new Error(`guest stopped with exception ${cpu.exception} at 0x${(cpu.regs[PCReg] >>> 0).toString(16)}`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { count, seconds, exit: cpu.regs[4] };
}

function best(n, f) {
  let b;
  for (let i = 0; i < n; i++) {
    const r = f();
    if (!b || r.seconds < b.seconds) b = r;
  }
  return b;
}

/** Runs a command n times; returns the best wall time and the first run's status and output. */
function timeCommand(cmd, args, n) {
  let bestS = Infinity;
  let first;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.error) return { error: r.error.message };
    bestS = Math.min(bestS, s);
    first ??= r;
  }
  return { seconds: bestS, status: first.status, stdout: first.stdout };
}

/** qemu-mipsel's MIPS on `file`, given our exact instruction count for it; undefined if qemu is missing. */
function qemuMips(file, count, status, startup, log) {
  const q = timeCommand('qemu-mipsel', [file], 10);
  if (q.error) {
    log(`qemu-mipsel not available: ${q.error}`);
    return undefined;
  }
  if (q.status !== (status & 0xff)) throw new Error(`qemu-mipsel: ${file} exit status ${q.status}, ours ${status}`);
  const mips = count / Math.max(q.seconds - startup, 1e-6) / 1e6;
  log(`qemu-mipsel: ${(q.seconds * 1000).toFixed(1)} ms - ${(startup * 1000).toFixed(1)} ms start-up = ${mips.toFixed(0)} MIPS`);
  return mips;
}

export async function run({ root, log }) {
  const dir = join(root, 'test', 'mips', 'bench');
  const startup = timeCommand('qemu-mipsel', [join(dir, 'empty.elf')], 10).seconds ?? 0;
  const rows = [];
  const guests = [
    { name: 'matmult', expect: 980100, target: '>= 300 MIPS, >= 10% of qemu' },
    { name: 'sort', expect: 87, target: '>= 10% of qemu' },
  ];
  let matmultJit;
  for (const g of guests) {
    const file = join(dir, `${g.name}.elf`);
    const elf = readFileSync(file);
    const mips = (r) => r.count / r.seconds / 1e6;
    const jit = best(5, () => runOurs(elf, { jit: true }));
    if (jit.exit !== g.expect) throw new Error(`${g.name} returned ${jit.exit}, expected ${g.expect}`);
    log(`${g.name}, our JIT: ${jit.count} instructions in ${jit.seconds.toFixed(3)} s = ${mips(jit).toFixed(0)} MIPS`);
    const sliced = best(3, () => runOurs(elf, { jit: true, slice: 100 }));
    log(`${g.name}, our JIT, run(100) slices: ${mips(sliced).toFixed(0)} MIPS`);
    const interp = best(2, () => runOurs(elf, { jit: false }));
    log(`${g.name}, our interpreter: ${mips(interp).toFixed(1)} MIPS`);
    const q = qemuMips(file, jit.count, g.expect, startup, log);
    const base = q ? { baseline: q, baselineName: 'qemu-mipsel' } : {};
    rows.push({ name: `${g.name}, JIT, paging, run(1e6) slices`, value: mips(jit), unit: 'MIPS', ...base, target: g.target });
    rows.push({ name: `${g.name}, JIT, paging, run(100) slices`, value: mips(sliced), unit: 'MIPS', ...base });
    rows.push({ name: `${g.name}, interpreter, paging`, value: mips(interp), unit: 'MIPS', ...base });
    if (g.name === 'matmult') matmultJit = mips(jit);
  }

  // spim runs one repetition of matmult; the same code on our CPU (repetitions patched to 1) gives the count.
  const one = runOurs(readFileSync(join(dir, 'matmult.elf')), { jit: true, patchReps: true });
  const s = timeCommand('spim', ['-sdata', '262144', '-delayed_branches', '-delayed_loads', '-file', join(dir, 'matmult-spim.s')], 1);
  if (s.error) log(`spim not available: ${s.error}`);
  else {
    if (!s.stdout.includes('980100')) throw new Error('spim: matmult did not print 980100');
    const spimMips = one.count / s.seconds / 1e6;
    log(`spim: ${one.count} instructions in ${s.seconds.toFixed(2)} s = ${spimMips.toFixed(2)} MIPS`);
    rows.push({ name: 'matmult, JIT, paging (vs spim, 1 repetition)', value: matmultJit, unit: 'MIPS', baseline: spimMips, baselineName: 'spim' });
  }
  return rows;
}
