// `vmfs vm ...`: VMs kept in the datastore (-d) or in a host folder: create
// them (or the samples), boot them on the MIPS machine, snapshot, revert,
// clone, and reach their guest file system from the host. See docs/VM.md.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve as resolveHostPath } from 'node:path';
import type { Command } from 'commander';
import type { ClusterMount } from '../fs/clusterMount.js';
import { mountClusteredDatastore, openDatastore } from '../fs/datastore.js';
import type { Vmfs } from '../fs/vmfs.js';
import { FsError } from '../util/errors.js';
import { formatSize } from '../util/size.js';
import { DiskError } from '../vdisk/errors.js';
import { HostFolder } from '../vdisk/hostFolder.js';
import { DiskError as MipsDiskError } from '../mips/disk.js';
import { MachineConfigError } from '../mips/exceptions.js';
import { LoaderError } from '../mips/loader/index.js';
import { VmError } from '../vm/errors.js';
import { terminal } from './terminal.js';
import { ClusterVmLock } from '../vm/clusterVmLock.js';
import { datastoreVm, type DatastoreFolder } from '../vm/datastoreFolder.js';
import { haPass, haWatch } from '../vm/ha.js';
import { cloneVm } from '../vm/clone.js';
import { createSample, createVm, SAMPLES } from '../vm/create.js';
import { withGuestFs } from '../vm/guestFiles.js';
import { runVm } from '../vm/runner.js';
import { checkSnapshotName, deleteSnapshot, revertTo, snapshotPoweredOff } from '../vm/snapshots.js';
import { FileVmLock, type VmLock } from '../vm/vmLock.js';
import { isUuid, newUuid } from '../util/uuid.js';
import { checkVmName, loadConfig, loadTree, type Vm } from '../vm/vmFiles.js';
import { drawTree } from '../vm/vmsd.js';
import { extentList, sizeArgument } from './datastoreOption.js';
import { UsageError } from './exitCodes.js';

interface Where {
  datastore?: string;
  hostUuid?: string;
}

/** Where VMs live for one command: folders of one datastore (joined as a cluster host when writing), or host folders. */
interface VmPlace {
  vm(path: string, create?: boolean): Promise<Vm>;
  /** What keeps other runners off a VM: its on-disk cluster lock in a datastore, its lock file in a host folder. */
  lock(v: Vm): VmLock;
  /** The cluster membership, when the datastore was joined. */
  mount?: ClusterMount;
  close(): Promise<void>;
}

function hostUuidOf(opts: Where): string {
  if (opts.hostUuid === undefined) return newUuid();
  if (!isUuid(opts.hostUuid)) throw new UsageError(`--host-uuid ${opts.hostUuid}: not a VMFS UUID (xxxxxxxx-xxxxxxxx-xxxx-xxxxxxxxxxxx)`);
  return opts.hostUuid;
}

async function openPlace(opts: Where, readOnly: boolean): Promise<VmPlace> {
  if (opts.datastore === undefined) {
    if (opts.hostUuid !== undefined) throw new UsageError('--host-uuid goes with -d (a VM in a host folder is locked by its lock file)');
    return {
      async vm(path, create) {
        const dir = resolveHostPath(path);
        if (create) mkdirSync(dir, { recursive: true });
        return { folder: new HostFolder(dir), name: checkVmName(basename(dir)), sibling: async (n) => new HostFolder(join(dirname(dir), checkVmName(n))) };
      },
      lock: (v) => new FileVmLock(v.folder, v.name),
      async close() {},
    };
  }
  const extents = extentList(opts.datastore);
  const hostUuid = readOnly ? null : hostUuidOf(opts);
  // Writers join the cluster: their VM locks are on-disk locks, held through this host's heartbeat.
  const mount = hostUuid === null ? undefined : await mountClusteredDatastore(extents, hostUuid);
  const fs: Vmfs = mount ? mount.fs : await openDatastore(extents, { readOnly: true });
  return {
    mount,
    async vm(path, create) {
      const parts = path.split('/').filter(Boolean);
      if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) throw new UsageError(`'${path}' is not a VM path in the datastore`);
      const dir = '/' + parts.join('/');
      if (create) {
        try {
          await fs.mkdir(dir);
        } catch (e) {
          if (!(e instanceof FsError && e.code === 'EEXIST')) throw e;
        }
      }
      return datastoreVm(fs, dir, checkVmName(parts[parts.length - 1]));
    },
    lock(v) {
      if (!mount) throw new Error('a read-only command takes no VM lock');
      return new ClusterVmLock(mount, v.folder as DatastoreFolder, v.name);
    },
    async close() {
      if (!mount) return fs.close();
      // A fenced host may write nothing, not even its leaving: survivors take it over.
      if (!mount.member.host.fenced) await mount.leave();
      await mount.volume.close();
    },
  };
}

