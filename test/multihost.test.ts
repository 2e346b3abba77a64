// Several hosts (separate processes) on one datastore through the library in
// cluster mode: concurrent work in one shared directory and in their own
// files, and the kill -9 of a host: the survivors take over its journal and
// locks, and the volume checks clean for us and for fsck.vmfs.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatastore } from '../src/fs/datastore.js';
import { makeVolume } from './cluster/clusterHelpers.js';
import { ROOT_DIR, expectClean, expectVmfsToolsClean, pattern, readAll, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-multihost-');
afterAll(() => tmp.cleanup());

interface Worker {
  name: string;
  done: number[];
  exited: Promise<number | null>;
  kill(): void;
  mounted: Promise<void>;
}

function start(path: string, name: string, count: number): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT_DIR, 'test', 'multihost', 'worker.ts'), path, `6b00000${name.charCodeAt(0) % 10}-00000001-0001-00000000000${name.length}`.replace(/0001-0+(\d)$/, `0001-00000000000${name.charCodeAt(0) % 10}`), name, String(count)], {
    cwd: ROOT_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done: number[] = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let mountedResolve!: () => void;
  const mounted = new Promise<void>((r) => (mountedResolve = r));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line);
    if (e.event === 'mounted') mountedResolve();
    if (e.event === 'done') done.push(e.i);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`worker ${name}: ${stderr}\n`);
      resolve(code);
    }),
  );
  return { name, done, exited, kill: () => child.kill('SIGKILL'), mounted };
}

/** What the shared directory must hold after worker `name` finished steps `done`. */
function expectedShared(name: string, done: number[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const i of done) {
    if (i % 5 === 2) continue;
    const data = pattern(1000 + ((i * 7919) % 70_000), i + name.charCodeAt(0) * 1000);
    out.set(`/shared/${name}-${i}${i % 3 === 1 ? '.renamed' : ''}`, data);
  }
  return out;
}

async function verify(path: string, workers: Worker[], crashed: string[] = []) {
  const fs = await openDatastore([path], { readOnly: true });
  const want = new Map<string, Buffer>();
  for (const w of workers) for (const [p, d] of expectedShared(w.name, w.done)) want.set(p, d);
  const names = (await fs.readdir('/shared')).map((e) => `/shared/${e.name}`).filter((p) => !p.endsWith('/.') && !p.endsWith('/..'));
  // A crashed host may have finished one more step than it reported.
  const extra = names.filter((p) => !want.has(p));
  for (const p of extra) expect(crashed.some((c) => p.startsWith(`/shared/${c}-`)), `unexpected ${p}`).toBe(true);
  for (const [p, d] of want) expect((await readAll(fs, p)).equals(d), p).toBe(true);
  for (const w of workers) for (const i of w.done) expect((await readAll(fs, `/own-${w.name}/f${i}`)).equals(pattern(3000, i))).toBe(true);
  await expectClean(fs);
  await fs.close();
  expectVmfsToolsClean([path]);
}

describe('several hosts through the library', () => {
  for (const n of [2, 4, 8]) {
    it(`${n} hosts work at once in one shared directory`, async () => {
      const path = await makeVolume(join(tmp.path), undefined);
      const steps = n === 8 ? 12 : 25;
      const workers = Array.from({ length: n }, (_, k) => start(path, String.fromCharCode(97 + k), steps));
      const codes = await Promise.all(workers.map((w) => w.exited));
      expect(codes).toEqual(workers.map(() => 0));
      for (const w of workers) expect(w.done).toHaveLength(steps);
      await verify(path, workers);
    });
  }

  it.each([1, 3, 6, 9])('a host killed with kill -9 after %i steps (and a few ms): the others take over, nothing synced is lost', async (after) => {
    const path = await makeVolume(join(tmp.path), undefined);
    const victim = start(path, 'v', 1000);
    const survivor = start(path, 's', 40);
    await Promise.all([victim.mounted, survivor.mounted]);
    while (victim.done.length < after) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, after * 3)); // land anywhere, mid-transaction included
    victim.kill();
    expect(await victim.exited).toBe(null);
    expect(await survivor.exited).toBe(0);
    // A later host takes over the dead one (replays its journal) when it mounts or within a lease.
    const late = start(path, 'l', 3);
    expect(await late.exited).toBe(0);
    await verify(path, [victim, survivor, late], ['v']);
  });
});
