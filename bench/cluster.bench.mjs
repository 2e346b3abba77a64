// Cluster coordination on a file: uncontended lock acquire+release (through
// the disk bakery and through the local-machine reservation) against a raw
// 512-byte write+fsync, and takeover time after kill -9 of a lock holder
// with the default cluster parameters against the configured lease.
import { spawn } from 'node:child_process';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { joinCluster } from '../dist/cluster/cluster.js';
import { lockTimes } from './lockTimes.mjs';
import { DEFAULT_CLUSTER_PARAMS, ReservationKind, writeClusterConfig } from '../dist/cluster/clusterConfig.js';
import { LockMode } from '../dist/cluster/lockHeader.js';
import { replayJournal } from '../dist/cluster/journal.js';
import { formatDatastore } from '../dist/fs/datastore.js';
import { FileDevice } from '../dist/device/fileDevice.js';
import { LogicalVolume } from '../dist/volume/logicalVolume.js';
import { deviceSizeFor } from '../dist/volume/volumeHeader.js';
import { newUuid } from '../dist/util/uuid.js';

export const title = 'Cluster coordination: on-disk locks and takeover';

const MiB = 2 ** 20;
const LOCK = 200 * MiB; // a free block of the test volume
const JOURNAL_BLOCK = 210;
const ROUNDS = 3000;
const TAKEOVERS = 3;

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function makeVolume(workdir, name, reservation) {
  const path = join(workdir, name);
  const fs = await formatDatastore([path], { size: deviceSizeFor(1) });
  await writeClusterConfig(fs.volume, { reservation });
  await fs.close();
  return path;
}

const openVolume = (path) => LogicalVolume.open([FileDevice.open(path)]);

/** A host that replays a dead host's journal before breaking its locks. */
function member(volume) {
  return joinCluster(volume, {
    uuid: newUuid(),
    volumeName: volume.uuid,
    replay: async (dead, guarded) => {
      await replayJournal(guarded, { offset: dead.journalBlock * MiB, length: DEFAULT_CLUSTER_PARAMS.journalBytes });
    },
  });
}


function rawWriteFsyncTimes(workdir) {
  const fd = openSync(join(workdir, 'raw.img'), 'w+');
  const buf = Buffer.alloc(512, 0x5a);
  const times = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    writeSync(fd, buf, 0, 512, 0);
    fsyncSync(fd);
    times.push(performance.now() - t0);
  }
  closeSync(fd);
  return times.sort((a, b) => a - b);
}

/** A lock holder in its own process: joins, journals one transaction, takes the lock, says "locked", waits to be killed. */
const holderScript = (root) => {
  const dist = (f) => pathToFileURL(join(root, 'dist', f)).href;
  return `
import { joinCluster } from '${dist('cluster/cluster.js')}';
import { Journal } from '${dist('cluster/journal.js')}';
import { LockMode } from '${dist('cluster/lockHeader.js')}';
import { FileDevice } from '${dist('device/fileDevice.js')}';
import { LogicalVolume } from '${dist('volume/logicalVolume.js')}';
import { newUuid } from '${dist('util/uuid.js')}';
const [path, lock, block] = process.argv.slice(1);
const volume = await LogicalVolume.open([FileDevice.open(path)]);
const m = await joinCluster(volume, { uuid: newUuid(), journalBlock: Number(block), volumeName: volume.uuid, replay: async () => undefined });
const { journal } = await Journal.open(m.volume, { offset: Number(block) * 2 ** 20, length: m.host.config.journalBytes });
await m.locks.acquire(Number(lock), LockMode.Exclusive);
await journal.commit([{ offset: Number(lock) + 4096, data: Buffer.alloc(512, 1) }]);
console.log('locked');
`;
};

async function takeoverTimes(path, root, log) {
  const volume = await openVolume(path);
  const survivor = await member(volume);
  const times = [];
  for (let trial = 0; trial < TAKEOVERS; trial++) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', holderScript(root), path, String(LOCK), String(JOURNAL_BLOCK + trial)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('locked') && resolve());
      child.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
    // Let the survivor's watch settle on the holder's renewals, then kill at a random point of a renewal interval.
    await new Promise((r) => setTimeout(r, 1500 + Math.random() * DEFAULT_CLUSTER_PARAMS.renewMs));
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    const t0 = performance.now();
    await survivor.locks.acquire(LOCK, LockMode.Exclusive, { waitMs: 60_000 });
    const t = performance.now() - t0;
    await exited;
    await survivor.locks.release(LOCK);
    times.push(t);
    log(`takeover ${trial + 1}: ${(t / 1000).toFixed(2)} s`);
  }
  await survivor.host.leave();
  await volume.close();
  return times.sort((a, b) => a - b);
}

export async function run({ workdir, root, log }) {
  const disk = await lockTimes(await openVolume(await makeVolume(workdir, 'disk.vmfs', ReservationKind.Disk)), LOCK, ROUNDS);
  const local = await lockTimes(await openVolume(await makeVolume(workdir, 'local.vmfs', ReservationKind.LocalMachine)), LOCK, ROUNDS);
  const raw = rawWriteFsyncTimes(workdir);
  const ms = (t) => `${t.toFixed(3)} ms`;
  log(`disk bakery: p50 ${ms(percentile(disk, 50))}, p99 ${ms(percentile(disk, 99))}`);
  log(`local machine: p50 ${ms(percentile(local, 50))}, p99 ${ms(percentile(local, 99))}`);
  log(`raw 512 B write+fsync: p50 ${ms(percentile(raw, 50))}, p99 ${ms(percentile(raw, 99))}`);
  const takeover = await takeoverTimes(await makeVolume(workdir, 'takeover.vmfs', ReservationKind.Disk), root, log);
  const lease = DEFAULT_CLUSTER_PARAMS.leaseMs;
  const rate = (t) => 1000 / t; // per second: higher is better
  const lockRow = (name, t, rawT) => ({ name, value: rate(t), unit: 'ops/s', baseline: rate(rawT), baselineName: 'raw 512 B write+fsync', target: '> 1000 ops/s (< 1 ms)' });
  return [
    lockRow(`uncontended lock acquire+release p50, disk bakery (${ms(percentile(disk, 50))})`, percentile(disk, 50), percentile(raw, 50)),
    lockRow(`uncontended lock acquire+release p99, disk bakery (${ms(percentile(disk, 99))})`, percentile(disk, 99), percentile(raw, 99)),
    lockRow(`uncontended lock acquire+release p50, local machine (${ms(percentile(local, 50))})`, percentile(local, 50), percentile(raw, 50)),
    lockRow(`uncontended lock acquire+release p99, local machine (${ms(percentile(local, 99))})`, percentile(local, 99), percentile(raw, 99)),
    {
      name: `takeover after kill -9 of a lock holder, defaults, worst of ${TAKEOVERS} (${(takeover.at(-1) / 1000).toFixed(2)} s)`,
      value: rate(takeover.at(-1)),
      unit: 'per s',
      baseline: rate(lease),
      baselineName: `configured lease (${lease / 1000} s)`,
      target: '> 0.1 per s (< 10 s)',
    },
  ];
}
