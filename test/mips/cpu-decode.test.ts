// The decoder's opcode table and the disassembler used by --trace, and the
// trace hook itself.
import { describe, expect, it } from 'vitest';
import { decodeOp, disassemble, Op } from '../../src/mips/decode.js';
import * as A from './asm.js';
import { exec } from './cpu-harness.js';

describe('decoder and disassembler', () => {
  it.each([
    [A.addiu(A.sp, A.sp, -32), 0, 'addiu sp,sp,-32'],
    [A.lw(A.ra, 28, A.sp), 0, 'lw ra,28(sp)'],
    [A.sll(A.t0, A.t1, 2), 0, 'sll t0,t1,2'],
    [A.beq(A.a0, A.a1, -2), 0x100, 'beq a0,a1,0xfc'],
    [A.jal(0x400110), 0x400230, 'jal 0x400110'],
    [A.lui(A.v0, 0x8000), 0, 'lui v0,0x8000'],
    [A.syscall, 0, 'syscall'],
    [A.brk(7), 0, 'break 7'],
    [A.mult(A.a2, A.a1), 0, 'mult a2,a1'],
    [A.ext(A.t0, A.t1, 4, 8), 0, 'ext t0,t1,4,8'],
    [A.ins(A.t0, A.t1, 4, 8), 0, 'ins t0,t1,4,8'],
    [A.seb(A.v0, A.a0), 0, 'seb v0,a0'],
    [A.rotr(A.v0, A.a0, 3), 0, 'rotr v0,a0,3'],
    [0, 0, 'nop'],
    [0xfc000000, 0, '.word 0xfc000000'],
  ])('%s at %s is "%s"', (w, pc, text) => {
    expect(disassemble(w, pc)).toBe(text);
  });

  it('decodes MIPS32 encodings as illegal on an R3000, and srl with the rotate bit as srl', () => {
    expect(decodeOp(A.mul(1, 2, 3), true)).toBe(Op.MUL);
    expect(decodeOp(A.mul(1, 2, 3), false)).toBe(Op.Illegal);
    expect(decodeOp(A.rotr(1, 2, 3), false)).toBe(Op.SRL);
    expect(decodeOp(A.rotrv(1, 2, 3), false)).toBe(Op.SRLV);
    expect(decodeOp(A.addu(1, 2, 3), false)).toBe(Op.ADDU);
  });

  it('trace sees every instruction with its address and text', () => {
    const seen: string[] = [];
    const m = exec([], { budget: 0 });
    [A.addiu(A.t0, 0, 2), A.bne(A.t0, 0, 2), A.nop, A.nop, A.syscall].forEach((w, i) => (m.mem.i32[i] = w));
    m.cpu.trace = (pc, w, text) => seen.push(`${pc.toString(16)} ${(w >>> 0).toString(16)} ${text}`);
    expect(m.cpu.run(100)).toBe(4);
    expect(seen).toEqual(['0 24080002 addiu t0,zero,2', '4 15000002 bne t0,zero,0x10', '8 0 nop', '10 c syscall']);
  });
});
