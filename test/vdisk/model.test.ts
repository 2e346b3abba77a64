// Model-based random test: random writes, reads, snapshots, commits and
// reopens of a disk chain, checked against a plain buffer after every step.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkDisk } from '../../src/vdisk/check.js';
import { commitDisk, snapshotDisk } from '../../src/vdisk/operations.js';
import { createDisk, openDisk } from '../../src/vdisk/virtualDisk.js';
import type { VmdkDisk } from '../../src/vdisk/vmdkDisk.js';
import { MemoryFolder, pattern } from './helpers.js';

const CAP = 2 * 2 ** 20 + 512 * 3; // a partial last grain
type Op =
  | { op: 'write'; off: number; len: number; seed: number }
  | { op: 'read'; off: number; len: number }
  | { op: 'snapshot' }
  | { op: 'commit' }
  | { op: 'reopen' };

const range = fc
  .tuple(fc.nat(CAP - 1), fc.oneof(fc.integer({ min: 1, max: 2048 }), fc.integer({ min: 1, max: 300_000 })))
  .map(([off, len]) => ({ off, len: Math.min(len, CAP - off) }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(range, fc.nat(1000)).map(([r, seed]) => ({ op: 'write' as const, ...r, seed })) },
  { weight: 3, arbitrary: range.map((r) => ({ op: 'read' as const, ...r })) },
  { weight: 1, arbitrary: fc.constant({ op: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'commit' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

describe('virtual disk against an in-memory model', () => {
  it('reads what was written, through snapshots and commits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('thin' as const, 'thick' as const), fc.array(opArb, { minLength: 1, maxLength: 30 }), async (type, ops) => {
        const folder = new MemoryFolder();
        const model = Buffer.alloc(CAP);
        /** What each frozen layer must still read, by name. */
        const frozen = new Map<string, Buffer>();
        let disk: VmdkDisk = await createDisk(folder, 'vm.vmdk', { size: CAP, type });
        for (const o of ops) {
          if (o.op === 'write') {
            const data = pattern(o.len, o.seed);
            await disk.write(data, o.off);
            data.copy(model, o.off);
          } else if (o.op === 'read') {
            const b = Buffer.alloc(o.len);
            await disk.read(b, o.off);
            expect(b.equals(model.subarray(o.off, o.off + o.len))).toBe(true);
          } else if (o.op === 'snapshot') {
            await disk.close();
            frozen.set(disk.name, Buffer.from(model));
            disk = await openDisk(folder, await snapshotDisk(folder, disk.name), { write: true });
          } else if (o.op === 'commit') {
            if (!disk.parent) continue;
            await disk.close();
            const top = disk.name;
            const parent = await commitDisk(folder, top);
            expect(await folder.exists(top)).toBe(false);
            frozen.delete(parent);
            disk = await openDisk(folder, parent, { write: true });
          } else {
            await disk.close();
            disk = await openDisk(folder, disk.name, { write: true });
          }
        }
        const all = Buffer.alloc(CAP);
        await disk.read(all, 0);
        expect(all.equals(model)).toBe(true);
        // Layers below the top are read-only, and still read as when they were frozen.
        for (const layer of disk.chain.slice(1)) {
          expect(layer.readOnly).toBe(true);
          await layer.read(all, 0);
          expect(all.equals(frozen.get(layer.name)!)).toBe(true);
        }
        await disk.close();
        const report = await checkDisk(folder, disk.name);
        expect(report.errors).toEqual([]);
        expect(report.warnings).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});
