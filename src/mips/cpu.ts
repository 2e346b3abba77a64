// The MIPS CPU: registers plus a fetch/decode/execute interpreter for the
// MIPS I integer ISA as an R2000/R3000 executes it (branch delay slots, the
// Nachos-style load delay slot, overflow traps, BREAK, SYSCALL) and the
// MIPS32 integer additions that gcc emits at -march=mips32. With the block
// compiler on (the default) run() executes compiled blocks and falls back to
// this interpreter for the instructions a block cannot start with.
//
// Timing model, as Nachos: run(budget) executes at most `budget`
// instructions and returns how many it executed; an instruction that raises
// an exception counts as executed, leaves PC on itself (a page fault can be
// retried) and stops the run with `exception` set. After a syscall the
// kernel advances the PC itself (PrevPC = PC, PC = NextPC, NextPC += 4).
import { decodeOp, disassemble, Op, rdOf, rsOf, rtOf, saOf, simmOf, targetOf, uimmOf } from './decode.js';
import { ExceptionType, MachineConfigError, MipsFault } from './exceptions.js';
import { BlockCompiler } from './jit.js';
import type { Mmu } from './mmu.js';
import { BadVAddrReg, HiReg, LoadReg, LoadValueReg, LoReg, NextPCReg, NumTotalRegs, PCReg, PrevPCReg } from './registers.js';

export interface CpuOptions {
  /** 'mips1': an R3000 (load delay slots; MIPS II/MIPS32 encodings are illegal). 'mips32' (default): every instruction, loads interlocked. */
  isa?: 'mips1' | 'mips32';
  /** Compile straight-line guest code to JavaScript (default true). */
  jit?: boolean;
}

