// One host of a multi-host test, as its own process: mounts the datastore in
// cluster mode and works in a shared directory and in files of its own,
// reporting each finished (and synced) step as a JSON line on stdout.
import { openDevice } from '../../src/device/openDevice.js';
import { mountClustered } from '../../src/fs/clusterMount.js';
import { FsError } from '../../src/util/errors.js';
import { LogicalVolume } from '../../src/volume/logicalVolume.js';
import { pattern } from '../helpers.js';

const [path, uuid, name, countText] = process.argv.slice(2);
const count = Number(countText);
const say = (event: string, more: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ event, ...more }) + '\n');

const volume = await LogicalVolume.open([await openDevice(path)], { shared: true });
const mount = await mountClustered(volume, { hostUuid: uuid });
const fs = mount.fs;
say('mounted', { slot: mount.member.host.slot });
for (const ev of ['takeover', 'takeover-failed', 'lost']) mount.member.host.on(ev, (e: unknown) => say(ev, { detail: String((e as { error?: unknown })?.error ?? JSON.stringify(e)) }));
try {
  await fs.mkdir('/shared');
} catch (e) {
  if (!(e instanceof FsError && e.code === 'EEXIST')) throw e;
}
await fs.mkdir(`/own-${name}`);
for (let i = 0; i < count; i++) {
  const shared = `/shared/${name}-${i}`;
  const id = await fs.create(shared, 0o644, undefined, true);
  const data = pattern(1000 + ((i * 7919) % 70_000), i + name.charCodeAt(0) * 1000);
  await fs.write(id, data, 0);
  if (i % 3 === 1) await fs.rename(shared, `${shared}.renamed`);
  if (i % 5 === 2) await fs.unlink(i % 3 === 1 ? `${shared}.renamed` : shared);
  const own = await fs.create(`/own-${name}/f${i}`);
  await fs.write(own, pattern(3000, i), 0);
  await fs.sync();
  say('done', { i });
}
await mount.leave();
say('left');
process.exit(0);
