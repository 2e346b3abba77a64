// Lock modes, objSeq and fencing, with two hosts in one process (the
// cross-process cases are in takeover.test.ts and reservation.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinCluster, ClusterMember } from '../../src/cluster/cluster.js';
import { FencedError, LockBusyError } from '../../src/cluster/clusterErrors.js';
import { LockMode, freeLockHeader, lockHeaderStruct } from '../../src/cluster/lockHeader.js';
import { HB_MAGIC_FREE, HB_MAGIC_IN_USE, SlotState, encodeClusterSlot, freeSlot, heartbeatSlotStruct, slotOffset } from '../../src/cluster/heartbeat.js';
import { DeadHost } from '../../src/cluster/takeover.js';
import { now } from '../../src/cluster/clock.js';
import { surveyHosts } from '../../src/cluster/survey.js';
import { newUuid } from '../../src/util/uuid.js';
import { LogicalVolume } from '../../src/volume/logicalVolume.js';
import { tempDir } from '../helpers.js';
import { LOCK_A, MARKER, makeVolume, openVolume } from './clusterHelpers.js';

const INODE_MAGIC = 0x10c00001;

describe('locks in lock headers', () => {
  const dir = tempDir();
  let path: string;
  const volumes: LogicalVolume[] = [];
  let a: ClusterMember<LogicalVolume>;
  let b: ClusterMember<LogicalVolume>;
  const replayed: DeadHost[] = [];

  async function member(): Promise<ClusterMember<LogicalVolume>> {
    const v = await openVolume(path);
    volumes.push(v);
    return joinCluster(v, {
      uuid: newUuid(),
      volumeName: v.uuid,
      replay: async (dead) => void replayed.push(dead),
    });
  }

  async function header(offset = LOCK_A) {
    const buf = Buffer.alloc(512);
    await volumes[0].read(buf, offset);
    return lockHeaderStruct.decode(buf);
  }

  beforeAll(async () => {
    path = await makeVolume(dir.path);
    const v = await openVolume(path);
    await v.write(lockHeaderStruct.encode(freeLockHeader(INODE_MAGIC, LOCK_A)), LOCK_A);
    await v.close();
    [a, b] = [await member(), await member()];
  });
  afterAll(async () => {
    for (const m of [a, b]) if (!m.host.fenced) await m.host.leave();
    for (const v of volumes) await v.close();
    dir.cleanup();
  });

  it('exclusive: names the holder, bumps objSeq, keeps the magic; a second host gets EBUSY', async () => {
    const g = await a.locks.acquire(LOCK_A, LockMode.Exclusive);
    expect(g).toEqual({ offset: LOCK_A, mode: LockMode.Exclusive, objSeq: 1 });
    expect(await header()).toMatchObject({ magic: INODE_MAGIC, pos: LOCK_A, mode: LockMode.Exclusive, hbPos: a.host.slotOffset, hbSeq: a.host.generation, hbUuid: a.host.uuid, objSeq: 1 });
    const err = await b.locks.acquire(LOCK_A, LockMode.Exclusive).catch((e) => e);
    expect(err).toBeInstanceOf(LockBusyError);
    expect(err.code).toBe('EBUSY');
    expect(err.message).toContain(`held exclusive by host ${a.host.uuid}`);
    await expect(b.locks.acquire(LOCK_A, LockMode.ReadOnly)).rejects.toThrow(LockBusyError);
    await a.locks.release(LOCK_A);
    expect(await header()).toMatchObject({ mode: LockMode.Free, objSeq: 1, hbPos: 0, numHolders: 0 });
  });

  it('read-only: several holders listed; exclusive waits for all of them; objSeq tells a reader its copy is stale', async () => {
    const gb = await b.locks.acquire(LOCK_A, LockMode.ReadOnly);
    const ga = await a.locks.acquire(LOCK_A, LockMode.ReadOnly);
    expect([gb.objSeq, ga.objSeq]).toEqual([2, 3]);
    const h = await header();
    expect(h).toMatchObject({ mode: LockMode.ReadOnly, numHolders: 2 });
    expect(Number(h.holders.readBigUInt64LE(0))).toBe(b.host.slotOffset);
    expect(Number(h.holders.readBigUInt64LE(16))).toBe(a.host.slotOffset);
    await expect(b.locks.acquire(LOCK_A, LockMode.Exclusive)).rejects.toThrow(LockBusyError);
    await a.locks.release(LOCK_A);
    expect(await header()).toMatchObject({ mode: LockMode.ReadOnly, numHolders: 1 });
    // b upgrades: only its own hold is left.
    const gx = await b.locks.acquire(LOCK_A, LockMode.Exclusive);
    expect(gx.objSeq).toBe(4);
    await b.locks.release(LOCK_A);
    // a held it last at objSeq 3: the next grant is 5, not 4, so a re-reads the object.
    expect((await a.locks.acquire(LOCK_A, LockMode.Exclusive)).objSeq).toBe(5);
    await a.locks.release(LOCK_A);
  });

  it('multi-writer is shared among multi-writers only', async () => {
    await a.locks.acquire(LOCK_A, LockMode.MultiWriter);
    await b.locks.acquire(LOCK_A, LockMode.MultiWriter);
    expect(await header()).toMatchObject({ mode: LockMode.MultiWriter, numHolders: 2 });
    await expect(b.locks.acquire(LOCK_A, LockMode.ReadOnly)).rejects.toThrow(LockBusyError);
    await a.locks.release(LOCK_A);
    await b.locks.release(LOCK_A);
    expect(await header()).toMatchObject({ mode: LockMode.Free, numHolders: 0 });
  });

  it('a lock naming a host incarnation that is gone (slot free or newer generation) is taken at once', async () => {
    const stale = { ...freeLockHeader(INODE_MAGIC, LOCK_A), mode: LockMode.Exclusive, hbPos: slotOffset(100), hbSeq: 7, objSeq: 9, hbUuid: newUuid() };
    await volumes[0].write(lockHeaderStruct.encode(stale), LOCK_A);
    expect((await b.locks.acquire(LOCK_A, LockMode.Exclusive)).objSeq).toBe(10);
    const state = await a.locks.inspect(LOCK_A);
    expect(state).toMatchObject({ mode: LockMode.Exclusive, objSeq: 10, holders: [{ slotOffset: b.host.slotOffset, generation: b.host.generation, status: 'live' }] });
    await b.locks.release(LOCK_A);
  });

  it('releasing a lock that another host broke leaves the new holder alone', async () => {
    await a.locks.acquire(LOCK_A, LockMode.Exclusive);
    const taken = { ...(await header()), hbPos: b.host.slotOffset, hbSeq: b.host.generation, hbUuid: b.host.uuid, objSeq: 77 };
    await volumes[0].write(lockHeaderStruct.encode(taken), LOCK_A);
    await expect(a.locks.release(LOCK_A)).rejects.toThrow(/is no longer held by this host/);
    expect(await header()).toMatchObject({ mode: LockMode.Exclusive, hbUuid: b.host.uuid, objSeq: 77 });
    await b.locks.acquire(LOCK_A, LockMode.Exclusive);
    await b.locks.release(LOCK_A);
  });

  it('a host that stops renewing is taken over without anyone wanting its locks: journal replayed, slot freed', async () => {
    const uuid = newUuid();
    const corpse = { ...freeSlot(50), magic: HB_MAGIC_IN_USE, seq: 4, hostUuid: uuid, journalBlock: 7, state: SlotState.Live };
    await volumes[0].write(encodeClusterSlot(corpse), slotOffset(50));
    const taken = await new Promise((resolve) => a.host.once('takeover', resolve));
    expect(taken).toEqual({ slot: 50, generation: 4 });
    expect(replayed.find((d) => d.uuid === uuid)).toEqual({ slot: 50, slotOffset: slotOffset(50), uuid, generation: 4, journalBlock: 7 });
    const buf = Buffer.alloc(512);
    await volumes[0].read(buf, slotOffset(50));
    expect(heartbeatSlotStruct.decode(buf)).toMatchObject({ magic: HB_MAGIC_FREE, state: SlotState.Free, hostUuid: uuid, seq: 4 });
  });

  it('surveyHosts lists both hosts as live and renewing', async () => {
    const rows = await surveyHosts(volumes[0], 2 * a.host.config.renewMs);
    expect(rows.map((r) => [r.uuid, r.state, r.renewed, r.generation])).toEqual(
      [a, b].sort((x, y) => x.host.slot - y.host.slot).map((m) => [m.host.uuid, 'live', true, m.host.generation]),
    );
  });

  it('a stall shorter than the deadline is reported as a late renewal, and the lease survives', async () => {
    const late: number[] = [];
    const onLate = (e: { lateMs: number; what: string }) => e.what === 'renewal timer' && late.push(e.lateMs);
    a.host.on('late', onLate);
    const until = now() + 3 * a.host.config.renewMs;
    while (now() < until);
    await new Promise((r) => setTimeout(r, a.host.config.renewMs * 2));
    a.host.off('late', onLate);
    expect(late.length).toBeGreaterThan(0);
    expect(late[0]).toBeGreaterThan(a.host.config.renewMs);
    expect(a.host.fenced).toBeNull();
    expect(() => a.host.assertCanWrite()).not.toThrow();
  });

  it('a long run of writes (no timer can fire between them) lets the renewal in and keeps the lease', async () => {
    const buf = Buffer.alloc(512, 0x61);
    const until = now() + 2 * b.host.config.leaseMs;
    let writes = 0;
    while (now() < until) {
      await b.volume.write(buf, MARKER);
      writes++;
    }
    expect(writes).toBeGreaterThan(1000);
    expect(b.host.fenced).toBeNull();
  });

  it('a host whose event loop stalls past its deadline is fenced: no write lands, it reports the loss', async () => {
    const c = await member();
    const events: string[] = [];
    c.host.on('late', (e: { what: string }) => events.push(`late ${e.what}`));
    c.host.on('lost', (e: FencedError) => events.push(`lost ${e.message}`));
    const stamp = Buffer.alloc(512, 0x63);
    await c.volume.write(stamp, MARKER);
    const until = c.host.deadline + 5;
    while (now() < until); // a stall: no renewal can run
    expect(() => c.host.assertCanWrite()).toThrow(/lost the datastore lease/);
    const err = await c.volume.write(Buffer.alloc(512, 0x64), MARKER).catch((e) => e);
    expect(err).toBeInstanceOf(FencedError);
    expect(err.code).toBe('EIO');
    await expect(c.volume.flush()).rejects.toThrow(FencedError);
    await expect(c.locks.acquire(LOCK_A, LockMode.Exclusive)).rejects.toThrow(FencedError);
    const onDisk = Buffer.alloc(512);
    await volumes[0].read(onDisk, MARKER);
    expect(onDisk.equals(stamp)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(events.some((e) => e.startsWith('lost datastore: Input/output error (lost the datastore lease'))).toBe(true);
    expect(events.filter((e) => e.startsWith('lost'))).toHaveLength(1);
  });
});
