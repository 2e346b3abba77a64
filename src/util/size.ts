// Human sizes on the command line: 512M, 2G, 1.5T, 4096 (bytes), 64K.
const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) throw new Error(`not a size: '${text}' (use e.g. 512M, 2G, 1T)`);
  const v = Math.round(parseFloat(m[1]) * UNITS[m[2].toUpperCase()]);
  if (!Number.isSafeInteger(v)) throw new Error(`size out of range: '${text}'`);
  return v;
}

export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}
