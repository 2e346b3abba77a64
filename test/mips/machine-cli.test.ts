// vmfs mips run, as a user runs it: a child process with stdin piped in,
// the guest's output on stdout, messages on stderr, documented exit codes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../src/cli/exitCodes.js';
import { registerMipsCommand } from '../../src/cli/mipsCommand.js';
import { ExceptionType } from '../../src/mips/exceptions.js';
import { binDir } from './guest.js';

const runner = fileURLToPath(new URL('./mipsCli.mts', import.meta.url));

function vmfs(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', runner, 'mips', 'run', ...args], { input, encoding: 'latin1', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const bin = binDir('nachos-mips1');

describe('vmfs mips run', () => {
  it('exits with the guest exit status (mod 256) and prints statistics on request', () => {
    const r = vmfs([`${bin}/matmult`, '--stats']);
    expect(r.status).toBe(7220 & 0xff);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Ticks: total \d+, idle 0, system \d+, user \d+\nDisk I\/O: reads 0, writes 0\nConsole I\/O: reads 0, writes 0\nPaging: faults 1, TLB misses 0\n$/);
  });

  it('runs the shell on piped stdin, with Exec seeing --root', () => {
    const r = vmfs([`${bin}/shell`, '--root', bin, '--seed', '42'], 'hi there\nrun sort\nexit\n');
    expect(r.stdout).toBe('--> hi there\n--> exit status 6846\n--> ');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the same seed gives the same statistics', () => {
    const a = vmfs([`${bin}/preempt`, '--root', bin, '--seed', '9', '--stats']);
    const b = vmfs([`${bin}/preempt`, '--root', bin, '--seed', '9', '--stats']);
    expect(a.status).toBe(0);
    expect(a.stdout).toContain('loop done');
    expect(b.stdout).toBe(a.stdout);
    expect(b.stderr).toBe(a.stderr);
  });

  it('a guest stopped by an exception: one message naming it and the PC, exit 128 + its number', () => {
    const r = vmfs([`${bin}/illegal`]);
    expect(r.stdout).toBe('about to execute a reserved instruction\n');
    expect(r.stderr).toMatch(/^vmfs: illegal \(pid 1\) stopped: illegal instruction at pc 0x[0-9a-f]{8}\n$/);
    expect(r.status).toBe(128 + ExceptionType.IllegalInstr);
  });

  it('Linux personality with --abi linux', () => {
    const r = vmfs([`${binDir('linux-mips32')}/heap`, '--abi', 'linux']);
    expect(r.stdout).toBe('heap sum 12742320\n');
    expect(r.status).toBe(0);
  });

  it('--trace prints each instruction executed', () => {
    const r = vmfs([`${bin}/halt`, '--trace']);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^00000000  0c[0-9a-f]{6}  jal /);
    expect(lines.at(-1)).toMatch(/syscall/);
    expect(r.status).toBe(0);
  });

  it('files a guest creates land in --root and nowhere else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmfs-mips-'));
    copyFileSync(`${bin}/files`, join(dir, 'files'));
    const r = vmfs([join(dir, 'files'), '--root', dir]);
    expect(r.stdout).toBe('hello, file\nread 12\nmissing -1\n');
    expect(readFileSync(join(dir, 'note.txt'), 'utf8')).toBe('hello, file\n');
  });

  // Bad input fails before the machine starts: checked in-process, as main() reports it.
  async function failure(args: string[]): Promise<{ line: string; code: number }> {
    const program = new Command('vmfs').exitOverride();
    registerMipsCommand(program);
    try {
      await program.parseAsync(['mips', 'run', ...args], { from: 'user' });
    } catch (e) {
      const { message, code } = describeError(e);
      return { line: `vmfs: ${message}\n`, code };
    }
    throw new Error('no error');
  }

  it.each([
    [['/no/such/program'], 1, 'vmfs: /no/such/program: No such file or directory\n'],
    [[bin], 1, `vmfs: ${bin}: Is a directory\n`],
    [[`${bin}/halt`, '--mem', 'lots'], 2, "vmfs: --mem: not a size: 'lots' (use e.g. 512M, 2G, 1T)\n"],
    [[`${bin}/halt`, '--mem', '5'], 1, 'vmfs: memory size must be a multiple of 4 bytes between 4 and 1073741824 (got 5)\n'],
    [[`${bin}/halt`, '--abi', 'dos'], 2, "vmfs: --abi must be nachos or linux (got 'dos')\n"],
    [[`${bin}/halt`, '--seed', 'x'], 2, "vmfs: --seed must be an integer (got 'x')\n"],
    [[`${bin}/halt`, '--root', '/no/such/dir'], 1, 'vmfs: --root /no/such/dir: no such folder\n'],
  ])('bad input %j: exit %i with one line', async (args, status, stderr) => {
    expect(await failure(args)).toEqual({ line: stderr, code: status });
  });

  it('a file that is not an executable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmfs-mips-'));
    writeFileSync(join(dir, 'text'), 'hello');
    expect(await failure([join(dir, 'text')])).toEqual({ line: 'vmfs: text: not a MIPS executable (neither ELF nor Nachos NOFF)\n', code: 1 });
  });
});
