// The command line: real processes, real exit codes, one-line errors.
import { writeFileSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { COMMAND_MODULES, buildProgram } from '../src/cli/main.js';
import { MiB, pattern, runVmfs, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-cli-');
afterAll(() => tmp.cleanup());
const e0 = join(tmp.path, 'e0');
const e1 = join(tmp.path, 'e1');
const d = `${e0},${e1}`;

describe('vmfs CLI', () => {
  it('formats, writes, lists and reads back a two-extent datastore', () => {
    const mk = runVmfs(['mkfs', '-d', d, '--size', '300M', '--label', 'cli']);
    expect(mk.stderr).toBe('');
    expect(mk.code).toBe(0);
    expect(mk.stdout).toMatch(/formatted VMFS3 datastore .* "cli": 512 MiB on 2 extent\(s\)/);
    expect(statSync(e0).size).toBe(300 * MiB);

    const local = join(tmp.path, 'local.bin');
    const data = pattern(5 * MiB + 77, 9);
    writeFileSync(local, data);
    expect(runVmfs(['mkdir', '-p', '-d', d, '/a/b/c']).code).toBe(0);
    expect(runVmfs(['put', '-d', d, local, '/a/b/']).code).toBe(0);
    expect(runVmfs(['ln', '-s', '-d', d, 'a/b/local.bin', '/lnk']).code).toBe(0);
    const ls = runVmfs(['ls', '-l', '-d', d, '/a/b']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^drwxr-xr-x +2 +0 +0 +280 .* c$/m);
    expect(ls.stdout).toMatch(new RegExp(`^-rw-r--r-- +1 .* ${data.length} .* local.bin$`, 'm'));
    expect(runVmfs(['ls', '-l', '-d', d, '/']).stdout).toMatch(/lnk -> a\/b\/local.bin/);
    const json = JSON.parse(runVmfs(['ls', '--json', '-d', d, '/a/b']).stdout);
    expect(json.map((e: { name: string }) => e.name).sort()).toEqual(['c', 'local.bin']);

    const cat = runVmfs(['cat', '-d', d, '/lnk']);
    expect(cat.code).toBe(0);
    expect(cat.raw.equals(data)).toBe(true);
    const out = join(tmp.path, 'out.bin');
    expect(runVmfs(['get', '-d', d, '/a/b/local.bin', out]).code).toBe(0);
    expect(readFileSync(out).equals(data)).toBe(true);

    expect(runVmfs(['mv', '-d', d, '/a/b/local.bin', '/a']).code).toBe(0);
    expect(runVmfs(['stat', '--json', '-d', d, '/a/local.bin']).stdout).toContain(`"size":${data.length}`);
    const info = JSON.parse(runVmfs(['info', '--json', '-d', `${e1},${e0}`]).stdout);
    expect(info.label).toBe('cli');
    expect(info.extents.map((e: { path: string; firstSegment: number }) => [e.path, e.firstSegment])).toEqual([
      [e0, 0],
      [e1, 1],
    ]);
    expect(runVmfs(['df', '-d', d]).stdout).toMatch(/512 MiB/);
    expect(runVmfs(['rm', '-d', d, '/a']).stderr).toBe('vmfs: /a: Is a directory (use -r)\n');
    expect(runVmfs(['rm', '-r', '-d', d, '/a']).code).toBe(0);
    expect(runVmfs(['ls', '-d', d, '/']).stdout).toBe('lnk\n');
  });

  it('keeps sparse files sparse through put and get', () => {
    const local = join(tmp.path, 'sparse.in');
    const buf = Buffer.alloc(40 * MiB);
    buf.write('end', 40 * MiB - 3);
    writeFileSync(local, buf);
    expect(runVmfs(['put', '-d', d, local, '/sparse']).code).toBe(0);
    const out = join(tmp.path, 'sparse.out');
    expect(runVmfs(['get', '-d', d, '/sparse', out]).code).toBe(0);
    expect(readFileSync(out).equals(buf)).toBe(true);
    expect(statSync(out).blocks * 512).toBeLessThan(20 * MiB);
    const st = JSON.parse(runVmfs(['stat', '--json', '-d', d, '/sparse']).stdout);
    expect(st.blocks * 512).toBeLessThanOrEqual(8 * MiB);
  });

  it('prints one-line errors with documented exit codes', () => {
    const cases: [string[], number, RegExp][] = [
      [['cat', '-d', d, '/missing'], 1, /^vmfs: \/missing: No such file or directory\n$/],
      [['mkdir', '-d', d, '/lnk'], 1, /^vmfs: \/lnk: File exists\n$/],
      [['ls', '-d', e0], 3, /^vmfs: missing extent: .* 2 extents, 1 given; nothing holds segments 1-1\n$/],
      [['ls', '-d', join(tmp.path, 'nope')], 3, /No such file or directory\n$/],
      [['mkfs', '-d', d, '--size', '300M'], 3, /already holds a VMFS extent \(use --force/],
      [['mkfs', '-d', join(tmp.path, 'x'), '--size', '10M'], 3, /too small for an extent/],
      [['mkfs', '-d', join(tmp.path, 'x'), '--size', 'lots'], 2, /--size: not a size: 'lots'/],
      [['mkfs', '-d', join(tmp.path, 'x'), '--size', '300M', '-b', '3M'], 2, /block size 3M: use 1M, 2M, 4M or 8M/],
      [['ls'], 2, /required option '-d, --datastore <extents>' not specified/],
      [['frobnicate'], 2, /unknown command 'frobnicate'/],
      [['put', '-d', d, join(tmp.path, 'no-such-local'), '/x'], 1, /no such file or directory, open/i],
    ];
    for (const [args, code, re] of cases) {
      const r = runVmfs(args);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr).not.toMatch(/\n    at /); // never a stack trace
      expect(r.code, args.join(' ')).toBe(code);
    }
    expect(existsSync(join(tmp.path, 'x'))).toBe(false); // refused before anything was created
  });

  it('has --help on every command', () => {
    for (const c of ['mkfs', 'info', 'df', 'ls', 'stat', 'cat', 'put', 'get', 'mkdir', 'rm', 'mv', 'ln']) {
      const r = runVmfs([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(/^Usage: vmfs /);
    }
  });

  it('knows which module registers each command (a run loads only that one), and help still lists them all', async () => {
    for (const m of COMMAND_MODULES) {
      const program = new Command('vmfs');
      (await m.load())(program);
      expect(program.commands.map((c) => c.name())).toEqual(m.names);
      for (const name of m.names) expect((await buildProgram([name])).commands.map((c) => c.name())).toEqual(m.names);
    }
    const all = (await buildProgram(['--help'])).commands.map((c) => c.name());
    expect(all).toEqual(COMMAND_MODULES.flatMap((m) => m.names));
    const help = runVmfs(['--help']).stdout;
    for (const name of all) expect(help).toMatch(new RegExp(`^ {2}${name}\\b`, 'm'));
    expect(runVmfs(['nosuch']).code).toBe(2);
  });
});
