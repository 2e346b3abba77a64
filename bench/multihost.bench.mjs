// Several hosts creating files at once (cluster mounts through the library,
// one process each), in one shared directory and each in a directory of its
// own: the aggregate create rate with 1, 2 and 4 hosts, against one host in
// the same run.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const title = 'Several hosts: creates in one shared directory and in their own';

export const notes = `
Every metadata commit runs under the volume-wide reservation, with one
journal flush inside it, so hosts take turns: together they commit about
as fast as one host, less the hand-over (a waiting host polls the bakery
every 0.25 ms at best, and a timer wakes it a millisecond later at best).
The change log keeps that hand-over cheap (a host reads only the records
of the commits it missed; before it, 4 hosts made 52 creates/s), but the
target (4 hosts at twice one host) needs commits under per-object locks
(the directory, the inodes, the host's own bitmap entries) instead of the
reservation, so that hosts working on different objects commit at once.
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
  return (hosts * PER_HOST) / seconds;
}

export async function run({ workdir, root, log }) {
  const rows = [];
  for (const shared of [true, false]) {
    const where = shared ? 'in one shared directory' : 'each in its own directory';
    const rates = {};
    for (const n of [1, 2, 4]) {
      rates[n] = await round(root, workdir, n, shared);
      log(`${n} host(s) ${where}: ${rates[n].toFixed(0)} creates/s together`);
    }
    for (const n of [1, 2, 4]) {
      rows.push({
        name: `${n} host${n > 1 ? 's' : ''} creating ${where} (together)`,
        value: rates[n],
        unit: 'files/s',
        baseline: rates[1],
        baselineName: 'one host',
        target: n === 4 && shared ? '>= 200%' : undefined,
      });
    }
  }
  return rows;
}
