// Pass 6 of fsck, the cluster state: heartbeat slots of dead hosts (stale
// heartbeats), locks in lock headers held by hosts that are dead or gone
// (stale locks), the journal record of a commit a dead host was in the
// middle of (the metadata generation still odd and naming it: to replay, as
// a takeover would), an odd generation nobody is behind, and journal blocks
// .vh.sf keeps for hosts that are gone. Liveness comes from the
// survey (clusterLiveness.ts). Every finding carries its repair; the repairs
// use the cluster layer's encoders and the file system's transactions.
import { HB_MAGIC_FREE, HB_MAGIC_IN_USE, HEARTBEAT_SLOTS, SlotState, encodeClusterSlot, freeSlot, heartbeatSlotStruct, slotIndex, slotOffset } from '../cluster/heartbeat.js';
import { writeClusterConfig } from '../cluster/clusterConfig.js';
import { JournalRegion, replayJournal } from '../cluster/journal.js';
import { LOCK_HEADER_SIZE, LockHeader, LockMode, lockHeaderStruct } from '../cluster/lockHeader.js';
import { holdersOf } from '../cluster/lockManager.js';
import { RegionSnapshot, SlotWatch } from '../cluster/slotWatch.js';
import { inodeAddress, inodeId } from '../fs/blockId.js';
import { Finding } from '../fs/check.js';
import { closeGeneration, readGeneration } from '../fs/clusterMount.js';
import { isItemFree } from '../fs/resourceFile.js';
import { Vmfs } from '../fs/vmfs.js';
import { VolumeError } from '../util/errors.js';
import { NULL_UUID } from '../util/uuid.js';
import { ClusterSurvey, livenessOf, readConfig } from './clusterLiveness.js';
import { VH_ID, holdsJournal, inspectJournal, journalBlocksOf } from './clusterJournal.js';

export const CLUSTER_PASS = 6;

interface Holder {
  pos: number;
  gen: number;
}

export type ClusterFix =
  | { kind: 'replay-journal'; region: JournalRegion; tag: number }
  | { kind: 'close-generation' }
  | { kind: 'clear-lock'; offset: number; keep: Holder[] }
  | { kind: 'free-slot'; slot: number; seq: number; hostUuid: string; journalBlock: number | null }
  | { kind: 'give-back-block'; block: number }
  | { kind: 'rewrite-slot'; slot: number; seq: number; hostUuid: string }
  | { kind: 'write-config' };

export interface ClusterFinding extends Omit<Finding, 'fix'> {
  fix?: ClusterFix;
}

const MODE_NAMES: Record<number, string> = { [LockMode.Exclusive]: 'exclusive', [LockMode.ReadOnly]: 'read-only', [LockMode.MultiWriter]: 'multi-writer' };

/** The region as the survey last read it, or read again (after repairs). */
async function regionOf(fs: Vmfs, survey: ClusterSurvey, fresh: boolean): Promise<RegionSnapshot> {
  return fresh ? new SlotWatch(fs.volume, survey.config.leaseMs).readAll() : survey.snapshot;
}

/** Hosts whose heartbeat is live: fsck must not repair under them (unless forced). */
export function liveHosts(survey: ClusterSurvey): ClusterFinding[] {
  const snap = survey.snapshot;
  return snap
    .inUse()
    .filter((i) => livenessOf(survey, snap.view(i)) === 'live')
    .map((i) => {
      const v = snap.view(i);
      return { pass: CLUSTER_PASS, code: 'host-live', where: `heartbeat slot ${i}`, message: `host ${v.slot.hostUuid} (heartbeat slot ${i}) is live` };
    });
}

