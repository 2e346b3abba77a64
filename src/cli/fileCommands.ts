// File commands over the library: ls, stat, cat, put, get, mkdir, rm, mv, ln.
import { Command } from 'commander';
import { closeSync, fstatSync, openSync, readSync, writeSync, ftruncateSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { InodeType } from '../fs/inode.js';
import { Stat, Vmfs, splitPath } from '../fs/vmfs.js';
import { FsError } from '../util/errors.js';
import { addDatastoreOption, withDatastore } from './datastoreOption.js';

const CHUNK = 8 * 2 ** 20;

export function registerFileCommands(program: Command): void {
  addDatastoreOption(program.command('ls').description('list a directory in the datastore'))
    .argument('[path]', 'directory or file', '/')
    .option('-l, --long', 'long listing: mode, links, owner, size, modification time')
    .option('-a, --all', 'also names starting with "." (system files, "." and "..")')
    .option('--json', 'machine-readable output')
    .action(async (path: string, opts) => {
      await withDatastore(opts, true, async (fs) => {
        const st = await fs.stat(path);
        let rows: { name: string; stat: Stat; target?: string }[];
        if (st.type !== InodeType.Directory) rows = [{ name: path, stat: st }];
        else {
          const list = (await fs.readdir(path)).filter((e) => opts.all || !e.name.startsWith('.'));
          rows = [];
          for (const e of list) rows.push({ name: e.name, stat: await fs.statId(e.id) });
        }
        for (const r of rows) if (r.stat.type === InodeType.Symlink) r.target = await fs.readlink(joinPath(st.type === InodeType.Directory ? path : '/', r.name));
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows.map((r) => ({ name: r.name, ...statJson(r.stat), target: r.target }))) + '\n');
          return;
        }
        for (const r of rows) {
          if (!opts.long) process.stdout.write(`${r.name}\n`);
          else {
            const s = r.stat;
            process.stdout.write(
              `${modeString(s.mode)} ${String(s.nlink).padStart(3)} ${String(s.uid).padStart(5)} ${String(s.gid).padStart(5)} ${String(s.size).padStart(12)} ${new Date(s.mtime * 1000).toISOString().replace('T', ' ').slice(0, 19)} ${r.name}${r.target !== undefined ? ` -> ${r.target}` : ''}\n`,
            );
          }
        }
      });
    });

  addDatastoreOption(program.command('stat').description('show a file’s inode'))
    .argument('<path>')
    .option('--json', 'machine-readable output')
    .action(async (path: string, opts) => {
      await withDatastore(opts, true, async (fs) => {
        const s = await fs.stat(path, false);
        if (opts.json) process.stdout.write(JSON.stringify({ path, ...statJson(s) }) + '\n');
        else {
          process.stdout.write(
            `  File: ${path}\n  Size: ${s.size}\tBlocks: ${s.blocks}\tType: ${typeName(s.type)}\n Inode: 0x${s.id.toString(16)}\tLinks: ${s.nlink}\n` +
              `Access: (${(s.mode & 0o7777).toString(8).padStart(4, '0')}/${modeString(s.mode)})  Uid: ${s.uid}  Gid: ${s.gid}\n` +
              `Access: ${iso(s.atime)}\nModify: ${iso(s.mtime)}\nChange: ${iso(s.ctime)}\n`,
          );
        }
      });
    });

  addDatastoreOption(program.command('cat').description('write files of the datastore to standard output'))
    .argument('<paths...>')
    .action(async (paths: string[], opts) => {
      await withDatastore(opts, true, async (fs) => {
        for (const p of paths) await copyOut(fs, p, 1);
      });
    });

  addDatastoreOption(program.command('put').description('copy a local file into the datastore'))
    .argument('<local>', 'local file')
    .argument('<path>', 'destination in the datastore (a directory keeps the local name)')
    .action(async (local: string, path: string, opts) => {
      await withDatastore(opts, false, async (fs) => {
        const fd = openSync(local, 'r');
        try {
          const st = fstatSync(fd);
          if (!st.isFile()) throw new FsError('EISDIR', local);
          const dest = await destination(fs, path, basename(local));
          const id = await fs.create(dest, st.mode & 0o777, { uid: st.uid, gid: st.gid });
          await fs.truncateId(id, 0, dest);
          const buf = Buffer.allocUnsafe(CHUNK);
          let pos = 0;
          for (;;) {
            const n = readSync(fd, buf, 0, CHUNK, pos);
            if (n === 0) break;
            if (isZero(buf, n)) await fs.truncateId(id, pos + n, dest); // keep holes as holes
            else await fs.write(id, buf.subarray(0, n), pos);
            pos += n;
          }
          await fs.setAttributesId(id, { atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
        } finally {
          closeSync(fd);
        }
      });
    });

  addDatastoreOption(program.command('get').description('copy a file of the datastore to a local file'))
    .argument('<path>', 'file in the datastore')
    .argument('<local>', 'local destination (a directory keeps the name)')
    .action(async (path: string, local: string, opts) => {
      await withDatastore(opts, true, async (fs) => {
        const s = await fs.stat(path);
        if (s.type === InodeType.Directory) throw new FsError('EISDIR', path);
        let target = local;
        try {
          if (statSync(local).isDirectory()) target = `${local}/${splitPath(path).pop()}`;
        } catch {
          /* a new file */
        }
        const fd = openSync(target, 'w', s.mode & 0o777);
        try {
          await copyOut(fs, path, fd, true);
        } finally {
          closeSync(fd);
        }
      });
    });

  addDatastoreOption(program.command('mkdir').description('make directories'))
    .argument('<paths...>')
    .option('-p, --parents', 'make parent directories as needed; no error if existing')
    .option('-m, --mode <octal>', 'permission bits', '755')
    .action(async (paths: string[], opts) => {
      const mode = parseInt(opts.mode, 8);
      await withDatastore(opts, false, async (fs) => {
        for (const p of paths) {
          if (!opts.parents) {
            await fs.mkdir(p, mode);
            continue;
          }
          let cur = '';
          for (const part of splitPath(p)) {
            cur += '/' + part;
            try {
              await fs.mkdir(cur, mode);
            } catch (e) {
              if (!(e instanceof FsError && e.code === 'EEXIST') || (await fs.stat(cur)).type !== InodeType.Directory) throw e;
            }
          }
        }
      });
    });

  addDatastoreOption(program.command('rm').description('remove files (and directories with -r)'))
    .argument('<paths...>')
    .option('-r, --recursive', 'remove directories and their contents')
    .option('-f, --force', 'ignore missing files')
    .action(async (paths: string[], opts) => {
      await withDatastore(opts, false, async (fs) => {
        for (const p of paths) {
          try {
            await remove(fs, p, !!opts.recursive);
          } catch (e) {
            if (!(opts.force && e instanceof FsError && e.code === 'ENOENT')) throw e;
          }
        }
      });
    });

  addDatastoreOption(program.command('mv').description('rename or move a file or directory'))
    .argument('<from>')
    .argument('<to>', 'new name, or an existing directory to move into')
    .action(async (from: string, to: string, opts) => {
      await withDatastore(opts, false, async (fs) => {
        await fs.rename(from, await destination(fs, to, splitPath(from).pop() ?? ''));
      });
    });

  addDatastoreOption(program.command('ln').description('make a link (symbolic with -s)'))
    .argument('<target>')
    .argument('<path>')
    .option('-s, --symbolic', 'make a symbolic link')
    .action(async (target: string, path: string, opts) => {
      await withDatastore(opts, false, async (fs) => {
        if (opts.symbolic) await fs.symlink(target, path);
        else await fs.link(target, path);
      });
    });
}

async function copyOut(fs: Vmfs, path: string, fd: number, sparse = false): Promise<void> {
  const id = await fs.resolve(null, path);
  const s = await fs.statId(id);
  if (s.type === InodeType.Directory) throw new FsError('EISDIR', path);
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  for (;;) {
    const n = await fs.read(id, buf, pos);
    if (n === 0) break;
    if (!(sparse && isZero(buf, n))) writeAll(fd, buf.subarray(0, n), sparse ? pos : null);
    pos += n;
  }
  if (sparse) ftruncateSync(fd, s.size);
}

function writeAll(fd: number, data: Uint8Array, pos: number | null): void {
  let done = 0;
  while (done < data.length) {
    try {
      done += writeSync(fd, data, done, data.length - done, pos === null ? null : pos + done);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
      throw e;
    }
  }
}

const ZERO = Buffer.alloc(CHUNK);
function isZero(buf: Buffer, n: number): boolean {
  return buf.compare(ZERO, 0, n, 0, n) === 0;
}

async function destination(fs: Vmfs, path: string, name: string): Promise<string> {
  try {
    if ((await fs.stat(path)).type === InodeType.Directory) return joinPath(path, name);
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'ENOENT')) throw e;
  }
  return path;
}

