// A user address space, as Nachos's userprog/addrspace.cc with a linear
// page table, laid out as:
//   [loaded image pages] [guard page] [stack pages] [more: forked thread stacks, or the Linux heap]
// Image pages get frames at load time. Stack and heap pages are zero-fill
// on demand: the first touch is a page fault that the kernel answers with a
// fresh zeroed frame (counted in the statistics). Pages between segments,
// guard pages and everything past the table are wild: touching them kills
// the program.
import type { PhysicalMemory } from '../memory.js';
import type { Mmu, PageTableEntry } from '../mmu.js';
import type { ProgramImage } from '../loader/index.js';
import type { FrameAllocator } from './frames.js';
import { LoaderError } from '../loader/index.js';
import { ThreadReturnAddress } from './layout.js';

/** What a page-table slot is when it has no frame yet. */
const enum Lazy {
  Wild = 0,
  ZeroFill = 1,
}

export interface AddressSpaceState {
  entries: PageTableEntry[];
  lazy: Uint8Array;
  brk: number;
  brkBase: number;
  stackTop: number;
}

export class AddressSpace {
  pageTable: PageTableEntry[] = [];
  /** Per page: may a fault there be answered with a zero page? */
  private lazy = new Uint8Array(0);
  /** Initial stack pointer region top (exclusive), for the main thread. */
  stackTop = 0;
  /** Linux program break, and where it started. */
  brk = 0;
  brkBase = 0;
  readonly pageSize: number;
  /** Pages a space may span: user space, up to (not including) the page forked threads return to. */
  readonly maxPages: number;
  private readonly shift: number;
  private readonly mem: PhysicalMemory;

  constructor(
    private readonly mmu: Mmu,
    private readonly frames: FrameAllocator,
  ) {
    this.mem = mmu.mem;
    this.pageSize = mmu.pageSize;
    this.shift = mmu.pageShift;
    this.maxPages = ThreadReturnAddress >>> this.shift;
  }

  /** Builds the space for a program: copies its segments in, then a guard page and `stackPages` of stack. */
  load(image: ProgramImage, stackPages: number, name: string): void {
    let end = 0;
    for (const s of image.segments) end = Math.max(end, s.vaddr + s.memSize);
    const imagePages = Math.ceil(end / this.pageSize);
    if (imagePages + 1 + stackPages > Math.min(this.maxPages, this.frames.numFrames * 4 + 1024)) {
      // A table far bigger than memory is a bad file, not a program.
      throw new LoaderError(`${name}: needs ${imagePages} pages of address space, far more than memory`);
    }
    const writable = new Uint8Array(imagePages);
    const present = new Uint8Array(imagePages);
    for (const s of image.segments) {
      for (let p = s.vaddr >>> this.shift; p < Math.ceil((s.vaddr + s.memSize) / this.pageSize); p++) {
        present[p] = 1;
        if (s.writable) writable[p] = 1;
      }
    }
    let needed = 0;
    for (let p = 0; p < imagePages; p++) needed += present[p];
    if (needed > this.frames.freeFrames) {
      throw new LoaderError(`${name}: needs ${needed} pages of memory, ${this.frames.freeFrames} are free`);
    }
    this.extend(imagePages, Lazy.Wild);
    for (let p = 0; p < imagePages; p++) {
      if (!present[p]) continue;
      this.mapZeroPage(p);
      this.pageTable[p].readOnly = !writable[p];
    }
    for (const s of image.segments) this.copyIn(s.vaddr, s.data);
    this.extend(1, Lazy.Wild);
    this.extend(stackPages, Lazy.ZeroFill);
    this.stackTop = this.pageTable.length << this.shift;
    this.brk = this.brkBase = this.stackTop;
  }

  /** Adds a guard page and `pages` of zero-fill stack at the end; returns the new stack's top, or -1 if there is no room. */
  addStack(pages: number): number {
    if (this.brk !== this.brkBase) throw new Error('a stack cannot be added after the heap has grown');
    if (this.pageTable.length + 1 + pages > this.maxPages) return -1;
    this.extend(1, Lazy.Wild);
    this.extend(pages, Lazy.ZeroFill);
    this.brk = this.brkBase = this.pageTable.length << this.shift;
    return this.brk;
  }

  /** Linux brk: moves the break (never below its start); returns the break in force afterwards. */
  setBrk(addr: number, maxPages: number): number {
    if (addr <= this.brkBase) return this.brk;
    const pages = Math.ceil(addr / this.pageSize);
    if (pages > maxPages || pages > this.maxPages) return this.brk;
    if (pages > this.pageTable.length) this.extend(pages - this.pageTable.length, Lazy.ZeroFill);
    this.brk = addr;
    return this.brk;
  }

