// The block compiler: translates straight-line runs of guest code (up to and
// including a branch and its delay slot, following direct jumps within the
// page) into JavaScript functions with `new Function`, caches them per
// physical page, and runs them with the same observable behaviour as the
// interpreter: exact instruction counts (a block runs whole only if the
// budget covers it, else a variant that counts runs; a block that branches
// back to itself loops while the budget allows), exceptions at the exact
// instruction with PC, NextPC, PrevPC, BadVAddr and the load in flight as
// the interpreter leaves them, Nachos's load delay slot under 'mips1', and
// self-modifying code seen at once, as Nachos (which has no caches) sees it.
//
// Memory accesses probe the MMU's translation cache inline; a miss calls the
// CPU's slow path, which translates (setting use/dirty bits) or faults.
// Writes to a physical page holding compiled code always take the slow path,
// which drops the blocks covering the written bytes.
import type { Cpu } from './cpu.js';
import { decodeOp, Op, rdOf, rsOf, rtOf, saOf, simmOf, targetOf, uimmOf } from './decode.js';
import { ExceptionType, MipsFault } from './exceptions.js';
import { LoadReg, LoadValueReg, NextPCReg, PCReg, PrevPCReg } from './registers.js';

/** Longest block, in instructions (a bound on compile time and code size). */
const MaxBlock = 200;

interface Block {
  /** Virtual and physical address of the first instruction. */
  readonly vpc: number;
  readonly ppc: number;
  /** Instructions in one pass; 0: the first instruction cannot start a block (interpret it). */
  readonly n: number;
  /** Virtual address of each instruction (a block follows direct jumps within its page). */
  readonly pcs: number[];
  live: boolean;
  /** The compiler generation in which the block's words were last checked against memory. */
  checked: number;
  /** Runs one pass (or more, for a self-loop, while `left` allows); returns instructions executed. */
  fn: (left: number) => number;
  /** The block's instructions, for the counted variant and for checking memory (n = 0: the word it cannot start with). */
  readonly words: number[];
  readonly ops: Op[];
  /** The same code with a check before every instruction, stopping after exactly `left` (< n) instructions; compiled when first needed. */
  counted?: (left: number) => number;
}

type BlockFactory = (...args: unknown[]) => (left: number) => number;

const isBranch = (op: Op): boolean => {
  switch (op) {
    case Op.J: case Op.JAL: case Op.JR: case Op.JALR:
    case Op.BEQ: case Op.BNE: case Op.BLEZ: case Op.BGTZ: case Op.BLTZ: case Op.BGEZ: case Op.BLTZAL: case Op.BGEZAL:
    case Op.BEQL: case Op.BNEL: case Op.BLEZL: case Op.BGTZL: case Op.BLTZL: case Op.BGEZL: case Op.BLTZALL: case Op.BGEZALL:
      return true;
    default:
      return false;
  }
};
const isLikely = (op: Op): boolean =>
  op === Op.BEQL || op === Op.BNEL || op === Op.BLEZL || op === Op.BGTZL ||
  op === Op.BLTZL || op === Op.BGEZL || op === Op.BLTZALL || op === Op.BGEZALL;
/** Where an unconditional direct jump (j, jal, b, bal: always taken, target known) at `pc` goes; else null. */
const jumpTarget = (op: Op, w: number, pc: number): number | null => {
  switch (op) {
    case Op.J: case Op.JAL:
      return (((pc + 4) & 0xf0000000) | (targetOf(w) << 2)) | 0;
    case Op.BEQ:
      return rsOf(w) === rtOf(w) ? (pc + 4 + (simmOf(w) << 2)) | 0 : null;
    case Op.BGEZ: case Op.BGEZAL: case Op.BLEZ:
      return rsOf(w) === 0 ? (pc + 4 + (simmOf(w) << 2)) | 0 : null;
    default:
      return null;
  }
};
/** Instructions a block never contains: the interpreter raises their exception. */
const endsBlock = (op: Op, w: number): boolean =>
  op === Op.Illegal || op === Op.SYSCALL || op === Op.BREAK || (op === Op.INS && rdOf(w) < saOf(w));
