// A mounted VMFS3 file system: the library every tool uses (CLI, FUSE, VM
// runner). It opens what any VMFS3 host wrote (geometry is read from disk),
// keeps committed metadata cached, and runs every operation that changes
// metadata alone (a mutex) inside one Transaction committed through one sink.
// Operation bodies do not await: they run over the caches and throw a
// CacheMiss for what is missing, and the driver loads it and runs them again
// (cacheMiss.ts). The async accessors (inode(), pointerBlock(),
// dirEntries()) load for callers outside an operation, such as fsck.
import { pause } from '../cluster/clock.js';
import { LOCK_HEADER_SIZE, LockHeader, LockMode, freeLockHeader } from '../cluster/lockHeader.js';
import { FsError, VolumeError } from '../util/errors.js';
import { LogicalVolume } from '../volume/logicalVolume.js';
import { BlockType, blockType, fileBlockNumber, inodeAddress, inodeId, pointerBlockAddress } from './blockId.js';
import { DIR_ENTRY_SIZE, DirEntry, MAX_NAME_BYTES, decodeDirEntries, dirEntryStruct } from './directory.js';
import { MapContext, Piece, chooseMode, mapForRead, mapForWrite, maxFileSize, truncateMap, zeroGap } from './fileMap.js';
import { FS_INFO_MAGIC, FS_INFO_OFFSET, FsInfo, VMFS3_VERSION, fdcBaseBlock, fsInfoStruct } from './fsInfo.js';
import { INODE_MAGIC, INODE_SIZE, Inode, InodeType, Zla, cloneInode, decodeInode, decodeInodeHead, encodeInode, newBlockList, sameInode, typeBits } from './inode.js';
import { Mutex } from '../util/mutex.js';
import { ClusterIdentity, FileLayout, Resource, mapFileRange, piecesOf } from './resources.js';
import { ResourceKind, ResourceLayout, encodeBitmapEntry, resourceHeaderStruct } from './resourceFile.js';
import { POINTER_BLOCK_SIZE, POINTERS_PER_BLOCK, ROOT_INODE_ID, SYSTEM_FILES } from './systemFiles.js';
import { DirOverlay, MetaWrite, Transaction } from './transaction.js';
import { LoneJournal, pendingLoneCommit } from './loneJournal.js';
import { Change, ChangeKind, readChangesSince } from './changeLog.js';
import { CacheMiss, untilLoaded } from './cacheMiss.js';

export interface Stat {
  id: number;
  type: InodeType;
  /** POSIX mode: type bits and permissions. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** 512-byte units allocated. */
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

export interface DirListing {
  name: string;
  id: number;
  type: InodeType;
}

export interface StatFs {
  blockSize: number;
  totalBlocks: number;
  freeBlocks: number;
  totalInodes: number;
  freeInodes: number;
  nameMax: number;
}

export interface Caller {
  uid: number;
  gid: number;
}

const ROOT: Caller = { uid: 0, gid: 0 };
/** A transaction that must start again once the reservation has been given back. */
const RETRY = Symbol('retry');
const MAX_SYMLINK_DEPTH = 40;
/** Free inode slots whose heads one read brings in (64 KiB). */
const SLOT_HEADS_PER_READ = 32;

interface DirState {
  entries: DirEntry[];
  index: Map<string, number>;
}

/**
 * What several hosts sharing the datastore need from a mounted file system
 * (cluster/clusterMount.ts provides it): cluster-wide exclusion around
 * metadata changes, and a way to tell whether cached metadata is still what
 * is on disk.
 */
export interface Coordinator {
  /** Runs `fn` while no other host changes metadata. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** The volume-wide metadata generation (even when no commit is under way): it changes whenever any host commits. */
  generation(): Promise<number>;
  /**
   * Applies one commit of this host (inside `exclusive`, at generation
   * `from`): the generation is odd while the writes go to disk, then the
   * change record names what changed. Returns the new generation.
   */
  commit(writes: MetaWrite[], changes: Change[], from: number): Promise<number>;
  /** Runs `fn` inside `exclusive` as a change that no change record can describe (every cache, the geometry too); returns the new generation. */
  changeAll<T>(fn: () => Promise<T>, from: number): Promise<{ result: T; generation: number }>;
  /** This host in lock headers, and where in each resource it starts allocating (0..1, hosts spread apart). */
  readonly identity: ClusterIdentity;
  readonly spread: number;
  /** Locks the bitmap entry whose lock header is at logical `offset` for this host; false if another host holds it. */
  claim(offset: number): Promise<boolean>;
}

export interface OpenOptions {
  readOnly?: boolean;
  /** A cluster host's commits go through it; without one, the host changes the datastore alone (loneJournal.ts). */
  coordinator?: Coordinator;
  /** Seconds since the epoch; tests pin it. */
  clock?: () => number;
}

export class Vmfs {
  readonly blockSize: number;
  readonly subBlockSize: number;
  readonly fbb: Resource;
  readonly fdc: Resource;
  readonly pbc: Resource;
  readonly sbc: Resource;
  private readonly inodeCache = new Map<number, Inode>();
  private readonly dirCache = new Map<number, DirState>();
  private readonly pbCache = new Map<number, Uint32Array>();
  /** Generation and lock header of free inode slots, read ahead for the inodes to be made there (null: never used). */
  private readonly slotHeads = new Map<number, { generation: number; lock: LockHeader } | null>();
  /** Bytes read for the operation under way ("offset:length"): file data it reads, which no cache keeps. */
  private readonly fetched = new Map<string, Uint8Array>();
  private readonly mutex = new Mutex();
  /** Where a lone host's commits go (null when read-only or a cluster host). */
  private readonly sink: LoneJournal | null;
  private readonly coordinator?: Coordinator;
  /** The metadata generation the caches reflect (multi-host only). */
  private cachedGeneration = -1;
  private readonly clock: () => number;
  readonly readOnly: boolean;
  private readonly ctx: MapContext;

  private constructor(
    readonly volume: LogicalVolume,
    readonly info: FsInfo,
    res: Record<ResourceKind, Resource>,
    options: OpenOptions,
    sink: LoneJournal | null,
  ) {
    this.blockSize = info.blockSize;
    this.fbb = res[ResourceKind.FileBlocks];
    this.fdc = res[ResourceKind.Inodes];
    this.pbc = res[ResourceKind.PointerBlocks];
    this.sbc = res[ResourceKind.SubBlocks];
    this.subBlockSize = this.sbc.layout.geometry.dataSize;
    this.readOnly = !!options.readOnly || volume.readOnly;
    this.sink = sink;
    this.coordinator = options.coordinator;
    if (this.coordinator) for (const r of [this.fbb, this.fdc, this.pbc, this.sbc]) r.useClusters(this.coordinator.identity, this.coordinator.spread);
    this.clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.ctx = {
      blockSize: this.blockSize,
      subBlockSize: this.subBlockSize,
      get volumeBytes() {
        return volume.size; // grows in place with the volume
      },
      fbb: this.fbb,
      sbc: this.sbc,
      pbc: this.pbc,
      pointerBlock: (tx, id) => this.pointerBlockNow(tx, id),
      editPointerBlock: (tx, id, fresh) => this.editPointerBlock(tx, id, fresh),
      readData: (tx, logical, length) => this.readDataNow(tx, logical, length),
    };
  }

