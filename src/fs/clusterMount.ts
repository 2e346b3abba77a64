// Mounting a datastore as one host among several: join the cluster (heartbeat
// slot, fencing, reservation, lock manager), give this host a journal in a
// file block owned by .vh.sf, and open the file system with a coordinator
// that serialises metadata commits across hosts and tells it when another
// host has committed (the metadata generation at logical 0x200400). Every
// write goes through the fenced volume; every metadata commit through the
// journal. See docs/CLUSTER.md.
import { ClusterMember, joinCluster, journalRegionOf } from '../cluster/cluster.js';
import { readClusterConfig } from '../cluster/clusterConfig.js';
import { Journal, replayJournal } from '../cluster/journal.js';
import { LockMode } from '../cluster/lockHeader.js';
import { VolumeError } from '../util/errors.js';
import { LogicalVolume } from '../volume/logicalVolume.js';
import { fileBlockId, fileBlockNumber, inodeAddress } from './blockId.js';
import { INODE_BLOCKS } from './inode.js';
import { InPlaceSink } from './transaction.js';
import { fsInfoStruct, FS_INFO_OFFSET } from './fsInfo.js';
import { SYSTEM_FILES } from './systemFiles.js';
import { Coordinator, Vmfs } from './vmfs.js';

/** The volume-wide metadata generation: odd while a host is applying a commit. */
export const METADATA_GENERATION_OFFSET = 0x200400;

const VH_ID = SYSTEM_FILES.find((f) => f.name === '.vh.sf')!.id;

export interface ClusterMountOptions {
  hostUuid: string;
}

export interface ClusterMount {
  fs: Vmfs;
  member: ClusterMember<LogicalVolume>;
  /** Locks a file for this host (exclusive for writers: another host's open for writing gets EBUSY). */
  lockFile(id: number, mode: LockMode.Exclusive | LockMode.ReadOnly | LockMode.MultiWriter): Promise<void>;
  unlockFile(id: number): Promise<void>;
  /** Checkpoints the journal, gives its block back, frees the heartbeat slot. */
  leave(): Promise<void>;
}

async function readGeneration(volume: LogicalVolume): Promise<number> {
  const b = Buffer.alloc(512);
  await volume.read(b, METADATA_GENERATION_OFFSET);
  return Number(b.readBigUInt64LE(0));
}

async function writeGeneration(volume: LogicalVolume, g: number): Promise<void> {
  const b = Buffer.alloc(512);
  b.writeBigUInt64LE(BigInt(g));
  await volume.write(b, METADATA_GENERATION_OFFSET);
}

export async function mountClustered(volume: LogicalVolume, options: ClusterMountOptions): Promise<ClusterMount> {
  const config = await readClusterConfig(volume);
  const infoBuf = Buffer.alloc(512);
  await volume.read(infoBuf, FS_INFO_OFFSET);
  const blockSize = fsInfoStruct.decode(infoBuf).blockSize;
  if (config.journalBytes > blockSize) throw new VolumeError(`journal of ${config.journalBytes} bytes does not fit one ${blockSize}-byte block`);
  let journal: Journal | null = null;
  const member = await joinCluster(volume, {
    uuid: options.hostUuid,
    config,
    volumeName: volume.uuid,
    replay: async (dead, guarded) => {
      if (dead.journalBlock === 0) return;
      await replayJournal(guarded, journalRegionOf(dead, blockSize, config.journalBytes));
      // The dead host may have stopped mid-commit (an odd generation): close it, and tell every cache.
      const g = await readGeneration(guarded as LogicalVolume);
      await writeGeneration(guarded as LogicalVolume, (g | 1) + 1);
    },
    beforeRelease: async () => journal?.checkpoint(),
  });
  const guarded = member.volume;
  let generation = 0;
  const coordinator: Coordinator = {
    exclusive: (fn) => member.reservation.run(fn),
    generation: () => readGeneration(guarded),
    committing: async (phase) => {
      if (phase === 'begin') generation = ((await readGeneration(guarded)) | 1) >>> 0;
      else generation = generation + 1;
      await writeGeneration(guarded, generation);
    },
  };
  let fs: Vmfs;
  try {
    fs = await Vmfs.open(guarded, { coordinator, sink: new InPlaceSink(guarded) });
    // This host's journal: one file block that .vh.sf owns (so both checkers see it used).
    const block = await fs.transact(async (tx) => {
      const [at] = fs.fbb.allocate(tx, 1);
      const number = at.entry * fs.fbb.layout.geometry.itemsPerEntry + at.item;
      const vh = await fs.editInode(tx, VH_ID);
      const slot = Math.ceil(vh.size / blockSize);
      if (slot >= INODE_BLOCKS) throw new VolumeError('no room for another host journal in .vh.sf');
      vh.blocks[slot] = fileBlockId(number);
      vh.blockCount += 1;
      vh.size = (slot + 1) * blockSize;
      return number;
    });
    const region = { offset: block * blockSize, length: config.journalBytes };
    const j = await Journal.format(guarded, region);
    journal = j;
    await member.host.setJournalBlock(block);
    // Checkpoint after every commit, still under the reservation: once another
    // host may change the same sectors, replaying an older record would undo
    // its work. Only a commit cut short by this host's death stays to replay,
    // and nobody commits after it until that replay (the generation stays odd).
    fs.setSink({
      commit: async (writes) => {
        await j.commit(writes);
        await j.checkpoint();
      },
    });
  } catch (e) {
    await member.host.leave().catch(() => undefined);
    throw e;
  }
  const lockOffset = (id: number) => fs.fdc.itemRange(inodeAddress(id))[0].logical;
  return {
    fs,
    member,
    lockFile: async (id, mode) => void (await member.locks.acquire(lockOffset(id), mode, { waitMs: 0 })),
    unlockFile: (id) => member.locks.release(lockOffset(id)),
    leave: async () => {
      await journal!.checkpoint();
      // Give the journal block back (in place: the journal is what goes away).
      fs.setSink(new InPlaceSink(guarded));
      const block = journal!.region.offset / blockSize;
      await fs.transact(async (tx) => {
        const vh = await fs.editInode(tx, VH_ID);
        const slot = vh.blocks.findIndex((b) => b !== 0 && fileBlockNumber(b) === block);
        if (slot < 0) return;
        vh.blocks[slot] = 0;
        vh.blockCount -= 1;
        while (vh.size > 0 && vh.blocks[Math.ceil(vh.size / blockSize) - 1] === 0) vh.size -= blockSize;
        const ipe = fs.fbb.layout.geometry.itemsPerEntry;
        fs.fbb.free(tx, { entry: Math.floor(block / ipe), item: block % ipe });
      });
      await fs.sync();
      await member.host.leave();
    },
  };
}

