// Logical-to-physical mapping: which extent holds a logical offset, and where
// on that extent's device. I/O is split wherever it crosses from one extent
// to the next, so callers see one flat logical volume.
import { EXTENT_DATA_OFFSET, SEGMENT_SIZE } from './volumeHeader.js';

export interface MappedExtent {
  firstSegment: number;
  lastSegment: number;
}

export interface Piece<E> {
  extent: E;
  /** Offset inside the extent's device. */
  deviceOffset: number;
  /** Offset inside the caller's buffer. */
  bufferOffset: number;
  length: number;
}

export class ExtentMap<E extends MappedExtent> {
  /** extentOfSegment[s] is the extent holding logical segment s. */
  private readonly extentOfSegment: E[];
  readonly size: number;

  constructor(readonly extents: readonly E[]) {
    this.extentOfSegment = [];
    for (const e of extents) for (let s = e.firstSegment; s <= e.lastSegment; s++) this.extentOfSegment[s] = e;
    this.size = this.extentOfSegment.length * SEGMENT_SIZE;
  }

  /** Splits [offset, offset+length) into per-extent pieces. Throws on a range outside the volume. */
  map(offset: number, length: number): Piece<E>[] {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`logical range ${offset}+${length} lies outside the volume (${this.size} bytes)`);
    }
    const pieces: Piece<E>[] = [];
    let pos = 0;
    while (pos < length) {
      const abs = offset + pos;
      const extent = this.extentOfSegment[Math.floor(abs / SEGMENT_SIZE)];
      const extentEnd = (extent.lastSegment + 1) * SEGMENT_SIZE;
      const len = Math.min(length - pos, extentEnd - abs);
      pieces.push({
        extent,
        deviceOffset: EXTENT_DATA_OFFSET + abs - extent.firstSegment * SEGMENT_SIZE,
        bufferOffset: pos,
        length: len,
      });
      pos += len;
    }
    return pieces;
  }

  extentAt(offset: number): E {
    return this.extentOfSegment[Math.floor(offset / SEGMENT_SIZE)];
  }
}
