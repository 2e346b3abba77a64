// Consistency check of a whole file system, read-only: the tree from the
// root, every inode's block map against the bitmaps, link counts, directory
// structure. Returns findings instead of throwing, whatever the damage.
// (`vmfs fsck` builds its passes and repairs on top of this.)
import { BlockType, blockType, fileBlockNumber, formatBlockId, inodeAddress, isTbz, pointerBlockAddress, subBlockAddress } from './blockId.js';
import { DIR_ENTRY_SIZE, MAX_NAME_BYTES } from './directory.js';
import { Inode, InodeType, Zla } from './inode.js';
import { isItemFree, popcountFree } from './resourceFile.js';
import { Resource } from './resources.js';
import { POINTERS_PER_BLOCK, ROOT_INODE_ID } from './systemFiles.js';
import { Vmfs } from './vmfs.js';

export interface Finding {
  /** A stable code: scripts and the corruption tests match on it. */
  code: string;
  message: string;
  /** Where: a path, an inode id, a block id or a bitmap entry. */
  where: string;
}

export interface CheckReport {
  findings: Finding[];
  files: number;
  directories: number;
  blocksInUse: number;
}

export async function checkFileSystem(fs: Vmfs): Promise<CheckReport> {
  const findings: Finding[] = [];
  const add = (code: string, where: string, message: string): void => {
    findings.push({ code, where, message });
  };
  const owners = new Map<number, string>(); // raw block id -> owning path
  const reached = new Map<number, { refs: number; subdirs: number; path: string; type: InodeType }>();
  let files = 0;
  let directories = 0;

  const claim = (id: number, path: string, want: BlockType) => {
    const t = blockType(id);
    if (t !== want) return add('bad-block-type', path, `block id 0x${id.toString(16)} is ${BlockType[t] ?? t}, expected ${BlockType[want]}`);
    if (t === BlockType.FileBlock && isTbz(id)) add('tbz-block', path, `${formatBlockId(id)} is marked to-be-zeroed (vmfs-tools counts it lost)`);
    const res = t === BlockType.FileBlock ? fs.fbb : t === BlockType.SubBlock ? fs.sbc : fs.pbc;
    const at = t === BlockType.FileBlock ? fbbItem(fs, fileBlockNumber(id)) : t === BlockType.SubBlock ? subBlockAddress(id) : pointerBlockAddress(id);
    const key = t === BlockType.FileBlock ? (fileBlockNumber(id) << 6) | 1 : id;
    if (at.entry >= res.entries.length || at.item >= res.layout.itemsInEntry(at.entry)) return add('block-out-of-range', path, `${formatBlockId(id)} lies outside its bitmap`);
    const prev = owners.get(key);
    if (prev !== undefined) add('block-shared', path, `${formatBlockId(id)} is also used by ${prev}`);
    else owners.set(key, path);
    if (!res.isAllocated(null, at)) add('block-free-in-use', path, `${formatBlockId(id)} is in use but marked free`);
  };

  const walkBlocks = async (inode: Inode, path: string) => {
    const unit = inode.zla === Zla.SubBlocks ? fs.subBlockSize : fs.blockSize;
    if (inode.blockSize !== unit) add('bad-block-size', path, `inode block size ${inode.blockSize}, expected ${unit}`);
    const n = Math.ceil(inode.size / unit);
    if (inode.zla === Zla.PointerBlocks) {
      const npb = Math.ceil(n / POINTERS_PER_BLOCK);
      if (npb > 256) return add('size-too-large', path, `size ${inode.size} needs ${npb} pointer blocks`);
      for (let slot = 0; slot < 256; slot++) {
        const pb = inode.blocks[slot];
        if (pb === 0) continue;
        if (slot >= npb) {
          add('block-past-size', path, `${formatBlockId(pb)} lies past the file size`);
          continue;
        }
        claim(pb, path, BlockType.PointerBlock);
        if (blockType(pb) !== BlockType.PointerBlock) continue;
        let ptrs: Uint32Array;
        try {
          ptrs = await fsPointerBlock(fs, pb);
        } catch (e) {
          add('unreadable', path, `${formatBlockId(pb)}: ${(e as Error).message}`);
          continue;
        }
        for (let j = 0; j < POINTERS_PER_BLOCK; j++) {
          if (ptrs[j] === 0) continue;
          if (slot * POINTERS_PER_BLOCK + j >= n) add('block-past-size', path, `${formatBlockId(ptrs[j])} lies past the file size`);
          else claim(ptrs[j], path, BlockType.FileBlock);
        }
      }
      return;
    }
    if (inode.zla !== Zla.FileBlocks && inode.zla !== Zla.SubBlocks) return add('bad-zla', path, `unknown addressing mode ${inode.zla}`);
    if (n > 256) return add('size-too-large', path, `size ${inode.size} needs ${n} blocks in mode ${inode.zla}`);
    for (let i = 0; i < 256; i++) {
      const id = inode.blocks[i];
      if (id === 0) continue;
      if (i >= n) add('block-past-size', path, `${formatBlockId(id)} lies past the file size`);
      else claim(id, path, inode.zla === Zla.SubBlocks ? BlockType.SubBlock : BlockType.FileBlock);
    }
  };

  const visit = async (id: number, path: string, parent: number): Promise<void> => {
    let inode: Inode;
    try {
      inode = await fs.inode(null, id);
    } catch (e) {
      return add('bad-inode', path, (e as Error).message);
    }
    if (!fs.fdc.isAllocated(null, inodeAddress(id))) add('inode-free-in-use', path, `inode 0x${id.toString(16)} is in use but marked free`);
    if (inode.nlink === 0) add('nlink-zero', path, 'link count 0 on a reachable inode');
    await walkBlocks(inode, path);
    if (inode.type !== InodeType.Directory) {
      files++;
      return;
    }
    directories++;
    if (inode.size % DIR_ENTRY_SIZE !== 0) add('dir-size', path, `directory size ${inode.size} is not a multiple of ${DIR_ENTRY_SIZE}`);
    let entries;
    try {
      entries = await fs.readdir(path);
    } catch (e) {
      return add('unreadable', path, (e as Error).message);
    }
    if (entries[0]?.name !== '.' || entries[0].id !== id) add('bad-dot', path, '"." is missing, misplaced or wrong');
    if (entries[1]?.name !== '..' || entries[1].id !== parent) add('bad-dotdot', path, `".." is missing, misplaced or does not name the parent`);
    const seen = new Set<string>();
    for (const [i, e] of entries.entries()) {
      const child = path === '/' ? `/${e.name}` : `${path}/${e.name}`;
      if (i < 2 && (e.name === '.' || e.name === '..')) continue;
      if (e.name === '.' || e.name === '..') add('dup-dot', path, `extra "${e.name}" entry`);
      if (e.name === '' || e.name.includes('/') || Buffer.byteLength(e.name) > MAX_NAME_BYTES) add('bad-name', path, `invalid name ${JSON.stringify(e.name)}`);
      if (seen.has(e.name)) add('dup-name', child, 'name appears twice');
      seen.add(e.name);
      let target: Inode;
      try {
        target = await fs.inode(null, e.id);
      } catch (err) {
        add('bad-entry', child, `entry points at a damaged or missing inode: ${(err as Error).message}`);
        continue;
      }
      if (target.type !== e.type) add('entry-type', child, `entry type ${e.type}, inode type ${target.type}`);
      const r = reached.get(e.id);
      if (r) {
        r.refs++;
        if (target.type === InodeType.Directory) add('dir-hardlink', child, `directory also reachable as ${r.path}`);
        continue;
      }
      reached.set(e.id, { refs: 1, subdirs: 0, path: child, type: target.type });
      if (target.type === InodeType.Directory) {
        reached.get(id)!.subdirs++;
        await visit(e.id, child, id);
      } else await visit(e.id, child, id);
    }
  };

  reached.set(ROOT_INODE_ID, { refs: 1, subdirs: 0, path: '/', type: InodeType.Directory });
  await visit(ROOT_INODE_ID, '/', ROOT_INODE_ID);

  for (const [id, r] of reached) {
    let inode: Inode;
    try {
      inode = await fs.inode(null, id);
    } catch {
      continue;
    }
    const want = r.type === InodeType.Directory ? 2 + r.subdirs : r.refs;
    // A directory link count of 1 means "not counted" (other writers use it).
    if (inode.nlink !== want && !(r.type === InodeType.Directory && inode.nlink === 1)) add('nlink', r.path, `link count ${inode.nlink}, expected ${want}`);
  }

  // Orphans: allocated inodes nothing reaches.
  const ipe = fs.fdc.layout.geometry.itemsPerEntry;
  fs.fdc.entries.forEach((e, entry) => {
    for (let item = 0; item < fs.fdc.layout.itemsInEntry(entry); item++) {
      if (isItemFree(e, item)) continue;
      const id = ((item << 22) | (entry << 6) | BlockType.Inode) >>> 0;
      if (!reached.has(id)) add('orphan-inode', `inode 0x${id.toString(16)}`, `allocated inode ${entry * ipe + item} is not in any directory`);
    }
  });

  // Bitmaps: counts, and allocated items that nothing references.
  for (const res of [fs.fbb, fs.sbc, fs.pbc, fs.fdc]) checkEntries(res, add);
  const lost = (res: Resource, keyOf: (entry: number, item: number) => number, name: string) => {
    res.entries.forEach((e, entry) => {
      for (let item = 0; item < res.layout.itemsInEntry(entry); item++) {
        if (isItemFree(e, item)) continue;
        const key = keyOf(entry, item);
        if (!owners.has(key)) add('block-lost', `${name} ${entry}:${item}`, `${formatBlockId(key)} is allocated but unused`);
      }
    });
  };
  const fipe = fs.fbb.layout.geometry.itemsPerEntry;
  lost(fs.fbb, (entry, item) => (((entry * fipe + item) << 6) | 1) >>> 0, 'file block');
  lost(fs.sbc, (entry, item) => (((item & 0xf) << 28) | (entry << 6) | (((item >> 4) & 3) << 3) | BlockType.SubBlock) >>> 0, 'sub-block');
  lost(fs.pbc, (entry, item) => (((item & 0xf) << 28) | (entry << 6) | BlockType.PointerBlock) >>> 0, 'pointer block');

  return { findings, files, directories, blocksInUse: owners.size };
}

