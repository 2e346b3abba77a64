// Taking over a dead host: once its slot has not changed for the lease time
// (so it has fenced itself), one survivor marks the slot "being replayed" by
// itself (under the reservation, so only one does), replays the dead host's
// journal through the caller's callback, and frees the slot. Locks naming
// the dead host's slot and generation are then stale and may be broken.
// If the replaying host dies too, another one takes the replay over.
import { HostHeartbeat } from './hostHeartbeat.js';
import { HB_MAGIC_IN_USE, HeartbeatSlot, SlotState, freeSlot, slotIndex } from './heartbeat.js';
import { Reservation } from './reservation.js';
import { SlotView, SlotWatch } from './slotWatch.js';
import { VolumeIO } from './volumeIo.js';

/** What a replay callback learns about the host whose journal it must replay. */
export interface DeadHost {
  slot: number;
  slotOffset: number;
  uuid: string;
  generation: number;
  /** The file block of its journal, as it recorded it in its slot; 0 if it had none yet (block 0 holds the volume's start). */
  journalBlock: number;
}

/** Replays `dead`'s journal, writing through `volume` (the replaying host's fenced volume). Runs under the reservation: no other host changes metadata meanwhile. */
export type ReplayFn = (dead: DeadHost, volume: VolumeIO) => Promise<void>;

/** What became of the host incarnation (slot, generation) that holds something. */
export type HolderStatus = 'self' | 'gone' | 'live' | 'dead' | 'replaying';

export class Takeover {
  private readonly inflight = new Map<number, Promise<boolean>>();

  constructor(
    private readonly host: HostHeartbeat,
    private readonly reservation: Reservation,
    private readonly replay: ReplayFn,
    private readonly volume: VolumeIO,
  ) {}

  /** Reads the holder's slot and judges it: gone (its locks are stale), live, dead, or being replayed by a live host. */
  async status(slotOffset: number, generation: number): Promise<HolderStatus> {
    const host = this.host;
    if (slotOffset === host.slotOffset && generation === host.generation) return 'self';
    const index = slotIndex(slotOffset);
    if (!Number.isInteger(index) || index < 0 || index >= 2048) return 'gone'; // damage: names no slot
    return this.judge(await host.watch.readSlot(index), generation);
  }

  private async judge(v: SlotView, generation: number): Promise<HolderStatus> {
    if (!v.inUse || v.slot.seq !== generation) return 'gone';
    if (v.intact && v.slot.state === SlotState.Replaying) {
      const by = v.slot.replayBy === this.host.slotOffset && v.slot.replayGen === this.host.generation;
      if (by) return this.inflight.has(v.index) ? 'replaying' : 'dead'; // our own replay that failed: retry it
      const replayer = await this.status(v.slot.replayBy, v.slot.replayGen);
      return replayer === 'gone' || replayer === 'dead' ? 'dead' : 'replaying';
    }
    return this.host.watch.isDead(v.index) ? 'dead' : 'live';
  }

  /**
   * Makes the incarnation (slot, generation) gone if it is dead: replays its
   * journal and frees its slot. Says 'taken-over' when this call (or one
   * running in this process) did it, 'gone' when it already was, false while
   * it is live or another host is replaying it.
   */
  async resolve(slotOffset: number, generation: number): Promise<false | 'gone' | 'taken-over'> {
    const index = slotIndex(slotOffset);
    const running = this.inflight.get(index);
    if (running) return (await running) && 'taken-over';
    const st = await this.status(slotOffset, generation);
    if (st === 'gone') return 'gone';
    if (st !== 'dead') return false;
    const p = this.takeOver(index, generation).finally(() => this.inflight.delete(index));
    this.inflight.set(index, p);
    return (await p) && 'taken-over';
  }

  private async takeOver(index: number, generation: number): Promise<boolean> {
    const host = this.host;
    const judged = host.watch.lastSeen(index);
    const marked = await this.reservation.run(async () => {
      const v = await host.watch.readSlot(index);
      const ours = v.intact && v.slot.state === SlotState.Replaying && v.slot.replayBy === host.slotOffset && v.slot.replayGen === host.generation;
      // Act only on the value we judged dead (or our own unfinished replay): anything newer means someone acted first.
      if (!v.inUse || v.slot.seq !== generation || (!ours && !(judged && SlotWatch.sameFields(v.raw, judged)))) return null;
      const replaying: HeartbeatSlot = { ...v.slot, magic: HB_MAGIC_IN_USE, state: SlotState.Replaying, replayBy: host.slotOffset, replayGen: host.generation, choosing: 0, ticket: 0 };
      await host.writeOtherSlot(index, replaying);
      return v.slot;
    });
    if (!marked) return false;
    const dead = { slot: index, slotOffset: marked.pos, uuid: marked.hostUuid, generation: marked.seq, journalBlock: marked.journalBlock };
    await this.reservation.run(() => this.replay(dead, this.volume));
    await host.writeOtherSlot(index, freeSlot(index, { seq: marked.seq, hostUuid: marked.hostUuid }));
    return true;
  }
}
