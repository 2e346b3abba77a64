// `vmfs disk ...`: create, inspect, snapshot, commit, clone, convert and check
// VMDKs, on the host file system or (with -d) inside a datastore.
import type { Command } from 'commander';
import { posix, resolve as resolveHostPath, dirname } from 'node:path';
import { formatSize, parseSize } from '../util/size.js';
import { checkDisk } from '../vdisk/check.js';
import type { DiskFolder } from '../vdisk/file.js';
import { HostFolder } from '../vdisk/hostFolder.js';
import { progressBar as sharedProgressBar } from './progress.js';
import { cloneDisk, commitDisk, convertDisk, diskInfo, snapshotDisk, type ConvertTarget, type DiskRef, type LayerInfo, type Progress } from '../vdisk/operations.js';
import { createDisk, type DiskType } from '../vdisk/virtualDisk.js';

/** Opens the folder of a path inside the datastore that `opts.datastore` names. */
export type OpenFolder = (pathInDatastore: string, opts: any) => Promise<{ folder: DiskFolder; name: string }>;

interface DiskOptions {
  datastore?: string;
}

export function registerDiskCommand(program: Command, openFolder?: OpenFolder): void {
  const disk = program.command('disk').description('virtual disks (VMDK): create, inspect, snapshot, commit, clone, convert, check');
  const sub = (spec: string, what: string) =>
    disk.command(spec).description(what).option('-d, --datastore <extents>', 'the paths are in this datastore (EXT[,EXT...])');

  sub('create <path>', 'create a disk: thin (monolithicSparse) or thick (monolithicFlat, zeroed)')
    .requiredOption('--size <size>', 'capacity, e.g. 512M, 2G, 10G')
    .option('--type <type>', 'thin or thick', 'thin')
    .action(async (path: string, opts: DiskOptions & { size: string; type: string }) => {
      const type = choice(opts.type, ['thin', 'thick'], '--type') as DiskType;
      const size = parseSize(opts.size);
      if (size % 512 !== 0) throw new Error(`--size ${opts.size}: a disk holds whole 512-byte sectors`);
      await withDisks([path], opts, openFolder, async ([ref]) => {
        const bar = progressBar('zeroing');
        const d = await createDisk(ref.folder, ref.name, { size, type, onProgress: bar?.update });
        bar?.done();
        await d.close();
        print(`created ${ref.folder.describe(ref.name)}: ${type}, ${formatSize(size)}`);
      });
    });

  sub('info <path>', 'format, capacity, allocated space and the parent chain')
    .option('--json', 'print JSON')
    .action(async (path: string, opts: DiskOptions & { json?: boolean }) => {
      await withDisks([path], opts, openFolder, async ([ref]) => {
        const info = await diskInfo(ref.folder, ref.name);
        if (opts.json) return print(JSON.stringify(info, null, 2));
        print(`${info.path}`);
        print(`  format:    ${info.format} (${info.type})`);
        print(`  capacity:  ${formatSize(info.capacity)} (${info.capacity} bytes)`);
        print(`  allocated: ${formatSize(info.allocated)}`);
        print(`  CID:       ${info.cid}`);
        if (info.chain.length > 1) {
          print(`  chain (top first):`);
          for (const l of info.chain) print(`    ${layerLine(l)}`);
        }
      });
    });

  sub('snapshot <path>', 'freeze the disk and put a new delta (NAME-00000N.vmdk) on top; writes go to the delta')
    .action(async (path: string, opts: DiskOptions) => {
      await withDisks([path], opts, openFolder, async ([ref]) => {
        const delta = await snapshotDisk(ref.folder, ref.name);
        print(`${ref.folder.describe(ref.name)} is frozen; new writes go to ${ref.folder.describe(delta)}`);
      });
    });

  sub('commit <path>', 'merge a delta disk into its parent and remove it')
    .action(async (path: string, opts: DiskOptions) => {
      await withDisks([path], opts, openFolder, async ([ref]) => {
        const bar = progressBar('committing');
        const parent = await commitDisk(ref.folder, ref.name, bar?.update);
        bar?.done();
        print(`merged ${ref.folder.describe(ref.name)} into ${ref.folder.describe(parent)} (delta removed)`);
      });
    });

  sub('clone <src> <dst>', 'copy a disk (same type), or with --linked make a delta on top of it')
    .option('--linked', 'linked clone: a delta whose parent is SRC (SRC is frozen from then on)')
    .action(async (src: string, dst: string, opts: DiskOptions & { linked?: boolean }) => {
      await withDisks([src, dst], opts, openFolder, async ([s, d]) => {
        const bar = opts.linked ? undefined : progressBar('cloning');
        await cloneDisk(s, d, { linked: !!opts.linked }, bar?.update);
        bar?.done();
        print(`cloned ${s.folder.describe(s.name)} to ${d.folder.describe(d.name)}${opts.linked ? ' (linked)' : ''}`);
      });
    });

  sub('convert <src> <dst>', 'copy what a disk (or a raw SRC.raw/SRC.img image) reads into a raw image or a thin or thick VMDK')
    .requiredOption('--to <type>', 'raw, thin or thick')
    .action(async (src: string, dst: string, opts: DiskOptions & { to: string }) => {
      const to = choice(opts.to, ['raw', 'thin', 'thick'], '--to') as ConvertTarget;
      await withDisks([src, dst], opts, openFolder, async ([s, d]) => {
        const bar = progressBar('converting');
        await convertDisk(s, d, to, bar?.update);
        bar?.done();
        print(`converted ${s.folder.describe(s.name)} to ${d.folder.describe(d.name)} (${to})`);
      });
    });

  sub('check <path>', 'check a disk and its parent chain')
    .action(async (path: string, opts: DiskOptions) => {
      await withDisks([path], opts, openFolder, async ([ref]) => {
        const report = await checkDisk(ref.folder, ref.name);
        for (const w of report.warnings) print(`warning: ${w}`);
        for (const e of report.errors) print(`error: ${e}`);
        const what = ref.folder.describe(ref.name);
        if (report.errors.length > 0) throw new Error(`${what}: ${report.errors.length} error${report.errors.length > 1 ? 's' : ''} found`);
        print(`${what}: no errors found (${report.layers.length} layer${report.layers.length > 1 ? 's' : ''} checked)`);
      });
    });
}

