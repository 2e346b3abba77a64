// The exceptions a MIPS guest can raise (Nachos's kinds plus BREAK and the
// MIPS II conditional traps), and the error types used to report them.
export enum ExceptionType {
  None = 0,
  Syscall = 1,
  PageFault = 2,
  ReadOnly = 3,
  BusError = 4,
  AddressError = 5,
  Overflow = 6,
  IllegalInstr = 7,
  Break = 8,
  /** A MIPS32 conditional trap (teq, tne, ...): gcc's -mips32 division-by-zero check. */
  Trap = 9,
}

const names: Record<ExceptionType, string> = {
  [ExceptionType.None]: 'no exception',
  [ExceptionType.Syscall]: 'system call',
  [ExceptionType.PageFault]: 'page fault',
  [ExceptionType.ReadOnly]: 'write to read-only page',
  [ExceptionType.BusError]: 'bus error',
  [ExceptionType.AddressError]: 'address error',
  [ExceptionType.Overflow]: 'arithmetic overflow',
  [ExceptionType.IllegalInstr]: 'illegal instruction',
  [ExceptionType.Break]: 'breakpoint',
  [ExceptionType.Trap]: 'trap',
};

export function exceptionName(t: ExceptionType): string {
  return names[t] ?? `exception ${t}`;
}

/**
 * Thrown by address translation (and by the CPU internally) when a guest
 * access faults; `badVAddr` is the virtual address at fault (0 when the
 * exception has no address, as in Nachos).
 */
export class MipsFault extends Error {
  constructor(
    readonly type: ExceptionType,
    readonly badVAddr: number,
  ) {
    super(`${exceptionName(type)} at virtual address 0x${(badVAddr >>> 0).toString(16).padStart(8, '0')}`);
    this.name = 'MipsFault';
  }
}

/** Bad machine configuration (memory size, page size, options): a user error. */
export class MachineConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MachineConfigError';
  }
}
