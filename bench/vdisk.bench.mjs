// Virtual disk I/O: a thin (monolithicSparse) VMDK on the host file system
// against the same I/O on a raw file, in the same run and through the same
// file interface, so the ratio is what the VMDK layer costs.
import { HostFolder } from '../dist/vdisk/hostFolder.js';
import { createDisk } from '../dist/vdisk/virtualDisk.js';
import { formatDatastore } from '../dist/fs/datastore.js';
import { DatastoreFolder } from '../dist/vm/datastoreFolder.js';

export const title = 'Virtual disks (vdisk): thin VMDK on the host and inside the datastore vs a raw host file';

const MiB = 2 ** 20;
const SIZE = 256 * MiB;
const RANDOM_OPS = 20000;

/** The raw file, behind the VirtualDisk calls the benchmark makes. */
async function rawDisk(folder, name) {
  const file = await folder.create(name);
  await file.truncate(SIZE);
  const exact = async (op, buf, at) => {
    for (let done = 0; done < buf.length; ) done += await file[op](buf, done, buf.length - done, at + done);
  };
  return {
    capacity: SIZE,
    read: (buf, at) => exact('read', buf, at),
    write: (buf, at) => exact('write', buf, at),
    flush: () => file.sync(),
    close: () => file.close(),
  };
}

function offsets(count, block, seed) {
  let a = seed;
  const out = [];
  for (let i = 0; i < count; i++) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    out.push((a % (SIZE / block)) * block);
  }
  return out;
}

/** Seconds taken by `fn`. */
async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function measure(disk) {
  const big = Buffer.alloc(MiB, 0x5a);
  const small = Buffer.alloc(4096, 0xa5);
  const r = {};
  r.seqWrite = SIZE / MiB / (await time(async () => {
    for (let at = 0; at < SIZE; at += MiB) await disk.write(big, at);
    await disk.flush();
  }));
  r.seqRead = SIZE / MiB / (await time(async () => {
    for (let at = 0; at < SIZE; at += MiB) await disk.read(big, at);
  }));
  const reads = offsets(RANDOM_OPS, 4096, 1);
  r.randRead = RANDOM_OPS / (await time(async () => {
    for (const at of reads) await disk.read(small, at);
  }));
  const writes = offsets(RANDOM_OPS, 4096, 2);
  r.randWrite = RANDOM_OPS / (await time(async () => {
    for (const at of writes) await disk.write(small, at);
    await disk.flush();
  }));
  await disk.close();
  return r;
}

/** Random 4 KiB writes into a disk that has nothing yet: each first touch of a grain allocates it. */
async function measureFresh(disk) {
  const small = Buffer.alloc(4096, 0xa5);
  const writes = offsets(RANDOM_OPS / 4, 4096, 3);
  const rate = writes.length / (await time(async () => {
    for (const at of writes) await disk.write(small, at);
    await disk.flush();
  }));
  await disk.close();
  return rate;
}

export async function run({ workdir, log }) {
  const folder = new HostFolder(workdir);
  const best = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, Math.max(a[k], b[k])]));
  let raw;
  let thin;
  // Alternate the two, twice, and keep each one's best: the page cache and the CPU warm up for both.
  for (let round = 0; round < 2; round++) {
    const rr = await measure(await rawDisk(folder, `raw${round}.img`));
    const tt = await measure(await createDisk(folder, `thin${round}.vmdk`, { size: SIZE, type: 'thin' }));
    raw = raw ? best(raw, rr) : rr;
    thin = thin ? best(thin, tt) : tt;
    for (const n of [`raw${round}.img`, `thin${round}.vmdk`]) await folder.remove(n);
    log(`round ${round + 1}: thin ${JSON.stringify(tt)}, raw ${JSON.stringify(rr)}`);
  }
  // The same thin VMDK inside a datastore, read and written through the file system library.
  const fs = await formatDatastore([`${workdir}/extent0`], { size: 600 * MiB });
  await fs.mkdir('/vm');
  const dsFolder = new DatastoreFolder(fs, '/vm');
  let inDs;
  for (let round = 0; round < 2; round++) {
    const tt = await measure(await createDisk(dsFolder, `thin${round}.vmdk`, { size: SIZE, type: 'thin' }));
    inDs = inDs ? best(inDs, tt) : tt;
    await dsFolder.remove(`thin${round}.vmdk`);
    log(`round ${round + 1}: thin in the datastore ${JSON.stringify(tt)}`);
  }
  await fs.close();
  const freshRaw = await measureFresh(await rawDisk(folder, 'fresh.img'));
  const freshThin = await measureFresh(await createDisk(folder, 'fresh.vmdk', { size: SIZE, type: 'thin' }));
  const row = (name, value, baseline, unit, target) => ({ name, value, unit, baseline, baselineName: 'raw host file', target });
  return [
    row('sequential 1 MiB write, thin VMDK (allocating)', thin.seqWrite, raw.seqWrite, 'MiB/s', '>= 70%'),
    row('sequential 1 MiB read, thin VMDK', thin.seqRead, raw.seqRead, 'MiB/s', '>= 70%'),
    row('random 4 KiB read, thin VMDK', thin.randRead, raw.randRead, 'IOPS'),
    row('random 4 KiB write, thin VMDK (allocated grains)', thin.randWrite, raw.randWrite, 'IOPS'),
    row('random 4 KiB write, new thin VMDK (allocating grains)', freshThin, freshRaw, 'IOPS'),
    row('sequential 1 MiB write, thin VMDK in the datastore', inDs.seqWrite, raw.seqWrite, 'MiB/s', '>= 70%'),
    row('sequential 1 MiB read, thin VMDK in the datastore', inDs.seqRead, raw.seqRead, 'MiB/s', '>= 70%'),
    row('random 4 KiB read, thin VMDK in the datastore', inDs.randRead, raw.randRead, 'IOPS'),
    row('random 4 KiB write, thin VMDK in the datastore', inDs.randWrite, raw.randWrite, 'IOPS'),
  ];
}
