// Model-based random test: random sequences of operations run against the
// library and against a tiny in-memory model of POSIX semantics; both must
// agree on every result and error, and the volume must check clean after.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InodeType } from '../src/fs/inode.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { FsError } from '../src/util/errors.js';
import { MiB, expectClean, memoryFs, pattern } from './helpers.js';

type Node = { kind: 'file'; data: Buffer; links: number; id: number } | { kind: 'dir'; children: Map<string, Node> };

class Model {
  root: Node = { kind: 'dir', children: new Map() };
  nextId = 1;
  /** The node at `path`, or the errno that walking to it gives. */
  lookup(path: string): Node | 'ENOENT' | 'ENOTDIR' {
    let n: Node = this.root;
    for (const p of path.split('/').filter(Boolean)) {
      if (n.kind !== 'dir') return 'ENOTDIR';
      const next = n.children.get(p);
      if (!next) return 'ENOENT';
      n = next;
    }
    return n;
  }
  parent(path: string): { dir: Node | string; name: string } {
    const parts = path.split('/').filter(Boolean);
    const dir = this.lookup('/' + parts.slice(0, -1).join('/'));
    return { dir: typeof dir !== 'string' && dir.kind !== 'dir' ? 'ENOTDIR' : dir, name: parts[parts.length - 1] };
  }
  apply(op: Op): string {
    const { dir, name } = this.parent(op.path);
    if (typeof dir === 'string') return dir;
    if (dir.kind !== 'dir') return 'ENOTDIR';
    const existing = dir.children.get(name);
    switch (op.kind) {
      case 'create':
        if (existing) return existing.kind === 'dir' ? 'EISDIR' : 'OK';
        dir.children.set(name, { kind: 'file', data: Buffer.alloc(0), links: 1, id: this.nextId++ });
        return 'OK';
      case 'mkdir':
        if (existing) return 'EEXIST';
        dir.children.set(name, { kind: 'dir', children: new Map() });
        return 'OK';
      case 'write': {
        if (!existing) return 'ENOENT';
        if (existing.kind === 'dir') return 'EISDIR';
        const data = pattern(op.length, op.seed);
        const end = op.offset + op.length;
        if (end > existing.data.length) existing.data = Buffer.concat([existing.data, Buffer.alloc(end - existing.data.length)]);
        data.copy(existing.data, op.offset);
        return 'OK';
      }
      case 'truncate':
        if (!existing) return 'ENOENT';
        if (existing.kind === 'dir') return 'EISDIR';
        existing.data = op.length <= existing.data.length ? existing.data.subarray(0, op.length) : Buffer.concat([existing.data, Buffer.alloc(op.length - existing.data.length)]);
        return 'OK';
      case 'unlink':
        if (!existing) return 'ENOENT';
        if (existing.kind === 'dir') return 'EISDIR';
        existing.links--;
        dir.children.delete(name);
        return 'OK';
      case 'rmdir':
        if (!existing) return 'ENOENT';
        if (existing.kind !== 'dir') return 'ENOTDIR';
        if (existing.children.size > 0) return 'ENOTEMPTY';
        dir.children.delete(name);
        return 'OK';
      case 'link': {
        if (!existing) return 'ENOENT';
        if (existing.kind === 'dir') return 'EPERM';
        const to = this.parent(op.to);
        if (typeof to.dir === 'string') return to.dir;
        if (to.dir.kind !== 'dir') return 'ENOTDIR';
        if (to.dir.children.has(to.name)) return 'EEXIST';
        existing.links++;
        to.dir.children.set(to.name, existing);
        return 'OK';
      }
      case 'rename': {
        // Linux resolves both parents before it looks the source up.
        const to = this.parent(op.to);
        if (typeof to.dir === 'string') return to.dir;
        if (to.dir.kind !== 'dir') return 'ENOTDIR';
        if (!existing) return 'ENOENT';
        if (existing.kind === 'dir' && (op.to + '/').startsWith(op.path + '/')) return op.to === op.path ? 'OK' : 'EINVAL';
        const victim = to.dir.children.get(to.name);
        if (victim === existing) return 'OK';
        if (victim) {
          if (existing.kind === 'dir' && victim.kind !== 'dir') return 'ENOTDIR';
          if (existing.kind !== 'dir' && victim.kind === 'dir') return 'EISDIR';
          if (victim.kind === 'dir' && victim.children.size > 0) return 'ENOTEMPTY';
          if (victim.kind === 'file') victim.links--;
        }
        dir.children.delete(name);
        to.dir.children.set(to.name, existing);
        return 'OK';
      }
    }
  }
}

