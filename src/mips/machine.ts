// The whole MIPS machine: CPU, memory and MMU, the interrupt controller and
// clock, the timer, console and (optional) disk, and the host-side kernel.
//
// The run loop, as Nachos's Machine::Run but a slice at a time: the CPU runs
// exactly as many instructions as there are ticks to the next pending
// interrupt (one tick each), the clock advances by what ran, due interrupts
// are serviced, an exception goes to the kernel (which costs a SystemTick),
// and a timer interrupt that asked for it switches threads. With no thread
// ready the clock jumps to the next interrupt. Nothing in a run depends on
// the host's speed or scheduling, so the same program, input and seed give
// the same output and tick counts every time. When a device or the kernel
// waits for the host (console input, a virtual disk, a file system), the
// loop awaits it before simulated time goes on.
import { Console, type ConsoleInput, BufferInput, type ConsoleState } from './console.js';
import { Cpu } from './cpu.js';
import { Disk, type DiskState, type SectorStore } from './disk.js';
import { ExceptionType, MachineConfigError } from './exceptions.js';
import { Interrupt, type InterruptState, MachineStatus } from './interrupt.js';
import { MemoryFileSystem, type GuestFileSystem } from './kernel/guestFs.js';
import { type Abi, type GuestFault, Kernel, type KernelState } from './kernel/kernel.js';
import { LinuxSyscalls } from './kernel/linuxAbi.js';
import { NachosSyscalls } from './kernel/nachosAbi.js';
import { loadProgram } from './loader/index.js';
import { PhysicalMemory } from './memory.js';
import { Mmu } from './mmu.js';
import { Stats, type StatsState } from './stats.js';
import { Timer, type TimerMode, type TimerState } from './timer.js';

export interface MachineOptions {
  /** Physical memory in bytes (default 16 MiB). */
  memSize?: number;
  /** Page size in bytes (default 4096). */
  pageSize?: number;
  /** Instruction set; by default what the first program's ELF header says. */
  isa?: 'mips1' | 'mips32';
  /** System call interface (default 'nachos'). */
  abi?: Abi;
  /** Block compiler on (default true). */
  jit?: boolean;
  /** Timer: 'periodic' every timerInterval ticks (default), 'random' 1..2*timerInterval (seeded), or 'off'. */
  timer?: TimerMode;
  timerInterval?: number;
  /** Seed of the random timer. */
  seed?: number;
  /** Console input: a string or bytes fixed in advance, a ConsoleInput, or null for none (reads see end of input). */
  input?: string | Uint8Array | ConsoleInput | null;
  /** Receives each byte the guest writes to the console. */
  output?: (byte: number) => void;
  /** Guest file system for Exec, Create, Open... (default: an empty one in memory). */
  fs?: GuestFileSystem;
  /** Sectors of the simulated disk; no disk without it. */
  disk?: SectorStore;
  /** Stack per thread in bytes (default 64 KiB). */
  stackSize?: number;
  /** Translate through a software-managed TLB of this many entries, refilled by the kernel (default 0: page tables only; Nachos's TLB has 4). */
  tlbSize?: number;
  /** Instruction trace (slow: forces the interpreter). */
  trace?: (pc: number, instr: number, text: string) => void;
  /** Kernel messages (a program stopped by an exception, a failed Exec). */
  onMessage?: (message: string) => void;
}

export interface MachineResult {
  /**
   * 'halt': Halt was called; 'exit': every program ended; 'deadlock': threads
   * wait for what cannot happen; 'limit': maxTicks reached, 'stopped': stop()
   * was called (for both, run again to go on).
   */
  reason: 'halt' | 'exit' | 'deadlock' | 'limit' | 'stopped';
  /** The first program's exit status (0 after Halt; -1 if an exception stopped it; null if it has not ended). */
  exitStatus: number | null;
  /** What stopped the first program, if an exception did. */
  fault: GuestFault | null;
  stats: StatsState;
}

/** Everything a machine is, as plain data and typed arrays: save() it and restore() it into a machine built with the same options. */
export interface MachineState {
  version: 1;
  isa: 'mips1' | 'mips32';
  abi: Abi;
  memory: Uint8Array;
  cpuRegs: Int32Array;
  stats: StatsState;
  interrupt: InterruptState;
  timer: TimerState;
  console: ConsoleState;
  disk: DiskState | null;
  kernel: KernelState;
  mainPid: number;
}

