// `vmfs mount` speed: dd-style sequential write (with fsync) and O_DIRECT read of a 1 GiB
// file, and create/stat/unlink of 10,000 files, each against (a) an in-memory file system
// on the same fuse-native binding and libfuse options (memfsCeiling.mjs: what the binding
// allows at best) and (b) the host file system under the bench's work directory. All three
// are measured in this run, taking turns (the machine is shared: a busy moment must hit
// all of them alike), and each figure is the median of several rounds.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDatastore } from '../dist/fs/datastore.js';
import { cacheTimeout } from '../dist/fuse/mountOptions.js';

export const title = 'FUSE mount: vmfs mount against the fuse-native ceiling and the host';

export const notes = `
Unlink misses its 50% target on this machine. What decides it was
measured with a test daemon whose UNLINK handler was swapped (same
mount, same ceiling, 100-file chunks in turn, three rounds of 1500):
- UNLINK answered at once, nothing unlinked: 85-90% of the ceiling.
  The kernel's other two requests per unlink (a LOOKUP and a GETATTR of
  the directory) cost what the ceiling's cost; our getattr handler takes
  3 us.
- UNLINK that spins 30 us, then answers: 49-50%. Spinning 60 us after
  answering instead of before: 37-45%. Work after the reply costs as
  much as work before it: the next request waits for the main thread.
- The real UNLINK takes 56 us on the main thread (median of 4500): 23 us
  in the operation's body, 18 us in its four metadata writes, the rest
  in the commit's bookkeeping. With no metadata writes at all it makes
  39-43%, so batching the writes cannot reach 50% either.
- The same library unlink takes 25-28 us in a hot loop and 55-78 us
  when each one follows a 1 ms sleep. Idle, the vCPU halts
  (guest_halt_poll_ns=0 on this VM) and the next request runs with cold
  caches: a compute-only loop is no slower then, memory-bound work is
  about 2.5 times slower.
- With the kernel's default halt polling (200 us, set for the experiment
  only and put back), unlink makes 42-53% in the same harness.
So 50% on this VM takes an unlink that costs about 12 us in a hot loop,
its four pwrite calls (about 7 us) included.
Operation bodies run without awaits (src/fs/cacheMiss.ts): library
create went from 33-38 to 24-26 us, unlink stayed within noise.
Since the run before this one, a single host journals every commit
(src/fs/loneJournal.ts: one record written before the writes in place,
so a kill -9 never leaves half an operation). The record, 4.6 KiB for a
create, costs about 7 us per commit in a hot loop (its CRC 3 us, its
pwrite 4.6 us): library unlink 27-30 -> 31-36 us, create 26-27 ->
33-35 us; on the mount, unlink went from 39% to 35% and create from 64%
to 61% of the ceiling.
Sequential write is bound by the disk (dd conv=fsync flushes for real;
the ceiling keeps the bytes in memory). vmfs writes into a file on the
host file system and cannot outrun it: whenever the host file system is
itself under 80% of the ceiling (417 against 643 MB/s in the run
recorded here, 65%), so is vmfs. Its ratio to the ceiling moves with
the machine (59% and 90% in two runs of the previous session); the
ceiling itself ranged from 302 to 809 MB/s across the five rounds of
one run.
`;

const MiB = 2 ** 20;
const FILE_MIB = 1024;
const DATA_ROUNDS = 5;
const FILES = 10000;
const META_ROUNDS = 5;
/** Files a file system works on before the next one takes its turn. */
const CHUNK = 100;
/** The single-host cache timeout the mount uses (and the ceiling copies), in seconds. */
const TIMEOUT = cacheTimeout(false);

