// vmfs disk ...: the commands, their output and their errors, on host paths
// and (through the openFolder hook) on folders inside a datastore.
import { Command } from 'commander';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerDiskCommand } from '../../src/cli/diskCommand.js';
import { sparseHeader } from '../../src/vdisk/sparseExtent.js';
import { openDisk } from '../../src/vdisk/virtualDisk.js';
import { hasQemu, MemoryFolder, must, tempFolder } from './helpers.js';

const MiB = 2 ** 20;

describe('vmfs disk', () => {
  let t: ReturnType<typeof tempFolder>;
  let out: string[];
  let datastore: Map<string, MemoryFolder>;
  let closed: number;
  beforeEach(() => {
    t = tempFolder();
    out = [];
    datastore = new Map();
    closed = 0;
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    t.cleanup();
  });

  /** Runs `vmfs disk ARGS`; the datastore stand-in keeps one MemoryFolder per directory. */
  async function vmfs(...args: string[]): Promise<string> {
    out = [];
    const program = new Command().exitOverride();
    registerDiskCommand(program, async (path, opts) => {
      expect(opts.datastore).toBe('ext0');
      const slash = path.lastIndexOf('/');
      const dir = path.slice(0, slash);
      if (!datastore.has(dir)) datastore.set(dir, new MemoryFolder());
      const folder = Object.assign(datastore.get(dir)!, { close: async () => void closed++ });
      return { folder, name: path.slice(slash + 1) };
    });
    await program.parseAsync(['disk', ...args], { from: 'user' });
    return out.join('');
  }
  const p = (name: string) => join(t.dir, name);

  it('creates, inspects, snapshots, commits, clones, converts and checks host disks', async () => {
    expect(await vmfs('create', p('a.vmdk'), '--size', '8M')).toBe(`created ${p('a.vmdk')}: thin, 8.00 MiB\n`);
    expect(await vmfs('create', p('b.vmdk'), '--size', '2M', '--type', 'thick')).toBe(`created ${p('b.vmdk')}: thick, 2.00 MiB\n`);
    expect(statSync(p('b-flat.vmdk')).size).toBe(2 * MiB);
    const info = JSON.parse(await vmfs('info', p('a.vmdk'), '--json'));
    expect(info).toMatchObject({ format: 'monolithicSparse', type: 'thin', capacity: 8 * MiB, parentCid: null });
    expect(await vmfs('snapshot', p('a.vmdk'))).toBe(`${p('a.vmdk')} is frozen; new writes go to ${p('a-000001.vmdk')}\n`);
    const d = await openDisk(t.folder, 'a-000001.vmdk', { write: true });
    await d.write(Buffer.alloc(1000, 0x77), 5000);
    await d.close();
    const text = await vmfs('info', p('a-000001.vmdk'));
    expect(text).toContain(`${p('a-000001.vmdk')}\n  format:    monolithicSparse (thin)\n  capacity:  8.00 MiB (8388608 bytes)\n`);
    expect(text).toMatch(/chain \(top first\):\n.*a-000001\.vmdk +monolithicSparse.*parentCID [0-9a-f]{8}\n.*a\.vmdk +monolithicSparse/);
    expect(await vmfs('check', p('a-000001.vmdk'))).toBe(`${p('a-000001.vmdk')}: no errors found (2 layers checked)\n`);
    expect(await vmfs('clone', p('a-000001.vmdk'), p('c.vmdk'))).toBe(`cloned ${p('a-000001.vmdk')} to ${p('c.vmdk')}\n`);
    expect(await vmfs('clone', p('a-000001.vmdk'), p('l.vmdk'), '--linked')).toBe(`cloned ${p('a-000001.vmdk')} to ${p('l.vmdk')} (linked)\n`);
    expect(await vmfs('convert', p('l.vmdk'), p('l.raw'), '--to', 'raw')).toBe(`converted ${p('l.vmdk')} to ${p('l.raw')} (raw)\n`);
    const expected = Buffer.alloc(8 * MiB);
    expected.fill(0x77, 5000, 6000);
    expect(readFileSync(p('l.raw')).equals(expected)).toBe(true);
    if (hasQemu) {
      must('qemu-img', ['convert', '-O', 'raw', 'c.vmdk', 'c.raw'], t.dir);
      expect(readFileSync(p('c.raw')).equals(expected)).toBe(true);
    }
    await vmfs('create', p('x.vmdk'), '--size', '1M');
    await vmfs('snapshot', p('x.vmdk'));
    expect(await vmfs('commit', p('x-000001.vmdk'))).toBe(`merged ${p('x-000001.vmdk')} into ${p('x.vmdk')} (delta removed)\n`);
    expect(existsSync(p('x-000001.vmdk'))).toBe(false);
  });

  it('fails with one clear message', async () => {
    await vmfs('create', p('a.vmdk'), '--size', '1M');
    await expect(vmfs('create', p('a.vmdk'), '--size', '1M')).rejects.toThrow(`${p('a.vmdk')}: already exists`);
    await expect(vmfs('create', p('b.vmdk'), '--size', 'lots')).rejects.toThrow("not a size: 'lots' (use e.g. 512M, 2G, 1T)");
    await expect(vmfs('create', p('b.vmdk'), '--size', '1000')).rejects.toThrow('--size 1000: a disk holds whole 512-byte sectors');
    await expect(vmfs('create', p('b.vmdk'), '--size', '1M', '--type', 'fat')).rejects.toThrow('--type fat: use thin, thick');
    await expect(vmfs('convert', p('a.vmdk'), p('b.vmdk'), '--to', 'qcow2')).rejects.toThrow('--to qcow2: use raw, thin, thick');
    await expect(vmfs('info', p('none.vmdk'))).rejects.toThrow(`${p('none.vmdk')}: no such file or directory`);
    await expect(vmfs('commit', p('a.vmdk'))).rejects.toThrow(`${p('a.vmdk')}: not a delta disk (it has no parent to commit into)`);
    // check prints what it found, then fails.
    const b = readFileSync(p('a.vmdk'));
    b.writeUInt32LE(0xfffffff0, sparseHeader.decode(b).gdOffset * 512);
    writeFileSync(p('a.vmdk'), b);
    await expect(vmfs('check', p('a.vmdk'))).rejects.toThrow(`${p('a.vmdk')}: 1 error found`);
    expect(out.join('')).toBe(`error: ${p('a.vmdk')}: grain directory entry 0 points past the end of the file (sector ${0xfffffff0})\n`);
  });

  it('works on datastore paths with -d, closing the folders it opened', async () => {
    expect(await vmfs('create', 'vms/web/web.vmdk', '--size', '4M', '-d', 'ext0')).toBe('created mem:/web.vmdk: thin, 4.00 MiB\n');
    expect(await vmfs('snapshot', 'vms/web/web.vmdk', '-d', 'ext0')).toBe('mem:/web.vmdk is frozen; new writes go to mem:/web-000001.vmdk\n');
    await vmfs('clone', 'vms/web/web-000001.vmdk', 'vms/web/linked.vmdk', '--linked', '-d', 'ext0');
    expect(datastore.get('vms/web')!.names()).toEqual(['linked.vmdk', 'web-000001.vmdk', 'web.vmdk']);
    await vmfs('clone', 'vms/web/web.vmdk', 'vms/db/db.vmdk', '-d', 'ext0');
    expect(datastore.get('vms/db')!.names()).toEqual(['db.vmdk']);
    await expect(vmfs('clone', 'vms/web/web.vmdk', 'vms/db/l.vmdk', '--linked', '-d', 'ext0')).rejects.toThrow(
      'mem:/l.vmdk: a linked clone must be in the same folder as its source',
    );
    expect(closed).toBe(8); // one per path: 1 + 1 + 2 + 2 + 2
    const bare = new Command().exitOverride();
    registerDiskCommand(bare);
    await expect(bare.parseAsync(['disk', 'info', 'x.vmdk', '-d', 'ext0'], { from: 'user' })).rejects.toThrow('-d: datastore paths are not available in this command');
  });
});