  // ---------------------------------------------------------------- opening

  static async open(volume: LogicalVolume, options: OpenOptions = {}): Promise<Vmfs> {
    const read = reader(volume);
    if (volume.size < FS_INFO_OFFSET + 0x200) throw new VolumeError('volume too small to hold a file system');
    const info = fsInfoStruct.decode(await read(FS_INFO_OFFSET, 0x200));
    if (info.magic !== FS_INFO_MAGIC) throw new VolumeError(`no VMFS file system on this volume (FS info magic 0x${info.magic.toString(16)})`);
    if (info.version !== VMFS3_VERSION) throw new VolumeError(`VMFS version ${info.version} is not supported (VMFS3 is ${VMFS3_VERSION})`);
    const bs = info.blockSize;
    if (!(bs >= 0x10000 && bs <= 0x4000000 && (bs & (bs - 1)) === 0)) throw new VolumeError(`unknown block size ${bs} in FS info`);
    if (info.lvmUuid !== volume.uuid) throw new VolumeError(`the file system belongs to LVM ${info.lvmUuid}, not to this volume (${volume.uuid})`);
    // A lone host killed in the middle of a commit left its record: complete
    // the commit, or, not allowed to write, read as if it were complete.
    let sink: LoneJournal | null = null;
    if (!options.coordinator) {
      if (options.readOnly || volume.readOnly) volume.overlay(await pendingLoneCommit(volume)); // this view never writes
      else sink = await LoneJournal.open(volume);
    }
    return new Vmfs(volume, info, await loadResources(read, bs), options, sink);
  }

  /** Re-reads the volume's geometry and every resource file (another host grew the datastore). */
  private async reloadGeometry(): Promise<void> {
    await this.volume.refresh();
    const fresh = await loadResources(reader(this.volume), this.blockSize);
    for (const kind of Object.values(ResourceKind)) this.resource(kind).adopt(fresh[kind]);
  }

  // ------------------------------------------------------- metadata access

  /** The inode as the transaction (or, without one, the committed state) sees it; loads it if needed. */
  async inode(tx: Transaction | null, id: number): Promise<Inode> {
    const inode = tx?.inodes.get(id) ?? this.inodeCache.get(id);
    if (inode) return inode;
    await this.loadInode(id); // no miss thrown and caught: fsck loads every inode this way
    return this.inodeCache.get(id)!;
  }

  /** inode() from the transaction or the cache; throws CacheMiss to have it loaded. */
  inodeNow(tx: Transaction | null, id: number): Inode {
    const inode = tx?.inodes.get(id) ?? this.inodeCache.get(id);
    if (inode) return inode;
    throw new CacheMiss(() => this.loadInode(id));
  }

  private async loadInode(id: number): Promise<void> {
    if (blockType(id) !== BlockType.Inode) throw new VolumeError(`0x${id.toString(16)} is not an inode id`);
    const at = inodeAddress(id);
    if (at.entry >= this.fdc.entries.length || at.item >= this.fdc.layout.itemsInEntry(at.entry)) throw new VolumeError(`inode 0x${id.toString(16)} lies outside the inode table`);
    const loaded = decodeInode(await this.readMeta(this.fdc.itemRange(at)));
    if (loaded.lock.magic !== INODE_MAGIC || loaded.id !== id) throw new VolumeError(`inode 0x${id.toString(16)} is damaged (magic 0x${loaded.lock.magic.toString(16)}, id 0x${loaded.id.toString(16)})`);
    this.inodeCache.set(id, loaded);
  }

  /** The transaction's own copy of an inode, to change (low level: operations and fsck repairs). */
  editInode(tx: Transaction, id: number): Inode {
    let inode = tx.inodes.get(id);
    if (!inode) {
      inode = cloneInode(this.inodeNow(null, id));
      tx.inodes.set(id, inode);
    }
    return inode;
  }

  /** The pointer block as the transaction (or the committed state) sees it; loads it if needed. */
  async pointerBlock(tx: Transaction | null, id: number): Promise<Uint32Array> {
    const pb = tx?.pointerBlocks.get(id) ?? this.pbCache.get(id);
    if (pb) return pb;
    await this.loadPointerBlock(id);
    return this.pbCache.get(id)!;
  }

  pointerBlockNow(tx: Transaction | null, id: number): Uint32Array {
    const pb = tx?.pointerBlocks.get(id) ?? this.pbCache.get(id);
    if (pb) return pb;
    throw new CacheMiss(() => this.loadPointerBlock(id));
  }

  private async loadPointerBlock(id: number): Promise<void> {
    const at = pointerBlockAddress(id);
    if (blockType(id) !== BlockType.PointerBlock || at.entry >= this.pbc.entries.length) throw new VolumeError(`0x${id.toString(16)} is not a pointer block`);
    const buf = await this.readMeta(this.pbc.itemRange(at));
    const loaded = new Uint32Array(POINTERS_PER_BLOCK);
    for (let i = 0; i < POINTERS_PER_BLOCK; i++) loaded[i] = buf.readUInt32LE(i * 4);
    this.pbCache.set(id, loaded);
  }

  editPointerBlock(tx: Transaction, id: number, fresh = false): Uint32Array {
    let pb = tx.pointerBlocks.get(id);
    if (!pb) {
      pb = fresh ? new Uint32Array(POINTERS_PER_BLOCK) : Uint32Array.from(this.pointerBlockNow(null, id));
      tx.pointerBlocks.set(id, pb);
    }
    return pb;
  }

  /**
   * Bytes on the volume that no cache keeps (a symlink's target, a small
   * file's data moving to a file block), read once per operation; throws
   * CacheMiss to have them read. The caller must not change what it gets.
   */
  private fetchNow(logical: number, length: number): Uint8Array {
    const key = `${logical}:${length}`;
    const bytes = this.fetched.get(key);
    if (bytes) return bytes;
    throw new CacheMiss(async () => {
      const b = Buffer.allocUnsafe(length); // filled whole by the read
      await this.volume.read(b, logical);
      this.fetched.set(key, b);
    });
  }

  /** Data bytes as the transaction sees them: what the volume holds, under the data it wrote itself. */
  private readDataNow(tx: Transaction, logical: number, length: number): Uint8Array {
    const out = Uint8Array.from(this.fetchNow(logical, length));
    for (const w of tx.data) {
      const from = Math.max(logical, w.offset);
      const to = Math.min(logical + length, w.offset + w.data.length);
      if (from < to) out.set(w.data.subarray(from - w.offset, to - w.offset), from - logical);
    }
    return out;
  }

  private async readMeta(parts: { logical: number; length: number }[]): Promise<Buffer> {
    const bufs: Buffer[] = [];
    for (const p of parts) {
      const b = Buffer.allocUnsafe(p.length); // filled whole by the read
      await this.volume.read(b, p.logical);
      bufs.push(b);
    }
    return bufs.length === 1 ? bufs[0] : Buffer.concat(bufs);
  }

  /** A directory's entries and name index, read on first use (throws CacheMiss to have them read). */
  private dirState(id: number): DirState {
    const state = this.dirCache.get(id);
    if (state) return state;
    throw new CacheMiss(() => this.loadDir(id));
  }

