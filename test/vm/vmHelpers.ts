// Helpers for the VM tests: VM folders in an in-memory datastore, a run that
// collects the console output, console input that counts what was taken
// (to resume a snapshot with the rest), and the whole disk's bytes.
import { DatastoreFolder } from '../../src/vm/datastoreFolder.js';
import { runVm, type RunOptions, type RunResult } from '../../src/vm/runner.js';
import { diskFolder, loadConfig, type Vm } from '../../src/vm/vmFiles.js';
import type { Vmfs } from '../../src/fs/vmfs.js';
import type { ConsoleInput } from '../../src/mips/console.js';
import { openDisk } from '../../src/vdisk/virtualDisk.js';
import { memoryFs } from '../helpers.js';

export async function datastore(): Promise<Vmfs> {
  return (await memoryFs([1])).fs;
}

export async function datastoreVm(fs: Vmfs, name: string): Promise<Vm> {
  await fs.mkdir(`/${name}`);
  return { folder: new DatastoreFolder(fs, `/${name}`), name, sibling: async (n) => new DatastoreFolder(fs, `/${n}`) };
}

/** Input fixed in advance that counts the bytes taken from it. */
export class CountingInput implements ConsoleInput {
  taken = 0;
  constructor(private readonly bytes: Buffer) {}
  ready(): boolean {
    return true;
  }
  take(): number | null {
    return this.taken < this.bytes.length ? this.bytes[this.taken++] : null;
  }
  wait(): Promise<void> {
    return Promise.resolve();
  }
}

export type TestRun = RunResult & { out: string; messages: string[] };

export async function run(vm: Vm, opts: RunOptions = {}): Promise<TestRun> {
  const bytes: number[] = [];
  const messages: string[] = [];
  const r = await runVm(vm, { ...opts, output: (b) => bytes.push(b), onMessage: (m) => messages.push(m) });
  return { ...r, out: Buffer.from(bytes).toString('latin1'), messages };
}

/** Every byte the VM's current disk reads (the whole chain). */
export async function diskBytes(vm: Vm): Promise<Buffer> {
  const config = await loadConfig(vm);
  const d = await openDisk(await diskFolder(vm, config), config.disk, { write: false });
  try {
    const buf = Buffer.alloc(d.capacity);
    await d.read(buf, 0);
    return buf;
  } finally {
    await d.close();
  }
}
