// The mount's settings (what `vmfs mount` accepts) and the libfuse option string they
// become. fuse-native only knows a fixed list of options and drops a 0 timeout, but pastes
// fsname raw into -o, so every libfuse option rides there, in one place.
import type { FuseOptions } from './fuseNative.js';
import { FS_TYPE, sourceFor } from './mountTable.js';

export interface MountConfig {
  /** Extent paths, absolute. */
  extents: string[];
  /** Absolute mount point. */
  mountPoint: string;
  /** Further libfuse -o options, passed through as given (ro is readOnly; fsname, subtype and the timeouts are ours). */
  options: string[];
  readOnly: boolean;
  /** Seconds the kernel may trust attributes and names it got: 0 when other hosts write. */
  attrTimeout: number;
  entryTimeout: number;
  /** Mount as this cluster host (heartbeat, journal, locks), so other hosts may share the datastore. */
  hostUuid?: string;
}

/** Safe for one host, short enough that another host's change shows within a second. */
export const DEFAULT_CACHE_TIMEOUT = 1;

/** -o options we set ourselves, or that have their own flag, and why. */
export const RESERVED_OPTIONS = new Map([
  ['fsname', 'it names the serving process'],
  ['subtype', `the type is ${FS_TYPE}`],
  ['attr_timeout', 'use --attr-timeout'],
  ['entry_timeout', 'use --entry-timeout'],
  ['negative_timeout', 'negative lookups are never cached'],
]);

/** fuse-native's options for serving `config` from process `pid`. */
export function fuseOptions(config: MountConfig, pid: number): FuseOptions {
  const raw = [
    sourceFor(pid),
    'subtype=vmfs',
    // The kernel checks mode bits against the caller, as on ext4.
    'default_permissions',
    'use_ino',
    'readdir_ino',
    'big_writes',
    'max_write=131072',
    `attr_timeout=${config.attrTimeout}`,
    `entry_timeout=${config.entryTimeout}`,
    'negative_timeout=0',
    ...(config.readOnly ? ['ro'] : []),
    ...config.options,
  ];
  // No per-operation JS timer: a slow operation is slow, not failed.
  return { fsname: raw.join(','), timeout: false };
}
