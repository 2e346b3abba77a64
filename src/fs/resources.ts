// The four resource files, loaded: their geometry, where their bytes sit in
// the logical volume, and their bitmap entries. Allocation and freeing of
// file blocks, sub-blocks, pointer blocks and inodes happen here, always
// inside a Transaction.
//
// With several hosts, each allocates from whole bitmap entries it holds
// locked (resource clusters, as VMFS does): it prefers its own entries, then
// entries nobody holds (the transaction asks for them: `Transaction.claims`),
// and takes from another host's entries only when nothing else is left.
// Holding is about contention, not safety: commits are serialised anyway.
import { FsError, VolumeError } from '../util/errors.js';
import { EntryItem } from './blockId.js';
import {
  BITMAP_ENTRY_SIZE,
  BitmapEntry,
  ResourceKind,
  ResourceLayout,
  cloneBitmapEntry,
  decodeBitmapEntry,
  isItemFree,
  setItemFree,
} from './resourceFile.js';
import { Transaction } from './transaction.js';

/** Maps offsets inside a (system) file to logical offsets. */
export interface FileLayout {
  /** Logical offset of each file block of the file, or -1 for a hole. */
  blocks: number[];
  blockSize: number;
}

export function mapFileOffset(layout: FileLayout, offset: number): number {
  const idx = Math.floor(offset / layout.blockSize);
  const base = layout.blocks[idx];
  if (base === undefined || base < 0) throw new VolumeError(`system file offset ${offset} is not mapped`);
  return base + (offset % layout.blockSize);
}

/** Splits a system-file byte range into logical pieces (items can straddle file blocks). */
export function mapFileRange(layout: FileLayout, offset: number, length: number): { logical: number; length: number }[] {
  const out: { logical: number; length: number }[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const inBlock = layout.blockSize - (pos % layout.blockSize);
    const len = Math.min(inBlock, end - pos);
    const logical = mapFileOffset(layout, pos);
    const last = out[out.length - 1];
    if (last && last.logical + last.length === logical) last.length += len;
    else out.push({ logical, length: len });
    pos += len;
  }
  return out;
}

/** Splits `buf` (from byte `from` on) over the logical pieces it occupies, as writes. */
export function piecesOf(parts: { logical: number; length: number }[], buf: Uint8Array, from = 0): { offset: number; data: Uint8Array }[] {
  const out: { offset: number; data: Uint8Array }[] = [];
  let at = 0;
  for (const p of parts) {
    const start = Math.max(at, from);
    const end = at + p.length;
    if (end > start) out.push({ offset: p.logical + (start - at), data: buf.subarray(start, end) });
    at = end;
  }
  return out;
}

/** Who this host is in lock headers, to tell its resource clusters from other hosts'. */
export interface ClusterIdentity {
  slotOffset: number;
  generation: number;
}

export class Resource {
  /** Next-fit cursor: the entry to try first. */
  private cursor = 0;
  /** Set on a cluster mount: entries are then held per host (see the top of this file). */
  private identity: ClusterIdentity | null = null;
  /** Entries this host holds locked, and entries it found another host holding. */
  private readonly mine = new Set<number>();
  private readonly theirs = new Set<number>();

  constructor(
    readonly kind: ResourceKind,
    /** Geometry and placement: replaced only when the datastore grows (adopt). */
    public layout: ResourceLayout,
    public file: FileLayout,
    /** The committed state of every entry. */
    readonly entries: BitmapEntry[],
  ) {}

  static async load(kind: ResourceKind, layout: ResourceLayout, file: FileLayout, read: (offset: number, length: number) => Promise<Buffer>): Promise<Resource> {
    // One read per area's run of entries: opening a volume reads thousands of them.
    const entries: BitmapEntry[] = [];
    const perArea = layout.geometry.entriesPerArea;
    for (let first = 0; first < layout.entryCount; first += perArea) {
      const count = Math.min(perArea, layout.entryCount - first);
      const parts = mapFileRange(file, layout.entryOffset(first), count * BITMAP_ENTRY_SIZE);
      const buf = Buffer.concat(await Promise.all(parts.map((p) => read(p.logical, p.length))));
      for (let k = 0; k < count; k++) entries.push(decodeBitmapEntry(buf, k * BITMAP_ENTRY_SIZE));
    }
    return new Resource(kind, layout, file, entries);
  }

  /** Re-reads one entry (another host changed it). */
  async reloadEntry(entry: number, read: (offset: number, length: number) => Promise<Buffer>): Promise<void> {
    if (entry >= this.entries.length) return;
    const parts = mapFileRange(this.file, this.layout.entryOffset(entry), BITMAP_ENTRY_SIZE);
    this.entries[entry] = decodeBitmapEntry(Buffer.concat(await Promise.all(parts.map((p) => read(p.logical, p.length)))));
  }

