// Determinism and snapshots: the same program, input and seed give the same
// output and tick counts; a machine saved mid-run and restored into a fresh
// one finishes exactly as the uninterrupted run does.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StreamInput } from '../../src/mips/console.js';
import { Machine } from '../../src/mips/machine.js';
import { HostFolderFileSystem } from '../../src/mips/kernel/hostFs.js';
import { binDir, guestMachine, runGuest } from './guest.js';

describe('determinism', () => {
  it.each([
    ['exec', undefined],
    ['preempt', 3],
    ['shell', 11],
  ] as const)('%s twice with the same seed: same output, same ticks', async (name, seed) => {
    const opts = { timer: seed === undefined ? ('periodic' as const) : ('random' as const), seed, input: 'one\nrun matmult\ntwo\n' };
    const a = await runGuest(name, 'nachos-mips1', opts);
    const b = await runGuest(name, 'nachos-mips1', opts);
    expect(a.out.length).toBeGreaterThan(0);
    expect(b.out).toBe(a.out);
    expect(b.result).toEqual(a.result);
    expect(a.result.stats.totalTicks).toBe(a.result.stats.userTicks + a.result.stats.systemTicks + a.result.stats.idleTicks);
  });

  it('the interpreter and the block compiler give the same ticks', async () => {
    const opts = { timer: 'random' as const, seed: 6, input: 'hi\nrun matmult\nrun fork\n' };
    const a = await runGuest('shell', 'nachos-mips32', { ...opts, jit: false });
    const b = await runGuest('shell', 'nachos-mips32', { ...opts, jit: true });
    expect(a.out).toMatch(/^--> hi\n--> exit status 7220\n--> [ab]+\nexit status 11\n--> \n$/);
    expect(b.out).toBe(a.out);
    expect(b.result.stats).toEqual(a.result.stats);
  });
});

describe('snapshots', () => {
  it.each([1_000, 150_000, 700_000])('saved after %i ticks and restored, a run ends as if never stopped', async (at) => {
    const opts = { timer: 'random' as const, seed: 5 };
    const whole = await runGuest('preempt', 'nachos-mips1', opts);

    const first = guestMachine('preempt', 'nachos-mips1', opts);
    const stopped = await first.machine.run({ maxTicks: at });
    expect(stopped.reason).toBe('limit');
    const state = structuredClone(first.machine.save()); // plain data: survives a structured clone

    let rest = '';
    const second = new Machine({
      abi: 'nachos',
      fs: new HostFolderFileSystem(binDir('nachos-mips1')),
      output: (b) => (rest += String.fromCharCode(b)),
      ...opts,
    });
    second.restore(state);
    const end = await second.run();
    expect(first.output() + rest).toBe(whole.out);
    expect(end).toEqual(whole.result);
  });
});

describe('restoring into a different machine', () => {
  it.each([
    [{ memSize: 8 << 20 }, 'saved memory is 16777216 bytes, this machine has 8388608'],
    [{ timer: 'off' as const }, "the saved machine's timer is periodic every 100 ticks, this one's off every 100"],
    [{ abi: 'linux' as const }, 'the saved machine runs the nachos ABI, this one linux'],
  ])('is refused: %j', async (opts, message) => {
    const { machine } = guestMachine('halt');
    const state = machine.save();
    expect(() => new Machine(opts).restore(state)).toThrow(message);
  });

  it('and into a machine that already has a program', () => {
    const { machine } = guestMachine('halt');
    expect(() => guestMachine('halt').machine.restore(machine.save())).toThrow('restore into a fresh machine (this one has a program loaded)');
  });
});

describe('stopping a machine that waits for typed input', () => {
  it('stop() ends run() at once; saved and restored with the rest of the input, it ends as an uninterrupted run', async () => {
    const whole = await runGuest('shell', 'nachos-mips1', { input: 'hello\nexit\n' });

    const typed = new PassThrough();
    const input = new StreamInput(typed);
    const first = guestMachine('shell', 'nachos-mips1', { input });
    typed.write('hello\n');
    const running = first.machine.run();
    for (let i = 0; i < 500 && first.output() !== '--> hello\n--> '; i++) await new Promise((r) => setTimeout(r, 10));
    expect(first.output()).toBe('--> hello\n--> ');
    first.machine.stop();
    expect((await running).reason).toBe('stopped');
    const state = first.machine.save();
    input.close();

    let rest = '';
    const resumed = new Machine({ input: 'exit\n', output: (b) => (rest += String.fromCharCode(b)), fs: new HostFolderFileSystem(binDir('nachos-mips1')) });
    resumed.restore(state);
    const end = await resumed.run();
    expect(first.output() + rest).toBe(whole.out);
    expect(end).toEqual(whole.result);
  });
});

describe('snapshots with a TLB', () => {
  it('the TLB contents survive save and restore', async () => {
    const opts = { timer: 'random' as const, seed: 2, tlbSize: 4 };
    const whole = await runGuest('preempt', 'nachos-mips1', opts);
    const first = guestMachine('preempt', 'nachos-mips1', opts);
    await first.machine.run({ maxTicks: 300_000 });
    const state = structuredClone(first.machine.save());
    expect(state.kernel.tlb.filter((v) => v >= 0).length).toBeGreaterThan(0);
    let rest = '';
    const second = new Machine({ fs: new HostFolderFileSystem(binDir('nachos-mips1')), output: (b) => (rest += String.fromCharCode(b)), ...opts });
    second.restore(state);
    expect(await second.run()).toEqual(whole.result);
    expect(first.output() + rest).toBe(whole.out);
  });
});
