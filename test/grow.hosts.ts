// Helpers of the growth tests: library hosts (test/grow.host.ts) as processes
// that talk in JSON lines, a datastore set up for cluster use, the CLI killed
// at a chosen device write, and fsck.vmfs's verdict.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ReservationKind, writeClusterConfig } from '../src/cluster/clusterConfig.js';
import { formatDatastore } from '../src/fs/datastore.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';
import { TEST_PARAMS } from './cluster/clusterHelpers.js';
import { expectOk, sh } from './fuse/mountHarness.js';
import { ROOT_DIR } from './helpers.js';

/** Every host process started, for the test's afterAll to kill what is left. */
export const children: ChildProcess[] = [];

export interface Host {
  name: string;
  events: Record<string, unknown>[];
  send(command: string): void;
  /** The next event named `name` after the `after`-th event. */
  next(name: string, after?: number, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

export function startHost(extents: string[], uuid: string, name: string, quota?: number): Host {
  const args = [join(ROOT_DIR, 'test', 'grow.host.ts'), extents.join(','), uuid, name, ...(quota === undefined ? [] : [String(quota)])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    events.push(JSON.parse(line));
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => {
    for (const w of waiters.splice(0)) w();
  });
  const next = async (event: string, after = 0, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = events.slice(after).find((x) => x.event === event);
      if (e) return e;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`host ${name}: no '${event}' event (exit ${child.exitCode}); stderr: ${stderr}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 500);
      });
    }
  };
  return { name, events, send: (c) => child.stdin!.write(c + '\n'), next, exited };
}

export async function statfsOf(h: Host): Promise<Record<string, unknown>> {
  const at = h.events.length;
  h.send('statfs');
  return h.next('statfs', at);
}

/** What `df` reports for the mount: total bytes. */
export function dfBytes(mnt: string): number {
  const r = expectOk(sh(`df -B1 --output=size ${mnt} | tail -1`), 'df');
  return Number(r.stdout.trim());
}

/** Formats one extent for cluster use (short test timings) with /keep, made from the free bytes. */
export async function clusterDatastore(dir: string, keep: (freeBytes: number) => Buffer): Promise<string[]> {
  const extents = [join(dir, 'e0')];
  const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
  await writeClusterConfig(fs.volume, { ...TEST_PARAMS, reservation: ReservationKind.Disk });
  await fs.write(await fs.create('/keep'), keep(fs.statfs().freeBlocks * fs.blockSize), 0);
  await fs.close();
  return extents;
}

/** The vmfs CLI from the sources, killed (SIGKILL) at its (k+1)th device write. */
export function vmfsKilledAt(k: number, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT_DIR, 'test/fuse/vmfsCli.ts'), ...args], {
    cwd: ROOT_DIR,
    encoding: 'utf8',
    env: { ...process.env, VMFS_FAULT_KILL_AFTER_WRITES: String(k) },
    timeout: 60_000,
  });
}

