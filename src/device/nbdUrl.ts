// Extent names that are NBD exports rather than local paths, after the NBD URI
// standard: nbd://HOST[:PORT]/EXPORT over TCP (port 10809 by default) and
// nbd+unix:///EXPORT?socket=PATH over a Unix socket. The export name is the
// path without its leading slash (empty: the server's default export).
import { DeviceError } from './blockDevice.js';

export const NBD_DEFAULT_PORT = 10809;

export type NbdTarget = { kind: 'tcp'; host: string; port: number; exportName: string } | { kind: 'unix'; socket: string; exportName: string };

/** True for names openDevice serves over NBD (everything else is a local path). */
export function isNbdUrl(name: string): boolean {
  return /^nbd(\+unix)?:\/\//i.test(name);
}

export function parseNbdUrl(name: string): NbdTarget {
  let url: URL;
  try {
    url = new URL(name);
  } catch {
    throw new DeviceError(`${name}: not a valid NBD URL (nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)`);
  }
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.protocol === 'nbd:') {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) throw new DeviceError(`${name}: no host (nbd://HOST[:PORT]/EXPORT)`);
    const port = url.port === '' ? NBD_DEFAULT_PORT : Number(url.port);
    return { kind: 'tcp', host, port, exportName };
  }
  if (url.protocol === 'nbd+unix:') {
    const socket = url.searchParams.get('socket');
    if (!socket) throw new DeviceError(`${name}: no socket (nbd+unix:///EXPORT?socket=PATH)`);
    if (url.host) throw new DeviceError(`${name}: nbd+unix takes no host (nbd+unix:///EXPORT?socket=PATH)`);
    return { kind: 'unix', socket, exportName };
  }
  throw new DeviceError(`${name}: unsupported NBD scheme ${url.protocol.replace(/:$/, '')} (nbd or nbd+unix)`);
}