const isStore = (op: Op): boolean =>
  op === Op.SB || op === Op.SH || op === Op.SW || op === Op.SC || op === Op.SWL || op === Op.SWR;
const isLoad = (op: Op): boolean =>
  op === Op.LB || op === Op.LBU || op === Op.LH || op === Op.LHU || op === Op.LW || op === Op.LL || op === Op.LWL || op === Op.LWR;

const lit = (x: number): string => String(x | 0);

export class BlockCompiler {
  /** Compiled blocks per physical page, indexed by word offset in the page (filled arrays, never sparse: V8 indexes those fastest). */
  private readonly pages: ((Block | undefined)[] | undefined)[];
  /** Set by a faulting block: instructions it executed, the faulting one included. */
  faultCount = 0;
  /** Bumped by clear(): every block must be checked against memory before it runs again. */
  private generation = 0;
  private readonly shift: number;
  private readonly offMask: number;

  constructor(private readonly cpu: Cpu) {
    this.shift = cpu.mmu.pageShift;
    this.offMask = cpu.mmu.offsetMask;
    this.pages = new Array<(Block | undefined)[] | undefined>(cpu.mmu.numPhysPages).fill(undefined);
    cpu.mmu.onCodeWrite = (paddr, size) => this.codeWritten(paddr, size);
  }

  /**
   * Called when code may have been written behind the compiler's back (the
   * kernel loading a program, or switching address spaces). Blocks are kept
   * but each is compared with memory before it next runs, which is much
   * cheaper than recompiling after every context switch.
   */
  clear(): void {
    this.generation++;
  }

  run(budget: number): number {
    const cpu = this.cpu;
    const r = cpu.regs;
    const { readTag, readBase, cacheMask } = cpu.mmu;
    const shift = this.shift;
    const offMask = this.offMask;
    let done = 0;
    // A fault ends the run, so one handler around the whole loop does.
    try {
      while (done < budget) {
        const pc = r[PCReg];
        const slot = (pc >>> shift) & cacheMask;
        // Blocks start only outside delay slots, on a cached translation of an aligned PC.
        if (r[NextPCReg] !== ((pc + 4) | 0) || (pc & (~offMask | 3)) !== readTag[slot]) {
          done += cpu.interpret(1);
          if (cpu.exception !== ExceptionType.None) break;
          continue;
        }
        const p = readBase[slot] | (pc & offMask);
        let b = this.pages[p >>> shift]?.[(p & offMask) >> 2];
        if (b === undefined || b.vpc !== pc || (b.checked !== this.generation && !this.unchanged(b))) b = this.compile(pc, p);
        if (b.n === 0) {
          done += cpu.interpret(1);
          if (cpu.exception !== ExceptionType.None) break;
          continue;
        }
        const left = budget - done;
        done += b.n <= left ? b.fn(left) : (b.counted ??= this.generate(b, true))(left);
      }
    } catch (e) {
      if (!(e instanceof MipsFault)) throw e;
      done += this.faultCount;
      cpu.raise(e.type, e.badVAddr);
    }
    return done;
  }

  /** Whether memory still holds the block's instructions (then it is good for this generation). */
  private unchanged(b: Block): boolean {
    const m32 = this.cpu.mmu.mem.i32;
    for (let k = 0; k < b.words.length; k++) if (m32[this.physical(b, k) >> 2] !== b.words[k]) return false;
    b.checked = this.generation;
    return true;
  }

  /** Drops the blocks overlapping a guest write to [paddr, paddr+size). */
  private codeWritten(paddr: number, size: number): void {
    const ppn = paddr >>> this.shift;
    const list = this.pages[ppn];
    if (!list) return;
    let left = 0;
    list.forEach((b, i) => {
      if (!b) return;
      if (b.pcs.some((_, k) => this.physical(b, k) < paddr + size && paddr < this.physical(b, k) + 4)) {
        b.live = false;
        list[i] = undefined;
      } else left++;
    });
    if (left === 0) {
      this.pages[ppn] = undefined;
      this.cpu.mmu.codePages[ppn] = 0;
    }
  }