  private async loadDir(id: number): Promise<void> {
    const inode = await this.inode(null, id);
    const data = new Uint8Array(inode.size);
    await this.readInto(inode, data, 0);
    const entries = decodeDirEntries(data);
    const index = new Map<string, number>();
    entries.forEach((e, i) => {
      if (!index.has(e.name)) index.set(e.name, i);
    });
    this.dirCache.set(id, { entries, index });
  }

  private overlay(tx: Transaction, dirId: number, base: DirState): DirOverlay {
    let o = tx.dirs.get(dirId);
    if (!o) {
      o = { slots: new Map(), names: new Map(), length: base.entries.length };
      tx.dirs.set(dirId, o);
    }
    return o;
  }

  /** A directory's entry for `name` as the transaction sees it. */
  private dirLookup(tx: Transaction | null, dirId: number, name: string): DirEntry | undefined {
    const base = this.dirState(dirId);
    const o = tx?.dirs.get(dirId);
    if (o) {
      const slot = o.names.get(name);
      if (slot !== undefined) return slot < 0 ? undefined : o.slots.get(slot);
    }
    const slot = base.index.get(name);
    if (slot === undefined || (o && slot >= o.length)) return undefined;
    return o?.slots.get(slot) ?? base.entries[slot];
  }

  /** A directory's raw entries, slot by slot, as the transaction sees them; loads them if needed. */
  async dirEntries(tx: Transaction | null, dirId: number): Promise<DirEntry[]> {
    if (!this.dirCache.has(dirId)) await this.loadDir(dirId);
    return this.dirEntriesNow(tx, dirId);
  }

  dirEntriesNow(tx: Transaction | null, dirId: number): DirEntry[] {
    const base = this.dirState(dirId);
    const o = tx?.dirs.get(dirId);
    if (!o) return base.entries;
    const out: DirEntry[] = [];
    for (let i = 0; i < o.length; i++) out.push(o.slots.get(i) ?? base.entries[i]);
    return out;
  }

  dirSetSlot(tx: Transaction, dir: Inode, slot: number, entry: DirEntry): void {
    const o = this.overlay(tx, dir.id, this.dirState(dir.id));
    o.slots.set(slot, entry);
    o.names.set(entry.name, slot);
    this.writeMetaData(tx, dir, slot * DIR_ENTRY_SIZE, dirEntryStruct.encode(entry));
  }

  dirAdd(tx: Transaction, dir: Inode, entry: DirEntry): void {
    const o = this.overlay(tx, dir.id, this.dirState(dir.id));
    const slot = o.length++;
    this.dirSetSlot(tx, dir, slot, entry);
  }

  /** The slot holding `name` as the transaction sees it, or -1 (through the name index: no scan). */
  private dirSlotOf(tx: Transaction, dirId: number, name: string): number {
    const base = this.dirState(dirId);
    const o = tx.dirs.get(dirId);
    const pending = o?.names.get(name);
    if (pending !== undefined) return pending;
    const slot = base.index.get(name);
    return slot === undefined || (o && slot >= o.length) ? -1 : slot;
  }

  /** Removes `name`, moving the last entry into its slot so the array stays without gaps. */
  private dirRemove(tx: Transaction, dir: Inode, name: string): void {
    const slot = this.dirSlotOf(tx, dir.id, name);
    if (slot < 0) throw new FsError('ENOENT', name);
    this.dirRemoveSlot(tx, dir, slot);
  }

  /** Removes the entry in `slot` (the last entry moves into it). */
  dirRemoveSlot(tx: Transaction, dir: Inode, slot: number): void {
    const base = this.dirState(dir.id);
    const o = this.overlay(tx, dir.id, base);
    const at = (i: number) => o.slots.get(i) ?? base.entries[i];
    const name = at(slot).name;
    const last = o.length - 1;
    if (o.names.get(name) === slot || (o.names.get(name) === undefined && base.index.get(name) === slot)) o.names.set(name, -1);
    if (slot !== last) this.dirSetSlot(tx, dir, slot, at(last));
    o.slots.delete(last);
    o.length = last;
    const size = last * DIR_ENTRY_SIZE;
    truncateMap(this.ctx, tx, dir, size);
    dir.size = size;
  }

  /** Writes metadata bytes (directory data) into a file through the transaction. */
  private writeMetaData(tx: Transaction, inode: Inode, offset: number, data: Uint8Array): void {
    zeroGap(this.ctx, tx, inode, inode.size, offset);
    const pieces = mapForWrite(this.ctx, tx, inode, offset, data.length);
    for (const p of pieces) tx.raw.push({ offset: p.logical!, data: data.subarray(p.fileOffset - offset, p.fileOffset - offset + p.length) });
    if (offset + data.length > inode.size) inode.size = offset + data.length;
  }

  // ------------------------------------------------------------ committing

