// Mounting a datastore as one host among several: join the cluster (heartbeat
// slot, fencing, reservation, lock manager), give this host a journal in a
// file block owned by .vh.sf, and open the file system with a coordinator
// that serialises metadata commits across hosts and tells the others what
// changed (the metadata generation at logical 0x200400 and the change log).
// Every write goes through the fenced volume; every metadata commit through
// the journal, tagged with its generation. See docs/CLUSTER.md.
import { ClusterMember, joinCluster, journalRegionOf } from '../cluster/cluster.js';
import { readClusterConfig } from '../cluster/clusterConfig.js';
import { Alongside, Journal, replayJournal } from '../cluster/journal.js';
import { LockMode } from '../cluster/lockHeader.js';
import { LockBusyError } from '../cluster/clusterErrors.js';
import { recoverLoneCommit } from './loneJournal.js';
import { VolumeError } from '../util/errors.js';
import { Decoded, defineStruct } from '../util/struct.js';
import { VolumeIO } from '../cluster/volumeIo.js';
import { LogicalVolume } from '../volume/logicalVolume.js';
import { fileBlockId, fileBlockNumber, inodeAddress } from './blockId.js';
import { INODE_BLOCKS } from './inode.js';
import { ChangeFlag, writeChangeRecord } from './changeLog.js';
import { MetaWrite } from './transaction.js';
import { fsInfoStruct, FS_INFO_OFFSET } from './fsInfo.js';
import { SYSTEM_FILES } from './systemFiles.js';
import { Coordinator, Vmfs } from './vmfs.js';
import { recoverHostGrowth } from './grow.js';

/** The volume-wide metadata generation: odd while a host is applying a commit. */
export const METADATA_GENERATION_OFFSET = 0x200400;

/** The generation sector also names the host that wrote it, so a takeover knows whose unfinished commit an odd value is. */
export const generationStruct = defineStruct('metadata generation', 0x200, {
  generation: { offset: 0x00, type: 'u64' },
  slotOffset: { offset: 0x08, type: 'u64' }, // the committer's heartbeat slot
  hostGeneration: { offset: 0x10, type: 'u64' }, // and its incarnation there
});
type GenerationSector = Decoded<typeof generationStruct.fields>;

const VH_ID = SYSTEM_FILES.find((f) => f.name === '.vh.sf')!.id;

export interface ClusterMountOptions {
  hostUuid: string;
  /**
   * false: take no journal block (a host that only grows the datastore, which
   * may be full); such a host refuses ordinary metadata changes.
   */
  journal?: boolean;
}

export interface ClusterMount {
  fs: Vmfs;
  member: ClusterMember<LogicalVolume>;
  /**
   * Locks a file for this host (exclusive for writers: another host's open for writing gets
   * EBUSY), waiting up to `waitMs` (default 0) for a live holder to let it go.
   */
  lockFile(id: number, mode: LockMode.Exclusive | LockMode.ReadOnly | LockMode.MultiWriter, waitMs?: number): Promise<void>;
  unlockFile(id: number): Promise<void>;
  /** Logical offset of an inode's lock header (for LockManager.inspect). */
  lockOffset(id: number): number;
  /** Checkpoints the journal, gives its block back, frees the heartbeat slot. */
  leave(): Promise<void>;
}

export async function readGeneration(volume: VolumeIO): Promise<GenerationSector> {
  const b = Buffer.alloc(generationStruct.size);
  await volume.read(b, METADATA_GENERATION_OFFSET);
  return generationStruct.decode(b);
}

async function writeGeneration(volume: VolumeIO, g: GenerationSector): Promise<void> {
  await volume.write(generationStruct.encode(g), METADATA_GENERATION_OFFSET);
}

/** Closes a generation a dead host left odd (`g`, as read): the next even one, with a change record telling every cache to trust nothing. */
export async function closeGeneration(volume: VolumeIO, g: GenerationSector): Promise<void> {
  const next = g.generation + 1;
  await writeChangeRecord(volume, { generation: next, flags: ChangeFlag.All | ChangeFlag.Geometry, changes: [] });
  await writeGeneration(volume, { ...g, generation: next });
}

