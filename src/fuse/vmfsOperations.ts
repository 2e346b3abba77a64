// The FUSE operations of a mounted datastore: each one maps onto the Vmfs library
// (path calls for the namespace, inode-id calls through open file handles for data) and
// answers with the errno ext4 would give. The kernel does the permission checks
// (default_permissions) and most errno cases (EEXIST on mkdir, EISDIR on unlink, ...)
// from the attributes getattr reports; what only the file system knows is answered here.
import { constants } from 'node:fs';
import { constants as os } from 'node:os';
import { Stat, Vmfs, splitPath } from '../fs/vmfs.js';
import { FsError } from '../util/errors.js';
import { ErrorLog } from './errorLog.js';
import type { Caller, FuseHandlers, StatInput, StatfsInput } from './fuseNative.js';

const { O_APPEND, O_RDONLY, O_TRUNC } = constants;
/** The access-mode bits of open flags (Linux). */
const O_ACCMODE = 3;
const S_ISGID = 0o2000;
/** ext4's NAME_MAX: a longer name is ENAMETOOLONG even in a lookup (VMFS itself stores at most 127 bytes). */
const NAME_MAX = 255;
/** "Leave unchanged" in chown. */
const UNCHANGED_ID = 0xffffffff;
/** st_blksize: what cp and friends use as their buffer size; one FUSE write (max_write). */
const IO_SIZE = 131072;

interface OpenFile {
  id: number;
  append: boolean;
  writing: boolean;
}

export interface OperationsOptions {
  /** Where unexpected errors are logged (the daemon's stderr). */
  log: (line: string) => void;
  /** Told how many bytes of file data each write put on the extents (write-behind). */
  wrote?: (bytes: number) => void;
  /**
   * With other hosts on the datastore: a file open for writing is locked
   * exclusively for this host (another host's open for writing gets EBUSY).
   */
  fileLocks?: { lock(id: number): Promise<void>; unlock(id: number): Promise<void> };
}

export class VmfsOperations {
  private readonly files = new Map<number, OpenFile>();
  /** Handles open for writing, per file, while this host holds its lock. */
  private readonly writers = new Map<number, number>();
  private readonly fileLocks?: OperationsOptions['fileLocks'];
  private nextHandle = 1;
  private readonly wrote: (bytes: number) => void;
  readonly errors: ErrorLog;

  constructor(
    private readonly fs: Vmfs,
    options: OperationsOptions,
  ) {
    this.errors = new ErrorLog(options.log);
    this.wrote = options.wrote ?? (() => {});
    this.fileLocks = options.fileLocks;
  }

  /** The handlers to give fuse-native: every one answers exactly once, whatever is thrown. */
  handlers(): FuseHandlers {
    const fs = this.fs;
    return {
      getattr: (path, cb) => {
        // Most getattrs (every lookup is one) are answered from the caches at
        // once, with no promise in between: the cost of each request counts.
        let cached: Stat | undefined;
        try {
          cached = fs.statCached(checkNames(path), false);
        } catch (e) {
          return cb(this.errors.errno('getattr', path, e));
        }
        if (!cached) return this.reply('getattr', path, cb, () => fs.stat(path, false).then(statInput));
        const value = statInput(cached);
        this.answer('getattr', path, () => cb(0, value), () => cb(-os.errno.EIO));
      },
      readdir: (path, cb) => this.reply('readdir', path, cb, async () => dirNames(await fs.readdir(checkNames(path)))),
      readlink: (path, cb) => this.reply('readlink', path, cb, () => fs.readlink(path)),
      statfs: (path, cb) => this.reply('statfs', path, cb, async () => this.statfs()),
      open: (path, flags, cb) => this.reply('open', path, cb, () => this.open(path, flags)),
      create: (path, mode, cb, caller) =>
        this.reply('create', path, cb, async () => this.addHandle(await fs.create(path, mode & 0o7777, await this.owner(path, caller), false), false, true)),
      read: (path, fh, buf, len, pos, cb) => this.replyIo('read', path, cb, async () => fs.read(await this.idOf(path, fh), buf.subarray(0, len), pos)),
      write: (path, fh, buf, len, pos, cb) =>
        this.replyIo('write', path, cb, async () => {
          // buf is only valid until cb: the library writes it before this resolves.
          await fs.write(await this.idOf(path, fh), buf.subarray(0, len), pos, this.files.get(fh)?.append ?? false);
          this.wrote(len);
          return len;
        }),
      truncate: (path, size, cb) => this.reply('truncate', path, cb, () => fs.truncate(path, size)),
      ftruncate: (path, fh, size, cb) => this.reply('ftruncate', path, cb, async () => fs.truncateId(await this.idOf(path, fh), size, path)),
      // Every write reaches the extents before it is acknowledged; fsync makes them durable.
      fsync: (path, _datasync, _fh, cb) => this.reply('fsync', path, cb, () => fs.sync()),
      fsyncdir: (path, _datasync, _fh, cb) => this.reply('fsyncdir', path, cb, () => fs.sync()),
      flush: (_path, _fh, cb) => cb(0),
      release: (path, fh, cb) => this.reply('release', path, cb, () => this.release(fh)),
      unlink: (path, cb) => this.reply('unlink', path, cb, () => fs.unlink(path)),
      rmdir: (path, cb) => this.reply('rmdir', path, cb, () => fs.rmdir(path)),
      rename: (src, dest, cb) => this.reply('rename', src, cb, () => fs.rename(src, dest)),
      link: (existing, path, cb) => this.reply('link', path, cb, () => fs.link(existing, path)),
      symlink: (target, path, cb, caller) => this.reply('symlink', path, cb, async () => void (await fs.symlink(target, path, await this.owner(path, caller)))),
      mkdir: (path, mode, cb, caller) =>
        this.reply('mkdir', path, cb, async () => {
          const owner = await this.owner(path, caller);
          // As on ext4, a directory made in a set-group-ID directory is set-group-ID too.
          await fs.mkdir(path, (mode & 0o7777) | (owner.inheritGid ? S_ISGID : 0), owner);
        }),
      // The kernel resolved symlinks already: the path names the very inode to change.
      chmod: (path, mode, cb) => this.reply('chmod', path, cb, () => fs.setAttributes(path, { mode }, false)),
      chown: (path, uid, gid, cb) =>
        this.reply('chown', path, cb, () =>
          fs.setAttributes(path, { uid: uid === UNCHANGED_ID ? undefined : uid, gid: gid === UNCHANGED_ID ? undefined : gid }, false),
        ),
      // null is UTIME_OMIT; VMFS3 keeps whole seconds.
      utimens: (path, atime, mtime, cb) =>
        this.reply('utimens', path, cb, () => fs.setAttributes(path, { atime: atime?.sec, mtime: mtime?.sec }, false)),
    };
  }

