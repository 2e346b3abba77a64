// Virtual disks inside the datastore, read and written through the library:
// a thin disk and a delta chain written at random offsets, copied out with
// `vmfs get`, are clean for qemu-img and hold exactly the expected bytes; the
// volume stays clean for our check and for fsck.vmfs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDatastore, openDatastore } from '../src/fs/datastore.js';
import { DatastoreFolder } from '../src/vm/datastoreFolder.js';
import { createDisk, openDisk } from '../src/vdisk/virtualDisk.js';
import { snapshotDisk } from '../src/vdisk/operations.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';
import { MiB, expectClean, expectVmfsToolsClean, pattern, runVmfs, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-vdisk-ds-');
afterAll(() => tmp.cleanup());

describe('VMDKs in the datastore', () => {
  it('thin disk and delta chain: qemu-img agrees byte for byte', async () => {
    const extents = [join(tmp.path, 'e0'), join(tmp.path, 'e1')];
    const fs = await formatDatastore(extents, { size: deviceSizeFor(1) });
    await fs.mkdir('/vm');
    const folder = new DatastoreFolder(fs, '/vm');
    const capacity = 64 * MiB;
    const model = Buffer.alloc(capacity);
    const disk = await createDisk(folder, 'vm.vmdk', { size: capacity, type: 'thin' });
    const writeBoth = async (d: { write(b: Buffer, o: number): Promise<void> }, seed: number) => {
      const off = ((seed * 7_919_993) % (capacity - 300_000)) & ~511;
      const data = pattern(1000 + ((seed * 31337) % 200_000), seed);
      await d.write(data, off);
      data.copy(model, off);
    };
    for (let i = 1; i <= 20; i++) await writeBoth(disk, i);
    await disk.close();
    const base = Buffer.from(model);
    const delta = await snapshotDisk(folder, 'vm.vmdk');
    const top = await openDisk(folder, delta, { write: true });
    for (let i = 21; i <= 40; i++) await writeBoth(top, i);
    const back = Buffer.alloc(capacity);
    await top.read(back, 0);
    expect(back.equals(model)).toBe(true);
    await top.close();
    await expectClean(fs);
    await fs.close();

    // copy out with the CLI and let qemu-img judge
    const d = extents.join(',');
    for (const name of ['vm.vmdk', delta]) expect(runVmfs(['get', '-d', d, `/vm/${name}`, join(tmp.path, name)]).code).toBe(0);
    for (const name of ['vm.vmdk', delta]) expect(spawnSync('qemu-img', ['check', join(tmp.path, name)], { encoding: 'utf8' }).stdout).toMatch(/No errors were found/);
    const raw = (name: string) => {
      const out = join(tmp.path, `${name}.raw`);
      const r = spawnSync('qemu-img', ['convert', '-O', 'raw', join(tmp.path, name), out], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(out);
    };
    expect(raw('vm.vmdk').equals(base)).toBe(true);
    expect(raw(delta).equals(model)).toBe(true);
    expectVmfsToolsClean(extents);

    // and the CLI sees the chain
    const info = runVmfs(['disk', 'info', '--json', '-d', d, `/vm/${delta}`]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).chain.length).toBe(2);
    const reopened = await openDatastore(extents, { readOnly: true });
    await expectClean(reopened);
    await reopened.close();
  });

  it('refuses names that leave the folder', async () => {
    const fs = await formatDatastore([join(tmp.path, 'n0')], { size: deviceSizeFor(1) });
    await fs.mkdir('/vm');
    await fs.symlink('/', '/vm/escape.vmdk');
    const folder = new DatastoreFolder(fs, '/vm');
    await expect(folder.open('../x.vmdk', 'r')).rejects.toThrow(/not a plain file name/);
    await expect(folder.open('escape.vmdk', 'r')).rejects.toThrow(/not a regular file/);
    await fs.close();
  });
});
