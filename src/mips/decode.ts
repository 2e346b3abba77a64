// Instruction decoding: the field layout of a MIPS instruction word, the one
// table of opcodes (mnemonic, operand format, ISA level) that both the
// interpreter and the block compiler dispatch on, and a disassembler for
// --trace. Encodings follow the MIPS32 manual; the MIPS I subset is what an
// R2000/R3000 implements.
import { regNames } from './registers.js';

export const opcodeOf = (w: number): number => w >>> 26;
export const rsOf = (w: number): number => (w >>> 21) & 31;
export const rtOf = (w: number): number => (w >>> 16) & 31;
export const rdOf = (w: number): number => (w >>> 11) & 31;
export const saOf = (w: number): number => (w >>> 6) & 31;
export const functOf = (w: number): number => w & 63;
/** Sign-extended 16-bit immediate. */
export const simmOf = (w: number): number => (w << 16) >> 16;
/** Zero-extended 16-bit immediate. */
export const uimmOf = (w: number): number => w & 0xffff;
/** 26-bit jump index. */
export const targetOf = (w: number): number => w & 0x3ffffff;

/** Every operation the CPU executes; Illegal is any word it does not. */
export const enum Op {
  Illegal,
  // SPECIAL
  SLL, SRL, SRA, SLLV, SRLV, SRAV, JR, JALR, SYSCALL, BREAK, MFHI, MTHI, MFLO, MTLO,
  MULT, MULTU, DIV, DIVU, ADD, ADDU, SUB, SUBU, AND, OR, XOR, NOR, SLT, SLTU,
  // REGIMM
  BLTZ, BGEZ, BLTZAL, BGEZAL,
  // main opcodes
  J, JAL, BEQ, BNE, BLEZ, BGTZ, ADDI, ADDIU, SLTI, SLTIU, ANDI, ORI, XORI, LUI,
  LB, LH, LWL, LW, LBU, LHU, LWR, SB, SH, SWL, SW, SWR,
  // MIPS II / MIPS32 additions
  MOVZ, MOVN, SYNC, TGE, TGEU, TLT, TLTU, TEQ, TNE,
  BLTZL, BGEZL, BLTZALL, BGEZALL, TGEI, TGEIU, TLTI, TLTIU, TEQI, TNEI,
  BEQL, BNEL, BLEZL, BGTZL, LL, SC, PREF,
  MADD, MADDU, MUL, MSUB, MSUBU, CLZ, CLO,
  ROTR, ROTRV, EXT, INS, WSBH, SEB, SEH,
  Count,
}

/** How the disassembler prints an instruction's operands. */
type Format =
  | 'd,s,t' | 'd,t,a' | 'd,t,s' | 's' | 'd,s' | 'd' | 's,t' | 'code' | 'none'
  | 't,s,i' | 't,s,u' | 't,u' | 's,t,b' | 's,b' | 'j' | 't,m' | 'd,t' | 't,s,ext' | 't,s,ins' | 's,i' | 'hint,m';

interface OpInfo {
  name: string;
  format: Format;
  /** 1: MIPS I (R2000/R3000); 32: needs MIPS II or MIPS32. */
  level: 1 | 32;
}

const info: OpInfo[] = [];
function def(op: Op, name: string, format: Format, level: 1 | 32 = 1): Op {
  info[op] = { name, format, level };
  return op;
}
def(Op.Illegal, '(illegal)', 'none');

const special = new Uint8Array(64);
const regimm = new Uint8Array(32);
const major = new Uint8Array(64);
const special2 = new Uint8Array(64);

