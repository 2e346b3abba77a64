// The NBD client against real nbdkit servers (TCP loopback and Unix socket):
// handshake, bytes round trip (pipelined, split, overlapping), FUA and flush on
// the wire (nbdkit's log filter), refused exports, a server killed or stalled
// mid-request (a clear DeviceError, no hang), reconnect after a restart.
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceError } from '../../src/device/blockDevice.js';
import { NbdDevice } from '../../src/device/nbdDevice.js';
import { NbdCommand, NbdConnection, CMD_FLAG_FUA, TX } from '../../src/device/nbdProtocol.js';
import { parseNbdUrl } from '../../src/device/nbdUrl.js';
import { openDevice } from '../../src/device/openDevice.js';
import { MiB, pattern, tempDir } from '../helpers.js';
import { Nbdkit, startNbdkit } from './nbdkit.js';

const tmp = tempDir('vmfs-nbd-device-');
const servers: Nbdkit[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  tmp.cleanup();
});

async function server(options: Partial<Parameters<typeof startNbdkit>[0]> & { plugin: string[] }): Promise<Nbdkit> {
  const s = await startNbdkit({ dir: tmp.path, ...options });
  servers.push(s);
  return s;
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('NBD URLs', () => {
  it('parses TCP, IPv6 and Unix socket forms and rejects others with a clear message', () => {
    expect(parseNbdUrl('nbd://storage.example:10900/lun0')).toEqual({ kind: 'tcp', host: 'storage.example', port: 10900, exportName: 'lun0' });
    expect(parseNbdUrl('nbd://10.1.2.3/')).toEqual({ kind: 'tcp', host: '10.1.2.3', port: 10809, exportName: '' });
    expect(parseNbdUrl('nbd://[::1]:20000/a%20b')).toEqual({ kind: 'tcp', host: '::1', port: 20000, exportName: 'a b' });
    expect(parseNbdUrl('nbd+unix:///disk?socket=/run/nbd.sock')).toEqual({ kind: 'unix', socket: '/run/nbd.sock', exportName: 'disk' });
    expect(() => parseNbdUrl('nbd+unix:///disk')).toThrow(/no socket/);
    expect(() => parseNbdUrl('nbd:///disk')).toThrow(/no host/);
  });
});

describe.each([
  ['TCP loopback', false],
  ['Unix socket', true],
])('NBD client over %s', (_name, unix) => {
  const at = (tag: string) => (unix ? { socket: join(tmp.path, `${tag}.sock`) } : {});

  it('negotiates the export (NBD_OPT_GO) and round-trips bytes, pipelined and split', async () => {
    const s = await server({ plugin: ['memory', '100M'], ...at('rt') });
    const d = await NbdDevice.open(s.url);
    expect(d.size).toBe(100 * MiB);
    expect(d.info.flags & TX.HAS_FLAGS).toBeTruthy();
    expect(d.info.flags & TX.SEND_FLUSH).toBeTruthy();
    // 70 MiB: three requests of at most 32 MiB; 200 small ones in flight at once.
    const big = pattern(70 * MiB, 1);
    await d.write(big, 12345);
    const small = Array.from({ length: 200 }, (_, i) => pattern(512, 100 + i));
    await Promise.all(small.map((b, i) => d.write(b, 80 * MiB + i * 4096)));
    const back = Buffer.alloc(70 * MiB);
    await d.read(back, 12345);
    expect(back.equals(big)).toBe(true);
    const reads = small.map(() => Buffer.alloc(512));
    await Promise.all(reads.map((b, i) => d.read(b, 80 * MiB + i * 4096)));
    reads.forEach((b, i) => expect(b.equals(small[i]), `sector ${i}`).toBe(true));
    await d.close();
  });

  it('runs overlapping requests in the order they were issued', async () => {
    const s = await server({ plugin: ['memory', '1M'], ...at('order') });
    const d = await NbdDevice.open(s.url);
    // A small write issued right after a big one it overlaps lands after it (a server alone might finish it first).
    for (let round = 0; round < 20; round++) {
      const big = d.write(Buffer.alloc(512 * 1024, 0xaa), 0);
      const small = d.write(Buffer.alloc(512, round), 512 * 1024 - 512);
      await Promise.all([big, small]);
      const last = Buffer.alloc(512);
      await d.read(last, 512 * 1024 - 512);
      expect(last.equals(Buffer.alloc(512, round)), `round ${round}`).toBe(true);
    }
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= 300; i++) writes.push(d.write(Buffer.alloc(4096, i & 0xff), (i % 3) * 1024));
    const mid = Buffer.alloc(6144);
    const read = d.read(mid, 0); // issued after every write: sees all of them
    await Promise.all([...writes, read]);
    // Bytes 0..4095 were last written by i = 300 (at 0); 4096..6143 by i = 299 (at 2048).
    for (const at of [0, 1024, 2048, 4095]) expect(mid[at], `byte ${at}`).toBe(300 & 0xff);
    for (const at of [4096, 5120, 6143]) expect(mid[at], `byte ${at}`).toBe(299 & 0xff);
    await d.close();
  });
});

