// The narrow file interface the virtual disk layer sits on, so the same code
// serves disks on the host file system and inside a datastore.
import { DiskError } from './errors.js';

/** One open file: positioned I/O, like pread/pwrite. */
export interface RandomAccessFile {
  size(): Promise<number>;
  /** Reads up to `length` bytes; returns how many were read (fewer only at the end of the file). */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  truncate(size: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** One folder (a VM's folder). Names are plain file names, confined to the folder. */
export interface DiskFolder {
  open(name: string, mode: 'r' | 'rw'): Promise<RandomAccessFile>;
  /** Creates a new, empty file; an existing file is an error. */
  create(name: string): Promise<RandomAccessFile>;
  exists(name: string): Promise<boolean>;
  remove(name: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** For messages: the full path as the user knows it. */
  describe(name: string): string;
  /** Releases whatever the folder holds (an open datastore); optional. */
  close?(): Promise<void>;
}

/** Fills `buf` from `position`; the end of the file before it is full is an error naming `what`. */
export async function readExact(file: RandomAccessFile, buf: Uint8Array, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await file.read(buf, done, buf.length - done, position + done);
    if (n <= 0) throw new DiskError(`${what}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

export async function writeExact(file: RandomAccessFile, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) done += await file.write(buf, done, buf.length - done, position + done);
}
