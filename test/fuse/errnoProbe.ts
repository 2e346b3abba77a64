// Runs a fixed sequence of file system calls under BASE and prints, as JSON, what each
// returned: "ok" (with a value where one matters) or the errno name. The errno table test
// runs it on the mount and on a real ext4 directory, as root and as an ordinary user, and
// compares the two tables. `node --import tsx errnoProbe.ts BASE setup|root|user`.
import * as fs from 'node:fs';
import { join } from 'node:path';

const [base, role] = process.argv.slice(2);
const p = (rel: string) => join(base, rel);
const LONG = 'n'.repeat(256); // longer than NAME_MAX (255)
const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY } = fs.constants;

function openClose(rel: string, flags: number, mode = 0o644): string {
  fs.closeSync(fs.openSync(p(rel), flags, mode));
  return 'ok';
}

function modeOf(rel: string): string {
  const st = fs.lstatSync(p(rel));
  return `${(st.mode & 0o177777).toString(8)} ${st.uid}:${st.gid} nlink=${st.nlink}`;
}

const setup: [string, () => unknown][] = [
  ['mkdir dir', () => fs.mkdirSync(p('dir'), 0o755)],
  ['write dir/file', () => fs.writeFileSync(p('dir/file'), 'x', { mode: 0o644 })],
  ['mkdir dir/sub', () => fs.mkdirSync(p('dir/sub'))],
  ['mkdir empty', () => fs.mkdirSync(p('empty'))],
  ['write file', () => fs.writeFileSync(p('file'), 'hello\n', { mode: 0o644 })],
  ['symlink link', () => fs.symlinkSync('file', p('link'))],
  ['symlink dangling', () => fs.symlinkSync('nowhere', p('dangling'))],
  ['mkdir private', () => fs.mkdirSync(p('private'), 0o700)],
  ['write private/secret', () => fs.writeFileSync(p('private/secret'), 's')],
  ['write ro-file', () => fs.writeFileSync(p('ro-file'), 'r', { mode: 0o444 })],
  ['mkdir shared', () => fs.mkdirSync(p('shared'))],
  ['chmod shared 0777', () => fs.chmodSync(p('shared'), 0o777)],
  ['mkdir sticky', () => fs.mkdirSync(p('sticky'))],
  ['chmod sticky 01777', () => fs.chmodSync(p('sticky'), 0o1777)],
  ['write sticky/rootfile', () => fs.writeFileSync(p('sticky/rootfile'), 'r', { mode: 0o666 })],
  ['chmod sticky/rootfile 0666', () => fs.chmodSync(p('sticky/rootfile'), 0o666)],
  ['mkdir setgid', () => fs.mkdirSync(p('setgid'))],
  ['chown setgid 0:1234', () => fs.chownSync(p('setgid'), 0, 1234)],
  ['chmod setgid 02777', () => fs.chmodSync(p('setgid'), 0o2777)],
];