  /**
   * Runs `fn` alone, in a transaction that is committed if it returns and
   * dropped if it throws. After a cache miss it runs again, in a fresh
   * transaction, once the miss is loaded.
   */
  async transact<T>(fn: (tx: Transaction) => T | Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      if (this.readOnly) throw new FsError('EROFS', this.volume.extents[0].device.name);
      let claims = new Set<string>();
      let wrote = false;
      const run = () =>
        untilLoaded(async () => {
          if (this.coordinator && !(await this.revalidate(true))) return RETRY;
          const tx = new Transaction();
          const pending = fn(tx);
          const result = pending instanceof Promise ? await pending : pending; // a body that need not wait costs no await
          wrote = await this.commit(tx);
          claims = tx.claims;
          return result;
        }).finally(() => this.fetched.clear());
      if (!this.coordinator) return run() as Promise<T>;
      for (let spins = 0; ; spins++) {
        const result = await this.coordinator.exclusive(run);
        if (result !== RETRY) {
          // Durable before the caller hears of it, flushed after the
          // reservation is given back: hosts flush side by side, not in turn.
          if (wrote) await this.volume.flush();
          await this.claimClusters(this.coordinator, claims);
          return result as T;
        }
        // A host died in the middle of a commit: its takeover (which needs the
        // reservation we just gave back) replays its journal first.
        await new Promise((r) => setTimeout(r, Math.min(100, 5 + spins * 5)));
      }
    });
  }

  /** Locks the bitmap entries a commit started to allocate from, as this host's resource clusters (best effort: holding only spares contention). */
  private async claimClusters(coordinator: Coordinator, claims: Set<string>): Promise<void> {
    for (const key of claims) {
      const [kind, index] = key.split(':');
      const res = this.resource(kind as ResourceKind);
      const entry = Number(index);
      try {
        res.claimed(entry, await coordinator.claim(res.entryLogical(entry)));
      } catch {
        // Not recorded: tried again at the next allocation there.
      }
    }
  }

  /**
   * Runs `fn` alone across every host as a change of the volume's geometry
   * (growing the datastore): afterwards every host, this one included,
   * re-reads the volume and the resource files.
   */
  async changeGeometry<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      if (this.readOnly) throw new FsError('EROFS', this.volume.extents[0].device.name);
      if (!this.coordinator) {
        await this.sink!.settle(); // the growth writes past the journal
        const result = await fn();
        await this.forgetAll();
        return result;
      }
      const coordinator = this.coordinator;
      for (let spins = 0; ; spins++) {
        let outcome;
        try {
          outcome = await coordinator.exclusive(async () => {
            if (!(await this.revalidate(true))) return RETRY;
            return coordinator.changeAll(fn, this.cachedGeneration);
          });
        } catch (e) {
          this.cachedGeneration = -1; // whatever fn left: trust nothing cached
          throw e;
        }
        if (outcome !== RETRY) {
          const { result, generation } = outcome as { result: T; generation: number };
          await this.forgetAll();
          this.cachedGeneration = generation;
          return result;
        }
        await new Promise((r) => setTimeout(r, Math.min(100, 5 + spins * 5)));
      }
    });
  }

  /**
   * With other hosts on the datastore: drops from the caches what any host
   * has committed since they were filled (everything when the change log
   * cannot say what). A commit in progress elsewhere (an odd generation) is
   * waited out, so nothing half-written is ever cached.
   */
  async revalidate(holdingReservation = false): Promise<boolean> {
    if (!this.coordinator) return true;
    for (let spins = 0; ; spins++) {
      const g = await this.coordinator.generation();
      if (g % 2 === 1) {
        if (holdingReservation) return false; // only a dead host leaves it odd under the reservation
        await pause(Math.min(50, 0.05 * 2 ** spins)); // a commit's writes take a fraction of a millisecond
        continue;
      }
      if (g === this.cachedGeneration) return true;
      const records = this.cachedGeneration < 0 ? null : await readChangesSince(this.volume, this.cachedGeneration, g);
      if (records) await this.forget(records.flatMap((r) => r.changes));
      else await this.forgetAll();
      if ((await this.coordinator.generation()) === g) {
        this.cachedGeneration = g;
        return true;
      }
    }
  }

  /** Drops every cache and re-reads the volume's geometry and the resource files. */
  private async forgetAll(): Promise<void> {
    this.inodeCache.clear();
    this.slotHeads.clear();
    this.dirCache.clear();
    this.pbCache.clear();
    await this.reloadGeometry();
  }

  /** Drops what other hosts changed: inodes and pointer blocks (read again when needed), bitmap entries and directory slots (read again now). */
  private async forget(changes: Change[]): Promise<void> {
    const dirs = new Map<number, Set<number>>();
    for (const c of changes) {
      if (c.kind === ChangeKind.Inode) {
        this.inodeCache.delete(c.id);
        this.slotHeads.delete(c.id);
      } else if (c.kind === ChangeKind.PointerBlock) this.pbCache.delete(c.id);
      else if (c.kind === ChangeKind.BitmapEntry) await this.resource(c.resource).reloadEntry(c.entry, reader(this.volume));
      else {
        const slots = dirs.get(c.dir) ?? new Set<number>();
        dirs.set(c.dir, slots.add(c.slot));
      }
    }
    for (const c of changes) if (c.kind === ChangeKind.Inode && this.dirCache.has(c.id)) dirs.set(c.id, dirs.get(c.id) ?? new Set());
    for (const [id, slots] of dirs) await this.refreshDir(id, slots);
  }

  /** Brings a cached directory up to date: its new length, and the entries of the slots another host rewrote. */
  private async refreshDir(id: number, slots: Set<number>): Promise<void> {
    const state = this.dirCache.get(id);
    if (!state) return;
    const inode = await this.inode(null, id);
    if (inode.type !== InodeType.Directory) {
      this.dirCache.delete(id);
      return;
    }
    const length = Math.floor(inode.size / DIR_ENTRY_SIZE);
    const unindex = (slot: number) => {
      const old = state.entries[slot];
      if (old && state.index.get(old.name) === slot) state.index.delete(old.name);
    };
    const stale = [...slots].filter((slot) => slot < length);
    for (let slot = state.entries.length; slot < length; slot++) if (!slots.has(slot)) stale.push(slot);
    // Names leave the index before any comes back: an entry may have moved between the slots.
    for (let slot = length; slot < state.entries.length; slot++) unindex(slot);
    for (const slot of stale) unindex(slot);
    state.entries.length = Math.min(state.entries.length, length);
    const buf = new Uint8Array(DIR_ENTRY_SIZE);
    for (const slot of stale) {
      await this.readInto(inode, buf, slot * DIR_ENTRY_SIZE);
      const entry = dirEntryStruct.decode(buf);
      state.entries[slot] = entry;
      state.index.set(entry.name, slot);
    }
  }

  /**
   * Runs a read-only operation alone (a read racing a truncate could
   * otherwise read a block that was just given to another file) on metadata
   * that is current when other hosts share the datastore. Another host's
   * commit during the operation (the generation moved) means it may have
   * seen half of it: it runs again.
   */
  private reading<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      try {
        for (;;) {
          if (this.coordinator) await this.revalidate();
          const result = await untilLoaded(fn);
          if (!this.coordinator || (await this.coordinator.generation()) === this.cachedGeneration) return result;
        }
      } finally {
        this.fetched.clear();
      }
    });
  }

  /** Writes the transaction (through the coordinator's journal or the sink) and installs it in the caches; false when it had nothing to write. */
  private async commit(tx: Transaction): Promise<boolean> {
    // Data first, then the metadata that makes it reachable.
    if (tx.data.length > 0) await writeInOrder(this.volume, tx.data);
    // An inode the operation looked at but left as it was (a write inside
    // allocated blocks in the same second) costs no metadata write.
    for (const [id, inode] of tx.inodes) {
      const before = this.inodeCache.get(id);
      if (before && !tx.freedInodes.has(id) && sameInode(before, inode)) tx.inodes.delete(id);
    }
    if (tx.empty) return false;
    const writes: MetaWrite[] = [];
    // Lock headers belong to the lock protocol: an object's first sector is
    // written only when the object itself is new (or its identity repaired).
    const ownsHeader = (before: { lock: { magic: number; pos: number } } | undefined, after: { lock: { magic: number; pos: number } }) =>
      !before || before.lock.magic !== after.lock.magic || before.lock.pos !== after.lock.pos;
    for (const [id, inode] of tx.inodes) {
      const from = ownsHeader(this.inodeCache.get(id), inode) ? 0 : LOCK_HEADER_SIZE;
      writes.push(...piecesOf(this.fdc.itemRange(inodeAddress(id)), encodeInode(inode, from === 0), from));
    }
    for (const [key, entry] of tx.entries) {
      const [kind, index] = key.split(':');
      const res = this.resource(kind as ResourceKind);
      const from = ownsHeader(res.entries[Number(index)], entry) ? 0 : LOCK_HEADER_SIZE;
      writes.push({ offset: res.entryLogical(Number(index)) + from, data: encodeBitmapEntry(entry, from === 0).subarray(from) });
    }
    for (const [id, pb] of tx.pointerBlocks) {
      const buf = Buffer.allocUnsafe(POINTER_BLOCK_SIZE); // every byte written below
      for (let i = 0; i < POINTERS_PER_BLOCK; i++) buf.writeUInt32LE(pb[i], i * 4);
      writes.push(...piecesOf(this.pbc.itemRange(pointerBlockAddress(id)), buf));
    }
    writes.push(...tx.raw);
    writes.sort((a, b) => a.offset - b.offset);
    coalesce(writes);
    if (this.coordinator) this.cachedGeneration = await this.coordinator.commit(writes, changesOf(tx), this.cachedGeneration);
    else await this.sink!.commit(writes); // transact refused a read-only datastore

    // Install the new state in the caches.
    for (const [id, inode] of tx.inodes) {
      this.inodeCache.set(id, inode);
      this.slotHeads.delete(id);
    }
    for (const id of tx.freedInodes) {
      this.dirCache.delete(id);
    }
    for (const [key, entry] of tx.entries) {
      const [kind, index] = key.split(':');
      this.resource(kind as ResourceKind).install(Number(index), entry);
    }
    for (const [id, pb] of tx.pointerBlocks) this.pbCache.set(id, pb);
    for (const [dirId, o] of tx.dirs) {
      const state = this.dirCache.get(dirId);
      if (!state) continue;
      for (const [slot, e] of o.slots) state.entries[slot] = e;
      state.entries.length = o.length;
      for (const [name, slot] of o.names) {
        if (slot < 0) state.index.delete(name);
        else state.index.set(name, slot);
      }
    }
    return true;
  }

  private resource(kind: ResourceKind): Resource {
    return { fbb: this.fbb, fdc: this.fdc, pbc: this.pbc, sbc: this.sbc }[kind];
  }

  // ------------------------------------------------------------ path walks

  /**
   * Resolves a path to an inode id. Intermediate symlinks are followed; the
   * last component too when `follow` is set.
   */
  async resolve(tx: Transaction | null, path: string, follow = true): Promise<number> {
    return tx ? this.resolvePath(tx, path, follow) : this.reading(() => this.resolvePath(null, path, follow));
  }

  private resolvePath(tx: Transaction | null, path: string, follow = true, depth = 0): number {
    const parts = splitPath(path);
    let dir = ROOT_INODE_ID;
    for (let i = 0; i < parts.length; i++) {
      if (this.inodeNow(tx, dir).type !== InodeType.Directory) throw new FsError('ENOTDIR', path);
      const e = this.dirLookup(tx, dir, parts[i]);
      if (!e) throw new FsError('ENOENT', path);
      const last = i === parts.length - 1;
      if (e.type === InodeType.Symlink && (!last || follow)) {
        if (depth >= MAX_SYMLINK_DEPTH) throw new FsError('ELOOP', path);
        const target = this.readlinkId(tx, e.blockId);
        const prefix = target.startsWith('/') ? '' : '/' + parts.slice(0, i).join('/');
        return this.resolvePath(tx, `${prefix}/${target}/${parts.slice(i + 1).join('/')}`, follow, depth + 1);
      }
      dir = e.blockId;
    }
    return dir;
  }

  /** Resolves the parent of `path` and checks the final name. */
  private parentOf(tx: Transaction | null, path: string): { parent: number; name: string } {
    const parts = splitPath(path);
    if (parts.length === 0) throw new FsError('EBUSY', path, 'the root directory');
    const name = parts[parts.length - 1];
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new FsError('ENAMETOOLONG', path);
    const parent = this.resolvePath(tx, '/' + parts.slice(0, -1).join('/'));
    if (this.inodeNow(tx, parent).type !== InodeType.Directory) throw new FsError('ENOTDIR', path);
    return { parent, name };
  }

  // -------------------------------------------------------------- queries

  async stat(path: string, follow = true): Promise<Stat> {
    return this.reading(() => this.statOf(this.resolvePath(null, path, follow)));
  }

  async statId(id: number): Promise<Stat> {
    return this.reading(() => this.statOf(id));
  }

  /**
   * stat() from the caches alone, at once (no queue, no await): for a lone
   * host, whose caches only its own commits change; undefined when something
   * on the way is not cached (call stat()). A transaction under way is not
   * seen until it commits, as if this came first. Throws what stat() would
   * for a missing name or a non-directory.
   */
  statCached(path: string, follow = true): Stat | undefined {
    if (this.coordinator) return undefined;
    try {
      return this.statOf(this.resolvePath(null, path, follow));
    } catch (e) {
      if (e instanceof CacheMiss) return undefined; // never loads: stat() does, in turn
      throw e;
    }
  }

  private statOf(id: number): Stat {
    return statFields(id, this.inodeNow(null, id));
  }

  async readdir(path: string): Promise<DirListing[]> {
    return this.reading(() => this.listDir(path));
  }

  private listDir(path: string): DirListing[] {
    const id = this.resolvePath(null, path);
    if (this.inodeNow(null, id).type !== InodeType.Directory) throw new FsError('ENOTDIR', path);
    return this.dirEntriesNow(null, id).map((e) => ({ name: e.name, id: e.blockId, type: e.type as InodeType }));
  }

  async readlink(path: string): Promise<string> {
    return this.reading(() => this.linkTarget(path));
  }

  private linkTarget(path: string): string {
    const id = this.resolvePath(null, path, false);
    if (this.inodeNow(null, id).type !== InodeType.Symlink) throw new FsError('EINVAL', path);
    return this.readlinkId(null, id);
  }

  private readlinkId(tx: Transaction | null, id: number): string {
    const inode = this.inodeNow(tx, id);
    const target = Buffer.alloc(inode.size);
    for (const p of mapForRead(this.ctx, tx, inode, 0, inode.size)) {
      if (p.logical !== null) target.set(this.fetchNow(p.logical, p.length), p.fileOffset);
    }
    return target.toString('utf8');
  }

  /** Space and inodes; with other hosts on the datastore, call `revalidate()` first for current counts. */
  statfs(): StatFs {
    return {
      blockSize: this.blockSize,
      totalBlocks: this.fbb.layout.geometry.totalItems,
      freeBlocks: this.fbb.freeCount(),
      totalInodes: this.fdc.layout.geometry.totalItems,
      freeInodes: this.fdc.freeCount(),
      nameMax: MAX_NAME_BYTES,
    };
  }

  // ---------------------------------------------------------------- data

  /** Reads up to `buf.length` bytes at `pos`; returns how many (0 at or past the end). */
  async read(id: number, buf: Uint8Array, pos: number): Promise<number> {
    return this.reading(() => {
      const inode = this.inodeNow(null, id);
      if (inode.type === InodeType.Directory) throw new FsError('EISDIR', `inode 0x${id.toString(16)}`);
      return this.readInto(inode, buf, pos);
    });
  }

  private async readInto(inode: Inode, buf: Uint8Array, pos: number): Promise<number> {
    if (pos >= inode.size) return 0;
    const len = Math.min(buf.length, inode.size - pos);
    // All pieces at once: a network extent keeps them in flight together.
    const reads: Promise<void>[] = [];
    for (const p of await untilLoaded(() => mapForRead(this.ctx, null, inode, pos, len))) {
      const slice = buf.subarray(p.fileOffset - pos, p.fileOffset - pos + p.length);
      if (p.logical === null) slice.fill(0);
      else reads.push(this.volume.read(slice, p.logical));
    }
    await Promise.all(reads);
    return len;
  }

  /** Writes `data` at `pos` (or at the end with `append`); returns the position after it. */
  async write(id: number, data: Uint8Array, pos: number, append = false): Promise<number> {
    return this.transact((tx) => {
      const inode = this.editInode(tx, id);
      if (inode.type === InodeType.Directory) throw new FsError('EISDIR', `inode 0x${id.toString(16)}`);
      const at = append ? inode.size : pos;
      if (data.length === 0) return at;
      let pieces: Piece[];
      try {
        zeroGap(this.ctx, tx, inode, inode.size, at); // the write itself covers the rest
        pieces = mapForWrite(this.ctx, tx, inode, at, data.length);
      } catch (e) {
        if (e instanceof FsError && e.code === 'ENOSPC') throw new FsError('ENOSPC', `inode 0x${id.toString(16)}`);
        throw e;
      }
      for (const p of pieces) tx.data.push({ offset: p.logical!, data: data.subarray(p.fileOffset - at, p.fileOffset - at + p.length) });
      const now = this.clock();
      if (at + data.length > inode.size) inode.size = at + data.length;
      inode.mtime = now;
      inode.ctime = now;
      return at + data.length;
    });
  }

  async truncate(path: string, size: number): Promise<void> {
    const id = await this.resolve(null, path);
    await this.truncateId(id, size, path);
  }

  async truncateId(id: number, size: number, path = `inode 0x${id.toString(16)}`): Promise<void> {
    if (size < 0 || !Number.isSafeInteger(size)) throw new FsError('EINVAL', path);
    await this.transact((tx) => {
      const inode = this.editInode(tx, id);
      if (inode.type === InodeType.Directory) throw new FsError('EISDIR', path);
      if (size > maxFileSize(this.ctx)) throw new FsError('EFBIG', path);
      if (size < inode.size) truncateMap(this.ctx, tx, inode, size);
      else {
        zeroGap(this.ctx, tx, inode, inode.size, size);
        chooseMode(this.ctx, tx, inode, size);
      }
      inode.size = size;
      const now = this.clock();
      inode.mtime = now;
      inode.ctime = now;
    });
  }

  // ------------------------------------------------------------ namespace

  private allocInode(tx: Transaction, type: InodeType, mode: number, caller: Caller, parentZla: boolean): Inode {
    const [at] = this.fdc.allocate(tx, 1);
    const id = inodeId(at);
    const old = this.inodeForReuse(at);
    const now = this.clock();
    const inode: Inode = {
      lock: freeLockHeader(INODE_MAGIC, this.fdc.itemLogical(at)),
      id,
      generation: ((old?.generation ?? 0) + 1) >>> 0,
      nlink: 1,
      type,
      flags: 0,
      size: 0,
      blockSize: parentZla ? this.blockSize : this.subBlockSize,
      blockCount: 0,
      mtime: now,
      ctime: now,
      atime: now,
      uid: caller.uid,
      gid: caller.gid,
      mode: mode & 0o7777,
      zla: parentZla ? Zla.FileBlocks : Zla.SubBlocks,
      tbz: 0,
      cow: 0,
      blocks: newBlockList(),
    };
    if (old) inode.lock = { ...old.lock, magic: INODE_MAGIC, pos: this.fdc.itemLogical(at), mode: LockMode.Free };
    tx.inodes.set(id, inode);
    return inode;
  }

  /** A free slot's previous contents, to carry its generation and lock sequence forward. */
  private inodeForReuse(at: { entry: number; item: number }): { generation: number; lock: LockHeader } | null {
    const id = inodeId(at);
    const head = this.inodeCache.get(id) ?? this.slotHeads.get(id);
    if (head !== undefined) return head;
    throw new CacheMiss(async () => {
      // This slot and the ones after it in its entry, where the next inodes go: one read for many creates.
      const count = Math.min(SLOT_HEADS_PER_READ, this.fdc.layout.itemsInEntry(at.entry) - at.item);
      const buf = await this.readMeta(this.fdc.itemRange(at, count));
      for (let k = 0; k < count; k++) {
        const h = decodeInodeHead(buf, k * INODE_SIZE);
        this.slotHeads.set(inodeId({ entry: at.entry, item: at.item + k }), h.lock.magic === INODE_MAGIC ? h : null);
      }
    });
  }

  private freeInode(tx: Transaction, inode: Inode): void {
    truncateMap(this.ctx, tx, inode, 0);
    inode.size = 0;
    inode.nlink = 0;
    inode.blocks.fill(0);
    this.fdc.free(tx, inodeAddress(inode.id));
    tx.freedInodes.add(inode.id);
  }

  private entryFor(inode: Inode, name: string): DirEntry {
    return { type: inode.type, blockId: inode.id, recordId: inode.generation, name };
  }

  private async createNode(path: string, type: InodeType, mode: number, caller: Caller, exclusive: boolean, init?: (tx: Transaction, inode: Inode) => void): Promise<number> {
    return this.transact((tx) => {
      const { parent, name } = this.parentOf(tx, path);
      const existing = this.dirLookup(tx, parent, name);
      if (existing) {
        if (exclusive || type !== InodeType.File) throw new FsError('EEXIST', path);
        const inode = this.inodeNow(tx, existing.blockId);
        if (inode.type === InodeType.Directory) throw new FsError('EISDIR', path);
        return existing.blockId;
      }
      const dir = this.editInode(tx, parent);
      const inode = this.allocInode(tx, type, mode, caller, false);
      if (init) init(tx, inode);
      this.dirAdd(tx, dir, this.entryFor(inode, name));
      const now = this.clock();
      dir.mtime = now;
      dir.ctime = now;
      return inode.id;
    });
  }

  /** Creates a regular file (or opens the existing one unless `exclusive`). Returns its inode id. */
  async create(path: string, mode = 0o644, caller: Caller = ROOT, exclusive = false): Promise<number> {
    return this.createNode(path, InodeType.File, mode, caller, exclusive);
  }

  async mkdir(path: string, mode = 0o755, caller: Caller = ROOT): Promise<number> {
    return this.transact((tx) => {
      const { parent, name } = this.parentOf(tx, path);
      if (this.dirLookup(tx, parent, name)) throw new FsError('EEXIST', path);
      const dir = this.editInode(tx, parent);
      const inode = this.allocInode(tx, InodeType.Directory, mode, caller, false);
      inode.nlink = 2;
      this.dirCache.set(inode.id, { entries: [], index: new Map() });
      this.dirAdd(tx, inode, this.entryFor(inode, '.'));
      this.dirAdd(tx, inode, { ...this.entryFor(dir, '..') });
      this.dirAdd(tx, dir, this.entryFor(inode, name));
      countSubdir(dir, 1);
      const now = this.clock();
      dir.mtime = now;
      dir.ctime = now;
      return inode.id;
    });
  }

  async symlink(target: string, path: string, caller: Caller = ROOT): Promise<number> {
    const bytes = Buffer.from(target, 'utf8');
    if (bytes.length === 0) throw new FsError('ENOENT', path);
    if (bytes.length > 4095) throw new FsError('ENAMETOOLONG', path);
    return this.createNode(path, InodeType.Symlink, 0o777, caller, true, (tx, inode) => {
      for (const p of mapForWrite(this.ctx, tx, inode, 0, bytes.length)) tx.data.push({ offset: p.logical!, data: bytes.subarray(p.fileOffset, p.fileOffset + p.length) });
      inode.size = bytes.length;
    });
  }

  async link(existing: string, path: string): Promise<void> {
    await this.transact((tx) => {
      const id = this.resolvePath(tx, existing, false);
      const target = this.editInode(tx, id);
      if (target.type === InodeType.Directory) throw new FsError('EPERM', existing);
      const { parent, name } = this.parentOf(tx, path);
      if (this.dirLookup(tx, parent, name)) throw new FsError('EEXIST', path);
      const dir = this.editInode(tx, parent);
      this.dirAdd(tx, dir, this.entryFor(target, name));
      target.nlink += 1;
      const now = this.clock();
      target.ctime = now;
      dir.mtime = now;
      dir.ctime = now;
    });
  }

  async unlink(path: string): Promise<void> {
    await this.transact((tx) => {
      const { parent, name } = this.parentOf(tx, path);
      const e = this.dirLookup(tx, parent, name);
      if (!e) throw new FsError('ENOENT', path);
      const inode = this.editInode(tx, e.blockId);
      if (inode.type === InodeType.Directory) throw new FsError('EISDIR', path);
      if (inode.type === InodeType.System) throw new FsError('EPERM', path);
      const dir = this.editInode(tx, parent);
      this.dirRemove(tx, dir, name);
      this.dropLink(tx, inode);
      const now = this.clock();
      dir.mtime = now;
      dir.ctime = now;
    });
  }

  private dropLink(tx: Transaction, inode: Inode): void {
    inode.nlink -= 1;
    inode.ctime = this.clock();
    if (inode.nlink <= 0) this.freeInode(tx, inode);
  }

  async rmdir(path: string): Promise<void> {
    await this.transact((tx) => {
      const { parent, name } = this.parentOf(tx, path);
      if (name === '.') throw new FsError('EINVAL', path);
      if (name === '..') throw new FsError('ENOTEMPTY', path);
      const e = this.dirLookup(tx, parent, name);
      if (!e) throw new FsError('ENOENT', path);
      const inode = this.editInode(tx, e.blockId);
      if (inode.type !== InodeType.Directory) throw new FsError('ENOTDIR', path);
      if ((this.dirEntriesNow(tx, inode.id)).length > 2) throw new FsError('ENOTEMPTY', path);
      const dir = this.editInode(tx, parent);
      this.dirRemove(tx, dir, name);
      countSubdir(dir, -1);
      const now = this.clock();
      dir.mtime = now;
      dir.ctime = now;
      inode.nlink = 1;
      this.dropLink(tx, inode);
    });
  }

  /** POSIX rename: replaces a target of a compatible kind, moves directories between parents. */
  async rename(from: string, to: string): Promise<void> {
    await this.transact((tx) => {
      const src = this.parentOf(tx, from);
      const dst = this.parentOf(tx, to);
      if (src.name === '.' || src.name === '..' || dst.name === '.' || dst.name === '..') throw new FsError('EINVAL', from);
      const e = this.dirLookup(tx, src.parent, src.name);
      if (!e) throw new FsError('ENOENT', from);
      const moving = this.editInode(tx, e.blockId);
      if (moving.type === InodeType.System) throw new FsError('EPERM', from);
      const isDir = moving.type === InodeType.Directory;
      if (isDir) {
        // A directory may not move into its own subtree.
        for (let d = dst.parent; ; ) {
          if (d === moving.id) throw new FsError('EINVAL', to);
          if (d === ROOT_INODE_ID) break;
          const up = this.dirLookup(tx, d, '..');
          if (!up || up.blockId === d) break;
          d = up.blockId;
        }
      }
      const existing = this.dirLookup(tx, dst.parent, dst.name);
      if (existing && existing.blockId === moving.id) return; // same file: nothing to do
      const srcDir = this.editInode(tx, src.parent);
      const dstDir = this.editInode(tx, dst.parent);
      if (existing) {
        const victim = this.editInode(tx, existing.blockId);
        if (victim.type === InodeType.System) throw new FsError('EPERM', to);
        if (isDir && victim.type !== InodeType.Directory) throw new FsError('ENOTDIR', to);
        if (!isDir && victim.type === InodeType.Directory) throw new FsError('EISDIR', to);
        if (victim.type === InodeType.Directory) {
          if ((this.dirEntriesNow(tx, victim.id)).length > 2) throw new FsError('ENOTEMPTY', to);
          countSubdir(dstDir, -1);
          victim.nlink = 1;
        }
        this.dirRemove(tx, dstDir, dst.name);
        this.dropLink(tx, victim);
      }
      this.dirRemove(tx, srcDir, src.name);
      this.dirAdd(tx, dstDir, this.entryFor(moving, dst.name));
      if (isDir && src.parent !== dst.parent) {
        const dotdot = (this.dirEntriesNow(tx, moving.id)).findIndex((x) => x.name === '..');
        this.dirSetSlot(tx, moving, dotdot, this.entryFor(dstDir, '..'));
        countSubdir(srcDir, -1);
        countSubdir(dstDir, 1);
      }
      const now = this.clock();
      moving.ctime = now;
      srcDir.mtime = srcDir.ctime = now;
      dstDir.mtime = dstDir.ctime = now;
    });
  }

  async setAttributes(path: string, attrs: { mode?: number; uid?: number; gid?: number; atime?: number; mtime?: number }, follow = true): Promise<void> {
    const id = await this.resolve(null, path, follow);
    await this.setAttributesId(id, attrs);
  }

  async setAttributesId(id: number, attrs: { mode?: number; uid?: number; gid?: number; atime?: number; mtime?: number }): Promise<void> {
    await this.transact((tx) => {
      const inode = this.editInode(tx, id);
      if (attrs.mode !== undefined) inode.mode = attrs.mode & 0o7777;
      if (attrs.uid !== undefined) inode.uid = attrs.uid >>> 0;
      if (attrs.gid !== undefined) inode.gid = attrs.gid >>> 0;
      if (attrs.atime !== undefined) inode.atime = Math.floor(attrs.atime) >>> 0;
      if (attrs.mtime !== undefined) inode.mtime = Math.floor(attrs.mtime) >>> 0;
      inode.ctime = this.clock();
    });
  }

  /** Writes everything durable. */
  async sync(): Promise<void> {
    await this.mutex.run(() => this.volume.flush());
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      await this.sink?.settle();
      await this.volume.flush();
      await this.volume.close();
    });
  }

  /** Logical file block ranges owned by each extent, for `info`. */
  allocatedPerExtent(): number[] {
    const counts = this.volume.extents.map(() => 0);
    const ipe = this.fbb.layout.geometry.itemsPerEntry;
    this.fbb.entries.forEach((e, entry) => {
      for (let i = 0; i < e.total; i++) {
        if (e.bitmap[i >> 3] & (1 << (i & 7))) continue;
        const block = entry * ipe + i;
        const ext = this.volume.extents.indexOf(this.volume.extentAt(block * this.blockSize));
        counts[ext]++;
      }
    });
    return counts;
  }
}

