// Repairs: each kind of fix a check finding carries, applied through the file
// system's own transactions, so a repair is as crash-safe as any operation.
import { BlockType, blockType, fileBlockId, fileBlockNumber, inodeId, pointerBlockId, subBlockAddress, subBlockId } from '../fs/blockId.js';
import { BlockRef, CheckReport, Fix } from '../fs/check.js';
import { InodeType, Zla } from '../fs/inode.js';
import { ENTRY_MAGIC, firstFreeItem } from '../fs/resourceFile.js';
import { Resource } from '../fs/resources.js';
import { Transaction } from '../fs/transaction.js';
import { Vmfs } from '../fs/vmfs.js';
import { FsError } from '../util/errors.js';

export const LOST_AND_FOUND = '/lost+found';

function blockIdAt(fs: Vmfs, tx: Transaction, at: BlockRef): { get(): number; set(id: number): void } {
  const inode = fs.editInode(tx, at.inode);
  if (at.pointer === undefined) return { get: () => inode.blocks[at.slot], set: (id) => void (inode.blocks[at.slot] = id) };
  const pb = fs.editPointerBlock(tx, inode.blocks[at.slot]);
  return { get: () => pb[at.pointer!], set: (id) => void (pb[at.pointer!] = id) };
}

/** Applies one structural fix (everything but bitmaps, which `rebuildBitmaps` does as a whole). */
export async function applyFix(fs: Vmfs, fix: Fix): Promise<void> {
  switch (fix.kind) {
    case 'set-dirent':
      return fs.transact((tx) => fs.dirSetSlot(tx, fs.editInode(tx, fix.dir), fix.slot, fix.entry));
    case 'remove-dirent':
      return fs.transact((tx) => fs.dirRemoveSlot(tx, fs.editInode(tx, fix.dir), fix.slot));
    case 'set-nlink':
      return fs.transact((tx) => void (fs.editInode(tx, fix.inode).nlink = fix.nlink));
    case 'set-block-size':
      return fs.transact((tx) => void (fs.editInode(tx, fix.inode).blockSize = fix.blockSize));
    case 'set-size':
      return fs.transact((tx) => {
        const inode = fs.editInode(tx, fix.inode);
        if (![Zla.FileBlocks, Zla.SubBlocks, Zla.PointerBlocks].includes(inode.zla)) {
          // An unknown addressing mode: nothing in the map can be trusted.
          inode.zla = Zla.FileBlocks;
          inode.blockSize = fs.blockSize;
          inode.blocks.fill(0);
          inode.blockCount = 0;
        }
        inode.size = fix.size;
      });
    case 'clear-block':
      return fs.transact((tx) => blockIdAt(fs, tx, fix.at).set(0));
    case 'zero-tbz':
      return fs.transact((tx) => {
        const ref = blockIdAt(fs, tx, fix.at);
        const block = fileBlockNumber(ref.get());
        tx.data.push({ offset: block * fs.blockSize, data: new Uint8Array(fs.blockSize) });
        ref.set(fileBlockId(block));
      });
    case 'copy-block':
      // A block two files claim: this one gets its own copy of the bytes (nothing is dropped).
      return fs.transact(async (tx) => {
        const ref = blockIdAt(fs, tx, fix.at);
        const id = ref.get();
        if (blockType(id) === BlockType.SubBlock) {
          const [sb] = fs.sbc.allocate(tx, 1);
          const data = new Uint8Array(fs.subBlockSize);
          await fs.volume.read(data, fs.sbc.itemLogical(subBlockAddress(id)));
          tx.data.push({ offset: fs.sbc.itemLogical(sb), data });
          ref.set(subBlockId(sb));
        } else if (blockType(id) === BlockType.FileBlock) {
          const [at] = fs.fbb.allocate(tx, 1);
          const block = at.entry * fs.fbb.layout.geometry.itemsPerEntry + at.item;
          const data = new Uint8Array(fs.blockSize);
          await fs.volume.read(data, fileBlockNumber(id) * fs.blockSize);
          tx.data.push({ offset: block * fs.blockSize, data });
          ref.set(fileBlockId(block));
        } else {
          // A shared pointer block: copy its pointers; the data blocks are then shared and copied next round.
          const [at] = fs.pbc.allocate(tx, 1);
          const newId = pointerBlockId(at);
          fs.editPointerBlock(tx, newId, true).set(fs.pointerBlockNow(tx, id));
          ref.set(newId);
        }
      });
    case 'orphan':
      return attachOrphan(fs, fix.inode);
    case 'bitmaps':
      return;
  }
}

