// Picks the loader by the file's magic number: ELF or Nachos NOFF.
import { isElf, loadElf } from './elf.js';
import { LoaderError, type ProgramImage } from './image.js';
import { isNoff, loadNoff } from './noff.js';

export { LoaderError, type ProgramImage, type Segment } from './image.js';

export function loadProgram(file: Uint8Array, name: string): ProgramImage {
  if (isElf(file)) return loadElf(file, name);
  if (isNoff(file)) return loadNoff(file, name);
  throw new LoaderError(`${name}: not a MIPS executable (neither ELF nor Nachos NOFF)`);
}