/** Heartbeat slots, journals of dead hosts, the metadata generation, leaked journal blocks. */
export async function checkHeartbeats(fs: Vmfs, survey: ClusterSurvey, fresh = false): Promise<ClusterFinding[]> {
  const out: ClusterFinding[] = [];
  const add = (f: Omit<ClusterFinding, 'pass'>) => out.push({ pass: CLUSTER_PASS, ...f });
  const configError = fresh ? (await readConfig(fs.volume)).configError : survey.configError;
  if (configError) add({ code: 'cluster-config', where: 'cluster config', message: `${configError}: the defaults were used`, fix: { kind: 'write-config' } });
  const snap = await regionOf(fs, survey, fresh);
  const owned = await journalBlocksOf(fs);
  const bs = fs.blockSize;
  const gen = await readGeneration(fs.volume);
  const namedByLive = new Set<number>();
  const namedByDead = new Set<number>();
  let anyLive = false;
  for (let i = 0; i < HEARTBEAT_SLOTS; i++) {
    const where = `heartbeat slot ${i}`;
    const raw = snap.raw(i);
    const magic = raw.readUInt32LE(0);
    if (magic !== HB_MAGIC_IN_USE) {
      const s = heartbeatSlotStruct.decode(raw);
      const bad = magic !== HB_MAGIC_FREE ? `magic 0x${magic.toString(16)} is neither free nor in use` : s.pos !== slotOffset(i) ? `a free slot recording position 0x${s.pos.toString(16)}, not its own` : null;
      if (bad) add({ code: 'heartbeat-damaged', where, message: bad, fix: { kind: 'rewrite-slot', slot: i, seq: s.seq, hostUuid: s.hostUuid }, safe: true });
      continue;
    }
    const v = snap.view(i);
    if (livenessOf(survey, v) === 'live') {
      anyLive = true;
      if (v.intact) namedByLive.add(v.slot.journalBlock);
      continue;
    }
    const host = v.intact ? `host ${v.slot.hostUuid}` : v.unsettled ? `host ${v.slot.hostUuid} (its slot damaged)` : `foreign host ${v.slot.hostUuid}`;
    const jb = v.intact ? v.slot.journalBlock : 0;
    if (jb !== 0) namedByDead.add(jb);
    // Only the commit a host was in when it died needs replaying: the generation is still odd and names it.
    const cutShort = gen.generation % 2 === 1 && gen.slotOffset === slotOffset(i) && gen.hostGeneration === v.slot.seq;
    let journalSafe = true;
    if (cutShort && v.unsettled) {
      add({ code: 'journal-damaged', where, message: `${host} died in a commit, but its slot cannot be trusted to name its journal: not replayed` });
      journalSafe = false;
    } else if (cutShort && jb !== 0) {
      const region = { offset: jb * bs, length: survey.config.journalBytes };
      if (!owned.has(jb) || region.length > bs || region.offset + region.length > fs.volume.size) {
        add({ code: 'journal-foreign', where, message: `${host} died in a commit, but names journal block ${jb}, which .vh.sf does not own: not replayed` });
        journalSafe = false;
      } else {
        try {
          const p = await inspectJournal(fs.volume, region, fs.volume.size, gen.generation);
          if (p.records > 0) {
            add({
              code: 'journal-replay',
              where,
              message: `${host} died in the middle of a commit: its journal (file block ${jb}) holds the committed record, ${p.missing} of its ${p.writes} writes are not on disk`,
              fix: { kind: 'replay-journal', region, tag: gen.generation },
              safe: true,
            });
          }
        } catch (e) {
          if (!(e instanceof VolumeError)) throw e;
          add({ code: 'journal-damaged', where, message: `${host} died in a commit, but its journal (file block ${jb}) cannot be replayed: ${e.message}` });
          journalSafe = false;
        }
      }
    }
    const replaying = v.intact && v.slot.state === SlotState.Replaying ? ', left half taken over' : '';
    add({
      code: 'stale-heartbeat',
      where,
      message: `${host} (generation ${v.slot.seq}${replaying}) stopped renewing its heartbeat: it is dead${owned.has(jb) ? `; its journal (file block ${jb}) is freed with the slot` : ''}`,
      fix: { kind: 'free-slot', slot: i, seq: v.slot.seq, hostUuid: v.slot.hostUuid, journalBlock: owned.has(jb) ? jb : null },
      safe: journalSafe,
    });
  }
  if (anyLive) return out; // a live host may be mid-commit or mid-join: generation and blocks are its business
  if (gen.generation % 2 === 1) add({ code: 'generation-odd', where: 'metadata generation', message: `the metadata generation (${gen.generation}) is odd: a host died in the middle of a commit`, fix: { kind: 'close-generation' }, safe: true });
  for (const block of owned.keys()) {
    if (namedByLive.has(block) || namedByDead.has(block) || (block + 1) * bs > fs.volume.size) continue;
    if (!(await holdsJournal(fs.volume, block * bs))) continue;
    add({ code: 'journal-block-leaked', where: `file block ${block}`, message: `.vh.sf keeps file block ${block}, the journal of a host that is gone`, fix: { kind: 'give-back-block', block }, safe: true });
  }
  return out;
}

