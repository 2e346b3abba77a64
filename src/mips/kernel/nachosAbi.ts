// The Nachos 3.4 system calls (userprog/syscall.h): code in r2, arguments
// in r4..r7, result in r2. File ids 0 and 1 are the console; files opened
// through the guest file system get ids from 2 up, per program.
import type { Kernel, SyscallPersonality, Thread } from './kernel.js';
import { MaxNameLength } from './kernel.js';
import { ThreadReturnAddress } from './layout.js';
import { PrevPCReg } from '../registers.js';
import { ExceptionType } from '../exceptions.js';

export enum NachosCall {
  Halt = 0,
  Exit = 1,
  Exec = 2,
  Join = 3,
  Create = 4,
  Open = 5,
  Read = 6,
  Write = 7,
  Close = 8,
  Fork = 9,
  Yield = 10,
  // Ours: raw sectors of the simulated disk.
  DiskRead = 20,
  DiskWrite = 21,
  DiskSize = 22,
}

export const ConsoleInput = 0;
export const ConsoleOutput = 1;
/** Largest single Read or Write. */
export const MaxTransfer = 1 << 20;

export class NachosSyscalls implements SyscallPersonality {
  syscall(k: Kernel, t: Thread): void {
    const r = k.dev.cpu.regs;
    const [code, a0, a1, a2] = [r[2], r[4], r[5], r[6]];
    const space = k.spaceOf(t);
    const proc = k.processes.get(t.pid)!;
    const fs = k.opts.fs;
    const name = (): string | null => space.readString(a0 >>> 0, MaxNameLength + 1);
    switch (code) {
      case NachosCall.Halt:
        return k.halt();
      case NachosCall.Exit:
        return k.exitThread(t, a0);
      case NachosCall.Exec: {
        const n = name();
        if (n === null) return k.setResult(t, -1);
        return k.blockOnHost(t, () => k.exec(n, t.pid));
      }
      case NachosCall.Join: {
        const v = k.join(t, a0);
        if (v !== 'blocked') k.setResult(t, v);
        return;
      }
      case NachosCall.Create: {
        const n = name();
        if (n === null) return k.setResult(t, -1);
        return k.blockOnHost(t, async () => ((await fs.create(n)) ? 0 : -1));
      }
      case NachosCall.Open: {
        const n = name();
        if (n === null) return k.setResult(t, -1);
        return k.blockOnHost(t, async () => {
          if (!(await fs.open(n))) return -1;
          const fd = proc.nextFd++;
          proc.files[fd] = { name: n, pos: 0 };
          return fd;
        });
      }
      case NachosCall.Read: {
        const [buf, size, id] = [a0 >>> 0, a1, a2];
        if (size < 0 || size > MaxTransfer) return k.setResult(t, -1);
        if (size === 0) return k.setResult(t, 0);
        if (id === ConsoleInput) {
          if (k.consoleDriver.eof) return k.setResult(t, 0);
          k.consoleDriver.read(t.tid, buf);
          return k.block(t);
        }
        const f = proc.files[id];
        if (!f) return k.setResult(t, -1);
        return k.blockOnHost(t, async () => {
          const data = await fs.read(f.name, f.pos, size);
          if (!space.writeBytes(buf, data)) return -1;
          f.pos += data.length;
          return data.length;
        });
      }
      case NachosCall.Write: {
        const [buf, size, id] = [a0 >>> 0, a1, a2];
        if (size < 0 || size > MaxTransfer) return k.setResult(t, -1);
        const data = space.readBytes(buf, size);
        if (data === null) return k.setResult(t, -1);
        if (size === 0) return k.setResult(t, 0);
        if (id === ConsoleOutput) {
          k.consoleDriver.write(t.tid, data);
          return k.block(t);
        }
        const f = proc.files[id];
        if (!f) return k.setResult(t, -1);
        return k.blockOnHost(t, async () => {
          const n = await fs.write(f.name, f.pos, data);
          if (n > 0) f.pos += n;
          return n;
        });
      }
      case NachosCall.Close: {
        const f = proc.files[a0];
        if (!f) return k.setResult(t, -1);
        delete proc.files[a0];
        return k.blockOnHost(t, async () => {
          await fs.close(f.name);
          return 0;
        });
      }
      case NachosCall.Fork: {
        if (!k.canAddThread()) return k.setResult(t, -1);
        const top = space.addStack(k.opts.stackPages);
        if (top < 0) return k.setResult(t, -1);
        k.newThread(t.pid, a0, top, ThreadReturnAddress);
        return k.setResult(t, 0);
      }
      case NachosCall.Yield:
        k.setResult(t, 0);
        return k.yieldCpu();
      case NachosCall.DiskRead:
      case NachosCall.DiskWrite: {
        const d = k.diskDriver;
        if (!d || !Number.isInteger(a0) || a0 < 0 || a0 >= d.numSectors) return k.setResult(t, -1);
        const write = code === NachosCall.DiskWrite;
        const data = write ? space.readBytes(a1 >>> 0, d.sectorSize) : null;
        if (write && data === null) return k.setResult(t, -1);
        d.guest({ tid: t.tid, sector: a0, write, vaddr: a1 >>> 0, data });
        return k.block(t);
      }
      case NachosCall.DiskSize: {
        const d = k.diskDriver;
        if (!d) return k.setResult(t, -1);
        if (a0 !== 0 && !space.writeBytes(a0 >>> 0, new Uint8Array(new Int32Array([d.sectorSize]).buffer))) return k.setResult(t, -1);
        return k.setResult(t, d.numSectors);
      }
      default: {
        const hint = code >= 4000 && code <= 4999 ? ' (a Linux program? run it with --abi linux)' : '';
        return k.stopProgram(t, ExceptionType.IllegalInstr, `unknown system call ${code} at pc 0x${(r[PrevPCReg] >>> 0).toString(16).padStart(8, '0')}${hint}`);
      }
    }
  }
}
