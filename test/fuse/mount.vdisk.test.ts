// VMDKs inside the datastore, through a FUSE mount: qemu-img itself creates,
// writes, checks and converts them on the mount, and our library reads the
// very bytes qemu wrote (and the other way round).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatastore } from '../../src/fs/datastore.js';
import { DatastoreFolder } from '../../src/vm/datastoreFolder.js';
import { createDisk, openDisk } from '../../src/vdisk/virtualDisk.js';
import { expectVmfsToolsClean, pattern } from '../helpers.js';
import { TestMount, expectOk, makeDatastore, sh, checkFindings } from './mountHarness.js';

let ds: TestMount;
afterAll(() => ds?.cleanup());

const MiB = 2 ** 20;

describe('virtual disks through a FUSE mount', () => {
  it('qemu-img on the mount and our library agree byte for byte', async () => {
    ds = await makeDatastore('vmfs-fuse-vdisk-');
    // Our library writes a thin disk in the datastore (no mount yet).
    let fs = await openDatastore(ds.extents);
    await fs.mkdir('/vm');
    const ours = await createDisk(new DatastoreFolder(fs, '/vm'), 'ours.vmdk', { size: 32 * MiB, type: 'thin' });
    const data = pattern(3 * MiB + 4096, 5);
    await ours.write(data, 5 * MiB);
    await ours.close();
    await fs.close();

    expectOk(ds.mount(), 'mount');
    const vm = join(ds.mnt, 'vm');
    expect(sh(`qemu-img check ${vm}/ours.vmdk`).stdout).toMatch(/No errors were found/);
    expectOk(sh(`qemu-img convert -O raw ${vm}/ours.vmdk ${ds.dir}/ours.raw`), 'convert');
    const raw = readFileSync(join(ds.dir, 'ours.raw'));
    expect(raw.subarray(5 * MiB, 5 * MiB + data.length).equals(data)).toBe(true);
    expect(raw.subarray(0, 5 * MiB).every((b) => b === 0)).toBe(true);

    // qemu creates a sparse VMDK and a delta on the mount and writes them with qemu-io.
    expectOk(sh(`qemu-img create -q -f vmdk -o subformat=monolithicSparse ${vm}/q.vmdk 16M`), 'create');
    expectOk(sh(`qemu-io -c 'write -P 0xab 1M 300k' ${vm}/q.vmdk`), 'qemu-io base');
    expectOk(sh(`qemu-img create -q -f vmdk -b q.vmdk -F vmdk ${vm}/q-000001.vmdk`), 'delta');
    expectOk(sh(`qemu-io -c 'write -P 0xcd 1200k 100k' ${vm}/q-000001.vmdk`), 'qemu-io delta');
    expect(sh(`qemu-img check ${vm}/q-000001.vmdk`).stdout).toMatch(/No errors were found/);
    expectOk(ds.umount(), 'umount');

    // Our library reads the chain qemu wrote, straight from the datastore.
    fs = await openDatastore(ds.extents, { readOnly: true });
    const top = await openDisk(new DatastoreFolder(fs, '/vm'), 'q-000001.vmdk', { write: false });
    const buf = Buffer.alloc(2 * MiB);
    await top.read(buf, 0);
    const want = Buffer.alloc(2 * MiB);
    want.fill(0xab, MiB, MiB + 300 * 1024);
    want.fill(0xcd, 1200 * 1024, 1300 * 1024);
    expect(buf.equals(want)).toBe(true);
    await top.close();
    await fs.close();
    expect(await checkFindings(ds.extents)).toEqual([]);
    expectVmfsToolsClean(ds.extents);
  });
});