/** Locks in the lock headers of allocated inodes and of every bitmap entry, held by hosts that are dead or gone. */
export async function checkLocks(fs: Vmfs, survey: ClusterSurvey, fresh = false): Promise<ClusterFinding[]> {
  const out: ClusterFinding[] = [];
  const snap = await regionOf(fs, survey, fresh);
  const staleness = (x: Holder): string | null => {
    const index = slotIndex(x.pos);
    if (!Number.isInteger(index) || index < 0 || index >= HEARTBEAT_SLOTS) return `offset 0x${x.pos.toString(16)} is no heartbeat slot`;
    const v = snap.view(index);
    if (!v.inUse) return `heartbeat slot ${index} is free`;
    if (v.slot.seq !== x.gen) return `heartbeat slot ${index} holds generation ${v.slot.seq}, not ${x.gen}`;
    return livenessOf(survey, v) === 'dead' ? `the host of heartbeat slot ${index} is dead` : null;
  };
  const look = (where: string, offset: () => number, h: LockHeader) => {
    if (h.mode === LockMode.Free) return;
    const holders = holdersOf(h);
    const why = MODE_NAMES[h.mode] === undefined ? [`unknown lock mode ${h.mode}`] : holders.length === 0 ? ['no holder listed'] : holders.map(staleness).filter((s): s is string => s !== null);
    if (why.length === 0) return;
    const keep = MODE_NAMES[h.mode] === undefined ? [] : holders.filter((x) => staleness(x) === null);
    out.push({
      pass: CLUSTER_PASS,
      code: 'stale-lock',
      where,
      message: `${MODE_NAMES[h.mode] ?? 'a'} lock of host ${h.hbUuid}: ${why.join('; ')}`,
      fix: { kind: 'clear-lock', offset: offset(), keep },
      safe: true,
    });
  };
  for (const [entry, e] of fs.fdc.entries.entries()) {
    for (let item = 0; item < fs.fdc.layout.itemsInEntry(entry); item++) {
      if (isItemFree(e, item)) continue;
      const id = inodeId({ entry, item });
      let inode;
      try {
        inode = await fs.inode(null, id);
      } catch {
        continue; // damaged: the file system passes deal with it
      }
      look(`inode 0x${id.toString(16)}`, () => fs.fdc.itemRange(inodeAddress(id))[0].logical, inode.lock);
    }
  }
  for (const res of [fs.fbb, fs.sbc, fs.pbc, fs.fdc]) res.entries.forEach((e, i) => look(`${res.kind} entry ${i}`, () => res.entryLogical(i), e.lock));
  return out;
}

/** Applies one cluster repair. Replays and lock or slot writes go straight to the volume; the caller reopens the file system after. */
export async function applyClusterFix(fs: Vmfs, fix: ClusterFix): Promise<void> {
  const volume = fs.volume;
  switch (fix.kind) {
    case 'replay-journal':
      await replayJournal(volume, fix.region, { tag: fix.tag });
      return;
    case 'close-generation': {
      await closeGeneration(volume, await readGeneration(volume)); // as a takeover closes it
      return;
    }
    case 'clear-lock': {
      const raw = Buffer.alloc(LOCK_HEADER_SIZE);
      await volume.read(raw, fix.offset);
      const h = lockHeaderStruct.decode(raw);
      const holders = Buffer.alloc(h.holders.length);
      fix.keep.forEach((x, i) => {
        holders.writeBigUInt64LE(BigInt(x.pos), i * 16);
        holders.writeBigUInt64LE(BigInt(x.gen), i * 16 + 8);
      });
      const next: LockHeader =
        fix.keep.length === 0
          ? { ...h, hbPos: 0, hbSeq: 0, mode: LockMode.Free, hbUuid: NULL_UUID, numHolders: 0, holders }
          : { ...h, hbPos: fix.keep[0].pos, hbSeq: fix.keep[0].gen, numHolders: fix.keep.length, holders };
      lockHeaderStruct.encodeInto(next, raw);
      await volume.write(raw, fix.offset);
      return;
    }
    case 'free-slot':
      await volume.write(encodeClusterSlot(freeSlot(fix.slot, { seq: fix.seq, hostUuid: fix.hostUuid })), slotOffset(fix.slot));
      if (fix.journalBlock !== null) await giveBack(fs, fix.journalBlock);
      return;
    case 'give-back-block':
      return giveBack(fs, fix.block);
    case 'rewrite-slot':
      await volume.write(encodeClusterSlot(freeSlot(fix.slot, { seq: fix.seq, hostUuid: fix.hostUuid })), slotOffset(fix.slot));
      return;
    case 'write-config':
      await writeClusterConfig(volume);
      return;
  }
}

/** Takes a journal block out of .vh.sf and frees it, as a host's clean unmount does. */
async function giveBack(fs: Vmfs, block: number): Promise<void> {
  const slot = (await journalBlocksOf(fs)).get(block);
  if (slot === undefined) return;
  const ipe = fs.fbb.layout.geometry.itemsPerEntry;
  await fs.transact((tx) => {
    const vh = fs.editInode(tx, VH_ID);
    vh.blocks[slot] = 0;
    vh.blockCount = Math.max(0, vh.blockCount - 1);
    while (vh.size > 0 && vh.blocks[Math.ceil(vh.size / fs.blockSize) - 1] === 0) vh.size -= fs.blockSize;
    const at = { entry: Math.floor(block / ipe), item: block % ipe };
    if (fs.fbb.isAllocated(tx, at)) fs.fbb.free(tx, at);
  });
}
