// Datastores over NBD (nbdkit's file plugin on loopback TCP) against the same
// work on a local file extent in the same run: sequential write and read of a
// 512 MiB file through the library, and uncontended cluster lock
// acquire+release (the disk bakery: the reservation hosts on several machines use).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ReservationKind, writeClusterConfig } from '../dist/cluster/clusterConfig.js';
import { openDevice } from '../dist/device/openDevice.js';
import { formatDatastore, openDatastore } from '../dist/fs/datastore.js';
import { LogicalVolume } from '../dist/volume/logicalVolume.js';
import { deviceSizeFor } from '../dist/volume/volumeHeader.js';
import { lockTimes } from './lockTimes.mjs';

export const title = 'Datastores over NBD: throughput and lock latency against a local file';

const MiB = 2 ** 20;
const FILE_BYTES = 512 * MiB;
const CHUNK = 4 * MiB;
const LOCK = 200 * MiB; // a free block of the volume
const ROUNDS = 2000;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** nbdkit serving `path` on loopback TCP; resolves once it listens. */
async function nbdkit(workdir, path) {
  const port = await freePort();
  const pidFile = join(workdir, `nbdkit-${port}.pid`);
  const child = spawn('nbdkit', ['-f', '--exit-with-parent', '-P', pidFile, '-i', '127.0.0.1', '-p', String(port), 'file', path], { stdio: 'ignore' });
  while (!existsSync(pidFile)) {
    if (child.exitCode !== null) throw new Error('nbdkit did not start (is it installed?)');
    await new Promise((r) => setTimeout(r, 10));
  }
  return { url: `nbd://127.0.0.1:${port}/`, stop: () => child.kill('SIGKILL') };
}

/** An empty sparse image of `segments` 256 MiB segments, and the name to format it by. */
function image(workdir, name, segments) {
  const path = join(workdir, name);
  writeFileSync(path, '');
  truncateSync(path, deviceSizeFor(segments));
  return path;
}

/**
 * Empties the host's page cache (root only), so a read comes from the disk
 * for the file backend and for nbdkit alike; false where that is not allowed.
 */
function dropCaches() {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

async function readAll(extent) {
  const fs = await openDatastore([extent], { readOnly: true });
  const id = await fs.resolve(null, '/seq.bin');
  const buf = Buffer.alloc(CHUNK);
  const t0 = performance.now();
  for (let at = 0; at < FILE_BYTES; at += CHUNK) await fs.read(id, buf, at);
  const rate = FILE_BYTES / MiB / ((performance.now() - t0) / 1000);
  await fs.close();
  return rate;
}

/** MiB/s writing then reading one file (synced) on a datastore formatted on `extent`: reads from the disk (cold) and from the page cache (hot). */
async function throughput(extent) {
  const fs = await formatDatastore([extent]);
  const data = Buffer.alloc(CHUNK);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
  const id = await fs.create('/seq.bin');
  const t0 = performance.now();
  for (let at = 0; at < FILE_BYTES; at += CHUNK) await fs.write(id, data, at);
  await fs.sync();
  const write = FILE_BYTES / MiB / ((performance.now() - t0) / 1000);
  await fs.close();
  const cold = dropCaches() ? await readAll(extent) : null;
  const read = await readAll(extent);
  return { write, read, cold };
}

/** Lock acquire+release times on a cluster volume (disk reservation) formatted on `extent`. */
async function extentLockTimes(extent) {
  const fs = await formatDatastore([extent]);
  await writeClusterConfig(fs.volume, { reservation: ReservationKind.Disk });
  await fs.close();
  return lockTimes(await LogicalVolume.open([await openDevice(extent)]), LOCK, ROUNDS);
}

export async function run({ workdir, log }) {
  const servers = [];
  try {
    const localSeq = await throughput(image(workdir, 'seq-local.vmfs', 3));
    const nbdSeqServer = await nbdkit(workdir, image(workdir, 'seq-nbd.vmfs', 3));
    servers.push(nbdSeqServer);
    const nbdSeq = await throughput(nbdSeqServer.url);
    const mbs = (x) => (x === null ? 'n/a' : x.toFixed(0));
    log(`sequential 512 MiB: file ${mbs(localSeq.write)}/${mbs(localSeq.cold)}/${mbs(localSeq.read)} MiB/s, NBD ${mbs(nbdSeq.write)}/${mbs(nbdSeq.cold)}/${mbs(nbdSeq.read)} MiB/s (write/cold read/hot read)`);
    const localLock = await extentLockTimes(image(workdir, 'lock-local.vmfs', 1));
    const nbdLockServer = await nbdkit(workdir, image(workdir, 'lock-nbd.vmfs', 1));
    servers.push(nbdLockServer);
    const nbdLock = await extentLockTimes(nbdLockServer.url);
    const ms = (t) => `${t.toFixed(3)} ms`;
    log(`lock acquire+release p50/p99: file ${ms(percentile(localLock, 50))}/${ms(percentile(localLock, 99))}, NBD ${ms(percentile(nbdLock, 50))}/${ms(percentile(nbdLock, 99))}`);
    const rate = (t) => 1000 / t; // per second: higher is better
    return [
      { name: 'sequential write, 512 MiB file, synced (NBD, loopback TCP)', value: nbdSeq.write, unit: 'MiB/s', baseline: localSeq.write, baselineName: 'same on a file extent', target: '>= 50%' },
      ...(nbdSeq.cold !== null && localSeq.cold !== null
        ? [{ name: 'sequential read, 512 MiB file, from the disk (NBD, loopback TCP)', value: nbdSeq.cold, unit: 'MiB/s', baseline: localSeq.cold, baselineName: 'same on a file extent', target: '>= 50%' }]
        : []),
      { name: 'sequential read, 512 MiB file, page cache hot (NBD, loopback TCP)', value: nbdSeq.read, unit: 'MiB/s', baseline: localSeq.read, baselineName: 'same on a file extent (a memory copy)' },
      {
        name: `uncontended lock acquire+release p50, disk bakery over NBD (${ms(percentile(nbdLock, 50))})`,
        value: rate(percentile(nbdLock, 50)),
        unit: 'ops/s',
        baseline: rate(percentile(localLock, 50)),
        baselineName: `same on a file extent (${ms(percentile(localLock, 50))})`,
        target: '> 333 ops/s (< 3 ms)',
      },
    ];
  } finally {
    for (const s of servers) s.stop();
  }
}
