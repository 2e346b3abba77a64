// Hosts on separate networks for the NBD tests: one storage namespace and one
// namespace per host, each host joined to the storage by its own veth pair
// (10.N.K.2 on the host's side, 10.N.K.1 on the storage's). These addresses
// exist only inside the namespaces: a host reaches the storage and nothing
// else, not even the other hosts, as on a SAN with separate fabrics.
import { execFileSync } from 'node:child_process';

export interface Lab {
  storage: string;
  hosts: string[];
  /** The storage's address as host `k` sees it. */
  storageAddress(k: number): string;
  /** Cuts or restores host `k`'s link (its side goes down or up). */
  link(k: number, up: boolean): void;
  destroy(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** `tag`: short and unique per test file (names must fit 15 characters). */
export function createLab(tag: string, hostCount: number): Lab {
  const id = `${tag}${process.pid % 10000}`;
  const net = 100 + (process.pid % 100); // 10.NET.K.x
  const storage = `${id}s`;
  const hosts = Array.from({ length: hostCount }, (_, k) => `${id}h${k}`);
  const lab: Lab = {
    storage,
    hosts,
    storageAddress: (k) => `10.${net}.${k}.1`,
    link: (k, up) => ip('-n', hosts[k], 'link', 'set', `${id}h${k}`, up ? 'up' : 'down'),
    destroy: () => {
      for (const ns of [storage, ...hosts]) {
        try {
          ip('netns', 'del', ns);
        } catch {
          // never created
        }
      }
    },
  };
  try {
    lab.destroy(); // left by an earlier run that was killed
    for (const ns of [storage, ...hosts]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    hosts.forEach((ns, k) => {
      const hostSide = `${id}h${k}`;
      const storageSide = `${id}s${k}`;
      ip('link', 'add', hostSide, 'netns', ns, 'type', 'veth', 'peer', 'name', storageSide, 'netns', storage);
      ip('-n', ns, 'addr', 'add', `10.${net}.${k}.2/24`, 'dev', hostSide);
      ip('-n', storage, 'addr', 'add', `10.${net}.${k}.1/24`, 'dev', storageSide);
      ip('-n', ns, 'link', 'set', hostSide, 'up');
      ip('-n', storage, 'link', 'set', storageSide, 'up');
    });
  } catch (e) {
    lab.destroy();
    throw new Error(`cannot build the network namespaces: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`);
  }
  return lab;
}