async function withPlace<T>(opts: Where, readOnly: boolean, fn: (p: VmPlace) => Promise<T>): Promise<T> {
  const place = await openPlace(opts, readOnly);
  let failed = false;
  try {
    return await fn(place);
  } catch (e) {
    failed = true;
    // The layers' own refusals (a damaged disk, a bad executable) are the user's to fix: one line, exit 1.
    if (e instanceof DiskError || e instanceof MipsDiskError || e instanceof MachineConfigError || e instanceof LoaderError) throw new VmError(e.message);
    throw e;
  } finally {
    // Closing after a failure must not hide it.
    if (failed) await place.close().catch(() => undefined);
    else await place.close();
  }
}

const print = (line: string): void => void process.stdout.write(`${line}\n`);
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function ticksArgument(text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text) || Number(text) <= 0) throw new UsageError(`${what}: '${text}' is not a positive tick count`);
  return Number(text);
}

export function registerVmCommand(program: Command): void {
  const vm = program.command('vm').description('virtual machines in the datastore, booted on the MIPS machine');
  const sub = (spec: string, what: string) =>
    vm
      .command(spec)
      .description(what)
      .option('-d, --datastore <extents>', 'the VM is a folder of this datastore (EXT[,EXT...]); without it, a host folder')
      .option('--host-uuid <uuid>', 'with -d: join the datastore as this cluster host (default: a new UUID)');

  sub('create <name>', 'create a VM: NAME/NAME.vmx, a thin NAME.vmdk holding a guest file system with the programs')
    .option('--mem <size>', 'memory (1M to 256M)', '16M')
    .option('--disk <size>', 'disk capacity', '4M')
    .option('--add <prog[:guestname]>', 'put a host program on the guest disk (repeatable)', collect)
    .option('--init <guestname>', 'the program the VM boots (default: the first --add)')
    .option('--sample <sample>', `a sample VM from fixtures/guest: ${Object.keys(SAMPLES).join(', ')}`)
    .action(async (name: string, opts: Where & { mem: string; disk: string; add?: string[]; init?: string; sample?: string }) => {
      const memMiB = sizeArgument(opts.mem, '--mem') / 2 ** 20;
      if (!Number.isInteger(memMiB)) throw new UsageError('--mem must be a whole number of MiB');
      const diskBytes = sizeArgument(opts.disk, '--disk');
      if (opts.sample !== undefined && (opts.add || opts.init)) throw new UsageError('--sample comes with its own programs (no --add or --init)');
      const files = (opts.add ?? []).map((spec) => {
        const at = spec.lastIndexOf(':');
        const host = at > 0 ? spec.slice(0, at) : spec;
        return { name: at > 0 ? spec.slice(at + 1) : basename(host), data: readFileSync(host) };
      });
      if (opts.sample === undefined && files.length === 0) throw new UsageError('give the programs with --add PROG[:GUESTNAME] (or use --sample)');
      await withPlace(opts, false, async (place) => {
        const v = await place.vm(name, true);
        if (opts.sample !== undefined) await createSample(v, opts.sample, { memMiB, diskBytes });
        else await createVm(v, { memMiB, diskBytes, files, init: opts.init });
        print(`created VM ${v.name} in ${v.folder.describe('')}: ${memMiB} MiB, disk ${formatSize(diskBytes)}`);
      });
    });

  sub('create-samples', `create the sample VMs (${Object.keys(SAMPLES).join(', ')}) in folders of those names`).action(async (opts: Where) => {
    await withPlace(opts, false, async (place) => {
      for (const [name, s] of Object.entries(SAMPLES)) {
        await createSample(await place.vm(name, true), name);
        print(`created ${name}: ${s.about}`);
      }
    });
  });

  sub('run <name> [snapshot]', "boot the VM (console on stdin/stdout); exits with the guest's status")
    .option('--snapshot <snap>', 'resume from this snapshot (reverting to it first)')
    .option('--snapshot-at <ticks[:snap]>', 'take a running snapshot at this tick (named by [snapshot] or :snap; repeatable)', collect)
    .option('--checkpoint-every <ticks>', 'keep a "checkpoint" snapshot, renewed every this many ticks')
    .option('--max-ticks <ticks>', 'stop after this many ticks (the run is lost)')
    .option('--stats', 'print the machine statistics to stderr at the end')
    .action(async (name: string, snapName: string | undefined, opts: Where & { snapshot?: string; snapshotAt?: string[]; checkpointEvery?: string; maxTicks?: string; stats?: boolean }) => {
      const at = (opts.snapshotAt ?? []).map((spec, i, all) => {
        const [t, n] = spec.split(/:(.*)/s);
        const snap = n ?? (snapName !== undefined ? (all.length > 1 ? `${snapName}-${i + 1}` : snapName) : undefined);
        if (snap === undefined) throw new UsageError(`--snapshot-at ${spec}: name the snapshot (vm run NAME SNAP --snapshot-at TICKS, or TICKS:SNAP)`);
        return { ticks: ticksArgument(t, '--snapshot-at'), name: checkSnapshotName(snap) };
      });
      if (snapName !== undefined && at.length === 0) throw new UsageError(`'${snapName}': a snapshot name after the VM goes with --snapshot-at (to resume one, use --snapshot)`);
      const checkpointEvery = opts.checkpointEvery !== undefined ? ticksArgument(opts.checkpointEvery, '--checkpoint-every') : undefined;
      const maxTicks = opts.maxTicks !== undefined ? ticksArgument(opts.maxTicks, '--max-ticks') : undefined;
      process.exitCode = await withPlace(opts, false, async (place) => {
        const v = await place.vm(name);
        const term = terminal();
        const flush = term.flush;
        try {
          const r = await runVm(v, {
            input: term.input,
            output: term.output,
            onMessage: term.message,
            snapshot: opts.snapshot,
            snapshotAt: at,
            checkpointEvery,
            maxTicks,
            lock: place.lock(v),
          });
          flush();
          for (const s of r.snapshots) process.stderr.write(`vmfs: snapshot '${s}' taken\n`);
          if (opts.stats) process.stderr.write(`ticks ${r.ticks} (user ${r.result.stats.userTicks}, system ${r.result.stats.systemTicks}, idle ${r.result.stats.idleTicks}); disk reads ${r.result.stats.numDiskReads}, writes ${r.result.stats.numDiskWrites}\n`);
          if (r.result.reason === 'limit') process.stderr.write(`vmfs: stopped at --max-ticks ${maxTicks} (tick ${r.ticks})\n`);
          return r.exitCode;
        } finally {
          term.close();
        }
      });
    });

  sub('snapshot <name> <snap>', 'snapshot a powered-off VM, or with --delete remove a snapshot (consolidating its disk)')
    .option('--delete', 'delete the snapshot')
    .action(async (name: string, snap: string, opts: Where & { delete?: boolean }) => {
      await withPlace(opts, false, async (place) => {
        const v = await place.vm(name);
        await locked(place, v, async () => {
          if (opts.delete) {
            const merged = await deleteSnapshot(v, snap);
            print(`deleted snapshot '${snap}'${merged ? ' (disk consolidated)' : ' (its disk layer stays: other layers build on it)'}`);
          } else {
            const s = await snapshotPoweredOff(v, snap);
            print(`snapshot '${snap}' taken (disk ${s.disk} frozen)`);
          }
        });
      });
    });

  sub('revert <name> <snap>', 'go back to a snapshot (the current state is discarded)').action(async (name: string, snap: string, opts: Where) => {
    await withPlace(opts, false, async (place) => {
      const v = await place.vm(name);
      await locked(place, v, async () => {
        const s = await revertTo(v, snap);
        print(`reverted ${v.name} to '${snap}'${s.running ? ` (running at tick ${s.ticks}: 'vm run ${v.name} --snapshot ${snap}' resumes it)` : ''}`);
      });
    });
  });

  sub('snapshots <name>', 'show the snapshot tree').action(async (name: string, opts: Where) => {
    await withPlace(opts, true, async (place) => print(drawTree(await loadTree(await place.vm(name)))));
  });

  sub('clone <src> <dst>', 'clone a VM: a full copy of its disk, or with --linked a delta on a snapshot of it')
    .option('--snapshot <snap>', 'clone the disk as this snapshot froze it')
    .option('--linked', 'linked clone: DST (beside SRC) gets a delta on the snapshot\'s frozen layer')
    .action(async (src: string, dst: string, opts: Where & { snapshot?: string; linked?: boolean }) => {
      if (opts.linked && opts.snapshot === undefined) throw new UsageError('--linked needs --snapshot SNAP (a linked clone builds on a snapshot)');
      await withPlace(opts, false, async (place) => {
        const s = await place.vm(src);
        const d = await place.vm(dst, true);
        await locked(place, s, () => cloneVm(s, d, { snapshot: opts.snapshot, linked: opts.linked }));
        print(`cloned ${s.name} to ${d.name}${opts.linked ? ` (linked to snapshot '${opts.snapshot}')` : ''}`);
      });
    });

  sub('ha', "restart the VMs of dead hosts from their checkpoints, as a cluster host of the datastore (-d)")
    .option('--watch', 'keep watching (until SIGINT or SIGTERM); without it, one pass after a lease, then exit')
    .option('--folder <path>', 'a datastore folder whose sub-folders are VMs (repeatable; default /)', collect)
    .option('--checkpoint-every <ticks>', 'checkpoint interval of the VMs restarted here')
    .action(async (opts: Where & { watch?: boolean; folder?: string[]; checkpointEvery?: string }) => {
      if (opts.datastore === undefined) throw new UsageError('vm ha needs the datastore (-d EXTENTS): it watches its cluster hosts');
      const checkpointEvery = opts.checkpointEvery !== undefined ? ticksArgument(opts.checkpointEvery, '--checkpoint-every') : undefined;
      const folders = (opts.folder ?? ['/']).map((f) => '/' + f.split('/').filter(Boolean).join('/'));
      await withPlace(opts, false, async (place) => {
        const mount = place.mount!;
        const ha = { mount, folders, checkpointEvery, report: (line: string) => print(`vmfs vm ha: ${line}`) };
        print(`vmfs vm ha: host ${mount.member.host.uuid} watching ${folders.join(', ')}`);
        if (!opts.watch) {
          ha.report(`${await haPass(ha)} VM(s) restarted here`);
          return;
        }
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
        try {
          await haWatch(ha, stop.signal);
        } finally {
          process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
        }
      });
    });

  const disk = vm.command('disk').description("the guest file system on a VM's disk, from the host (like mtools)");
  const dsub = (spec: string, what: string) =>
    disk
      .command(spec)
      .description(what)
      .option('-d, --datastore <extents>', 'the VM is a folder of this datastore')
      .option('--host-uuid <uuid>', 'with -d, when writing: join the datastore as this cluster host (default: a new UUID)');
  dsub('ls <name>', 'list the guest files').action(async (name: string, opts: Where) => {
    await withPlace(opts, true, async (place) => {
      for (const f of await withGuestFs(await place.vm(name), false, (fs) => fs.list())) print(`${String(f.size).padStart(8)}  ${f.name}`);
    });
  });
  dsub('put <name> <hostfile> [guestname]', 'copy a host file onto the guest disk').action(async (name: string, host: string, guest: string | undefined, opts: Where) => {
    const data = readFileSync(host);
    await withPlace(opts, false, async (place) => {
      const v = await place.vm(name);
      await withGuestFs(v, true, (fs) => fs.writeFile(guest ?? basename(host), data), place.lock(v));
    });
  });
  dsub('get <name> <guestname> [hostfile]', 'copy a guest file to the host (- for stdout)').action(async (name: string, guest: string, host: string | undefined, opts: Where) => {
    await withPlace(opts, true, async (place) => {
      const data = await withGuestFs(await place.vm(name), false, (fs) => fs.readFile(guest));
      if (host === '-') process.stdout.write(data);
      else writeFileSync(host ?? guest, data);
    });
  });
  dsub('rm <name> <guestname>', 'remove a guest file').action(async (name: string, guest: string, opts: Where) => {
    await withPlace(opts, false, async (place) => {
      const v = await place.vm(name);
      await withGuestFs(v, true, (fs) => fs.remove(guest), place.lock(v));
    });
  });
}

/** Runs `fn` holding the VM's lock (nothing may change a running VM). */
async function locked(place: VmPlace, v: Vm, fn: () => Promise<void>): Promise<void> {
  await loadConfig(v);
  const lock = place.lock(v);
  await lock.acquire();
  try {
    await fn();
  } finally {
    await lock.release();
  }
}