/** High 32 bits of the unsigned 64-bit product of two 32-bit values. */
export function mulHiUnsigned(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

/** High 32 bits of the signed 64-bit product of two 32-bit values. */
export function mulHiSigned(a: number, b: number): number {
  return (mulHiUnsigned(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
}

export class Cpu {
  readonly regs = new Int32Array(NumTotalRegs);
  /** Why the last run() stopped early; None if it used its whole budget. */
  exception = ExceptionType.None;
  /** Called before each instruction executes, with its address and word as unsigned numbers; forces the interpreter. */
  trace?: (pc: number, instr: number, text: string) => void;
  readonly mips32: boolean;
  private readonly compiler: BlockCompiler | null;

  // Cached views of memory and of the translation cache (all fixed per Mmu).
  private readonly m8: Uint8Array;
  private readonly m8s: Int8Array;
  private readonly m16: Uint16Array;
  private readonly m16s: Int16Array;
  private readonly m32: Int32Array;
  private readonly shift: number;
  private readonly offMask: number;
  private readonly cacheMask: number;
  private readonly readTag: Int32Array;
  private readonly readBase: Int32Array;
  private readonly writeTag: Int32Array;
  private readonly writeBase: Int32Array;

  constructor(
    readonly mmu: Mmu,
    options: CpuOptions = {},
  ) {
    const isa = options.isa ?? 'mips32';
    if (isa !== 'mips1' && isa !== 'mips32') throw new MachineConfigError(`unknown ISA '${String(isa)}' (mips1 or mips32)`);
    this.mips32 = isa === 'mips32';
    const mem = mmu.mem;
    this.m8 = mem.bytes;
    this.m8s = mem.i8;
    this.m16 = mem.u16;
    this.m16s = mem.i16;
    this.m32 = mem.i32;
    this.shift = mmu.pageShift;
    this.offMask = mmu.offsetMask;
    this.cacheMask = mmu.cacheMask;
    this.readTag = mmu.readTag;
    this.readBase = mmu.readBase;
    this.writeTag = mmu.writeTag;
    this.writeBase = mmu.writeBase;
    this.regs[NextPCReg] = 4;
    this.compiler = options.jit === false ? null : new BlockCompiler(this);
  }

  /** Executes at most `budget` instructions; returns how many executed (a faulting one included). */
  run(budget: number): number {
    this.exception = ExceptionType.None;
    budget = Math.min(Math.floor(budget), Number.MAX_SAFE_INTEGER);
    if (!(budget >= 1)) return 0;
    if (this.compiler && !this.trace) return this.compiler.run(budget);
    return this.interpret(budget);
  }

  /** After loading code or editing page tables: compiled code is checked against memory before it next runs, cached translations are forgotten. */
  invalidateCode(): void {
    this.compiler?.clear();
    this.mmu.flush();
  }

  /**
   * Ends the current instruction with an exception, as Nachos's
   * RaiseException: records the bad address and completes the load in flight.
   */
  raise(type: ExceptionType, badVAddr: number): void {
    const r = this.regs;
    r[BadVAddrReg] = badVAddr;
    r[r[LoadReg]] = r[LoadValueReg];
    r[LoadReg] = 0;
    r[LoadValueReg] = 0;
    r[0] = 0;
    this.exception = type;
  }

  // ---- memory access with translation (fast path: the translation cache) ----

  loadWord(a: number): number {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & (~this.offMask | 3)) === this.readTag[i]) return this.m32[(this.readBase[i] | (a & this.offMask)) >> 2];
    return this.m32[this.mmu.translate(a, 4, false) >> 2];
  }
  loadHalf(a: number): number {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & (~this.offMask | 1)) === this.readTag[i]) return this.m16s[(this.readBase[i] | (a & this.offMask)) >> 1];
    return this.m16s[this.mmu.translate(a, 2, false) >> 1];
  }
  loadHalfU(a: number): number {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & (~this.offMask | 1)) === this.readTag[i]) return this.m16[(this.readBase[i] | (a & this.offMask)) >> 1];
    return this.m16[this.mmu.translate(a, 2, false) >> 1];
  }
  loadByte(a: number): number {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & ~this.offMask) === this.readTag[i]) return this.m8s[this.readBase[i] | (a & this.offMask)];
    return this.m8s[this.mmu.translate(a, 1, false)];
  }
  loadByteU(a: number): number {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & ~this.offMask) === this.readTag[i]) return this.m8[this.readBase[i] | (a & this.offMask)];
    return this.m8[this.mmu.translate(a, 1, false)];
  }
  storeWord(a: number, v: number): void {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & (~this.offMask | 3)) === this.writeTag[i]) {
      this.m32[(this.writeBase[i] | (a & this.offMask)) >> 2] = v;
      return;
    }
    const p = this.mmu.translate(a, 4, true);
    this.m32[p >> 2] = v;
    this.mmu.noteWrite(p, 4);
  }
  storeHalf(a: number, v: number): void {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & (~this.offMask | 1)) === this.writeTag[i]) {
      this.m16[(this.writeBase[i] | (a & this.offMask)) >> 1] = v;
      return;
    }
    const p = this.mmu.translate(a, 2, true);
    this.m16[p >> 1] = v;
    this.mmu.noteWrite(p, 2);
  }
  storeByte(a: number, v: number): void {
    const i = (a >>> this.shift) & this.cacheMask;
    if ((a & ~this.offMask) === this.writeTag[i]) {
      this.m8[this.writeBase[i] | (a & this.offMask)] = v;
      return;
    }
    const p = this.mmu.translate(a, 1, true);
    this.m8[p] = v;
    this.mmu.noteWrite(p, 1);
  }

  /** Physical address of the word holding unaligned address `a`; a fault reports `a` itself. */
  private wordOf(a: number, writing: boolean): number {
    try {
      return this.mmu.translate(a & ~3, 4, writing);
    } catch (e) {
      if (e instanceof MipsFault) throw new MipsFault(e.type, a);
      throw e;
    }
  }

  /** lwl (little-endian): the bytes from `a` up to the end of its word fill the top of `old`. */
  loadWordLeft(a: number, old: number): number {
    const word = this.m32[this.wordOf(a, false) >> 2];
    const shift = (3 - (a & 3)) * 8;
    return (word << shift) | (old & ((1 << shift) - 1));
  }
  /** lwr (little-endian): the bytes from the start of the word up to `a` fill the bottom of `old`. */
  loadWordRight(a: number, old: number): number {
    const word = this.m32[this.wordOf(a, false) >> 2];
    const shift = (a & 3) * 8;
    return (word >>> shift) | (old & ~(0xffffffff >>> shift));
  }
  storeWordLeft(a: number, v: number): void {
    const p = this.wordOf(a, true);
    const shift = (3 - (a & 3)) * 8;
    this.m32[p >> 2] = (v >>> shift) | (this.m32[p >> 2] & ~(0xffffffff >>> shift));
    this.mmu.noteWrite(p, 4);
  }
  storeWordRight(a: number, v: number): void {
    const p = this.wordOf(a, true);
    const shift = (a & 3) * 8;
    this.m32[p >> 2] = (v << shift) | (this.m32[p >> 2] & ((1 << shift) - 1));
    this.mmu.noteWrite(p, 4);
  }

  // ---- multiply and divide (HI/LO) ----

  mult(a: number, b: number): void {
    this.regs[LoReg] = Math.imul(a, b);
    this.regs[HiReg] = mulHiSigned(a, b);
  }
  multu(a: number, b: number): void {
    this.regs[LoReg] = Math.imul(a, b);
    this.regs[HiReg] = mulHiUnsigned(a, b);
  }
  /** Division by zero does not trap: LO = dividend, HI = 0, as qemu-mipsel does (the R3000 leaves it undefined). */
  div(a: number, b: number): void {
    if (b === 0 || (a === -0x80000000 && b === -1)) {
      this.regs[LoReg] = a;
      this.regs[HiReg] = 0;
    } else {
      this.regs[LoReg] = (a / b) | 0;
      this.regs[HiReg] = a % b;
    }
  }
  divu(a: number, b: number): void {
    const ua = a >>> 0;
    const ub = b >>> 0;
    if (ub === 0) {
      this.regs[LoReg] = a;
      this.regs[HiReg] = 0;
    } else {
      this.regs[LoReg] = Math.floor(ua / ub);
      this.regs[HiReg] = ua % ub;
    }
  }
  madd(a: number, b: number): void {
    this.accumulate(Math.imul(a, b), mulHiSigned(a, b), 1);
  }
  maddu(a: number, b: number): void {
    this.accumulate(Math.imul(a, b), mulHiUnsigned(a, b), 1);
  }
  msub(a: number, b: number): void {
    this.accumulate(Math.imul(a, b), mulHiSigned(a, b), -1);
  }
  msubu(a: number, b: number): void {
    this.accumulate(Math.imul(a, b), mulHiUnsigned(a, b), -1);
  }
  /** Adds (sign 1) or subtracts (sign -1) the 64-bit product lo/hi to HI:LO. */
  private accumulate(lo: number, hi: number, sign: 1 | -1): void {
    const r = this.regs;
    const sum = (r[LoReg] >>> 0) + sign * (lo >>> 0);
    const carry = sum > 0xffffffff ? 1 : sum < 0 ? -1 : 0;
    r[LoReg] = sum;
    r[HiReg] = r[HiReg] + sign * hi + carry;
  }

  /**
   * Interprets up to `budget` instructions one at a time (stops after an
   * exception); returns how many executed.
   */
  interpret(budget: number): number {
    // In chunks, so that V8 optimizes the loop with feedback for its exits
    // (a single long call gets on-stack-replaced code that deoptimizes on every return).
    let n = 0;
    while (n < budget && this.exception === ExceptionType.None) n += this.interpretChunk(Math.min(budget - n, 4096));
    return n;
  }

  private interpretChunk(budget: number): number {
    const r = this.regs;
    const mips32 = this.mips32;
    const trace = this.trace;
    // The program counters and the load in flight live in locals, written back on the way out.
    let pc = r[PCReg];
    let npc = r[NextPCReg];
    let prev = r[PrevPCReg];
    let loadReg = r[LoadReg];
    let loadValue = r[LoadValueReg];
    let stop = ExceptionType.None;
    let bad = 0;
    let n = 0;
    const { readTag, readBase, m32, shift, cacheMask } = this;
    const offMask = this.offMask;
    const fetchMask = ~offMask | 3;
    try {
      loop: while (n < budget) {
        n++;
        const slot = (pc >>> shift) & cacheMask;
        const w = (pc & fetchMask) === readTag[slot] ? m32[(readBase[slot] | (pc & offMask)) >> 2] : this.loadWord(pc);
        if (trace) trace(pc >>> 0, w >>> 0, disassemble(w, pc, mips32));
        const rs = rsOf(w);
        const rt = rtOf(w);
        let pcAfter = (npc + 4) | 0;
        let nullify = false;
        let loaded = false;
        let value = 0;
        switch (decodeOp(w, mips32)) {
          case Op.SLL: r[rdOf(w)] = r[rt] << saOf(w); break;
          case Op.SRL: r[rdOf(w)] = r[rt] >>> saOf(w); break;
          case Op.SRA: r[rdOf(w)] = r[rt] >> saOf(w); break;
          case Op.SLLV: r[rdOf(w)] = r[rt] << (r[rs] & 31); break;
          case Op.SRLV: r[rdOf(w)] = r[rt] >>> (r[rs] & 31); break;
          case Op.SRAV: r[rdOf(w)] = r[rt] >> (r[rs] & 31); break;
          case Op.ROTR: { const x = r[rt], s = saOf(w); r[rdOf(w)] = (x >>> s) | (x << (32 - s)); break; }
          case Op.ROTRV: { const x = r[rt], s = r[rs] & 31; r[rdOf(w)] = (x >>> s) | (x << (32 - s)); break; }
          case Op.JR: pcAfter = r[rs]; break;
          case Op.JALR: pcAfter = r[rs]; r[rdOf(w)] = pc + 8; break;
          case Op.SYSCALL: stop = ExceptionType.Syscall; break loop;
          case Op.BREAK: stop = ExceptionType.Break; break loop;
          case Op.MFHI: r[rdOf(w)] = r[HiReg]; break;
          case Op.MTHI: r[HiReg] = r[rs]; break;
          case Op.MFLO: r[rdOf(w)] = r[LoReg]; break;
          case Op.MTLO: r[LoReg] = r[rs]; break;
          case Op.MULT: this.mult(r[rs], r[rt]); break;
          case Op.MULTU: this.multu(r[rs], r[rt]); break;
          case Op.DIV: this.div(r[rs], r[rt]); break;
          case Op.DIVU: this.divu(r[rs], r[rt]); break;
          case Op.ADD: {
            const a = r[rs], b = r[rt], s = (a + b) | 0;
            if (((a ^ s) & (b ^ s)) < 0) { stop = ExceptionType.Overflow; break loop; }
            r[rdOf(w)] = s;
            break;
          }
          case Op.ADDU: r[rdOf(w)] = r[rs] + r[rt]; break;
          case Op.SUB: {
            const a = r[rs], b = r[rt], s = (a - b) | 0;
            if (((a ^ b) & (a ^ s)) < 0) { stop = ExceptionType.Overflow; break loop; }
            r[rdOf(w)] = s;
            break;
          }
          case Op.SUBU: r[rdOf(w)] = r[rs] - r[rt]; break;
          case Op.AND: r[rdOf(w)] = r[rs] & r[rt]; break;
          case Op.OR: r[rdOf(w)] = r[rs] | r[rt]; break;
          case Op.XOR: r[rdOf(w)] = r[rs] ^ r[rt]; break;
          case Op.NOR: r[rdOf(w)] = ~(r[rs] | r[rt]); break;
          case Op.SLT: r[rdOf(w)] = r[rs] < r[rt] ? 1 : 0; break;
          case Op.SLTU: r[rdOf(w)] = r[rs] >>> 0 < r[rt] >>> 0 ? 1 : 0; break;
          case Op.MOVZ: if (r[rt] === 0) r[rdOf(w)] = r[rs]; break;
          case Op.MOVN: if (r[rt] !== 0) r[rdOf(w)] = r[rs]; break;
          case Op.SYNC: case Op.PREF: break;
          case Op.TGE: if (r[rs] >= r[rt]) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TGEU: if (r[rs] >>> 0 >= r[rt] >>> 0) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TLT: if (r[rs] < r[rt]) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TLTU: if (r[rs] >>> 0 < r[rt] >>> 0) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TEQ: if (r[rs] === r[rt]) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TNE: if (r[rs] !== r[rt]) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TGEI: if (r[rs] >= simmOf(w)) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TGEIU: if (r[rs] >>> 0 >= simmOf(w) >>> 0) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TLTI: if (r[rs] < simmOf(w)) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TLTIU: if (r[rs] >>> 0 < simmOf(w) >>> 0) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TEQI: if (r[rs] === simmOf(w)) { stop = ExceptionType.Trap; break loop; } break;
          case Op.TNEI: if (r[rs] !== simmOf(w)) { stop = ExceptionType.Trap; break loop; } break;
          case Op.BLTZ: if (r[rs] < 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break;
          case Op.BGEZ: if (r[rs] >= 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break;
          case Op.BLTZAL: { const c = r[rs] < 0; r[31] = pc + 8; if (c) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break; }
          case Op.BGEZAL: { const c = r[rs] >= 0; r[31] = pc + 8; if (c) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break; }
          case Op.BLTZL: if (r[rs] < 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break;
          case Op.BGEZL: if (r[rs] >= 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break;
          case Op.BLTZALL: { const c = r[rs] < 0; r[31] = pc + 8; if (c) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break; }
          case Op.BGEZALL: { const c = r[rs] >= 0; r[31] = pc + 8; if (c) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break; }
          case Op.J: pcAfter = ((pc + 4) & 0xf0000000) | (targetOf(w) << 2); break;
          case Op.JAL: r[31] = pc + 8; pcAfter = ((pc + 4) & 0xf0000000) | (targetOf(w) << 2); break;
          case Op.BEQ: if (r[rs] === r[rt]) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break;
          case Op.BNE: if (r[rs] !== r[rt]) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break;
          case Op.BLEZ: if (r[rs] <= 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break;
          case Op.BGTZ: if (r[rs] > 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; break;
          case Op.BEQL: if (r[rs] === r[rt]) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break;
          case Op.BNEL: if (r[rs] !== r[rt]) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break;
          case Op.BLEZL: if (r[rs] <= 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break;
          case Op.BGTZL: if (r[rs] > 0) pcAfter = (pc + 4 + (simmOf(w) << 2)) | 0; else nullify = true; break;
          case Op.ADDI: {
            const a = r[rs], b = simmOf(w), s = (a + b) | 0;
            if (((a ^ s) & (b ^ s)) < 0) { stop = ExceptionType.Overflow; break loop; }
            r[rt] = s;
            break;
          }
          case Op.ADDIU: r[rt] = r[rs] + simmOf(w); break;
          case Op.SLTI: r[rt] = r[rs] < simmOf(w) ? 1 : 0; break;
          case Op.SLTIU: r[rt] = r[rs] >>> 0 < simmOf(w) >>> 0 ? 1 : 0; break;
          case Op.ANDI: r[rt] = r[rs] & uimmOf(w); break;
          case Op.ORI: r[rt] = r[rs] | uimmOf(w); break;
          case Op.XORI: r[rt] = r[rs] ^ uimmOf(w); break;
          case Op.LUI: r[rt] = w << 16; break;
          case Op.LB: loaded = true; value = this.loadByte(r[rs] + simmOf(w)); break;
          case Op.LH: loaded = true; value = this.loadHalf(r[rs] + simmOf(w)); break;
          case Op.LW: case Op.LL: loaded = true; value = this.loadWord(r[rs] + simmOf(w)); break;
          case Op.LBU: loaded = true; value = this.loadByteU(r[rs] + simmOf(w)); break;
          case Op.LHU: loaded = true; value = this.loadHalfU(r[rs] + simmOf(w)); break;
          // lwl/lwr merge into the value the register will have, a load in flight included (as Nachos).
          case Op.LWL:
            loaded = true;
            value = this.loadWordLeft(r[rs] + simmOf(w), loadReg === rt ? loadValue : r[rt]);
            break;
          case Op.LWR:
            loaded = true;
            value = this.loadWordRight(r[rs] + simmOf(w), loadReg === rt ? loadValue : r[rt]);
            break;
          case Op.SB: this.storeByte(r[rs] + simmOf(w), r[rt]); break;
          case Op.SH: this.storeHalf(r[rs] + simmOf(w), r[rt]); break;
          case Op.SW: this.storeWord(r[rs] + simmOf(w), r[rt]); break;
          case Op.SC: this.storeWord(r[rs] + simmOf(w), r[rt]); r[rt] = 1; break;
          case Op.SWL: this.storeWordLeft(r[rs] + simmOf(w), r[rt]); break;
          case Op.SWR: this.storeWordRight(r[rs] + simmOf(w), r[rt]); break;
          case Op.MADD: this.madd(r[rs], r[rt]); break;
          case Op.MADDU: this.maddu(r[rs], r[rt]); break;
          case Op.MSUB: this.msub(r[rs], r[rt]); break;
          case Op.MSUBU: this.msubu(r[rs], r[rt]); break;
          case Op.MUL: r[rdOf(w)] = Math.imul(r[rs], r[rt]); break;
          case Op.CLZ: r[rdOf(w)] = Math.clz32(r[rs]); break;
          case Op.CLO: r[rdOf(w)] = Math.clz32(~r[rs]); break;
          case Op.EXT: {
            const pos = saOf(w), size = rdOf(w) + 1;
            r[rt] = size === 32 ? r[rs] >>> pos : (r[rs] >>> pos) & ((1 << size) - 1);
            break;
          }
          case Op.INS: {
            const pos = saOf(w), size = rdOf(w) - pos + 1;
            if (size <= 0) { stop = ExceptionType.IllegalInstr; break loop; }
            const mask = (size === 32 ? -1 : (1 << size) - 1) << pos;
            r[rt] = (r[rt] & ~mask) | ((r[rs] << pos) & mask);
            break;
          }
          case Op.WSBH: { const x = r[rt]; r[rdOf(w)] = ((x & 0x00ff00ff) << 8) | ((x >>> 8) & 0x00ff00ff); break; }
          case Op.SEB: r[rdOf(w)] = (r[rt] << 24) >> 24; break;
          case Op.SEH: r[rdOf(w)] = (r[rt] << 16) >> 16; break;
          default:
            stop = ExceptionType.IllegalInstr;
            break loop;
        }
        if (loaded && mips32) r[rt] = value;
        // Nachos's DelayedLoad: the load in flight lands after this instruction.
        if (loadReg !== 0) r[loadReg] = loadValue;
        if (loaded && !mips32 && rt !== 0) {
          loadReg = rt;
          loadValue = value;
        } else {
          loadReg = 0;
          loadValue = 0;
        }
        r[0] = 0;
        prev = pc;
        if (nullify) {
          pc = pcAfter;
          npc = (pcAfter + 4) | 0;
        } else {
          pc = npc;
          npc = pcAfter;
        }
      }
    } catch (e) {
      if (!(e instanceof MipsFault)) throw e;
      stop = e.type;
      bad = e.badVAddr;
    }
    r[PCReg] = pc;
    r[NextPCReg] = npc;
    r[PrevPCReg] = prev;
    r[LoadReg] = loadReg;
    r[LoadValueReg] = loadValue;
    if (stop !== ExceptionType.None) this.raise(stop, bad);
    return n;
  }
}
