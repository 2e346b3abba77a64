// The volume-wide reservation: a short critical section across hosts, which
// stands in for SCSI reservations and ATS. Read-check-write of a lock sector
// and the marking of a dead host's slot happen inside it. Which kind a
// volume uses is stored in its cluster config, so every host agrees.
import { ReservationKind } from './clusterConfig.js';
import { DiskMutex } from './diskMutex.js';
import { HostHeartbeat } from './hostHeartbeat.js';
import { LocalMachineMutex } from './localMachineMutex.js';

export interface Reservation {
  /** Runs `fn` while this host holds the reservation; other hosts' `run` waits. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/** The reservation the volume's config asks for; `name` identifies the volume on this machine (its LVM UUID). */
export function reservationFor(host: HostHeartbeat, name: string): Reservation {
  return host.config.reservation === ReservationKind.LocalMachine ? new LocalMachineMutex(name) : new DiskMutex(host);
}
