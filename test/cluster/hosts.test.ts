// Heartbeat slots claimed by separate processes at the same moment: the
// delta lease gives every host its own slot, each renewed and freed on leave.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HB_MAGIC_FREE, HB_MAGIC_IN_USE, SlotState, heartbeatSlotStruct, slotOffset } from '../../src/cluster/heartbeat.js';
import { newUuid } from '../../src/util/uuid.js';
import { tempDir } from '../helpers.js';
import { makeVolume, openVolume, spawnHost, startTogether } from './clusterHelpers.js';

describe('heartbeat slots across processes', () => {
  const dir = tempDir();
  let path: string;
  beforeAll(async () => {
    path = await makeVolume(dir.path);
  });
  afterAll(() => dir.cleanup());

  it('6 hosts racing for the lowest free slot each end up with a different one', async () => {
    const uuids = Array.from({ length: 6 }, () => newUuid());
    const hosts = uuids.map((uuid) => spawnHost('claim', path, { uuid, holdMs: 1000 }));
    await startTogether(hosts);
    const held = await Promise.all(hosts.map((h) => h.next('held')));
    const codes = await Promise.all(hosts.map((h) => h.exited));
    expect(codes.map((c) => c.code)).toEqual([0, 0, 0, 0, 0, 0]);
    const slots = held.map((e) => e.slot as number);
    expect(new Set(slots).size).toBe(6);
    // Each host still found its own UUID in its slot after holding it, and was never fenced.
    for (const e of held) expect(e.fenced).toBeNull();
    // They all aimed at slot 0: the losers moved on, so slots 0..5 are taken.
    expect([...slots].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    // After a clean leave each slot is free again, keeping its host's UUID and generation.
    const v = await openVolume(path);
    const buf = Buffer.alloc(512);
    for (let i = 0; i < 6; i++) {
      await v.read(buf, slotOffset(slots[i]));
      const s = heartbeatSlotStruct.decode(buf);
      expect(s.magic).toBe(HB_MAGIC_FREE);
      expect(s.state).toBe(SlotState.Free);
      expect(s.hostUuid).toBe(uuids[i]);
      expect(s.seq).toBe(1);
    }
    await v.read(buf, slotOffset(6));
    expect(buf.readUInt32LE(0)).not.toBe(HB_MAGIC_IN_USE);
    await v.close();
  });
});
