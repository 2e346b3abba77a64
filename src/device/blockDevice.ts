// The one narrow interface every extent backend implements (a regular file,
// a block device, later a network block device). Offsets are device bytes.
export interface BlockDevice {
  /** What the user named it: a path or a URL, for messages. */
  readonly name: string;
  /** Current size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Fills `buf` from `offset`; reading past the end is an error. */
  read(buf: Uint8Array, offset: number): Promise<void>;
  write(buf: Uint8Array, offset: number): Promise<void>;
  /** Makes every completed write durable. */
  flush(): Promise<void>;
  /** Sets the size, for backends that can (a regular file): mkfs and extend use it. */
  setSize?(size: number): Promise<void>;
  /**
   * Bounds how late a write may land: one not acknowledged within `ms` of the
   * call fails, and the backend makes sure it never reaches the disk later (a
   * network backend resets its connection, dropping what its kernel still
   * queues). Cluster hosts set their fencing margin (ioTimeout). A local
   * file needs none: its writes are done when the call returns.
   */
  boundWriteLatency?(ms: number): void;
  /** Re-reads the size (an extent's file or device may grow while open). */
  refreshSize(): Promise<number>;
  close(): Promise<void>;
}

export class DeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}