/**
 * A directory's link count is 2 plus its subdirectories; 1 means "not
 * counted" (the convention other writers and find(1) use), and stays 1.
 */
function countSubdir(dir: Inode, delta: number): void {
  if (dir.nlink !== 1) dir.nlink += delta;
}

/**
 * Writes in the order given where they overlap; side by side (a network
 * extent keeps them in flight together) where they do not.
 */
async function writeInOrder(volume: LogicalVolume, writes: MetaWrite[]): Promise<void> {
  let batch: MetaWrite[] = [];
  const flush = () => Promise.all(batch.map((w) => volume.write(w.data, w.offset)));
  for (const w of writes) {
    if (batch.some((b) => b.offset < w.offset + w.data.length && w.offset < b.offset + b.data.length)) {
      await flush();
      batch = [];
    }
    batch.push(w);
  }
  await flush();
}

/** Merges writes that touch end to end (sorted by offset) into one: fewer system calls per commit. */
function coalesce(writes: MetaWrite[]): void {
  let k = 0;
  for (let i = 1; i < writes.length; i++) {
    const prev = writes[k];
    const w = writes[i];
    if (prev.offset + prev.data.length === w.offset) writes[k] = { offset: prev.offset, data: Buffer.concat([prev.data, w.data]) };
    else writes[++k] = w;
  }
  writes.length = Math.min(writes.length, k + 1);
}