describe('NBD client against server variants', () => {
  it('sends FLUSH on flush, FUA when asked, and FUA on every write when the server cannot flush', async () => {
    const log = join(tmp.path, 'fua.log');
    const plain = await server({ plugin: ['memory', '1M'], filters: ['log'], params: [`logfile=${log}`] });
    const d = await NbdDevice.open(plain.url);
    await d.write(Buffer.alloc(512, 1), 0);
    await d.flush();
    await d.close();
    const conn = await NbdConnection.connect(parseNbdUrl(plain.url), plain.url, 10_000);
    expect(conn.info.flags & TX.SEND_FUA).toBeTruthy();
    await conn.request(NbdCommand.Write, CMD_FLAG_FUA, 4096, 512, Buffer.alloc(512, 7));
    await conn.disconnect();
    const text = readFileSync(log, 'utf8');
    expect(text).toMatch(/Write id=\d+ offset=0x0 count=0x200 fua=0/);
    expect(text).toMatch(/Flush id=\d+/);
    expect(text).toMatch(/Write id=\d+ offset=0x1000 count=0x200 fua=1/);
    // A server that does not offer flush but offers FUA: each of our writes carries FUA.
    const log2 = join(tmp.path, 'fua2.log');
    const noFlush = await server({ plugin: ['memory', '1M'], filters: ['log', 'fua'], params: [`logfile=${log2}`, 'fuamode=force'] });
    const d2 = await NbdDevice.open(noFlush.url);
    const forced = !(d2.info.flags & TX.SEND_FLUSH);
    await d2.write(Buffer.alloc(512, 2), 0);
    await d2.flush();
    await d2.close();
    expect(readFileSync(log2, 'utf8')).toMatch(forced ? /Write id=\d+ offset=0x0 count=0x200 fua=1/ : /Flush id=\d+/);
  });

  it('names a refused export clearly (NBD_OPT_GO error)', async () => {
    const s = await server({ plugin: ['memory', '1M'], filters: ['exportname'], params: ['exportname-strict=true', 'exportname=lun0'] });
    const good = await NbdDevice.open(s.url.replace(/\/$/, '/lun0'));
    expect(good.size).toBe(MiB);
    await good.close();
    const url = s.url.replace(/\/$/, '/nosuch');
    const e = await rejection(openDevice(url));
    expect(e).toBeInstanceOf(DeviceError);
    expect(e.message).toContain(url);
    expect(e.message).toMatch(/export "nosuch"/);
  });

  it('fails clearly when nothing listens, and refuses a read-only export for writing', async () => {
    const s = await server({ plugin: ['memory', '1M'], params: [] });
    const url = s.url;
    await s.stop();
    const e = await rejection(NbdDevice.open(url, { timeoutMs: 2000 }));
    expect(e.message).toBe(`${url}: cannot connect: connection refused`);
    const ro = await server({ plugin: ['memory', '1M'], readOnly: true });
    const e2 = await rejection(NbdDevice.open(ro.url));
    expect(e2.message).toBe(`${ro.url}: the server exports it read-only`);
    const r = await NbdDevice.open(ro.url, { readOnly: true });
    await r.read(Buffer.alloc(512), 0);
    // A server that fails a request: its errno, named.
    const failing = await server({ plugin: ['memory', '1M'], filters: ['error'], params: ['error-pwrite=ENOSPC', 'error-pwrite-rate=100%'] });
    const d = await NbdDevice.open(failing.url);
    const w = await rejection(d.write(Buffer.alloc(512, 1), 0));
    expect(w.message).toBe(`${failing.url}: write of 512 bytes at 0: the server answered ENOSPC (No space left on device)`);
    await r.close();
    await d.close();
  });

  it('a server killed mid-request: a clear error, then a reconnect once it is back', async () => {
    const s = await server({ plugin: ['memory', '10M'], filters: ['delay'], params: ['delay-write=3'] });
    const d = await NbdDevice.open(s.url, { timeoutMs: 5000 });
    const pending = d.write(Buffer.alloc(4096, 9), 0);
    await new Promise((r) => setTimeout(r, 300));
    await s.stop('SIGKILL');
    const e = await rejection(pending);
    expect(e).toBeInstanceOf(DeviceError);
    expect(e.message).toMatch(new RegExp(`^${s.url.replace(/[.[\]/+?]/g, '\\$&')}: write of 4096 bytes at 0: connection lost \\(.*\\); it may or may not have reached the disk$`));
    // While it is down: a bounded number of tries, then a clear error.
    const down = await rejection(d.read(Buffer.alloc(512), 0));
    expect(down.message).toMatch(/cannot connect: connection refused \(lost the connection; 4 reconnect attempts failed\)/);
    await s.start(); // a fresh, empty memory disk on the same port
    const back = Buffer.alloc(512, 1);
    await d.read(back, 0);
    expect(back.equals(Buffer.alloc(512))).toBe(true);
    await d.write(Buffer.alloc(512, 5), 512);
    await d.read(back, 512);
    expect(back[0]).toBe(5);
    await d.close();
  });

  it('a stalled server: the request fails after the I/O timeout and others go on after a reconnect', async () => {
    const s = await server({ plugin: ['memory', '10M'], filters: ['delay'], params: ['delay-read=2'] });
    const d = await NbdDevice.open(s.url, { timeoutMs: 500 });
    const e = await rejection(d.read(Buffer.alloc(512), 0));
    expect(e.message).toBe(`${s.url}: read of 512 bytes at 0: no reply within 0.5 s (server unreachable or stalled)`);
    await d.write(Buffer.alloc(512, 3), 1024); // writes are not delayed: a new connection serves it
    await d.close();
  });

  it('a bounded write (a cluster host) fails at its bound and resets the connection; unbounded ones wait', async () => {
    const s = await server({ plugin: ['memory', '10M'], filters: ['delay'], params: ['delay-write=1'] });
    const d = await NbdDevice.open(s.url, { timeoutMs: 5000 });
    await d.write(Buffer.alloc(512, 1), 0); // unbounded: a second is fine
    d.boundWriteLatency(300);
    const first = d.write(Buffer.alloc(512, 2), 0);
    const queued = d.write(Buffer.alloc(512, 3), 0); // waits for the first (same bytes): its bound runs meanwhile
    const e1 = await rejection(first);
    expect(e1.message).toBe(`${s.url}: write of 512 bytes at 0: no reply within its 300 ms bound; the connection was reset so it cannot land later`);
    const e2 = await rejection(queued);
    expect(e2.message).toBe(`${s.url}: write of 512 bytes at 0: not sent: it could not go out within its 300 ms bound`);
    const back = Buffer.alloc(512);
    await d.read(back, 0); // reads are not bounded, and reconnect
    await d.close();
  });

  it('sees an export that grew (refreshSize), as vmfs grow needs', async () => {
    const img = join(tmp.path, 'grow.img');
    writeFileSync(img, '');
    truncateSync(img, MiB);
    const s = await server({ plugin: ['file', img] });
    const d = await NbdDevice.open(s.url);
    expect(d.size).toBe(MiB);
    await d.write(Buffer.alloc(512, 4), MiB - 512);
    truncateSync(img, 3 * MiB);
    expect(await d.refreshSize()).toBe(3 * MiB);
    await d.write(Buffer.alloc(512, 5), 3 * MiB - 512);
    const back = Buffer.alloc(2 * MiB + 512);
    await d.read(back, MiB - 512);
    expect([back[0], back[511], back[512], back.at(-1)]).toEqual([4, 4, 0, 5]);
    await d.close();
  });
});
