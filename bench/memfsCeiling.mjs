// The ceiling for the FUSE benchmark: an in-memory file system served through the same
// patched fuse-native binding with the same libfuse options as `vmfs mount`, doing as
// little as a file system can (file data in 1 MiB chunks, a Map of paths). What it
// reaches is what the binding allows. `node memfsCeiling.mjs MOUNTPOINT [CACHE_SECONDS]`;
// prints "ready" once mounted; SIGTERM unmounts.
import { Fuse } from '../dist/fuse/fuseNative.js';
import { cacheTimeout, fuseOptions } from '../dist/fuse/mountOptions.js';

const CHUNK = 2 ** 20;
const mnt = process.argv[2];
const timeout = Number(process.argv[3] ?? cacheTimeout(false));
const nodes = new Map();
let nextIno = 2;
const now = () => Date.now();

function node(mode, caller) {
  const t = now();
  return { mode, uid: caller.uid, gid: caller.gid, size: 0, chunks: [], ino: nextIno++, nlink: 1, atime: t, mtime: t, ctime: t, names: new Set() };
}

function parentOf(path) {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

function nameOf(path) {
  return path.slice(path.lastIndexOf('/') + 1);
}

function stat(n) {
  return { mode: n.mode, uid: n.uid, gid: n.gid, size: n.size, nlink: n.nlink, ino: n.ino, blksize: 131072, blocks: Math.ceil(n.size / 512), atime: n.atime, mtime: n.mtime, ctime: n.ctime };
}

function add(path, n) {
  nodes.set(path, n);
  nodes.get(parentOf(path)).names.add(nameOf(path));
}

function remove(path) {
  nodes.delete(path);
  nodes.get(parentOf(path)).names.delete(nameOf(path));
}

const root = node(0o40755, { uid: 0, gid: 0 });
root.nlink = 2;
nodes.set('/', root);
let nextFd = 1;

const handlers = {
  getattr(path, cb) {
    const n = nodes.get(path);
    return n ? cb(0, stat(n)) : cb(Fuse.ENOENT);
  },
  readdir(path, cb) {
    const n = nodes.get(path);
    return n ? cb(0, ['.', '..', ...n.names]) : cb(Fuse.ENOENT);
  },
  statfs(_path, cb) {
    cb(0, { bsize: 4096, frsize: 4096, blocks: 1 << 24, bfree: 1 << 23, bavail: 1 << 23, files: 1 << 20, ffree: 1 << 20, favail: 1 << 20, namemax: 255 });
  },
  open(path, _flags, cb) {
    return nodes.has(path) ? cb(0, nextFd++) : cb(Fuse.ENOENT);
  },
  create(path, mode, cb, caller) {
    if (!nodes.has(path)) add(path, node(mode, caller));
    cb(0, nextFd++);
  },
  mkdir(path, mode, cb, caller) {
    const n = node(0o40000 | mode, caller);
    n.nlink = 2;
    add(path, n);
    cb(0);
  },
  read(path, _fd, buf, len, pos, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    const end = Math.min(pos + len, n.size);
    let done = 0;
    for (let at = pos; at < end; ) {
      const c = n.chunks[Math.floor(at / CHUNK)];
      const off = at % CHUNK;
      const take = Math.min(CHUNK - off, end - at);
      if (c) c.copy(buf, done, off, off + take);
      else buf.fill(0, done, done + take);
      done += take;
      at += take;
    }
    cb(done);
  },
  write(path, _fd, buf, len, pos, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    for (let done = 0; done < len; ) {
      const at = pos + done;
      const i = Math.floor(at / CHUNK);
      const off = at % CHUNK;
      const take = Math.min(CHUNK - off, len - done);
      (n.chunks[i] ??= Buffer.alloc(CHUNK)).set(buf.subarray(done, done + take), off);
      done += take;
    }
    n.size = Math.max(n.size, pos + len);
    n.mtime = now();
    cb(len);
  },
  truncate(path, size, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    n.size = size;
    n.chunks.length = Math.ceil(size / CHUNK);
    cb(0);
  },
  ftruncate(path, _fd, size, cb) {
    handlers.truncate(path, size, cb);
  },
  fsync(_path, _datasync, _fd, cb) {
    cb(0);
  },
  flush(_path, _fd, cb) {
    cb(0);
  },
  release(_path, _fd, cb) {
    cb(0);
  },
  unlink(path, cb) {
    if (!nodes.has(path)) return cb(Fuse.ENOENT);
    remove(path);
    cb(0);
  },
  rmdir(path, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    if (n.names.size) return cb(Fuse.ENOTEMPTY);
    remove(path);
    cb(0);
  },
  utimens(path, atime, mtime, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    if (atime) n.atime = atime.sec * 1000;
    if (mtime) n.mtime = mtime.sec * 1000;
    cb(0);
  },
};

// vmfs mount's own libfuse options, but for the first two (the mount's source and type).
const config = { extents: [], mountPoint: mnt, options: [], readOnly: false, attrTimeout: timeout, entryTimeout: timeout, lockWaitMs: 0 };
const options = ['memfs', 'subtype=memfs', ...fuseOptions(config, process.pid).fsname.split(',').slice(2)].join(',');
const fuse = new Fuse(mnt, handlers, { fsname: options, timeout: false });
fuse.mount((err) => {
  if (err) {
    process.stderr.write(`memfs: mount failed: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => fuse.unmount(() => process.exit(0)));
