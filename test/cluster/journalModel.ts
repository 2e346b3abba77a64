// The transactions the journal tests commit, and the state a prefix of them
// leaves: transaction k writes a few runs of whole and partial sectors, in
// 16 sectors of a data area, all stamped with k, so any mix of two
// transactions is visible.
export const DATA_SECTORS = 16;

function rand(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function journalTransaction(k: number, dataOffset: number): { offset: number; data: Buffer }[] {
  const r = rand(k);
  const writes: { offset: number; data: Buffer }[] = [];
  const n = 1 + (r() % 3);
  for (let i = 0; i < n; i++) {
    const first = r() % DATA_SECTORS;
    const count = 1 + (r() % Math.min(3, DATA_SECTORS - first));
    const data = Buffer.alloc(count * 512);
    for (let s = 0; s < count; s++) {
      data.writeUInt32LE(k, s * 512);
      data.fill((k + first + s) & 0xff, s * 512 + 4, s * 512 + 512);
    }
    writes.push({ offset: dataOffset + first * 512, data });
  }
  return writes;
}

/** The data area after transactions 1..k (zeros where none wrote). */
export function stateAfter(k: number, dataOffset: number): Buffer {
  const area = Buffer.alloc(DATA_SECTORS * 512);
  for (let t = 1; t <= k; t++) for (const w of journalTransaction(t, dataOffset)) w.data.copy(area, w.offset - dataOffset);
  return area;
}
