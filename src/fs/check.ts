// Consistency check of a whole file system, read-only: the tree from the
// root, every inode's block map against the bitmaps, link counts, directory
// structure, bitmap entries. It never throws on damage: every problem becomes
// a finding, most with the fix that repairs it (fsck applies them), and the
// walk records what is referenced so that bitmaps can be rebuilt from it.
import { BlockType, blockType, fileBlockNumber, formatBlockId, inodeAddress, inodeId, isTbz, pointerBlockAddress, subBlockAddress } from './blockId.js';
import { DIR_ENTRY_SIZE, DirEntry, MAX_NAME_BYTES } from './directory.js';
import { Inode, InodeType, Zla } from './inode.js';
import { isItemFree, popcountFree } from './resourceFile.js';
import { Resource } from './resources.js';
import { POINTERS_PER_BLOCK, ROOT_INODE_ID, SYSTEM_FILES } from './systemFiles.js';
import { Vmfs } from './vmfs.js';

/** Where a block id sits: an inode's blocks[slot], or entry `pointer` of the pointer block in blocks[slot]. */
export interface BlockRef {
  inode: number;
  slot: number;
  pointer?: number;
}

export type Fix =
  | { kind: 'set-dirent'; dir: number; slot: number; entry: DirEntry }
  | { kind: 'remove-dirent'; dir: number; slot: number }
  | { kind: 'set-nlink'; inode: number; nlink: number }
  | { kind: 'clear-block'; at: BlockRef }
  | { kind: 'copy-block'; at: BlockRef }
  | { kind: 'zero-tbz'; at: BlockRef }
  | { kind: 'set-size'; inode: number; size: number }
  | { kind: 'set-block-size'; inode: number; blockSize: number }
  | { kind: 'orphan'; inode: number }
  | { kind: 'bitmaps' };

export interface Finding {
  /** e2fsck-style pass: 1 inodes and blocks, 2 directories, 4 link counts, 5 bitmaps. */
  pass: number;
  /** A stable code: scripts and the corruption tests match on it. */
  code: string;
  message: string;
  /** Where: a path, an inode id, a block id or a bitmap entry. */
  where: string;
  fix?: Fix;
  /** Safe to fix without a human (preen): nothing a user could want back is removed or moved. */
  safe?: boolean;
}

export interface CheckReport {
  findings: Finding[];
  files: number;
  directories: number;
  blocksInUse: number;
  /** Referenced items, by resource: what the bitmaps should say is allocated. */
  referenced: { fbb: Set<number>; sbc: Set<string>; pbc: Set<string>; fdc: Set<string> };
}

export interface CheckProgress {
  (pass: number, done: number, total: number): void;
}

const key = (at: { entry: number; item: number }) => `${at.entry}:${at.item}`;