const root: [string, () => unknown][] = [
  ['stat missing', () => fs.statSync(p('missing'))],
  ['stat file/x', () => fs.statSync(p('file/x'))],
  ['stat LONG', () => fs.statSync(p(LONG))],
  ['stat dangling', () => fs.statSync(p('dangling'))],
  ['lstat dangling', () => modeOf('dangling')],
  ['stat link', () => modeOf('link')],
  ['readlink link', () => fs.readlinkSync(p('link'))],
  ['readlink file', () => fs.readlinkSync(p('file'))],
  ['open missing', () => openClose('missing', O_RDONLY)],
  ['open file O_CREAT|O_EXCL', () => openClose('file', O_CREAT | O_EXCL | O_WRONLY)],
  ['open link O_CREAT|O_EXCL', () => openClose('link', O_CREAT | O_EXCL | O_WRONLY)],
  ['open dir O_WRONLY', () => openClose('dir', O_WRONLY)],
  ['open dir O_RDWR', () => openClose('dir', O_RDWR)],
  ['open file/x O_CREAT', () => openClose('file/x', O_CREAT | O_WRONLY)],
  ['open file O_DIRECTORY', () => openClose('file', O_RDONLY | O_DIRECTORY)],
  ['open LONG O_CREAT', () => openClose(LONG, O_CREAT | O_WRONLY)],
  ['open missing/x O_CREAT', () => openClose('missing/x', O_CREAT | O_WRONLY)],
  ['mkdir dir', () => fs.mkdirSync(p('dir'))],
  ['mkdir file', () => fs.mkdirSync(p('file'))],
  ['mkdir missing/x', () => fs.mkdirSync(p('missing/x'))],
  ['mkdir file/x', () => fs.mkdirSync(p('file/x'))],
  ['mkdir LONG', () => fs.mkdirSync(p(LONG))],
  ['rmdir dir', () => fs.rmdirSync(p('dir'))],
  ['rmdir file', () => fs.rmdirSync(p('file'))],
  ['rmdir missing', () => fs.rmdirSync(p('missing'))],
  ['rmdir link', () => fs.rmdirSync(p('link'))],
  ['rmdir dir/.', () => fs.rmdirSync(p('dir') + '/.')],
  ['unlink dir', () => fs.unlinkSync(p('dir'))],
  ['unlink missing', () => fs.unlinkSync(p('missing'))],
  ['unlink file/x', () => fs.unlinkSync(p('file/x'))],
  ['rename dir dir/sub/x', () => fs.renameSync(p('dir'), p('dir/sub/x'))],
  ['rename file dir', () => fs.renameSync(p('file'), p('dir'))],
  ['rename dir file', () => fs.renameSync(p('dir'), p('file'))],
  ['rename empty dir', () => fs.renameSync(p('empty'), p('dir'))],
  ['rename missing x', () => fs.renameSync(p('missing'), p('x'))],
  ['rename file missing/x', () => fs.renameSync(p('file'), p('missing/x'))],
  ['rename file LONG', () => fs.renameSync(p('file'), p(LONG))],
  ['link dir d2', () => fs.linkSync(p('dir'), p('d2'))],
  ['link file dir/file', () => fs.linkSync(p('file'), p('dir/file'))],
  ['link missing x', () => fs.linkSync(p('missing'), p('x'))],
  ['symlink x file', () => fs.symlinkSync('x', p('file'))],
  ['symlink x LONG', () => fs.symlinkSync('x', p(LONG))],
  ['truncate dir', () => fs.truncateSync(p('dir'))],
  ['readdir file', () => fs.readdirSync(p('file'))],
  ['readdir missing', () => fs.readdirSync(p('missing'))],
  ['readdir dir', () => fs.readdirSync(p('dir')).sort().join(',')],
  // Data semantics
  ['O_APPEND writes at the end', () => {
    const fd = fs.openSync(p('file'), O_WRONLY | O_APPEND);
    fs.writeSync(fd, 'appended', 0); // the position is ignored
    fs.closeSync(fd);
    return fs.readFileSync(p('file'), 'utf8');
  }],
  ['O_TRUNC empties', () => {
    fs.closeSync(fs.openSync(p('dir/file'), O_WRONLY | O_TRUNC));
    return fs.statSync(p('dir/file')).size;
  }],
  ['O_CREAT|O_EXCL new', () => openClose('created', O_CREAT | O_EXCL | O_WRONLY, 0o600)],
  ['mode of created', () => modeOf('created')],
  ['ftruncate grows with zeros', () => {
    const fd = fs.openSync(p('created'), O_RDWR);
    fs.ftruncateSync(fd, 5);
    fs.closeSync(fd);
    return fs.readFileSync(p('created')).toString('hex');
  }],
  ['read past end', () => {
    const fd = fs.openSync(p('file'), O_RDONLY);
    const n = fs.readSync(fd, Buffer.alloc(10), 0, 10, 1000);
    fs.closeSync(fd);
    return n;
  }],
  ['pwrite past end leaves a hole', () => {
    const fd = fs.openSync(p('created'), O_RDWR);
    fs.writeSync(fd, 'z', 10);
    fs.closeSync(fd);
    return fs.readFileSync(p('created')).toString('hex');
  }],
  ['utimes exact', () => {
    fs.utimesSync(p('created'), 1000000000, 1200000000);
    const st = fs.statSync(p('created'));
    return [st.atimeMs, st.mtimeMs];
  }],
  ['rename over a file', () => {
    fs.renameSync(p('created'), p('ro-file'));
    return [fs.existsSync(p('created')), fs.readFileSync(p('ro-file')).length];
  }],
  ['link then unlink keeps data', () => {
    fs.linkSync(p('ro-file'), p('hard'));
    const a = modeOf('hard');
    fs.unlinkSync(p('ro-file'));
    return [a, modeOf('hard'), fs.readFileSync(p('hard')).length];
  }],
  ['rename dir across parents', () => {
    fs.renameSync(p('empty'), p('dir/sub/moved'));
    return [modeOf('dir'), modeOf('dir/sub'), modeOf('dir/sub/moved'), fs.readdirSync(p('dir/sub')).join(',')];
  }],
  ['rmdir empty dir', () => fs.rmdirSync(p('dir/sub/moved'))],
  ['mkdir in setgid dir', () => {
    fs.mkdirSync(p('setgid/child'), 0o755);
    fs.writeFileSync(p('setgid/file'), '');
    return [modeOf('setgid/child'), modeOf('setgid/file')];
  }],
  ['chown -1 keeps', () => {
    fs.chownSync(p('hard'), 5, 6);
    fs.chownSync(p('hard'), -1, 7);
    return modeOf('hard');
  }],
  ['lchown symlink', () => {
    fs.lchownSync(p('link'), 8, 9);
    return [modeOf('link'), modeOf('file')];
  }],
];

