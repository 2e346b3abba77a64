// vm run: boots a VM on the MIPS machine. Takes the VM's lock, opens its
// disk chain, mounts the guest file system, and either has the firmware load
// the init program from it or restores a snapshot's saved machine; then
// runs, pausing at the ticks asked for to take snapshots (save the machine
// at an instruction boundary, freeze the disk layer, continue on a new
// delta) and checkpoints. Console output goes to the caller and to the VM's
// console log (written out at every snapshot too, so a VM resumed elsewhere
// from its checkpoint continues the log); the result carries the guest's
// exit status. The machine runs in slices with the event loop served in
// between, so the host's heartbeat goes on; when the lock says the host lost
// its datastore lease, the guest stops at once and nothing more is written.
import { FencedError } from '../cluster/clusterErrors.js';
import { type ConsoleInput } from '../mips/console.js';
import { MachineConfigError } from '../mips/exceptions.js';
import { LoaderError } from '../mips/loader/index.js';
import { Machine, type MachineResult, type MachineState } from '../mips/machine.js';
import { snapshotDisk } from '../vdisk/operations.js';
import { openDisk, type VirtualDisk } from '../vdisk/virtualDisk.js';
import { deviceIo, directIo, VirtualDiskStore } from './diskDevices.js';
import { DiskFileSystem } from './diskFileSystem.js';
import { VmError, VmFencedError } from './errors.js';
import { appendText } from './folderFiles.js';
import { deleteSnapshot, loadSnapshotState, recordSnapshot, revertTo, checkSnapshotName } from './snapshots.js';
import { FileVmLock, type VmLock } from './vmLock.js';
import { diskFolder, loadConfig, loadTree, logLine, saveConfig, type Vm } from './vmFiles.js';

export interface RunOptions {
  input?: string | Uint8Array | ConsoleInput | null;
  output?: (byte: number) => void;
  onMessage?: (message: string) => void;
  /** Resume from this snapshot (revert to it first). */
  snapshot?: string;
  /** Resume the VM's checkpoint if it has one, else boot (decided once the lock is held: vm ha). */
  fromCheckpoint?: boolean;
  /** Take running snapshots at these ticks (the first instruction boundary at or after each). */
  snapshotAt?: { ticks: number; name: string }[];
  /** Keep a checkpoint snapshot ("checkpoint") every this many ticks. */
  checkpointEvery?: number;
  /** Stop (powered on, state lost) after this many ticks. */
  maxTicks?: number;
  /** Who runs the VM (default: a lock file in its folder). */
  lock?: VmLock;
  /** Called once the first guest instruction is about to run (for benchmarks). */
  onStart?: (from: { snapshot: string | null; ticks: number }) => void;
  /** Called after each snapshot or checkpoint is taken, with the tick it was taken at. */
  onSnapshot?: (name: string, ticks: number) => void;
}

export interface RunResult {
  result: MachineResult;
  /** What a command exits with: the guest's status mod 256, 128 + the exception that stopped it, 1 on deadlock. */
  exitCode: number;
  ticks: number;
  /** Snapshots taken during the run (names). */
  snapshots: string[];
}

export const CHECKPOINT = 'checkpoint';

/** The machine runs this many ticks at a time (well under a millisecond of host time)... */
const SLICE_TICKS = 50_000;
/** ...and gives the event loop a turn once this much host time has passed (ms): the heartbeat must renew. */
const YIELD_MS = 10;

export async function runVm(vm: Vm, opts: RunOptions = {}): Promise<RunResult> {
  await loadConfig(vm); // a VM that is not there is said so before any lock is tried
  const lock: VmLock = opts.lock ?? new FileVmLock(vm.folder, vm.name);
  await lock.acquire();
  try {
    return await runLocked(vm, opts, lock.lost);
  } finally {
    // A fenced host writes nothing more: its lock goes stale and a survivor breaks it.
    if (!lock.lost?.aborted) {
      await lock.release().catch((e: unknown) => {
        if (!(e instanceof FencedError)) throw e;
      });
    }
  }
}

