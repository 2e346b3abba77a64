// fsck on a volume with 100,000 files and directories, beside Debian's
// fsck.vmfs on the same volume in the same run.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const title = 'fsck: a volume with 100,000 files and directories';

const DIRS = 1000;
const PER_DIR = 100;

function timed(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  return { s, r };
}

export async function run({ workdir, root, log }) {
  const { formatDatastore } = await import(join(root, 'dist', 'fs', 'datastore.js'));
  const extent = join(workdir, 'e0');
  const fs = await formatDatastore([extent], { size: 4 * 2 ** 30, inodes: 110_000 });
  for (let d = 0; d < DIRS; d++) {
    await fs.mkdir(`/d${d}`);
    for (let f = 0; f < PER_DIR - 1; f++) await fs.create(`/d${d}/f${f}`);
  }
  await fs.close();
  const entries = DIRS * PER_DIR;
  log(`${entries} files and directories created`);
  const ours = timed(process.execPath, [join(root, 'bin', 'vmfs'), 'fsck', '-d', extent]);
  if (ours.r.status !== 0) throw new Error(`vmfs fsck: ${ours.r.stdout}${ours.r.stderr}`);
  const theirs = timed('fsck.vmfs', [extent]);
  if (!/Directory errors\s*: 0/.test(theirs.r.stdout)) throw new Error(`fsck.vmfs: ${theirs.r.stdout}`);
  log(`vmfs fsck ${ours.s.toFixed(2)} s, fsck.vmfs ${theirs.s.toFixed(2)} s`);
  return [
    { name: `vmfs fsck -n, ${entries} files and directories`, value: ours.s, unit: 's', target: '< 10 s' },
    { name: 'vmfs fsck -n, checking rate', value: entries / ours.s, unit: 'files/s', baseline: entries / theirs.s, baselineName: "Debian's fsck.vmfs" },
  ];
}
