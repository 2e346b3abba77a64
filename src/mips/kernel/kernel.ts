// The host-side kernel, as Nachos's userprog: user programs in their own
// address spaces, threads scheduled round-robin (deterministically: a FIFO
// ready queue, preempted only by the timer), exceptions dispatched to the
// system call layer of the machine's ABI, zero-fill page faults answered,
// and misbehaving programs stopped with a message naming the exception and
// the PC. It runs between CPU slices, never inside one.
//
// All of its state is plain data (threads' registers, page tables, queues
// of blocked requests), so a machine can be saved and restored.
import type { Cpu } from '../cpu.js';
import { ExceptionType, exceptionName } from '../exceptions.js';
import type { Interrupt } from '../interrupt.js';
import { LoaderError, loadProgram } from '../loader/index.js';
import type { Mmu, PageTableEntry } from '../mmu.js';
import { BadVAddrReg, NextPCReg, NumTotalRegs, PCReg, PrevPCReg, StackReg } from '../registers.js';
import type { Stats } from '../stats.js';
import type { Console } from '../console.js';
import type { Timer } from '../timer.js';
import type { Disk } from '../disk.js';
import { DiskDriver, type DiskDriverState, type GuestDiskRequest } from './diskDriver.js';
import { AddressSpace, type AddressSpaceState } from './addrSpace.js';
import { ConsoleDriver, type ConsoleDriverState, type ReadRequest } from './consoleDriver.js';
import { FrameAllocator, OutOfMemory } from './frames.js';
import type { GuestFileSystem } from './guestFs.js';
import { MaxProcesses, MaxThreads, ThreadReturnAddress } from './layout.js';

export type Abi = 'nachos' | 'linux';

/** Longest file name a guest may pass. */
export const MaxNameLength = 255;
/** Largest executable Exec reads. */
const MaxExecutableBytes = 64 << 20;

export interface Thread {
  tid: number;
  pid: number;
  /** Saved registers while not running (the CPU holds the running thread's). */
  regs: Int32Array;
  state: 'ready' | 'running' | 'blocked';
}

export interface OpenFile {
  name: string;
  pos: number;
}

export interface Process {
  pid: number;
  name: string;
  parent: number;
  liveThreads: number;
  /** Exit status once ended; -1 when killed. */
  exitStatus: number | null;
  /** Why an exception stopped it, if one did. */
  fault: GuestFault | null;
  /** Its status was handed to a Join (a program is joined once). */
  reaped: boolean;
  files: Record<number, OpenFile>;
  nextFd: number;
}

/** A program stopped by an exception (or a bad system call, reported as illegal instruction). */
export interface GuestFault {
  type: ExceptionType;
  pc: number;
  badVAddr: number;
  /** "NAME (pid N) stopped: illegal instruction at pc 0x000000e4". */
  message: string;
}

/** Why the kernel stopped the machine. */
export interface KernelEnd {
  reason: 'halt' | 'exit' | 'deadlock';
}

export interface KernelState {
  threads: { tid: number; pid: number; regs: Int32Array; state: Thread['state'] }[];
  processes: (Process & { space: AddressSpaceState | null })[];
  ready: number[];
  current: number | null;
  joinWaiters: { tid: number; pid: number }[];
  nextPid: number;
  nextTid: number;
  frames: Uint8Array;
  console: ConsoleDriverState;
  disk: DiskDriverState | null;
  /** Virtual page in each TLB slot (-1: empty), and the slot the next miss replaces. */
  tlb: number[];
  tlbNext: number;
  end: KernelEnd | null;
}

export interface KernelDevices {
  cpu: Cpu;
  mmu: Mmu;
  interrupt: Interrupt;
  stats: Stats;
  console: Console;
  timer: Timer;
  disk: Disk | null;
}

