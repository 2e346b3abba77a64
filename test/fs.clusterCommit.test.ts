// Where a cluster host's commit is made durable: inside the reservation
// only the writes happen; the flush comes after the host gave the
// reservation back (so hosts flush side by side, not in turn) and before the
// operation returns (so whatever returned survives a power cut).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotOffset } from '../src/cluster/heartbeat.js';
import { MemoryDevice } from '../src/device/memoryDevice.js';
import { ClusterMount, mountClustered } from '../src/fs/clusterMount.js';
import { mkfs } from '../src/fs/mkfs.js';
import { LogicalVolume } from '../src/volume/logicalVolume.js';
import { MiB } from './helpers.js';

describe('a cluster commit', () => {
  let volume: LogicalVolume;
  let host: ClusterMount;
  const events: string[] = [];

  beforeAll(async () => {
    const device = new MemoryDevice('commit', 600 * MiB);
    await (await mkfs([device])).close();
    volume = await LogicalVolume.open([device]);
    host = await mountClustered(volume, { hostUuid: '6b0c0000-00000001-0001-0000000000c3' });
    await host.fs.create('/first'); // claims this host's resource clusters (a lock each, under the reservation)
    // Record the host's bakery registers, its other writes and its flushes.
    const slotAt = slotOffset(host.member.host.slot);
    const write = volume.write.bind(volume);
    const flush = volume.flush.bind(volume);
    volume.write = async (buf, offset) => {
      if (offset === slotAt) {
        const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
        events.push(b.readUInt32LE(0x50) !== 0 || b.readBigUInt64LE(0x54) !== 0n ? 'enter' : 'leave');
      } else events.push('write');
      await write(buf, offset);
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

  it('a read-only operation neither takes the reservation nor flushes', async () => {
    events.length = 0;
    await host.fs.stat('/a');
    expect(events).toEqual([]);
    expect(host.fs.statCached('/a')).toBeUndefined(); // a cluster host checks what other hosts changed first
  });
});
