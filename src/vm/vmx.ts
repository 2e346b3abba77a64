// The .vmx configuration file: `key = "value"` lines as VMware writes them,
// parsed strictly (a malformed line is an error naming its line number), and
// the settings the runner uses, validated: sizes bounded and every file name
// confined to the VM's folder.
import { VmError } from './errors.js';
import { confinedName } from './folderFiles.js';

/** Memory a VM may have, in MiB (the machine's physical memory). */
export const MIN_MEM_MIB = 1;
export const MAX_MEM_MIB = 256;
/** A VM's name (its folder's and its files'): no paths, no '..'. */
export const VM_NAME = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;
/** Largest .vmx/.vmsd the runner reads. */
export const MAX_CONFIG_BYTES = 64 << 10;

export interface VmConfig {
  displayName: string;
  memMiB: number;
  guestOS: string;
  /** The disk's top layer: NAME.vmdk or a delta NAME-00000N.vmdk. */
  disk: string;
  /** Program the firmware loads from the guest file system. */
  init: string;
  /** Where the console output is kept (in the VM's folder). */
  consoleLog: string;
  /** Timer interrupts: every 100 ticks, or random from `seed`. */
  timer: 'periodic' | 'random';
  seed: number;
  /** A linked clone: the VM (a sibling folder) whose frozen disk layer its disk builds on. */
  linkedTo: string | null;
}

/** The keys of VmConfig in the file. */
const KEYS = {
  displayName: 'displayName',
  memMiB: 'memsize',
  guestOS: 'guestOS',
  disk: 'scsi0:0.fileName',
  init: 'nachos.init',
  consoleLog: 'serial0.fileName',
  timer: 'nachos.timer',
  seed: 'nachos.seed',
  linkedTo: 'nachos.linkedTo',
} as const;

const LINE = /^([A-Za-z0-9_.:-]+)\s*=\s*"([^"\\\x00-\x1f]*)"\s*$/;

/** The key/value pairs of a .vmx (or .vmsd), in order; `what` names the file in errors. */
export function parseKeyValues(text: string, what: string): Map<string, string> {
  const map = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === '.encoding = "UTF-8"') return;
    const m = LINE.exec(line);
    if (!m) throw new VmError(`${what}: line ${i + 1} is not 'key = "value"': ${JSON.stringify(raw.slice(0, 60))}`);
    if (map.has(m[1])) throw new VmError(`${what}: line ${i + 1}: '${m[1]}' is set twice`);
    map.set(m[1], m[2]);
  });
  return map;
}

export function formatKeyValues(map: Map<string, string>): string {
  let out = '.encoding = "UTF-8"\n';
  for (const [k, v] of map) {
    if (!LINE.test(`${k} = "${v}"`)) throw new VmError(`cannot write '${k}': the value holds a quote, backslash or control character`);
    out += `${k} = "${v}"\n`;
  }
  return out;
}

export function parseVmx(text: string, what: string): VmConfig {
  const map = parseKeyValues(text, what);
  const get = (k: string): string => {
    const v = map.get(k);
    if (v === undefined) throw new VmError(`${what}: '${k}' is missing`);
    return v;
  };
  const mem = get(KEYS.memMiB);
  if (!/^\d{1,6}$/.test(mem) || +mem < MIN_MEM_MIB || +mem > MAX_MEM_MIB) throw new VmError(`${what}: memsize must be ${MIN_MEM_MIB} to ${MAX_MEM_MIB} (MiB), got '${mem}'`);
  const disk = confinedName(get(KEYS.disk), `${what}: ${KEYS.disk}`);
  if (!disk.endsWith('.vmdk')) throw new VmError(`${what}: ${KEYS.disk} must name a .vmdk (got '${disk}')`);
  const timer = map.get(KEYS.timer) ?? 'periodic';
  if (timer !== 'periodic' && timer !== 'random') throw new VmError(`${what}: nachos.timer must be periodic or random (got '${timer}')`);
  const seed = map.get(KEYS.seed) ?? '0';
  if (!/^\d{1,9}$/.test(seed)) throw new VmError(`${what}: nachos.seed must be a number (got '${seed}')`);
  const init = map.get(KEYS.init) ?? 'init';
  if (init === '' || init.length > 55) throw new VmError(`${what}: nachos.init must be a guest file name of 1 to 55 bytes`);
  return {
    displayName: map.get(KEYS.displayName) ?? '',
    memMiB: +mem,
    guestOS: map.get(KEYS.guestOS) ?? 'other',
    disk,
    init,
    consoleLog: confinedName(map.get(KEYS.consoleLog) ?? 'console.log', `${what}: ${KEYS.consoleLog}`),
    timer,
    seed: +seed,
    linkedTo: map.has(KEYS.linkedTo) ? linkedName(map.get(KEYS.linkedTo)!, what) : null,
  };
}

/** The .vmx text for `c`, keeping other keys of `previous` (a parsed .vmx) as they were. */
export function formatVmx(c: VmConfig, previous?: string): string {
  const map = previous !== undefined ? parseKeyValues(previous, '.vmx') : new Map<string, string>([
    ['config.version', '8'],
    ['virtualHW.version', '4'],
  ]);
  map.set(KEYS.displayName, c.displayName);
  map.set(KEYS.memMiB, String(c.memMiB));
  map.set(KEYS.guestOS, c.guestOS);
  map.set('scsi0.present', 'TRUE');
  map.set('scsi0:0.present', 'TRUE');
  map.set(KEYS.disk, c.disk);
  map.set(KEYS.init, c.init);
  map.set('serial0.present', 'TRUE');
  map.set('serial0.fileType', 'file');
  map.set(KEYS.consoleLog, c.consoleLog);
  map.set(KEYS.timer, c.timer);
  map.set(KEYS.seed, String(c.seed));
  if (c.linkedTo !== null) map.set(KEYS.linkedTo, c.linkedTo);
  else map.delete(KEYS.linkedTo);
  return formatKeyValues(map);
}

/** A linked clone's source: a VM name only (its folder is a sibling of the clone's), never a path. */
function linkedName(v: string, what: string): string {
  if (!VM_NAME.test(v)) throw new VmError(`${what}: ${KEYS.linkedTo} must name a VM beside this one, not a path (got '${v}')`);
  return v;
}