export interface KernelOptions {
  abi: Abi;
  fs: GuestFileSystem;
  /** Stack pages for each thread. */
  stackPages: number;
  /** Entries of a software-managed TLB that the kernel refills on each miss; 0 to translate through page tables. */
  tlbSize: number;
  /** Kernel messages for the user (a program stopped, an Exec failed). */
  onMessage: (message: string) => void;
}

/** The system-call layer of one ABI (Nachos or Linux o32). */
export interface SyscallPersonality {
  /** Handles the system call of the running thread (PC already advanced). */
  syscall(k: Kernel, t: Thread): void;
}

export class Kernel {
  readonly frames: FrameAllocator;
  readonly threads = new Map<number, Thread>();
  readonly processes = new Map<number, Process>();
  readonly spaces = new Map<number, AddressSpace>();
  readonly consoleDriver: ConsoleDriver;
  readonly diskDriver: DiskDriver | null;
  current: Thread | null = null;
  end: KernelEnd | null = null;
  personality: SyscallPersonality | null = null;

  private ready: number[] = [];
  private joinWaiters: { tid: number; pid: number }[] = [];
  private nextPid = 1;
  private nextTid = 1;
  /** Pid whose page table the MMU holds. */
  private loadedPid = 0;
  private tlb: PageTableEntry[] = [];
  private tlbNext = 0;
  private hostTask: Promise<void> | null = null;
  /** Disk requests the host task waits for: while there are any, simulated time must go on. */
  private hostParked = 0;
  /** Resolved when the host task finishes or starts waiting for the disk. */
  private hostProgress: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(
    readonly dev: KernelDevices,
    readonly opts: KernelOptions,
  ) {
    this.frames = new FrameAllocator(dev.mmu.numPhysPages);
    this.consoleDriver = new ConsoleDriver(
      dev.console,
      {
        written: (tid, n) => this.wake(tid, n),
        read: (req, byte) => this.consoleReadDone(req, byte),
      },
      (tid) => this.threads.has(tid),
    );
    this.diskDriver = dev.disk ? new DiskDriver(dev.disk, (req, sector, error) => this.guestDiskDone(req, sector, error)) : null;
    // Preemption: switch threads once the interrupt is serviced (Interrupt.idle drops the request when idle).
    dev.timer.onTick = () => {
      dev.interrupt.yieldOnReturn = true;
    };
  }

  // ---- programs and threads ----

  /** Loads an executable as a new program with one thread, ready to run; returns its pid. */
  spawn(file: Uint8Array, name: string, parent = 0): number {
    const image = loadProgram(file, name);
    const space = new AddressSpace(this.dev.mmu, this.frames);
    try {
      space.load(image, this.opts.stackPages, name);
    } catch (e) {
      space.release();
      if (e instanceof OutOfMemory) throw new LoaderError(`${name}: ${e.message}`);
      throw e;
    }
    const pid = this.nextPid++;
    this.processes.set(pid, { pid, name, parent, liveThreads: 0, exitStatus: null, fault: null, reaped: false, files: {}, nextFd: 2 });
    this.spaces.set(pid, space);
    this.newThread(pid, image.entry, space.stackTop, 0);
    return pid;
  }

  /** Starts a thread of `pid` at `pc` with its stack below `stackTop`. */
  newThread(pid: number, pc: number, stackTop: number, ra: number): Thread {
    const regs = new Int32Array(NumTotalRegs);
    regs[PCReg] = pc;
    regs[NextPCReg] = pc + 4;
    regs[StackReg] = stackTop - 16;
    regs[31] = ra;
    const t: Thread = { tid: this.nextTid++, pid, regs, state: 'ready' };
    this.threads.set(t.tid, t);
    this.processes.get(pid)!.liveThreads++;
    this.ready.push(t.tid);
    return t;
  }

  /** Whether another thread (Fork) fits under MaxThreads. */
  canAddThread(): boolean {
    return this.threads.size < MaxThreads;
  }

