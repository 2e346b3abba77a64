// Where a cluster host's commit is made durable: inside the reservation
// only the writes happen; the flush comes after the host gave the
// reservation back (so hosts flush side by side, not in turn) and before the
// operation returns (so whatever returned survives a power cut). And the
// order of a commit's writes: each of its three steps waits for the one
// before, and the writes within a step go out together.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatSlotStruct, slotOffset } from '../src/cluster/heartbeat.js';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { CHANGE_LOG_OFFSET, CHANGE_LOG_SLOTS } from '../src/fs/changeLog.js';
import { ClusterMount, METADATA_GENERATION_OFFSET, mountClustered } from '../src/fs/clusterMount.js';
import { mkfs } from '../src/fs/mkfs.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { MiB } from './helpers.js';

const DELAY_MS: Record<string, number> = { 'in-place': 4, record: 3, odd: 2, change: 1, even: 0 };

describe('a cluster commit', () => {
  let volume: LogicalVolume;
  let host: ClusterMount;
  const events: string[] = [];
  /** Each write inside the reservation, as `start <what>` when issued and `end <what>` when done. */
  const steps: string[] = [];
  let journalAt = 0;

  beforeAll(async () => {
    const device = new MemoryDevice('commit', 600 * MiB);
    await (await mkfs([device])).close();
    volume = await LogicalVolume.open([device]);
    host = await mountClustered(volume, { hostUuid: '6b0c0000-00000001-0001-0000000000c3' });
    await host.fs.create('/first'); // claims this host's resource clusters (a lock each, under the reservation)
    // Record the host's bakery registers, its other writes and its flushes.
    const slotAt = slotOffset(host.member.host.slot);
    const slot = Buffer.alloc(heartbeatSlotStruct.size);
    await volume.read(slot, slotAt);
    journalAt = heartbeatSlotStruct.decode(slot).journalBlock * host.fs.blockSize;
    const what = (buf: Uint8Array, offset: number) => {
      if (offset === METADATA_GENERATION_OFFSET) return Buffer.from(buf.buffer, buf.byteOffset, buf.length).readUInt32LE(0) % 2 === 1 ? 'odd' : 'even';
      if (offset >= CHANGE_LOG_OFFSET && offset < CHANGE_LOG_OFFSET + CHANGE_LOG_SLOTS * 512) return 'change';
      if (offset >= journalAt && offset < journalAt + host.fs.blockSize) return 'record';
      return 'in-place';
    };
    const write = volume.write.bind(volume);
    const flush = volume.flush.bind(volume);
    volume.write = async (buf, offset) => {
      if (offset === slotAt) {
        const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
        events.push(b.readUInt32LE(0x50) !== 0 || b.readBigUInt64LE(0x54) !== 0n ? 'enter' : 'leave');
        await write(buf, offset);
        return;
      }
      events.push('write');
      const w = what(buf, offset);
      steps.push(`start ${w}`);
      // Writes take different times, as on a network: a step that does not
      // wait for another one it depends on shows in the order of events.
      await new Promise((r) => setTimeout(r, DELAY_MS[w]));
      await write(buf, offset);
      steps.push(`end ${w}`);
    };
    volume.flush = async () => {
      events.push('flush');
      await flush();
    };
  });

  afterAll(async () => {
    await host.leave();
  });

  it('writes inside the reservation, flushes after leaving it, returns after the flush', async () => {
    for (const name of ['a', 'b', 'c']) {
      events.length = 0;
      await host.fs.create(`/${name}`);
      events.push('returned');
      const squeezed = events.filter((e, i) => e !== events[i - 1]);
      expect(squeezed).toEqual(['enter', 'write', 'leave', 'flush', 'returned']);
    }
  });

  it('a step starts only once the steps it depends on are done', async () => {
    steps.length = 0;
    await host.fs.create('/d');
    const first = (e: string) => steps.indexOf(e);
    const last = (e: string) => steps.lastIndexOf(e);
    expect(new Set(steps)).toEqual(new Set(['start odd', 'end odd', 'start record', 'end record', 'start in-place', 'end in-place', 'start change', 'end change', 'start even', 'end even']));
    // No write in place before the generation names this host and the record is whole.
    expect(first('start in-place')).toBeGreaterThan(Math.max(last('end odd'), last('end record')));
    // The change record goes out with the writes in place, never before the generation is odd.
    expect(first('start change')).toBeGreaterThan(last('end odd'));
    // No even generation before every write in place and the change record are done.
    expect(first('start even')).toBeGreaterThan(Math.max(last('end in-place'), last('end change')));
    // Pairs that need no order between them go out together (one round trip each over a network).
    expect(Math.max(first('start odd'), first('start record'))).toBeLessThan(Math.min(first('end odd'), first('end record')));
    expect(first('start change')).toBeLessThan(last('end in-place'));
  });

  it('a read-only operation neither takes the reservation nor flushes', async () => {
    events.length = 0;
    await host.fs.stat('/a');
    expect(events).toEqual([]);
    expect(host.fs.statCached('/a')).toBeUndefined(); // a cluster host checks what other hosts changed first
  });
});
