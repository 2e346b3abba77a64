// What a loader produces: the memory image of a program, independent of the
// file format it came in.

export interface Segment {
  vaddr: number;
  /** Bytes from the file; the rest of memSize is zero (bss). */
  data: Uint8Array;
  memSize: number;
  writable: boolean;
}

export interface ProgramImage {
  format: 'elf' | 'noff';
  entry: number;
  /** The instruction set the file says it needs. */
  isa: 'mips1' | 'mips32';
  segments: Segment[];
}

export class LoaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoaderError';
  }
}
