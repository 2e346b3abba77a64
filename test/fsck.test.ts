// vmfs fsck against the corruption corpus: for each class of damage, -n
// exits 4 and names it, -y repairs it (exit 1), the next -n exits 0, and
// every file the damage did not touch is intact, byte for byte. Plus random
// fuzzing of metadata sectors, and the CLI end to end with fsck.vmfs.
import { spawnSync } from 'node:child_process';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { CLUSTER_CONFIG_OFFSET } from '../src/cluster/clusterConfig.js';
import { HEARTBEAT_REGION_OFFSET } from '../src/cluster/heartbeat.js';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { fsckDevices } from '../src/fsck/fsck.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { DAMAGES, TREE, buildImage, checksums, fuzzRound, seededRandom } from './corrupt.js';
import { formatDatastore } from '../src/fs/datastore.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';
import { MiB, pattern, readAll, runVmfs, tempDir } from './helpers.js';

let base: { devices: MemoryDevice[]; sums: Map<string, string> };
beforeAll(async () => {
  base = await buildImage();
});
const tmp = tempDir('vmfs-fsck-');
afterAll(() => tmp.cleanup());

const clone = () => base.devices.map((d) => d.clone());
const open = async (devices: MemoryDevice[]) => Vmfs.open(await LogicalVolume.open(devices));

describe('fsck on a clean volume', () => {
  it('exits 0 and changes nothing', async () => {
    const devices = clone();
    const r = await fsckDevices(devices, { mode: 'yes' });
    expect(r.findings).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.files).toBeGreaterThan(7);
  });
});

describe('the corruption corpus', () => {
  for (const d of DAMAGES) {
    it(d.name, async () => {
      let devices = clone();
      const fs = await open(devices);
      await d.apply(fs, await LogicalVolume.open(devices), devices);
      if (d.dropsExtent !== undefined) devices = devices.filter((_, i) => i !== d.dropsExtent);
      const check = await fsckDevices(devices, { mode: 'check' });
      expect(check.exitCode, JSON.stringify(check.findings)).toBe(4);
      expect(check.findings.some((f) => d.codes.includes(f.code)), JSON.stringify(check.findings.map((f) => f.code))).toBe(true);
      if (d.says) expect(check.findings.map((f) => `${f.where}: ${f.message}`).join('\n')).toMatch(d.says);
      let recreated: MemoryDevice | undefined;
      const repair = await fsckDevices(devices, { mode: 'yes', createCount: 1, createExtent: async () => (recreated = new MemoryDevice('ext1-new', 0)) });
      expect([1, 2], JSON.stringify(repair.findings)).toContain(repair.exitCode);
      expect(repair.findings.filter((f) => !f.fixed)).toEqual([]);
      if (recreated) devices = [...devices, recreated];
      const again = await fsckDevices(devices, { mode: 'check' });
      expect(again.findings).toEqual([]);
      expect(again.exitCode).toBe(0);
      const after = await open(devices);
      const moved = d.moved ? await d.moved(after) : new Map<string, string>();
      const sums = await checksums(after, [...Object.keys(TREE), '/link'].map((p) => moved.get(p) ?? p));
      for (const [path, sum] of base.sums) {
        if (d.lost?.includes(path)) continue;
        expect(sums.get(moved.get(path) ?? path), `${path} must survive the repair`).toBe(sum);
      }
      for (const [path, bytes] of Object.entries(d.made ?? {})) expect((await readAll(after, path)).equals(bytes), `${path} must be there`).toBe(true);
    });
  }

  it('preen fixes only what is safe', async () => {
    const named = (name: string) => DAMAGES.find((d) => d.name.startsWith(name))!;
    for (const [d, want] of [
      [named('wrong nlink'), 1],
      [named('stale lock'), 1],
      [named('orphan inode'), 4],
      [named('bit flip in the cluster config'), 4], // the defaults replace what the administrator chose: not without a human
    ] as const) {
      const devices = clone();
      await d.apply(await open(devices), await LogicalVolume.open(devices), devices);
      const r = await fsckDevices(devices, { mode: 'preen' });
      expect(r.exitCode, d.name).toBe(want);
    }
  });
});

describe('fuzzing metadata sectors', () => {
  const seeds = Number(process.env.VMFS_FUZZ_SEEDS ?? 200);
  it('always ends with an fsck exit code, and a repaired volume checks clean', { timeout: Math.max(120_000, seeds * 1000) }, async () => {
    const fs0 = await open(clone());
    // Metadata sectors: inodes in use, bitmap entries, directory data, pointer blocks, system headers.
    const targets: number[] = [];
    for (const e of fs0.fdc.entries.keys()) targets.push(fs0.fdc.entryLogical(e));
    for (const e of fs0.fbb.entries.keys()) targets.push(fs0.fbb.entryLogical(e));
    for (const e of fs0.sbc.entries.keys()) targets.push(fs0.sbc.entryLogical(e));
    for (const p of ['/', '/dir', '/dir/sub', '/small', '/dir/a', '/sparse', '/link', '/dir/sub/deeper']) {
      const id = await fs0.resolve(null, p, false);
      targets.push(fs0.fdc.itemRange({ entry: (id >>> 6) & 0xffff, item: id >>> 22 })[0].logical);
    }
    // The cluster sectors of an idle volume: the config and a few heartbeat slots.
    targets.push(CLUSTER_CONFIG_OFFSET - 0x200, HEARTBEAT_REGION_OFFSET, HEARTBEAT_REGION_OFFSET + 0x200 * 100);
    const rand = seededRandom(12345);
    const tally = new Map<number, number>();
    for (let seed = 0; seed < seeds; seed++) {
      const code = await fuzzRound(clone(), () => targets[rand(targets.length)] + rand(4) * 512, rand, seed);
      tally.set(code, (tally.get(code) ?? 0) + 1);
    }
    expect(tally.get(1) ?? 0).toBeGreaterThan(seeds / 3);
  });
});

