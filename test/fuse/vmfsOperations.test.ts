// The FUSE handlers on an in-memory datastore, without a mount: what the kernel would
// otherwise hide (it positions O_APPEND writes and truncates for O_TRUNC itself on this
// kernel), error mapping, and that every handler answers exactly once.
import { describe, expect, it } from 'vitest';
import { constants } from 'node:fs';
import { constants as os } from 'node:os';
import { VmfsOperations } from '../../src/fuse/vmfsOperations.js';
import type { Caller, FuseHandlers } from '../../src/fuse/fuseNative.js';
import { memoryFs } from '../helpers.js';

const root: Caller = { uid: 0, gid: 0, pid: 1, umask: 0o022 };
const user: Caller = { uid: 1000, gid: 1000, pid: 2, umask: 0o022 };

async function setup() {
  const { fs } = await memoryFs();
  const log: string[] = [];
  const ops = new VmfsOperations(fs, { log: (l) => log.push(l) });
  return { fs, ops, h: ops.handlers() as Required<FuseHandlers>, log };
}

/** Calls a handler and resolves with everything its callback got (it must call back once). */
function call<T extends unknown[]>(fn: (...args: never[]) => void, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    let calls = 0;
    (fn as (...a: unknown[]) => void)(...args, (...result: unknown[]) => {
      if (++calls > 1) reject(new Error('called back twice'));
      setTimeout(() => resolve(result as T), 0);
    }, root);
  });
}

describe('VmfsOperations', () => {
  it('O_APPEND writes at the end whatever position the kernel passes', async () => {
    const { fs, h } = await setup();
    const [, fh] = await call<[number, number]>(h.create, '/f', 0o644);
    await call(h.write, '/f', fh, Buffer.from('hello'), 5, 0);
    const [err, ah] = await call<[number, number]>(h.open, '/f', constants.O_WRONLY | constants.O_APPEND);
    expect(err).toBe(0);
    expect(await call(h.write, '/f', ah, Buffer.from('++'), 2, 0)).toEqual([2]);
    const buf = Buffer.alloc(16);
    expect(await fs.read(await fs.resolve(null, '/f'), buf, 0)).toBe(7);
    expect(buf.subarray(0, 7).toString()).toBe('hello++');
  });

  it('open with O_TRUNC for writing empties the file; read-only O_TRUNC does not', async () => {
    const { fs, h } = await setup();
    const [, fh] = await call<[number, number]>(h.create, '/f', 0o644);
    await call(h.write, '/f', fh, Buffer.from('data'), 4, 0);
    await call(h.open, '/f', constants.O_RDONLY | constants.O_TRUNC);
    expect((await fs.stat('/f')).size).toBe(4);
    await call(h.open, '/f', constants.O_WRONLY | constants.O_TRUNC);
    expect((await fs.stat('/f')).size).toBe(0);
  });

  it('answers errno values: ENOENT, ENAMETOOLONG past 255 bytes even for lookups, EISDIR', async () => {
    const { h } = await setup();
    expect(await call(h.getattr, '/missing')).toEqual([-os.errno.ENOENT]);
    expect(await call(h.getattr, '/' + 'x'.repeat(200))).toEqual([-os.errno.ENOENT]);
    expect(await call(h.getattr, '/' + 'x'.repeat(256))).toEqual([-os.errno.ENAMETOOLONG]);
    // Bytes count, not characters: 85 three-byte characters fit in 255 bytes, 86 do not.
    expect(await call(h.getattr, '/' + '€'.repeat(85))).toEqual([-os.errno.ENOENT]);
    expect(await call(h.getattr, '/' + '€'.repeat(86))).toEqual([-os.errno.ENAMETOOLONG]);
    expect(await call(h.getattr, '/d/' + '😀'.repeat(64))).toEqual([-os.errno.ENAMETOOLONG]);
    expect(await call(h.create, '/' + 'x'.repeat(128), 0o644)).toEqual([-os.errno.ENAMETOOLONG]);
    await call(h.mkdir, '/d', 0o755);
    expect(await call(h.unlink, '/d')).toEqual([-os.errno.EISDIR]);
  });

  it('new nodes belong to the caller, with a set-group-ID directory’s group', async () => {
    const { fs, h } = await setup();
    await fs.mkdir('/shared', 0o2777, { uid: 0, gid: 77 });
    const create = (path: string) => new Promise<void>((r) => h.create(path, 0o640, () => r(), user));
    const mkdir = (path: string) => new Promise<void>((r) => h.mkdir(path, 0o750, () => r(), user));
    await create('/mine');
    await create('/shared/f');
    await mkdir('/shared/d');
    const owner = async (p: string) => {
      const s = await fs.stat(p);
      return [s.uid, s.gid, (s.mode & 0o7777).toString(8)];
    };
    expect(await owner('/mine')).toEqual([1000, 1000, '640']);
    expect(await owner('/shared/f')).toEqual([1000, 77, '640']);
    expect(await owner('/shared/d')).toEqual([1000, 77, '2750']);
  });

  it('utimens: null leaves that time; chown: -1 leaves that id', async () => {
    const { fs, h } = await setup();
    await call(h.create, '/f', 0o644);
    await call(h.utimens, '/f', { sec: 1000, nsec: 5 }, { sec: 2000, nsec: 0 });
    await call(h.utimens, '/f', null, { sec: 3000, nsec: 0 });
    await call(h.chown, '/f', 5, 6);
    await call(h.chown, '/f', 0xffffffff, 9);
    const s = await fs.stat('/f');
    expect([s.atime, s.mtime, s.uid, s.gid]).toEqual([1000, 3000, 5, 9]);
  });

  it('an unexpected error answers EIO and is logged once per message', async () => {
    const { fs, h, log, ops } = await setup();
    fs.stat = async () => {
      throw new TypeError('boom');
    };
    for (let i = 0; i < 3; i++) expect(await call(h.getattr, '/x')).toEqual([-os.errno.EIO]);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/^vmfs: getattr \/x: TypeError: boom/);
    expect(ops.errors.count).toBe(3);
  });
});
