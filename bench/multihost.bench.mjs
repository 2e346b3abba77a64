// Several hosts creating files in one shared directory at once (cluster
// mounts through the library, one process each): the aggregate create rate
// with 1, 2 and 4 hosts, against one host in the same run.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const title = 'Several hosts: creates in one shared directory';

const PER_HOST = 1500;

async function round(root, workdir, hosts) {
  const { formatDatastore } = await import(join(root, 'dist', 'fs', 'datastore.js'));
  const path = join(workdir, `h${hosts}.vmfs`);
  const fs = await formatDatastore([path], { size: 2 ** 30 });
  await fs.mkdir('/shared');
  await fs.close();
  const go = join(workdir, `go${hosts}`);
  const procs = Array.from({ length: hosts }, (_, k) => {
    const child = spawn(process.execPath, [join(root, 'bench', 'multihostWorker.mjs'), path, `6b00${k}000-00000001-0001-00000000000${k}`, `h${k}`, String(PER_HOST), go], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  const rates = {};
  for (const n of [1, 2, 4]) {
    rates[n] = await round(root, workdir, n);
    log(`${n} host(s): ${rates[n].toFixed(0)} creates/s together`);
  }
  return [1, 2, 4].map((n) => ({
    name: `${n} host${n > 1 ? 's' : ''} creating in one shared directory (together)`,
    value: rates[n],
    unit: 'files/s',
    baseline: rates[1],
    baselineName: 'one host',
    target: n === 4 ? '>= 200%' : undefined,
  }));
}
