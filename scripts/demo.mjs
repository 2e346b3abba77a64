#!/usr/bin/env node
// `npm run demo`: the main job on an embedded default. Formats a two-extent
// datastore in a temporary folder, writes files into it, lists them, grows
// the datastore by a third extent, shows `vmfs info`, creates a sample VM in
// it, boots it on the bundled MIPS machine taking a snapshot midway, boots
// the snapshot, and checks the datastore, echoing each command as a user
// would type it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const vmfs = fileURLToPath(new URL('../bin/vmfs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vmfs-demo-'));
const keep = process.argv.includes('--keep');
const ds = `${dir}/lun0.vmfs,${dir}/lun1.vmfs`;

function run(...args) {
  const shown = args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ').replaceAll(dir, '$DEMO');
  process.stdout.write(`\n$ vmfs ${shown}\n`);
  const r = spawnSync(process.execPath, [vmfs, ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`demo: command failed with exit code ${r.status}\n`);
    process.exit(1);
  }
}

process.stdout.write(`Demo datastore in $DEMO=${dir}\n`);
run('mkfs', '-d', ds, '--size', '600M', '--label', 'demo-datastore');
writeFileSync(join(dir, 'notes.txt'), 'VMs live in folders: config, disks, snapshots.\n');
writeFileSync(join(dir, 'disk.img'), Buffer.alloc(48 * 2 ** 20, 0x5a));
run('mkdir', '-p', '-d', ds, '/vms/demo-vm');
run('put', '-d', ds, join(dir, 'notes.txt'), '/vms/demo-vm/notes.txt');
run('put', '-d', ds, join(dir, 'disk.img'), '/vms/demo-vm/disk.img');
run('ln', '-s', '-d', ds, 'vms/demo-vm', '/current');
run('ls', '-l', '-d', ds, '/vms/demo-vm');
run('cat', '-d', ds, '/current/notes.txt');
run('extend', '-d', ds, '--add', `${dir}/lun2.vmfs`, '--size', '600M');
const grown = `${ds},${dir}/lun2.vmfs`;
run('info', '-d', grown);
run('df', '-d', grown);
run('vm', 'create', '-d', grown, 'multiprog', '--sample', 'multiprog');
run('vm', 'run', '-d', grown, 'multiprog', 'midway', '--snapshot-at', '2000000', '--stats'); // boots init: Execs matmult and sort, Joins both
run('vm', 'snapshots', '-d', grown, 'multiprog');
run('vm', 'run', '-d', grown, 'multiprog', '--snapshot', 'midway', '--stats'); // resumes where the snapshot was taken: same output, same ticks
run('ls', '-l', '-d', grown, '/multiprog');
run('fsck', '-d', grown);
if (keep) process.stdout.write(`\nkept: ${dir}\n`);
else rmSync(dir, { recursive: true, force: true });
