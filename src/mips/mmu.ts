// Address translation, as Nachos's Machine::Translate: per-process page
// tables (or an optional software-managed TLB) with valid, read-only, use
// and dirty bits; the exceptions a bad access raises; and a small
// direct-mapped cache of successful translations that the CPU and the block
// compiler probe inline, so that a hit costs one compare and one load.
//
// The cache behaves like a hardware TLB: it is flushed whenever the page
// table or the TLB array is replaced, and the kernel must call flush() after
// changing an entry in place (clearing valid, use or dirty, changing the
// frame or the read-only bit). Setting `valid` on a page that faulted needs
// no flush, since failed translations are never cached.
import { ExceptionType, MachineConfigError, MipsFault } from './exceptions.js';
import type { PhysicalMemory } from './memory.js';

export { MipsFault } from './exceptions.js';

export interface PageTableEntry {
  virtualPage: number;
  physicalPage: number;
  valid: boolean;
  readOnly: boolean;
  use: boolean;
  dirty: boolean;
}

/** Entries in the translation cache (a power of 2). */
const CacheEntries = 1024;
/** A tag no access can match: page-aligned addresses have bit 2 clear (pages are >= 128 bytes). */
const NoTag = 4;

export class Mmu {
  readonly pageSize: number;
  readonly pageShift: number;
  readonly offsetMask: number;
  /** Whole pages of physical memory; frames at or past this raise a bus error. */
  readonly numPhysPages: number;

  /** Translation cache, indexed by (vpn & cacheMask): virtual page base or NoTag, and physical page base. */
  readonly cacheMask = CacheEntries - 1;
  readonly readTag = new Int32Array(CacheEntries);
  readonly readBase = new Int32Array(CacheEntries);
  /** Write entries exist only for pages already marked dirty that hold no compiled code. */
  readonly writeTag = new Int32Array(CacheEntries);
  readonly writeBase = new Int32Array(CacheEntries);

  /** Physical pages holding compiled code: writes to them take the slow path and call onCodeWrite. */
  readonly codePages: Uint8Array;
  onCodeWrite: ((paddr: number, size: number) => void) | null = null;

  private table: PageTableEntry[] | null = null;
  private tlbEntries: PageTableEntry[] | null = null;

  constructor(
    readonly mem: PhysicalMemory,
    pageSize = 4096,
  ) {
    if (!Number.isInteger(pageSize) || pageSize < 128 || pageSize > 1 << 24 || (pageSize & (pageSize - 1)) !== 0) {
      throw new MachineConfigError(`page size must be a power of 2 between 128 and 16 MiB (got ${pageSize})`);
    }
    this.pageSize = pageSize;
    this.pageShift = Math.log2(pageSize);
    this.offsetMask = pageSize - 1;
    this.numPhysPages = Math.floor(mem.size / pageSize);
    this.codePages = new Uint8Array(this.numPhysPages);
    this.flush();
  }

  /** The current process's page table, indexed by virtual page; null maps virtual = physical. */
  get pageTable(): PageTableEntry[] | null {
    return this.table;
  }
  set pageTable(t: PageTableEntry[] | null) {
    this.table = t;
    this.flush();
  }

  /** When set, translation searches these entries instead of the page table; a miss is a page fault. */
  get tlb(): PageTableEntry[] | null {
    return this.tlbEntries;
  }
  set tlb(t: PageTableEntry[] | null) {
    this.tlbEntries = t;
    this.flush();
  }

  /** Forgets every cached translation (after the kernel edits page table or TLB entries in place). */
  flush(): void {
    this.readTag.fill(NoTag);
    this.writeTag.fill(NoTag);
  }

  /**
   * Translates `vaddr` for an access of `size` bytes (1, 2 or 4), setting the
   * use and dirty bits; returns the physical address or throws MipsFault.
   */
  translate(vaddr: number, size: number, writing: boolean): number {
    vaddr |= 0;
    if ((vaddr & (size - 1)) !== 0) throw new MipsFault(ExceptionType.AddressError, vaddr);
    const vpn = vaddr >>> this.pageShift;
    let ppn: number;
    let entry: PageTableEntry | undefined;
    if (this.tlbEntries) {
      entry = this.tlbEntries.find((e) => e.valid && e.virtualPage === vpn);
      if (!entry) throw new MipsFault(ExceptionType.PageFault, vaddr);
    } else if (this.table) {
      if (vpn >= this.table.length) throw new MipsFault(ExceptionType.AddressError, vaddr);
      entry = this.table[vpn];
      if (!entry?.valid) throw new MipsFault(ExceptionType.PageFault, vaddr);
    }
    if (entry) {
      if (writing && entry.readOnly) throw new MipsFault(ExceptionType.ReadOnly, vaddr);
      ppn = entry.physicalPage;
      if (!Number.isInteger(ppn) || ppn < 0 || ppn >= this.numPhysPages) throw new MipsFault(ExceptionType.BusError, vaddr);
      entry.use = true;
      if (writing) entry.dirty = true;
    } else {
      if (vpn >= this.numPhysPages) throw new MipsFault(ExceptionType.AddressError, vaddr);
      ppn = vpn;
    }
    const slot = vpn & this.cacheMask;
    const vbase = vaddr & ~this.offsetMask;
    const pbase = ppn << this.pageShift;
    this.readTag[slot] = vbase;
    this.readBase[slot] = pbase;
    if (writing && this.codePages[ppn] === 0) {
      this.writeTag[slot] = vbase;
      this.writeBase[slot] = pbase;
    }
    return pbase | (vaddr & this.offsetMask);
  }

  /** Marks a physical page as holding compiled code, so writes to it are seen. */
  markCode(ppn: number): void {
    if (this.codePages[ppn]) return;
    this.codePages[ppn] = 1;
    const pbase = ppn << this.pageShift;
    for (let i = 0; i < CacheEntries; i++) if (this.writeBase[i] === pbase) this.writeTag[i] = NoTag;
  }

  /** Called after a physical write of `size` bytes at `paddr`: tells the code cache about pages holding compiled code. */
  noteWrite(paddr: number, size: number): void {
    const end = paddr + size;
    for (let p = paddr; p < end; p = ((p >>> this.pageShift) + 1) << this.pageShift) {
      if (this.codePages[p >>> this.pageShift] !== 0) this.onCodeWrite?.(p, Math.min(end, ((p >>> this.pageShift) + 1) << this.pageShift) - p);
    }
  }

  // Kernel helpers: guest-visible accesses with the guest's translation and faults.
  readByte(vaddr: number): number {
    return this.mem.bytes[this.translate(vaddr, 1, false)];
  }
  readHalf(vaddr: number): number {
    return this.mem.u16[this.translate(vaddr, 2, false) >>> 1];
  }
  readWord(vaddr: number): number {
    return this.mem.i32[this.translate(vaddr, 4, false) >>> 2];
  }
  writeByte(vaddr: number, v: number): void {
    const p = this.translate(vaddr, 1, true);
    this.mem.bytes[p] = v;
    this.noteWrite(p, 1);
  }
  writeHalf(vaddr: number, v: number): void {
    const p = this.translate(vaddr, 2, true);
    this.mem.u16[p >>> 1] = v;
    this.noteWrite(p, 2);
  }
  writeWord(vaddr: number, v: number): void {
    const p = this.translate(vaddr, 4, true);
    this.mem.i32[p >>> 2] = v;
    this.noteWrite(p, 4);
  }
}