  /** Starts allocating by resource clusters as host `identity`, from its own part of the resource (spreads hosts apart). */
  useClusters(identity: ClusterIdentity, spread: number): void {
    this.identity = identity;
    this.cursor = Math.floor(this.entries.length * (spread % 1));
  }

  /** Records the outcome of claiming `entry` (true: this host holds it now). */
  claimed(entry: number, held: boolean): void {
    (held ? this.mine : this.theirs).add(entry);
  }

  /** The entries this host holds (to give back when it leaves). */
  heldEntries(): number[] {
    return [...this.mine];
  }

  private heldByOther(entry: number): boolean {
    if (!this.identity || this.mine.has(entry)) return false;
    if (this.theirs.has(entry)) return true;
    const lock = this.entries[entry].lock;
    return lock.mode !== 0 && !(lock.hbPos === this.identity.slotOffset && lock.hbSeq === this.identity.generation);
  }

  /** Takes over a freshly loaded state of the same resource (its geometry may have grown). */
  adopt(fresh: Resource): void {
    this.layout = fresh.layout;
    this.file = fresh.file;
    this.entries.splice(0, this.entries.length, ...fresh.entries);
  }

  entryLogical(entry: number): number {
    return mapFileOffset(this.file, this.layout.entryOffset(entry));
  }

  itemLogical(at: EntryItem): number {
    return mapFileOffset(this.file, this.layout.itemOffset(at));
  }

  itemRange(at: EntryItem, count = 1): { logical: number; length: number }[] {
    // The items of one entry lie side by side: `count` of them from `at` are one range.
    return mapFileRange(this.file, this.layout.itemOffset(at), count * this.layout.geometry.dataSize);
  }

  /** The entry as the transaction sees it (read-only view). */
  view(tx: Transaction | null, entry: number): BitmapEntry {
    return tx?.entries.get(this.key(entry)) ?? this.entries[entry];
  }

  /** The transaction's own copy of an entry, to change. */
  edit(tx: Transaction, entry: number): BitmapEntry {
    const key = this.key(entry);
    let e = tx.entries.get(key);
    if (!e) {
      e = cloneBitmapEntry(this.entries[entry]);
      tx.entries.set(key, e);
    }
    return e;
  }

  private key(entry: number): string {
    return `${this.kind}:${entry}`;
  }

  isAllocated(tx: Transaction | null, at: EntryItem): boolean {
    if (at.entry >= this.entries.length || at.item >= this.layout.itemsInEntry(at.entry)) return false;
    return !isItemFree(this.view(tx, at.entry), at.item);
  }

  /**
   * Allocates up to `count` items, preferring a contiguous run starting at
   * `near` (an item number, for file blocks). Returns fewer only when the
   * resource is exhausted; throws ENOSPC when none is free.
   */
  allocate(tx: Transaction, count: number, near?: number): EntryItem[] {
    const ipe = this.layout.geometry.itemsPerEntry;
    const got: EntryItem[] = [];
    const take = (entry: number, from: number) => {
      const view = this.view(tx, entry);
      if (view.free === 0) return;
      let e: BitmapEntry | null = null;
      const total = this.layout.itemsInEntry(entry);
      for (let i = from; i < total && got.length < count; i++) {
        if (!isItemFree(view, i)) continue;
        e ??= this.edit(tx, entry);
        setItemFree(e, i, false);
        got.push({ entry, item: i });
      }
    };
    const nearEntry = near !== undefined && near >= 0 && near < this.layout.geometry.totalItems ? Math.floor(near / ipe) : -1;
    if (nearEntry >= 0 && !this.heldByOther(nearEntry)) take(nearEntry, near! % ipe);
    for (const entry of this.mine) if (got.length < count) take(entry, 0);
    const n = this.entries.length;
    // Entries nobody else holds first; then, with nothing else left, any.
    for (const pass of [false, true]) {
      for (let k = 0; k < n && got.length < count; k++) {
        const entry = (this.cursor + k) % n;
        if (!pass && this.heldByOther(entry)) continue;
        take(entry, 0);
        if (got.length < count) continue;
        this.cursor = entry;
      }
    }
    if (got.length === 0) throw new FsError('ENOSPC', this.kind);
    if (this.identity) for (const at of got) if (!this.mine.has(at.entry) && !this.theirs.has(at.entry)) tx.claims.add(`${this.kind}:${at.entry}`);
    return got;
  }

  free(tx: Transaction, at: EntryItem): void {
    if (!this.isAllocated(tx, at)) throw new VolumeError(`${this.kind}: freeing item ${at.entry}:${at.item}, which is not allocated`);
    setItemFree(this.edit(tx, at.entry), at.item, true);
  }

  /** Free items as the transaction sees them. */
  freeCount(tx: Transaction | null = null): number {
    let n = 0;
    for (let e = 0; e < this.entries.length; e++) n += this.view(tx, e).free;
    return n;
  }

  /** Installs committed entries. */
  install(entry: number, value: BitmapEntry): void {
    this.entries[entry] = value;
  }
}
