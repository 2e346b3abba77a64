// A look at who is on the datastore, for tools (`vmfs hosts`): every slot in
// use, read twice `watchMs` apart, with whether it changed in between.
import { sleep } from './clock.js';
import { SlotState } from './heartbeat.js';
import { SlotWatch } from './slotWatch.js';
import { VolumeIO } from './volumeIo.js';

export interface HostRow {
  slot: number;
  slotOffset: number;
  uuid: string;
  /** 'foreign': in use, written by another implementation (ESX). */
  state: 'live' | 'replaying' | 'foreign';
  generation: number;
  journalBlock: number;
  uptimeUs: number;
  /** It renewed while we watched. */
  renewed: boolean;
}

export async function surveyHosts(volume: VolumeIO, watchMs: number): Promise<HostRow[]> {
  const watch = new SlotWatch(volume, Infinity);
  const first = await watch.readAll();
  const before = new Map(first.inUse().map((i) => [i, Buffer.from(first.raw(i))]));
  if (watchMs > 0) await sleep(watchMs);
  const snap = await watch.readAll();
  return snap.inUse().map((i) => {
    const v = snap.view(i);
    const state = !v.intact ? 'foreign' : v.slot.state === SlotState.Replaying ? 'replaying' : 'live';
    const old = before.get(i);
    return {
      slot: i,
      slotOffset: v.offset,
      uuid: v.slot.hostUuid,
      state,
      generation: v.slot.seq,
      journalBlock: v.slot.journalBlock,
      uptimeUs: v.slot.uptime,
      renewed: !old || !SlotWatch.sameFields(old, v.raw),
    };
  });
}
