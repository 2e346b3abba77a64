// The file system the kernel's Create/Open/Read/Write/Close and Exec use,
// reduced to what those calls need. Files are named, not held open: the
// kernel keeps names and positions itself, which keeps its state plain data.
// An implementation may answer synchronously or with a promise (a file
// system on a virtual disk will); the kernel blocks the calling thread until
// it answers. Here: one in host memory, and one on a host folder (--root).

export type MaybePromise<T> = T | Promise<T>;

export interface GuestFileSystem {
  /** Creates `name` empty (emptying it if it exists); false if that is not possible. */
  create(name: string): MaybePromise<boolean>;
  /** Whether `name` exists and can be opened. */
  open(name: string): MaybePromise<boolean>;
  /** Up to `length` bytes from `offset`; fewer at the end of the file. */
  read(name: string, offset: number, length: number): MaybePromise<Uint8Array>;
  /** Writes `data` at `offset`, growing the file; returns the bytes written (-1 on failure). */
  write(name: string, offset: number, data: Uint8Array): MaybePromise<number>;
  /** The kernel closed its last use of `name`. */
  close(name: string): MaybePromise<void>;
}

/** Files in host memory; the initial contents may be given. */
export class MemoryFileSystem implements GuestFileSystem {
  readonly files = new Map<string, Uint8Array>();

  constructor(initial: Record<string, Uint8Array | string> = {}) {
    for (const [name, data] of Object.entries(initial)) {
      this.files.set(name, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
    }
  }

  create(name: string): boolean {
    if (name === '') return false;
    this.files.set(name, new Uint8Array(0));
    return true;
  }

  open(name: string): boolean {
    return this.files.has(name);
  }

  read(name: string, offset: number, length: number): Uint8Array {
    const f = this.files.get(name) ?? new Uint8Array(0);
    return f.slice(offset, offset + length);
  }

  write(name: string, offset: number, data: Uint8Array): number {
    const f = this.files.get(name);
    if (!f) return -1;
    const end = offset + data.length;
    const g = end > f.length ? new Uint8Array(end) : f;
    if (g !== f) g.set(f);
    g.set(data, offset);
    this.files.set(name, g);
    return data.length;
  }

  close(): void {}
}
