// Turns whatever a file system operation threw into the negative errno FUSE
// returns. Expected failures (FsError, a host errno) pass through silently; anything
// else is a bug or damage: it becomes EIO and is logged once per distinct message, so a
// failing workload cannot flood the log.
import { constants } from 'node:os';
import { FsError } from '../util/errors.js';

const EIO = -constants.errno.EIO;

export class ErrorLog {
  private readonly seen = new Map<string, number>();

  constructor(private readonly write: (line: string) => void) {}

  /** The negative errno for `e`, raised by operation `op` on `path`. */
  errno(op: string, path: string, e: unknown): number {
    if (e instanceof FsError) return -e.errno;
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (typeof code === 'string' && code in constants.errno) return -constants.errno[code as keyof typeof constants.errno];
    this.unexpected(op, path, e);
    return EIO;
  }

  /** Logs an unexpected error the first time its message is seen; later ones are only counted. */
  unexpected(op: string, path: string, e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    const count = (this.seen.get(message) ?? 0) + 1;
    this.seen.set(message, count);
    if (count === 1) this.write(`vmfs: ${op} ${path}: ${e instanceof Error ? (e.stack ?? message) : message} (answered EIO; repeats of this error are not logged)\n`);
  }

  /** How many unexpected errors were seen, for the exit summary. */
  get count(): number {
    let n = 0;
    for (const c of this.seen.values()) n += c;
    return n;
  }
}
