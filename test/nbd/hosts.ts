// Host processes of the NBD tests: a TypeScript script (run with tsx) started
// inside a host's network namespace, talking in JSON lines on stdout. Every
// event is stamped with the time this process received it, so tests can tell
// which host did what first. Also the checks every multi-host test ends with.
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';
import { openDatastore } from '../../src/fs/datastore.js';
import { ROOT_DIR, expectClean, expectVmfsToolsClean, pattern, readAll } from '../helpers.js';

export type HostEvent = Record<string, unknown> & { event: string; at: number };

export interface NsHost {
  name: string;
  child: ChildProcess;
  events: HostEvent[];
  exited: Promise<number | null>;
  stderr(): string;
  /** The first event called `event` (waits for it; fails after `ms`). */
  until(event: string, ms?: number): Promise<HostEvent>;
  send(line: string): void;
}

/** Runs test/SCRIPT with `args` in network namespace `netns`. */
export function startHost(netns: string, script: string, args: string[], name = args[2] ?? script): NsHost {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', join(ROOT_DIR, 'test', script), ...args], {
    cwd: ROOT_DIR,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: HostEvent[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push({ ...JSON.parse(line), at: Date.now() });
    } catch {
      stderr += line + '\n';
    }
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    name,
    child,
    events,
    exited,
    stderr: () => stderr,
    send: (line) => child.stdin!.write(line + '\n'),
    async until(event, ms = 60_000) {
      const end = Date.now() + ms;
      for (;;) {
        const e = events.find((x) => x.event === event);
        if (e) return e;
        if (Date.now() > end || child.exitCode !== null) throw new Error(`${name}: no '${event}' event; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** A worker of test/multihost/worker.ts: what it reported done. */
export const doneSteps = (h: NsHost) => h.events.filter((e) => e.event === 'done').map((e) => e.i as number);

/** fsck.vmfs (vmfs-tools) finds nothing wrong. */

/**
 * The volume after test/multihost/worker.ts hosts ran (see its steps): every
 * reported step's files hold their bytes, a crashed host left at most one step
 * more, and both checks are clean.
 */
export async function verifyWorkers(path: string, workers: NsHost[], crashed: string[] = []): Promise<void> {
  const fs = await openDatastore([path], { readOnly: true });
  try {
    const want = new Map<string, Buffer>();
    for (const w of workers) {
      for (const i of doneSteps(w)) {
        if (i % 5 === 2) continue;
        want.set(`/shared/${w.name}-${i}${i % 3 === 1 ? '.renamed' : ''}`, pattern(1000 + ((i * 7919) % 70_000), i + w.name.charCodeAt(0) * 1000));
      }
    }
    const names = (await fs.readdir('/shared')).map((e) => `/shared/${e.name}`).filter((p) => !p.endsWith('/.') && !p.endsWith('/..'));
    for (const p of names.filter((n) => !want.has(n))) expect(crashed.some((c) => p.startsWith(`/shared/${c}-`)), `unexpected ${p}`).toBe(true);
    for (const [p, d] of want) expect((await readAll(fs, p)).equals(d), p).toBe(true);
    for (const w of workers) for (const i of doneSteps(w)) expect((await readAll(fs, `/own-${w.name}/f${i}`)).equals(pattern(3000, i))).toBe(true);
    await expectClean(fs);
  } finally {
    await fs.close();
  }
  expectVmfsToolsClean([path]);
}
