// The transaction seam: every metadata change of one operation (inodes,
// bitmap entries, pointer blocks, directory data) is gathered in one
// Transaction and reaches the disk only through a CommitSink, as one group of
// writes. Until commit nothing is visible to other operations, and an
// operation that fails is simply dropped. The file data it writes is
// gathered too and written first at commit, so that metadata never points at
// bytes not yet written, and an operation run again after a cache miss
// (cacheMiss.ts) has written nothing. The cluster layer's journal is a
// CommitSink: it logs the metadata group, then applies it in place.
import { LogicalVolume } from '../volume/logicalVolume.js';
import { BitmapEntry } from './resourceFile.js';
import { DirEntry } from './directory.js';
import { Inode } from './inode.js';

export interface MetaWrite {
  /** Logical offset. */
  offset: number;
  data: Uint8Array;
}

export interface CommitSink {
  commit(writes: MetaWrite[]): Promise<void>;
}

/** Writes each group in place, in offset order (no journal: a single host without crash protection). */
export class InPlaceSink implements CommitSink {
  constructor(private readonly volume: LogicalVolume) {}
  async commit(writes: MetaWrite[]): Promise<void> {
    // All issued at once: a file extent writes each as it is called, a network one pipelines them.
    await Promise.all(writes.map((w) => this.volume.write(w.data, w.offset)));
  }
}

/** Pending directory changes: slots replaced or cleared, and the resulting length. */
export interface DirOverlay {
  slots: Map<number, DirEntry>;
  names: Map<string, number>; // name -> slot, or -1 when removed
  length: number;
}

export class Transaction {
  readonly inodes = new Map<number, Inode>();
  readonly entries = new Map<string, BitmapEntry>();
  readonly pointerBlocks = new Map<number, Uint32Array>();
  readonly dirs = new Map<number, DirOverlay>();
  /** Raw metadata bytes (directory data, resource headers) at logical offsets. */
  readonly raw: MetaWrite[] = [];
  /** File data (write() bytes, zero-fill, bytes moved to a new block), in the order written: later ones may overlap earlier ones. */
  readonly data: MetaWrite[] = [];
  /** Inodes freed in this transaction: their caches must be dropped on commit. */
  readonly freedInodes = new Set<number>();
  /** Bitmap entries ("kind:index") it allocated from that this host should hold from now on (resource clusters). */
  readonly claims = new Set<string>();

  get empty(): boolean {
    return this.inodes.size + this.entries.size + this.pointerBlocks.size + this.dirs.size + this.raw.length + this.freedInodes.size === 0;
  }
}
