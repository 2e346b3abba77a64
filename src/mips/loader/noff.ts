// Reads Nachos NOFF executables (what Nachos's coff2noff makes): a header
// with three segments, code, initialised data and uninitialised data, each
// placed at its virtual address; execution starts at address 0.
import { defineStruct } from '../../util/struct.js';
import { LoaderError, type ProgramImage, type Segment } from './image.js';

export const NoffMagic = 0xbadfad;

/** The NOFF header: the magic, then {virtualAddr, inFileAddr, size} for code, initData, uninitData. */
export const NoffHeader = defineStruct('NoffHeader', 40, {
  magic: { offset: 0, type: 'u32' },
  codeVirtualAddr: { offset: 4, type: 'u32' },
  codeInFileAddr: { offset: 8, type: 'u32' },
  codeSize: { offset: 12, type: 'u32' },
  initDataVirtualAddr: { offset: 16, type: 'u32' },
  initDataInFileAddr: { offset: 20, type: 'u32' },
  initDataSize: { offset: 24, type: 'u32' },
  uninitDataVirtualAddr: { offset: 28, type: 'u32' },
  uninitDataInFileAddr: { offset: 32, type: 'u32' },
  uninitDataSize: { offset: 36, type: 'u32' },
});

export function isNoff(file: Uint8Array): boolean {
  return file.length >= 4 && (file[0] | (file[1] << 8) | (file[2] << 16) | (file[3] << 24)) === NoffMagic;
}

export function loadNoff(file: Uint8Array, name: string): ProgramImage {
  if (file.length < NoffHeader.size || !isNoff(file)) throw new LoaderError(`${name}: not a NOFF file`);
  const h = NoffHeader.decode(file);
  const segments: Segment[] = [];
  const parts = [
    ['code', h.codeVirtualAddr, h.codeInFileAddr, h.codeSize, true],
    ['initData', h.initDataVirtualAddr, h.initDataInFileAddr, h.initDataSize, true],
    ['uninitData', h.uninitDataVirtualAddr, 0, h.uninitDataSize, false],
  ] as const;
  for (const [what, vaddr, inFile, size, fromFile] of parts) {
    if (size === 0) continue;
    if (fromFile && inFile + size > file.length) throw new LoaderError(`${name}: NOFF ${what} segment runs past the end of the file`);
    if (vaddr + size > 0x80000000) throw new LoaderError(`${name}: NOFF ${what} segment lies outside user space`);
    segments.push({
      vaddr,
      data: fromFile ? file.slice(inFile, inFile + size) : new Uint8Array(0),
      memSize: size,
      writable: true,
    });
  }
  if (segments.length === 0) throw new LoaderError(`${name}: NOFF file with no segments`);
  return { format: 'noff', entry: 0, isa: 'mips1', segments };
}