// One process per round measures every file system, a chunk of files each in turn (the
// first in each turn rotates). A file system's rate is that of its median chunk: a stall
// of the shared machine spoils a few chunks, not the figure. Between phases it waits out
// the kernel's name and attribute caches, so that on every file system each stat and
// unlink looks its file up afresh.
const META = `
  const fs = require('node:fs');
  const [n, chunk, pauseMs, ...dirs] = process.argv.slice(1).map((a, i) => (i < 3 ? Number(a) : a));
  const rates = dirs.map(() => ({ create: [], stat: [], unlink: [] }));
  const phase = (key, f) => {
    for (let from = 0, turn = 0; from < n; from += chunk, turn++) {
      const to = Math.min(n, from + chunk);
      for (let j = 0; j < dirs.length; j++) {
        const d = (j + turn) % dirs.length;
        const t = process.hrtime.bigint();
        for (let i = from; i < to; i++) f(dirs[d] + '/f' + i);
        rates[d][key].push((to - from) / (Number(process.hrtime.bigint() - t) / 1e9));
      }
    }
  };
  const median = (v) => v.sort((a, b) => a - b)[v.length >> 1];
  const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
  for (const d of dirs) fs.mkdirSync(d);
  phase('create', (p) => fs.closeSync(fs.openSync(p, 'w')));
  pause();
  phase('stat', (p) => fs.statSync(p));
  pause();
  phase('unlink', (p) => fs.unlinkSync(p));
  for (const d of dirs) fs.rmdirSync(d);
  process.stdout.write(JSON.stringify(rates.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)])))));`;

function timed(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** One round of the 1 GiB write and read on `dir`, in MB/s. */
function dataRound(dir) {
  const file = join(dir, 'seq');
  const w = timed('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${FILE_MIB}`, 'conv=fsync', 'status=none']);
  const r = timed('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct', 'status=none']);
  spawnSync('rm', ['-f', file]);
  return { write: (FILE_MIB * MiB) / 1e6 / w, read: (FILE_MIB * MiB) / 1e6 / r };
}

/** One round of create/stat/unlink of FILES files on every directory of `dirs`, taking turns. */
function metaRound(dirs, round) {
  const args = [String(FILES), String(CHUNK), String((TIMEOUT + 0.5) * 1000), ...dirs.map((d) => join(d, `meta${round}`))];
  const r = spawnSync(process.execPath, ['-e', META, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`metadata round ${round}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** CPU time (user + system) a process has used so far, in µs (Linux clock ticks are 10 ms). */
function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10000;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Starts a server process and resolves once it reports the mount ready. */
function startServer(argv, readyOnFd3) {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', readyOnFd3 ? 'ignore' : 'pipe', 'inherit', ...(readyOnFd3 ? ['pipe'] : [])] });
  const stream = readyOnFd3 ? child.stdio[3] : child.stdout;
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8').on('data', (d) => {
      text += d;
      if (/ready/.test(text)) resolve(child);
      else if (/error/.test(text)) reject(new Error(text));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before mounting`)));
  });
}

async function stopServer(child, mnt) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 30000))]);
  spawnSync('fusermount', ['-uz', mnt]);
}

