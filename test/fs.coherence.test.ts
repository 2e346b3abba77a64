// Two hosts of one datastore (two cluster mounts of the same device in this
// process) take turns at random changes; after each, both must see exactly
// the model's tree and bytes. This is what the change log promises: a host
// drops or patches just what the other changed (directories slot by slot,
// including entries that moved between slots) and never serves stale
// metadata.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { ClusterMount, mountClustered } from '../src/fs/clusterMount.js';
import { mkfs } from '../src/fs/mkfs.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { MiB, expectClean, pattern, readAll } from './helpers.js';

const DIRS = ['d0', 'd1'];
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

type Op =
  | { kind: 'create'; host: number; dir: number; name: number; size: number }
  | { kind: 'unlink' | 'truncate'; host: number; dir: number; name: number }
  | { kind: 'rename'; host: number; dir: number; name: number; toDir: number; toName: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), host: fc.nat(1), dir: fc.nat(1), name: fc.nat(NAMES.length - 1), size: fc.nat(9000) }),
  fc.record({ kind: fc.constantFrom('unlink' as const, 'truncate' as const), host: fc.nat(1), dir: fc.nat(1), name: fc.nat(NAMES.length - 1) }),
  fc.record({ kind: fc.constant('rename' as const), host: fc.nat(1), dir: fc.nat(1), name: fc.nat(NAMES.length - 1), toDir: fc.nat(1), toName: fc.nat(NAMES.length - 1) }),
);

describe('two hosts see each other’s changes at once', () => {
  const hosts: ClusterMount[] = [];
  let device: MemoryDevice;
  let round = 0;

  beforeAll(async () => {
    device = new MemoryDevice('coherence', 600 * MiB);
    const fs = await mkfs([device]);
    await fs.close();
    for (const uuid of ['6b0c0000-00000001-0001-0000000000a1', '6b0c0000-00000001-0001-0000000000b2']) {
      hosts.push(await mountClustered(await LogicalVolume.open([device]), { hostUuid: uuid }));
    }
  });

  afterAll(async () => {
    for (const h of hosts) await h.leave();
  });

  it('creates, rewrites, truncates, renames and unlinks in two shared directories', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
        const base = `/r${round++}`;
        await hosts[0].fs.mkdir(base);
        for (const d of DIRS) await hosts[1].fs.mkdir(`${base}/${d}`);
        const model = new Map<string, Buffer>(); // "dir/name" -> bytes
        const path = (dir: number, name: number) => `${DIRS[dir]}/${NAMES[name]}`;
        let seed = 0;
        for (const o of ops) {
          const fs = hosts[o.host].fs;
          const p = path(o.dir, o.name);
          if (o.kind === 'create') {
            const data = pattern(o.size, ++seed);
            const id = await fs.create(`${base}/${p}`);
            await fs.truncateId(id, 0);
            await fs.write(id, data, 0);
            model.set(p, data);
          } else if (!model.has(p)) {
            continue;
          } else if (o.kind === 'unlink') {
            await fs.unlink(`${base}/${p}`);
            model.delete(p);
          } else if (o.kind === 'truncate') {
            await fs.truncate(`${base}/${p}`, 100);
            const cut = Buffer.alloc(100); // truncate extends with zeros too
            model.get(p)!.copy(cut, 0, 0, 100);
            model.set(p, cut);
          } else if (o.kind === 'rename') {
            const to = path(o.toDir, o.toName);
            await fs.rename(`${base}/${p}`, `${base}/${to}`);
            const data = model.get(p)!;
            model.delete(p);
            model.set(to, data);
          }
          for (const h of hosts) {
            for (const d of DIRS) {
              const names = (await h.fs.readdir(`${base}/${d}`)).map((e) => e.name).filter((n) => n !== '.' && n !== '..');
              const expected = [...model.keys()].filter((k) => k.startsWith(`${d}/`)).map((k) => k.slice(d.length + 1));
              expect(names.sort()).toEqual(expected.sort());
            }
            for (const [p2, data] of model) expect((await readAll(h.fs, `${base}/${p2}`)).equals(data)).toBe(true);
          }
        }
      }),
      { numRuns: process.env.CI ? 15 : 40 },
    );
    await expectClean(hosts[0].fs);
  });
});