  /** Physical address of instruction k of a block (all of a block is on one page). */
  private physical(b: Block, k: number): number {
    return (b.ppc & ~this.offMask) | (b.pcs[k] & this.offMask);
  }

  private compile(vpc: number, ppc: number): Block {
    const cpu = this.cpu;
    const m32 = cpu.mmu.mem.i32;
    const offMask = this.offMask;
    const pageBase = ppc & ~offMask;
    // Choose the instructions: straight-line code up to a branch and its
    // delay slot, following unconditional direct jumps (j, jal, b, bal) that
    // stay on the page, so that a loop spread over several pieces of code
    // becomes one block. (Following not-taken conditional branches too was
    // tried: slower, the bigger functions cost more than dispatch saves.)
    const words: number[] = [];
    const ops: Op[] = [];
    const pcs: number[] = [];
    const seen = new Set<number>();
    const add = (v: number, w: number, op: Op): void => {
      words.push(w);
      ops.push(op);
      pcs.push(v);
      seen.add(v);
    };
    let v = vpc;
    // Each instruction at most once (the fault handler identifies instructions by address).
    while (words.length < MaxBlock && !seen.has(v)) {
      const p = pageBase | (v & offMask);
      const w = m32[p >> 2];
      const op = decodeOp(w, cpu.mips32);
      if (endsBlock(op, w)) break;
      if (!isBranch(op)) {
        add(v, w, op);
        v = (v + 4) | 0;
        if ((v & offMask) === 0) break;
        continue;
      }
      // The delay slot must be on this page and be an ordinary instruction.
      if (((v + 4) & offMask) === 0 || words.length + 2 > MaxBlock) break;
      const sw = m32[(p + 4) >> 2];
      const sop = decodeOp(sw, cpu.mips32);
      if (isBranch(sop) || endsBlock(sop, sw) || seen.has((v + 4) | 0)) break;
      add(v, w, op);
      add((v + 4) | 0, sw, sop);
      const target = jumpTarget(op, w, v);
      if (target === null || ((target ^ vpc) & ~offMask) !== 0 || seen.has(target)) break;
      v = target;
    }
    const n = words.length;
    if (n === 0) add(vpc, m32[ppc >> 2], Op.Illegal);
    const block: Block = { vpc, ppc, n, pcs, live: true, checked: this.generation, fn: () => 0, words, ops };
    if (n > 0) {
      block.fn = this.generate(block);
      cpu.mmu.markCode(ppc >>> this.shift);
    }
    const ppn = ppc >>> this.shift;
    const list = (this.pages[ppn] ??= new Array<Block | undefined>(this.cpu.mmu.pageSize >> 2).fill(undefined));
    const old = list[(ppc & this.offMask) >> 2];
    if (old) old.live = false;
    list[(ppc & this.offMask) >> 2] = block;
    return block;
  }

