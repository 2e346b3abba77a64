// Hostile or broken VM files: each refused with a clear one-line VmError,
// never a crash or an access outside the VM's folder. Also the lock: a second
// run of a VM names the host and pid that hold it.
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createSample } from '../../src/vm/create.js';
import { VmError, VmLockedError } from '../../src/vm/errors.js';
import { readWhole, writeWhole } from '../../src/vm/folderFiles.js';
import { runVm } from '../../src/vm/runner.js';
import { snapshotPoweredOff, revertTo } from '../../src/vm/snapshots.js';
import { FileVmLock } from '../../src/vm/vmLock.js';
import { loadConfig, loadTree, type Vm } from '../../src/vm/vmFiles.js';
import { decodeVmsn, encodeVmsn } from '../../src/vm/vmsn.js';
import { parseVmx } from '../../src/vm/vmx.js';
import { datastore, datastoreVm, run } from './vmHelpers.js';

const fs = await datastore();
let n = 0;
async function sample(): Promise<Vm> {
  const vm = await datastoreVm(fs, `vm${++n}`);
  await createSample(vm, 'files');
  return vm;
}

async function editVmx(vm: Vm, edit: (text: string) => string): Promise<void> {
  const text = Buffer.from(await readWhole(vm.folder, `${vm.name}.vmx`, 1 << 16)).toString();
  await writeWhole(vm.folder, `${vm.name}.vmx`, edit(text));
}

async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(VmError);
  expect((e as Error).message).toMatch(message);
  expect((e as Error).message).not.toContain('\n');
}

