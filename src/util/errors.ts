// Errors that reach users. FsError carries a POSIX errno (the FUSE layer
// returns it, the CLI prints "PATH: message"); VolumeError is anything wrong
// with the datastore itself (damage, missing extents, bad arguments).
import { constants } from 'node:os';

export type Errno =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EINVAL'
  | 'ENAMETOOLONG'
  | 'ENOSPC'
  | 'EFBIG'
  | 'EBUSY'
  | 'EIO'
  | 'EROFS'
  | 'EPERM'
  | 'EACCES'
  | 'EMLINK'
  | 'ELOOP'
  | 'EXDEV'
  | 'EBADF';

const MESSAGES: Record<Errno, string> = {
  ENOENT: 'No such file or directory',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ENOTEMPTY: 'Directory not empty',
  EINVAL: 'Invalid argument',
  ENAMETOOLONG: 'File name too long',
  ENOSPC: 'No space left on device',
  EFBIG: 'File too large',
  EBUSY: 'Device or resource busy',
  EIO: 'Input/output error',
  EROFS: 'Read-only file system',
  EPERM: 'Operation not permitted',
  EACCES: 'Permission denied',
  EMLINK: 'Too many links',
  ELOOP: 'Too many levels of symbolic links',
  EXDEV: 'Invalid cross-device link',
  EBADF: 'Bad file descriptor',
};

export class FsError extends Error {
  readonly errno: number;
  constructor(
    readonly code: Errno,
    readonly path: string,
    detail?: string,
  ) {
    // An errno is an answer, not a fault, and nothing prints its stack: a lookup of a
    // missing name is routine (every create starts with one), and capturing the stack
    // cost more than the lookup (about 9 us).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${path}: ${MESSAGES[code]}${detail ? ` (${detail})` : ''}`);
    Error.stackTraceLimit = limit;
    this.name = 'FsError';
    this.errno = constants.errno[code];
  }
}

/** The datastore cannot be used as asked: damaged, incomplete, or the wrong thing. */
export class VolumeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VolumeError';
  }
}
