// Runs the committed guest programs (fixtures/guest/bin) on the machine and
// collects what they print: the helper every machine test uses.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HostFolderFileSystem } from '../../src/mips/kernel/hostFs.js';
import { Machine, type MachineOptions, type MachineResult } from '../../src/mips/machine.js';

export type Flavour = 'nachos-mips1' | 'nachos-mips32' | 'linux-mips1' | 'linux-mips32';

export const binDir = (flavour: Flavour): string => fileURLToPath(new URL(`../../fixtures/guest/bin/${flavour}`, import.meta.url));

export function guestFile(name: string, flavour: Flavour = 'nachos-mips1'): Uint8Array {
  return readFileSync(`${binDir(flavour)}/${name}`);
}

export interface GuestRun {
  out: string;
  result: MachineResult;
  messages: string[];
  machine: Machine;
}

/** Builds a machine for `name`, with Exec resolving in the program's own bin folder unless `fs` is given. */
export function guestMachine(name: string, flavour: Flavour = 'nachos-mips1', opts: MachineOptions = {}): { machine: Machine; output: () => string; messages: string[] } {
  const bytes: number[] = [];
  const messages: string[] = [];
  const machine = new Machine({
    abi: flavour.startsWith('linux') ? 'linux' : 'nachos',
    fs: new HostFolderFileSystem(binDir(flavour)),
    output: (b) => bytes.push(b),
    onMessage: (m) => messages.push(m),
    ...opts,
  });
  machine.load(guestFile(name, flavour), name);
  return { machine, output: () => Buffer.from(bytes).toString('latin1'), messages };
}

export async function runGuest(name: string, flavour: Flavour = 'nachos-mips1', opts: MachineOptions = {}): Promise<GuestRun> {
  const { machine, output, messages } = guestMachine(name, flavour, opts);
  const result = await machine.run({ maxTicks: 2e9 });
  return { out: output(), result, messages, machine };
}

/** What fixtures/guest/src/sort.c computes, worked out independently here. */
export function expectedSortStatus(): number {
  const a: number[] = [];
  let seed = 12345;
  for (let i = 0; i < 1024; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    a.push(((seed >>> 8) % 100000) - 50000);
  }
  a.sort((x, y) => x - y);
  let sum = 0;
  a.forEach((v, i) => (sum = (sum + v * ((i % 7) + 1)) | 0));
  return sum & 0xffff;
}