describe('hostile .vmx', () => {
  const cases: [string, (t: string) => string, RegExp][] = [
    ['a disk outside the folder', (t) => t.replace(/scsi0:0.fileName = ".*"/, 'scsi0:0.fileName = "../vm1/vm1.vmdk"'), /scsi0:0.fileName: '..\/vm1\/vm1.vmdk' is not a file name inside the VM's folder/],
    ['an absolute disk path', (t) => t.replace(/scsi0:0.fileName = ".*"/, 'scsi0:0.fileName = "/etc/passwd.vmdk"'), /is not a file name inside the VM's folder/],
    ['a console log outside', (t) => t.replace(/serial0.fileName = ".*"/, 'serial0.fileName = "../../x.log"'), /serial0.fileName: '..\/..\/x.log' is not a file name/],
    ['a malformed line', (t) => t.replace('guestOS = "nachos-mips"', 'guestOS = nachos'), /vm\d+\.vmx: line 6 is not 'key = "value"': "guestOS = nachos"/],
    ['a key set twice', (t) => t + 'memsize = "8"\n', /'memsize' is set twice/],
    ['too much memory', (t) => t.replace(/memsize = ".*"/, 'memsize = "100000"'), /memsize must be 1 to 256 \(MiB\), got '100000'/],
    ['no memory size', (t) => t.replace(/memsize = ".*"\n/, ''), /'memsize' is missing/],
  ];
  for (const [what, edit, message] of cases) {
    it(`refuses ${what}`, async () => {
      const vm = await sample();
      await editVmx(vm, edit);
      await refused(runVm(vm), message);
    });
  }

  it('does not follow a disk that is a symlink out of the folder', async () => {
    const vm = await sample();
    await fs.symlink('/vm1/vm1.vmdk', `/${vm.name}/evil.vmdk`);
    await editVmx(vm, (t) => t.replace(/scsi0:0.fileName = ".*"/, 'scsi0:0.fileName = "evil.vmdk"'));
    const e = await runVm(vm).catch((err: Error) => err);
    expect((e as Error).message).toMatch(/evil.vmdk: not a regular file/);
  });

  it('parses what VMware writes, comments and blank lines included', () => {
    const c = parseVmx('.encoding = "UTF-8"\n# a comment\n\nmemsize = "32"\nscsi0:0.fileName = "a.vmdk"\nunknown.key = "kept"\n', 'x.vmx');
    expect(c).toMatchObject({ memMiB: 32, disk: 'a.vmdk', init: 'init', timer: 'periodic' });
  });
});

describe('hostile .vmsd', () => {
  const cases: [string, string, RegExp][] = [
    ['a state file outside the folder', 'snapshot0.filename = "../../../etc/x.vmsn"', /snapshot0.filename: '..\/..\/..\/etc\/x.vmsn' is not a file name inside/],
    ['a disk outside the folder', 'snapshot0.disk0.fileName = "/dev/sda.vmdk"', /snapshot0.disk0.fileName: '\/dev\/sda.vmdk' is not a file name inside/],
    ['a parent cycle', 'snapshot0.parent = "1"', /snapshot0.parent 1 is not an earlier snapshot/],
    ['a missing parent', 'snapshot0.parent = "9"', /snapshot0.parent 9 is not an earlier snapshot/],
    ['too many snapshots', 'snapshot.numSnapshots = "100000"', /snapshot.numSnapshots must be 0 to 256/],
  ];
  for (const [what, line, message] of cases) {
    it(`refuses ${what}`, async () => {
      const vm = await sample();
      await snapshotPoweredOff(vm, 's');
      const text = Buffer.from(await readWhole(vm.folder, `${vm.name}.vmsd`, 1 << 16)).toString();
      const key = line.slice(0, line.indexOf(' ='));
      const edited = text.includes(`${key} =`) ? text.replace(new RegExp(`${key.replace(/\./g, '\\.')} = ".*"`), line) : text + line + '\n';
      await writeWhole(vm.folder, `${vm.name}.vmsd`, edited);
      await refused(revertTo(vm, 's'), message);
    });
  }
});

describe('corrupt .vmsn', () => {
  async function runningSnapshot(): Promise<{ vm: Vm; file: string; bytes: Uint8Array }> {
    const vm = await sample();
    await run(vm, { snapshotAt: [{ ticks: 2000, name: 'p' }] });
    const file = (await loadTree(vm)).snapshots[0].file;
    return { vm, file, bytes: await readWhole(vm.folder, file, 1 << 30) };
  }

  it('round-trips a machine state', async () => {
    const { bytes } = await runningSnapshot();
    // Decoded and encoded again: the same bytes.
    expect(Buffer.from(encodeVmsn(decodeVmsn(bytes, 'x'))).equals(Buffer.from(bytes))).toBe(true);
  });

  const cases: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    ['a flipped byte', (b) => b.map((x, i) => (i === b.length - 100 ? x ^ 1 : x)), /checksum mismatch/],
    ['a truncated file', (b) => b.subarray(0, b.length - 10), /the header says \d+ bytes follow, the file has \d+/],
    ['a bad magic', (b) => b.map((x, i) => (i === 0 ? 0x58 : x)), /bad magic/],
    ['a short file', (b) => b.subarray(0, 10), /shorter than its header/],
  ];
  for (const [what, damage, message] of cases) {
    it(`refuses ${what}`, async () => {
      const { vm, file, bytes } = await runningSnapshot();
      await writeWhole(vm.folder, file, damage(bytes));
      await refused(runVm(vm, { snapshot: 'p' }), message);
    });
  }

  it('refuses a well-formed state whose machine is nonsense', async () => {
    const { vm, file, bytes } = await runningSnapshot();
    const s = decodeVmsn(bytes, 'x');
    (s.machine as { memory: Uint8Array }).memory = new Uint8Array(12);
    await writeWhole(vm.folder, file, encodeVmsn(s));
    await refused(runVm(vm, { snapshot: 'p' }), /snapshot 'p': its saved machine cannot be restored \(saved memory is 12 bytes/);
  });

  it('refuses a state saved for another disk layer', async () => {
    const { vm, file, bytes } = await runningSnapshot();
    const s = decodeVmsn(bytes, 'x');
    await writeWhole(vm.folder, file, encodeVmsn({ ...s, disk: 'other.vmdk' }));
    await refused(runVm(vm, { snapshot: 'p' }), /saved for disk other.vmdk, the snapshot tree says/);
  });
});

describe('hand-made .vmsn (checksum right, machine inconsistent)', () => {
  /** Replaces one field somewhere in the saved machine by a value of the wrong kind. */
  function mutate(machine: unknown, rnd: () => number): void {
    const slots: [Record<string | number, unknown>, string][] = [];
    const walk = (o: unknown) => {
      if (!o || typeof o !== 'object' || ArrayBuffer.isView(o)) return;
      for (const k of Object.keys(o)) {
        slots.push([o as Record<string, unknown>, k]);
        walk((o as Record<string, unknown>)[k]);
      }
    };
    walk(machine);
    const [o, k] = slots[Math.floor(rnd() * slots.length)];
    const values = [null, -1, 1e12, 'x', [], {}, 0, true, new Int32Array(3)];
    o[k] = values[Math.floor(rnd() * values.length)];
  }

  it('each either runs or is refused with a VmError, never another error or a hang', async () => {
    const vm = await datastoreVm(fs, 'handmade');
    await createSample(vm, 'shell');
    await run(vm, { input: 'run files\nrun sort\nexit\n', snapshotAt: [{ ticks: 150_000, name: 'p' }] });
    const file = (await loadTree(vm)).snapshots[0].file;
    const bytes = await readWhole(vm.folder, file, 1 << 30);
    let seed = 1;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    let refusedCount = 0;
    for (let i = 0; i < 60; i++) {
      const s = decodeVmsn(bytes, 'x');
      mutate(s.machine, rnd);
      await writeWhole(vm.folder, file, encodeVmsn(s));
      const e = await run(vm, { snapshot: 'p', input: 'exit\n', maxTicks: 20_000_000 }).then(
        () => null,
        (err: unknown) => err,
      );
      if (e === null) continue;
      expect(e, String(e)).toBeInstanceOf(VmError);
      refusedCount++;
    }
    expect(refusedCount).toBeGreaterThan(0);
  });
});

describe('the VM lock', () => {
  it('a second run names the host and pid holding the VM, and the VM is untouched', async () => {
    const vm = await sample();
    const other = new FileVmLock(vm.folder, vm.name, { host: 'esx-a', pid: 4242, since: '' });
    await other.acquire();
    const e = await runVm(vm).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(VmLockedError);
    expect((e as Error).message).toMatch(/^VM 'vm\d+' is in use: held by host esx-a, pid 4242, since \d{4}-/);
    expect((await loadConfig(vm)).disk).toBe(`${vm.name}.vmdk`);
    await other.release();
    expect((await run(vm)).exitCode).toBe(0);
    expect(await vm.folder.exists('vm.lck')).toBe(false);
  });

  it('a lock left by a runner killed on this machine is broken; one of another machine is not', async () => {
    const vm = await sample();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has exited
    await new FileVmLock(vm.folder, vm.name, { host: hostname(), pid: dead, since: '' }).acquire();
    expect((await run(vm)).exitCode).toBe(0);
    expect(await vm.folder.exists('vm.lck')).toBe(false);
    await new FileVmLock(vm.folder, vm.name, { host: 'esx-b', pid: dead, since: '' }).acquire();
    await expect(runVm(vm)).rejects.toBeInstanceOf(VmLockedError);
  });
});
