// Host journals, for fsck: which file blocks of .vh.sf are host journals,
// and what a dead host's journal would replay. The look is a dry run of the
// cluster layer's own replayJournal over a copy-on-write view of the volume,
// so `-n` sees exactly what `-y` would apply and writes nothing.
import { JOURNAL_MAGIC, JournalRegion, replayJournal } from '../cluster/journal.js';
import { VolumeIO } from '../cluster/volumeIo.js';
import { BlockType, blockType, fileBlockNumber } from '../fs/blockId.js';
import { fdcBaseBlock } from '../fs/fsInfo.js';
import { SYSTEM_FILES } from '../fs/systemFiles.js';
import { Vmfs } from '../fs/vmfs.js';
import { VolumeError } from '../util/errors.js';

export const VH_ID = SYSTEM_FILES.find((f) => f.name === '.vh.sf')!.id;

/**
 * The file blocks .vh.sf owns past the ones mkfs gives it (FS info and
 * heartbeats), by block number, with their slot in its block map: where
 * mounted hosts keep their journals.
 */
export async function journalBlocksOf(fs: Vmfs): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  let vh;
  try {
    vh = await fs.inode(null, VH_ID);
  } catch {
    return out; // damaged: the file system passes report it
  }
  const n = Math.min(vh.blocks.length, Math.ceil(vh.size / fs.blockSize));
  for (let slot = fdcBaseBlock(fs.blockSize); slot < n; slot++) {
    const id = vh.blocks[slot];
    if (id !== 0 && blockType(id) === BlockType.FileBlock) out.set(fileBlockNumber(id), slot);
  }
  return out;
}

/** True when the block's first sector carries a journal header's magic. */
export async function holdsJournal(volume: VolumeIO, offset: number): Promise<boolean> {
  const b = Buffer.alloc(512);
  await volume.read(b, offset);
  return b.readUInt32LE(0) === JOURNAL_MAGIC;
}

export interface PendingReplay {
  /** Committed records to replay. */
  records: number;
  /** Writes those records make, and how many of them the disk does not hold yet. */
  writes: number;
  missing: number;
}

/**
 * What replaying the records tagged `tag` of the journal in `region` would do, without writing. Throws
 * VolumeError on a damaged header or a record that writes outside the volume
 * (`volumeSize` bytes).
 */
export async function inspectJournal(volume: VolumeIO, region: JournalRegion, volumeSize: number, tag: number): Promise<PendingReplay> {
  const overlay = new OverlayVolume(volume);
  const { records } = await replayJournal(overlay, region, { tag });
  const applied = overlay.writes.filter((w) => w.offset !== region.offset); // the checkpoint itself is not a change
  let missing = 0;
  for (const w of applied) {
    if (w.offset < 0 || w.offset + w.data.length > volumeSize) throw new VolumeError(`a journal record writes at ${w.offset}, outside the volume`);
    const now = Buffer.alloc(w.data.length);
    await volume.read(now, w.offset);
    if (!now.equals(w.data)) missing++;
  }
  return { records, writes: applied.length, missing };
}

/** Reads the volume with the writes made so far laid over it; writes go nowhere else. */
class OverlayVolume implements VolumeIO {
  readonly writes: { offset: number; data: Buffer }[] = [];

  constructor(private readonly base: VolumeIO) {}

  async read(buf: Uint8Array, offset: number): Promise<void> {
    await this.base.read(buf, offset);
    const end = offset + buf.length;
    for (const w of this.writes) {
      const from = Math.max(offset, w.offset);
      const to = Math.min(end, w.offset + w.data.length);
      if (from < to) buf.set(w.data.subarray(from - w.offset, to - w.offset), from - offset);
    }
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.writes.push({ offset, data: Buffer.from(buf) });
  }

  async flush(): Promise<void> {}
}
