// vmfs fsck and the cluster state, end to end: a real host process mounted
// on the datastore makes -y and -p refuse (exit 8, naming it) unless --force;
// killed with SIGKILL, it leaves a stale heartbeat and a stale lock that -n
// names, -y repairs, and after which every file it had synced is intact.
// Plus random fuzz of the cluster regions (heartbeat slots, lock headers,
// a dead host's journal): fsck always ends with one of its codes, and a
// repaired volume checks clean.
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClusterConfig } from '../src/cluster/clusterConfig.js';
import { HEARTBEAT_REGION_OFFSET, HEARTBEAT_SLOT_SIZE } from '../src/cluster/heartbeat.js';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { METADATA_GENERATION_OFFSET } from '../src/fs/clusterMount.js';
import { formatDatastore } from '../src/fs/datastore.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { fsckDevices } from '../src/fsck/fsck.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';
import { TEST_PARAMS } from './cluster/clusterHelpers.js';
import { DAMAGES, buildImage, fuzzRound, seededRandom } from './corrupt.js';
import { ROOT_DIR, expectVmfsToolsClean, pattern, runVmfs, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-fsck-cluster-');
afterAll(() => tmp.cleanup());

const HOST_UUID = '6a11ce00-00000001-0002-000000000003';

/** A host process: mounts, holds /held open for writing, writes and syncs /own/f0..f19 (one JSON line each), then idles until killed. */
const HOST_SCRIPT = `
import { mountClusteredDatastore } from ${JSON.stringify(join(ROOT_DIR, 'src/fs/datastore.ts'))};
import { pattern } from ${JSON.stringify(join(ROOT_DIR, 'test/helpers.ts'))};
const [path, uuid] = process.argv.slice(1);
const say = (event, more = {}) => process.stdout.write(JSON.stringify({ event, ...more }) + '\\n');
const m = await mountClusteredDatastore([path], uuid);
m.member.host.on('lost', (e) => say('lost', { message: e.message }));
const held = await m.fs.create('/held');
await m.lockFile(held, 1);
await m.fs.mkdir('/own');
for (let i = 0; i < 20; i++) {
  const id = await m.fs.create('/own/f' + i);
  await m.fs.write(id, pattern(3000 + i * 1000, i), 0);
  await m.fs.sync();
  say('done', { i });
}
say('ready', { slot: m.member.host.slot });
setInterval(() => undefined, 1000);
`;

interface Host {
  child: ChildProcess;
  events: Record<string, unknown>[];
  next(name: string): Promise<Record<string, unknown>>;
}

function startHost(path: string): Host {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', HOST_SCRIPT, path, HOST_UUID], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const waiters: [string, (e: Record<string, unknown>) => void][] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const e = JSON.parse(line);
    events.push(e);
    for (const w of waiters.filter(([n]) => n === e.event)) w[1](e);
  });
  const next = (name: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = events.find((e) => e.event === name);
      if (seen) return resolve(seen);
      waiters.push([name, resolve]);
      child.on('exit', () => reject(new Error(`host exited before '${name}': ${stderr}`)));
    });
  return { child, events, next };
}

