// Write-behind for the extents: after every WINDOW bytes of file data written through the
// mount, starts an fdatasync of each extent in the background (libuv's thread pool), so
// the disk writes back while the writer keeps going and a later fsync finds little left
// to do, instead of the whole file at once. fsync flushes a file's dirty pages whichever
// descriptor asks, so read-only descriptors of our own serve. Errors are left to the
// real fsync, which reports them too. Network extents (NBD) have no local
// file to write back: they are left out.
import { close, fdatasync, openSync } from 'node:fs';
import { isNbdUrl } from '../device/openDevice.js';

const WINDOW = 32 * 2 ** 20;

export class WriteBehind {
  private readonly fds: number[];
  private written = 0;
  private inFlight = false;

  constructor(extents: string[]) {
    this.fds = extents.filter((p) => !isNbdUrl(p)).map((p) => openSync(p, 'r'));
  }

  /** Counts `bytes` of data written; past the window, starts a background flush unless one runs. */
  wrote(bytes: number): void {
    this.written += bytes;
    if (this.written < WINDOW || this.inFlight) return;
    this.written = 0;
    this.inFlight = true;
    let left = this.fds.length;
    for (const fd of this.fds) {
      fdatasync(fd, () => {
        if (--left === 0) this.inFlight = false;
      });
    }
  }

  close(): void {
    for (const fd of this.fds) close(fd, () => {});
  }
}