  get hasThreads(): boolean {
    return this.threads.size > 0;
  }

  spaceOf(t: Thread): AddressSpace {
    return this.spaces.get(t.pid)!;
  }

  /** If no thread runs, puts the first ready one on the CPU. */
  dispatch(): void {
    if (this.current) return;
    const tid = this.ready.shift();
    if (tid === undefined) return;
    const t = this.threads.get(tid)!;
    t.state = 'running';
    this.dev.cpu.regs.set(t.regs);
    if (this.loadedPid !== t.pid) this.loadSpace(t.pid);
    this.current = t;
  }

  /** Points the MMU at program `pid`'s page table (0: none); a TLB starts empty, as after a context switch. */
  private loadSpace(pid: number): void {
    this.loadedPid = pid;
    this.dev.mmu.pageTable = pid ? this.spaces.get(pid)!.pageTable : [];
    if (this.opts.tlbSize > 0) {
      this.tlb = Array.from({ length: this.opts.tlbSize }, () => ({ virtualPage: -1, physicalPage: -1, valid: false, readOnly: false, use: false, dirty: false }));
      this.tlbNext = 0;
      this.dev.mmu.tlb = this.tlb;
    }
    this.dev.cpu.invalidateCode();
  }

  /** A TLB miss on a mapped page: the page-table entry goes into the next slot, round-robin. */
  private tlbRefill(e: PageTableEntry): void {
    this.tlb[this.tlbNext] = e;
    this.tlbNext = (this.tlbNext + 1) % this.tlb.length;
    this.dev.mmu.flush();
    this.dev.stats.numTlbMisses++;
  }

  /** The running thread goes to the back of the ready queue (Yield, or the timer asked). */
  yieldCpu(): void {
    const t = this.current;
    if (!t || this.ready.length === 0) return;
    this.stopCurrent('ready');
    this.ready.push(t.tid);
  }

  /** The running thread sleeps until woken (its result comes through wake). */
  block(t: Thread): void {
    if (t === this.current) this.stopCurrent('blocked');
    else t.state = 'blocked';
  }

  /** Wakes a sleeping thread with `value` as its system call result. */
  wake(tid: number, value: number, errno = 0): void {
    const t = this.threads.get(tid);
    if (!t) return;
    this.setResult(t, value, errno);
    t.state = 'ready';
    this.ready.push(tid);
  }

  /** Sets a system call result in a thread's registers (r2; Linux also r7, the error flag). */
  setResult(t: Thread, value: number, errno = 0): void {
    const regs = t === this.current ? this.dev.cpu.regs : t.regs;
    if (this.opts.abi === 'linux') {
      regs[2] = errno ? errno : value;
      regs[7] = errno ? 1 : 0;
    } else regs[2] = value;
  }

  /** Ends thread `t`; the program ends with `status` when its last thread does. */
  exitThread(t: Thread, status: number): void {
    if (t === this.current) this.current = null;
    this.threads.delete(t.tid);
    this.ready = this.ready.filter((x) => x !== t.tid);
    const p = this.processes.get(t.pid)!;
    if (--p.liveThreads === 0) this.endProcess(p, status);
  }

  /** Stops every thread of a program (exit_group, or an exception). */
  killProcess(pid: number, status: number, fault: GuestFault | null): void {
    const p = this.processes.get(pid)!;
    p.fault = fault;
    for (const t of [...this.threads.values()]) if (t.pid === pid) this.exitThread(t, status);
  }

  /** Wait for program `pid` (Join): its status now if it ended, else later through wake; -1 if it cannot be joined. */
  join(t: Thread, pid: number): number | 'blocked' {
    const p = this.processes.get(pid);
    if (!p || p.reaped || pid === t.pid) return -1;
    if (p.exitStatus !== null) {
      this.reap(p);
      return p.exitStatus;
    }
    this.joinWaiters.push({ tid: t.tid, pid });
    this.block(t);
    return 'blocked';
  }

