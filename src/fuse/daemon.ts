// The background mount server that `vmfs mount` starts: `node daemon.js CONFIG_JSON`
// (a MountConfig). It reports on file descriptor 3, a pipe from its parent, one JSON line:
// {"ready":true} once the mount is live, or {"error":MESSAGE,"kind":ERROR_NAME} if it
// could not mount; then it serves until SIGINT/SIGTERM or until the mount is taken away.
// Its stdout and stderr are the log.
import { closeSync, writeSync } from 'node:fs';
import type { MountConfig } from './mountOptions.js';
import { serve } from './server.js';

const REPORT_FD = 3;

function report(message: object): void {
  try {
    writeSync(REPORT_FD, JSON.stringify(message) + '\n');
    closeSync(REPORT_FD);
  } catch {
    // Nobody is listening (the parent gave up or exited): the log still has it.
  }
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}`);
}

let exitCode = 0;
try {
  const config = JSON.parse(process.argv[2] ?? '') as MountConfig;
  await serve(config, { ready: () => report({ ready: true }), log });
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  log(`vmfs: ${err.message}\n`);
  report({ error: err.message, kind: err.name });
  exitCode = 1;
}
// fuse-native keeps a libuv handle referenced after an unmount it did not make itself.
process.exit(exitCode);
