// One host of the multi-host benchmark: mounts in cluster mode, warms up
// (WARM creates in a directory of its own, so the JIT has compiled the hot
// paths before the clock starts, as it has in a host that has been up a
// while), creates COUNT files in DIR (created if missing), reports the time
// and the CPU it used doing so, leaves.
import { FileDevice } from '../dist/device/fileDevice.js';
import { mountClustered } from '../dist/fs/clusterMount.js';
import { LogicalVolume } from '../dist/volume/logicalVolume.js';

const [path, uuid, name, count, warm, goFile, dir] = process.argv.slice(2);
const { existsSync } = await import('node:fs');
const volume = await LogicalVolume.open([FileDevice.open(path)], { shared: true });
const mount = await mountClustered(volume, { hostUuid: uuid });
await mount.fs.mkdir(dir).catch((e) => {
  if (e.code !== 'EEXIST') throw e;
});
await mount.fs.mkdir(`/warm-${name}`);
for (let i = 0; i < Number(warm); i++) await mount.fs.create(`/warm-${name}/${i}`);
process.stdout.write('ready\n');
while (!existsSync(goFile)) await new Promise((r) => setTimeout(r, 5));
const t = process.hrtime.bigint();
const cpu = process.cpuUsage();
for (let i = 0; i < Number(count); i++) await mount.fs.create(`${dir}/${name}-${i}`);
const s = Number(process.hrtime.bigint() - t) / 1e9;
const used = process.cpuUsage(cpu);
process.stdout.write(`${s} ${(used.user + used.system) / 1e6}\n`); // seconds of wall, seconds of CPU (all threads)
await mount.leave();
await volume.close();