/** What stat() reports of an inode. */
function statFields(id: number, i: Inode): Stat {
  return {
    id,
    type: i.type,
    mode: typeBits(i.type) | (i.mode & 0o7777),
    nlink: i.nlink,
    uid: i.uid,
    gid: i.gid,
    size: i.size,
    blocks: i.blockCount * (i.blockSize / 512),
    atime: i.atime,
    mtime: i.mtime,
    ctime: i.ctime,
  };
}

export function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

function need(entries: Map<string, number>, name: string): number {
  const id = entries.get(name);
  if (id === undefined) throw new VolumeError(`the root directory has no ${name}`);
  return id;
}

async function readLayout(read: (o: number, l: number) => Promise<Buffer>, file: FileLayout, what: string, maxIpe: number): Promise<ResourceLayout> {
  const parts = mapFileRange(file, 0, 0x200);
  const g = resourceHeaderStruct.decode(await read(parts[0].logical, 0x200));
  const bad = ResourceLayout.validate(g, maxIpe);
  if (bad) throw new VolumeError(`${what}: damaged resource header (${bad})`);
  return new ResourceLayout(g);
}

/** The logical offset of each block of a system file (file blocks only, as the reader requires). */
async function fileLayoutOf(inode: Inode, bs: number, what: string): Promise<FileLayout> {
  if (inode.zla !== Zla.FileBlocks) throw new VolumeError(`${what}: addressing mode ${inode.zla}, expected file blocks`);
  const n = Math.ceil(inode.size / bs);
  const blocks: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = inode.blocks[i];
    blocks.push(id === 0 || blockType(id) !== BlockType.FileBlock ? -1 : fileBlockNumber(id) * bs);
  }
  return { blocks, blockSize: bs };
}

