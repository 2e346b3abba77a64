// A host for the storage-outage test: `stamper.ts URL UUID`. It locks /paused
// for writing and stamps it ("A n", synced) every 20 ms, reporting each stamp
// and each failure, until its heartbeat reports the lease lost. Then it waits
// for "retry" on stdin (the storage is back) and tries one last write, which
// must fail without reaching the disk.
import { createInterface } from 'node:readline';
import { now } from '../../src/cluster/clock.js';
import { LockMode } from '../../src/cluster/lockHeader.js';
import { mountClusteredDatastore } from '../../src/fs/datastore.js';

const [url, uuid] = process.argv.slice(2);
const say = (event: string, more: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ event, ...more }) + '\n');
const mount = await mountClusteredDatastore([url], uuid);
const fs = mount.fs;
// When the host stopped being allowed to write (its deadline), in wall-clock time: a
// starved process may notice it later, but no write of its can pass after it.
const deadlineAt = () => Date.now() - (now() - mount.member.host.deadline);
mount.member.host.on('lost', (e: Error) => say('lost', { message: e.message, deadlineAt: deadlineAt() }));
const id = await fs.create('/paused');
await mount.lockFile(id, LockMode.Exclusive);
say('locked');
for (let n = 1; !mount.member.host.fenced; n++) {
  try {
    await fs.write(id, Buffer.from(`A ${String(n).padStart(8)}`), 0);
    await fs.sync();
    say('stamped', { n });
  } catch (e) {
    say('write-failed', { n, message: (e as Error).message });
  }
  await new Promise((r) => setTimeout(r, 20));
}
for await (const line of createInterface({ input: process.stdin })) if (line === 'retry') break;
try {
  await fs.write(id, Buffer.from('A LATE WRITE'), 0);
  await fs.sync();
  say('late-written');
} catch (e) {
  say('late-failed', { message: (e as Error).message });
}
process.exit(0);
