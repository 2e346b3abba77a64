// Joining a datastore as one host of a cluster, in one call: claim a
// heartbeat slot, guard the volume, set up the reservation and the lock
// manager. What the file system's mount does; leave() is its unmount.
import { VolumeError } from '../util/errors.js';
import { now, sleep } from './clock.js';
import { slotIndex, slotOffset } from './heartbeat.js';
import { HostHeartbeat, JoinOptions } from './hostHeartbeat.js';
import { guardVolume } from './guardedVolume.js';
import { JournalRegion } from './journal.js';
import { LockManager } from './lockManager.js';
import { Reservation, reservationFor } from './reservation.js';
import { DeadHost, ReplayFn } from './takeover.js';
import { VolumeIO } from './volumeIo.js';

export interface ClusterJoinOptions extends JoinOptions {
  /** Identifies the volume on this machine (its LVM UUID): names the local reservation. */
  volumeName: string;
  /** Replays a dead host's journal (see journalRegionOf) before its locks are broken. */
  replay: ReplayFn;
  /**
   * Take over every host seen dead, every renewal interval, rather than only
   * when one of its locks is wanted (default true): dead slots are freed
   * and their journals replayed within lease + one interval.
   */
  reapDeadHosts?: boolean;
}

export interface ClusterMember<T extends VolumeIO> {
  host: HostHeartbeat;
  /** The volume with every write and flush fenced: do all writes through it. */
  volume: T;
  reservation: Reservation;
  locks: LockManager;
}

/**
 * Joins, then takes over any earlier incarnation of this same host UUID that
 * died holding a slot (waiting until its slot is dead, replaying its
 * journal), so a restarted host never runs beside its own stale locks.
 */
export async function joinCluster<T extends VolumeIO>(volume: T, options: ClusterJoinOptions): Promise<ClusterMember<T>> {
  const host = await HostHeartbeat.join(volume, options);
  const guarded = guardVolume(volume, host);
  const reservation = reservationFor(host, options.volumeName);
  const locks = new LockManager({ host, volume: guarded, reservation, replay: options.replay });
  const snap = await host.readRegion();
  const earlier = snap.inUse().filter((i) => i !== host.slot && snap.view(i).slot.hostUuid === options.uuid).map((i) => snap.view(i).slot);
  // Long enough to see a dead slot stay unchanged for the lease; a slot still renewing after that is a live twin.
  const giveUp = now() + host.config.leaseMs + 4 * host.config.renewMs;
  for (const old of earlier) {
    while (!(await locks.takeover.resolve(old.pos, old.seq))) {
      if (now() > giveUp) {
        await host.leave();
        throw new VolumeError(`host ${options.uuid} is already using this datastore (heartbeat slot ${slotIndex(old.pos)} keeps renewing)`);
      }
      await sleep(host.config.renewMs / 2);
    }
  }
  if (options.reapDeadHosts ?? true) reapDeadHosts(host, locks);
  return { host, volume: guarded, reservation, locks };
}

/** Every renewal interval, takes over the hosts this host's watch has judged dead. Reports each as 'takeover' (or 'takeover-failed') on the host. */
function reapDeadHosts(host: HostHeartbeat, locks: LockManager): void {
  let busy = false;
  const timer = setInterval(() => {
    if (!host.active) return clearInterval(timer);
    if (busy) return;
    busy = true;
    void (async () => {
      for (const d of host.watch.deadSlots()) {
        const pos = slotOffset(d.index);
        try {
          if ((await locks.takeover.resolve(pos, d.generation)) === 'taken-over') host.emit('takeover', { slot: d.index, generation: d.generation });
        } catch (e) {
          host.emit('takeover-failed', { slot: d.index, error: e });
        }
      }
    })().finally(() => (busy = false));
  }, host.config.renewMs);
  timer.unref();
}

/** Where a (dead) host's journal lives: the block it recorded in its slot, the size every host agrees on. */
export function journalRegionOf(dead: Pick<DeadHost, 'journalBlock'>, blockSize: number, journalBytes: number): JournalRegion {
  return { offset: dead.journalBlock * blockSize, length: journalBytes };
}