export async function mountClustered(volume: LogicalVolume, options: ClusterMountOptions): Promise<ClusterMount> {
  const config = await readClusterConfig(volume);
  for (const e of volume.extents) e.device.boundWriteLatency?.(config.ioTimeoutMs); // no write of ours lands after our lease (NBD)
  const infoBuf = Buffer.alloc(512);
  await volume.read(infoBuf, FS_INFO_OFFSET);
  const blockSize = fsInfoStruct.decode(infoBuf).blockSize;
  if (config.journalBytes > blockSize) throw new VolumeError(`journal of ${config.journalBytes} bytes does not fit one ${blockSize}-byte block`);
  let journal: Journal | null = null;
  let self: ClusterMember<LogicalVolume> | undefined; // the replay may run inside joinCluster, before it returns
  const member = await joinCluster(volume, {
    uuid: options.hostUuid,
    config,
    volumeName: volume.uuid,
    replay: async (dead, guarded) => {
      // Only a commit the dead host left unfinished (the generation still odd
      // and written by it, its record tagged with it) needs its writes again:
      // every earlier one was applied before the generation moved on, and
      // other hosts may have overwritten it since.
      const g = await readGeneration(guarded);
      if (g.generation % 2 === 0 || g.slotOffset !== dead.slotOffset || g.hostGeneration !== dead.generation) return;
      if (dead.journalBlock !== 0) await replayJournal(guarded, journalRegionOf(dead, blockSize, config.journalBytes), { tag: g.generation });
      // It may have died growing the datastore: finish or undo that too.
      await recoverHostGrowth(volume, dead.uuid, { assertCanWrite: () => self?.host.assertCanWrite() });
      await closeGeneration(guarded, g);
    },
  });
  self = member;
  const guarded = member.volume;
  const withJournal = options.journal !== false;
  const apply = async (writes: MetaWrite[], tag: number, alongside: Alongside = {}) => {
    if (journal) return journal.commit(writes, tag, alongside);
    // Before this host has a journal, and while it gives it back: one write at a time.
    await alongside.record?.();
    for (const w of writes) await guarded.write(w.data, w.offset);
    await alongside.apply?.();
  };
  const mark = (generation: number) => writeGeneration(guarded, { generation, slotOffset: member.host.slotOffset, hostGeneration: member.host.generation });
  const coordinator: Coordinator = {
    exclusive: (fn) => member.reservation.run(fn),
    generation: async () => (await readGeneration(guarded)).generation,
    commit: async (writes, changes, from) => {
      if (!journal && !withJournal) throw new VolumeError('this host joined without a journal: it only grows the datastore');
      // The odd generation goes with the journal record and the change record
      // with the in-place writes: each pair only has to be complete before the
      // next step (no write in place before the generation names this host,
      // no even generation before its change record), and over a network each
      // step costs a round trip inside the reservation.
      await apply(writes, from + 1, {
        record: () => mark(from + 1),
        apply: () => writeChangeRecord(guarded, { generation: from + 2, flags: 0, changes }),
      });
      await mark(from + 2);
      return from + 2;
    },
    identity: { slotOffset: member.host.slotOffset, generation: member.host.generation },
    spread: (member.host.slot * 0.6180339887) % 1,
    claim: async (offset) => {
      try {
        await member.locks.acquire(offset, LockMode.Exclusive, { waitMs: 0 });
        return true;
      } catch (e) {
        if (e instanceof LockBusyError) return false;
        throw e;
      }
    },
    changeAll: async (fn, from) => {
      await mark(from + 1);
      // Closed even when fn fails (it leaves the old geometry or the new one): other hosts wait on an odd generation.
      try {
        return { result: await fn(), generation: from + 2 };
      } finally {
        await writeChangeRecord(guarded, { generation: from + 2, flags: ChangeFlag.All | ChangeFlag.Geometry, changes: [] });
        await mark(from + 2);
      }
    },
  };
  // This host's journal: one file block that .vh.sf owns (so both checkers see it used).
  const takeJournal = async (fs: Vmfs) => {
    const block = await fs.transact((tx) => {
      const [at] = fs.fbb.allocate(tx, 1);
      const number = at.entry * fs.fbb.layout.geometry.itemsPerEntry + at.item;
      const vh = fs.editInode(tx, VH_ID);
      const slot = Math.ceil(vh.size / blockSize);
      if (slot >= INODE_BLOCKS) throw new VolumeError('no room for another host journal in .vh.sf');
      vh.blocks[slot] = fileBlockId(number);
      vh.blockCount += 1;
      vh.size = (slot + 1) * blockSize;
      return number;
    });
    journal = await Journal.format(guarded, { offset: block * blockSize, length: config.journalBytes });
    await member.host.setJournalBlock(block);
  };
  // Giving it back is written in place: the journal is what goes away.
  const giveBackJournal = async (fs: Vmfs, j: Journal) => {
    await j.checkpoint();
    const block = j.region.offset / blockSize;
    journal = null;
    await fs.transact((tx) => {
      const vh = fs.editInode(tx, VH_ID);
      const slot = vh.blocks.findIndex((b) => b !== 0 && fileBlockNumber(b) === block);
      if (slot < 0) return;
      vh.blocks[slot] = 0;
      vh.blockCount -= 1;
      while (vh.size > 0 && vh.blocks[Math.ceil(vh.size / blockSize) - 1] === 0) vh.size -= blockSize;
      const ipe = fs.fbb.layout.geometry.itemsPerEntry;
      fs.fbb.free(tx, { entry: Math.floor(block / ipe), item: block % ipe });
    });
  };
  let fs: Vmfs;
  try {
    // A lone host may have been killed in the middle of a commit before any cluster host came.
    await member.reservation.run(() => recoverLoneCommit(guarded));
    fs = await Vmfs.open(guarded, { coordinator });
    if (withJournal) await takeJournal(fs);
  } catch (e) {
    await member.host.leave().catch(() => undefined);
    throw e;
  }
  const lockOffset = (id: number) => fs.fdc.itemRange(inodeAddress(id))[0].logical;
  return {
    fs,
    member,
    lockOffset,
    lockFile: async (id, mode, waitMs = 0) => void (await member.locks.acquire(lockOffset(id), mode, { waitMs })),
    unlockFile: (id) => member.locks.release(lockOffset(id)),
    leave: async () => {
      for (const res of [fs.fbb, fs.fdc, fs.pbc, fs.sbc]) for (const entry of res.heldEntries()) await member.locks.release(res.entryLogical(entry));
      if (journal) await giveBackJournal(fs, journal);
      await fs.sync();
      await member.host.leave();
    },
  };
}
