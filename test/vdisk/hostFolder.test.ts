// HostFolder: plain names only, confined to its directory; positioned I/O.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskError } from '../../src/vdisk/errors.js';
import { HostFolder } from '../../src/vdisk/hostFolder.js';
import { createDisk, openDisk } from '../../src/vdisk/virtualDisk.js';
import { tempFolder } from './helpers.js';

describe('HostFolder', () => {
  let t: ReturnType<typeof tempFolder>;
  let folder: HostFolder;
  beforeEach(() => {
    t = tempFolder();
    mkdirSync(join(t.dir, 'vm'));
    folder = new HostFolder(join(t.dir, 'vm'));
    writeFileSync(join(t.dir, 'outside.vmdk'), 'secret');
  });
  afterEach(() => t.cleanup());

  it.each(['../outside.vmdk', '/etc/passwd', 'a/b.vmdk', '..', '.', '', 'x\0y'])('refuses the name %j', async (name) => {
    for (const op of [() => folder.open(name, 'r'), () => folder.create(name), () => folder.exists(name), () => folder.remove(name)]) {
      const e = await op().catch((x) => x);
      expect(e).toBeInstanceOf(DiskError);
      expect(e.message).toBe(`'${name}': not a plain file name in ${join(t.dir, 'vm')} (paths leaving the folder are refused)`);
    }
    expect(readFileSync(join(t.dir, 'outside.vmdk'), 'utf8')).toBe('secret');
  });

  it('refuses a symbolic link leading out of the folder, follows one inside it', async () => {
    symlinkSync(join(t.dir, 'outside.vmdk'), join(t.dir, 'vm', 'out.vmdk'));
    await expect(folder.open('out.vmdk', 'rw')).rejects.toThrow(`${join(t.dir, 'vm', 'out.vmdk')}: a symbolic link leading out of ${join(t.dir, 'vm')} (refused)`);
    writeFileSync(join(t.dir, 'vm', 'real.bin'), 'inside');
    symlinkSync('real.bin', join(t.dir, 'vm', 'link.bin'));
    const f = await folder.open('link.bin', 'r');
    const b = Buffer.alloc(6);
    expect(await f.read(b, 0, 6, 0)).toBe(6);
    expect(b.toString()).toBe('inside');
    await f.close();
  });

  it('creates only new files, reads and writes at positions, and keeps read-only files read-only', async () => {
    const f = await folder.create('a.bin');
    await expect(folder.create('a.bin')).rejects.toThrow(`${join(t.dir, 'vm', 'a.bin')}: already exists`);
    expect(await f.write(Buffer.from('hello'), 0, 5, 10)).toBe(5);
    expect(await f.size()).toBe(15);
    await f.truncate(12);
    await f.sync();
    await f.close();
    expect(readFileSync(join(t.dir, 'vm', 'a.bin'))).toEqual(Buffer.from('\0'.repeat(10) + 'he'));
    const r = await folder.open('a.bin', 'r');
    await expect(r.write(Buffer.from('x'), 0, 1, 0)).rejects.toThrow(/opened read-only/);
    const b = Buffer.alloc(4);
    expect(await r.read(b, 0, 4, 10)).toBe(2);
    await r.close();
    await expect(r.size()).rejects.toThrow(/already closed/);
    await folder.rename('a.bin', 'b.bin');
    expect(await folder.exists('a.bin')).toBe(false);
    await folder.remove('b.bin');
    expect(await folder.exists('b.bin')).toBe(false);
    await expect(folder.open('none.vmdk', 'r')).rejects.toThrow(`${join(t.dir, 'vm', 'none.vmdk')}: no such file or directory`);
  });

  it('splits a host path into its folder and name', () => {
    const { folder: f, name } = HostFolder.forPath(join(t.dir, 'vm', 'disk.vmdk'));
    expect(f.dir).toBe(join(t.dir, 'vm'));
    expect(name).toBe('disk.vmdk');
    expect(f.describe(name)).toBe(join(t.dir, 'vm', 'disk.vmdk'));
  });

  it('keeps VMDK extents and parents inside the folder', async () => {
    // A flat descriptor naming a data file outside.
    writeFileSync(join(t.dir, 'vm', 'f.vmdk'), '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 1 FLAT "../outside.vmdk" 0\n');
    await expect(openDisk(folder, 'f.vmdk', { write: true })).rejects.toThrow(/'\.\.\/outside\.vmdk': not a plain file name/);
    // A delta whose parent is a valid disk outside the folder, named by an absolute path.
    const outside = new HostFolder(t.dir);
    const parent = await createDisk(outside, 'p.vmdk', { size: 1 << 20, type: 'thin' });
    await parent.close();
    const base = await createDisk(folder, 'd.vmdk', { size: 1 << 20, type: 'thin' });
    await base.close();
    const bytes = readFileSync(join(t.dir, 'vm', 'd.vmdk'));
    const text = bytes.subarray(512, 512 * 21).toString('latin1');
    const pcid = /CID=([0-9a-f]{8})/.exec(readFileSync(join(t.dir, 'p.vmdk')).subarray(512, 1024).toString())![1];
    const patched = text.replace('parentCID=ffffffff', `parentCID=${pcid}\nparentFileNameHint="${join(t.dir, 'p.vmdk')}"`).slice(0, text.length);
    bytes.write(patched, 512, 'latin1');
    writeFileSync(join(t.dir, 'vm', 'd.vmdk'), bytes);
    await expect(openDisk(folder, 'd.vmdk', { write: false })).rejects.toThrow(
      `${join(t.dir, 'vm', 'd.vmdk')}: parent "${join(t.dir, 'p.vmdk')}" lies outside the disk's folder (refused)`,
    );
    expect(readFileSync(join(t.dir, 'outside.vmdk'), 'utf8')).toBe('secret');
  });
});