function checkEntries(res: Resource, add: (code: string, where: string, message: string) => void): void {
  res.entries.forEach((e, entry) => {
    const where = `${res.kind} entry ${entry}`;
    const total = res.layout.itemsInEntry(entry);
    if (e.total !== total) add('entry-total', where, `total ${e.total}, expected ${total}`);
    const free = popcountFree({ ...e, total: Math.min(e.total, total) });
    if (e.free !== free) add('entry-free-count', where, `free count ${e.free}, bitmap has ${free}`);
    for (let i = total; i < 0x1f0 * 8; i++) {
      if (e.bitmap[i >> 3] & (1 << (i & 7))) {
        add('entry-stray-bits', where, `bits set past the entry's ${total} items`);
        break;
      }
    }
  });
}

function fbbItem(fs: Vmfs, block: number) {
  const ipe = fs.fbb.layout.geometry.itemsPerEntry;
  return { entry: Math.floor(block / ipe), item: block % ipe };
}

async function fsPointerBlock(fs: Vmfs, id: number): Promise<Uint32Array> {
  // Reading through a one-off file view keeps check independent of caches' edit paths.
  const buf = Buffer.alloc(4096);
  const parts = fs.pbc.itemRange(pointerBlockAddress(id));
  let at = 0;
  for (const p of parts) {
    await fs.volume.read(buf.subarray(at, at + p.length), p.logical);
    at += p.length;
  }
  const out = new Uint32Array(POINTERS_PER_BLOCK);
  for (let i = 0; i < POINTERS_PER_BLOCK; i++) out[i] = buf.readUInt32LE(i * 4);
  return out;
}
