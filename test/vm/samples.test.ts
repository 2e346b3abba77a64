// The sample VMs, created in a datastore and booted through the library:
// each one's console output and exit status, its console log, and what it
// leaves on its guest file system; one VM in a host folder (HostFolder).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostFolder } from '../../src/vdisk/hostFolder.js';
import { createSample } from '../../src/vm/create.js';
import { readText } from '../../src/vm/folderFiles.js';
import { withGuestFs } from '../../src/vm/guestFiles.js';
import { tempDir } from '../helpers.js';
import { expectedSortStatus } from '../mips/guest.js';
import { datastore, datastoreVm, run } from './vmHelpers.js';

const tmp = tempDir('vmfs-vm-');
afterAll(() => tmp.cleanup());

describe('sample VMs in the datastore', async () => {
  const fs = await datastore();

  it('matmult exits with 7220 (52 mod 256)', async () => {
    const vm = await datastoreVm(fs, 'matmult');
    await createSample(vm, 'matmult');
    const r = await run(vm);
    expect(r.result.reason).toBe('exit');
    expect(r.result.exitStatus).toBe(7220);
    expect(r.exitCode).toBe(7220 & 0xff);
  });

  it('sort exits with its checksum', async () => {
    const vm = await datastoreVm(fs, 'sort');
    await createSample(vm, 'sort');
    const r = await run(vm);
    expect(r.result.exitStatus).toBe(expectedSortStatus());
  });

  it('multiprog Execs matmult and sort from the guest disk, both at once', async () => {
    const vm = await datastoreVm(fs, 'multiprog');
    await createSample(vm, 'multiprog');
    const r = await run(vm);
    expect(r.out).toBe(`matmult 7220\nsort ${expectedSortStatus()}\njoin again -1\n`);
    expect(r.exitCode).toBe(0);
    // Exec read the programs through the simulated disk, which took disk time.
    expect(r.result.stats.numDiskReads).toBeGreaterThan(0);
    expect(await readText(vm.folder, 'console.log')).toBe(r.out);
  });

  it('files writes a file on the guest disk, which the host then reads', async () => {
    const vm = await datastoreVm(fs, 'files');
    await createSample(vm, 'files');
    const r = await run(vm);
    expect(r.out).toBe('hello, file\nread 12\nmissing -1\n');
    expect(r.exitCode).toBe(0);
    expect(r.result.stats.numDiskWrites).toBeGreaterThan(0);
    const note = await withGuestFs(vm, false, (g) => g.readFile('note.txt'));
    expect(Buffer.from(note).toString()).toBe('hello, file\n');
  });

  it('the shell runs programs from its disk, with console input', async () => {
    const vm = await datastoreVm(fs, 'shell');
    await createSample(vm, 'shell');
    const r = await run(vm, { input: 'hi\nrun matmult\nrun nothing\nexit\n' });
    expect(r.out).toBe('--> hi\n--> exit status 7220\n--> no such program: nothing\n--> ');
    expect(r.exitCode).toBe(0);
    expect(r.messages).toEqual(['Exec: nothing: no such file']);
    const log = await readText(vm.folder, 'vmware.log');
    expect(log).toMatch(/\| vmx\| Powering on shell \(16 MiB, disk shell.vmdk, init shell\)\n/);
    expect(log).toMatch(/Stopped \(exit\) at tick \d+, exit status 0\n$/);
  });

  it('a VM in a host folder boots the same way', async () => {
    const dir = join(tmp.path, 'hostvm');
    mkdirSync(dir);
    const vm = { folder: new HostFolder(dir), name: 'hostvm' };
    await createSample(vm, 'files');
    const r = await run(vm);
    expect(r.out).toBe('hello, file\nread 12\nmissing -1\n');
  });
});
