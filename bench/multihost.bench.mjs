// Several hosts creating files at once, in one shared directory and each in
// a directory of its own: the aggregate create rate with 1, 2 and 4 hosts
// (cluster mounts through the library, one process each), and with 1 and 4
// FUSE mounts (vmfs mount --cluster, a client program on each), against one
// host in the same run.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';

export const title = 'Several hosts: creates in one shared directory and in their own';

export const notes = `
A commit holds the volume-wide reservation only for its writes (record, in
place, change record); its flush comes after, so hosts flush side by side,
and a waiting host polls the bakery every 0.05-0.25 ms without burning CPU
(a futex wait). Before this, 4 hosts made 499 creates/s (52 before the
change log). The target is still missed, and this machine cannot show it:
one host alone keeps a whole core busy (JavaScript, system calls, the host
file system's writeback), so twice its rate would take both cores even if
sharing the datastore cost nothing (the "creates per CPU-second" rows give
what it does cost: every host reads the other hosts' change records and
patches its caches, and polls for the reservation). The reservation is the
other limit: with 4 hosts it is held about 70% of the time, about 0.34 ms
per commit (measured with an instrumented build). Past that, commits under
per-object locks (the directory, the inodes, the host's own bitmap entries)
would let hosts working on different objects commit at once; hosts in one
shared directory would still take turns at the directory.
Through FUSE mounts a host waits more and computes less per create (a
lookup, the create, the write lock and its release, each a round trip
through the kernel: about 1.9 ms), so 4 mounts together do better
against one, but the same two limits keep them under twice one mount.
`;

const PER_HOST = 2000;
const WARM_UP = 500;

async function round(root, workdir, hosts, shared) {
  const { formatDatastore } = await import(join(root, 'dist', 'fs', 'datastore.js'));
  const tag = `${shared ? 's' : 'o'}${hosts}`;
  const path = join(workdir, `h${tag}.vmfs`);
  const fs = await formatDatastore([path], { size: 2 ** 31 });
  await fs.close();
  const go = join(workdir, `go${tag}`);
  const procs = Array.from({ length: hosts }, (_, k) => {
    const dir = shared ? '/shared' : `/own-${k}`;
    const child = spawn(process.execPath, [join(root, 'bench', 'multihostWorker.mjs'), path, `6b00${k}000-00000001-0001-00000000000${k}`, `h${k}`, String(PER_HOST), String(WARM_UP), go, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    return { child, lines, exited: new Promise((r) => child.on('exit', r)) };
  });
  while (!procs.every((p) => p.lines.includes('ready'))) await new Promise((r) => setTimeout(r, 20));
  const t = process.hrtime.bigint();
  writeFileSync(go, '');
  await Promise.all(procs.map((p) => p.exited));
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  // Each host reports "<wall s> <cpu s>" for its creates: CPU per create, all hosts together.
  const cpu = procs.reduce((sum, p) => sum + Number(p.lines.at(-1).split(' ')[1]), 0);
  return { rate: (hosts * PER_HOST) / seconds, perCpuSecond: (hosts * PER_HOST) / cpu, cores: cpu / seconds };
}

const FUSE_PER_HOST = 1500;

/** A client of one mount: warms up in a directory of its own, then, once GO exists, creates COUNT files PREFIX0.. as a program would (open, close). */
const FUSE_CLIENT = `
const fs = require('node:fs');
const [prefix, count, go, warm] = process.argv.slice(1);
fs.mkdirSync(warm);
for (let i = 0; i < 300; i++) fs.closeSync(fs.openSync(warm + '/' + i, 'w'));
process.stdout.write('ready\\n');
while (!fs.existsSync(go)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
for (let i = 0; i < Number(count); i++) fs.closeSync(fs.openSync(prefix + i, 'w'));`;

/** The same through FUSE: `hosts` cluster mounts (vmfs mount --cluster) of one datastore, a client process on each. */
async function fuseRound(root, workdir, hosts) {
  const vmfs = (...args) => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'vmfs'), ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vmfs ${args.join(' ')}: ${r.stderr}`);
  };
  const path = join(workdir, `fuse${hosts}.vmfs`);
  vmfs('mkfs', '-d', path, '--size', '2G');
  const mounts = Array.from({ length: hosts }, (_, k) => join(workdir, `fuse${hosts}-m${k}`));
  const go = join(workdir, `fusego${hosts}`);
  try {
    for (const m of mounts) {
      mkdirSync(m);
      vmfs('mount', '-d', path, m, '--cluster');
    }
    mkdirSync(join(mounts[0], 'shared'));
    const procs = mounts.map((m, k) => {
      const child = spawn(process.execPath, ['-e', FUSE_CLIENT, join(m, 'shared', `h${k}-`), String(FUSE_PER_HOST), go, join(m, `warm${k}`)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = [];
      createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
      return { lines, exited: new Promise((r) => child.on('exit', r)) };
    });
    while (!procs.every((p) => p.lines.includes('ready'))) await new Promise((r) => setTimeout(r, 20));
    const t = process.hrtime.bigint();
    writeFileSync(go, '');
    await Promise.all(procs.map((p) => p.exited));
    return (hosts * FUSE_PER_HOST) / (Number(process.hrtime.bigint() - t) / 1e9);
  } finally {
    for (const m of mounts) spawnSync(process.execPath, [join(root, 'bin', 'vmfs'), 'umount', m]);
  }
}

export async function run({ workdir, root, log }) {
  const rows = [];
  const fuse = {};
  for (const n of [1, 4]) {
    fuse[n] = await fuseRound(root, workdir, n);
    log(`${n} FUSE-mounted host(s) in one shared directory: ${fuse[n].toFixed(0)} creates/s together`);
  }
  for (const n of [1, 4]) {
    rows.push({
      name: `${n} FUSE-mounted host${n > 1 ? 's' : ''} creating in one shared directory (together)`,
      value: fuse[n],
      unit: 'files/s',
      baseline: fuse[1],
      baselineName: 'one FUSE-mounted host',
      target: n === 4 ? '>= 200%' : undefined,
    });
  }
  for (const shared of [true, false]) {
    const where = shared ? 'in one shared directory' : 'each in its own directory';
    const r = {};
    for (const n of [1, 2, 4]) {
      r[n] = await round(root, workdir, n, shared);
      log(`${n} host(s) ${where}: ${r[n].rate.toFixed(0)} creates/s together, ${r[n].perCpuSecond.toFixed(0)} per CPU-second, ${r[n].cores.toFixed(2)} cores busy`);
    }
    for (const n of [1, 2, 4]) {
      rows.push({
        name: `${n} host${n > 1 ? 's' : ''} creating ${where} (together)`,
        value: r[n].rate,
        unit: 'files/s',
        baseline: r[1].rate,
        baselineName: 'one host',
        target: n === 4 && shared ? '>= 200%' : undefined,
      });
    }
    if (shared) {
      for (const n of [1, 4]) {
        rows.push({ name: `${n} host${n > 1 ? 's' : ''} in one shared directory: creates per CPU-second`, value: r[n].perCpuSecond, unit: 'files/s', baseline: r[1].perCpuSecond, baselineName: 'one host' });
      }
      rows.push({ name: 'one host creating: cores it keeps busy', value: r[1].cores, unit: 'cores', baseline: cpus().length, baselineName: 'cores of this machine' });
    }
  }
  return rows;
}
