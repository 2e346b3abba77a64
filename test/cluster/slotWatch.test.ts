// Reading heartbeat slots: a torn read (crc mismatch) is read again, a slot
// that never reads whole is reported unsettled, and a slot is judged dead
// only after reads spanning the lease keep returning the same value.
import { describe, expect, it } from 'vitest';
import { sleep } from '../../src/cluster/clock.js';
import { HB_MAGIC_IN_USE, HEARTBEAT_REGION_OFFSET, SlotState, encodeClusterSlot, freeSlot, freshHeartbeatRegion } from '../../src/cluster/heartbeat.js';
import { SlotWatch } from '../../src/cluster/slotWatch.js';
import { VolumeIO } from '../../src/cluster/volumeIo.js';
import { newUuid } from '../../src/util/uuid.js';

/** The heartbeat region in memory; `tear` corrupts the next N reads of one slot the way a half-copied write would. */
class RegionVolume implements VolumeIO {
  readonly region = freshHeartbeatRegion();
  tears = 0;
  tornSlot = -1;
  async read(buf: Uint8Array, offset: number): Promise<void> {
    const at = offset - HEARTBEAT_REGION_OFFSET;
    buf.set(this.region.subarray(at, at + buf.length));
    const s = this.tornSlot * 512 - at;
    if (this.tears > 0 && s >= 0 && s < buf.length) {
      this.tears--;
      buf[s + 0x20] ^= 0xff; // inside the host UUID: the crc no longer matches
    }
  }
  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.region.set(buf, offset - HEARTBEAT_REGION_OFFSET);
  }
  async flush(): Promise<void> {}
  put(index: number, uptime: number): void {
    const slot = { ...freeSlot(index), magic: HB_MAGIC_IN_USE, seq: 1, uptime, hostUuid: newUuid(0), state: SlotState.Live };
    encodeClusterSlot(slot).copy(this.region, index * 512);
  }
}

describe('SlotWatch', () => {
  it('re-reads a torn slot until it reads whole', async () => {
    const v = new RegionVolume();
    v.put(3, 1);
    v.tornSlot = 3;
    v.tears = 4;
    const snap = await new SlotWatch(v, 1000).readAll();
    expect(snap.inUse()).toEqual([3]);
    expect(snap.view(3)).toMatchObject({ intact: true, unsettled: false });
    expect(v.tears).toBe(0);
  });

  it('a slot that never reads whole is unsettled, not mistaken for a foreign host', async () => {
    const v = new RegionVolume();
    v.put(5, 1);
    v.tornSlot = 5;
    v.tears = 1000;
    const view = (await new SlotWatch(v, 1000).readAll()).view(5);
    expect(view).toMatchObject({ inUse: true, intact: false, unsettled: true });
  });

  it('dead only after reads a lease apart return the same value; a renewing slot never is', async () => {
    const v = new RegionVolume();
    v.put(0, 1);
    v.put(1, 1);
    const w = new SlotWatch(v, 200);
    for (let t = 2; t < 12; t++) {
      v.put(1, t); // slot 1 renews, slot 0 does not
      await w.readAll();
      await sleep(30);
    }
    v.put(1, 12);
    await w.readAll();
    expect(w.unchangedFor(0)).toBeGreaterThanOrEqual(200);
    expect(w.isDead(0)).toBe(true);
    expect(w.isDead(1)).toBe(false);
    expect(w.unchangedFor(1)).toBeLessThan(200);
    v.put(0, 99); // it moved after all: no longer dead
    await w.readAll();
    expect(w.isDead(0)).toBe(false);
  });
});