const user: [string, () => unknown][] = [
  ['create in root-owned dir', () => openClose('mine', O_CREAT | O_WRONLY)],
  ['mkdir in root-owned dir', () => fs.mkdirSync(p('mine'))],
  ['stat private/secret', () => fs.statSync(p('private/secret'))],
  ['readdir private', () => fs.readdirSync(p('private'))],
  ['open ro-file O_WRONLY', () => openClose('hard', O_WRONLY)],
  ['open file O_WRONLY', () => openClose('file', O_WRONLY)],
  ['truncate file', () => fs.truncateSync(p('file'))],
  ['unlink file', () => fs.unlinkSync(p('file'))],
  ['rename file x', () => fs.renameSync(p('file'), p('x'))],
  ['chmod file', () => fs.chmodSync(p('file'), 0o777)],
  ['chown file', () => fs.chownSync(p('file'), 1000, 1000)],
  ['utimes file (explicit)', () => fs.utimesSync(p('file'), 1, 1)],
  ['utimes file (now)', () => fs.utimesSync(p('file'), Date.now() / 1000, Date.now() / 1000)],
  ['unlink sticky/rootfile', () => fs.unlinkSync(p('sticky/rootfile'))],
  ['write sticky/rootfile', () => fs.writeFileSync(p('sticky/rootfile'), 'mine')],
  ['create shared/mine', () => openClose('shared/mine', O_CREAT | O_WRONLY, 0o640)],
  ['owner of shared/mine', () => modeOf('shared/mine')],
  ['mkdir shared/d', () => fs.mkdirSync(p('shared/d'), 0o750)],
  ['owner of shared/d', () => modeOf('shared/d')],
  ['symlink shared/l', () => fs.symlinkSync('mine', p('shared/l'))],
  ['owner of shared/l', () => modeOf('shared/l')],
  ['chmod own file', () => { fs.chmodSync(p('shared/mine'), 0o604); return modeOf('shared/mine'); }],
  ['chown own file to root', () => fs.chownSync(p('shared/mine'), 0, 0)],
  ['utimes own file', () => fs.utimesSync(p('shared/mine'), 5, 6)],
  ['create in setgid dir', () => { openClose('setgid/u', O_CREAT | O_WRONLY); return modeOf('setgid/u'); }],
  ['rmdir shared', () => fs.rmdirSync(p('shared'))],
  ['rmdir shared/d', () => fs.rmdirSync(p('shared/d'))],
];

const table: Record<string, unknown> = {};
for (const [name, op] of { setup, root, user }[role as 'setup' | 'root' | 'user'] ?? []) {
  try {
    const value = op();
    table[name] = value === undefined ? 'ok' : value;
  } catch (e) {
    table[name] = (e as NodeJS.ErrnoException).code ?? String(e);
  }
}
process.stdout.write(JSON.stringify(table) + '\n');