special[0] = def(Op.SLL, 'sll', 'd,t,a');
special[2] = def(Op.SRL, 'srl', 'd,t,a');
special[3] = def(Op.SRA, 'sra', 'd,t,a');
special[4] = def(Op.SLLV, 'sllv', 'd,t,s');
special[6] = def(Op.SRLV, 'srlv', 'd,t,s');
special[7] = def(Op.SRAV, 'srav', 'd,t,s');
special[8] = def(Op.JR, 'jr', 's');
special[9] = def(Op.JALR, 'jalr', 'd,s');
special[10] = def(Op.MOVZ, 'movz', 'd,s,t', 32);
special[11] = def(Op.MOVN, 'movn', 'd,s,t', 32);
special[12] = def(Op.SYSCALL, 'syscall', 'code');
special[13] = def(Op.BREAK, 'break', 'code');
special[15] = def(Op.SYNC, 'sync', 'none', 32);
special[16] = def(Op.MFHI, 'mfhi', 'd');
special[17] = def(Op.MTHI, 'mthi', 's');
special[18] = def(Op.MFLO, 'mflo', 'd');
special[19] = def(Op.MTLO, 'mtlo', 's');
special[24] = def(Op.MULT, 'mult', 's,t');
special[25] = def(Op.MULTU, 'multu', 's,t');
special[26] = def(Op.DIV, 'div', 's,t');
special[27] = def(Op.DIVU, 'divu', 's,t');
special[32] = def(Op.ADD, 'add', 'd,s,t');
special[33] = def(Op.ADDU, 'addu', 'd,s,t');
special[34] = def(Op.SUB, 'sub', 'd,s,t');
special[35] = def(Op.SUBU, 'subu', 'd,s,t');
special[36] = def(Op.AND, 'and', 'd,s,t');
special[37] = def(Op.OR, 'or', 'd,s,t');
special[38] = def(Op.XOR, 'xor', 'd,s,t');
special[39] = def(Op.NOR, 'nor', 'd,s,t');
special[42] = def(Op.SLT, 'slt', 'd,s,t');
special[43] = def(Op.SLTU, 'sltu', 'd,s,t');
special[48] = def(Op.TGE, 'tge', 's,t', 32);
special[49] = def(Op.TGEU, 'tgeu', 's,t', 32);
special[50] = def(Op.TLT, 'tlt', 's,t', 32);
special[51] = def(Op.TLTU, 'tltu', 's,t', 32);
special[52] = def(Op.TEQ, 'teq', 's,t', 32);
special[54] = def(Op.TNE, 'tne', 's,t', 32);

regimm[0] = def(Op.BLTZ, 'bltz', 's,b');
regimm[1] = def(Op.BGEZ, 'bgez', 's,b');
regimm[2] = def(Op.BLTZL, 'bltzl', 's,b', 32);
regimm[3] = def(Op.BGEZL, 'bgezl', 's,b', 32);
regimm[8] = def(Op.TGEI, 'tgei', 's,i', 32);
regimm[9] = def(Op.TGEIU, 'tgeiu', 's,i', 32);
regimm[10] = def(Op.TLTI, 'tlti', 's,i', 32);
regimm[11] = def(Op.TLTIU, 'tltiu', 's,i', 32);
regimm[12] = def(Op.TEQI, 'teqi', 's,i', 32);
regimm[14] = def(Op.TNEI, 'tnei', 's,i', 32);
regimm[16] = def(Op.BLTZAL, 'bltzal', 's,b');
regimm[17] = def(Op.BGEZAL, 'bgezal', 's,b');
regimm[18] = def(Op.BLTZALL, 'bltzall', 's,b', 32);
regimm[19] = def(Op.BGEZALL, 'bgezall', 's,b', 32);

major[2] = def(Op.J, 'j', 'j');
major[3] = def(Op.JAL, 'jal', 'j');
major[4] = def(Op.BEQ, 'beq', 's,t,b');
major[5] = def(Op.BNE, 'bne', 's,t,b');
major[6] = def(Op.BLEZ, 'blez', 's,b');
major[7] = def(Op.BGTZ, 'bgtz', 's,b');
major[8] = def(Op.ADDI, 'addi', 't,s,i');
major[9] = def(Op.ADDIU, 'addiu', 't,s,i');
major[10] = def(Op.SLTI, 'slti', 't,s,i');
major[11] = def(Op.SLTIU, 'sltiu', 't,s,i');
major[12] = def(Op.ANDI, 'andi', 't,s,u');
major[13] = def(Op.ORI, 'ori', 't,s,u');
major[14] = def(Op.XORI, 'xori', 't,s,u');
major[15] = def(Op.LUI, 'lui', 't,u');
major[20] = def(Op.BEQL, 'beql', 's,t,b', 32);
major[21] = def(Op.BNEL, 'bnel', 's,t,b', 32);
major[22] = def(Op.BLEZL, 'blezl', 's,b', 32);
major[23] = def(Op.BGTZL, 'bgtzl', 's,b', 32);
major[32] = def(Op.LB, 'lb', 't,m');
major[33] = def(Op.LH, 'lh', 't,m');
major[34] = def(Op.LWL, 'lwl', 't,m');
major[35] = def(Op.LW, 'lw', 't,m');
major[36] = def(Op.LBU, 'lbu', 't,m');
major[37] = def(Op.LHU, 'lhu', 't,m');
major[38] = def(Op.LWR, 'lwr', 't,m');
major[40] = def(Op.SB, 'sb', 't,m');
major[41] = def(Op.SH, 'sh', 't,m');
major[42] = def(Op.SWL, 'swl', 't,m');
major[43] = def(Op.SW, 'sw', 't,m');
major[46] = def(Op.SWR, 'swr', 't,m');
major[48] = def(Op.LL, 'll', 't,m', 32);
major[51] = def(Op.PREF, 'pref', 'hint,m', 32);
major[56] = def(Op.SC, 'sc', 't,m', 32);

