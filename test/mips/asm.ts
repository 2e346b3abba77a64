// A tiny MIPS instruction encoder for the CPU tests: each function returns
// one instruction word, with registers given as numbers (see the names below).
export const zero = 0, at = 1, v0 = 2, v1 = 3, a0 = 4, a1 = 5, a2 = 6, a3 = 7;
export const t0 = 8, t1 = 9, t2 = 10, t3 = 11, t4 = 12, t5 = 13, t6 = 14, t7 = 15;
export const s0 = 16, s1 = 17, s2 = 18, s3 = 19, sp = 29, ra = 31;

const R = (funct: number, rs: number, rt: number, rd: number, sa = 0): number =>
  ((rs << 21) | (rt << 16) | (rd << 11) | (sa << 6) | funct) >>> 0;
const I = (op: number, rs: number, rt: number, imm: number): number =>
  ((op << 26) | (rs << 21) | (rt << 16) | (imm & 0xffff)) >>> 0;
const S2 = (funct: number, rs: number, rt: number, rd: number): number => (((28 << 26) | R(funct, rs, rt, rd)) >>> 0);
const S3 = (funct: number, rs: number, rt: number, rd: number, sa: number): number => (((31 << 26) | R(funct, rs, rt, rd, sa)) >>> 0);
const REGIMM = (code: number, rs: number, imm: number): number => I(1, rs, code, imm);

export const nop = 0;
export const sll = (rd: number, rt: number, sa: number) => R(0, 0, rt, rd, sa);
export const srl = (rd: number, rt: number, sa: number) => R(2, 0, rt, rd, sa);
export const rotr = (rd: number, rt: number, sa: number) => R(2, 1, rt, rd, sa);
export const sra = (rd: number, rt: number, sa: number) => R(3, 0, rt, rd, sa);
export const sllv = (rd: number, rt: number, rs: number) => R(4, rs, rt, rd);
export const srlv = (rd: number, rt: number, rs: number) => R(6, rs, rt, rd);
export const rotrv = (rd: number, rt: number, rs: number) => R(6, rs, rt, rd, 1);
export const srav = (rd: number, rt: number, rs: number) => R(7, rs, rt, rd);
export const jr = (rs: number) => R(8, rs, 0, 0);
export const jalr = (rd: number, rs: number) => R(9, rs, 0, rd);
export const movz = (rd: number, rs: number, rt: number) => R(10, rs, rt, rd);
export const movn = (rd: number, rs: number, rt: number) => R(11, rs, rt, rd);
export const syscall = R(12, 0, 0, 0);
export const brk = (code = 0) => ((code << 6) | 13) >>> 0;
export const sync = 15;
export const mfhi = (rd: number) => R(16, 0, 0, rd);
export const mthi = (rs: number) => R(17, rs, 0, 0);
export const mflo = (rd: number) => R(18, 0, 0, rd);
export const mtlo = (rs: number) => R(19, rs, 0, 0);
export const mult = (rs: number, rt: number) => R(24, rs, rt, 0);
export const multu = (rs: number, rt: number) => R(25, rs, rt, 0);
export const div = (rs: number, rt: number) => R(26, rs, rt, 0);
export const divu = (rs: number, rt: number) => R(27, rs, rt, 0);
export const add = (rd: number, rs: number, rt: number) => R(32, rs, rt, rd);
export const addu = (rd: number, rs: number, rt: number) => R(33, rs, rt, rd);
export const sub = (rd: number, rs: number, rt: number) => R(34, rs, rt, rd);
export const subu = (rd: number, rs: number, rt: number) => R(35, rs, rt, rd);
export const and = (rd: number, rs: number, rt: number) => R(36, rs, rt, rd);
export const or = (rd: number, rs: number, rt: number) => R(37, rs, rt, rd);
export const xor = (rd: number, rs: number, rt: number) => R(38, rs, rt, rd);
export const nor = (rd: number, rs: number, rt: number) => R(39, rs, rt, rd);
export const slt = (rd: number, rs: number, rt: number) => R(42, rs, rt, rd);
export const sltu = (rd: number, rs: number, rt: number) => R(43, rs, rt, rd);
export const tge = (rs: number, rt: number) => R(48, rs, rt, 0);
export const tgeu = (rs: number, rt: number) => R(49, rs, rt, 0);
export const tlt = (rs: number, rt: number) => R(50, rs, rt, 0);
export const tltu = (rs: number, rt: number) => R(51, rs, rt, 0);
export const teq = (rs: number, rt: number) => R(52, rs, rt, 0);
export const tne = (rs: number, rt: number) => R(54, rs, rt, 0);