type Op =
  | { kind: 'create' | 'mkdir' | 'unlink' | 'rmdir'; path: string }
  | { kind: 'write'; path: string; offset: number; length: number; seed: number }
  | { kind: 'truncate'; path: string; length: number }
  | { kind: 'link' | 'rename'; path: string; to: string };

async function run(fs: Vmfs, op: Op): Promise<string> {
  try {
    switch (op.kind) {
      case 'create':
        await fs.create(op.path);
        break;
      case 'mkdir':
        await fs.mkdir(op.path);
        break;
      case 'write': {
        const id = await fs.resolve(null, op.path);
        await fs.write(id, pattern(op.length, op.seed), op.offset);
        break;
      }
      case 'truncate':
        await fs.truncate(op.path, op.length);
        break;
      case 'unlink':
        await fs.unlink(op.path);
        break;
      case 'rmdir':
        await fs.rmdir(op.path);
        break;
      case 'link':
        await fs.link(op.path, op.to);
        break;
      case 'rename':
        await fs.rename(op.path, op.to);
        break;
    }
    return 'OK';
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
}

async function compareTree(fs: Vmfs, node: Node, path: string): Promise<void> {
  if (node.kind === 'file') {
    const id = await fs.resolve(null, path);
    const st = await fs.statId(id);
    expect(st.size, path).toBe(node.data.length);
    expect(st.nlink, path).toBe(node.links);
    const buf = Buffer.alloc(st.size);
    await fs.read(id, buf, 0);
    expect(buf.equals(node.data), path).toBe(true);
    return;
  }
  const names = (await fs.readdir(path || '/')).map((e) => e.name).filter((n) => !n.startsWith('.'));
  expect(names.sort(), path).toEqual([...node.children.keys()].sort());
  for (const [name, child] of node.children) {
    const st = await fs.stat(`${path}/${name}`);
    expect(st.type, `${path}/${name}`).toBe(child.kind === 'dir' ? InodeType.Directory : InodeType.File);
    await compareTree(fs, child, `${path}/${name}`);
  }
}

const names = ['a', 'b', 'c'];
const pathArb = fc
  .array(fc.constantFrom(...names), { minLength: 1, maxLength: 3 })
  .map((p) => '/' + p.join('/'));
const sizeArb = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 60_000, max: 70_000 }), fc.integer({ min: 0, max: 3 * MiB }), fc.constant(257 * MiB));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('create' as const), path: pathArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('mkdir' as const), path: pathArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), path: pathArb, offset: sizeArb, length: fc.integer({ min: 1, max: 300_000 }), seed: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), path: pathArb, length: sizeArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unlink' as const), path: pathArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rmdir' as const), path: pathArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('link' as const), path: pathArb, to: pathArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rename' as const), path: pathArb, to: pathArb }) },
);

describe('model-based random operations', () => {
  it('agree with the model and leave a consistent volume', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const { fs } = await memoryFs([2]);
        const model = new Model();
        for (const op of ops) {
          const want = model.apply(op);
          const got = await run(fs, op);
          expect(got, JSON.stringify(op)).toBe(want);
        }
        await compareTree(fs, model.root, '');
        await expectClean(fs);
        // and the same state after reopening from disk
        const devices = fs.volume.extents.map((e) => e.device);
        const { LogicalVolume } = await import('../src/volume/logicalVolume.js');
        const again = await Vmfs.open(await LogicalVolume.open(devices));
        await compareTree(again, model.root, '');
      }),
      { numRuns: Number(process.env.VMFS_MODEL_RUNS ?? 60) },
    );
  });
});