  private async open(path: string, flags: number): Promise<number> {
    const id = await this.fs.resolve(null, path);
    // The kernel normally truncates with a setattr first; honour O_TRUNC if it reaches us.
    const writing = (flags & O_ACCMODE) !== O_RDONLY;
    const fh = await this.addHandle(id, (flags & O_APPEND) !== 0, writing);
    if (flags & O_TRUNC && writing) await this.fs.truncateId(id, 0, path);
    return fh;
  }

  private async addHandle(id: number, append: boolean, writing: boolean): Promise<number> {
    if (writing && this.fileLocks) {
      const n = this.writers.get(id) ?? 0;
      if (n === 0) await this.fileLocks.lock(id); // EBUSY when another host writes it
      this.writers.set(id, n + 1);
    }
    const fh = this.nextHandle++;
    this.files.set(fh, { id, append, writing });
    return fh;
  }

  private async release(fh: number): Promise<void> {
    const f = this.files.get(fh);
    this.files.delete(fh);
    if (!f?.writing || !this.fileLocks) return;
    const n = (this.writers.get(f.id) ?? 1) - 1;
    if (n > 0) this.writers.set(f.id, n);
    else {
      this.writers.delete(f.id);
      await this.fileLocks.unlock(f.id);
    }
  }

  private async idOf(path: string, fh: number): Promise<number> {
    return this.files.get(fh)?.id ?? this.fs.resolve(null, path);
  }

  /** A new node belongs to the caller; its group is the directory's if that is set-group-ID (as on ext4). */
  private async owner(path: string, caller: Caller): Promise<{ uid: number; gid: number; inheritGid: boolean }> {
    checkNames(path);
    const parts = splitPath(path);
    const parent = await this.fs.stat('/' + parts.slice(0, -1).join('/'));
    const inheritGid = (parent.mode & S_ISGID) !== 0;
    return { uid: caller.uid, gid: inheritGid ? parent.gid : caller.gid, inheritGid };
  }

  private statfs(): StatfsInput {
    const s = this.fs.statfs();
    return {
      bsize: s.blockSize,
      frsize: s.blockSize,
      blocks: s.totalBlocks,
      bfree: s.freeBlocks,
      bavail: s.freeBlocks,
      files: s.totalInodes,
      ffree: s.freeInodes,
      favail: s.freeInodes,
      namemax: s.nameMax,
    };
  }

  private reply<T>(op: string, path: string, cb: (err: number, value?: T) => void, work: () => Promise<T>): void {
    let result: Promise<T>;
    try {
      result = work();
    } catch (e) {
      return cb(this.errors.errno(op, path, e));
    }
    result.then(
      (value) => this.answer(op, path, () => cb(0, value), () => cb(-os.errno.EIO)),
      (e: unknown) => this.answer(op, path, () => cb(this.errors.errno(op, path, e))),
    );
  }

  /** read/write: the byte count or a negative errno in one argument. */
  private replyIo(op: string, path: string, cb: (result: number) => void, work: () => Promise<number>): void {
    this.reply<number>(op, path, (err, n) => cb(err < 0 ? err : (n ?? 0)), work);
  }

  /** Calls back; if fuse-native throws on the value (a bug), answers EIO instead, never twice. */
  private answer(op: string, path: string, send: () => void, fallback?: () => void): void {
    try {
      send();
    } catch (e) {
      this.errors.unexpected(op, path, e);
      if (fallback) {
        try {
          fallback();
        } catch (again) {
          this.errors.unexpected(op, path, again);
        }
      }
    }
  }
}

/** ENAMETOOLONG for a component longer than ext4 allows, as ext4 answers even for a lookup. */
function checkNames(path: string): string {
  // A UTF-16 unit is at most 3 bytes of UTF-8: a path this short holds no long name.
  if (path.length * 3 <= NAME_MAX) return path;
  for (const part of splitPath(path)) if (Buffer.byteLength(part) > NAME_MAX) throw new FsError('ENAMETOOLONG', path);
  return path;
}

function statInput(s: Stat): StatInput {
  return {
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    nlink: s.nlink,
    ino: s.id,
    blksize: IO_SIZE,
    blocks: s.blocks,
    atime: s.atime * 1000,
    mtime: s.mtime * 1000,
    ctime: s.ctime * 1000,
  };
}

function dirNames(entries: { name: string }[]): string[] {
  const names = entries.map((e) => e.name);
  for (const dot of ['..', '.']) if (!names.includes(dot)) names.unshift(dot);
  return names;
}