function layerLine(l: LayerInfo): string {
  return `${l.path}  ${l.format}  ${formatSize(l.allocated)} allocated  CID ${l.cid}${l.parentCid ? `  parentCID ${l.parentCid}` : ''}`;
}

function choice(value: string, allowed: string[], option: string): string {
  if (!allowed.includes(value)) throw new Error(`${option} ${value}: use ${allowed.join(', ')}`);
  return value;
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Resolves paths to disks in folders (host, or the datastore with -d), runs
 * `work`, and closes the folders. Paths in one folder share one DiskFolder,
 * which linked clones need.
 */
async function withDisks(paths: string[], opts: DiskOptions, openFolder: OpenFolder | undefined, work: (refs: DiskRef[]) => Promise<void>): Promise<void> {
  const refs: DiskRef[] = [];
  const byDir = new Map<string, DiskFolder>();
  try {
    for (const path of paths) {
      if (opts.datastore !== undefined) {
        if (!openFolder) throw new Error('-d: datastore paths are not available in this command');
        const dir = posix.dirname(posix.normalize(`/${path}`));
        const shared = byDir.get(dir);
        const ref = await openFolder(path, opts);
        if (shared) await ref.folder.close?.();
        else byDir.set(dir, ref.folder);
        refs.push({ folder: shared ?? ref.folder, name: ref.name });
      } else {
        const dir = dirname(resolveHostPath(path));
        const ref = HostFolder.forPath(path);
        const shared = byDir.get(dir);
        if (!shared) byDir.set(dir, ref.folder);
        refs.push({ folder: shared ?? ref.folder, name: ref.name });
      }
    }
    await work(refs);
  } finally {
    for (const f of byDir.values()) await f.close?.();
  }
}

/** The shared progress bar, showing bytes. */
function progressBar(label: string): { update: Progress; done(): void } | undefined {
  const bar = sharedProgressBar(label, formatSize);
  return bar && { update: (done: number, total: number) => bar.update(done, total), done: () => bar.done() };
}
