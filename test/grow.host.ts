// One library host of the online growth test, as its own process: mounts the
// datastore in cluster mode and writes files of its own one after another,
// reporting each (synced) file and the extents its blocks lie on as a JSON
// line. When the datastore is full it says so and waits for `resume` on
// stdin; after a resume it writes at most QUOTA more files (12, or as given:
// then from the start too), then waits again, so the test's disk stays small. `statfs`
// reports what it sees of the datastore and how many hosts use it; `stop`
// unmounts.
import { createInterface } from 'node:readline';
import { surveyHosts } from '../src/cluster/survey.js';
import { mountClusteredDatastore } from '../src/fs/datastore.js';
import { fileBlockNumber } from '../src/fs/blockId.js';
import { FsError } from '../src/util/errors.js';
import { pattern } from './helpers.js';

const [extentList, uuid, name, firstQuota] = process.argv.slice(2);
const say = (event: string, more: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ event, ...more }) + '\n');

const mount = await mountClusteredDatastore(extentList.split(','), uuid);
const fs = mount.fs;
for (const ev of ['takeover', 'takeover-failed', 'lost']) mount.member.host.on(ev, (e: unknown) => say(ev, { detail: String((e as { error?: unknown })?.error ?? JSON.stringify(e)) }));

let stopping = false;
let resumed = false;
let wake: (() => void) | null = null;
const commands: string[] = [];
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'resume') resumed = true;
  else commands.push(line.trim());
  wake?.();
});
const waitForCommand = () => new Promise<void>((r) => (commands.length > 0 || resumed ? r() : (wake = r)));

async function serveCommands(): Promise<void> {
  while (commands.length > 0) {
    const c = commands.shift()!;
    if (c === 'stop') stopping = true;
    if (c === 'statfs') {
      await fs.revalidate();
      const s = fs.statfs();
      const hosts = (await surveyHosts(fs.volume, 0)).length;
      say('statfs', { totalBlocks: s.totalBlocks, freeBlocks: s.freeBlocks, volumeSize: fs.volume.size, extents: fs.volume.extents.length, hosts });
    }
  }
}

const QUOTA = firstQuota === undefined ? 12 : Number(firstQuota);
let quota = firstQuota === undefined ? Infinity : QUOTA;
async function pause(why: string, i: number): Promise<void> {
  resumed = false;
  say(why, { i });
  while (!resumed && !stopping) {
    await waitForCommand();
    await serveCommands();
  }
  quota = QUOTA;
}

await fs.mkdir(`/${name}`);
say('mounted', { slot: mount.member.host.slot });
for (let i = 0; !stopping; ) {
  await serveCommands();
  if (stopping) break;
  const path = `/${name}/f${i}`;
  const data = pattern(3 * 2 ** 20 + i * 4096, i + name.charCodeAt(0) * 1000);
  try {
    const id = await fs.create(path, 0o644, undefined, true);
    await fs.write(id, data, 0);
    await fs.sync();
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'ENOSPC')) throw e;
    await fs.unlink(path);
    await pause('nospc', i); // full: the test grows the datastore
    continue;
  }
  const inode = await fs.inode(null, await fs.resolve(null, path));
  const extents = new Set<number>();
  for (const b of inode.blocks) if (b) extents.add(fs.volume.extents.indexOf(fs.volume.extentAt(fileBlockNumber(b) * fs.blockSize)));
  say('done', { i, path, extents: [...extents].sort() });
  i++;
  if (--quota <= 0) await pause('idle', i);
  else await new Promise((r) => setTimeout(r, 100));
}
await mount.leave();
await mount.volume.close();
say('left');
process.exit(0);
