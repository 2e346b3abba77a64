// Errors the cluster layer raises. Both are FsErrors so the layers above
// return their errno (EIO, EBUSY) without translating them.
import { FsError } from '../util/errors.js';

/** This host lost its datastore lease: it must not write another sector. */
export class FencedError extends FsError {
  constructor(readonly reason: string) {
    super('EIO', 'datastore', `lost the datastore lease: ${reason}`);
    this.name = 'FencedError';
  }
}

/** A metadata lock is held by a live host in a mode that excludes the one asked for. */
export class LockBusyError extends FsError {
  constructor(
    readonly lockOffset: number,
    readonly holder: string,
    readonly heldMode: string,
  ) {
    super('EBUSY', `lock 0x${lockOffset.toString(16)}`, `held ${heldMode} by host ${holder}`);
    this.name = 'LockBusyError';
  }
}
