// Typed access to fuse-native (CommonJS, ships no types), as patched on install by
// patches/fuse-native+2.2.6.patch: every handler gets the calling process's
// credentials as a trailing argument, and utimens gets exact atime and mtime.
import { createRequire } from 'node:module';

/** The process that made the call (libfuse's fuse_get_context), captured on the FUSE thread. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  /** The caller's umask; the kernel has already applied it to create/mkdir modes. */
  umask: number;
}

/** A time exactly as the kernel sent it: seconds since the epoch (may be negative) and 0..999999999 ns. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/**
 * A utimens time: null means UTIME_OMIT (leave that time unchanged); UTIME_NOW
 * arrives already resolved to the clock at the time of the call.
 */
export type UtimeArg = Timespec | null;

/** What getattr/readdir report; times are Dates or milliseconds since the epoch (fuse-native keeps ms). */
export interface StatInput {
  mode: number;
  uid?: number;
  gid?: number;
  size?: number;
  dev?: number;
  nlink?: number;
  ino?: number;
  rdev?: number;
  blksize?: number;
  blocks?: number;
  atime?: Date | number;
  mtime?: Date | number;
  ctime?: Date | number;
}

export interface StatfsInput {
  bsize?: number;
  frsize?: number;
  blocks?: number;
  bfree?: number;
  bavail?: number;
  files?: number;
  ffree?: number;
  favail?: number;
  fsid?: number;
  flag?: number;
  namemax?: number;
}

/** 0 for success or a negative errno (e.g. Fuse.ENOENT). */
export type Done = (err: number) => void;
export type DoneWith<T> = (err: number, value?: T) => void;
/** read/write: the byte count, or a negative errno. */
export type IoDone = (result: number) => void;

/**
 * File system operations. Each gets the caller as the argument after its callback;
 * it stays valid for the whole operation, also across awaits.
 */
export interface FuseHandlers {
  init?(cb: Done, caller: Caller): void;
  access?(path: string, mode: number, cb: Done, caller: Caller): void;
  statfs?(path: string, cb: DoneWith<StatfsInput>, caller: Caller): void;
  getattr?(path: string, cb: DoneWith<StatInput>, caller: Caller): void;
  readdir?(path: string, cb: (err: number, names?: string[], stats?: StatInput[]) => void, caller: Caller): void;
  open?(path: string, flags: number, cb: DoneWith<number>, caller: Caller): void;
  /** mode already has the caller's umask applied; the new file belongs to caller.uid/gid. */
  create?(path: string, mode: number, cb: DoneWith<number>, caller: Caller): void;
  read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: IoDone, caller: Caller): void;
  /** buf is only valid until cb is called: copy what you keep. */
  write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: IoDone, caller: Caller): void;
  truncate?(path: string, size: number, cb: Done, caller: Caller): void;
  ftruncate?(path: string, fd: number, size: number, cb: Done, caller: Caller): void;
  fsync?(path: string, datasync: number, fd: number, cb: Done, caller: Caller): void;
  fsyncdir?(path: string, datasync: number, fd: number, cb: Done, caller: Caller): void;
  flush?(path: string, fd: number, cb: Done, caller: Caller): void;
  release?(path: string, fd: number, cb: Done, caller: Caller): void;
  unlink?(path: string, cb: Done, caller: Caller): void;
  rename?(src: string, dest: string, cb: Done, caller: Caller): void;
  /** existing: the file linked to; path: the new name. */
  link?(existing: string, path: string, cb: Done, caller: Caller): void;
  /** target: the link's contents; path: the new link. */
  symlink?(target: string, path: string, cb: Done, caller: Caller): void;
  readlink?(path: string, cb: DoneWith<string>, caller: Caller): void;
  mkdir?(path: string, mode: number, cb: Done, caller: Caller): void;
  rmdir?(path: string, cb: Done, caller: Caller): void;
  mknod?(path: string, mode: number, dev: number, cb: Done, caller: Caller): void;
  chmod?(path: string, mode: number, cb: Done, caller: Caller): void;
  chown?(path: string, uid: number, gid: number, cb: Done, caller: Caller): void;
  utimens?(path: string, atime: UtimeArg, mtime: UtimeArg, cb: Done, caller: Caller): void;
}

/** fuse-native's mount options; anything else can ride in fsname, which is pasted raw into -o. */
export interface FuseOptions {
  /** Per-operation JS timer in ms; false removes it (recommended). */
  timeout?: number | false;
  /** Unmount a stale mount at the mount point first. */
  force?: boolean;
  mkdir?: boolean;
  debug?: boolean;
  allowOther?: boolean;
  allowRoot?: boolean;
  autoUnmount?: boolean;
  defaultPermissions?: boolean;
  fsname?: string;
  subtype?: string;
  kernelCache?: boolean;
  autoCache?: boolean;
  /** Seconds; 0 is ignored by fuse-native (pass attr_timeout=0 through fsname). */
  entryTimeout?: number;
  attrTimeout?: number;
  acAttrTimeout?: number;
  maxRead?: number;
  noforget?: boolean;
  umask?: number;
  uid?: number;
  gid?: number;
}

export interface FuseMount {
  readonly mnt: string;
  /** Calls back once the kernel has completed FUSE init. */
  mount(cb: (err: Error | null) => void): void;
  /** fusermount -uz, then releases the native thread. */
  unmount(cb: (err: Error | null) => void): void;
}

export type ErrnoName =
  | 'EPERM' | 'ENOENT' | 'EINTR' | 'EIO' | 'ENXIO' | 'E2BIG' | 'EBADF' | 'EAGAIN' | 'ENOMEM'
  | 'EACCES' | 'EFAULT' | 'EBUSY' | 'EEXIST' | 'EXDEV' | 'ENODEV' | 'ENOTDIR' | 'EISDIR'
  | 'EINVAL' | 'ENFILE' | 'EMFILE' | 'ETXTBSY' | 'EFBIG' | 'ENOSPC' | 'ESPIPE' | 'EROFS'
  | 'EMLINK' | 'ERANGE' | 'EDEADLK' | 'ENAMETOOLONG' | 'ENOLCK' | 'ENOSYS' | 'ENOTEMPTY'
  | 'ELOOP' | 'ENODATA' | 'EOVERFLOW' | 'EOPNOTSUPP' | 'ENOTCONN' | 'ETIMEDOUT' | 'ESTALE'
  | 'EDQUOT';

/** The Fuse class; its static E* members are negative errno values. */
export type FuseClass = {
  new (mnt: string, handlers: FuseHandlers, opts?: FuseOptions): FuseMount;
  /** fusermount -uz MNT: also cleans a mount left stale by a killed daemon. */
  unmount(mnt: string, cb: (err: Error | null) => void): void;
} & { readonly [K in ErrnoName]: number };

const require = createRequire(import.meta.url);
export const Fuse = require('fuse-native') as FuseClass;
