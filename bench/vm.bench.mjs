// VM runner: time from `vm run` to the first guest instruction (against
// building a bare machine from a host file, as `vmfs mips run` does);
// snapshot and revert time against memory size, for the memory a guest
// really uses and for memory entirely dirty (worst case: every page stored),
// against writing / reading that much memory to a host file; guest file
// system throughput through the simulated disk device (Exec of a 60 KB file
// read sector by sector with Nachos disk timing) against reading the same
// file straight from the virtual disk. All in a datastore file in workdir.
// And restart after host failure: the time from kill -9 of the host running
// a VM (a `vmfs vm run -d` process) to `vmfs vm ha --watch` on another host
// process resuming it from its checkpoint, with the default cluster timings,
// against the configured lease (the soonest a host may be judged dead).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CLUSTER_PARAMS } from '../dist/cluster/clusterConfig.js';
import { formatDatastore } from '../dist/fs/datastore.js';
import { Machine } from '../dist/mips/machine.js';
import { deviceSizeFor } from '../dist/volume/volumeHeader.js';
import { createSample, createVm } from '../dist/vm/create.js';
import { DatastoreFolder } from '../dist/vm/datastoreFolder.js';
import { readWhole, writeWhole } from '../dist/vm/folderFiles.js';
import { withGuestFs } from '../dist/vm/guestFiles.js';
import { runVm } from '../dist/vm/runner.js';
import { decodeVmsn, encodeVmsn } from '../dist/vm/vmsn.js';

export const title = 'VM runner: boot, snapshot and revert, guest disk throughput';

const best = async (n, fn) => {
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    min = Math.min(min, performance.now() - t);
  }
  return min;
};

export async function run({ workdir, root, log }) {
  const fs = await formatDatastore([join(workdir, 'ds.vmfs')], { size: deviceSizeFor(1) });
  const bin = (p) => readFileSync(join(root, 'fixtures/guest/bin/nachos-mips1', p));
  let n = 0;
  const newVm = async (memMiB, files, init) => {
    const name = `vm${++n}`;
    await fs.mkdir(`/${name}`);
    const vm = { folder: new DatastoreFolder(fs, `/${name}`), name };
    await createVm(vm, { memMiB, diskBytes: 4 << 20, files, init });
    return vm;
  };
  const rows = [];
  try {
    // Boot: vm run to the first instruction.
    const bootVm = await newVm(16, [{ name: 'loop', data: bin('loop') }]);
    const toStart = async (vm, opts) => {
      let min = Infinity;
      for (let i = 0; i < 8; i++) {
        const t = performance.now();
        let at = 0;
        await runVm(vm, { ...opts, onStart: () => (at = performance.now()) });
        min = Math.min(min, at - t);
      }
      return min;
    };
    const bootOnly = await toStart(bootVm, { maxTicks: 1 });
    const bare = await best(10, async () => {
      const m = new Machine({ memSize: 16 << 20 });
      m.load(bin('loop'), 'loop');
    });
    log(`boot to first instruction: ${bootOnly.toFixed(2)} ms (bare machine from a host file ${bare.toFixed(2)} ms)`);
    rows.push({ name: 'vm run to first guest instruction (16 MiB)', value: bootOnly, unit: 'ms', baseline: bare, baselineName: 'bare Machine + load from host file', lowerIsBetter: true });

    for (const mem of [1, 4, 16, 64]) {
      const vm = await newVm(mem, [{ name: 'loop', data: bin('loop') }]);
      // A whole snapshot (pause, save, freeze the disk, write .vmsn/.vmsd/.vmx): a run that takes one minus one that does not.
      let k = 0;
      const withSnap = await best(5, () => runVm(vm, { maxTicks: 5001, snapshotAt: [{ ticks: 5000, name: `s${++k}` }] }));
      const without = await best(5, () => runVm(vm, { maxTicks: 5001 }));
      const snapMs = Math.max(0.01, withSnap - without);
      const revertMs = await toStart(vm, { snapshot: 's1', maxTicks: 5001 });
      // Worst case: every page of memory dirty.
      const m = new Machine({ memSize: mem << 20 });
      m.load(bin('loop'), 'loop');
      await m.run({ maxTicks: 1000 });
      for (let i = 0; i < m.mem.bytes.length; i += 4096) m.mem.bytes.fill((i >> 12) % 251 + 1, i, i + 4096);
      const state = m.save();
      const fullSave = await best(5, async () => writeWhole(vm.folder, 'full.vmsn', encodeVmsn({ machine: state, disk: 'x.vmdk', ticks: 1000, memMiB: mem })));
      const fullRestore = await best(5, async () => {
        const s = decodeVmsn(await readWhole(vm.folder, 'full.vmsn', 1 << 30), 'x');
        new Machine({ memSize: mem << 20 }).restore(s.machine);
      });
      const hostPath = join(workdir, 'mem.bin');
      const hostWrite = await best(5, () => writeFileSync(hostPath, state.memory));
      const hostRead = await best(5, () => readFileSync(hostPath));
      log(`${mem} MiB: snapshot ${snapMs.toFixed(1)} ms, revert+resume ${revertMs.toFixed(1)} ms; all memory dirty: save ${fullSave.toFixed(1)} ms, restore ${fullRestore.toFixed(1)} ms (host file write ${hostWrite.toFixed(1)} ms, read ${hostRead.toFixed(1)} ms)`);
      const target = mem === 16 ? '< 100 ms' : undefined;
      rows.push({ name: `snapshot of a running VM, ${mem} MiB (guest's memory)`, value: snapMs, unit: 'ms', baseline: hostWrite, baselineName: 'write the memory to a host file', target, lowerIsBetter: true });
      rows.push({ name: `revert + resume, ${mem} MiB (guest's memory)`, value: revertMs, unit: 'ms', baseline: hostRead, baselineName: 'read the memory from a host file', target, lowerIsBetter: true });
      rows.push({ name: `save state, ${mem} MiB all dirty`, value: fullSave, unit: 'ms', baseline: hostWrite, baselineName: 'write the memory to a host file', target, lowerIsBetter: true });
      rows.push({ name: `restore state, ${mem} MiB all dirty`, value: fullRestore, unit: 'ms', baseline: hostRead, baselineName: 'read the memory from a host file', target, lowerIsBetter: true });
    }

    // Guest disk throughput: the shell Execs a 60 KB file (read through the guest file system and the simulated disk).
    const big = new Uint8Array(60_000).map((_, i) => (i * 7) & 0xff);
    const shellVm = await newVm(16, [{ name: 'shell', data: bin('shell') }, { name: 'big', data: big }], 'shell');
    let ticks = 0;
    const viaDevice = await best(3, async () => {
      const r = await runVm(shellVm, { input: 'run big\nexit\n', onMessage: () => {} });
      ticks = r.ticks;
    });
    const direct = await best(3, () => withGuestFs(shellVm, false, (g) => g.readFile('big')));
    const mbps = (ms) => big.length / 1e6 / (ms / 1000);
    log(`guest FS via the simulated disk: ${viaDevice.toFixed(1)} ms host time for 60 KB (${ticks} simulated ticks); straight from the virtual disk ${direct.toFixed(1)} ms`);
    rows.push({ name: 'guest FS read through the simulated disk (Exec of 60 KB)', value: mbps(viaDevice), unit: 'MB/s (host time)', baseline: mbps(direct), baselineName: 'same file read straight from the virtual disk' });
    rows.push({ name: 'guest FS read, simulated time', value: big.length / (ticks / 1e6), unit: 'bytes per million ticks' });
  } finally {
    await fs.close();
  }
  const restart = await haRestart(workdir, root, log);
  const lease = DEFAULT_CLUSTER_PARAMS.leaseMs;
  rows.push({ name: `vm ha: VM resumed elsewhere after kill -9 of its host, defaults`, value: restart, unit: 'ms', baseline: lease, baselineName: `configured lease (${lease / 1000} s)`, target: `< ${(lease + 2000) / 1000} s`, lowerIsBetter: true });
  // Times: lower is better, so invert into rates for the ratio column.
  return rows.map((r) => (r.lowerIsBetter ? { name: r.name, value: 1000 / r.value, unit: `/s (${r.value.toFixed(1)} ms)`, baseline: 1000 / r.baseline, baselineName: r.baselineName, target: r.target } : r));
}