/** Instructions per slice when no interrupt is pending, so host work still gets a look in. */
const MaxSlice = 1 << 22;

export class Machine {
  readonly stats = new Stats();
  readonly interrupt: Interrupt;
  readonly mem: PhysicalMemory;
  readonly mmu: Mmu;
  readonly timer: Timer;
  readonly console: Console;
  readonly disk: Disk | null;
  cpu!: Cpu;
  kernel!: Kernel;
  private mainPid = 0;
  private running = false;
  private stopRequested = false;
  private wakeStop: (() => void) | null = null;
  private readonly messages: string[] = [];

  constructor(readonly options: MachineOptions = {}) {
    const memSize = options.memSize ?? 16 << 20;
    this.mem = new PhysicalMemory(memSize);
    this.mmu = new Mmu(this.mem, options.pageSize ?? 4096);
    this.interrupt = new Interrupt(this.stats);
    this.timer = new Timer(this.interrupt, options.timer ?? 'periodic', options.seed ?? 0, options.timerInterval);
    const input = options.input;
    const consoleInput = input === null || input === undefined ? null : typeof input === 'string' || input instanceof Uint8Array ? new BufferInput(input) : input;
    this.console = new Console(this.interrupt, this.stats, consoleInput, options.output ?? (() => {}));
    this.disk = options.disk ? new Disk(this.interrupt, this.stats, options.disk) : null;
    if (options.isa) this.boot(options.isa);
  }

  /** Kernel messages so far. */
  get log(): readonly string[] {
    return this.messages;
  }

  /** Loads the first program (an ELF or NOFF file) and makes it ready to run; returns its pid. */
  load(file: Uint8Array, name: string): number {
    if (this.mainPid !== 0) throw new MachineConfigError('a program is already loaded; later ones start with Exec');
    if (!this.kernel) this.boot(loadProgram(file, name).isa);
    this.mainPid = this.kernel.spawn(file, name);
    this.timer.start();
    this.interrupt.enabled = true;
    return this.mainPid;
  }

  /**
   * Runs until the machine halts, every program has ended, nothing can
   * happen any more, or the clock passes `maxTicks` (then run again to go on).
   */
  async run(limits: { maxTicks?: number } = {}): Promise<MachineResult> {
    if (!this.kernel || this.mainPid === 0) throw new MachineConfigError('no program loaded');
    if (this.running) throw new MachineConfigError('the machine is already running');
    this.running = true;
    try {
      return await this.loop(limits.maxTicks ?? Infinity);
    } finally {
      this.running = false;
    }
  }

  private async loop(maxTicks: number): Promise<MachineResult> {
    const { cpu, kernel, interrupt, stats } = this;
    while (!kernel.end) {
      if (this.stopRequested) {
        this.stopRequested = false;
        return this.result('stopped');
      }
      const wait = this.console.hostWait() ?? this.disk?.hostWait() ?? kernel.hostWait();
      if (wait) {
        await Promise.race([wait, new Promise<void>((resolve) => (this.wakeStop = resolve))]);
        this.wakeStop = null;
        continue;
      }
      if (stats.totalTicks >= maxTicks) return this.result('limit');
      kernel.dispatch();
      if (!kernel.current) {
        if (!kernel.hasThreads) kernel.end = { reason: 'exit' };
        else if (!interrupt.idle()) {
          kernel.end = { reason: 'deadlock' };
          this.message('machine stopped: every thread is waiting and no device will interrupt');
        }
        continue;
      }
      interrupt.status = MachineStatus.User;
      const budget = Math.min(interrupt.nextTime() - stats.totalTicks, maxTicks - stats.totalTicks, MaxSlice);
      const ran = cpu.run(Math.max(1, budget));
      interrupt.advanceUser(ran);
      interrupt.status = MachineStatus.System;
      if (cpu.exception !== ExceptionType.None) {
        // The kernel runs with interrupts off; turning them back on to return costs a SystemTick.
        interrupt.setLevel(false);
        kernel.handleException(cpu.exception);
        if (kernel.end) break;
        interrupt.setLevel(true);
      } else interrupt.serviceDue();
      if (interrupt.yieldOnReturn) {
        interrupt.yieldOnReturn = false;
        kernel.yieldCpu();
      }
    }
    return this.result(kernel.end.reason);
  }

  /**
   * Makes run() return ('stopped') as soon as it can: at once if it waits for
   * console input, else after the current slice. Run again to go on.
   */
  stop(): void {
    this.stopRequested = true;
    this.wakeStop?.();
  }

