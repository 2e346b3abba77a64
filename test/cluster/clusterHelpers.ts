// Cluster test helpers: a formatted datastore with short cluster timings, and
// host processes (test/cluster/host.ts run with tsx) that talk in JSON lines.
import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ClusterParams, ReservationKind, writeClusterConfig } from '../../src/cluster/clusterConfig.js';
import { FileDevice } from '../../src/device/fileDevice.js';
import { formatDatastore } from '../../src/fs/datastore.js';
import { LogicalVolume } from '../../src/volume/logicalVolume.js';
import { deviceSizeFor } from '../../src/volume/volumeHeader.js';
import { MiB, ROOT_DIR } from '../helpers.js';

/** Short timings so takeovers happen in about 1.5 s (lease > renew + 3 x io). */
export const TEST_PARAMS: Partial<ClusterParams> = { leaseMs: 1500, renewMs: 200, ioTimeoutMs: 200, journalBytes: 64 * 1024 };

/** Free file blocks of the test volume (1 MiB blocks; the metadata ends far below). */
export const SCRATCH = 200 * MiB;
export const LOCK_A = SCRATCH; // a lock header sector
export const COUNTER = SCRATCH + 64 * 1024; // the sector the mutex tests increment
export const MARKER = SCRATCH + 128 * 1024; // the sector lock holders stamp
export const JOURNAL_BLOCK_BASE = 210; // host k keeps its journal in file block 210 + k

export async function makeVolume(dir: string, params: Partial<ClusterParams> = TEST_PARAMS, reservation = ReservationKind.Disk): Promise<string> {
  const path = join(dir, 'shared.vmfs');
  rmSync(path, { force: true }); // a fresh sparse file: scratch blocks read as zeros
  const fs = await formatDatastore([path], { size: deviceSizeFor(1) });
  await writeClusterConfig(fs.volume, { ...params, reservation });
  await fs.close();
  return path;
}

export async function openVolume(path: string): Promise<LogicalVolume> {
  return LogicalVolume.open([FileDevice.open(path)]);
}

export interface HostProc {
  child: ChildProcess;
  events: Record<string, unknown>[];
  /** Resolves with the first event named `name` (seen already or to come). */
  next(name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: string[];
}

export function spawnHost(command: string, volume: string, args: Record<string, unknown>): HostProc {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT_DIR, 'test', 'cluster', 'host.ts'), command, volume, JSON.stringify(args)], {
    cwd: ROOT_DIR,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  const waiters: { name: string; resolve: (e: Record<string, unknown>) => void }[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line);
    } catch {
      stderr.push(line);
      return;
    }
    events.push(e);
    for (const w of waiters.filter((x) => x.name === e.event)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(e);
    }
  });
  child.stderr!.on('data', (d) => stderr.push(String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const next = (name: string, timeoutMs = 60_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = events.find((e) => e.event === name);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no '${name}' event from ${command} within ${timeoutMs} ms; stderr: ${stderr.join('')}`)), timeoutMs);
      waiters.push({ name, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      void exited.then(() => setTimeout(() => reject(new Error(`${command} exited before '${name}'; stderr: ${stderr.join('')}`)), 200));
    });
  return { child, events, next, exited, stderr };
}

/** Sends "go" to every host once all of them said "ready", so they start together. */
export async function startTogether(hosts: HostProc[]): Promise<void> {
  await Promise.all(hosts.map((h) => h.next('ready')));
  for (const h of hosts) h.child.stdin!.write('go\n');
}