describe('vmfs fsck with another host on the datastore (CLI)', () => {
  it('refuses to repair under a live host, then repairs what the host left when killed', async () => {
    const path = join(tmp.path, 'shared.vmfs');
    await (await formatDatastore([path], { size: deviceSizeFor(1), cluster: TEST_PARAMS })).close();
    const host = startHost(path);
    try {
      const { slot } = await host.next('ready');
      const live = new RegExp(`host ${HOST_UUID} \\(heartbeat slot ${slot}\\) is live`);
      for (const mode of ['-y', '-p']) {
        const r = runVmfs(['fsck', '-d', path, mode]);
        expect(r.code, r.stdout + r.stderr).toBe(8);
        expect(r.stdout).toMatch(live);
        expect(r.stdout).toMatch(/Nothing was changed/);
      }
      const n = runVmfs(['fsck', '-d', path, '-n']);
      expect(n.code, n.stdout).toBe(0); // a live host's slot, lock and journal are not problems
      expect(n.stdout).toMatch(new RegExp(`Note: ${live.source}`));
      const forced = runVmfs(['fsck', '-d', path, '-y', '--force']);
      expect(forced.code, forced.stdout).toBe(0);
      // The live host's slot was left alone: it still holds its lease.
      await new Promise((r) => setTimeout(r, 2 * TEST_PARAMS.leaseMs!));
      expect(host.events.filter((e) => e.event === 'lost')).toEqual([]);
    } finally {
      host.child.kill('SIGKILL');
      await new Promise((r) => host.child.once('exit', r));
    }

    const n = runVmfs(['fsck', '-d', path, '-n']);
    expect(n.code, n.stdout).toBe(4);
    expect(n.stdout).toMatch(new RegExp(`Pass 6: heartbeat slot \\d+: host ${HOST_UUID} \\(generation \\d+\\) stopped renewing its heartbeat: it is dead`));
    expect(n.stdout).toMatch(new RegExp(`Pass 6: inode 0x[0-9a-f]+: exclusive lock of host ${HOST_UUID}: the host of heartbeat slot \\d+ is dead`));
    const y = runVmfs(['fsck', '-d', path, '-y']);
    expect(y.code, y.stdout + y.stderr).toBe(1);
    expect(y.stdout).not.toMatch(/NOT FIXED/);
    const clean = runVmfs(['fsck', '-d', path, '-n']);
    expect(clean.code, clean.stdout).toBe(0);
    expectVmfsToolsClean([path]);
    for (const e of host.events.filter((x) => x.event === 'done')) {
      const i = e.i as number;
      expect(runVmfs(['cat', '-d', path, `/own/f${i}`]).raw.equals(pattern(3000 + i * 1000, i)), `/own/f${i}`).toBe(true);
    }
    // The lock and the journal block went with the host: a new host mounts and opens /held for writing.
    expect(JSON.parse(runVmfs(['locks', '-d', path, '--json']).stdout)).toEqual([]);
  });
});

describe('fuzzing the cluster regions', () => {
  let image: MemoryDevice[];
  const targets: number[] = [];
  beforeAll(async () => {
    // The corpus image with a host killed in the middle of a commit: a dead slot, a lock, a journal to replay.
    const base = await buildImage();
    image = base.devices;
    const journal = DAMAGES.find((d) => d.name.startsWith('half-written journal'))!;
    const raw = await LogicalVolume.open(image);
    const fs = await Vmfs.open(raw);
    await journal.apply(fs, raw, image);
    // Then a lease fsck judges quickly (a dead host is seen after 50 ms).
    await writeClusterConfig(raw, { ...TEST_PARAMS, leaseMs: 50, renewMs: 10, ioTimeoutMs: 10 });
    const fresh = await Vmfs.open(await LogicalVolume.open(image));
    const { findings } = await fsckDevices(image.map((d) => d.clone()), { mode: 'check' });
    const slot = Number(findings.find((f) => f.code === 'stale-heartbeat')!.where.replace('heartbeat slot ', ''));
    const journalBlock = Number(/file block (\d+)/.exec(findings.find((f) => f.code === 'journal-replay')!.message)![1]);
    // The dead host's slot, two free ones, the metadata generation, the journal's header and record, lock headers.
    targets.push(HEARTBEAT_REGION_OFFSET + slot * HEARTBEAT_SLOT_SIZE, HEARTBEAT_REGION_OFFSET, HEARTBEAT_REGION_OFFSET + 7 * HEARTBEAT_SLOT_SIZE, METADATA_GENERATION_OFFSET);
    for (let k = 0; k < 4; k++) targets.push(journalBlock * fresh.blockSize + k * 512);
    for (const p of ['/journaled', '/dir/a', '/']) {
      const id = await fresh.resolve(null, p, false);
      targets.push(fresh.fdc.itemRange({ entry: (id >>> 6) & 0xffff, item: id >>> 22 })[0].logical); // the lock header
    }
    for (const res of [fresh.fbb, fresh.fdc, fresh.sbc, fresh.pbc]) targets.push(res.entryLogical(0));
  });

  const seeds = Number(process.env.VMFS_FUZZ_SEEDS ?? 200) / 2;
  it('always ends with an fsck exit code, and a repaired volume checks clean', { timeout: Math.max(120_000, seeds * 1000) }, async () => {
    const rand = seededRandom(777);
    const tally = new Map<number, number>();
    for (let seed = 0; seed < seeds; seed++) {
      const code = await fuzzRound(image.map((d) => d.clone()), () => targets[rand(targets.length)], rand, seed, 128); // the fields live in the first bytes
      tally.set(code, (tally.get(code) ?? 0) + 1);
    }
    expect(tally.get(1) ?? 0, JSON.stringify([...tally])).toBeGreaterThan(seeds / 2);
  });
});
