// The minimal Linux o32 personality: enough for freestanding programs that
// also run under qemu-mipsel. Number in r2, arguments in r4..r7; the result
// in r2 with r7 = 0, or the error number in r2 with r7 = 1. The console is
// file descriptors 0 (input) and 1, 2 (output).
import type { Kernel, SyscallPersonality, Thread } from './kernel.js';
import { ExceptionType } from '../exceptions.js';
import { PrevPCReg } from '../registers.js';
import { MaxTransfer } from './nachosAbi.js';

export enum LinuxCall {
  exit = 4001,
  read = 4003,
  write = 4004,
  brk = 4045,
  exit_group = 4246,
}

/** MIPS Linux errno values. */
const EBADF = 9;
const EFAULT = 14;
const EINVAL = 22;
const ENOSYS = 89;

export class LinuxSyscalls implements SyscallPersonality {
  syscall(k: Kernel, t: Thread): void {
    const r = k.dev.cpu.regs;
    const [nr, a0, a1, a2] = [r[2], r[4], r[5], r[6]];
    const space = k.spaceOf(t);
    switch (nr) {
      case LinuxCall.exit:
        return k.exitThread(t, a0 & 0xff);
      case LinuxCall.exit_group:
        return k.killProcess(t.pid, a0 & 0xff, null);
      case LinuxCall.read: {
        if (a0 !== 0) return k.setResult(t, 0, EBADF);
        if (a2 < 0 || a2 > MaxTransfer) return k.setResult(t, 0, EINVAL);
        if (a2 === 0 || k.consoleDriver.eof) return k.setResult(t, 0);
        k.consoleDriver.read(t.tid, a1 >>> 0);
        return k.block(t);
      }
      case LinuxCall.write: {
        if (a0 !== 1 && a0 !== 2) return k.setResult(t, 0, EBADF);
        if (a2 < 0 || a2 > MaxTransfer) return k.setResult(t, 0, EINVAL);
        const data = space.readBytes(a1 >>> 0, a2);
        if (data === null) return k.setResult(t, 0, EFAULT);
        if (a2 === 0) return k.setResult(t, 0);
        k.consoleDriver.write(t.tid, data);
        return k.block(t);
      }
      case LinuxCall.brk:
        return k.setResult(t, space.setBrk(a0 >>> 0, k.frames.numFrames));
      default:
        // o32 numbers are 4000..4999; anything else is not a Linux program at all.
        if (nr < 4000 || nr > 4999) {
          const pc = (r[PrevPCReg] >>> 0).toString(16).padStart(8, '0');
          return k.stopProgram(t, ExceptionType.IllegalInstr, `system call ${nr} at pc 0x${pc} is not a Linux o32 call (a Nachos program? run it with --abi nachos)`);
        }
        return k.setResult(t, 0, ENOSYS);
    }
  }
}
