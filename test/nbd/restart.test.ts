// The NBD server restarting under a mounted cluster host (TCP loopback): while it is down, operations fail with an error naming the URL; back
// within the lease, the host reconnects and goes on; down past the lease, the
// host fences itself and another host takes over. Either way every synced
// byte is there and the volume checks clean (ours and fsck.vmfs).
import { afterAll, describe, expect, it } from 'vitest';
import { FencedError } from '../../src/cluster/clusterErrors.js';
import { mountClusteredDatastore, openDatastore } from '../../src/fs/datastore.js';
import { Vmfs } from '../../src/fs/vmfs.js';
import { TEST_PARAMS, makeVolume } from '../cluster/clusterHelpers.js';
import { expectClean, expectVmfsToolsClean, pattern, readAll, tempDir } from '../helpers.js';
import { Nbdkit, startNbdkit } from './nbdkit.js';

const tmp = tempDir('vmfs-nbd-restart-');
const servers: Nbdkit[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  tmp.cleanup();
});

async function putSynced(fs: Vmfs, path: string, data: Buffer): Promise<void> {
  const id = await fs.create(path);
  await fs.write(id, data, 0);
  await fs.sync();
}

async function expectFiles(path: string, files: Map<string, Buffer>): Promise<void> {
  const fs = await openDatastore([path], { readOnly: true });
  for (const [p, d] of files) expect((await readAll(fs, p)).equals(d), p).toBe(true);
  await expectClean(fs);
  await fs.close();
  expectVmfsToolsClean([path]);
}

describe('the NBD server restarting under a mounted host', () => {
  it('back within the lease: clear errors meanwhile, then the host reconnects and goes on', async () => {
    // A 10 s lease: an operation tries to reconnect for about 1.4 s before it fails, and a loaded machine may take as long to restart the server.
    const path = await makeVolume(tmp.path, { ...TEST_PARAMS, leaseMs: 10_000 });
    const server = await startNbdkit({ plugin: ['file', path], dir: tmp.path });
    servers.push(server);
    const host = await mountClusteredDatastore([server.url], '6b0000c1-00000001-0001-0000000000c1');
    const lost: Error[] = [];
    host.member.host.on('lost', (e: Error) => lost.push(e));
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 4; i++) {
      files.set(`/before${i}`, pattern(50_000 + i, i));
      await putSynced(host.fs, `/before${i}`, files.get(`/before${i}`)!);
    }
    await server.stop('SIGKILL');
    const failure = await putSynced(host.fs, '/during', pattern(1000, 99)).then(
      () => null,
      (e: Error) => e,
    );
    expect(failure?.message).toContain(`${server.url}: `);
    expect(failure?.message).toMatch(/connection refused|connection lost/);
    await server.start();
    for (let i = 0; i < 4; i++) {
      files.set(`/after${i}`, pattern(70_000 + i, 10 + i));
      await putSynced(host.fs, `/after${i}`, files.get(`/after${i}`)!);
    }
    expect(lost).toEqual([]);
    await host.leave();
    await host.volume.close();
    await expectFiles(path, files);
  });

  it('down past the lease: the host fences itself, and after the restart another host takes over', async () => {
    const path = await makeVolume(tmp.path);
    const server = await startNbdkit({ plugin: ['file', path], dir: tmp.path });
    servers.push(server);
    const a = await mountClusteredDatastore([server.url], '6b0000c2-00000002-0002-0000000000c2');
    const lost = new Promise<Error>((r) => a.member.host.once('lost', r));
    const files = new Map([['/synced', pattern(123_456, 5)]]);
    await putSynced(a.fs, '/synced', files.get('/synced')!);
    await server.stop('SIGKILL');
    expect((await lost).message).toMatch(/lost the datastore lease/);
    await server.start();
    // Fenced: the storage is back, yet nothing of this host's reaches it.
    const late = await putSynced(a.fs, '/late', pattern(1000, 6)).then(
      () => null,
      (e: Error) => e,
    );
    expect(late).toBeInstanceOf(FencedError);
    await a.volume.close();
    const b = await mountClusteredDatastore([server.url], '6b0000c3-00000003-0003-0000000000c3');
    files.set('/by-b', pattern(4096, 7));
    await putSynced(b.fs, '/by-b', files.get('/by-b')!);
    await b.leave();
    await b.volume.close();
    await expectFiles(path, files);
    const check = await openDatastore([path], { readOnly: true });
    expect((await check.readdir('/')).map((e) => e.name)).not.toContain('late');
    await check.close();
  });
});