  /**
   * Compiles a block's instructions into a function. The `counted` variant
   * stops once it has executed `left` instructions (fewer than the block
   * has), possibly between a branch and its delay slot.
   */
  private generate(block: Block, counted = false): (left: number) => number {
    const { vpc, words, ops } = block;
    const cpu = this.cpu;
    const mips1 = !cpu.mips32;
    const n = words.length;
    const S = this.shift;
    const OM = this.offMask;
    const CM = cpu.mmu.cacheMask;
    const pcs = block.pcs;
    /** Address of instruction k; past the end, the addresses that follow the last one. */
    const pcOf = (k: number): number => (k < n ? pcs[k] : pcs[n - 1] + 4 * (k - n + 1)) | 0;
    /** Index of the branch whose delay slot is instruction k, or -1. */
    const slotOf = (k: number): number => (k > 0 && isBranch(ops[k - 1]) ? k - 1 : -1);
    const body: string[] = [];
    /** The catch handler's fix-ups, per instruction index. */
    const fixups: string[] = [];
    /** Locals of the generated function besides the registers: pending loads, branch outcomes and targets. */
    const locals: string[] = [];
    // mips1: the load whose value is still in a local (register, local name).
    let pending: { rt: number; name: string } | null = null;
    // Guest registers live in locals g<n> inside the function: loaded on entry,
    // stored back (those written) on every way out.
    const used = new Set<number>();
    const written = new Set<number>();
    // Placeholders for "store the written locals back" and "reload every local", filled in at the end.
    const STORE = '/*store*/';
    const LOAD = '/*load*/';
    const reg = (x: number): string => {
      if (x === 0) return '0';
      used.add(x);
      return `g${x}`;
    };
    const set = (x: number, e: string): string => {
      if (x === 0) return '';
      used.add(x);
      written.add(x);
      return `g${x} = (${e}) | 0;`;
    };

    const addr = (w: number): string => {
      const s = rsOf(w);
      return s === 0 ? `a = ${simmOf(w)};` : `a = (${reg(s)} + ${simmOf(w)}) | 0;`;
    };
    const readProbe = (align: number): string => `(a & ${~OM | align}) === rT[i = (a >>> ${S}) & ${CM}]`;
    const writeProbe = (align: number): string => `(a & ${~OM | align}) === wT[i = (a >>> ${S}) & ${CM}]`;
    const loadExpr = (op: Op, w: number, pc: number, k: number): string => {
      const p = `(rB[i] | (a & ${OM}))`;
      const rt = rtOf(w);
      const old =
        pending && pending.rt === rt
          ? pending.name
          : mips1 && k === 0
            ? `(r[${LoadReg}] === ${rt} ? r[${LoadValueReg}] : ${reg(rt)})`
            : reg(rt);
      switch (op) {
        case Op.LW: case Op.LL: return `(${readProbe(3)} ? m32[${p} >> 2] : h.lw(a, ${pc}))`;
        case Op.LH: return `(${readProbe(1)} ? m16s[${p} >> 1] : h.lh(a, ${pc}))`;
        case Op.LHU: return `(${readProbe(1)} ? m16[${p} >> 1] : h.lhu(a, ${pc}))`;
        case Op.LB: return `(${readProbe(0)} ? m8s[${p}] : h.lb(a, ${pc}))`;
        case Op.LBU: return `(${readProbe(0)} ? m8[${p}] : h.lbu(a, ${pc}))`;
        case Op.LWL: return `h.lwl(a, ${old}, ${pc})`;
        default: return `h.lwr(a, ${old}, ${pc})`;
      }
    };
    const branchTarget = (w: number, pc: number): number => (pc + 4 + (simmOf(w) << 2)) | 0;

    /** Statement(s) for instruction k; branch k sets c<k> (taken) and T<k> (target). */
    const emit = (k: number): string => {
      const w = words[k];
      const op = ops[k];
      const pc = pcOf(k);
      const s = rsOf(w);
      const t = rtOf(w);
      const d = rdOf(w);
      const sa = saOf(w);
      const imm = simmOf(w);
      const R = reg;
      const fault = (type: ExceptionType): string => `h.fault(${type}, ${pc})`;
      const trap = (cond: string): string => `if (${cond}) ${fault(ExceptionType.Trap)};`;
      const cond = (e: string, target: number | string): string => `c${k} = ${e}; T${k} = ${target};`;
      switch (op) {
        case Op.SLL: return set(d, `${R(t)} << ${sa}`);
        case Op.SRL: return set(d, `${R(t)} >>> ${sa}`);
        case Op.SRA: return set(d, `${R(t)} >> ${sa}`);
        case Op.SLLV: return set(d, `${R(t)} << (${R(s)} & 31)`);
        case Op.SRLV: return set(d, `${R(t)} >>> (${R(s)} & 31)`);
        case Op.SRAV: return set(d, `${R(t)} >> (${R(s)} & 31)`);
        case Op.ROTR: return set(d, `(${R(t)} >>> ${sa}) | (${R(t)} << ${32 - sa})`);
        case Op.ROTRV: return d === 0 ? '' : `i = ${R(s)} & 31; ${set(d, `(${R(t)} >>> i) | (${R(t)} << (32 - i))`)}`;
        case Op.JR: return cond('true', R(s));
        case Op.JALR: return `${cond('true', R(s))} ${set(d, lit(pc + 8))}`;
        case Op.MFHI: return set(d, 'r[32]');
        case Op.MTHI: return `r[32] = ${R(s)};`;
        case Op.MFLO: return set(d, 'r[33]');
        case Op.MTLO: return `r[33] = ${R(s)};`;
        case Op.MULT: return `C.mult(${R(s)}, ${R(t)});`;
        case Op.MULTU: return `C.multu(${R(s)}, ${R(t)});`;
        case Op.DIV: return `C.div(${R(s)}, ${R(t)});`;
        case Op.DIVU: return `C.divu(${R(s)}, ${R(t)});`;
        case Op.ADD:
          return `x = ${R(s)} + ${R(t)}; if (x > 2147483647 || x < -2147483648) ${fault(ExceptionType.Overflow)}; ${set(d, 'x')}`;
        case Op.ADDU: return set(d, `${R(s)} + ${R(t)}`);
        case Op.SUB:
          return `x = ${R(s)} - ${R(t)}; if (x > 2147483647 || x < -2147483648) ${fault(ExceptionType.Overflow)}; ${set(d, 'x')}`;
        case Op.SUBU: return set(d, `${R(s)} - ${R(t)}`);
        case Op.AND: return set(d, `${R(s)} & ${R(t)}`);
        case Op.OR: return set(d, `${R(s)} | ${R(t)}`);
        case Op.XOR: return set(d, `${R(s)} ^ ${R(t)}`);
        case Op.NOR: return set(d, `~(${R(s)} | ${R(t)})`);
        case Op.SLT: return set(d, `${R(s)} < ${R(t)} ? 1 : 0`);
        case Op.SLTU: return set(d, `(${R(s)} >>> 0) < (${R(t)} >>> 0) ? 1 : 0`);
        case Op.MOVZ: return d === 0 ? '' : `if (${R(t)} === 0) ${set(d, R(s))}`;
        case Op.MOVN: return d === 0 ? '' : `if (${R(t)} !== 0) ${set(d, R(s))}`;
        case Op.SYNC: case Op.PREF: return '';
        case Op.TGE: return trap(`${R(s)} >= ${R(t)}`);
        case Op.TGEU: return trap(`(${R(s)} >>> 0) >= (${R(t)} >>> 0)`);
        case Op.TLT: return trap(`${R(s)} < ${R(t)}`);
        case Op.TLTU: return trap(`(${R(s)} >>> 0) < (${R(t)} >>> 0)`);
        case Op.TEQ: return trap(`${R(s)} === ${R(t)}`);
        case Op.TNE: return trap(`${R(s)} !== ${R(t)}`);
        case Op.TGEI: return trap(`${R(s)} >= ${imm}`);
        case Op.TGEIU: return trap(`(${R(s)} >>> 0) >= ${imm >>> 0}`);
        case Op.TLTI: return trap(`${R(s)} < ${imm}`);
        case Op.TLTIU: return trap(`(${R(s)} >>> 0) < ${imm >>> 0}`);
        case Op.TEQI: return trap(`${R(s)} === ${imm}`);
        case Op.TNEI: return trap(`${R(s)} !== ${imm}`);
        case Op.BLTZ: case Op.BLTZL: return cond(`${R(s)} < 0`, branchTarget(w, pc));
        case Op.BGEZ: case Op.BGEZL: return cond(`${R(s)} >= 0`, branchTarget(w, pc));
        case Op.BLTZAL: case Op.BLTZALL: return `${cond(`${R(s)} < 0`, branchTarget(w, pc))} ${set(31, lit(pc + 8))}`;
        case Op.BGEZAL: case Op.BGEZALL: return `${cond(`${R(s)} >= 0`, branchTarget(w, pc))} ${set(31, lit(pc + 8))}`;
        case Op.J: return cond('true', ((pc + 4) & 0xf0000000) | (targetOf(w) << 2));
        case Op.JAL: return `${cond('true', ((pc + 4) & 0xf0000000) | (targetOf(w) << 2))} ${set(31, lit(pc + 8))}`;
        case Op.BEQ: case Op.BEQL: return cond(`${R(s)} === ${R(t)}`, branchTarget(w, pc));
        case Op.BNE: case Op.BNEL: return cond(`${R(s)} !== ${R(t)}`, branchTarget(w, pc));
        case Op.BLEZ: case Op.BLEZL: return cond(`${R(s)} <= 0`, branchTarget(w, pc));
        case Op.BGTZ: case Op.BGTZL: return cond(`${R(s)} > 0`, branchTarget(w, pc));
        case Op.ADDI:
          return `x = ${R(s)} + ${imm}; if (x > 2147483647 || x < -2147483648) ${fault(ExceptionType.Overflow)}; ${set(t, 'x')}`;
        case Op.ADDIU: return set(t, s === 0 ? lit(imm) : `${R(s)} + ${imm}`);
        case Op.SLTI: return set(t, `${R(s)} < ${imm} ? 1 : 0`);
        case Op.SLTIU: return set(t, `(${R(s)} >>> 0) < ${imm >>> 0} ? 1 : 0`);
        case Op.ANDI: return set(t, `${R(s)} & ${uimmOf(w)}`);
        case Op.ORI: return set(t, s === 0 ? String(uimmOf(w)) : `${R(s)} | ${uimmOf(w)}`);
        case Op.XORI: return set(t, `${R(s)} ^ ${uimmOf(w)}`);
        case Op.LUI: return set(t, lit(w << 16));
        case Op.LB: case Op.LBU: case Op.LH: case Op.LHU: case Op.LW: case Op.LL: case Op.LWL: case Op.LWR: {
          const e = loadExpr(op, w, pc, k);
          if (mips1) return `${addr(w)} L${k} = ${e};`;
          return `${addr(w)} ${t === 0 ? `${e};` : set(t, e)}`;
        }
        case Op.SB:
          return `${addr(w)} if (${writeProbe(0)}) m8[wB[i] | (a & ${OM})] = ${R(t)}; else h.sb(a, ${R(t)}, ${pc});`;
        case Op.SH:
          return `${addr(w)} if (${writeProbe(1)}) m16[(wB[i] | (a & ${OM})) >> 1] = ${R(t)}; else h.sh(a, ${R(t)}, ${pc});`;
        case Op.SW: case Op.SC:
          return `${addr(w)} if (${writeProbe(3)}) m32[(wB[i] | (a & ${OM})) >> 2] = ${R(t)}; else h.sw(a, ${R(t)}, ${pc});` +
            (op === Op.SC ? set(t, '1') : '');
        case Op.SWL: return `${addr(w)} h.swl(a, ${R(t)}, ${pc});`;
        case Op.SWR: return `${addr(w)} h.swr(a, ${R(t)}, ${pc});`;
        case Op.MADD: return `C.madd(${R(s)}, ${R(t)});`;
        case Op.MADDU: return `C.maddu(${R(s)}, ${R(t)});`;
        case Op.MSUB: return `C.msub(${R(s)}, ${R(t)});`;
        case Op.MSUBU: return `C.msubu(${R(s)}, ${R(t)});`;
        case Op.MUL: return set(d, `Math.imul(${R(s)}, ${R(t)})`);
        case Op.CLZ: return set(d, `Math.clz32(${R(s)})`);
        case Op.CLO: return set(d, `Math.clz32(~${R(s)})`);
        case Op.EXT: {
          const size = d + 1;
          return set(t, size === 32 ? `${R(s)} >>> ${sa}` : `(${R(s)} >>> ${sa}) & ${(1 << size) - 1}`);
        }
        case Op.INS: {
          const size = d - sa + 1;
          const mask = ((size === 32 ? -1 : (1 << size) - 1) << sa) | 0;
          return set(t, `(${R(t)} & ${~mask}) | ((${R(s)} << ${sa}) & ${mask})`);
        }
        case Op.WSBH: return set(d, `((${R(t)} & 0xff00ff) << 8) | ((${R(t)} >>> 8) & 0xff00ff)`);
        case Op.SEB: return set(d, `(${R(t)} << 24) >> 24`);
        case Op.SEH: return set(d, `(${R(t)} << 16) >> 16`);
        default:
          throw new Error(`block compiler: no code for op ${op}`);
      }
    };

    /** After instruction k completes: land the load in flight (mips1). */
    const landPending = (k: number): string => {
      let out = '';
      if (mips1 && k === 0) out += `if (r[${LoadReg}] !== 0) { ${STORE} r[r[${LoadReg}]] = r[${LoadValueReg}]; r[${LoadReg}] = 0; r[${LoadValueReg}] = 0; ${LOAD} }`;
      if (pending) {
        out += ` ${set(pending.rt, pending.name)}`;
        pending = null;
      }
      return out;
    };
    /** Leaves the function after `count` instructions of this pass, at pcExpr/npcExpr. */
    const leave = (count: number, prev: number, pcExpr: string, npcExpr: string): string => {
      // The load still in flight becomes the machine's (a load into $zero leaves nothing in flight).
      const inFlight = pending as { rt: number; name: string } | null;
      const load = inFlight && inFlight.rt !== 0 ? `r[${LoadReg}] = ${inFlight.rt}; r[${LoadValueReg}] = ${inFlight.name}; ` : '';
      return `${load}n += ${count}; r[${PrevPCReg}] = ${prev}; r[${PCReg}] = ${pcExpr}; r[${NextPCReg}] = ${npcExpr}; ${STORE} return n;`;
    };

    for (let k = 0; k < n; k++) {
      const op = ops[k];
      const w = words[k];
      const j = slotOf(k);
      // The catch handler restores the state the interpreter would leave for a fault at k.
      let fix = `case ${pcOf(k)}: `;
      if (k > 0) fix += `r[${PrevPCReg}] = ${pcOf(k - 1)}; `;
      if (pending && pending.rt !== 0) fix += `r[${pending.rt}] = ${pending.name}; `;
      fix += `r[${NextPCReg}] = ${j >= 0 ? `c${j} ? T${j} : ${lit(pcOf(k) + 4)}` : lit(pcOf(k) + 4)}; `;
      fix += `h.faultCount = n + ${k + 1}; break;`;
      fixups.push(fix);
      if (isBranch(op)) locals.push(`c${k} = false`, `T${k} = 0`);
      let code = '';
      if (counted && k > 0) {
        // Out of budget before instruction k (if it is a delay slot, the next run starts in it).
        const next = lit(pcOf(k) + 4);
        const [pcExpr, npcExpr] =
          j < 0 ? [lit(pcOf(k)), next]
          : isLikely(ops[j]) ? [`c${j} ? ${pcOf(k)} : ${next}`, `c${j} ? T${j} : ${lit(pcOf(k) + 8)}`]
          : [lit(pcOf(k)), `c${j} ? T${j} : ${next}`];
        code += `if (left === ${k}) { ${leave(k, pcOf(k - 1), pcExpr, npcExpr)} } `;
      }
      // Branch likely: when not taken its delay slot is skipped (and not counted).
      if (j >= 0 && isLikely(ops[j])) code += `if (!c${j}) { ${leave(j + 1, pcOf(j), lit(pcOf(k) + 4), lit(pcOf(k) + 8))} } `;
      code += emit(k) + landPending(k);
      if (mips1 && isLoad(op)) {
        pending = { rt: rtOf(w), name: `L${k}` };
        locals.push(`L${k} = 0`);
      }
      if (isStore(op)) {
        // A store that rewrote this block's own code: stop after it, so that the new code runs next (as the interpreter would).
        const next = j >= 0 ? [`c${j} ? T${j} : ${lit(pcOf(k) + 4)}`, `(c${j} ? T${j} + 4 : ${lit(pcOf(k) + 8)}) | 0`] : [lit(pcOf(k) + 4), lit(pcOf(k) + 8)];
        code += ` if (!b.live) { ${leave(k + 1, pcOf(k), next[0], next[1])} }`;
      }
      body.push(code);
    }

    // The way out at the end of the pass.
    const last = n - 1;
    const j = slotOf(last);
    let exit: string;
    if (j < 0) {
      exit = leave(n, pcOf(last), lit(pcOf(n)), lit(pcOf(n + 1)));
    } else {
      // A branch back to the block's own start loops here while the budget allows.
      const bop = ops[j];
      const bw = words[j];
      const slotPc = pcOf(last);
      const staticTarget =
        bop === Op.JR || bop === Op.JALR ? null : bop === Op.J || bop === Op.JAL ? ((slotPc & 0xf0000000) | (targetOf(bw) << 2)) | 0 : (slotPc + (simmOf(bw) << 2)) | 0;
      const loops = staticTarget === (vpc | 0) && bop !== Op.JAL && !counted;
      const inFlight = pending as { rt: number; name: string } | null;
      const keep = inFlight && inFlight.rt !== 0 ? `r[${LoadReg}] = ${inFlight.rt}; r[${LoadValueReg}] = ${inFlight.name}; ` : '';
      exit = loops ? `if (c${j} && n + ${2 * n} <= left) { ${keep}n += ${n}; continue; } ` : '';
      exit += `if (c${j}) { ${leave(n, slotPc, `T${j}`, `(T${j} + 4) | 0`)} } ${leave(n, slotPc, lit(pcOf(n)), lit(pcOf(n + 1)))}`;
    }

    const regs = [...used].sort((p, q) => p - q);
    const store = regs.filter((x) => written.has(x)).map((x) => `r[${x}] = g${x};`).join(' ');
    const load = regs.map((x) => `g${x} = r[${x}];`).join(' ');
    const src = (
      `return function block(left) {\n` +
      `  let ${['n = 0', 'a = 0', 'i = 0', 'x = 0', ...locals, ...regs.map((x) => `g${x} = r[${x}]`)].join(', ')};\n` +
      `  try {\n    for (;;) {\n      ${body.join('\n      ')}\n      ${exit}\n    }\n` +
      `  } catch (e) {\n    ${STORE}\n    switch (r[${PCReg}]) { ${fixups.join(' ')} }\n    throw e;\n  }\n};`
    )
      .replaceAll(STORE, store)
      .replaceAll(LOAD, load);
    const factory = new Function('r', 'm8', 'm8s', 'm16', 'm16s', 'm32', 'rT', 'rB', 'wT', 'wB', 'h', 'C', 'b', src) as BlockFactory;
    const mem = cpu.mmu.mem;
    const mmu = cpu.mmu;
    return factory(
      cpu.regs, mem.bytes, mem.i8, mem.u16, mem.i16, mem.i32,
      mmu.readTag, mmu.readBase, mmu.writeTag, mmu.writeBase,
      this, cpu, block,
    );
  }