export async function checkFileSystem(fs: Vmfs, progress?: CheckProgress): Promise<CheckReport> {
  const findings: Finding[] = [];
  const add = (f: Finding): void => {
    findings.push(f);
  };
  const referenced: CheckReport['referenced'] = { fbb: new Set(), sbc: new Set(), pbc: new Set(), fdc: new Set() };
  const owners = new Map<string, string>(); // resource:item -> owning path
  const reached = new Map<number, { refs: number; subdirs: number; path: string; type: InodeType }>();
  let files = 0;
  let directories = 0;
  const fdcTotal = fs.fdc.layout.geometry.totalItems;

  const claim = (id: number, path: string, want: BlockType, at: BlockRef): void => {
    const t = blockType(id);
    if (t !== want) {
      add({ pass: 1, code: 'bad-block-type', where: path, message: `block id 0x${id.toString(16)} is ${BlockType[t] ?? t}, expected ${BlockType[want]}`, fix: { kind: 'clear-block', at } });
      return;
    }
    const res = t === BlockType.FileBlock ? fs.fbb : t === BlockType.SubBlock ? fs.sbc : fs.pbc;
    const item = t === BlockType.FileBlock ? fbbItem(fs, fileBlockNumber(id)) : t === BlockType.SubBlock ? subBlockAddress(id) : pointerBlockAddress(id);
    if (item.entry >= res.entries.length || item.item >= res.layout.itemsInEntry(item.entry)) {
      add({ pass: 1, code: 'block-out-of-range', where: path, message: `${formatBlockId(id)} lies outside its bitmap`, fix: { kind: 'clear-block', at } });
      return;
    }
    if (t === BlockType.FileBlock && isTbz(id)) add({ pass: 1, code: 'tbz-block', where: path, message: `${formatBlockId(id)} is marked to-be-zeroed (vmfs-tools counts it lost)`, fix: { kind: 'zero-tbz', at }, safe: true });
    const k = `${res.kind}:${key(item)}`;
    const prev = owners.get(k);
    if (prev !== undefined) {
      add({ pass: 1, code: 'block-shared', where: path, message: `${formatBlockId(id)} is also used by ${prev}`, fix: { kind: 'copy-block', at } });
      return;
    }
    owners.set(k, path);
    if (t === BlockType.FileBlock) referenced.fbb.add(fileBlockNumber(id));
    else (t === BlockType.SubBlock ? referenced.sbc : referenced.pbc).add(key(item));
    if (!res.isAllocated(null, item)) add({ pass: 5, code: 'block-free-in-use', where: path, message: `${formatBlockId(id)} is in use but marked free`, fix: { kind: 'bitmaps' }, safe: true });
  };

  const walkBlocks = async (inode: Inode, path: string): Promise<void> => {
    if (inode.zla !== Zla.FileBlocks && inode.zla !== Zla.SubBlocks && inode.zla !== Zla.PointerBlocks) {
      add({ pass: 1, code: 'bad-zla', where: path, message: `unknown addressing mode ${inode.zla}`, fix: { kind: 'set-size', inode: inode.id, size: 0 } });
      return;
    }
    const unit = inode.zla === Zla.SubBlocks ? fs.subBlockSize : fs.blockSize;
    if (inode.blockSize !== unit) add({ pass: 1, code: 'bad-block-size', where: path, message: `inode block size ${inode.blockSize}, expected ${unit}`, fix: { kind: 'set-block-size', inode: inode.id, blockSize: unit }, safe: true });
    const n = Math.ceil(inode.size / unit);
    const per = inode.zla === Zla.PointerBlocks ? POINTERS_PER_BLOCK : 1;
    if (Math.ceil(n / per) > 256) {
      add({ pass: 1, code: 'size-too-large', where: path, message: `size ${inode.size} is more than the block map can address`, fix: { kind: 'set-size', inode: inode.id, size: 256 * per * unit } });
      return;
    }
    for (let slot = 0; slot < 256; slot++) {
      const id = inode.blocks[slot];
      if (id === 0) continue;
      if (slot * per >= n) {
        add({ pass: 1, code: 'block-past-size', where: path, message: `${formatBlockId(id)} lies past the file size`, fix: { kind: 'clear-block', at: { inode: inode.id, slot } }, safe: true });
        continue;
      }
      if (inode.zla !== Zla.PointerBlocks) {
        claim(id, path, inode.zla === Zla.SubBlocks ? BlockType.SubBlock : BlockType.FileBlock, { inode: inode.id, slot });
        continue;
      }
      const before = findings.length;
      claim(id, path, BlockType.PointerBlock, { inode: inode.id, slot });
      if (findings.length > before && findings[findings.length - 1].fix?.kind === 'clear-block') continue;
      let ptrs: Uint32Array;
      try {
        ptrs = await fs.pointerBlock(null, id);
      } catch (e) {
        add({ pass: 1, code: 'unreadable', where: path, message: `${formatBlockId(id)}: ${(e as Error).message}`, fix: { kind: 'clear-block', at: { inode: inode.id, slot } } });
        continue;
      }
      for (let j = 0; j < POINTERS_PER_BLOCK; j++) {
        if (ptrs[j] === 0) continue;
        const at = { inode: inode.id, slot, pointer: j };
        if (slot * POINTERS_PER_BLOCK + j >= n) add({ pass: 1, code: 'block-past-size', where: path, message: `${formatBlockId(ptrs[j])} lies past the file size`, fix: { kind: 'clear-block', at }, safe: true });
        else claim(ptrs[j], path, BlockType.FileBlock, at);
      }
    }
  };

  const visit = async (id: number, path: string, parent: number): Promise<void> => {
    const inode = await fs.inode(null, id);
    referenced.fdc.add(key(inodeAddress(id)));
    if (!fs.fdc.isAllocated(null, inodeAddress(id))) add({ pass: 5, code: 'inode-free-in-use', where: path, message: `inode 0x${id.toString(16)} is in use but marked free`, fix: { kind: 'bitmaps' }, safe: true });
    await walkBlocks(inode, path);
    progress?.(1, reached.size, fdcTotal - fs.fdc.freeCount());
    if (inode.type !== InodeType.Directory) {
      files++;
      return;
    }
    directories++;
    if (inode.size % DIR_ENTRY_SIZE !== 0) {
      add({ pass: 2, code: 'dir-size', where: path, message: `directory size ${inode.size} is not a multiple of ${DIR_ENTRY_SIZE}`, fix: { kind: 'set-size', inode: id, size: inode.size - (inode.size % DIR_ENTRY_SIZE) }, safe: true });
      return;
    }
    let entries: DirEntry[];
    try {
      entries = await fs.dirEntries(null, id);
    } catch (e) {
      add({ pass: 2, code: 'unreadable', where: path, message: (e as Error).message });
      return;
    }
    const self = inode;
    const fixDot = (slot: number, name: string, target: number) => ({ kind: 'set-dirent' as const, dir: id, slot, entry: { type: InodeType.Directory, blockId: target, recordId: slot === 0 ? self.generation : 0, name } });
    if (entries[0]?.name !== '.' || entries[0].blockId !== id || entries[0].type !== InodeType.Directory) {
      add({ pass: 2, code: 'bad-dot', where: path, message: '"." is missing, misplaced or wrong', fix: entries.length >= 2 ? fixDot(0, '.', id) : undefined });
    }
    if (entries[1]?.name !== '..' || entries[1].blockId !== parent || entries[1].type !== InodeType.Directory) {
      add({ pass: 2, code: 'bad-dotdot', where: path, message: `".." is missing, misplaced or does not name the parent`, fix: entries.length >= 2 ? fixDot(1, '..', parent) : undefined });
    }
    const seen = new Set<string>();
    for (let slot = entries.length - 1; slot >= 2; slot--) {
      // Walk from the end so that removing a slot (the last one moves into it) never skips one.
      const e = entries[slot];
      const child = path === '/' ? `/${e.name}` : `${path}/${e.name}`;
      const remove: Fix = { kind: 'remove-dirent', dir: id, slot };
      if (e.name === '' || e.name === '.' || e.name === '..' || e.name.includes('/') || Buffer.byteLength(e.name) > MAX_NAME_BYTES) {
        add({ pass: 2, code: 'bad-name', where: path, message: `invalid name ${JSON.stringify(e.name)} (inode 0x${e.blockId.toString(16)})`, fix: { kind: 'set-dirent', dir: id, slot, entry: { ...e, name: `#${e.blockId.toString(16)}` } } });
      } else if (seen.has(e.name)) {
        add({ pass: 2, code: 'dup-name', where: child, message: 'name appears twice', fix: { kind: 'set-dirent', dir: id, slot, entry: { ...e, name: `${e.name.slice(0, 100)}#${slot}` } } });
      }
      seen.add(e.name);
      if (blockType(e.blockId) !== BlockType.Inode || inodeAddress(e.blockId).entry >= fs.fdc.entries.length || inodeAddress(e.blockId).item >= fs.fdc.layout.itemsInEntry(inodeAddress(e.blockId).entry)) {
        add({ pass: 2, code: 'bad-entry', where: child, message: `entry points at 0x${e.blockId.toString(16)}, not an inode`, fix: remove });
        continue;
      }
      let target: Inode;
      try {
        target = await fs.inode(null, e.blockId);
      } catch (err) {
        add({ pass: 2, code: 'bad-entry', where: child, message: `entry points at a damaged inode: ${(err as Error).message}`, fix: remove });
        continue;
      }
      if (target.nlink === 0) add({ pass: 1, code: 'nlink-zero', where: child, message: 'link count 0 on a reachable inode', fix: { kind: 'set-nlink', inode: e.blockId, nlink: 1 }, safe: true });
      if (target.type !== e.type) {
        if (target.type === InodeType.Directory || e.type === InodeType.Directory) {
          add({ pass: 2, code: 'entry-type', where: child, message: `entry type ${e.type}, inode type ${target.type}`, fix: { kind: 'set-dirent', dir: id, slot, entry: { ...e, type: target.type } } });
        } else add({ pass: 2, code: 'entry-type', where: child, message: `entry type ${e.type}, inode type ${target.type}`, fix: { kind: 'set-dirent', dir: id, slot, entry: { ...e, type: target.type } }, safe: true });
      }
      const r = reached.get(e.blockId);
      if (r) {
        r.refs++;
        if (target.type === InodeType.Directory) add({ pass: 2, code: 'dir-hardlink', where: child, message: `directory also reachable as ${r.path}`, fix: remove });
        continue;
      }
      reached.set(e.blockId, { refs: 1, subdirs: 0, path: child, type: target.type });
      if (target.type === InodeType.Directory) reached.get(id)!.subdirs++;
      await visit(e.blockId, child, id);
    }
  };

  reached.set(ROOT_INODE_ID, { refs: 1, subdirs: 0, path: '/', type: InodeType.Directory });
  try {
    await visit(ROOT_INODE_ID, '/', ROOT_INODE_ID);
  } catch (e) {
    add({ pass: 1, code: 'bad-root', where: '/', message: `the root directory cannot be read: ${(e as Error).message}` });
  }
  for (const f of SYSTEM_FILES) if (!reached.has(f.id)) add({ pass: 2, code: 'system-file-missing', where: '/', message: `system file ${f.name} is not in the root directory` });

  // Pass 4: link counts, and allocated inodes nothing reaches.
  for (const [id, r] of reached) {
    let inode: Inode;
    try {
      inode = await fs.inode(null, id);
    } catch {
      continue;
    }
    const want = r.type === InodeType.Directory ? 2 + r.subdirs : r.refs;
    // A directory link count of 1 means "not counted" (other writers use it).
    if (inode.nlink !== want && inode.nlink !== 0 && !(r.type === InodeType.Directory && inode.nlink === 1)) {
      add({ pass: 4, code: 'nlink', where: r.path, message: `link count ${inode.nlink}, expected ${want}`, fix: { kind: 'set-nlink', inode: id, nlink: want }, safe: true });
    }
  }
  // Orphans that are readable and linked keep their blocks (a bitmap rebuild must not free them);
  // only the top ones move to lost+found, their children come along.
  const orphans: Inode[] = [];
  for (const [entry, e] of fs.fdc.entries.entries()) {
    for (let item = 0; item < fs.fdc.layout.itemsInEntry(entry); item++) {
      if (isItemFree(e, item) || reached.has(inodeId({ entry, item }))) continue;
      try {
        const inode = await fs.inode(null, inodeId({ entry, item }));
        if (inode.nlink > 0 && inode.type !== InodeType.System) orphans.push(inode);
      } catch {
        /* unreadable or free in all but the bitmap: the rebuild frees it */
      }
    }
  }
  const inOrphanDir = new Set<number>();
  for (const o of orphans) {
    if (o.type !== InodeType.Directory) continue;
    try {
      for (const e of (await fs.dirEntries(null, o.id)).slice(2)) inOrphanDir.add(e.blockId);
    } catch {
      /* its children stay top-level orphans */
    }
  }
  for (const o of orphans) {
    const where = `inode 0x${o.id.toString(16)}`;
    referenced.fdc.add(key(inodeAddress(o.id)));
    await walkBlocks(o, where);
    add({ pass: 4, code: 'orphan-inode', where, message: `inode ${key(inodeAddress(o.id))} (${o.size} bytes) is not in any directory`, fix: inOrphanDir.has(o.id) ? undefined : { kind: 'orphan', inode: o.id } });
  }

  // Pass 5: bitmap entries and allocated items nothing references.
  for (const res of [fs.fbb, fs.sbc, fs.pbc, fs.fdc]) checkEntries(res, add);
  const lost = (res: Resource, isUsed: (entry: number, item: number) => boolean, name: string) => {
    res.entries.forEach((e, entry) => {
      for (let item = 0; item < res.layout.itemsInEntry(entry); item++) {
        if (isItemFree(e, item) || isUsed(entry, item)) continue;
        add({ pass: 5, code: 'block-lost', where: `${name} ${entry}:${item}`, message: `${name} ${entry}:${item} is allocated but unused`, fix: { kind: 'bitmaps' }, safe: true });
      }
    });
  };
  const fipe = fs.fbb.layout.geometry.itemsPerEntry;
  lost(fs.fbb, (entry, item) => referenced.fbb.has(entry * fipe + item), 'file block');
  lost(fs.sbc, (entry, item) => referenced.sbc.has(`${entry}:${item}`), 'sub-block');
  lost(fs.pbc, (entry, item) => referenced.pbc.has(`${entry}:${item}`), 'pointer block');

  return { findings, files, directories, blocksInUse: owners.size, referenced };
}

