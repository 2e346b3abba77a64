// Runs `vmfs mips ...` from the TypeScript sources for the CLI tests, the way
// src/cli/main.ts runs commands: one line on error, the documented exit code.
import { Command, CommanderError } from 'commander';
import { describeError } from '../../src/cli/exitCodes.js';
import { registerMipsCommand } from '../../src/cli/mipsCommand.js';

const program = new Command('vmfs').exitOverride();
registerMipsCommand(program);
for (const c of program.commands) {
  c.exitOverride();
  for (const s of c.commands) s.exitOverride();
}
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
