// One host of a cluster test, as a separate process: `host.ts COMMAND VOLUME
// JSON`. It reports in JSON lines on stdout ({"event": ...}) and, where a
// test starts several hosts together, says "ready" and waits for "go" on stdin.
import { createInterface } from 'node:readline';
import { sleep } from '../../src/cluster/clock.js';
import { readClusterConfig } from '../../src/cluster/clusterConfig.js';
import { journalRegionOf, joinCluster } from '../../src/cluster/cluster.js';
import { FencedError } from '../../src/cluster/clusterErrors.js';
import { HostHeartbeat } from '../../src/cluster/hostHeartbeat.js';
import { Journal, replayJournal } from '../../src/cluster/journal.js';
import { LockMode } from '../../src/cluster/lockHeader.js';
import { DeadHost } from '../../src/cluster/takeover.js';
import { MiB } from '../helpers.js';
import { openVolume } from './clusterHelpers.js';
import { journalTransaction } from './journalModel.js';

const [command, path, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}');
const say = (event: string, more: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ event, ...more }) + '\n');
const BLOCK = MiB;

async function go(): Promise<void> {
  say('ready');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
  process.stdin.destroy(); // nothing more comes: let the process end when its work does
}

const volume = await openVolume(path);

async function member(journalBlock = 0) {
  const config = await readClusterConfig(volume);
  const m = await joinCluster(volume, {
    uuid: args.uuid,
    config,
    journalBlock,
    slotChoice: args.slotChoice ?? 'spread',
    volumeName: volume.uuid,
    replay: async (dead: DeadHost, guarded) => {
      if (dead.journalBlock === 0) return;
      const r = await replayJournal(guarded, journalRegionOf(dead, BLOCK, config.journalBytes));
      say('replayed', { uuid: dead.uuid, slot: dead.slot, records: r.records });
    },
  });
  m.host.on('lost', (e: FencedError) => say('lost-event', { message: e.message }));
  return m;
}

switch (command) {
  case 'claim': {
    await go();
    const host = await HostHeartbeat.join(volume, { uuid: args.uuid, slotChoice: 'lowest' });
    say('joined', { slot: host.slot, generation: host.generation });
    await sleep(args.holdMs);
    const check = Buffer.alloc(512);
    await volume.read(check, host.slotOffset);
    say('held', { slot: host.slot, uuid: host.uuid, onDisk: check.subarray(0x1c, 0x2c).toString('hex'), fenced: host.fenced?.message ?? null });
    await host.leave();
    break;
  }
  case 'count': {
    const m = await member();
    await go();
    const b = Buffer.alloc(512);
    say('joined-reservation-wait');
    for (let i = 0; i < args.times; i++) {
      await m.reservation.run(async () => {
        await m.volume.read(b, args.counter);
        const n = b.readUInt32LE(0);
        await new Promise((r) => setImmediate(r)); // widen the window a lost update needs
        b.writeUInt32LE(n + 1, 0);
        await m.volume.write(b, args.counter);
      });
    }
    say('counted', { times: args.times, slot: m.host.slot });
    await m.host.leave();
    break;
  }
  case 'hold-reservation': {
    const m = await member();
    await go();
    await m.reservation.run(async () => {
      say('inside', { slot: m.host.slot });
      await new Promise(() => undefined); // until killed
    });
    break;
  }
  case 'lock-holder': {
    // Takes a lock, commits transactions it never checkpoints, then stamps the marker sector until it loses its lease.
    const m = await member(args.journalBlock);
    const { journal } = await Journal.open(m.volume, journalRegionOf({ journalBlock: args.journalBlock }, BLOCK, m.host.config.journalBytes));
    const grant = await m.locks.acquire(args.lock, LockMode.Exclusive);
    for (let k = 1; k <= 3; k++) await journal.commit(journalTransaction(k, args.data));
    say('locked', { objSeq: grant.objSeq, committed: 3, slot: m.host.slot, generation: m.host.generation });
    const stamp = Buffer.alloc(512);
    for (let n = 1; ; n++) {
      stamp.write(`A ${n}`.padEnd(32), 0);
      try {
        await m.volume.write(stamp, args.marker);
      } catch (e) {
        say('lost', { message: (e as Error).message, fenced: e instanceof FencedError, lastWritten: n - 1 });
        process.exit(3);
      }
      say('stamped', { n });
      await sleep(20);
    }
  }
  case 'taker': {
    const m = await member();
    say('joined', { slot: m.host.slot });
    const grant = await m.locks.acquire(args.lock, LockMode.Exclusive, { waitMs: args.waitMs });
    say('acquired', { objSeq: grant.objSeq });
    const stamp = Buffer.alloc(512);
    stamp.write('B taker'.padEnd(32), 0);
    await m.volume.write(stamp, args.marker);
    await m.locks.release(args.lock);
    say('done');
    await m.host.leave();
    break;
  }
  case 'journal': {
    // Commits transactions forever (no cluster needed), checkpointing now and then; killed at a random point.
    const { journal } = await Journal.open(volume, { offset: args.journalBlock * BLOCK, length: args.journalBytes });
    for (let k = args.from; ; k++) {
      await journal.commit(journalTransaction(k, args.data));
      say('committed', { k });
      if (k % 7 === 0) await journal.checkpoint();
    }
  }
  default:
    throw new Error(`unknown command ${command}`);
}
await volume.close();
