// Picks the backend for an extent name. Only files and block devices today;
// network block devices join here with their URL schemes.
import { BlockDevice } from './blockDevice.js';
import { FileDevice, FileDeviceOptions } from './fileDevice.js';

export async function openDevice(name: string, options: FileDeviceOptions = {}): Promise<BlockDevice> {
  return FileDevice.open(name, options);
}
