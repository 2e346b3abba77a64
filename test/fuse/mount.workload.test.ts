// Real tools on a mounted datastore: git (init, commits, a rename, fsck), fio with
// crc32c verification (sequential and random, 4 KiB and 1 MiB blocks, O_DIRECT so the
// page cache holds none of it), and stress-ng's dir and hdd stressors with verification.
// Afterwards the datastore is unmounted and our consistency check must find nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pattern } from '../helpers.js';
import { MiB, TestMount, checkFindings, expectOk, makeDatastore, requireTools, sh } from './mountHarness.js';

let m: TestMount;

beforeAll(async () => {
  requireTools('git', 'fio', 'stress-ng', 'fusermount');
  m = await makeDatastore('fuse-workload-', 1024 * MiB);
  expectOk(m.mount(), 'vmfs mount');
});

afterAll(() => m?.cleanup());

describe('real tools on the mount', () => {
  it('git: init, commits with a rename and a binary file, fsck, log', () => {
    const repo = join(m.mnt, 'repo');
    mkdirSync(repo);
    const git = (args: string) => expectOk(sh(`git ${args}`, { cwd: repo, env: { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x', GIT_CONFIG_NOSYSTEM: '1', HOME: m.dir } }), `git ${args}`);
    git('init -q -b main');
    for (let i = 0; i < 20; i++) writeFileSync(join(repo, `file${i}.txt`), `content ${i}\n`.repeat(i * 50));
    mkdirSync(join(repo, 'sub/dir'), { recursive: true });
    writeFileSync(join(repo, 'sub/dir/blob.bin'), pattern(3 * MiB, 7));
    git('add -A');
    git('commit -q -m first');
    git('mv file3.txt sub/renamed.txt');
    writeFileSync(join(repo, 'file4.txt'), 'changed\n');
    git('commit -q -a -m second');
    git('gc -q'); // packs objects: big sequential writes, renames, unlinks
    const fsck = git('fsck --full --strict');
    expect(fsck.stderr).toBe('');
    expect(git('log --oneline').stdout.trim().split('\n')).toHaveLength(2);
    expect(git('status --porcelain').stdout).toBe('');
    expect(git('show HEAD:sub/renamed.txt').stdout).toBe('content 3\n'.repeat(150));
  });

  it('fio: sequential and random writes, 4 KiB and 1 MiB blocks, O_DIRECT, crc32c verified', () => {
    const dir = join(m.mnt, 'fio');
    mkdirSync(dir);
    const jobs = [
      ['seq-1m', 'write', '1M', '192M'],
      ['seq-4k', 'write', '4k', '12M'],
      ['rand-1m', 'randwrite', '1M', '64M'],
      ['rand-4k', 'randwrite', '4k', '12M'],
    ];
    for (const [name, rw, bs, size] of jobs) {
      const r = sh(
        `fio --name=${name} --directory='${dir}' --rw=${rw} --bs=${bs} --size=${size} --direct=1 --ioengine=psync ` +
          `--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 --randrepeat=0 --output-format=json`,
      );
      expectOk(r, `fio ${name}`);
      const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
      expect({ name, error: job.error }).toEqual({ name, error: 0 });
      // Everything written was read back and verified.
      expect(job.write.io_bytes).toBe(job.read.io_bytes);
      expect(job.write.io_bytes).toBeGreaterThan(0);
      expectOk(sh(`rm -f '${dir}'/${name}*`), 'rm');
    }
  });

  it('stress-ng: dir and hdd stressors with verification', () => {
    const dir = join(m.mnt, 'stress');
    mkdirSync(dir);
    const r = sh(
      `stress-ng --dir 2 --dir-ops 2000 --dir-dirs 256 --hdd 2 --hdd-bytes 32M --hdd-write-size 64K --hdd-ops 3000 ` +
        `--timeout 30s --temp-path '${dir}' --verify --metrics-brief`,
    );
    expectOk(r, 'stress-ng');
    expect(r.stdout + r.stderr).toMatch(/successful run completed/);
    expect(r.stdout + r.stderr).not.toMatch(/fail|error/i);
  });

  it('a full datastore answers ENOSPC, and space comes back on unlink', () => {
    const fill = join(m.mnt, 'fill');
    const avail = () => Number(sh(`df --output=avail -B1M '${m.mnt}' | tail -1`).stdout.trim());
    const before = avail();
    expect(before).toBeGreaterThan(500);
    const r = sh(`dd if=/dev/zero of='${fill}' bs=1M conv=fsync status=none`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/No space left on device/);
    expect(avail()).toBe(0);
    expectOk(sh(`rm '${fill}'`), 'rm');
    expect(avail()).toBe(before);
    expectOk(sh(`echo still writable > '${join(m.mnt, 'after-full')}'`), 'write after ENOSPC');
  });

  it('unmounts cleanly and the datastore passes our consistency check', async () => {
    expectOk(m.umount(), 'vmfs umount');
    expect(m.pid()).toBeNull();
    expect(await checkFindings(m.extents)).toEqual([]);
  });
});