async function runLocked(vm: Vm, opts: RunOptions, lost: AbortSignal | undefined): Promise<RunResult> {
  let stoppedByFencing = false;
  const fenced = (e?: unknown) => {
    stoppedByFencing = true;
    const f = e instanceof FencedError ? e : lost?.reason instanceof FencedError ? lost.reason : null;
    return new VmFencedError(`VM '${vm.name}' stopped: this host lost the datastore lease${f ? ` (${f.reason})` : ''}; another host may restart it`);
  };
  const hasCheckpoint = async () => (await loadTree(vm)).snapshots.some((s) => s.displayName === CHECKPOINT);
  const snapshot = opts.fromCheckpoint && (await hasCheckpoint()) ? CHECKPOINT : opts.snapshot;
  let saved: MachineState | null = null;
  if (snapshot !== undefined) {
    const s = await revertTo(vm, snapshot);
    const config = await loadConfig(vm);
    saved = (await loadSnapshotState(vm, s, config.memMiB)).machine as MachineState | null;
  }
  // A checkpoint left by an earlier run is not this run's: vm ha must never resume it.
  if (snapshot !== CHECKPOINT && (await hasCheckpoint())) await deleteSnapshot(vm, CHECKPOINT);
  const config = await loadConfig(vm);
  const stops = [...(opts.snapshotAt ?? [])].sort((a, b) => a.ticks - b.ticks);
  for (const s of stops) checkSnapshotName(s.name);
  if (opts.checkpointEvery !== undefined && !(Number.isSafeInteger(opts.checkpointEvery) && opts.checkpointEvery > 0)) throw new VmError('--checkpoint-every must be a positive number of ticks');
  const disks = await diskFolder(vm, config);
  let disk: VirtualDisk = await openDisk(disks, config.disk, { write: true });
  const store = new VirtualDiskStore(disk, vm.folder.describe(config.disk));
  let consoleBytes: number[] = [];
  const taken: string[] = [];
  /** Appends the console output so far to the console log. */
  const writeConsole = async () => {
    if (consoleBytes.length === 0) return;
    const text = Buffer.from(consoleBytes).toString('latin1');
    consoleBytes = [];
    await appendText(vm.folder, config.consoleLog, text);
  };
  let machine: Machine | undefined;
  const stopOnLoss = () => machine?.stop();
  lost?.addEventListener('abort', stopOnLoss);
  try {
    const hostFs = await DiskFileSystem.mount(directIo(disk, vm.folder.describe(config.disk)), vm.folder.describe(config.disk));
    const m: Machine = new Machine({
      memSize: config.memMiB << 20,
      abi: 'nachos' as const,
      timer: config.timer,
      seed: config.seed,
      input: opts.input ?? null,
      output: (b: number) => {
        consoleBytes.push(b);
        opts.output?.(b);
      },
      fs: hostFs.through(deviceIo(store.numSectors, () => m.kernel)),
      disk: store,
      onMessage: (text: string) => opts.onMessage?.(text),
    });
    machine = m;
    if (saved) {
      try {
        m.restore(saved);
      } catch (e) {
        throw new VmError(`snapshot '${snapshot}': its saved machine cannot be restored (${(e as Error).message})`);
      }
      await logLine(vm, `Resuming snapshot '${snapshot}' at tick ${m.stats.totalTicks}`);
    } else {
      // The firmware: the init program, read from the guest file system.
      if (!(await hostFs.open(config.init))) throw new VmError(`VM '${vm.name}': no program '${config.init}' on its disk to boot`);
      try {
        m.load(await hostFs.readFile(config.init), config.init);
      } catch (e) {
        if (e instanceof LoaderError || e instanceof MachineConfigError) throw new VmError(`VM '${vm.name}': cannot boot '${config.init}': ${e.message}`);
        throw e;
      }
      await logLine(vm, `Powering on ${vm.name} (${config.memMiB} MiB, disk ${config.disk}, init ${config.init})`);
    }
    opts.onStart?.({ snapshot: snapshot ?? null, ticks: m.stats.totalTicks });
    const maxTicks = opts.maxTicks ?? Infinity;
    let nextCheckpoint = opts.checkpointEvery !== undefined ? (Math.floor(m.stats.totalTicks / opts.checkpointEvery) + 1) * opts.checkpointEvery : Infinity;
    while (stops.length > 0 && stops[0].ticks <= m.stats.totalTicks) stops.shift();
    let result: MachineResult;
    try {
      result = await runWithStops();
    } catch (e) {
      if (lost?.aborted || e instanceof FencedError) throw fenced(e);
      // A checksummed .vmsn can still hold a machine the kernel cannot go on with (a hand-made one): say so in one line.
      if (saved && (e instanceof TypeError || e instanceof RangeError || (e as Error).constructor === Error)) throw new VmError(`snapshot '${snapshot}': the restored machine cannot go on (${(e as Error).message})`);
      throw e;
    }
    await disk.flush();
    const exitCode = result.reason === 'deadlock' ? 1 : result.fault ? 128 + result.fault.type : (result.exitStatus ?? 0) & 0xff;
    await logLine(vm, `Stopped (${result.reason}) at tick ${result.stats.totalTicks}, exit status ${result.exitStatus ?? 'none'}`);
    return { result, exitCode, ticks: result.stats.totalTicks, snapshots: taken };

    /** Runs to the end in slices, pausing at each snapshot and checkpoint tick; stops at once if the lease is lost. */
    async function runWithStops(): Promise<MachineResult> {
      let result: MachineResult;
      let lastYield = performance.now();
      for (;;) {
        const target = Math.min(stops[0]?.ticks ?? Infinity, nextCheckpoint, maxTicks);
        result = await m.run({ maxTicks: Math.min(target, m.stats.totalTicks + SLICE_TICKS) });
        if (lost?.aborted) throw fenced();
        if (result.reason !== 'limit' || m.stats.totalTicks >= maxTicks) break;
        if (m.stats.totalTicks < target) {
          if (performance.now() - lastYield >= YIELD_MS) {
            // Let the heartbeat and the rest of the host run.
            await new Promise((resolve) => setImmediate(resolve));
            lastYield = performance.now();
            if (lost?.aborted) throw fenced();
          }
          continue;
        }
        const paused = await saveAtBoundary(m);
        if ('result' in paused) {
          result = paused.result;
          break;
        }
        const ticks = m.stats.totalTicks;
        const snapshotName = stops.length > 0 && ticks >= stops[0].ticks ? stops.shift()!.name : null;
        await disk.flush();
        await disk.close();
        // A new checkpoint replaces the last: that one's layer absorbs the current delta first, so the chain does not grow.
        if (snapshotName === null && (await loadTree(vm)).snapshots.some((s) => s.displayName === CHECKPOINT)) await deleteSnapshot(vm, CHECKPOINT);
        // The disk layer so far is frozen with the state; a new delta takes the writes.
        const cur = await loadConfig(vm);
        const delta = await snapshotDisk(disks, cur.disk);
        disk = await openDisk(disks, delta, { write: true });
        store.disk = disk;
        await saveConfig(vm, { ...cur, disk: delta });
        // The console log holds exactly what the guest printed up to the saved state.
        await writeConsole();
        await recordSnapshot(vm, snapshotName ?? CHECKPOINT, cur.disk, paused.state, ticks, config.memMiB);
        opts.onSnapshot?.(snapshotName ?? CHECKPOINT, ticks);
        if (snapshotName !== null) taken.push(snapshotName);
        else nextCheckpoint = (Math.floor(ticks / opts.checkpointEvery!) + 1) * opts.checkpointEvery!;
        while (stops.length > 0 && stops[0].ticks <= ticks) stops.shift();
      }
      return result;
    }
  } finally {
    lost?.removeEventListener('abort', stopOnLoss);
    // A fenced host writes nothing more (its writes would fail anyway).
    if (!lost?.aborted && !stoppedByFencing) {
      await writeConsole().catch(() => {}); // the run's result stands without its console log
      await disk.close();
    }
  }
}

/**
 * Saves the machine at the first instruction boundary where no disk transfer
 * or file system call is under way, running on a tick at a time until then;
 * or the machine's result if it ends first.
 */
async function saveAtBoundary(machine: Machine): Promise<{ state: MachineState } | { result: MachineResult }> {
  for (;;) {
    try {
      return { state: machine.save() };
    } catch (e) {
      if (!(e instanceof MachineConfigError)) throw e;
    }
    const result = await machine.run({ maxTicks: machine.stats.totalTicks + 1 });
    if (result.reason !== 'limit') return { result };
  }
}
