// A host for the pause test: `pauser.ts VOLUME UUID ROLE`. The holder locks
// /paused for writing and stamps it until it loses its lease; the taker waits
// until it can lock the file (the holder's lease ran out), then writes it.
import { LockMode } from '../../src/cluster/lockHeader.js';
import { openDevice } from '../../src/device/openDevice.js';
import { mountClustered } from '../../src/fs/clusterMount.js';
import { LogicalVolume } from '../../src/volume/logicalVolume.js';

const [path, uuid, role] = process.argv.slice(2);
const say = (event: string, more: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ event, ...more }) + '\n');
const volume = await LogicalVolume.open([await openDevice(path)]);
const mount = await mountClustered(volume, { hostUuid: uuid });
const fs = mount.fs;
mount.member.host.on('lost', (e: Error) => say('lost', { message: e.message }));

if (role === 'holder') {
  const id = await fs.create('/paused');
  await mount.lockFile(id, LockMode.Exclusive);
  say('locked');
  for (let n = 1; ; n++) {
    try {
      await fs.write(id, Buffer.from(`A ${String(n).padStart(8)}`), 0);
      await fs.sync();
    } catch (e) {
      say('write-failed', { message: (e as Error).message, after: n - 1 });
      process.exit(3);
    }
    say('stamped', { n });
    await new Promise((r) => setTimeout(r, 20));
  }
} else {
  const id = await fs.resolve(null, '/paused');
  for (;;) {
    try {
      await mount.lockFile(id, LockMode.Exclusive);
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EBUSY') throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  say('locked');
  await fs.write(id, Buffer.from('B took over'), 0);
  await fs.sync();
  say('written');
  await mount.unlockFile(id);
  await mount.leave();
  process.exit(0);
}