/** Milliseconds from kill -9 of the host running a VM to vm ha on another host resuming it. */
async function haRestart(workdir, root, log) {
  const ds = join(workdir, 'ha.vmfs');
  const fs = await formatDatastore([ds], { size: deviceSizeFor(1) }); // mkfs stores the default cluster timings
  await fs.mkdir('/shell');
  await createSample({ folder: new DatastoreFolder(fs, '/shell'), name: 'shell' }, 'shell');
  await fs.close();
  const start = (args) => {
    const child = spawn(process.execPath, [join(root, 'bin/vmfs'), 'vm', ...args, '-d', ds], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const waiters = [];
    child.stdout.on('data', (d) => {
      out += d;
      for (const w of [...waiters]) w();
    });
    const until = (re) =>
      new Promise((resolve) => {
        const check = () => re.test(out) && (waiters.splice(waiters.indexOf(check), 1), resolve(performance.now()));
        waiters.push(check);
        check();
      });
    return { child, until, exited: new Promise((r) => child.on('exit', r)) };
  };
  const ha = start(['ha', '--watch']);
  await ha.until(/watching/);
  // The shell runs matmult (84,499 ticks, a checkpoint at 50,000), then waits for input that never comes.
  const host = start(['run', 'shell', '--checkpoint-every', '50000']);
  host.child.stdin.write('run matmult\n');
  await host.until(/exit status 7220\n--> $/);
  const killed = performance.now();
  host.child.kill('SIGKILL');
  const resumed = await ha.until(/resumed from its checkpoint/);
  await ha.until(/VM 'shell': stopped/);
  ha.child.kill('SIGTERM');
  await Promise.all([host.exited, ha.exited]);
  log(`vm ha: resumed ${((resumed - killed) / 1000).toFixed(2)} s after kill -9 of the running host`);
  return resumed - killed;
}
