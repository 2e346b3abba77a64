// The MIPS register file layout, numbered as Nachos numbers it: 32 general
// registers, then HI, LO, the program counters, the pending delayed load and
// the faulting address. All of it lives in one Int32Array so that a context
// switch or a snapshot is a single copy.
export const NumGPRegs = 32;
export const HiReg = 32;
export const LoReg = 33;
export const PCReg = 34;
/** Address of the next instruction to execute (differs from PC+4 in a delay slot). */
export const NextPCReg = 35;
/** Address of the last instruction that completed. */
export const PrevPCReg = 36;
/** Register that a load in flight will write (MIPS I load delay); 0 = none. */
export const LoadReg = 37;
/** Value that the load in flight will write. */
export const LoadValueReg = 38;
/** Virtual address that caused the last address-related exception. */
export const BadVAddrReg = 39;
export const NumTotalRegs = 40;

/** Conventional o32 names, for the disassembler and traces. */
export const regNames: readonly string[] = [
  'zero', 'at', 'v0', 'v1', 'a0', 'a1', 'a2', 'a3',
  't0', 't1', 't2', 't3', 't4', 't5', 't6', 't7',
  's0', 's1', 's2', 's3', 's4', 's5', 's6', 's7',
  't8', 't9', 'k0', 'k1', 'gp', 'sp', 'fp', 'ra',
];

export const StackReg = 29;
