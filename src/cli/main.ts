// The vmfs command line: a thin layer over the library. Every command prints
// one line on error ("vmfs: PATH: No such file or directory") and exits with
// a documented code (exitCodes.ts), never a stack trace.
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, describeError } from './exitCodes.js';
import { FSCK_USAGE } from '../fsck/fsck.js';
import { registerFileCommands } from './fileCommands.js';
import { registerDiskCommand } from './diskCommand.js';
import { registerMipsCommand } from './mipsCommand.js';
import { registerFsckCommand } from './fsckCommand.js';
import { registerClusterCommands } from './clusterCommands.js';
import { registerMountCommands } from './mountCommand.js';
import { registerVmCommand } from './vmCommand.js';
import { extentList } from './datastoreOption.js';
import { openDatastore } from '../fs/datastore.js';
import { datastoreFolders } from '../vm/datastoreFolder.js';
import { registerVolumeCommands } from './volumeCommands.js';

export function buildProgram(): Command {
  const program = new Command('vmfs')
    .description('VMFS3-compatible cluster file system toolkit: datastores, extents, FUSE, and a MIPS machine for the VMs stored in them')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerVolumeCommands(program);
  registerFileCommands(program);
  let folders: ReturnType<typeof datastoreFolders> | null = null;
  registerDiskCommand(program, (path, opts: { datastore?: string }) => {
    folders ??= datastoreFolders(() => openDatastore(extentList(opts.datastore)));
    return folders(path);
  });
  registerFsckCommand(program);
  registerClusterCommands(program);
  registerMountCommands(program);
  registerVmCommand(program);
  registerMipsCommand(program);
  // Subcommands too (vm run, disk create...): errors come back here, never exit from inside commander.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; commander already printed the usage error (fsck's is 16, as e2fsck's).
      return e.exitCode === 0 ? 0 : argv[0] === 'fsck' ? FSCK_USAGE : EXIT_USAGE;
    }
    const { message, code } = describeError(e);
    process.stderr.write(`vmfs: ${message}\n`);
    return code;
  }
}
