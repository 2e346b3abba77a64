// mkfs clears the inode table only where stale bytes could show through: a
// file it creates (or finds empty) is one hole and reads as zeros already, so
// formatting a large datastore there writes almost nothing; a file that held
// other bytes is cleared.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDatastore } from '../src/fs/datastore.js';
import { INODE_SIZE } from '../src/fs/inode.js';
import { Vmfs } from '../src/fs/vmfs.js';
import { deviceSizeFor } from '../src/volume/volumeHeader.js';
import { MiB, expectClean, tempDir } from './helpers.js';

const dir = tempDir();
afterAll(() => dir.cleanup());

/** The first inode slot of the inode table's last entry: no system file uses it, so it must read as zeros. */
async function inodeTableBytes(fs: Vmfs): Promise<Buffer> {
  const entry = fs.fdc.entries.length - 1; // the last entry: no system file lives there
  const parts = fs.fdc.itemRange({ entry, item: 0 });
  const buf = Buffer.alloc(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    await fs.volume.read(buf.subarray(at, at + p.length), p.logical);
    at += p.length;
  }
  return buf;
}

describe('mkfs and the inode table', () => {
  const size = deviceSizeFor(2);

  it('writes no zeros into a new file: the inode table stays a hole', async () => {
    const path = join(dir.path, 'new.vmfs');
    const fs = await formatDatastore([path], { size });
    const table = fs.fdc.layout.entryCount * fs.fdc.layout.itemsInEntry(0) * INODE_SIZE;
    expect(table).toBeGreaterThanOrEqual(16 * MiB);
    expect(statSync(path).blocks * 512).toBeLessThan(table / 4);
    expect((await inodeTableBytes(fs)).every((b) => b === 0)).toBe(true);
    await fs.mkdir('/d');
    for (let i = 0; i < 50; i++) await fs.create(`/d/f${i}`);
    for (let i = 0; i < 50; i += 2) await fs.unlink(`/d/f${i}`);
    await expectClean(fs);
    await fs.close();
  });

  it('clears a file that held other bytes', async () => {
    const path = join(dir.path, 'dirty.vmfs');
    writeFileSync(path, Buffer.alloc(deviceSizeFor(1), 0xab));
    const fs = await formatDatastore([path], { force: true });
    const bytes = await inodeTableBytes(fs);
    expect(bytes.length).toBe(INODE_SIZE);
    expect(bytes.every((b) => b === 0)).toBe(true);
    await fs.create('/f');
    await expectClean(fs);
    await fs.close();
  });
});
