// Datastore commands: mkfs, info, df.
import { Command } from 'commander';
import { extendDatastore, formatDatastore, growLastExtent } from '../fs/datastore.js';
import { BLOCK_SIZES } from '../fs/fsInfo.js';
import { Vmfs } from '../fs/vmfs.js';
import { formatSize } from '../util/size.js';
import { SEGMENT_SIZE } from '../volume/volumeHeader.js';
import { addDatastoreOption, extentList, sizeArgument, withDatastore } from './datastoreOption.js';
import { UsageError } from './exitCodes.js';

export function registerVolumeCommands(program: Command): void {
  addDatastoreOption(program.command('mkfs').description('format a datastore on one or more extents (files are created or extended)'))
    .option('-s, --size <size>', 'size of each extent file, e.g. 512M, 2G (files are sparse)')
    .option('-L, --label <label>', 'volume label', '')
    .option('-b, --block-size <size>', 'file block size: 1M, 2M, 4M or 8M', '1M')
    .option('--inodes <count>', 'number of inodes (default: one per 64 KiB)')
    .option('-f, --force', 'overwrite an existing datastore')
    .action(async (opts) => {
      const blockSize = sizeArgument(opts.blockSize, '--block-size');
      if (!BLOCK_SIZES.includes(blockSize)) throw new UsageError(`block size ${opts.blockSize}: use 1M, 2M, 4M or 8M`);
      if (Buffer.byteLength(opts.label) > 127) throw new UsageError('label longer than 127 bytes');
      const inodes = opts.inodes === undefined ? undefined : Number(opts.inodes);
      if (inodes !== undefined && !Number.isInteger(inodes)) throw new UsageError(`--inodes ${opts.inodes}: not a number`);
      const fs = await formatDatastore(extentList(opts.datastore), {
        size: opts.size === undefined ? undefined : sizeArgument(opts.size, '--size'),
        label: opts.label,
        blockSize,
        inodes,
        force: !!opts.force,
      });
      try {
        const s = fs.statfs();
        process.stdout.write(
          `formatted VMFS3 datastore ${fs.info.uuid}${fs.info.label ? ` "${fs.info.label}"` : ''}: ${formatSize(fs.volume.size)} on ${fs.volume.extents.length} extent(s), ` +
            `${formatSize(fs.blockSize)} blocks, ${s.totalInodes} inodes\n`,
        );
      } finally {
        await fs.close();
      }
    });

  addDatastoreOption(program.command('extend').description('add an extent to the datastore (crash-safe; the file is created if needed)'))
    .requiredOption('--add <extent>', 'the new extent: a file or block device')
    .option('-s, --size <size>', 'create or extend the new extent file to this size, e.g. 2G')
    .option('-f, --force', 'add a device even if it holds a VMFS extent already')
    .action(async (opts) => {
      const r = await extendDatastore(extentList(opts.datastore), opts.add, { size: opts.size === undefined ? undefined : sizeArgument(opts.size, '--size'), force: !!opts.force });
      process.stdout.write(`extended: ${formatSize(r.oldSize)} -> ${formatSize(r.newSize)} (+${r.addedSegments} segments on ${opts.add})${online(r.hosts)}\n`);
    });

  addDatastoreOption(program.command('grow').description('grow the datastore into the room its last extent gained (crash-safe)'))
    .action(async (opts) => {
      const r = await growLastExtent(extentList(opts.datastore));
      process.stdout.write(`grown: ${formatSize(r.oldSize)} -> ${formatSize(r.newSize)} (+${r.addedSegments} segments)${online(r.hosts)}\n`);
    });

  addDatastoreOption(program.command('info').description('show the datastore: label, UUID, capacity, extents'))
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      await withDatastore(opts, true, async (fs) => {
        const info = describe(fs);
        if (opts.json) {
          process.stdout.write(JSON.stringify(info, null, 2) + '\n');
          return;
        }
        process.stdout.write(
          `Label:       ${info.label || '(none)'}\nFS UUID:     ${info.uuid}\nLVM UUID:    ${info.lvmUuid}\nVersion:     VMFS3 (version ${info.version}.${info.minorVersion})\n` +
            `Block size:  ${formatSize(info.blockSize)}\nCapacity:    ${formatSize(info.capacity)} (${info.totalBlocks} blocks)\n` +
            `Free:        ${formatSize(info.free)} (${info.freeBlocks} blocks)\nInodes:      ${info.inodes - info.freeInodes} used of ${info.inodes}\nExtents:     ${info.extents.length}\n`,
        );
        for (const e of info.extents) {
          process.stdout.write(
            `  [${e.index}] ${e.path}\n      device UUID ${e.deviceUuid}, segments ${e.firstSegment}-${e.lastSegment} (${formatSize(e.bytes)}), ${e.allocatedBlocks} blocks allocated\n`,
          );
        }
      });
    });

  addDatastoreOption(program.command('df').description('show space and inode usage'))
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      await withDatastore(opts, true, async (fs) => {
        const s = fs.statfs();
        const size = s.totalBlocks * s.blockSize;
        const free = s.freeBlocks * s.blockSize;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ size, used: size - free, available: free, inodes: s.totalInodes, inodesFree: s.freeInodes }) + '\n');
          return;
        }
        const pct = size ? Math.ceil(((size - free) / size) * 100) : 0;
        process.stdout.write(`${'Size'.padStart(10)} ${'Used'.padStart(10)} ${'Avail'.padStart(10)} Use%  Inodes  IFree\n`);
        process.stdout.write(`${formatSize(size).padStart(10)} ${formatSize(size - free).padStart(10)} ${formatSize(free).padStart(10)} ${String(pct).padStart(3)}%  ${String(s.totalInodes).padStart(6)} ${String(s.freeInodes).padStart(6)}\n`);
      });
    });
}

/** How a growth ran, when other hosts were using the datastore. */
function online(hosts: number): string {
  return hosts === 0 ? '' : `, online (${hosts} other host${hosts === 1 ? '' : 's'} on the datastore)`;
}

export function describe(fs: Vmfs) {
  const s = fs.statfs();
  const perExtent = fs.allocatedPerExtent();
  return {
    label: fs.info.label,
    uuid: fs.info.uuid,
    lvmUuid: fs.volume.uuid,
    version: fs.info.version,
    minorVersion: fs.info.minorVersion,
    blockSize: fs.blockSize,
    capacity: s.totalBlocks * s.blockSize,
    totalBlocks: s.totalBlocks,
    free: s.freeBlocks * s.blockSize,
    freeBlocks: s.freeBlocks,
    inodes: s.totalInodes,
    freeInodes: s.freeInodes,
    extents: fs.volume.extents.map((e, index) => ({
      index,
      path: e.device.name,
      deviceUuid: e.header.deviceUuid,
      firstSegment: e.firstSegment,
      lastSegment: e.lastSegment,
      bytes: (e.lastSegment - e.firstSegment + 1) * SEGMENT_SIZE,
      allocatedBlocks: perExtent[index],
    })),
  };
}