  /** A page fault at `vaddr`: maps a zero page if the address is zero-fill, returns whether it did. */
  pageFault(vaddr: number): boolean {
    const vpn = vaddr >>> this.shift;
    if (vpn >= this.pageTable.length || this.pageTable[vpn].valid || this.lazy[vpn] !== Lazy.ZeroFill) return false;
    this.mapZeroPage(vpn);
    return true;
  }

  /** Physical address of `vaddr` for the kernel's own access, faulting zero pages in; -1 if wild or read-only. */
  translate(vaddr: number, writing: boolean): number {
    const vpn = vaddr >>> this.shift;
    if (vpn >= this.pageTable.length) return -1;
    const e = this.pageTable[vpn];
    if (!e.valid && !this.pageFault(vaddr)) return -1;
    if (writing && e.readOnly) return -1;
    e.use = true;
    if (writing) e.dirty = true;
    return (e.physicalPage << this.shift) | (vaddr & (this.pageSize - 1));
  }

  /** Copies `len` guest bytes out; null if any is unmapped. */
  readBytes(vaddr: number, len: number): Uint8Array | null {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; ) {
      const p = this.translate((vaddr + i) >>> 0, false);
      if (p < 0) return null;
      const n = Math.min(len - i, this.pageSize - (p & (this.pageSize - 1)));
      out.set(this.mem.bytes.subarray(p, p + n), i);
      i += n;
    }
    return out;
  }

  /** Copies bytes into guest memory; false if any page is unmapped or read-only. */
  writeBytes(vaddr: number, data: Uint8Array): boolean {
    for (let i = 0; i < data.length; ) {
      const p = this.translate((vaddr + i) >>> 0, true);
      if (p < 0) return false;
      const n = Math.min(data.length - i, this.pageSize - (p & (this.pageSize - 1)));
      this.mem.bytes.set(data.subarray(i, i + n), p);
      this.mmu.noteWrite(p, n);
      i += n;
    }
    return true;
  }

  /** A NUL-terminated guest string of at most `max` bytes; null if unmapped or unterminated. */
  readString(vaddr: number, max: number): string | null {
    const bytes: number[] = [];
    for (let i = 0; i < max; i++) {
      const p = this.translate((vaddr + i) >>> 0, false);
      if (p < 0) return null;
      const b = this.mem.bytes[p];
      if (b === 0) return new TextDecoder().decode(new Uint8Array(bytes));
      bytes.push(b);
    }
    return null;
  }

  readWord(vaddr: number): number | null {
    const b = this.readBytes(vaddr, 4);
    return b ? (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) : null;
  }

  /** Gives every frame back. */
  release(): void {
    for (const e of this.pageTable) if (e.valid) this.frames.release(e.physicalPage);
    this.pageTable = [];
    this.lazy = new Uint8Array(0);
  }

  save(): AddressSpaceState {
    return {
      entries: this.pageTable.map((e) => ({ ...e })),
      lazy: this.lazy.slice(),
      brk: this.brk,
      brkBase: this.brkBase,
      stackTop: this.stackTop,
    };
  }

  restore(s: AddressSpaceState): void {
    this.pageTable = s.entries.map((e) => ({ ...e }));
    this.lazy = s.lazy.slice();
    this.brk = s.brk;
    this.brkBase = s.brkBase;
    this.stackTop = s.stackTop;
  }

  private copyIn(vaddr: number, data: Uint8Array): void {
    if (!this.writeBytesIgnoringProtection(vaddr, data)) throw new Error('segment copy outside the mapped image');
  }

  private writeBytesIgnoringProtection(vaddr: number, data: Uint8Array): boolean {
    for (let i = 0; i < data.length; ) {
      const vpn = (vaddr + i) >>> this.shift;
      const e = this.pageTable[vpn];
      if (!e?.valid) return false;
      const off = (vaddr + i) & (this.pageSize - 1);
      const n = Math.min(data.length - i, this.pageSize - off);
      const p = (e.physicalPage << this.shift) + off;
      this.mem.bytes.set(data.subarray(i, i + n), p);
      this.mmu.noteWrite(p, n);
      i += n;
    }
    return true;
  }

  private mapZeroPage(vpn: number): void {
    const frame = this.frames.allocate();
    this.mem.bytes.fill(0, frame << this.shift, (frame + 1) << this.shift);
    // The frame may have held another program's compiled code.
    this.mmu.noteWrite(frame << this.shift, this.pageSize);
    const e = this.pageTable[vpn];
    e.physicalPage = frame;
    e.valid = true;
    e.use = false;
    e.dirty = false;
  }

  private extend(pages: number, kind: Lazy): void {
    const start = this.pageTable.length;
    const lazy = new Uint8Array(start + pages);
    lazy.set(this.lazy);
    lazy.fill(kind, start);
    this.lazy = lazy;
    for (let p = start; p < start + pages; p++) {
      this.pageTable.push({ virtualPage: p, physicalPage: -1, valid: false, readOnly: false, use: false, dirty: false });
    }
  }
}