function checkEntries(res: Resource, add: (f: Finding) => void): void {
  res.entries.forEach((e, entry) => {
    const where = `${res.kind} entry ${entry}`;
    const total = res.layout.itemsInEntry(entry);
    const fix: Fix = { kind: 'bitmaps' };
    if (e.lock.magic !== res.entries[0].lock.magic || e.id !== entry) add({ pass: 5, code: 'entry-header', where, message: `entry id ${e.id} or magic 0x${e.lock.magic.toString(16)} is wrong`, fix, safe: true });
    if (e.total !== total) add({ pass: 5, code: 'entry-total', where, message: `total ${e.total}, expected ${total}`, fix, safe: true });
    const free = popcountFree({ ...e, total });
    if (e.free !== free) add({ pass: 5, code: 'entry-free-count', where, message: `free count ${e.free}, bitmap has ${free}`, fix, safe: true });
    for (let i = total; i < 0x1f0 * 8; i++) {
      if (e.bitmap[i >> 3] & (1 << (i & 7))) {
        add({ pass: 5, code: 'entry-stray-bits', where, message: `bits set past the entry's ${total} items`, fix, safe: true });
        break;
      }
    }
  });
}

function fbbItem(fs: Vmfs, block: number) {
  const ipe = fs.fbb.layout.geometry.itemsPerEntry;
  return { entry: Math.floor(block / ipe), item: block % ipe };
}
