// Kernel details on small hand-assembled programs (wrapped as NOFF files):
// system call results and errors of both ABIs, thread return, and the
// pieces under the kernel: frames, address spaces, the host-folder file system.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { AddressSpace } from '../../src/mips/kernel/addrSpace.js';
import { FrameAllocator, OutOfMemory } from '../../src/mips/kernel/frames.js';
import { MaxThreads } from '../../src/mips/kernel/layout.js';
import { MemoryFileSystem } from '../../src/mips/kernel/guestFs.js';
import { HostFolderFileSystem } from '../../src/mips/kernel/hostFs.js';
import { loadProgram } from '../../src/mips/loader/index.js';
import { NoffHeader, NoffMagic } from '../../src/mips/loader/noff.js';
import { Machine, type MachineOptions } from '../../src/mips/machine.js';
import { PhysicalMemory } from '../../src/mips/memory.js';
import { Mmu } from '../../src/mips/mmu.js';
import { a0, a1, a2, a3, addiu, addu, bne, j, jal, jr, lui, lw, nop, or, ra, s0, s1, s2, sltu, subu, sw, syscall, t0, t1, t2, v0, zero } from './asm.js';
import { guestFile } from './guest.js';

/** A NOFF file whose code is `words`, loaded at 0, with `bss` zero bytes after it. */
function noff(words: number[], bss = 0): Uint8Array {
  const code = new Uint8Array(new Uint32Array(words).buffer);
  const header = NoffHeader.encode({
    magic: NoffMagic,
    codeVirtualAddr: 0,
    codeInFileAddr: NoffHeader.size,
    codeSize: code.length,
    initDataVirtualAddr: 0,
    initDataInFileAddr: 0,
    initDataSize: 0,
    uninitDataVirtualAddr: code.length,
    uninitDataInFileAddr: 0,
    uninitDataSize: bss,
  });
  const out = new Uint8Array(header.length + code.length);
  out.set(header);
  out.set(code, header.length);
  return out;
}

async function run(words: number[], opts: MachineOptions = {}) {
  const messages: string[] = [];
  const m = new Machine({ timer: 'off', onMessage: (x) => messages.push(x), ...opts });
  m.load(noff(words), 'tiny');
  return { result: await m.run({ maxTicks: 1e6 }), messages, m };
}

const li = (r: number, v: number) => addiu(r, zero, v);

describe('Nachos system calls', () => {
  it('bad arguments make a call return -1', async () => {
    const { result } = await run([
      lui(a0, 0x7000), li(a1, 4), li(a2, 1), li(v0, 7), syscall, // Write from a wild pointer
      addu(s0, v0, zero),
      li(a0, 0), li(a1, -1), li(a2, 0), li(v0, 6), syscall, // Read of a negative size
      addu(s0, s0, v0),
      li(a0, 77), li(v0, 3), syscall, // Join on no such program
      addu(s0, s0, v0),
      li(a0, 9), li(v0, 8), syscall, // Close of an id never opened
      addu(a0, s0, v0), li(v0, 1), syscall, // Exit(sum)
    ]);
    expect(result.exitStatus).toBe(-4);
    expect(result.fault).toBeNull();
  });

  it('an unknown system call stops the program, naming the call and its PC', async () => {
    const { result, messages } = await run([nop, li(v0, 99), syscall]);
    expect(result.fault?.type).toBe(ExceptionType.IllegalInstr);
    expect(messages).toEqual(['tiny (pid 1) stopped: unknown system call 99 at pc 0x00000008']);
  });

  it('a forked thread that returns from its function ends; the program goes on', async () => {
    const fn = 4 * 12;
    const { result, messages } = await run([
      li(a0, fn), li(v0, 9), syscall, // Fork(fn)
      li(v0, 10), syscall, // Yield: fn runs and returns
      li(v0, 10), syscall,
      li(a0, 7), li(v0, 1), syscall, // Exit(7)
      nop, nop,
      /* fn: */ jr(ra), li(v0, 5),
    ]);
    expect(messages).toEqual([]);
    expect(result.exitStatus).toBe(7);
  });

  it('a fork bomb meets -1 at the thread limit, not the host memory limit', async () => {
    const fn = 4 * 13;
    const { result } = await run([
      addu(s0, zero, zero),
      /* 1: */ li(a0, fn), li(v0, 9), syscall, // Fork(fn)
      bne(v0, zero, 3), nop, // -1: done
      j(4), addiu(s0, s0, 1), // count it, fork again
      /* 8: */ li(v0, 10), syscall, // Yield: every thread runs and exits
      addu(a0, s0, zero), li(v0, 1), syscall, // Exit(count), the last thread to end
      /* fn: */ li(a0, 0), li(v0, 1), syscall,
    ]);
    expect(result.exitStatus).toBe(MaxThreads - 1);
  });

  it('Halt with other programs still running stops everything', async () => {
    const { result } = await run([li(v0, 0), syscall, jal(0), nop]);
    expect(result.reason).toBe('halt');
    expect(result.exitStatus).toBe(0);
  });
});

describe('deadlock', () => {
  it('two programs joining each other: the machine stops and says so', async () => {
    const child = noff([li(a0, 1), li(v0, 3), syscall, li(v0, 1), syscall]); // Join(1)
    const fs = new MemoryFileSystem({ child });
    const { result, messages } = await run(
      [
        addiu(a0, zero, 4 * 8), li(v0, 2), syscall, // Exec("child"), the name just after the code
        addu(a0, v0, zero), li(v0, 3), syscall, // Join(it)
        li(v0, 1), syscall,
        0x6c696863, 0x00000064, // "child\0"
      ],
      { fs, timer: 'periodic' },
    );
    expect(result.reason).toBe('deadlock');
    expect(result.exitStatus).toBeNull();
    expect(messages).toEqual(['machine stopped: every thread is waiting and no device will interrupt']);
  });
});

