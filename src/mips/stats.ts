// Statistics of the simulated machine, as Nachos keeps them, and the time
// constants of Nachos 3.4 (machine/stats.h and machine/disk.h). A tick is
// the unit of simulated time: one user instruction.

/** Ticks per user instruction. */
export const UserTick = 1;
/** Ticks charged each time the kernel re-enables interrupts. */
export const SystemTick = 10;
/** Ticks for the disk to rotate past one sector. */
export const RotationTime = 500;
/** Ticks for the disk head to move one track. */
export const SeekTime = 500;
/** Ticks to read or write one console character. */
export const ConsoleTime = 100;
/** (Average) ticks between timer interrupts. */
export const TimerTicks = 100;
/** Nachos's disk geometry: sectors per track. */
export const SectorsPerTrack = 32;

/** The counters, kept in one plain object so a snapshot is a copy. */
export interface StatsState {
  totalTicks: number;
  idleTicks: number;
  systemTicks: number;
  /** Equals the number of user instructions executed. */
  userTicks: number;
  numDiskReads: number;
  numDiskWrites: number;
  numConsoleCharsRead: number;
  numConsoleCharsWritten: number;
  numPageFaults: number;
  /** Misses of the software-managed TLB, when the kernel uses one. */
  numTlbMisses: number;
}

export class Stats implements StatsState {
  totalTicks = 0;
  idleTicks = 0;
  systemTicks = 0;
  userTicks = 0;
  numDiskReads = 0;
  numDiskWrites = 0;
  numConsoleCharsRead = 0;
  numConsoleCharsWritten = 0;
  numPageFaults = 0;
  numTlbMisses = 0;

  save(): StatsState {
    return { ...this };
  }

  restore(s: StatsState): void {
    Object.assign(this, s);
  }

  /** The report Nachos prints at the end of a run, line for line. */
  format(): string {
    return [
      `Ticks: total ${this.totalTicks}, idle ${this.idleTicks}, system ${this.systemTicks}, user ${this.userTicks}`,
      `Disk I/O: reads ${this.numDiskReads}, writes ${this.numDiskWrites}`,
      `Console I/O: reads ${this.numConsoleCharsRead}, writes ${this.numConsoleCharsWritten}`,
      `Paging: faults ${this.numPageFaults}, TLB misses ${this.numTlbMisses}`,
    ].join('\n');
  }
}
