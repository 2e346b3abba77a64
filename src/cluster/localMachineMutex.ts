// A faster reservation for hosts that all run on one machine, in one network
// namespace: a Unix socket bound to an abstract name. The kernel lets one
// process bind a name at a time and unbinds it when the process dies, so a
// killed holder frees the reservation at once. Not for hosts on separate
// machines or network namespaces: they would not see each other's binding.
// A stopped (SIGSTOP) holder keeps it until it continues.
import { Server, createServer } from 'node:net';
import { sleep } from './clock.js';
import { Mutex } from '../util/mutex.js';
import type { Reservation } from './reservation.js';

const MAX_BACKOFF_MS = 10;

export class LocalMachineMutex implements Reservation {
  private readonly local = new Mutex();
  private readonly address: string;

  /** `name` identifies the volume (its LVM UUID). */
  constructor(name: string) {
    this.address = `\0vmfs-ts/reservation/${name}`;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.local.run(async () => {
      const server = await this.bind();
      try {
        return await fn();
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }

  private async bind(): Promise<Server> {
    for (let backoff = 0.05; ; backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)) {
      const server = createServer();
      const bound = await new Promise<boolean>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e)));
        server.listen({ path: this.address, exclusive: true }, () => resolve(true));
      });
      if (bound) {
        server.unref();
        return server;
      }
      await sleep(backoff);
    }
  }
}
