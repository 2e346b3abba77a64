// Cluster views: vmfs hosts (heartbeat slots) and vmfs locks (who holds what).
import { Command } from 'commander';
import { readClusterConfig } from '../cluster/clusterConfig.js';
import { LockHeader, LockMode } from '../cluster/lockHeader.js';
import { slotIndex } from '../cluster/heartbeat.js';
import { surveyHosts } from '../cluster/survey.js';
import { inodeId } from '../fs/blockId.js';
import { Vmfs } from '../fs/vmfs.js';
import { addDatastoreOption, withDatastore } from './datastoreOption.js';

const MODE_NAMES: Record<number, string> = { [LockMode.Exclusive]: 'exclusive', [LockMode.ReadOnly]: 'read-only', [LockMode.MultiWriter]: 'multi-writer' };

export function registerClusterCommands(program: Command): void {
  addDatastoreOption(program.command('hosts').description('list the hosts using the datastore (heartbeat slots in use)'))
    .option('--json', 'machine-readable output')
    .option('--watch <ms>', 'how long to watch the slots for renewals (default: 1.5 renewal intervals)')
    .action(async (opts) => {
      await withDatastore(opts, true, async (fs) => {
        const config = await readClusterConfig(fs.volume);
        const watchMs = opts.watch === undefined ? Math.round(config.renewMs * 1.5) : Number(opts.watch);
        const rows = await surveyHosts(fs.volume, watchMs);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ leaseMs: config.leaseMs, renewMs: config.renewMs, watchedMs: watchMs, hosts: rows }, null, 2) + '\n');
          return;
        }
        process.stdout.write(`lease ${config.leaseMs / 1000} s, renewal every ${config.renewMs / 1000} s; watched ${watchMs} ms\n`);
        if (rows.length === 0) process.stdout.write('no host is using the datastore\n');
        for (const r of rows) {
          process.stdout.write(
            `slot ${String(r.slot).padStart(4)}  ${r.uuid}  ${r.state.padEnd(9)} generation ${r.generation}  ${r.renewed ? 'renewed while watched' : 'NOT renewed while watched'}  journal block ${r.journalBlock}\n`,
          );
        }
      });
    });

  addDatastoreOption(program.command('locks').description('show the locks held on files and bitmap entries'))
    .argument('[path]', 'one file or directory (default: every lock held)')
    .option('--json', 'machine-readable output')
    .action(async (path: string | undefined, opts) => {
      await withDatastore(opts, true, async (fs) => {
        const rows = path === undefined ? await allLocks(fs) : [await lockOf(fs, path)];
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        if (rows.length === 0) process.stdout.write('no locks held\n');
        for (const r of rows) {
          process.stdout.write(`${r.object}: ${r.mode}${r.mode === 'free' ? '' : ` by ${r.holder} (slot ${r.slot}, generation ${r.generation})`}, obj_seq ${r.objSeq}\n`);
        }
      });
    });
}

function row(object: string, h: LockHeader) {
  return { object, mode: MODE_NAMES[h.mode] ?? (h.mode === LockMode.Free ? 'free' : `mode ${h.mode}`), holder: h.hbUuid, slot: h.hbPos ? slotIndex(h.hbPos) : null, generation: h.hbSeq, objSeq: h.objSeq };
}

async function lockOf(fs: Vmfs, path: string) {
  const id = await fs.resolve(null, path, false);
  return row(path, (await fs.inode(null, id)).lock);
}

async function allLocks(fs: Vmfs) {
  const out = [];
  for (const [entry, e] of fs.fdc.entries.entries()) {
    for (let item = 0; item < fs.fdc.layout.itemsInEntry(entry); item++) {
      if (e.bitmap[item >> 3] & (1 << (item & 7))) continue; // free
      try {
        const inode = await fs.inode(null, inodeId({ entry, item }));
        if (inode.lock.mode !== LockMode.Free) out.push(row(`inode 0x${inode.id.toString(16)}`, inode.lock));
      } catch {
        /* damaged: fsck's business */
      }
    }
  }
  for (const res of [fs.fbb, fs.sbc, fs.pbc, fs.fdc]) {
    res.entries.forEach((e, i) => {
      if (e.lock.mode !== LockMode.Free) out.push(row(`${res.kind} entry ${i}`, e.lock));
    });
  }
  return out;
}
