// The volume-wide reservation on storage that offers only sector-atomic
// reads and writes: Lamport's bakery, with each host's two registers
// (choosing, ticket) in its own heartbeat slot, so every register has a
// single writer and one read gives them all (just the slots in use, when a
// recent whole-region read says which those are). A host whose slot has
// been dead for the lease time is skipped: it has fenced itself, so even if
// it was inside the critical section none of its writes will land.
//
// Uncontended cost: two register writes and two reads of the participants'
// slots to enter, one register write to leave.
import { pause } from './clock.js';
import { Mutex } from '../util/mutex.js';
import { HostHeartbeat } from './hostHeartbeat.js';
import { RegionSnapshot, isLiveParticipant } from './slotWatch.js';
import type { Reservation } from './reservation.js';

/** Longest pause (ms) between two reads of the region while waiting. */
const MAX_BACKOFF_MS = 0.25;

export class DiskMutex implements Reservation {
  private readonly local = new Mutex();

  constructor(private readonly host: HostHeartbeat) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    // Callers in this process share one set of registers: they take turns first.
    return this.local.run(async () => {
      await this.enter();
      try {
        return await fn();
      } finally {
        await this.leave();
      }
    });
  }

  private async enter(): Promise<void> {
    const host = this.host;
    try {
      await host.writeOwnSlot({ choosing: 1 });
      let max = await this.judge((snap) => this.maxTicket(snap));
      for (let backoff = 0.05; max === null; backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)) {
        await pause(backoff);
        max = await this.judge((snap) => this.maxTicket(snap));
      }
      const ticket = max + 1;
      await host.writeOwnSlot({ choosing: 0, ticket });
      for (let backoff = 0.05; ; backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)) {
        if (!(await this.judge((snap) => this.blocked(snap, ticket)))) return;
        await pause(backoff);
      }
    } catch (e) {
      await this.leave().catch(() => undefined);
      throw e;
    }
  }

  /** Reads the participants' registers and judges them; the snapshot's buffer goes back for the next read whatever the verdict. */
  private async judge<T>(verdict: (snap: RegionSnapshot) => T): Promise<T> {
    const snap = await this.host.readParticipants();
    try {
      return verdict(snap);
    } finally {
      snap.release();
    }
  }

  /** The largest ticket of the other hosts, or null while a live host's slot cannot be read whole. */
  private maxTicket(snap: RegionSnapshot): number | null {
    let max = 0;
    for (const j of snap.inUse()) {
      if (j === this.host.slot) continue;
      const v = snap.view(j);
      if (v.unsettled && !this.host.watch.isDead(j)) return null;
      if (v.intact) max = Math.max(max, v.slot.ticket);
    }
    return max;
  }

  /** True when a live host is choosing, or holds a smaller (ticket, slot) than ours. */
  private blocked(snap: RegionSnapshot, ticket: number): boolean {
    const me = this.host.slot;
    for (const j of snap.inUse()) {
      if (j === me) continue;
      const v = snap.view(j);
      let waits: boolean;
      if (v.unsettled) waits = true; // ours, but never read whole: assume the worst
      else if (!isLiveParticipant(v)) waits = false; // a foreign host or a slot being replayed: no registers
      else waits = v.slot.choosing !== 0 || (v.slot.ticket !== 0 && (v.slot.ticket < ticket || (v.slot.ticket === ticket && j < me)));
      if (waits && !this.host.watch.isDead(j)) return true;
    }
    return false;
  }

  private leave(): Promise<void> {
    return this.host.writeOwnSlot({ choosing: 0, ticket: 0 });
  }
}
