// Directory data: a flat array of 140-byte entries (type, inode id,
// generation, NUL-padded name). "." and ".." come first.
import { defineStruct, Decoded } from '../util/struct.js';

export const DIR_ENTRY_SIZE = 0x8c;
export const MAX_NAME_BYTES = 127;

export const dirEntryStruct = defineStruct('directory entry', DIR_ENTRY_SIZE, {
  type: { offset: 0x00, type: 'u32' },
  blockId: { offset: 0x04, type: 'u32' },
  recordId: { offset: 0x08, type: 'u32' },
  name: { offset: 0x0c, type: { cstring: 128 } },
});
export type DirEntry = Decoded<typeof dirEntryStruct.fields>;

export function decodeDirEntries(data: Uint8Array): DirEntry[] {
  const out: DirEntry[] = [];
  for (let off = 0; off + DIR_ENTRY_SIZE <= data.length; off += DIR_ENTRY_SIZE) out.push(dirEntryStruct.decode(data, off));
  return out;
}
