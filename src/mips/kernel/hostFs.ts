// The guest file system on a host folder (vmfs mips run --root DIR): guest
// names are paths relative to the folder, and nothing outside it can be
// reached (no absolute paths, no "..", no symbolic links out).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GuestFileSystem } from './guestFs.js';

export class HostFolderFileSystem implements GuestFileSystem {
  private readonly root: string;

  constructor(root: string) {
    let st: fs.Stats;
    try {
      st = fs.statSync(root);
    } catch {
      throw new Error(`--root ${root}: no such folder`);
    }
    if (!st.isDirectory()) throw new Error(`--root ${root}: not a folder`);
    this.root = fs.realpathSync(root);
  }

  create(name: string): boolean {
    const p = this.resolve(name, true);
    if (!p) return false;
    try {
      fs.writeFileSync(p, new Uint8Array(0));
      return true;
    } catch {
      return false;
    }
  }

  open(name: string): boolean {
    const p = this.resolve(name, false);
    return p !== null && fs.statSync(p, { throwIfNoEntry: false })?.isFile() === true;
  }

  read(name: string, offset: number, length: number): Uint8Array {
    const p = this.resolve(name, false);
    if (!p) return new Uint8Array(0);
    const fd = fs.openSync(p, 'r');
    try {
      const buf = new Uint8Array(length);
      const n = fs.readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  }

  write(name: string, offset: number, data: Uint8Array): number {
    const p = this.resolve(name, false);
    if (!p) return -1;
    try {
      const fd = fs.openSync(p, 'r+');
      try {
        return fs.writeSync(fd, data, 0, data.length, offset);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return -1;
    }
  }

  close(): void {}

  /** The host path for a guest name, or null if the name would leave the folder. */
  private resolve(name: string, creating: boolean): string | null {
    if (name === '' || name.includes('\0') || path.isAbsolute(name)) return null;
    const p = path.resolve(this.root, name);
    if (!p.startsWith(this.root + path.sep)) return null;
    // A symbolic link inside the folder must not lead out of it.
    const inside = (q: string): boolean => {
      try {
        const real = fs.realpathSync(q);
        return real === this.root || real.startsWith(this.root + path.sep);
      } catch {
        return false;
      }
    };
    if (!inside(path.dirname(p))) return null;
    const exists = fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
    if (exists ? !inside(p) : !creating) return null;
    return p;
  }
}
