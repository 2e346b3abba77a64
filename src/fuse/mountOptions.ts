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
  /** Seconds the kernel may trust attributes and names it got (cacheTimeout() by default). */
  attrTimeout: number;
  entryTimeout: number;
  /** Mount as this cluster host (heartbeat, journal, locks), so other hosts may share the datastore. */
  hostUuid?: string;
  /** A cluster host's open for writing waits this long (ms) for another host to let the file go before EBUSY. */
  lockWaitMs: number;
}

/**
 * The default for lockWaitMs. The kernel tells a FUSE server that a file was closed (its
 * RELEASE) only after close() has returned, so a file just closed on one host stays locked
 * there for a moment; a writer on another host waits that moment out instead of failing.
 */
export const LOCK_WAIT_MS = 500;

/**
 * The default attribute and name cache timeout, in seconds. A single host is the only
 * writer, so the kernel may trust what it got for a while (each cached answer saves a round
 * trip). A cluster host is not: another host's rename or rewrite must show in the very next
 * call, so nothing is cached; a file's pages are dropped on every open in both cases (no
 * kernel_cache), so an open after another host's rewrite reads the new bytes.
 */
export function cacheTimeout(clusterHost: boolean): number {
  return clusterHost ? 0 : 1;
}

/** -o options we set ourselves, or that have their own flag, and why. */
export const RESERVED_OPTIONS = new Map([
  ['fsname', 'it names the serving process'],
  ['subtype', `the type is ${FS_TYPE}`],
  ['attr_timeout', 'use --attr-timeout'],
  ['entry_timeout', 'use --entry-timeout'],
  ['negative_timeout', 'negative lookups are never cached'],
]);

/** -o options that keep stale file pages across opens: refused when other hosts write. */
export const SINGLE_HOST_OPTIONS = new Map([
  ['kernel_cache', 'it keeps file pages across opens, so another host’s rewrite would not show'],
  ['auto_cache', 'it keeps file pages while size and mtime (whole seconds) look unchanged'],
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
