// Growing datastores: adding extents and growing the last one, with every
// byte and both checkers after each step, crash points, and refusals.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDatastore, openDatastore } from '../src/fs/datastore.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { SEGMENT_SIZE, deviceSizeFor } from '../src/volume/volumeHeader.js';
import { MiB, ROOT_DIR, expectClean, expectVmfsToolsClean, pattern, readAll, runVmfs, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-grow-');
afterAll(() => tmp.cleanup());

async function verify(extents: string[], files: Map<string, Buffer>): Promise<Vmfs> {
  const fs = await openDatastore(extents, { readOnly: true });
  for (const [path, data] of files) expect((await readAll(fs, path)).equals(data), path).toBe(true);
  await expectClean(fs);
  await fs.close();
  expectVmfsToolsClean(extents);
  return fs;
}

describe('growing a datastore', () => {
  it('from 1 to 4 extents, then the last one grows; files written in between', async () => {
    const dir = join(tmp.path, 'g1');
    mkdirSync(dir);
    const extents = [join(dir, 'e0')];
    const files = new Map<string, Buffer>();
    const fs0 = await formatDatastore(extents, { size: deviceSizeFor(1) });
    await fs0.close();
    const put = async (path: string, data: Buffer) => {
      const fs = await openDatastore(extents);
      const id = await fs.create(path);
      await fs.write(id, data, 0);
      await fs.close();
      files.set(path, data);
    };
    await put('/before', pattern(3 * MiB, 1));
    for (let i = 1; i <= 3; i++) {
      const next = join(dir, `e${i}`);
      const r = runVmfs(['extend', '-d', extents.join(','), '--add', next, '--size', String(deviceSizeFor(1))]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      extents.push(next);
      await verify(extents, files);
      // fill most of the free space so the next file lands on the newest extent
      const fs = await openDatastore(extents);
      const free = fs.statfs().freeBlocks * fs.blockSize;
      await fs.close();
      await put(`/fill${i}`, pattern(free - 8 * MiB, 10 + i));
      await put(`/after${i}`, pattern(5 * MiB + i, 20 + i));
    }
    // a file spans extents, and one lies on the last extent
    const fs = await openDatastore(extents, { readOnly: true });
    const extentsOf = async (path: string) => {
      const inode = await fs.inode(null, await fs.resolve(null, path));
      const set = new Set<number>();
      for (const id of inode.blocks) if (id) set.add(fs.volume.extents.indexOf(fs.volume.extentAt((id >>> 6) * fs.blockSize)));
      return [...set].sort();
    };
    expect((await extentsOf('/fill2')).length).toBeGreaterThan(1);
    expect(await extentsOf('/after3')).toEqual([3]);
    expect(fs.volume.size).toBe(4 * SEGMENT_SIZE);
    await fs.close();

    // the last extent's file gains two segments: grow into them
    truncateSync(extents[3], deviceSizeFor(3));
    const r = runVmfs(['grow', '-d', extents.join(',')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/grown: 1.00 GiB -> 1.50 GiB \(\+2 segments\)/);
    await put('/late', pattern(300 * MiB, 99));
    await verify(extents, files);
    const info = JSON.parse(runVmfs(['info', '--json', '-d', extents.join(',')]).stdout);
    expect(info.extents.map((e: { firstSegment: number; lastSegment: number }) => [e.firstSegment, e.lastSegment])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 5],
    ]);
    expect(info.extents[3].allocatedBlocks).toBeGreaterThan(300);
    expect(runVmfs(['grow', '-d', extents.join(',')]).stderr).toMatch(/nothing to grow into/);
  });

  it('grows the file-block bitmap file into the new space when it must', async () => {
    const dir = join(tmp.path, 'g2');
    mkdirSync(dir);
    const extents = [join(dir, 'e0')];
    const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
    const before = (await fs.stat('/.fbb.sf')).size;
    await fs.close();
    const r = runVmfs(['extend', '-d', extents[0], '--add', join(dir, 'big'), '--size', '260G']);
    expect(r.code, r.stderr).toBe(0);
    extents.push(join(dir, 'big'));
    const grown = await openDatastore(extents);
    expect((await grown.stat('/.fbb.sf')).size).toBeGreaterThan(MiB);
    expect(before).toBeLessThanOrEqual(MiB);
    expect(grown.statfs().totalBlocks).toBe(grown.volume.size / MiB);
    const id = await grown.create('/far');
    await grown.write(id, pattern(MiB, 5), 200 * 2 ** 30); // a block far into the new extent
    await grown.close();
    await verify(extents, new Map());
  });

  it('survives a kill -9 at every write of extend: old or new volume, never broken', async () => {
    const dir = join(tmp.path, 'crash');
    mkdirSync(dir);
    const base = [join(dir, 'base0'), join(dir, 'base1')];
    const fs = await formatDatastore(base, { size: deviceSizeFor(1) });
    const data = pattern(7 * MiB, 3);
    const id = await fs.create('/keep');
    await fs.write(id, data, 0);
    await fs.close();
    let completed = false;
    const outcomes = new Set<string>();
    for (let k = 0; k < 40 && !completed; k++) {
      const extents = [join(dir, `t${k}-0`), join(dir, `t${k}-1`)];
      base.forEach((b, i) => copyFileSync(b, extents[i]));
      const added = join(dir, `t${k}-new`);
      const r = spawnSync(process.execPath, [join(ROOT_DIR, 'bin', 'vmfs'), 'extend', '-d', extents.join(','), '--add', added, '--size', String(deviceSizeFor(2))], {
        env: { ...process.env, VMFS_FAULT_KILL_AFTER_WRITES: String(k) },
        encoding: 'utf8',
      });
      completed = r.status === 0;
      if (!completed) expect(r.signal, `write ${k}: ${r.stderr}`).toBe('SIGKILL');
      // Open with the old extents only: an interrupted change is undone;
      // a finished one needs the new extent.
      let outcome: string;
      const all = [...extents, added];
      try {
        const old = await openDatastore(extents);
        expect(old.volume.size).toBe(2 * SEGMENT_SIZE);
        await old.close();
        outcome = 'old';
        await verify(extents, new Map([['/keep', data]]));
        if (statSync(added, { throwIfNoEntry: false })) {
          // the new extent was never made part of the volume: it is refused, naming it
          await expect(openDatastore(all)).rejects.toThrow(/not a VMFS extent|too short|left over from an undone extend/);
        }
      } catch (e) {
        if (!/missing extent: .* has 3 extents, 2 given/.test(String(e))) throw e;
        outcome = 'new';
        await verify(all, new Map([['/keep', data]]));
      }
      outcomes.add(outcome);
    }
    expect(completed).toBe(true);
    expect(outcomes.has('old')).toBe(true);
  });

  it('recovers an interrupted extend when the new extent is given too: finished, not lost', async () => {
    const dir = join(tmp.path, 'redo');
    mkdirSync(dir);
    const extents = [join(dir, 'e0')];
    const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
    await fs.close();
    const added = join(dir, 'new');
    // Crash right after the intent log and the first applied write.
    const r = spawnSync(process.execPath, [join(ROOT_DIR, 'bin', 'vmfs'), 'extend', '-d', extents[0], '--add', added, '--size', String(deviceSizeFor(1))], {
      env: { ...process.env, VMFS_FAULT_KILL_AFTER_WRITES: '3' },
    });
    expect(r.signal).toBe('SIGKILL');
    const reopened = await openDatastore([added, extents[0]]);
    expect(reopened.volume.size).toBe(2 * SEGMENT_SIZE);
    await reopened.close();
    await verify([extents[0], added], new Map());
  });

  it('refuses bad additions with a clear error and leaves the volume unchanged', async () => {
    const dir = join(tmp.path, 'bad');
    mkdirSync(dir);
    const extents = [join(dir, 'e0')];
    const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
    await fs.close();
    const other = join(dir, 'other');
    (await formatDatastore([other], { size: deviceSizeFor(1) })).close();
    const snapshot = () => readFileSync(extents[0]).subarray(0x100000, 0x1100000 + 0x500000);
    const before = snapshot();
    const cases: [string[], number, RegExp][] = [
      [['--add', other], 3, /other: already holds a VMFS extent \(use --force/],
      [['--add', join(dir, 'small'), '--size', '200M'], 3, /too small for an extent/],
      [['--add', join(dir, 'missing')], 3, /missing: No such file or directory/],
      [['--add', dir], 3, /bad: Is a directory/],
      [['--add', extents[0]], 3, /already an extent of this datastore/],
    ];
    for (const [args, code, re] of cases) {
      const r = runVmfs(['extend', '-d', extents[0], ...args]);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.code, args.join(' ')).toBe(code);
    }
    // A file the user may not read (run as nobody, who may write the datastore).
    const locked = join(dir, 'locked');
    writeFileSync(locked, '');
    truncateSync(locked, deviceSizeFor(1));
    chmodSync(locked, 0);
    chmodSync(tmp.path, 0o755);
    chmodSync(dir, 0o777);
    chmodSync(extents[0], 0o666);
    const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(ROOT_DIR, 'bin', 'vmfs'), 'extend', '-d', extents[0], '--add', locked], {
      encoding: 'utf8',
    });
    expect(asNobody.stderr).toBe(`vmfs: ${locked}: Permission denied\n`);
    expect(asNobody.status).toBe(3);
    expect(snapshot().equals(before)).toBe(true);
  });

  it('refuses to grow a datastore given without one of its extents', async () => {
    const dir = join(tmp.path, 'missing');
    mkdirSync(dir);
    const extents = [join(dir, 'e0'), join(dir, 'e1')];
    (await formatDatastore(extents, { size: deviceSizeFor(1) })).close();
    const before = extents.map((p) => readFileSync(p).subarray(0x100000, 0x1100000));
    for (const args of [
      ['extend', '-d', extents[0], '--add', join(dir, 'e2'), '--size', String(deviceSizeFor(1))],
      ['grow', '-d', extents[0]],
    ]) {
      const r = runVmfs(args);
      expect(r.stderr, args[0]).toMatch(/^vmfs: missing extent: the volume \S+ has 2 extents, 1 given; nothing holds segments 1-1\n$/);
      expect(r.code, args[0]).toBe(3);
    }
    expect(extents.map((p) => readFileSync(p).subarray(0x100000, 0x1100000)).every((b, i) => b.equals(before[i]))).toBe(true);
    expect(existsSync(join(dir, 'e2'))).toBe(false); // the refused extend removed the file it had made
  });

  it('refuses a 33rd extent', async () => {
    const dir = join(tmp.path, 'many');
    mkdirSync(dir);
    const extents = Array.from({ length: 32 }, (_, i) => join(dir, `e${i}`));
    const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
    await fs.close();
    const r = runVmfs(['extend', '-d', extents.join(','), '--add', join(dir, 'e32'), '--size', String(deviceSizeFor(1))]);
    expect(r.stderr).toMatch(/already has 32 extents, the most VMFS allows/);
    expect(r.code).toBe(3);
  });
});