  // Slow paths called by compiled code: `pc` is the instruction's address, recorded for a fault.
  lw(a: number, pc: number): number { this.cpu.regs[PCReg] = pc; return this.cpu.loadWord(a); }
  lh(a: number, pc: number): number { this.cpu.regs[PCReg] = pc; return this.cpu.loadHalf(a); }
  lhu(a: number, pc: number): number { this.cpu.regs[PCReg] = pc; return this.cpu.loadHalfU(a); }
  lb(a: number, pc: number): number { this.cpu.regs[PCReg] = pc; return this.cpu.loadByte(a); }
  lbu(a: number, pc: number): number { this.cpu.regs[PCReg] = pc; return this.cpu.loadByteU(a); }
  lwl(a: number, old: number, pc: number): number { this.cpu.regs[PCReg] = pc; return this.cpu.loadWordLeft(a, old); }
  lwr(a: number, old: number, pc: number): number { this.cpu.regs[PCReg] = pc; return this.cpu.loadWordRight(a, old); }
  sw(a: number, v: number, pc: number): void { this.cpu.regs[PCReg] = pc; this.cpu.storeWord(a, v); }
  sh(a: number, v: number, pc: number): void { this.cpu.regs[PCReg] = pc; this.cpu.storeHalf(a, v); }
  sb(a: number, v: number, pc: number): void { this.cpu.regs[PCReg] = pc; this.cpu.storeByte(a, v); }
  swl(a: number, v: number, pc: number): void { this.cpu.regs[PCReg] = pc; this.cpu.storeWordLeft(a, v); }
  swr(a: number, v: number, pc: number): void { this.cpu.regs[PCReg] = pc; this.cpu.storeWordRight(a, v); }
  fault(type: ExceptionType, pc: number): never {
    this.cpu.regs[PCReg] = pc;
    throw new MipsFault(type, 0);
  }
}
