// The per-host journal in one process: commit logs then applies; replay
// re-applies exactly the committed records after the checkpoint, ignores a
// torn record, wraps around, and is idempotent. Crashes are simulated with a
// volume that stops writing in the middle of a write, sector by sector.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Journal, JournalRegion, replayJournal } from '../../src/cluster/journal.js';
import { VolumeIO } from '../../src/cluster/volumeIo.js';
import { DATA_SECTORS, journalTransaction, stateAfter } from './journalModel.js';

const DATA = 64 * 1024;

/** Memory that accepts `budget` more sectors of writes, then "crashes": a write in progress lands only partly. */
class CrashingVolume implements VolumeIO {
  readonly bytes = Buffer.alloc(128 * 1024);
  flushes = 0;
  constructor(public budget = Infinity) {}
  async read(buf: Uint8Array, offset: number): Promise<void> {
    buf.set(this.bytes.subarray(offset, offset + buf.length));
  }
  async write(buf: Uint8Array, offset: number): Promise<void> {
    for (let at = 0; at < buf.length; at += 512) {
      if (this.budget <= 0) throw new Error('crash');
      this.budget--;
      this.bytes.set(buf.subarray(at, Math.min(buf.length, at + 512)), offset + at);
    }
  }
  async flush(): Promise<void> {
    this.flushes++;
  }
  area(): Buffer {
    return this.bytes.subarray(DATA, DATA + DATA_SECTORS * 512);
  }
}

describe('journal', () => {
  const region: JournalRegion = { offset: 0, length: 32 * 1024 };
  const small: JournalRegion = { offset: 0, length: 16 * 1024 }; // wraps every few transactions

  it('commit logs the record, then applies in place, and leaves the flush to its caller; replay of a clean journal does nothing', async () => {
    const v = new CrashingVolume();
    const j = await Journal.format(v, region);
    await j.commit(journalTransaction(1, DATA));
    expect(v.area().equals(stateAfter(1, DATA))).toBe(true);
    expect(v.bytes.readUInt32LE(512)).toBe(0x726a7476); // the record right after the header
    expect(v.flushes).toBe(1); // format only: the file system flushes after the commit, outside the reservation
    await j.checkpoint();
    expect(await replayJournal(v, region)).toEqual({ records: 0, nextSeq: 2 });
  });

  it('replays records that never reached their place, once', async () => {
    const v = new CrashingVolume();
    const j = await Journal.format(v, region);
    for (let k = 1; k <= 3; k++) await j.commit(journalTransaction(k, DATA));
    v.area().fill(0); // as if the in-place writes were lost
    expect(await replayJournal(v, region)).toEqual({ records: 3, nextSeq: 4 });
    expect(v.area().equals(stateAfter(3, DATA))).toBe(true);
    v.area().fill(0);
    expect((await replayJournal(v, region)).records).toBe(0); // checkpointed by the first replay
  });

  it('a region with no journal, or with records of an earlier journal, replays nothing', async () => {
    const v = new CrashingVolume();
    expect(await replayJournal(v, region)).toEqual({ records: 0, nextSeq: 1 });
    const old = await Journal.format(v, region);
    await old.commit(journalTransaction(1, DATA));
    v.area().fill(0);
    await Journal.format(v, region); // new nonce: the old record at 512 must not replay
    expect((await replayJournal(v, region)).records).toBe(0);
    expect(v.area().every((b) => b === 0)).toBe(true);
  });

  it('refuses a transaction larger than the journal', async () => {
    const j = await Journal.format(new CrashingVolume(), { offset: 0, length: 1024 });
    await expect(j.commit([{ offset: DATA, data: Buffer.alloc(600) }])).rejects.toThrow(/does not fit the 1024-byte journal/);
  });

  it('a crash at any point leaves exactly the committed prefix after replay (torn records ignored, wrap-around included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 9 }), async (count, budget, every) => {
        const v = new CrashingVolume();
        const j = await Journal.format(v, small);
        v.budget = budget;
        let committed = 0;
        try {
          for (let k = 1; k <= count; k++) {
            await j.commit(journalTransaction(k, DATA));
            committed = k;
            if (k % every === 0) await j.checkpoint();
          }
        } catch (e) {
          expect((e as Error).message).toBe('crash');
        }
        v.budget = Infinity;
        await replayJournal(v, small);
        const got = v.area();
        // The transaction in flight at the crash is either wholly there (its record was complete) or wholly absent.
        const okPrefix = [committed, committed + 1].filter((k) => k <= count).some((k) => got.equals(stateAfter(k, DATA)));
        expect(okPrefix).toBe(true);
        // And replaying again changes nothing.
        const before = Buffer.from(v.bytes);
        await replayJournal(v, small);
        expect(v.bytes.equals(before)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
