// Reads ELF32 little-endian MIPS executables: the loadable (PT_LOAD)
// segments with their bss, and the entry point. Anything else (another
// machine, 64-bit, big-endian, relocatable or shared objects, dynamic
// linking) is refused with a message that says what the file is.
import { defineStruct } from '../../util/struct.js';
import { LoaderError, type ProgramImage, type Segment } from './image.js';

const ElfHeader = defineStruct('Elf32_Ehdr', 52, {
  ident: { offset: 0, type: { bytes: 16 } },
  type: { offset: 16, type: 'u16' },
  machine: { offset: 18, type: 'u16' },
  version: { offset: 20, type: 'u32' },
  entry: { offset: 24, type: 'u32' },
  phoff: { offset: 28, type: 'u32' },
  shoff: { offset: 32, type: 'u32' },
  flags: { offset: 36, type: 'u32' },
  ehsize: { offset: 40, type: 'u16' },
  phentsize: { offset: 42, type: 'u16' },
  phnum: { offset: 44, type: 'u16' },
});

const ProgramHeader = defineStruct('Elf32_Phdr', 32, {
  type: { offset: 0, type: 'u32' },
  offset: { offset: 4, type: 'u32' },
  vaddr: { offset: 8, type: 'u32' },
  paddr: { offset: 12, type: 'u32' },
  filesz: { offset: 16, type: 'u32' },
  memsz: { offset: 20, type: 'u32' },
  flags: { offset: 24, type: 'u32' },
  align: { offset: 28, type: 'u32' },
});

const ELFCLASS32 = 1;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const EM_MIPS = 8;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PF_W = 2;
/** e_flags architecture field and the values we run. */
const EF_MIPS_ARCH = 0xf0000000;
const archNames: Record<number, string> = {
  0x00000000: 'mips1',
  0x10000000: 'mips2',
  0x20000000: 'mips3',
  0x30000000: 'mips4',
  0x40000000: 'mips5',
  0x50000000: 'mips32',
  0x60000000: 'mips64',
  0x70000000: 'mips32r2',
  0x80000000: 'mips64r2',
  0x90000000: 'mips32r6',
  0xa0000000: 'mips64r6',
};
const runnableArchs = new Set(['mips1', 'mips2', 'mips32', 'mips32r2']);

export function isElf(file: Uint8Array): boolean {
  return file.length >= 4 && file[0] === 0x7f && file[1] === 0x45 && file[2] === 0x4c && file[3] === 0x46;
}

export function loadElf(file: Uint8Array, name: string): ProgramImage {
  if (file.length < ElfHeader.size || !isElf(file)) throw new LoaderError(`${name}: not an ELF file`);
  const h = ElfHeader.decode(file);
  if (h.ident[4] !== ELFCLASS32) throw new LoaderError(`${name}: a 64-bit ELF file; the machine runs 32-bit MIPS`);
  if (h.ident[5] !== ELFDATA2LSB) throw new LoaderError(`${name}: a big-endian ELF file; the machine is little-endian (build with -EL)`);
  if (h.machine !== EM_MIPS) throw new LoaderError(`${name}: an ELF file for machine ${h.machine}, not MIPS`);
  if (h.type !== ET_EXEC) {
    const what = h.type === 1 ? 'a relocatable object' : h.type === 3 ? 'a shared object or PIE' : `ELF type ${h.type}`;
    throw new LoaderError(`${name}: ${what}, not a static executable (link with -static)`);
  }
  const arch = archNames[(h.flags & EF_MIPS_ARCH) >>> 0] ?? `architecture 0x${((h.flags & EF_MIPS_ARCH) >>> 0).toString(16)}`;
  if (!runnableArchs.has(arch)) throw new LoaderError(`${name}: built for ${arch}; the machine runs mips1 and mips32 code`);
  if (h.phentsize !== ProgramHeader.size) throw new LoaderError(`${name}: program headers of ${h.phentsize} bytes, not 32`);
  if (h.phoff + h.phnum * ProgramHeader.size > file.length) throw new LoaderError(`${name}: program headers run past the end of the file`);
  const segments: Segment[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const ph = ProgramHeader.decode(file, h.phoff + i * ProgramHeader.size);
    if (ph.type === PT_INTERP || ph.type === PT_DYNAMIC) throw new LoaderError(`${name}: dynamically linked; link with -static -nostdlib`);
    if (ph.type !== PT_LOAD || ph.memsz === 0) continue;
    if (ph.filesz > ph.memsz) throw new LoaderError(`${name}: segment ${i} has more file bytes than memory bytes`);
    if (ph.offset + ph.filesz > file.length) throw new LoaderError(`${name}: segment ${i} runs past the end of the file`);
    if (ph.vaddr + ph.memsz > 0x80000000) throw new LoaderError(`${name}: segment ${i} lies in kernel space (0x${ph.vaddr.toString(16)})`);
    segments.push({
      vaddr: ph.vaddr,
      data: file.slice(ph.offset, ph.offset + ph.filesz),
      memSize: ph.memsz,
      writable: (ph.flags & PF_W) !== 0,
    });
  }
  if (segments.length === 0) throw new LoaderError(`${name}: no loadable segments`);
  if ((h.entry & 3) !== 0) throw new LoaderError(`${name}: entry point 0x${h.entry.toString(16)} is not word-aligned`);
  return { format: 'elf', entry: h.entry, isa: arch === 'mips1' || arch === 'mips2' ? 'mips1' : 'mips32', segments };
}
