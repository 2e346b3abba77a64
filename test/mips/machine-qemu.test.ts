// Differential tests: the Linux-personality builds of the guest programs,
// at -mips1 and at -mips32, print the same bytes and exit with the same code
// on our machine (--abi linux) as under qemu-mipsel. Skipped only where
// qemu-mipsel is not installed (CI installs it).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { binDir, runGuest, type Flavour } from './guest.js';

const qemu = spawnSync('qemu-mipsel', ['-version'], { encoding: 'utf8' });
const haveQemu = qemu.status === 0;

const programs: [string, string][] = [
  ['matmult', ''],
  ['sort', ''],
  ['arith', ''],
  ['heap', ''],
  ['loop', ''],
  ['shell', 'first line\nsecond\nexit\n'],
  ['shell', 'no newline at the end'],
];

describe.skipIf(!haveQemu && !process.env.CI).each(['linux-mips1', 'linux-mips32'] as Flavour[])('same as qemu-mipsel (%s)', (flavour) => {
  it.each(programs)('%s (input %j)', async (name, input) => {
    const q = spawnSync('qemu-mipsel', [`${binDir(flavour)}/${name}`], { input, timeout: 30_000 });
    expect(q.error).toBeUndefined();
    const ours = await runGuest(name, flavour, { input });
    expect(ours.result.fault).toBeNull();
    expect(ours.out).toBe(q.stdout.toString('latin1'));
    expect((ours.result.exitStatus ?? -1) & 0xff).toBe(q.status);
  });
});