async function remove(fs: Vmfs, path: string, recursive: boolean): Promise<void> {
  const s = await fs.stat(path, false);
  if (s.type !== InodeType.Directory) return fs.unlink(path);
  if (!recursive) throw new FsError('EISDIR', path, 'use -r');
  for (const e of await fs.readdir(path)) if (e.name !== '.' && e.name !== '..') await remove(fs, joinPath(path, e.name), true);
  await fs.rmdir(path);
}

function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

export function modeString(mode: number): string {
  const t = (mode & 0o170000) === 0o040000 ? 'd' : (mode & 0o170000) === 0o120000 ? 'l' : '-';
  const rwx = (bits: number, special: number, ch: string) =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-');
  return t + rwx((mode >> 6) & 7, mode & 0o4000, 's') + rwx((mode >> 3) & 7, mode & 0o2000, 's') + rwx(mode & 7, mode & 0o1000, 't');
}

function typeName(t: InodeType): string {
  return { [InodeType.Directory]: 'directory', [InodeType.File]: 'regular file', [InodeType.Symlink]: 'symbolic link', [InodeType.System]: 'system file', [InodeType.Rdm]: 'raw device mapping', [InodeType.None]: 'none' }[t] ?? `type ${t}`;
}

function iso(secs: number): string {
  return new Date(secs * 1000).toISOString();
}

function statJson(s: Stat) {
  return { inode: s.id, type: typeName(s.type), mode: s.mode, nlink: s.nlink, uid: s.uid, gid: s.gid, size: s.size, blocks: s.blocks, atime: s.atime, mtime: s.mtime, ctime: s.ctime };
}
