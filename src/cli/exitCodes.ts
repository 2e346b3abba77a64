// Exit codes every vmfs command uses (documented in the README).
import { DeviceError } from '../device/blockDevice.js';
import { FsError, VolumeError } from '../util/errors.js';

export const EXIT_OK = 0;
/** The operation failed (a file error such as "No such file or directory"). */
export const EXIT_FAILED = 1;
/** Wrong usage: unknown option, missing argument, bad value. */
export const EXIT_USAGE = 2;
/** The datastore cannot be used: missing, damaged, foreign or duplicate extents. */
export const EXIT_DATASTORE = 3;
/** A bug: an unexpected exception. */
export const EXIT_INTERNAL = 70;

export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
}

/** Maps an error to its one-line message and exit code. */
export function describeError(e: unknown): { message: string; code: number } {
  if (e instanceof FsError) return { message: e.message, code: EXIT_FAILED };
  if (e instanceof VolumeError || e instanceof DeviceError) return { message: e.message, code: EXIT_DATASTORE };
  if (e instanceof UsageError) return { message: e.message, code: EXIT_USAGE };
  const err = e as { message?: string; exitCode?: number; code?: string; path?: string };
  if (typeof err?.exitCode === 'number' && err.message) return { message: err.message, code: err.exitCode };
  if (err?.code && typeof err.code === 'string' && err.code.startsWith('E') && err.message) {
    // A host file system error (a local file in put/get).
    return { message: err.message.replace(/^(\w+): /, ''), code: EXIT_FAILED };
  }
  if (e instanceof Error && e.name === 'Error' && !process.env.VMFS_DEBUG) return { message: e.message, code: EXIT_FAILED };
  return { message: `internal error: ${e instanceof Error ? e.stack : String(e)}`, code: EXIT_INTERNAL };
}