special2[0] = def(Op.MADD, 'madd', 's,t', 32);
special2[1] = def(Op.MADDU, 'maddu', 's,t', 32);
special2[2] = def(Op.MUL, 'mul', 'd,s,t', 32);
special2[4] = def(Op.MSUB, 'msub', 's,t', 32);
special2[5] = def(Op.MSUBU, 'msubu', 's,t', 32);
special2[32] = def(Op.CLZ, 'clz', 'd,s', 32);
special2[33] = def(Op.CLO, 'clo', 'd,s', 32);

def(Op.ROTR, 'rotr', 'd,t,a', 32);
def(Op.ROTRV, 'rotrv', 'd,t,s', 32);
def(Op.EXT, 'ext', 't,s,ext', 32);
def(Op.INS, 'ins', 't,s,ins', 32);
def(Op.WSBH, 'wsbh', 'd,t', 32);
def(Op.SEB, 'seb', 'd,t', 32);
def(Op.SEH, 'seh', 'd,t', 32);

/** The operation of an instruction word under MIPS32 (every op we know). */
function decodeAny(w: number): Op {
  switch (w >>> 26) {
    case 0: {
      const f = w & 63;
      if (f === 2 && rsOf(w) === 1) return Op.ROTR;
      if (f === 6 && saOf(w) === 1) return Op.ROTRV;
      return special[f];
    }
    case 1:
      return regimm[rtOf(w)];
    case 28:
      return special2[w & 63];
    case 31:
      switch (w & 63) {
        case 0:
          return Op.EXT;
        case 4:
          return Op.INS;
        case 32:
          switch (saOf(w)) {
            case 2:
              return Op.WSBH;
            case 16:
              return Op.SEB;
            case 24:
              return Op.SEH;
          }
      }
      return Op.Illegal;
    default:
      return major[w >>> 26];
  }
}

/**
 * The operation of instruction word `w`. With `mips32` false the CPU is an
 * R3000: MIPS II/MIPS32 encodings are reserved instructions (Illegal), and
 * the rotate bits of srl/srlv are ignored as the R3000 ignores them.
 */
export function decodeOp(w: number, mips32: boolean): Op {
  const op = decodeAny(w);
  if (mips32 || info[op].level === 1) return op;
  if (op === Op.ROTR) return Op.SRL;
  if (op === Op.ROTRV) return Op.SRLV;
  return Op.Illegal;
}

export function opName(op: Op): string {
  return info[op].name;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** One line of assembly for `w` at address `pc`, e.g. "addiu sp,sp,-32". */
export function disassemble(w: number, pc: number, mips32 = true): string {
  const op = decodeOp(w, mips32);
  if (w === 0) return 'nop';
  if (op === Op.Illegal) return `.word ${hex(w)}`;
  const { name, format } = info[op];
  const s = regNames[rsOf(w)];
  const t = regNames[rtOf(w)];
  const d = regNames[rdOf(w)];
  const branch = hex(pc + 4 + (simmOf(w) << 2));
  let args: string;
  switch (format) {
    case 'd,s,t': args = `${d},${s},${t}`; break;
    case 'd,t,a': args = `${d},${t},${saOf(w)}`; break;
    case 'd,t,s': args = `${d},${t},${s}`; break;
    case 's': args = s; break;
    case 'd,s': args = `${d},${s}`; break;
    case 'd': args = d; break;
    case 'd,t': args = `${d},${t}`; break;
    case 's,t': args = `${s},${t}`; break;
    case 'code': args = ((w >>> 6) & 0xfffff) === 0 ? '' : String((w >>> 6) & 0xfffff); break;
    case 'none': args = ''; break;
    case 't,s,i': args = `${t},${s},${simmOf(w)}`; break;
    case 't,s,u': args = `${t},${s},${hex(uimmOf(w))}`; break;
    case 't,u': args = `${t},${hex(uimmOf(w))}`; break;
    case 's,t,b': args = `${s},${t},${branch}`; break;
    case 's,b': args = `${s},${branch}`; break;
    case 's,i': args = `${s},${simmOf(w)}`; break;
    case 'j': args = hex(((pc + 4) & 0xf0000000) | (targetOf(w) << 2)); break;
    case 't,m': args = `${t},${simmOf(w)}(${s})`; break;
    case 'hint,m': args = `${rtOf(w)},${simmOf(w)}(${s})`; break;
    case 't,s,ext': args = `${t},${s},${saOf(w)},${rdOf(w) + 1}`; break;
    case 't,s,ins': args = `${t},${s},${saOf(w)},${rdOf(w) - saOf(w) + 1}`; break;
  }
  return args ? `${name} ${args}` : name;
}
