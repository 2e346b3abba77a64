// The vmfs command (dist/, run `npx tsc -p tsconfig.json` first) on NBD
// extents and on a mix of NBD and file extents: mkfs (an export keeps its
// size), put/get, extend, fsck, a FUSE mount, a VM run; the bytes are then
// checked through the files nbdkit serves, by us and by fsck.vmfs.
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReservationKind, readClusterConfig } from '../../src/cluster/clusterConfig.js';
import { openDatastore } from '../../src/fs/datastore.js';
import { MiB, ROOT_DIR, expectVmfsToolsClean, pattern, runVmfs, tempDir } from '../helpers.js';
import { checkFindings, requireTools, sh } from '../fuse/mountHarness.js';
import { Nbdkit, startNbdkit } from './nbdkit.js';

const tmp = tempDir('vmfs-nbd-cli-');
const servers: Nbdkit[] = [];
const file = (name: string) => join(tmp.path, name);
let a: Nbdkit; // Unix socket, a.img
let b: Nbdkit; // TCP loopback, b.img

beforeAll(async () => {
  requireTools('nbdkit', 'fsck.vmfs', 'fusermount');
  for (const n of ['a.img', 'b.img']) writeFileSync(file(n), '');
  truncateSync(file('a.img'), 600 * MiB);
  truncateSync(file('b.img'), 600 * MiB);
  a = await startNbdkit({ plugin: ['file', file('a.img')], socket: file('a.sock'), dir: tmp.path });
  b = await startNbdkit({ plugin: ['file', file('b.img')], dir: tmp.path });
  servers.push(a, b);
});
afterAll(async () => {
  sh(`fusermount -uz ${file('mnt')} 2>/dev/null || true`);
  for (const s of servers) await s.stop();
  tmp.cleanup();
});

describe('vmfs on NBD extents', () => {
  it('mkfs, put/get, extend, fsck on a mix of NBD and file extents; FUSE and a VM on them', async () => {
    const ds = [a.url, file('c.img')].join(',');
    // An export has the size its server gives: --size can only create or grow files.
    const tooBig = runVmfs(['mkfs', '-d', a.url, '--size', '1G']);
    expect(tooBig).toMatchObject({ code: 3, stderr: `vmfs: ${a.url}: cannot be resized\n` });
    const mk = runVmfs(['mkfs', '-d', ds, '--size', '300M', '--label', 'nbd']);
    expect(mk.stderr).toBe('');
    expect(mk.stdout).toMatch(/768 MiB on 2 extent\(s\)/); // 2 segments on the 600 MiB export, 1 on the 300 MiB file
    const data = pattern(5 * MiB + 123, 42);
    writeFileSync(file('in.bin'), data);
    expect(runVmfs(['put', '-d', ds, file('in.bin'), '/data.bin']).code).toBe(0);
    expect(runVmfs(['get', '-d', ds, '/data.bin', file('out.bin')]).code).toBe(0);
    expect(readFileSync(file('out.bin')).equals(data)).toBe(true);
    const ext = runVmfs(['extend', '-d', ds, '--add', b.url]);
    expect(ext.stdout).toBe(`extended: 768 MiB -> 1.25 GiB (+2 segments on ${b.url})\n`);
    const all = [a.url, file('c.img'), b.url].join(',');
    // The order of -d does not matter, URLs included.
    expect(runVmfs(['info', '-d', [b.url, file('c.img'), a.url].join(',')]).stdout).toMatch(/Capacity: +1\.25 GiB/);

    mkdirSync(file('mnt'));
    const mount = runVmfs(['mount', '-d', all, file('mnt'), '--cluster']);
    expect(mount.stderr).toBe('');
    expect(mount.code).toBe(0);
    const big = pattern(40 * MiB, 7);
    writeFileSync(file('big.bin'), big);
    const copied = sh(`cp ${file('big.bin')} ${file('mnt')}/big.bin && cmp ${file('big.bin')} ${file('mnt')}/big.bin`);
    expect(copied).toMatchObject({ code: 0, stderr: '' });
    expect(runVmfs(['umount', file('mnt')]).code).toBe(0);

    expect(runVmfs(['vm', 'create', 'mm', '-d', all, '--sample', 'matmult'], { cwd: ROOT_DIR }).code).toBe(0);
    expect(runVmfs(['vm', 'run', 'mm', '-d', all], { cwd: ROOT_DIR, input: '' }).code).toBe(7220 & 0xff);

    const fsck = runVmfs(['fsck', '-n', '-d', all]);
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
    // The same bytes read through the files behind the exports: ours and vmfs-tools' checks.
    const files = [file('a.img'), file('c.img'), file('b.img')];
    expect(await checkFindings(files)).toEqual([]);
    // Hosts on several machines need the disk-based reservation: mkfs on an export picks it.
    const formatted = await openDatastore(files, { readOnly: true });
    expect((await readClusterConfig(formatted.volume)).reservation).toBe(ReservationKind.Disk);
    await formatted.close();
    expectVmfsToolsClean(files);
    const got = runVmfs(['get', '-d', files.join(','), '/big.bin', file('big.out')]);
    expect(got.code).toBe(0);
    expect(readFileSync(file('big.out')).equals(big)).toBe(true);
  });

  it('bad NBD extents: one clear line and exit code 3, never a hang', () => {
    const refused = runVmfs(['info', '-d', 'nbd://127.0.0.1:1/']);
    expect(refused).toMatchObject({ code: 3, stdout: '', stderr: 'vmfs: nbd://127.0.0.1:1/: cannot connect: connection refused\n' });
    const noSocket = runVmfs(['info', '-d', 'nbd+unix:///x']);
    expect(noSocket).toMatchObject({ code: 3, stderr: 'vmfs: nbd+unix:///x: no socket (nbd+unix:///EXPORT?socket=PATH)\n' });
    // One extent of three: the datastore is incomplete.
    const alone = runVmfs(['info', '-d', b.url]);
    expect(alone.code).toBe(3);
    expect(alone.stderr).toMatch(/^vmfs: [^\n]+\n$/);
  });
});