  save(): MachineState {
    // Console input not yet typed is fine (the poll is a pending event); work on the host is not.
    if (this.disk?.hostWait() || this.kernel.hostBusy) {
      throw new MachineConfigError('cannot save the machine while a disk transfer or a file system call is under way');
    }
    return {
      version: 1,
      isa: this.cpu.mips32 ? 'mips32' : 'mips1',
      abi: this.kernel.opts.abi,
      memory: this.mem.bytes.slice(),
      cpuRegs: this.cpu.regs.slice(),
      stats: this.stats.save(),
      interrupt: this.interrupt.save(),
      timer: this.timer.save(),
      console: this.console.save(),
      disk: this.disk?.save() ?? null,
      kernel: this.kernel.save(),
      mainPid: this.mainPid,
    };
  }

  /** Restores a saved machine into this one (built with the same options, no program loaded). */
  restore(s: MachineState): void {
    if (s.version !== 1) throw new MachineConfigError(`machine state version ${String(s.version)} is not supported`);
    if (s.memory.length !== this.mem.size) throw new MachineConfigError(`saved memory is ${s.memory.length} bytes, this machine has ${this.mem.size}`);
    if ((s.disk === null) !== (this.disk === null)) {
      throw new MachineConfigError(s.disk ? 'the saved machine has a disk, this one has none' : 'the saved machine has no disk, this one has one');
    }
    if (s.abi !== (this.options.abi ?? 'nachos')) throw new MachineConfigError(`the saved machine runs the ${s.abi} ABI, this one ${this.options.abi ?? 'nachos'}`);
    if (this.mainPid !== 0) throw new MachineConfigError('restore into a fresh machine (this one has a program loaded)');
    if (!this.kernel) this.boot(s.isa);
    this.mem.bytes.set(s.memory);
    this.stats.restore(s.stats);
    this.interrupt.restore(s.interrupt);
    try {
      this.timer.restore(s.timer);
    } catch (e) {
      throw new MachineConfigError((e as Error).message);
    }
    this.console.restore(s.console);
    if (s.disk && this.disk) this.disk.restore(s.disk);
    this.kernel.restore(s.kernel);
    this.cpu.regs.set(s.cpuRegs);
    this.mainPid = s.mainPid;
  }

  private boot(isa: 'mips1' | 'mips32'): void {
    this.cpu = new Cpu(this.mmu, { isa: this.options.isa ?? isa, jit: this.options.trace ? false : this.options.jit });
    if (this.options.trace) this.cpu.trace = this.options.trace;
    const abi = this.options.abi ?? 'nachos';
    if (abi !== 'nachos' && abi !== 'linux') throw new MachineConfigError(`unknown ABI '${String(abi)}' (nachos or linux)`);
    const stackSize = this.options.stackSize ?? 64 << 10;
    const tlbSize = this.options.tlbSize ?? 0;
    if (!Number.isInteger(tlbSize) || tlbSize < 0 || tlbSize > 4096) throw new MachineConfigError(`TLB size must be 0 (none) to 4096 entries (got ${tlbSize})`);
    if (!Number.isInteger(stackSize) || stackSize < 1 || stackSize > 64 << 20) throw new MachineConfigError(`stack size must be 1 byte to 64 MiB (got ${stackSize})`);
    this.kernel = new Kernel(
      { cpu: this.cpu, mmu: this.mmu, interrupt: this.interrupt, stats: this.stats, console: this.console, timer: this.timer, disk: this.disk },
      {
        abi,
        fs: this.options.fs ?? new MemoryFileSystem(),
        stackPages: Math.max(1, Math.ceil(stackSize / this.mmu.pageSize)),
        tlbSize,
        onMessage: (m) => this.message(m),
      },
    );
    this.kernel.personality = abi === 'linux' ? new LinuxSyscalls() : new NachosSyscalls();
  }

  private message(m: string): void {
    this.messages.push(m);
    this.options.onMessage?.(m);
  }

  private result(reason: MachineResult['reason']): MachineResult {
    const main = this.kernel.processes.get(this.mainPid);
    const halted = reason === 'halt' && main?.exitStatus === null;
    return {
      reason,
      exitStatus: halted ? 0 : (main?.exitStatus ?? null),
      fault: main?.fault ? { ...main.fault } : null,
      stats: this.stats.save(),
    };
  }
}
