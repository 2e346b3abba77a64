// The -d/--datastore option every datastore command takes.
import { resolve } from 'node:path';
import { Command } from 'commander';
import { isNbdUrl } from '../device/openDevice.js';
import { withCommandDatastore } from '../fs/datastore.js';
import { Vmfs } from '../fs/vmfs.js';
import { parseSize } from '../util/size.js';
import { UsageError } from './exitCodes.js';

export function addDatastoreOption(cmd: Command): Command {
  return cmd.requiredOption('-d, --datastore <extents>', 'the datastore: its extents, comma-separated (files, block devices or nbd:// URLs)');
}

export function extentList(value: string | undefined): string[] {
  const list = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new UsageError('no extent given (-d EXT[,EXT...])');
  return list;
}

/** An extent name that stays valid from another working directory: a path made absolute, a URL as it is. */
export function absoluteExtent(name: string): string {
  return isNbdUrl(name) ? name : resolve(name);
}

/** Opens the datastore (writing commands join as a cluster host while other hosts have it mounted), runs `fn`, and closes it whatever happens. */
export function withDatastore<T>(opts: { datastore?: string }, readOnly: boolean, fn: (fs: Vmfs) => Promise<T>): Promise<T> {
  return withCommandDatastore(extentList(opts.datastore), readOnly, fn);
}

/** A size argument (512M, 2G); a bad one is a usage error. */
export function sizeArgument(text: string, what: string): number {
  try {
    return parseSize(text);
  } catch (e) {
    throw new UsageError(`${what}: ${(e as Error).message}`);
  }
}
