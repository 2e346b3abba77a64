// Hosts on separate machines: each host a network namespace of its own, the
// storage an nbdkit `file` server in another, reached over veth links whose
// addresses exist only inside those namespaces. The multi-host concurrency,
// crash-takeover and pause tests of test/multihost*.test.ts, run over NBD;
// storage latency (delay filter) below the lease fences no one; a host cut off
// from the storage (error filter on its path) fences itself before anyone
// takes its locks and writes nothing after its lease; nor does a host whose
// link goes down and comes back after another host took over (what its kernel
// still queued for the storage must not land: the write bound resets it).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVolume } from '../cluster/clusterHelpers.js';
import { tempDir } from '../helpers.js';
import { expectTakenOver } from '../multihost/takenOver.js';
import { NsHost, doneSteps, startHost, verifyWorkers } from './hosts.js';
import { Lab, createLab } from './netns.js';
import { Nbdkit, startNbdkit } from './nbdkit.js';

const HOSTS = 4;
const tmp = tempDir('vmfs-nbd-netns-');
let lab: Lab;
const servers: Nbdkit[] = [];
const started: NsHost[] = [];

beforeAll(() => {
  lab = createLab('vn', HOSTS);
});
afterAll(async () => {
  for (const h of started) h.child.kill('SIGKILL');
  for (const s of servers) await s.stop();
  lab?.destroy();
  tmp.cleanup();
});

const uuid = (k: number) => `6b00000${k}-0000000${k}-000${k}-00000000000${k}`;

/** A fresh volume (lease 1.5 s) served from the storage namespace; `url(k)`: how host k names it. */
async function serve(filters: string[] = [], params: string[] = []): Promise<{ path: string; server: Nbdkit; url: (k: number) => string }> {
  const path = await makeVolume(tmp.path);
  const server = await startNbdkit({ plugin: ['file', path], filters, params, netns: lab.storage, dir: tmp.path });
  servers.push(server);
  return { path, server, url: (k) => `nbd://${lab.storageAddress(k)}:${server.port}/` };
}

function worker(url: string, k: number, name: string, steps: number): NsHost {
  const h = startHost(lab.hosts[k], 'multihost/worker.ts', [url, uuid(k), name, String(steps)], name);
  started.push(h);
  return h;
}

function holder(script: string, url: string, k: number, role?: string): NsHost {
  const h = startHost(lab.hosts[k], script, role ? [url, uuid(k), role] : [url, uuid(k)], `host${k}`);
  started.push(h);
  return h;
}

