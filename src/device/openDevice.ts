// Picks the backend for an extent name: an NBD URL (nbd://HOST[:PORT]/EXPORT,
// nbd+unix:///EXPORT?socket=PATH) is served over the network, anything else
// is a local file or block device.
import { BlockDevice } from './blockDevice.js';
import { FileDevice, FileDeviceOptions } from './fileDevice.js';
import { isNbdUrl } from './nbdUrl.js';

export { isNbdUrl };

export async function openDevice(name: string, options: FileDeviceOptions = {}): Promise<BlockDevice> {
  // An export exists already and has its size: `create` has nothing to do there.
  if (isNbdUrl(name)) return (await import('./nbdDevice.js')).NbdDevice.open(name, { readOnly: options.readOnly }); // loaded when needed
  return FileDevice.open(name, options);
}
