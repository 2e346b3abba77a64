// Simulated physical memory: one flat little-endian byte array of a
// configurable size, with typed views so that aligned halfwords and words
// are single host loads. The host must be little-endian (every Node target
// we run on is), which makes the views agree with the guest's byte order.
import { MachineConfigError } from './exceptions.js';

/** Largest memory we accept: the translation cache keeps physical addresses in int32. */
export const MaxMemoryBytes = 2 ** 30;

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class PhysicalMemory {
  readonly size: number;
  readonly bytes: Uint8Array;
  readonly i8: Int8Array;
  readonly u16: Uint16Array;
  readonly i16: Int16Array;
  readonly i32: Int32Array;

  constructor(sizeBytes: number) {
    if (!hostIsLittleEndian) throw new MachineConfigError('the MIPS machine needs a little-endian host');
    if (!Number.isInteger(sizeBytes) || sizeBytes < 4 || sizeBytes % 4 !== 0 || sizeBytes > MaxMemoryBytes) {
      throw new MachineConfigError(
        `memory size must be a multiple of 4 bytes between 4 and ${MaxMemoryBytes} (got ${sizeBytes})`,
      );
    }
    const buf = new ArrayBuffer(sizeBytes);
    this.size = sizeBytes;
    this.bytes = new Uint8Array(buf);
    this.i8 = new Int8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.i16 = new Int16Array(buf);
    this.i32 = new Int32Array(buf);
  }
}