describe('hosts in separate network namespaces on one nbdkit', () => {
  it(`${HOSTS} hosts work at once in one shared directory`, async () => {
    const { path, url } = await serve();
    const workers = Array.from({ length: HOSTS }, (_, k) => worker(url(k), k, String.fromCharCode(97 + k), 12));
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual(workers.map(() => 0));
    for (const w of workers) expect(doneSteps(w)).toHaveLength(12);
    for (const w of workers) expect(w.events.filter((e) => e.event === 'lost')).toEqual([]);
    await verifyWorkers(path, workers);
  });

  it('a host killed with kill -9: the survivor takes over, nothing synced is lost', async () => {
    const { path, url } = await serve();
    const victim = worker(url(0), 0, 'v', 1000);
    const survivor = worker(url(1), 1, 's', 30);
    await Promise.all([victim.until('mounted'), survivor.until('mounted')]);
    while (doneSteps(victim).length < 4) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 7)); // anywhere, mid-transaction included
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe(null);
    expect(await survivor.exited, survivor.stderr()).toBe(0);
    const late = worker(url(2), 2, 'l', 3); // takes over the dead host when it mounts, if no one did yet
    expect(await late.exited, late.stderr()).toBe(0);
    await verifyWorkers(path, [victim, survivor, late], ['v']);
  });

  it('a host paused past its lease writes nothing after another host took its file over', async () => {
    const { path, url } = await serve();
    const a = holder('multihost/pauser.ts', url(0), 0, 'holder');
    await a.until('stamped');
    a.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 200));
    const stampsBefore = a.events.filter((e) => e.event === 'stamped').length;
    const b = holder('multihost/pauser.ts', url(1), 1, 'taker');
    await b.until('written');
    expect(await b.exited, b.stderr()).toBe(0);
    a.child.kill('SIGCONT');
    expect(String((await a.until('write-failed')).message)).toMatch(/lost the datastore lease/);
    expect(await a.exited).toBe(3);
    expect(a.events.filter((e) => e.event === 'stamped').length).toBe(stampsBefore);
    await expectTakenOver(path);
  });

  it('storage latency below the lease (nbdkit delay filter): no host fences itself', async () => {
    const { path, url } = await serve(['delay'], ['delay-read=4ms', 'delay-write=4ms']);
    const workers = [worker(url(0), 0, 'd', 5), worker(url(1), 1, 'e', 5)];
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual([0, 0]);
    for (const w of workers) expect(w.events.filter((e) => e.event === 'lost' || e.event === 'takeover')).toEqual([]);
    await verifyWorkers(path, workers);
  });

  it('a host cut off from the storage (error filter on its path) fences itself before another takes its lock, and writes nothing after', async () => {
    const { path, url } = await serve();
    // Host 0 reaches the same file through a second server that fails every request while `cut` exists.
    const cut = join(tmp.path, 'cut');
    const faulty = await startNbdkit({ plugin: ['file', path], filters: ['error'], params: ['error=EIO', 'error-rate=100%', `error-file=${cut}`], netns: lab.storage, dir: tmp.path });
    servers.push(faulty);
    const a = holder('nbd/stamper.ts', `nbd://${lab.storageAddress(0)}:${faulty.port}/`, 0);
    await a.until('stamped');
    writeFileSync(cut, '');
    const b = holder('multihost/pauser.ts', url(1), 1, 'taker');
    const lost = await a.until('lost', 30_000);
    const bLocked = await b.until('locked', 30_000);
    expect(lost.deadlineAt as number, JSON.stringify({ a: a.events, b: b.events })).toBeLessThan(bLocked.at);
    expect(String(lost.message)).toMatch(/lost the datastore lease|heartbeat/);
    await b.until('written');
    expect(await b.exited, b.stderr()).toBe(0);
    // The cut host's writes failed with the server's EIO, each named; none was reported done after the cut.
    const failures = a.events.filter((e) => e.event === 'write-failed');
    expect(failures.length).toBeGreaterThan(0);
    const lastStamp = Math.max(...a.events.filter((e) => e.event === 'stamped').map((e) => e.n as number));
    // The storage comes back: the fenced host's next write fails before reaching it.
    rmSync(cut);
    a.send('retry');
    expect(String((await a.until('late-failed')).message)).toMatch(/lost the datastore lease/);
    expect(await a.exited).toBe(0);
    const image = readFileSync(path);
    expect(image.includes('A LATE WRITE')).toBe(false);
    for (let n = lastStamp + 1; n <= lastStamp + failures.length + 1; n++) expect(image.includes(`A ${String(n).padStart(8)}`), `stamp ${n}`).toBe(false);
    await expectTakenOver(path, { noHosts: true });
    expect(existsSync(cut)).toBe(false);
  });

  it('a host whose network link goes down fences itself, and what it had queued never reaches the storage once the link is back', async () => {
    const { path, url } = await serve();
    const a = holder('nbd/stamper.ts', url(0), 0);
    await a.until('stamped');
    lab.link(0, false);
    const b = holder('multihost/pauser.ts', url(1), 1, 'taker');
    const lost = await a.until('lost', 30_000);
    const bLocked = await b.until('locked', 30_000);
    expect(lost.deadlineAt as number, JSON.stringify({ a: a.events, b: b.events })).toBeLessThan(bLocked.at);
    await b.until('written');
    expect(await b.exited, b.stderr()).toBe(0);
    const acked = Math.max(...a.events.filter((e) => e.event === 'stamped').map((e) => e.n as number));
    lab.link(0, true);
    // Long enough for TCP to retransmit anything the host's kernel still held for the storage.
    await new Promise((r) => setTimeout(r, 8000));
    a.send('retry');
    expect(String((await a.until('late-failed')).message)).toMatch(/lost the datastore lease/);
    expect(await a.exited).toBe(0);
    const image = readFileSync(path);
    expect(image.includes('A LATE WRITE')).toBe(false);
    for (let n = acked + 1; n <= acked + 20; n++) expect(image.includes(`A ${String(n).padStart(8)}`), `stamp ${n}`).toBe(false);
    await expectTakenOver(path, { noHosts: true });
  });
});
