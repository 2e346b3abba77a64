// Runs the vmfs command from the TypeScript sources (through tsx, no build
// needed), exactly as bin/vmfs runs the compiled one.
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
