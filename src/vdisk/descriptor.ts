// The VMDK descriptor: the text that names a disk's type, its content IDs
// (CID, parentCID), its parent and its extents, plus the disk database (ddb).
// It is embedded in a sparse file or stands alone as NAME.vmdk.
//
// Parsing keeps every header key and ddb entry in file order, so rewriting a
// descriptor written by another tool (a new CID after a write) changes only
// what we meant to change.
import { randomInt } from 'node:crypto';
import { DiskError } from './errors.js';

/** parentCID of a disk without a parent. */
export const NO_PARENT = 0xffffffff;
/** Descriptors longer than this are not descriptors (VMware's own stay under 10 KiB). */
export const MAX_DESCRIPTOR_BYTES = 64 * 1024;

export type ExtentAccess = 'RW' | 'RDONLY' | 'NOACCESS';

export interface ExtentLine {
  access: ExtentAccess;
  /** Size in 512-byte sectors. */
  sectors: number;
  /** SPARSE, FLAT, VMFS, ZERO, VMFSSPARSE, ... as written. */
  type: string;
  file: string | null;
  /** Start in the file, in sectors (flat extents). */
  offset: number;
}

// Keys written without quotes, as VMware and qemu write them.
const UNQUOTED = new Set(['version', 'CID', 'parentCID']);

export class Descriptor {
  constructor(
    /** Header keys in file order, values without quotes. */
    readonly fields: Map<string, string>,
    readonly extents: ExtentLine[],
    /** ddb.* entries in file order. */
    readonly ddb: Map<string, string>,
  ) {}

  get cid(): number {
    return parseInt(this.fields.get('CID')!, 16);
  }

  set cid(v: number) {
    this.fields.set('CID', formatCid(v));
  }

  get parentCid(): number {
    const v = this.fields.get('parentCID');
    return v === undefined ? NO_PARENT : parseInt(v, 16);
  }

  get createType(): string {
    return this.fields.get('createType')!;
  }

  get parentFileNameHint(): string | null {
    return this.fields.get('parentFileNameHint') ?? null;
  }

  get hasParent(): boolean {
    return this.parentCid !== NO_PARENT;
  }

  /** Capacity in bytes: the sum of the extents. */
  get capacity(): number {
    return this.extents.reduce((sum, e) => sum + e.sectors, 0) * 512;
  }

  format(): string {
    const lines = ['# Disk DescriptorFile'];
    for (const [k, v] of this.fields) lines.push(UNQUOTED.has(k) ? `${k}=${v}` : `${k}="${v}"`);
    lines.push('', '# Extent description');
    for (const e of this.extents) {
      let line = `${e.access} ${e.sectors} ${e.type}`;
      if (e.file !== null) line += ` "${e.file}"`;
      if (e.type === 'FLAT' || e.type === 'VMFS') line += ` ${e.offset}`;
      lines.push(line);
    }
    lines.push('', '# The Disk Data Base', '#DDB', '');
    for (const [k, v] of this.ddb) lines.push(`${k} = "${v}"`);
    return `${lines.join('\n')}\n`;
  }
}

export function formatCid(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

/** A fresh content ID; never the two values that mean "none". */
export function newCid(): number {
  return randomInt(0, 0xfffffffe);
}

export interface NewDescriptorOptions {
  createType: 'monolithicSparse' | 'monolithicFlat';
  capacity: number;
  extent: { type: 'SPARSE' | 'FLAT'; file: string };
  parent?: { cid: number; fileNameHint: string };
}

export function newDescriptor(o: NewDescriptorOptions): Descriptor {
  const fields = new Map<string, string>([
    ['version', '1'],
    ['encoding', 'UTF-8'],
    ['CID', formatCid(newCid())],
    ['parentCID', formatCid(o.parent ? o.parent.cid : NO_PARENT)],
    ['createType', o.createType],
  ]);
  if (o.parent) fields.set('parentFileNameHint', o.parent.fileNameHint);
  const sectors = o.capacity / 512;
  // SCSI geometry, as VMware gives lsilogic disks: 255 heads, 63 sectors per track.
  const cylinders = Math.max(1, Math.min(65535, Math.floor(sectors / (255 * 63))));
  const ddb = new Map<string, string>([
    ['ddb.virtualHWVersion', '4'],
    ['ddb.geometry.cylinders', String(cylinders)],
    ['ddb.geometry.heads', '255'],
    ['ddb.geometry.sectors', '63'],
    ['ddb.adapterType', 'lsilogic'],
  ]);
  return new Descriptor(fields, [{ access: 'RW', sectors, type: o.extent.type, file: o.extent.file, offset: 0 }], ddb);
}

const EXTENT_RE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?$/;
const DDB_RE = /^(ddb\.[\w.]+)\s*=\s*"([^"]*)"$/;
const FIELD_RE = /^([A-Za-z][\w.]*)\s*=\s*(?:"([^"]*)"|([^"\s]*))$/;

/** Parses descriptor text; `what` names the file in errors. */
export function parseDescriptor(text: string, what: string): Descriptor {
  if (text.length > MAX_DESCRIPTOR_BYTES) throw new DiskError(`${what}: descriptor longer than ${MAX_DESCRIPTOR_BYTES} bytes`);
  const fields = new Map<string, string>();
  const extents: ExtentLine[] = [];
  const ddb = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const bad = (why: string) => new DiskError(`${what}: descriptor line ${i + 1}: ${why}: ${JSON.stringify(line.slice(0, 80))}`);
    let m: RegExpExecArray | null;
    if ((m = EXTENT_RE.exec(line))) {
      const sectors = Number(m[2]);
      const offset = m[5] === undefined ? 0 : Number(m[5]);
      if (!Number.isSafeInteger(sectors) || !Number.isSafeInteger(offset)) throw bad('extent size out of range');
      extents.push({ access: m[1] as ExtentAccess, sectors, type: m[3].toUpperCase(), file: m[4] ?? null, offset });
    } else if ((m = DDB_RE.exec(line))) {
      ddb.set(m[1], m[2]);
    } else if ((m = FIELD_RE.exec(line))) {
      fields.set(m[1], m[2] ?? m[3]);
    } else {
      throw bad('not understood');
    }
  }
  for (const key of ['CID', 'parentCID']) {
    const v = fields.get(key);
    if (v === undefined && key === 'parentCID') continue;
    if (v === undefined || !/^[0-9a-fA-F]{1,8}$/.test(v)) throw new DiskError(`${what}: descriptor has ${v === undefined ? 'no' : 'a malformed'} ${key}`);
  }
  if (!fields.has('createType')) throw new DiskError(`${what}: descriptor has no createType`);
  if (extents.length === 0) throw new DiskError(`${what}: descriptor lists no extents`);
  const d = new Descriptor(fields, extents, ddb);
  if (d.hasParent && !d.parentFileNameHint) throw new DiskError(`${what}: delta disk without a parentFileNameHint`);
  return d;
}
