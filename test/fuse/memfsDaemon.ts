// A small in-memory file system served through the patched fuse-native, for the binding
// tests: new files and directories belong to the caller, utimens sets what it is given.
// Run as `node --import tsx test/fuse/memfsDaemon.ts MOUNTPOINT`; it prints one JSON line
// per create/mkdir/utimens (with the caller) and {"op":"ready"} once mounted; SIGTERM unmounts.
import { Fuse, type Caller, type FuseHandlers, type StatInput, type Timespec } from '../../src/fuse/fuseNative.js';

interface Node {
  mode: number;
  uid: number;
  gid: number;
  data: Buffer;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

const mnt = process.argv[2];
if (!mnt) throw new Error('usage: memfsDaemon.ts MOUNTPOINT');

const nodes = new Map<string, Node>();
let nextFd = 1;

function emit(event: object): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function makeNode(mode: number, caller: Caller): Node {
  const now = Date.now();
  return { mode, uid: caller.uid, gid: caller.gid, data: Buffer.alloc(0), atimeMs: now, mtimeMs: now, ctimeMs: now };
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

function childrenOf(dir: string): string[] {
  const prefix = dir === '/' ? '/' : dir + '/';
  return [...nodes.keys()].filter((p) => p !== '/' && parentOf(p) === dir).map((p) => p.slice(prefix.length));
}

function toMs(t: Timespec): number {
  return t.sec * 1000 + t.nsec / 1e6;
}

function statOf(n: Node): StatInput {
  return {
    mode: n.mode, uid: n.uid, gid: n.gid, size: n.data.length, nlink: 1,
    atime: n.atimeMs, mtime: n.mtimeMs, ctime: n.ctimeMs,
  };
}

// Runs op on the node at path, or answers ENOENT.
function withNode(path: string, cb: (err: number) => void, op: (n: Node) => void): void {
  const n = nodes.get(path);
  if (!n) return cb(Fuse.ENOENT);
  op(n);
  n.ctimeMs = Date.now();
  cb(0);
}

nodes.set('/', makeNode(0o40777, { uid: 0, gid: 0, pid: 0, umask: 0 }));

const handlers: FuseHandlers = {
  getattr(path, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    cb(0, statOf(n));
  },
  readdir(path, cb) {
    if (!nodes.has(path)) return cb(Fuse.ENOENT);
    cb(0, ['.', '..', ...childrenOf(path)]);
  },
  create(path, mode, cb, caller) {
    emit({ op: 'create', path, mode, caller });
    if (nodes.has(path)) return cb(Fuse.EEXIST);
    nodes.set(path, makeNode(mode, caller));
    cb(0, nextFd++);
  },
  mkdir(path, mode, cb, caller) {
    emit({ op: 'mkdir', path, mode, caller });
    if (nodes.has(path)) return cb(Fuse.EEXIST);
    nodes.set(path, makeNode(0o40000 | mode, caller));
    cb(0);
  },
  open(path, _flags, cb) {
    if (!nodes.has(path)) return cb(Fuse.ENOENT);
    cb(0, nextFd++);
  },
  release(_path, _fd, cb) {
    cb(0);
  },
  read(path, _fd, buf, len, pos, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    cb(n.data.copy(buf, 0, pos, Math.min(pos + len, n.data.length)));
  },
  write(path, _fd, buf, len, pos, cb) {
    const n = nodes.get(path);
    if (!n) return cb(Fuse.ENOENT);
    if (pos + len > n.data.length) n.data = Buffer.concat([n.data, Buffer.alloc(pos + len - n.data.length)]);
    buf.copy(n.data, pos, 0, len);
    n.mtimeMs = Date.now();
    cb(len);
  },
  truncate(path, size, cb) {
    withNode(path, cb, (n) => {
      n.data = Buffer.concat([n.data, Buffer.alloc(Math.max(0, size - n.data.length))]).subarray(0, size);
    });
  },
  unlink(path, cb) {
    cb(nodes.delete(path) ? 0 : Fuse.ENOENT);
  },
  rmdir(path, cb) {
    if (childrenOf(path).length > 0) return cb(Fuse.ENOTEMPTY);
    cb(nodes.delete(path) ? 0 : Fuse.ENOENT);
  },
  chmod(path, mode, cb) {
    withNode(path, cb, (n) => { n.mode = (n.mode & 0o170000) | (mode & 0o7777); });
  },
  chown(path, uid, gid, cb) {
    // (uid_t)-1 / (gid_t)-1 mean "leave unchanged"
    withNode(path, cb, (n) => {
      if (uid !== 0xffffffff) n.uid = uid;
      if (gid !== 0xffffffff) n.gid = gid;
    });
  },
  utimens(path, atime, mtime, cb, caller) {
    emit({ op: 'utimens', path, atime, mtime, caller });
    withNode(path, cb, (n) => {
      if (atime) n.atimeMs = toMs(atime);
      if (mtime) n.mtimeMs = toMs(mtime);
    });
  },
};

const fuse = new Fuse(mnt, handlers, { allowOther: true, defaultPermissions: true, timeout: false, force: true });

fuse.mount((err) => {
  if (err) {
    process.stderr.write(`mount failed: ${err.message}\n`);
    process.exit(1);
  }
  emit({ op: 'ready' });
});

process.on('SIGTERM', () => {
  fuse.unmount(() => process.exit(0));
});