/** Links an orphan inode into /lost+found as #<id>, or leaves it to be freed when it is a deleted one. */
async function attachOrphan(fs: Vmfs, id: number): Promise<void> {
  let orphan;
  try {
    orphan = await fs.inode(null, id);
  } catch {
    return; // unreadable: the bitmap rebuild frees it
  }
  if (orphan.nlink === 0 || orphan.type === InodeType.System) return;
  let lf: number;
  try {
    lf = await fs.resolve(null, LOST_AND_FOUND, false);
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'ENOENT')) throw e;
    lf = await fs.mkdir(LOST_AND_FOUND, 0o700);
  }
  await fs.transact((tx) => {
    const dir = fs.editInode(tx, lf);
    const inode = fs.editInode(tx, id);
    fs.dirAdd(tx, dir, { type: inode.type, blockId: id, recordId: inode.generation, name: `#${id.toString(16)}` });
    if (inode.type === InodeType.Directory) {
      dir.nlink += 1;
      if (fs.dirEntriesNow(tx, id).length >= 2) fs.dirSetSlot(tx, inode, 1, { type: InodeType.Directory, blockId: lf, recordId: 0, name: '..' });
    } else inode.nlink = 1;
  });
}

/** Rewrites every bitmap entry to say exactly what the check found referenced. */
export async function rebuildBitmaps(fs: Vmfs, report: CheckReport): Promise<number> {
  let changed = 0;
  const ipe = fs.fbb.layout.geometry.itemsPerEntry;
  const plan: [Resource, (entry: number, item: number) => boolean][] = [
    [fs.fbb, (e, i) => report.referenced.fbb.has(e * ipe + i)],
    [fs.sbc, (e, i) => report.referenced.sbc.has(`${e}:${i}`)],
    [fs.pbc, (e, i) => report.referenced.pbc.has(`${e}:${i}`)],
    [fs.fdc, (e, i) => report.referenced.fdc.has(`${e}:${i}`)],
  ];
  await fs.transact((tx) => {
    changed = 0; // counted again if the body runs again
    for (const [res, used] of plan) {
      for (let entry = 0; entry < res.entries.length; entry++) {
        const total = res.layout.itemsInEntry(entry);
        const want = Buffer.alloc(res.entries[entry].bitmap.length);
        let free = 0;
        for (let i = 0; i < total; i++) {
          if (used(entry, i)) continue;
          want[i >> 3] |= 1 << (i & 7);
          free++;
        }
        const cur = res.entries[entry];
        if (cur.total === total && cur.free === free && cur.id === entry && cur.lock.magic === ENTRY_MAGIC[res.kind] && cur.bitmap.equals(want)) continue;
        const e = res.edit(tx, entry);
        e.bitmap = want;
        e.total = total;
        e.free = free;
        e.id = entry;
        e.lock.magic = ENTRY_MAGIC[res.kind];
        e.firstFree = firstFreeItem(e);
        changed++;
      }
    }
  });
  // Freed inodes keep nothing that could look alive to a reader.
  await fs.transact(async (tx) => {
    for (let entry = 0; entry < fs.fdc.entries.length; entry++) {
      for (let item = 0; item < fs.fdc.layout.itemsInEntry(entry); item++) {
        const id = inodeId({ entry, item });
        if (report.referenced.fdc.has(`${entry}:${item}`)) continue;
        let inode;
        try {
          inode = await fs.inode(tx, id);
        } catch {
          continue;
        }
        if (inode.nlink !== 0) fs.editInode(tx, id).nlink = 0;
      }
    }
  });
  return changed;
}
