// Runs `vmfs vm ...` from the TypeScript sources for the CLI tests, the way
// src/cli/main.ts runs commands: one line on error, the documented exit code.
import { Command, CommanderError } from 'commander';
import { describeError } from '../../src/cli/exitCodes.js';
import { registerVmCommand } from '../../src/cli/vmCommand.js';

const program = new Command('vmfs').exitOverride();
registerVmCommand(program);
const override = (c: Command): void => {
  c.exitOverride();
  c.commands.forEach(override);
};
override(program);
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : 2;
  else {
    const { message, code } = describeError(e);
    process.stderr.write(`vmfs: ${message}\n`);
    process.exitCode = code;
  }
}