async function readFileBytes(read: (o: number, l: number) => Promise<Buffer>, layout: FileLayout, size: number): Promise<Buffer> {
  const parts = mapFileRange(layout, 0, size);
  return Buffer.concat(await Promise.all(parts.map((p) => read(p.logical, p.length))));
}

/** Loads the four resource files, bootstrapping from the inode table's first block. */
async function loadResources(read: (offset: number, length: number) => Promise<Buffer>, bs: number): Promise<Record<ResourceKind, Resource>> {
  // Bootstrap: the inode table's first block holds its own header, the root and the system inodes.
  const fdcBase = fdcBaseBlock(bs) * bs;
  const boot: FileLayout = { blocks: [fdcBase], blockSize: bs };
  const fdcLayout = await readLayout(read, boot, 'inode table (.fdc.sf)', 1024);
  const readInodeVia = async (layout: ResourceLayout, file: FileLayout, id: number): Promise<Inode> => {
    const parts = mapFileRange(file, layout.itemOffset(inodeAddress(id)), INODE_SIZE);
    const buf = Buffer.concat(await Promise.all(parts.map((p) => read(p.logical, p.length))));
    const inode = decodeInode(buf);
    if (inode.lock.magic !== INODE_MAGIC) throw new VolumeError(`inode 0x${id.toString(16)}: bad magic 0x${inode.lock.magic.toString(16)}`);
    return inode;
  };
  const root = await readInodeVia(fdcLayout, boot, ROOT_INODE_ID);
  if (root.type !== InodeType.Directory) throw new VolumeError('the root inode is not a directory');
  const rootLayout = await fileLayoutOf(root, bs, 'root directory');
  const rootEntries = new Map(decodeDirEntries(await readFileBytes(read, rootLayout, root.size)).map((e) => [e.name, e.blockId]));

  const fdcFile = await fileLayoutOf(await readInodeVia(fdcLayout, boot, need(rootEntries, '.fdc.sf')), bs, '.fdc.sf');
  const res = {} as Record<ResourceKind, Resource>;
  for (const spec of SYSTEM_FILES) {
    if (!spec.kind) continue;
    const inode = await readInodeVia(fdcLayout, fdcFile, need(rootEntries, spec.name));
    const file = await fileLayoutOf(inode, bs, spec.name);
    const limits: Record<ResourceKind, number> = { fbb: 0x1f0 * 8, fdc: 1024, pbc: 16, sbc: 64 };
    const layout = await readLayout(read, file, spec.name, limits[spec.kind]);
    if (spec.kind === ResourceKind.Inodes && layout.geometry.dataSize !== INODE_SIZE) throw new VolumeError(`.fdc.sf: inode size ${layout.geometry.dataSize}, expected ${INODE_SIZE}`);
    if (spec.kind === ResourceKind.PointerBlocks && layout.geometry.dataSize !== POINTER_BLOCK_SIZE) throw new VolumeError(`.pbc.sf: pointer block size ${layout.geometry.dataSize}, expected ${POINTER_BLOCK_SIZE}`);
    if (layout.requiredSize() > inode.size) throw new VolumeError(`${spec.name}: its geometry needs ${layout.requiredSize()} bytes, the file holds ${inode.size}`);
    res[spec.kind] = await Resource.load(spec.kind, layout, file, read);
  }
  return res;
}

function reader(volume: LogicalVolume): (offset: number, length: number) => Promise<Buffer> {
  return async (offset, length) => {
    const b = Buffer.alloc(length);
    await volume.read(b, offset);
    return b;
  };
}

/** What a transaction changes, for the other hosts' caches (the change log). */
function changesOf(tx: Transaction): Change[] {
  const out: Change[] = [];
  for (const id of new Set([...tx.inodes.keys(), ...tx.freedInodes])) out.push({ kind: ChangeKind.Inode, id });
  for (const id of tx.pointerBlocks.keys()) out.push({ kind: ChangeKind.PointerBlock, id });
  for (const key of tx.entries.keys()) {
    const [kind, index] = key.split(':');
    out.push({ kind: ChangeKind.BitmapEntry, resource: kind as ResourceKind, entry: Number(index) });
  }
  for (const [dir, o] of tx.dirs) for (const slot of o.slots.keys()) if (slot < o.length) out.push({ kind: ChangeKind.DirSlot, dir, slot });
  return out;
}