describe('vmfs fsck (CLI)', () => {
  it('repairs a damaged datastore on files; fsck.vmfs agrees afterwards', async () => {
    const extents = [join(tmp.path, 'c0'), join(tmp.path, 'c1')];
    const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
    await fs.mkdir('/vms');
    const id = await fs.create('/vms/disk');
    await fs.write(id, pattern(3 * MiB, 1), 0);
    const small = await fs.create('/vms/small');
    await fs.write(small, pattern(100, 2), 0);
    await fs.close();
    const { FileDevice } = await import('../src/device/fileDevice.js');
    const devices = extents.map((e) => FileDevice.open(e));
    const v = await Vmfs.open(await LogicalVolume.open(devices));
    const raw = await LogicalVolume.open(devices);
    const smallId = await v.resolve(null, '/vms/small');
    const off = v.fdc.itemRange({ entry: (smallId >>> 6) & 0xffff, item: smallId >>> 22 })[0].logical;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(9);
    await raw.write(b, off + 0x208); // a wrong link count on /vms/small
    // and a truncated (unused) tail on the last extent
    for (const dev of devices) await dev.close();
    truncateSync(extents[1], deviceSizeFor(1) - 4 * MiB);
    const d = extents.join(',');

    const n = runVmfs(['fsck', '-d', d, '-n']);
    expect(n.code, n.stdout + n.stderr).toBe(4);
    expect(n.stdout).toMatch(/Pass 0: .*c1: extent is truncated/);
    const json = JSON.parse(runVmfs(['fsck', '-d', d, '--json']).stdout);
    expect(json.exitCode).toBe(4);
    expect(json.findings.map((f: { code: string }) => f.code)).toEqual(['extent-truncated']);
    const y = runVmfs(['fsck', '-d', d, '-y']);
    expect(y.code, y.stdout + y.stderr).toBe(1);
    expect(y.stdout).toMatch(/Pass 0: .*c1: extent is truncated .*FIXED/);
    expect(y.stdout).toMatch(/Pass 4: \/vms\/small: link count 9, expected 1  FIXED/);
    const clean = runVmfs(['fsck', '-d', d]);
    expect(clean.code, clean.stdout).toBe(0);
    const out = spawnSync('fsck.vmfs', extents, { encoding: 'utf8' }).stdout;
    for (const counter of ['Unallocated blocks', 'Lost blocks', 'Undefined inodes', 'Orphaned inodes', 'Directory errors']) expect(out).toMatch(new RegExp(`${counter}\\s*: 0`));
    expect(runVmfs(['cat', '-d', d, '/vms/disk']).raw.equals(pattern(3 * MiB, 1))).toBe(true);
  });

  it('missing extents and usage errors', () => {
    const extents = [join(tmp.path, 'm0'), join(tmp.path, 'm1')];
    expect(runVmfs(['mkfs', '-d', extents.join(','), '--size', String(deviceSizeFor(1))]).code).toBe(0);
    const n = runVmfs(['fsck', '-d', extents[0]]);
    expect(n.code).toBe(4);
    expect(n.stdout).toMatch(/missing extent/);
    const y = runVmfs(['fsck', '-d', extents[0], '-y']);
    expect(y.code).toBe(4); // not without a place to recreate it
    expect(y.stdout).toMatch(/missing extent: nothing holds segments 1-1 .*give --recreate-extent PATH/);
    expect(runVmfs(['fsck', '-d', extents[0], '--recreate-extent', join(tmp.path, 'm1b')]).code).toBe(16); // needs -y
    const taken = runVmfs(['fsck', '-d', extents[0], '-y', '--recreate-extent', extents[0]]);
    expect(taken.code, taken.stdout).toBe(8); // never over a file that holds something
    expect(taken.stdout).toMatch(/not empty/);
    const headless = runVmfs(['fsck', '-d', extents[1], '-y', '--recreate-extent', join(tmp.path, 'm0b')]);
    expect(headless.code, headless.stdout).toBe(4); // the first extent holds the file system itself
    expect(headless.stdout).toMatch(/segments 0-0 .*nothing can be rebuilt without it/);
    const fresh = join(tmp.path, 'm1b');
    const re = runVmfs(['fsck', '-d', extents[0], '-y', '--recreate-extent', fresh]);
    expect(re.code, re.stdout + re.stderr).toBe(1);
    expect(re.stdout).toMatch(/recreated empty on .*m1b  FIXED/);
    const after = runVmfs(['fsck', '-d', `${extents[0]},${fresh}`]);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const out = spawnSync('fsck.vmfs', [extents[0], fresh], { encoding: 'utf8' }).stdout;
    for (const counter of ['Unallocated blocks', 'Lost blocks', 'Undefined inodes', 'Orphaned inodes', 'Directory errors']) expect(out).toMatch(new RegExp(`${counter}\\s*: 0`));
    expect(runVmfs(['fsck', '-d', join(tmp.path, 'nope')]).code).toBe(8);
    expect(runVmfs(['fsck', '-d', extents.join(','), '-n', '-y']).code).toBe(16);
    expect(runVmfs(['fsck', '-d', extents.join(','), '--frob']).code).toBe(16);
  });
});
