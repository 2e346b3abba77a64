// The transaction seam: every metadata change of one operation (inodes,
// bitmap entries, pointer blocks, directory data) is gathered in one
// Transaction and reaches the disk only through a journal, as one group of
// writes. Until commit nothing is visible to other operations, and an
// operation that fails is simply dropped. The file data it writes is
// gathered too and written first at commit, so that metadata never points at
// bytes not yet written, and an operation run again after a cache miss
// (cacheMiss.ts) has written nothing. Both journals log the metadata group,
// then apply it in place: a lone host's (loneJournal.ts) and a cluster
// host's (cluster/journal.ts, through the coordinator).
import { BitmapEntry } from './resourceFile.js';
import { DirEntry } from './directory.js';
import { Inode } from './inode.js';

export interface MetaWrite {
  /** Logical offset. */
  offset: number;
  data: Uint8Array;
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
