// Growing a datastore online: two library hosts (processes) keep writing and a
// FUSE host stays mounted while `vmfs extend` adds three extents and `vmfs
// grow` grows the last one. Every host sees the new capacity without
// remounting (statfs; df on the FUSE mount), allocates from the new extents,
// a file written across two extents reads back, and afterwards every byte
// checks with our check and with fsck.vmfs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileBlockNumber } from '../src/fs/blockId.js';
import { openDatastore } from '../src/fs/datastore.js';
import { SEGMENT_SIZE, deviceSizeFor } from '../src/volume/volumeHeader.js';
import { expectOk, requireTools, vmfs } from './fuse/mountHarness.js';
import { children, clusterDatastore, dfBytes, startHost, statfsOf } from './grow.hosts.js';
import { MiB, expectClean, expectVmfsToolsClean, pattern, readAll, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-grow-online-');
const mounts: string[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const m of mounts) spawnSync('fusermount', ['-uz', m]);
  tmp.cleanup();
});

const A = '6b00a0a0-00000001-0001-0000000000a1';
const B = '6b00b0b0-00000002-0002-0000000000b2';
const C = '6b00c0c0-00000003-0003-0000000000c3';

describe('growing a datastore while hosts use it', () => {
  it('adds three extents and grows the last while two hosts write and a FUSE host is mounted', async () => {
    requireTools('fsck.vmfs', 'fusermount');
    const dir = join(tmp.path, 'online');
    mkdirSync(dir);
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    let fill: Buffer = Buffer.alloc(0);
    const extents = await clusterDatastore(dir, (free) => (fill = pattern(free - 40 * MiB, 5)));

    expectOk(vmfs(['mount', '-d', extents[0], mnt, '--log', join(dir, 'c.log'), '--host-uuid', C, '--attr-timeout', '0', '--entry-timeout', '0']), 'mount C');
    mounts.push(mnt);
    const hosts = [startHost(extents, A, 'a'), startHost(extents, B, 'b')];
    // They fill the datastore and wait.
    for (const h of hosts) await h.next('nospc');
    // Room for the grower to join (its journal block), at the end of the first extent.
    rmSync(join(mnt, 'a', 'f0'));

    const grow = async (args: string[], blocks: number) => {
      const r = expectOk(vmfs(args), args.join(' '));
      expect(r.stderr).toBe('');
      for (const h of hosts) {
        const s = await statfsOf(h);
        expect(s.totalBlocks, h.name).toBe(blocks);
        expect(s.volumeSize, h.name).toBe(blocks * MiB);
      }
      expect(dfBytes(mnt)).toBe(blocks * MiB);
      return r;
    };

    const e1 = join(dir, 'e1');
    const r1 = await grow(['extend', '-d', extents[0], '--add', e1, '--size', String(deviceSizeFor(1))], 512);
    expect(r1.stdout).toMatch(/extended: 256 MiB -> 512 MiB \(\+1 segments on .*e1\), online \(3 other hosts on the datastore\)/);
    extents.push(e1);
    // The FUSE host writes a file over the end of the first extent and the start of the new one.
    const span = pattern(12 * MiB, 77);
    writeFileSync(join(mnt, 'span'), span);
    expect(readFileSync(join(mnt, 'span')).equals(span)).toBe(true);
    // The library hosts go on, into the new extent.
    for (const h of hosts) {
      const at = h.events.length;
      h.send('resume');
      for (;;) {
        const e = await h.next('done', at);
        if ((e.extents as number[]).includes(1)) break;
        h.events.splice(h.events.indexOf(e), 1, { event: 'seen', ...e });
      }
    }

    // Two more extents, then the last one grows, each while the hosts write.
    for (const k of [2, 3]) {
      const ek = join(dir, `e${k}`);
      for (const h of hosts) h.send('resume');
      await grow(['extend', '-d', extents.join(','), '--add', ek, '--size', String(deviceSizeFor(1))], 256 * (k + 1));
      extents.push(ek);
    }
    truncateSync(extents[3], deviceSizeFor(3));
    for (const h of hosts) h.send('resume');
    const rg = await grow(['grow', '-d', extents.join(',')], 256 * 6);
    expect(rg.stdout).toMatch(/grown: 1.00 GiB -> 1.50 GiB \(\+2 segments\), online \(3 other hosts on the datastore\)/);
    // Nothing more to grow into: refused, and the hosts go on (the grower left cleanly).
    const again = vmfs(['grow', '-d', extents.join(',')]);
    expect(again.stderr).toMatch(/e3: nothing to grow into/);
    expect(again.code).toBe(3);
    for (const h of hosts) {
      expect((await statfsOf(h)).hosts).toBe(3);
      const at = h.events.length;
      h.send('resume');
      await h.next('done', at);
    }
    const late = pattern(30 * MiB + 5, 78);
    writeFileSync(join(mnt, 'late'), late);

    for (const h of hosts) h.send('stop');
    expect(await Promise.all(hosts.map((h) => h.exited))).toEqual([0, 0]);
    expectOk(vmfs(['umount', mnt]), 'umount C');

    const fs = await openDatastore(extents, { readOnly: true });
    expect(fs.volume.size).toBe(6 * SEGMENT_SIZE);
    expect((await readAll(fs, '/keep')).equals(fill)).toBe(true);
    expect((await readAll(fs, '/span')).equals(span)).toBe(true);
    expect((await readAll(fs, '/late')).equals(late)).toBe(true);
    const spanInode = await fs.inode(null, await fs.resolve(null, '/span'));
    const spanExtents = new Set([...spanInode.blocks].filter(Boolean).map((b) => fs.volume.extents.indexOf(fs.volume.extentAt(fileBlockNumber(b) * MiB))));
    expect([...spanExtents].sort()).toEqual([0, 1]);
    let written = 0;
    for (const h of hosts) {
      for (const e of h.events.filter((x) => x.event === 'done' || x.event === 'seen')) {
        const i = e.i as number;
        if (h.name === 'a' && i === 0) continue; // removed through the FUSE host
        expect((await readAll(fs, e.path as string)).equals(pattern(3 * MiB + i * 4096, i + h.name.charCodeAt(0) * 1000)), e.path as string).toBe(true);
        written++;
      }
    }
    expect(written).toBeGreaterThan(10);
    await expectClean(fs);
    await fs.close();
    expectVmfsToolsClean(extents);
    const info = JSON.parse(expectOk(vmfs(['info', '--json', '-d', extents.join(',')]), 'info').stdout);
    expect(info.extents.map((e: { firstSegment: number; lastSegment: number }) => [e.firstSegment, e.lastSegment])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 5],
    ]);
    expect(info.extents[1].allocatedBlocks).toBeGreaterThan(20);
  });
});
