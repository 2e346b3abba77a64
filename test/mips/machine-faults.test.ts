// Misbehaving guests: each is stopped with a message naming the exception
// and the PC, the machine ends normally, and the host goes on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { MemoryFileSystem } from '../../src/mips/kernel/guestFs.js';
import { NoffHeader, NoffMagic } from '../../src/mips/loader/noff.js';
import { Machine } from '../../src/mips/machine.js';
import { guestFile, runGuest, type Flavour } from './guest.js';

const cases: [string, ExceptionType, RegExp][] = [
  ['illegal', ExceptionType.IllegalInstr, /^illegal \(pid 1\) stopped: illegal instruction at pc 0x[0-9a-f]{8}$/],
  ['misaligned', ExceptionType.AddressError, /^misaligned \(pid 1\) stopped: address error at pc 0x[0-9a-f]{8} \(bad address 0x[0-9a-f]{7}[13579bdf]\)$/],
  ['wild', ExceptionType.AddressError, /^wild \(pid 1\) stopped: address error at pc 0x[0-9a-f]{8} \(bad address 0x7fff0000\)$/],
  ['divzero', ExceptionType.Break, /^divzero \(pid 1\) stopped: breakpoint \(code 7: division by zero\) at pc 0x[0-9a-f]{8}$/],
];

describe.each(['nachos-mips1', 'nachos-mips32'] as Flavour[])('misbehaving programs (%s)', (flavour) => {
  it.each(cases)('%s is stopped with the exception and the PC', async (name, type, message) => {
    const { out, result, messages, machine } = await runGuest(name, flavour);
    expect(out).toMatch(/^about to .*\n$/); // it ran up to the bad instruction, and no further
    expect(result.reason).toBe('exit');
    expect(result.exitStatus).toBe(-1);
    expect(result.fault?.type).toBe(type);
    expect(result.fault?.message).toMatch(message);
    expect(messages).toEqual([result.fault?.message]);
    // The PC in the message is the faulting instruction's: the word there is what the fault says.
    const pc = result.fault!.pc;
    expect(result.fault!.message).toContain(`pc 0x${pc.toString(16).padStart(8, '0')}`);
    const file = guestFile(name, flavour);
    expect(file.length).toBeGreaterThan(0);
    // Every frame went back to the allocator.
    expect(machine.kernel.frames.freeFrames).toBe(machine.kernel.frames.numFrames);
  });
});

describe('a faulting child does not take its parent down', () => {
  it('the shell reports the child status -1 and carries on', async () => {
    const { out, result, messages } = await runGuest('shell', 'nachos-mips1', { input: 'run divzero\nrun matmult\nexit\n' });
    expect(out).toBe('--> about to divide by zero\nexit status -1\n--> exit status 7220\n--> ');
    expect(result.exitStatus).toBe(0);
    expect(result.fault).toBeNull();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^divzero \(pid 2\) stopped: breakpoint \(code 7: division by zero\) at pc/);
  });

  it('a program that is not an executable cannot take down the kernel either', async () => {
    const fs = new MemoryFileSystem({ junk: new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), matmult: guestFile('matmult') });
    const { out, messages } = await runGuest('shell', 'nachos-mips1', { input: 'run junk\nrun matmult\n', fs });
    expect(out).toBe('--> no such program: junk\n--> exit status 7220\n--> \n');
    expect(messages).toEqual(['Exec: junk: not an ELF file']);
  });
});

describe('the wrong ABI', () => {
  it('a Linux program under the Nachos ABI is stopped at its first call, with a hint', async () => {
    const { result } = await runGuest('arith', 'linux-mips1', { abi: 'nachos' });
    expect(result.fault?.message).toMatch(/^arith \(pid 1\) stopped: unknown system call 4004 at pc 0x004[0-9a-f]{5} \(a Linux program\? run it with --abi linux\)$/);
  });

  it('a Nachos program under the Linux ABI is stopped, not left looping', async () => {
    const { result } = await runGuest('halt', 'nachos-mips1', { abi: 'linux' });
    expect(result.fault?.message).toMatch(/^halt \(pid 1\) stopped: system call 0 at pc 0x[0-9a-f]{8} is not a Linux o32 call \(a Nachos program\? run it with --abi nachos\)$/);
  });
});

describe('random code never harms the host', () => {
  it('random instruction words, under either ABI: the machine ends or runs out of ticks, never throws', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 64 }),
        fc.constantFrom('nachos' as const, 'linux' as const),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 4 }),
        async (words, abi, syscallCodes) => {
          // Sprinkle in system calls with random codes, after loading v0 with a random number.
          const code = [...words];
          syscallCodes.forEach((c, i) => code.splice((i * 7) % (code.length + 1), 0, 0x24020000 | c, 0x0000000c));
          const body = new Uint8Array(new Uint32Array(code).buffer);
          const header = NoffHeader.encode({
            magic: NoffMagic,
            codeVirtualAddr: 0,
            codeInFileAddr: NoffHeader.size,
            codeSize: body.length,
            initDataVirtualAddr: 0,
            initDataInFileAddr: 0,
            initDataSize: 0,
            uninitDataVirtualAddr: body.length,
            uninitDataInFileAddr: 0,
            uninitDataSize: 4096,
          });
          const file = new Uint8Array(header.length + body.length);
          file.set(header);
          file.set(body, header.length);
          const m = new Machine({ abi, memSize: 1 << 20, input: 'some input', fs: new MemoryFileSystem() });
          m.load(file, 'random');
          const r = await m.run({ maxTicks: 20_000 });
          expect(['halt', 'exit', 'deadlock', 'limit']).toContain(r.reason);
          expect(r.stats.totalTicks).toBe(r.stats.userTicks + r.stats.systemTicks + r.stats.idleTicks);
          if (r.reason === 'exit') expect(m.kernel.frames.freeFrames).toBe(m.kernel.frames.numFrames);
        },
      ),
      { numRuns: 150 },
    );
  });
});