  /** Stops the machine (Halt). */
  halt(): void {
    if (this.current) this.saveCurrent();
    this.end = { reason: 'halt' };
  }

  /** Runs host work (a file system call) for `t`, which sleeps until it answers; the machine awaits it. */
  blockOnHost(t: Thread, work: () => Promise<number>): void {
    if (this.hostTask) throw new Error('kernel: two host operations at once');
    this.block(t);
    this.hostTask = work()
      .catch((e: unknown) => {
        this.opts.onMessage(`${this.processes.get(t.pid)?.name ?? 'program'}: ${e instanceof Error ? e.message : String(e)}`);
        return -1;
      })
      .then((r) => {
        this.hostTask = null;
        this.hostMoved();
        this.wake(t.tid, r);
      });
  }

  /**
   * For kernel code running as host work (a file system on the simulated
   * disk): reads (data null) or writes one sector through the disk, with its
   * simulated latency. Simulated time goes on while it waits.
   */
  diskIo(sector: number, data: Uint8Array | null): Promise<Uint8Array> {
    const d = this.diskDriver;
    if (!d) return Promise.reject(new Error('this machine has no disk'));
    if (!Number.isInteger(sector) || sector < 0 || sector >= d.numSectors) return Promise.reject(new Error(`disk sector ${sector} is outside the disk`));
    if (data && data.length !== d.sectorSize) return Promise.reject(new Error(`a disk write is one ${d.sectorSize}-byte sector`));
    this.hostParked++;
    this.hostMoved();
    return new Promise((resolve, reject) =>
      d.host(sector, data, (bytes, error) => {
        // Counted off at the interrupt itself, so the machine waits for the code that resumes.
        this.hostParked--;
        if (error) reject(new Error(`disk: ${error}`));
        else resolve(bytes!);
      }),
    );
  }