export const bltz = (rs: number, off: number) => REGIMM(0, rs, off);
export const bgez = (rs: number, off: number) => REGIMM(1, rs, off);
export const bltzl = (rs: number, off: number) => REGIMM(2, rs, off);
export const bgezl = (rs: number, off: number) => REGIMM(3, rs, off);
export const tgei = (rs: number, imm: number) => REGIMM(8, rs, imm);
export const tgeiu = (rs: number, imm: number) => REGIMM(9, rs, imm);
export const tlti = (rs: number, imm: number) => REGIMM(10, rs, imm);
export const tltiu = (rs: number, imm: number) => REGIMM(11, rs, imm);
export const teqi = (rs: number, imm: number) => REGIMM(12, rs, imm);
export const tnei = (rs: number, imm: number) => REGIMM(14, rs, imm);
export const bltzal = (rs: number, off: number) => REGIMM(16, rs, off);
export const bgezal = (rs: number, off: number) => REGIMM(17, rs, off);
export const bltzall = (rs: number, off: number) => REGIMM(18, rs, off);
export const bgezall = (rs: number, off: number) => REGIMM(19, rs, off);

/** Jumps take a byte address; only its low 28 bits are encoded. */
export const j = (addr: number) => ((2 << 26) | ((addr >>> 2) & 0x3ffffff)) >>> 0;
export const jal = (addr: number) => ((3 << 26) | ((addr >>> 2) & 0x3ffffff)) >>> 0;
/** Branch offsets are in instructions, relative to the delay slot. */
export const beq = (rs: number, rt: number, off: number) => I(4, rs, rt, off);
export const bne = (rs: number, rt: number, off: number) => I(5, rs, rt, off);
export const blez = (rs: number, off: number) => I(6, rs, 0, off);
export const bgtz = (rs: number, off: number) => I(7, rs, 0, off);
export const addi = (rt: number, rs: number, imm: number) => I(8, rs, rt, imm);
export const addiu = (rt: number, rs: number, imm: number) => I(9, rs, rt, imm);
export const slti = (rt: number, rs: number, imm: number) => I(10, rs, rt, imm);
export const sltiu = (rt: number, rs: number, imm: number) => I(11, rs, rt, imm);
export const andi = (rt: number, rs: number, imm: number) => I(12, rs, rt, imm);
export const ori = (rt: number, rs: number, imm: number) => I(13, rs, rt, imm);
export const xori = (rt: number, rs: number, imm: number) => I(14, rs, rt, imm);
export const lui = (rt: number, imm: number) => I(15, 0, rt, imm);
export const beql = (rs: number, rt: number, off: number) => I(20, rs, rt, off);
export const bnel = (rs: number, rt: number, off: number) => I(21, rs, rt, off);
export const blezl = (rs: number, off: number) => I(22, rs, 0, off);
export const bgtzl = (rs: number, off: number) => I(23, rs, 0, off);
export const lb = (rt: number, off: number, base: number) => I(32, base, rt, off);
export const lh = (rt: number, off: number, base: number) => I(33, base, rt, off);
export const lwl = (rt: number, off: number, base: number) => I(34, base, rt, off);
export const lw = (rt: number, off: number, base: number) => I(35, base, rt, off);
export const lbu = (rt: number, off: number, base: number) => I(36, base, rt, off);
export const lhu = (rt: number, off: number, base: number) => I(37, base, rt, off);
export const lwr = (rt: number, off: number, base: number) => I(38, base, rt, off);
export const sb = (rt: number, off: number, base: number) => I(40, base, rt, off);
export const sh = (rt: number, off: number, base: number) => I(41, base, rt, off);
export const swl = (rt: number, off: number, base: number) => I(42, base, rt, off);
export const sw = (rt: number, off: number, base: number) => I(43, base, rt, off);
export const swr = (rt: number, off: number, base: number) => I(46, base, rt, off);
export const ll = (rt: number, off: number, base: number) => I(48, base, rt, off);
export const pref = (hint: number, off: number, base: number) => I(51, base, hint, off);
export const sc = (rt: number, off: number, base: number) => I(56, base, rt, off);

export const madd = (rs: number, rt: number) => S2(0, rs, rt, 0);
export const maddu = (rs: number, rt: number) => S2(1, rs, rt, 0);
export const mul = (rd: number, rs: number, rt: number) => S2(2, rs, rt, rd);
export const msub = (rs: number, rt: number) => S2(4, rs, rt, 0);
export const msubu = (rs: number, rt: number) => S2(5, rs, rt, 0);
export const clz = (rd: number, rs: number) => S2(32, rs, rd, rd);
export const clo = (rd: number, rs: number) => S2(33, rs, rd, rd);
export const ext = (rt: number, rs: number, pos: number, size: number) => S3(0, rs, rt, size - 1, pos);
export const ins = (rt: number, rs: number, pos: number, size: number) => S3(4, rs, rt, pos + size - 1, pos);
export const wsbh = (rd: number, rt: number) => S3(32, 0, rt, rd, 2);
export const seb = (rd: number, rt: number) => S3(32, 0, rt, rd, 16);
export const seh = (rd: number, rt: number) => S3(32, 0, rt, rd, 24);

/** Loads a 32-bit constant in two instructions (lui + ori). */
export const li = (rt: number, value: number): number[] => [lui(rt, value >>> 16), ori(rt, rt, value & 0xffff)];
