// The journal of a datastore that one host changes alone (no cluster host: no
// heartbeat, no journal block of its own). It holds one record, the metadata
// writes of the last commit, in a fixed region of the FS info megabyte that
// the reader ignores. A commit writes its record, then its writes in place;
// commits go one at a time. So if the host is killed in the middle of a
// commit, the record is whole, and its bytes are the newest for every place
// it names: applying it again is safe, and it completes the commit.
//
// - A read-write open applies it, then writes an empty record.
// - A read-only open lays it over what it reads (LogicalVolume.overlay).
// - The first cluster host to join applies it (clusterMount.ts).
// - Writes that bypass the journal (growth) and a clean close come after
//   an empty record, so an old record can never be applied over them.
//
// A transaction too big for the region is written in place after an empty
// record: a host killed in the middle of one leaves what `vmfs fsck -y`
// repairs. Power loss is not covered (the record is not flushed before the
// writes in place); fsync and unmount flush everything.
import { JournalWrite, encodeRecord, readRecordAt } from '../cluster/journal.js';
import { VolumeIO } from '../cluster/volumeIo.js';
import { MetaWrite } from './transaction.js';

/** Logical offset and length of the region (inside `.vh.sf`'s first blocks, between the extent table and the heartbeats). */
export const LONE_JOURNAL_OFFSET = 0x280000;
export const LONE_JOURNAL_BYTES = 0x80000;

/** The record the region holds now: its writes, or none. */
export async function pendingLoneCommit(volume: VolumeIO): Promise<JournalWrite[]> {
  const record = await readRecordAt(volume, LONE_JOURNAL_OFFSET, LONE_JOURNAL_BYTES);
  return record?.writes ?? [];
}

/** Writes the record left in the region again, then empties the region. */
export async function recoverLoneCommit(volume: VolumeIO): Promise<void> {
  const writes = await pendingLoneCommit(volume);
  if (writes.length === 0) return;
  for (const w of writes) await volume.write(w.data, w.offset);
  await writeEmptyRecord(volume);
}

/** Empties the region: nothing in it can be applied again. */
function writeEmptyRecord(volume: VolumeIO): Promise<void> {
  return volume.write(encodeRecord(0, 0, 0, []), LONE_JOURNAL_OFFSET);
}

export class LoneJournal {
  /** False while nothing in the region can be applied (an empty record, or none: zeros after mkfs). */
  private holdsRecord = false;

  private constructor(private readonly volume: VolumeIO) {}

  /** Opens the journal of a datastore this host changes alone: completes a commit cut short. */
  static async open(volume: VolumeIO): Promise<LoneJournal> {
    await recoverLoneCommit(volume);
    return new LoneJournal(volume);
  }

  async commit(writes: MetaWrite[]): Promise<void> {
    const record = encodeRecord(0, 0, 0, writes);
    if (record.length <= LONE_JOURNAL_BYTES) {
      await this.volume.write(record, LONE_JOURNAL_OFFSET);
      this.holdsRecord = true;
    } else await this.settle();
    // The record is complete: the writes in place may go in any order, so all at once.
    await Promise.all(writes.map((w) => this.volume.write(w.data, w.offset)));
  }

  /** Leaves no record that could be applied again: before writes that bypass the journal, and on close. */
  async settle(): Promise<void> {
    if (!this.holdsRecord) return;
    await writeEmptyRecord(this.volume);
    this.holdsRecord = false;
  }
}
