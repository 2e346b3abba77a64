// vmfs mips run: runs a bare MIPS program (ELF or Nachos NOFF) on the
// simulated machine, with the console on stdin/stdout. The guest's exit
// status becomes ours (modulo 256); a guest stopped by an exception exits
// 128 + the exception number (see docs/MIPS.md).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { DiskError } from '../mips/disk.js';
import { type ExceptionType, MachineConfigError } from '../mips/exceptions.js';
import { LoaderError } from '../mips/loader/index.js';
import { HostFolderFileSystem } from '../mips/kernel/hostFs.js';
import { Machine } from '../mips/machine.js';
import { parseSize } from '../util/size.js';
import { UsageError } from './exitCodes.js';
import { terminal } from './terminal.js';

/** Exit code of a run whose program an exception stopped: 128 + its ExceptionType. */
function guestFaultExitCode(type: ExceptionType): number {
  return 128 + type;
}

/** A run that went wrong on the guest's side (bad file, no memory, deadlock): exit 1 with the message. */
class MipsRunError extends Error {
  readonly exitCode = 1;
}

interface RunOptions {
  mem: string;
  abi: string;
  trace?: boolean;
  stats?: boolean;
  seed?: string;
  root?: string;
}

export function registerMipsCommand(program: Command): void {
  const mips = program.command('mips').description('the Nachos-style MIPS machine');
  mips
    .command('run')
    .description('run a MIPS program (ELF32 little-endian or Nachos NOFF); console on stdin/stdout')
    .argument('<program>', 'the executable')
    .option('--mem <size>', 'physical memory (e.g. 16M)', '16M')
    .option('--abi <abi>', 'system calls: nachos (Nachos 3.4) or linux (o32 subset)', 'nachos')
    .option('--trace', 'print every instruction executed to stderr')
    .option('--stats', 'print the machine statistics (ticks, I/O, page faults) to stderr at the end')
    .option('--seed <n>', 'random timer interrupts from this seed (default: every 100 ticks)')
    .option('--root <dir>', 'host folder that Exec/Create/Open see (default: an empty in-memory file system)')
    .action(async (file: string, opts: RunOptions) => {
      process.exitCode = await runProgram(file, opts);
    });
}

async function runProgram(file: string, opts: RunOptions): Promise<number> {
  let memSize: number;
  try {
    memSize = parseSize(opts.mem);
  } catch (e) {
    throw new UsageError(`--mem: ${(e as Error).message}`);
  }
  if (opts.abi !== 'nachos' && opts.abi !== 'linux') throw new UsageError(`--abi must be nachos or linux (got '${opts.abi}')`);
  let seed: number | undefined;
  if (opts.seed !== undefined) {
    if (!/^-?\d+$/.test(opts.seed)) throw new UsageError(`--seed must be an integer (got '${opts.seed}')`);
    seed = Number(opts.seed);
  }
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EISDIR' ? 'Is a directory' : code === 'EACCES' ? 'Permission denied' : (e as Error).message;
    throw new MipsRunError(`${file}: ${why}`);
  }
  const term = terminal();
  const flush = term.flush;
  try {
    const machine = new Machine({
      memSize,
      abi: opts.abi,
      timer: seed === undefined ? 'periodic' : 'random',
      seed,
      input: term.input,
      output: term.output,
      fs: opts.root ? new HostFolderFileSystem(opts.root) : undefined,
      trace: opts.trace
        ? (pc, instr, text) => process.stderr.write(`${(pc >>> 0).toString(16).padStart(8, '0')}  ${(instr >>> 0).toString(16).padStart(8, '0')}  ${text}\n`)
        : undefined,
      onMessage: term.message,
    });
    machine.load(bytes, path.basename(file));
    const result = await machine.run();
    flush();
    if (opts.stats) process.stderr.write(`${machine.stats.format()}\n`);
    // The machine has said why it stopped (through onMessage).
    if (result.reason === 'deadlock') return 1;
    if (result.fault !== null) return guestFaultExitCode(result.fault.type);
    return (result.exitStatus ?? 0) & 0xff;
  } catch (e) {
    flush();
    // The machine's own errors (a bad executable, a bad memory size) are the user's to fix.
    if (e instanceof LoaderError || e instanceof MachineConfigError || e instanceof DiskError) throw new MipsRunError(e.message);
    throw e;
  } finally {
    term.close();
  }
}