  /** Reads a whole executable through the guest file system and spawns it (Exec); -1 if it cannot. */
  async exec(name: string, parent: number): Promise<number> {
    const fs = this.opts.fs;
    if (!(await fs.open(name))) {
      this.opts.onMessage(`Exec: ${name}: no such file`);
      return -1;
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const chunk = await fs.read(name, size, 1 << 16);
      if (chunk.length === 0) break;
      parts.push(chunk);
      size += chunk.length;
      if (size > MaxExecutableBytes) {
        this.opts.onMessage(`Exec: ${name}: larger than ${MaxExecutableBytes} bytes`);
        return -1;
      }
    }
    await fs.close(name);
    const file = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      file.set(p, at);
      at += p.length;
    }
    if (this.processes.size >= MaxProcesses || !this.canAddThread()) {
      this.opts.onMessage(`Exec: ${name}: too many programs (${MaxProcesses} alive or not yet joined)`);
      return -1;
    }
    try {
      return this.spawn(file, name, parent);
    } catch (e) {
      if (e instanceof LoaderError) {
        this.opts.onMessage(`Exec: ${e.message}`);
        return -1;
      }
      throw e;
    }
  }

  /** Host work (a file system call) is under way, possibly waiting for the disk. */
  get hostBusy(): boolean {
    return this.hostTask !== null;
  }

  /** What the machine must await before simulated time goes on, if anything. */
  hostWait(): Promise<void> | null {
    if (!this.hostTask || this.hostParked > 0) return null;
    if (!this.hostProgress) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.hostProgress = { promise, resolve };
    }
    return this.hostProgress.promise;
  }

  private hostMoved(): void {
    const p = this.hostProgress;
    this.hostProgress = null;
    p?.resolve();
  }

  private guestDiskDone(req: GuestDiskRequest, sector: Uint8Array | null, error: string | null): void {
    const t = this.threads.get(req.tid);
    if (!t) return;
    if (error) {
      this.opts.onMessage(`disk: ${error}`);
      return this.wake(req.tid, -1);
    }
    if (sector && !this.spaceOf(t).writeBytes(req.vaddr, sector)) return this.wake(req.tid, -1);
    this.wake(req.tid, 0);
  }

  // ---- exceptions ----

  /** Handles the exception that stopped the CPU for the running thread. */
  handleException(cause: ExceptionType): void {
    let type = cause;
    const t = this.current!;
    const regs = this.dev.cpu.regs;
    if (type === ExceptionType.Syscall) {
      regs[PrevPCReg] = regs[PCReg];
      regs[PCReg] = regs[NextPCReg];
      regs[NextPCReg] = regs[NextPCReg] + 4;
      this.personality!.syscall(this, t);
      return;
    }
    const badVAddr = regs[BadVAddrReg] >>> 0;
    if (type === ExceptionType.PageFault) {
      const space = this.spaceOf(t);
      const entry = space.pageTable[badVAddr >>> this.dev.mmu.pageShift];
      try {
        if (!entry?.valid && space.pageFault(badVAddr)) this.dev.stats.numPageFaults++;
      } catch (e) {
        if (!(e instanceof OutOfMemory)) throw e;
        return this.stopProgram(t, type, e.message);
      }
      if (entry?.valid) {
        // With page tables the fault mapped the page; with a TLB the entry must go in too.
        if (this.opts.tlbSize > 0) this.tlbRefill(entry);
        return;
      }
      // Past the end of the table: what the MMU says without a TLB.
      if (!entry) type = ExceptionType.AddressError;
    }
    const pc = regs[PCReg] >>> 0;
    if (type === ExceptionType.AddressError && pc === ThreadReturnAddress && badVAddr === pc) {
      return this.exitThread(t, regs[2]);
    }
    this.stopProgram(t, type, this.describe(t, type, pc, badVAddr));
  }

  /** "illegal instruction at pc 0x...", with the bad address or the break code when there is one. */
  private describe(t: Thread, type: ExceptionType, pc: number, badVAddr: number): string {
    const hex = (v: number): string => `0x${v.toString(16).padStart(8, '0')}`;
    let what = exceptionName(type);
    if (type === ExceptionType.Break || type === ExceptionType.Trap) {
      const instr = this.spaceOf(t).readWord(pc);
      if (instr !== null) {
        const code = type === ExceptionType.Break ? (instr >>> 16) & 0x3ff : (instr >>> 6) & 0x3ff;
        what += ` (code ${code}${code === 7 ? ': division by zero' : ''})`;
      }
    }
    const addr =
      type === ExceptionType.PageFault || type === ExceptionType.AddressError || type === ExceptionType.ReadOnly || type === ExceptionType.BusError
        ? ` (bad address ${hex(badVAddr)})`
        : '';
    return `${what} at pc ${hex(pc)}${addr}`;
  }

  /** Stops the program of `t` with a message saying why (an exception, a bad system call). */
  stopProgram(t: Thread, type: ExceptionType, what: string): void {
    const p = this.processes.get(t.pid)!;
    const regs = t === this.current ? this.dev.cpu.regs : t.regs;
    const message = `${p.name} (pid ${p.pid}) stopped: ${what}`;
    this.opts.onMessage(message);
    this.killProcess(t.pid, -1, { type, pc: regs[PCReg] >>> 0, badVAddr: regs[BadVAddrReg] >>> 0, message });
  }

  // ---- internals ----

  private saveCurrent(): void {
    this.current!.regs.set(this.dev.cpu.regs);
  }

  private stopCurrent(state: Thread['state']): void {
    const t = this.current!;
    this.saveCurrent();
    t.state = state;
    this.current = null;
  }

  private endProcess(p: Process, status: number): void {
    p.exitStatus = status;
    this.spaces.get(p.pid)!.release();
    this.spaces.delete(p.pid);
    if (this.loadedPid === p.pid) this.loadSpace(0);
    for (const fd of Object.keys(p.files)) delete p.files[Number(fd)];
    const waiters = this.joinWaiters.filter((w) => w.pid === p.pid);
    this.joinWaiters = this.joinWaiters.filter((w) => w.pid !== p.pid && this.threads.has(w.tid));
    for (const w of waiters) {
      if (!this.threads.has(w.tid)) continue;
      this.reap(p);
      this.wake(w.tid, status);
    }
  }

  /** A program's status went to a Join: forget it (but keep the first program's, the machine's result). */
  private reap(p: Process): void {
    p.reaped = true;
    if (p.pid !== 1) this.processes.delete(p.pid);
  }

  private consoleReadDone(req: ReadRequest, byte: number | null): void {
    const t = this.threads.get(req.tid);
    if (!t) return;
    if (byte === null) return this.wake(req.tid, 0);
    const ok = this.spaceOf(t).writeBytes(req.vaddr, new Uint8Array([byte]));
    if (ok) this.wake(req.tid, 1);
    else this.wake(req.tid, -1, 14 /* EFAULT */);
  }

  // ---- snapshots ----

  save(): KernelState {
    if (this.hostTask) throw new Error('kernel: cannot save while a host operation is in flight');
    if (this.current) this.saveCurrent();
    return {
      threads: [...this.threads.values()].map((t) => ({ ...t, regs: t.regs.slice() })),
      processes: [...this.processes.values()].map((p) => ({
        ...p,
        fault: p.fault ? { ...p.fault } : null,
        files: Object.fromEntries(Object.entries(p.files).map(([k, f]) => [k, { ...f }])),
        space: this.spaces.get(p.pid)?.save() ?? null,
      })),
      ready: [...this.ready],
      current: this.current?.tid ?? null,
      joinWaiters: this.joinWaiters.map((w) => ({ ...w })),
      nextPid: this.nextPid,
      nextTid: this.nextTid,
      frames: this.frames.save(),
      console: this.consoleDriver.save(),
      disk: this.diskDriver?.save() ?? null,
      tlb: this.tlb.map((e) => (e.valid ? e.virtualPage : -1)),
      tlbNext: this.tlbNext,
      end: this.end ? { ...this.end } : null,
    };
  }

  /** Restores a saved kernel; the CPU registers must be restored too (they hold the running thread's). */
  restore(s: KernelState): void {
    this.threads.clear();
    this.processes.clear();
    this.spaces.clear();
    for (const t of s.threads) this.threads.set(t.tid, { ...t, regs: t.regs.slice() });
    for (const { space, ...p } of s.processes) {
      this.processes.set(p.pid, { ...p, files: Object.fromEntries(Object.entries(p.files).map(([k, f]) => [k, { ...f }])) });
      if (space) {
        const a = new AddressSpace(this.dev.mmu, this.frames);
        a.restore(space);
        this.spaces.set(p.pid, a);
      }
    }
    this.ready = [...s.ready];
    this.joinWaiters = s.joinWaiters.map((w) => ({ ...w }));
    this.nextPid = s.nextPid;
    this.nextTid = s.nextTid;
    this.frames.restore(s.frames);
    this.consoleDriver.restore(s.console);
    if (s.disk && this.diskDriver) this.diskDriver.restore(s.disk);
    this.end = s.end ? { ...s.end } : null;
    this.current = s.current === null ? null : this.threads.get(s.current)!;
    if (this.current) this.dev.cpu.regs.set(this.current.regs);
    this.loadSpace(this.current?.pid ?? 0);
    if (this.current && this.opts.tlbSize > 0) {
      const table = this.spaceOf(this.current).pageTable;
      s.tlb.forEach((vpn, i) => {
        if (vpn >= 0 && i < this.tlb.length) this.tlb[i] = table[vpn];
      });
      this.tlbNext = s.tlbNext;
      this.dev.mmu.flush();
    }
  }
}
