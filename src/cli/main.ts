// The vmfs command line: a thin layer over the library. Every command prints
// one line on error ("vmfs: PATH: No such file or directory") and exits with
// a documented code (exitCodes.ts), never a stack trace.
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, describeError } from './exitCodes.js';
import { FSCK_USAGE } from '../fsck/exitCodes.js';

type Register = (program: Command) => void;

/**
 * The modules that register commands, in help order, with the top-level
 * commands each one registers. A run loads just the module its command
 * needs: loading them all (the MIPS machine, FUSE, the VM runner) is most of
 * a short command's time. Help, --version and unknown words load them all.
 * test/cli.test.ts checks these names against what the modules register.
 */
export const COMMAND_MODULES: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['mkfs', 'extend', 'grow', 'info', 'df'], load: async () => (await import('./volumeCommands.js')).registerVolumeCommands },
  { names: ['ls', 'stat', 'cat', 'put', 'get', 'mkdir', 'rm', 'mv', 'ln'], load: async () => (await import('./fileCommands.js')).registerFileCommands },
  {
    names: ['disk'],
    load: async () => {
      const [{ registerDiskCommand }, { extentList }, { openDatastore }, { datastoreFolders }] = await Promise.all([
        import('./diskCommand.js'),
        import('./datastoreOption.js'),
        import('../fs/datastore.js'),
        import('../vm/datastoreFolder.js'),
      ]);
      return (program) => {
        let folders: ReturnType<typeof datastoreFolders> | null = null;
        registerDiskCommand(program, (path, opts: { datastore?: string }) => {
          folders ??= datastoreFolders(() => openDatastore(extentList(opts.datastore)));
          return folders(path);
        });
      };
    },
  },
  { names: ['fsck'], load: async () => (await import('./fsckCommand.js')).registerFsckCommand },
  { names: ['hosts', 'locks'], load: async () => (await import('./clusterCommands.js')).registerClusterCommands },
  { names: ['mount', 'umount'], load: async () => (await import('./mountCommand.js')).registerMountCommands },
  { names: ['vm'], load: async () => (await import('./vmCommand.js')).registerVmCommand },
  { names: ['mips'], load: async () => (await import('./mipsCommand.js')).registerMipsCommand },
];

/** The program with the commands `argv` needs (every command when it names none of them). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('vmfs')
    .description('VMFS3-compatible cluster file system toolkit: datastores, extents, FUSE, and a MIPS machine for the VMs stored in them')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const needed = COMMAND_MODULES.filter((m) => m.names.includes(argv[0]));
  for (const register of await Promise.all((needed.length > 0 ? needed : COMMAND_MODULES).map((m) => m.load()))) register(program);
  // Subcommands too (vm run, disk create...): errors come back here, never exit from inside commander.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
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