export async function run({ workdir, root, log }) {
  const host = join(workdir, 'host');
  const memMnt = join(workdir, 'memfs');
  const vmfsMnt = join(workdir, 'vmfs');
  for (const d of [host, memMnt, vmfsMnt]) mkdirSync(d);
  const extent = join(workdir, 'extent.vmfs');
  const fs = await formatDatastore([extent], { size: 3 * 1024 * MiB });
  await fs.close();

  log('mounting the in-memory fuse-native file system and vmfs');
  const mem = await startServer([join(root, 'bench/memfsCeiling.mjs'), memMnt, String(TIMEOUT)], false);
  const config = { extents: [extent], mountPoint: vmfsMnt, options: [], readOnly: false, attrTimeout: TIMEOUT, entryTimeout: TIMEOUT, lockWaitMs: 0 };
  const targets = { host, memfs: memMnt, vmfs: vmfsMnt };
  const names = Object.keys(targets);
  const rounds = Object.fromEntries(names.map((k) => [k, { write: [], read: [], create: [], stat: [], unlink: [] }]));
  /** Server CPU µs per file (create + stat + unlink), per metadata round. */
  const serverCpu = { memfs: [], vmfs: [] };
  let daemon;
  try {
    daemon = await startServer([join(root, 'dist/fuse/daemon.js'), JSON.stringify(config)], true);
    for (let round = 0; round < DATA_ROUNDS; round++) {
      for (let j = 0; j < names.length; j++) {
        const k = names[(j + round) % names.length]; // who goes first rotates
        const d = dataRound(targets[k]);
        for (const m of ['write', 'read']) rounds[k][m].push(d[m]);
      }
      log(`data round ${round + 1}/${DATA_ROUNDS}: ${names.map((k) => `${k} write ${Math.round(rounds[k].write[round])} read ${Math.round(rounds[k].read[round])} MB/s`).join(', ')}`);
    }
    for (let round = 0; round < META_ROUNDS; round++) {
      // What each server spent on a file's create + stat + unlink: CPU, which a busy machine barely changes.
      const servers = [mem, daemon];
      const cpuBefore = servers.map((c) => cpuMicros(c.pid));
      const m = metaRound(Object.values(targets), round);
      const [memCpu, vmfsCpu] = servers.map((c, i) => Math.round((cpuMicros(c.pid) - cpuBefore[i]) / FILES));
      serverCpu.memfs.push(memCpu);
      serverCpu.vmfs.push(vmfsCpu);
      names.forEach((k, i) => {
        for (const op of ['create', 'stat', 'unlink']) rounds[k][op].push(m[i][op]);
      });
      const pct = (op) => Math.round((100 * m[2][op]) / m[1][op]);
      log(`metadata round ${round + 1}/${META_ROUNDS}: vmfs/memfs create ${pct('create')}%, stat ${pct('stat')}%, unlink ${pct('unlink')}%; server CPU per file (all three) vmfs ${vmfsCpu} µs, memfs ${memCpu} µs`);
    }
  } finally {
    await stopServer(mem, memMnt);
    if (daemon) await stopServer(daemon, vmfsMnt);
  }
  const results = Object.fromEntries(names.map((k) => [k, Object.fromEntries(Object.entries(rounds[k]).map(([m, v]) => [m, median(v)]))]));
  for (const [k, v] of Object.entries(results)) log(`${k} (medians): ${JSON.stringify(Object.fromEntries(Object.entries(v).map(([a, b]) => [a, Math.round(b)])))}`);

  const rows = [];
  const metrics = [
    ['write', `sequential write ${FILE_MIB} MiB, 1 MiB blocks, fsync`, 'MB/s', '≥ 80%'],
    ['read', `sequential read ${FILE_MIB} MiB, 1 MiB blocks, O_DIRECT`, 'MB/s', '≥ 80%'],
    ['create', `create ${FILES} empty files`, 'files/s', '≥ 50%'],
    ['stat', `stat ${FILES} files`, 'files/s', '≥ 50%'],
    ['unlink', `unlink ${FILES} files`, 'files/s', '≥ 50%'],
  ];
  for (const [key, name, unit, target] of metrics) {
    rows.push({ name: `${name} (vs fuse-native ceiling)`, value: results.vmfs[key], unit, baseline: results.memfs[key], baselineName: 'in-memory fuse-native fs', target });
    rows.push({ name: `${name} (vs host)`, value: results.vmfs[key], unit, baseline: results.host[key], baselineName: 'host fs (bench dir)' });
  }
  rows.push({
    name: `create + stat + unlink per second of server CPU (vs fuse-native ceiling)`,
    value: 1e6 / median(serverCpu.vmfs),
    unit: 'files/s',
    baseline: 1e6 / median(serverCpu.memfs),
    baselineName: 'in-memory fuse-native fs',
  });
  return rows;
}