describe('Linux system calls', () => {
  it('errors come back as errno in r2 with r7 set', async () => {
    const { result } = await run(
      [
        li(a0, 5), li(a1, 0), li(a2, 1), li(v0, 4004), syscall, // write(5, ...) -> EBADF
        addu(s0, v0, zero), addu(s1, a3, zero),
        li(v0, 4999), syscall, // no such call -> ENOSYS
        addu(s2, v0, zero),
        addu(a0, s0, s2), addu(a0, a0, s1), li(v0, 4246), syscall, // exit_group(9 + 89 + 1)
      ],
      { abi: 'linux' },
    );
    expect(result.exitStatus).toBe(99);
  });

  it('brk grows the heap in zero-filled pages and never shrinks below its start', async () => {
    const { result } = await run(
      [
        li(a0, 0), li(v0, 4045), syscall, addu(s0, v0, zero), // base = brk(0)
        addiu(a0, s0, 0x3000), li(v0, 4045), syscall, addu(s1, v0, zero), // top = brk(base + 0x3000)
        li(a0, 16), li(v0, 4045), syscall, addu(s2, v0, zero), // brk(16): refused, still top
        sw(s0, -4, s1), lw(t0, -4, s1), nop, // the new memory is there
        subu(t0, t0, s0), subu(t1, s2, s1), subu(t2, s1, s0), addiu(t2, t2, -0x3000),
        or(a0, t0, t1), or(a0, a0, t2), sltu(a0, zero, a0), // 1 if anything differed
        addiu(a0, a0, 40), li(v0, 4246), syscall, // exit_group(40 if all held)
      ],
      { abi: 'linux' },
    );
    expect(result.fault).toBeNull();
    expect(result.exitStatus).toBe(40);
    expect(result.stats.numPageFaults).toBe(1);
  });

});

describe('frames', () => {
  it('hands out the lowest free frame and reports exhaustion', () => {
    const f = new FrameAllocator(3);
    expect([f.allocate(), f.allocate(), f.allocate()]).toEqual([0, 1, 2]);
    expect(() => f.allocate()).toThrow(new OutOfMemory('out of physical memory (all 3 pages in use)'));
    f.release(1);
    f.release(0);
    expect(f.allocate()).toBe(0);
    expect(() => f.release(2) || f.release(2)).toThrow('frame 2 released twice');
    const saved = f.save();
    const g = new FrameAllocator(3);
    g.restore(saved);
    expect(g.freeFrames).toBe(f.freeFrames);
    expect(g.allocate()).toBe(1);
  });
});

describe('address spaces', () => {
  it('text pages of a Linux build are read-only, data and stack writable, the gap before text wild', () => {
    const mmu = new Mmu(new PhysicalMemory(1 << 20));
    const frames = new FrameAllocator(mmu.numPhysPages);
    const space = new AddressSpace(mmu, frames);
    const image = loadProgram(guestFile('arith', 'linux-mips1'), 'arith');
    space.load(image, 4, 'arith');
    const text = image.segments[0].vaddr;
    expect(space.pageTable[text >>> 12].readOnly).toBe(true);
    expect(space.writeBytes(text, new Uint8Array([1]))).toBe(false);
    expect(space.readWord(image.entry)).not.toBeNull();
    expect(space.readWord(0x1000)).toBeNull(); // below the image: nothing there
    expect(space.writeBytes(space.stackTop - 4, new Uint8Array([1, 2, 3, 4]))).toBe(true);
    expect(space.readWord(space.stackTop - 4)).toBe(0x04030201);
    space.release();
    expect(frames.freeFrames).toBe(frames.numFrames);
  });
});

describe('host folder file system', () => {
  it('reads and writes inside the folder and nothing outside it', () => {
    const root = mkdtempSync(join(tmpdir(), 'vmfs-guestfs-'));
    const outside = mkdtempSync(join(tmpdir(), 'vmfs-outside-'));
    writeFileSync(join(outside, 'secret'), 'secret');
    mkdirSync(join(root, 'sub'));
    symlinkSync(join(outside, 'secret'), join(root, 'link'));
    symlinkSync(outside, join(root, 'dirlink'));
    const fs = new HostFolderFileSystem(root);
    expect(fs.create('sub/a.txt')).toBe(true);
    expect(fs.write('sub/a.txt', 3, new TextEncoder().encode('xyz'))).toBe(3);
    expect(Array.from(fs.read('sub/a.txt', 0, 100))).toEqual([0, 0, 0, 120, 121, 122]);
    for (const name of ['../x', '/etc/passwd', 'sub/../../x', 'link', 'dirlink/secret', '', 'a\0b']) {
      expect(fs.open(name)).toBe(false);
      expect(fs.create(name)).toBe(false);
      expect(fs.read(name, 0, 10)).toEqual(new Uint8Array(0));
      expect(fs.write(name, 0, new Uint8Array(1))).toBe(-1);
    }
    expect(fs.open('missing')).toBe(false);
    expect(() => new HostFolderFileSystem(join(root, 'nope'))).toThrow(`--root ${join(root, 'nope')}: no such folder`);
  });
});
