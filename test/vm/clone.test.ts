// Clones: full (a copy of the current disk or of the disk a snapshot froze)
// and linked (a delta on a snapshot's layer); writes in the clone never touch
// the source.
import { describe, expect, it } from 'vitest';
import { cloneVm } from '../../src/vm/clone.js';
import { createSample } from '../../src/vm/create.js';
import { withGuestFs } from '../../src/vm/guestFiles.js';
import { deleteSnapshot, snapshotPoweredOff } from '../../src/vm/snapshots.js';
import { readAll } from '../helpers.js';
import { loadConfig } from '../../src/vm/vmFiles.js';
import { datastore, datastoreVm, diskBytes, run } from './vmHelpers.js';

describe('vm clone', () => {
  it('a clone of a snapshot runs on its own disk; the source stays as it was', async () => {
    const fs = await datastore();
    const src = await datastoreVm(fs, 'src');
    await createSample(src, 'files');
    await snapshotPoweredOff(src, 'fresh');
    const before = await diskBytes(src);
    const dst = await datastoreVm(fs, 'dst');
    await cloneVm(src, dst, { snapshot: 'fresh' });
    expect(await loadConfig(dst)).toMatchObject({ disk: 'dst.vmdk', displayName: 'dst', init: 'files', memMiB: 16 });
    const r = await run(dst);
    expect(r.out).toBe('hello, file\nread 12\nmissing -1\n');
    await withGuestFs(dst, true, (g) => g.writeFile('more', Buffer.from('clone only')));
    expect((await withGuestFs(dst, false, (g) => g.list())).map((f) => f.name).sort()).toEqual(['files', 'more', 'note.txt']);
    expect((await withGuestFs(src, false, (g) => g.list())).map((f) => f.name)).toEqual(['files']);
    expect((await diskBytes(src)).equals(before)).toBe(true);
  });
});

describe('vm clone --linked', () => {
  it("a linked clone's writes stay in its own delta; the source's layers are untouched and its snapshot is held", async () => {
    const fs = await datastore();
    const src = await datastoreVm(fs, 'base');
    await createSample(src, 'files');
    await snapshotPoweredOff(src, 'golden');
    const frozen = (await readAll(fs, '/base/base.vmdk')).toString('latin1');
    const srcBefore = await diskBytes(src);
    const dst = await datastoreVm(fs, 'linked');
    await cloneVm(src, dst, { snapshot: 'golden', linked: true });
    expect(await loadConfig(dst)).toMatchObject({ disk: 'linked.vmdk', linkedTo: 'base' });
    // The clone's folder holds only its own delta.
    expect((await fs.readdir('/linked')).map((e) => e.name).filter((n) => n.endsWith('.vmdk'))).toEqual(['linked.vmdk']);
    const r = await run(dst);
    expect(r.out).toBe('hello, file\nread 12\nmissing -1\n');
    await withGuestFs(dst, true, (g) => g.writeFile('mine', Buffer.from('clone')));
    await snapshotPoweredOff(dst, 'c1');
    expect((await withGuestFs(dst, false, (g) => g.list())).map((f) => f.name).sort()).toEqual(['files', 'mine', 'note.txt']);
    expect((await readAll(fs, '/base/base.vmdk')).toString('latin1')).toBe(frozen);
    expect((await diskBytes(src)).equals(srcBefore)).toBe(true);
    expect((await withGuestFs(src, false, (g) => g.list())).map((f) => f.name)).toEqual(['files']);
    await expect(deleteSnapshot(src, 'golden')).rejects.toThrow("snapshot 'golden' is the base of the linked clone linked: its disk layer must stay");
  });

  it('refuses a linked clone whose source is named as a path', async () => {
    const fs = await datastore();
    const vm = await datastoreVm(fs, 'x');
    await createSample(vm, 'files');
    const { readWhole, writeWhole } = await import('../../src/vm/folderFiles.js');
    const text = Buffer.from(await readWhole(vm.folder, 'x.vmx', 65536)).toString();
    await writeWhole(vm.folder, 'x.vmx', text + 'nachos.linkedTo = "../etc"\n');
    await expect(run(vm)).rejects.toThrow("nachos.linkedTo must name a VM beside this one, not a path (got '../etc')");
  });
});
