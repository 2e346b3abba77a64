// The Nachos test programs on the whole machine: exit values, console
// output, Exec/Join, Fork/Yield, files, timer preemption.
import { describe, expect, it } from 'vitest';
import { MemoryFileSystem } from '../../src/mips/kernel/guestFs.js';
import { expectedSortStatus, guestFile, runGuest, type Flavour } from './guest.js';

const nachos: Flavour[] = ['nachos-mips1', 'nachos-mips32'];

describe.each(nachos)('Nachos programs (%s)', (flavour) => {
  it('halt stops the machine at once', async () => {
    const { result, out } = await runGuest('halt', flavour);
    expect(result.reason).toBe('halt');
    expect(result.exitStatus).toBe(0);
    expect(out).toBe('');
    // A handful of user instructions, one system call, one page fault for the stack.
    expect(result.stats.userTicks).toBeGreaterThan(3);
    expect(result.stats.userTicks).toBeLessThan(20);
    expect(result.stats.numPageFaults).toBe(1);
    expect(result.stats.totalTicks).toBe(result.stats.userTicks + result.stats.systemTicks + result.stats.idleTicks);
  });

  it('matmult exits with C[19][19] = 7220', async () => {
    const { result } = await runGuest('matmult', flavour);
    expect(result).toMatchObject({ reason: 'exit', exitStatus: 7220, fault: null });
    expect(result.stats.userTicks).toBeGreaterThan(20 * 20 * 20 * 5);
  });

  it('sort exits with the checksum its source computes', async () => {
    const { result } = await runGuest('sort', flavour);
    expect(result.exitStatus).toBe(expectedSortStatus());
  });

  it('the shell echoes piped input, runs programs, and exits', async () => {
    const { out, result } = await runGuest('shell', flavour, { input: 'hello world\nrun matmult\nrun nosuch\nexit\n' });
    expect(out).toBe('--> hello world\n--> exit status 7220\n--> no such program: nosuch\n--> ');
    expect(result.exitStatus).toBe(0);
    expect(result.stats.numConsoleCharsRead).toBe('hello world\nrun matmult\nrun nosuch\nexit\n'.length);
    expect(result.stats.numConsoleCharsWritten).toBe(out.length);
  });

  it('the shell ends at end of input', async () => {
    const { out, result } = await runGuest('shell', flavour, { input: 'abc' });
    expect(out).toBe('--> abc\n--> \n');
    expect(result.exitStatus).toBe(1);
  });

  it('exec runs two programs at once and joins both', async () => {
    const { out, result } = await runGuest('exec', flavour);
    expect(out).toBe(`matmult 7220\nsort ${expectedSortStatus()}\njoin again -1\n`);
    expect(result.exitStatus).toBe(0);
  });

  it('fork: two threads of one program alternate through Yield', async () => {
    // Timer off: only Yield switches threads (the timer could preempt between n's load and store).
    const { out, result } = await runGuest('fork', flavour, { timer: 'off' });
    expect(out).toBe('ababababab\n');
    expect(result.exitStatus).toBe(11);
  });

  it('files: Create, Open, Write, Close, Read through the guest file system', async () => {
    const fs = new MemoryFileSystem();
    const { out, result } = await runGuest('files', flavour, { fs });
    expect(out).toBe('hello, file\nread 12\nmissing -1\n');
    expect(result.exitStatus).toBe(0);
    expect(Buffer.from(fs.files.get('note.txt')!).toString()).toBe('hello, file\n');
  });
});

describe('timer preemption', () => {
  it('with the timer, the parent prints while the CPU-bound loop still runs', async () => {
    const { out, result } = await runGuest('preempt', 'nachos-mips1');
    expect(out).toBe('parent 0\nparent 1\nparent 2\nparent 3\nparent 4\nloop done\nloop exit 33\n');
    expect(result.exitStatus).toBe(0);
  });

  it('without it, the loop keeps the CPU once it has it', async () => {
    const { out } = await runGuest('preempt', 'nachos-mips1', { timer: 'off' });
    // The parent's first Write finishes (interrupt-driven) while loop runs, but the parent only
    // gets the CPU back when loop blocks on its own output.
    expect(out.indexOf('loop done')).toBeLessThan(out.indexOf('parent 1'));
    expect(out).toContain('parent 4\n');
  });

  it('the seeded random timer preempts too', async () => {
    const { out } = await runGuest('preempt', 'nachos-mips1', { timer: 'random', seed: 7 });
    expect(out).toBe('parent 0\nparent 1\nparent 2\nparent 3\nparent 4\nloop done\nloop exit 33\n');
  });
});

describe('programs that need more than is there', () => {
  it('Exec of a file that is not an executable fails with -1 and a message', async () => {
    const fs = new MemoryFileSystem({ matmult: 'not an executable', sort: guestFile('sort') });
    const { out, result, messages } = await runGuest('exec', 'nachos-mips1', { fs });
    expect(out).toBe('exec failed\n');
    expect(result.exitStatus).toBe(2);
    expect(messages).toEqual(['Exec: matmult: not a MIPS executable (neither ELF nor Nachos NOFF)']);
  });

  it('a program too big for physical memory is refused at load', async () => {
    await expect(runGuest('matmult', 'nachos-mips1', { memSize: 4096 })).rejects.toThrow('matmult: needs 2 pages of memory, 1 are free');
  });

  it('a program whose stack finds no free page is stopped', async () => {
    const { result } = await runGuest('matmult', 'nachos-mips1', { memSize: 8192 });
    expect(result.exitStatus).toBe(-1);
    expect(result.fault?.message).toBe('matmult (pid 1) stopped: out of physical memory (all 2 pages in use)');
  });
});

describe('software-managed TLB', () => {
  it.each(['matmult', 'preempt', 'fork'])('%s gives the same results through a 4-entry TLB the kernel refills', async (name) => {
    const opts = { timer: 'off' as const };
    const plain = await runGuest(name, 'nachos-mips1', opts);
    const tlb = await runGuest(name, 'nachos-mips1', { ...opts, tlbSize: 4 });
    expect(tlb.out).toBe(plain.out);
    expect(tlb.result.exitStatus).toBe(plain.result.exitStatus);
    expect(plain.result.stats.numTlbMisses).toBe(0);
    expect(tlb.result.stats.numTlbMisses).toBeGreaterThan(2);
    expect(tlb.result.stats.numPageFaults).toBe(plain.result.stats.numPageFaults);
    // Each miss re-executes its instruction; a miss that is also a page fault re-executed it anyway.
    const { numTlbMisses, numPageFaults } = tlb.result.stats;
    expect(tlb.result.stats.userTicks).toBe(plain.result.stats.userTicks + numTlbMisses - numPageFaults);
  });

  it('a wild pointer through the TLB is still named an address error', async () => {
    const { result } = await runGuest('wild', 'nachos-mips1', { tlbSize: 4 });
    expect(result.fault?.message).toMatch(/address error at pc 0x[0-9a-f]{8} \(bad address 0x7fff0000\)$/);
  });
});
