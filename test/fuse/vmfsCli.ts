// `vmfs mount` / `vmfs umount` for the mount tests, run through tsx (no build needed):
// `node --import tsx test/fuse/vmfsCli.ts ARGS...`. The mount commands on a program of
// their own, with the error handling and exit codes of src/cli/main.ts, so these tests
// depend on nothing else the CLI registers.
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, describeError } from '../../src/cli/exitCodes.js';
import { registerMountCommands } from '../../src/cli/mountCommand.js';

const program = new Command('vmfs').showHelpAfterError('(run with --help for usage)').exitOverride();
registerMountCommands(program);
for (const c of program.commands) c.exitOverride();
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
  else {
    const { message, code } = describeError(e);
    process.stderr.write(`vmfs: ${message}\n`);
    process.exitCode = code;
  }
}
