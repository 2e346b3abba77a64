// Extents on an NBD export (nbdkit, qemu-nbd, nbd-server): the BlockDevice
// interface over one pipelined NBD connection (nbdProtocol.ts).
//
// What a local file gives for free is kept: requests on overlapping bytes run
// in the order they were issued (a server may run pipelined requests in any
// order), a request with no conflict goes on the wire in the same tick (the
// cluster's write guard relies on it), and nothing is silently lost:
//  - a request not answered within the I/O timeout fails with a DeviceError
//    naming the URL, and the connection is dropped (reset);
//  - a cluster host bounds its writes (boundWriteLatency): a write not
//    acknowledged within the bound of its call fails and its connection is
//    reset, so the kernel drops what it still queues and the write cannot
//    land after the host's lease (a link that comes back would deliver it);
//  - a lost connection is re-established on the next request (a bounded
//    number of tries within one I/O timeout); a read that was in flight is
//    retried once on the new connection, a write or flush that was in flight
//    fails: whether it reached the disk is unknown, and replaying it could
//    land it after later writes.
import { BlockDevice, DeviceError } from './blockDevice.js';
import { CMD_FLAG_FUA, DEFAULT_MAX_BLOCK, NbdCommand, NbdConnection, NbdConnectionLost, NbdReplyError, TX } from './nbdProtocol.js';
import { NbdTarget, parseNbdUrl } from './nbdUrl.js';

export interface NbdDeviceOptions {
  readOnly?: boolean;
  /** Longest wait for a reply, or for a (re)connection; VMFS_NBD_TIMEOUT_MS or 30 s by default. */
  timeoutMs?: number;
}

/** Connection attempts after a loss, and the pause before each. */
const RECONNECT_DELAYS_MS = [0, 100, 300, 1000];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface InFlight {
  start: number;
  end: number;
  write: boolean;
  done: Promise<unknown>;
}

class RequestTimeout extends Error {}

export class NbdDevice implements BlockDevice {
  size: number;
  private conn: NbdConnection;
  private connecting: Promise<NbdConnection> | null = null;
  private readonly inFlight = new Set<InFlight>();
  private closed = false;
  private writeBoundMs: number | null = null;

  private constructor(
    readonly name: string,
    private readonly target: NbdTarget,
    conn: NbdConnection,
    readonly readOnly: boolean,
    private readonly timeoutMs: number,
  ) {
    this.conn = conn;
    this.size = conn.info.size;
  }

  static async open(name: string, options: NbdDeviceOptions = {}): Promise<NbdDevice> {
    const target = parseNbdUrl(name);
    const timeoutMs = options.timeoutMs ?? (Number(process.env.VMFS_NBD_TIMEOUT_MS) || 30_000);
    const conn = await NbdConnection.connect(target, name, timeoutMs);
    const device = new NbdDevice(name, target, conn, !!options.readOnly, timeoutMs);
    try {
      device.checkExport(conn);
    } catch (e) {
      await conn.disconnect();
      throw e;
    }
    return device;
  }

  /** What the server offers for the export (size, flags, block sizes) on the current connection. */
  get info() {
    return this.conn.info;
  }

  read(buf: Uint8Array, offset: number): Promise<void> {
    return this.transfer('read', buf, offset);
  }

  write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) return Promise.reject(new DeviceError(`${this.name}: opened read-only`));
    return this.transfer('write', buf, offset);
  }

  /** Waits for the writes in flight, then asks the server to make every completed write durable. */
  flush(): Promise<void> {
    if (this.readOnly || !(this.conn.info.flags & TX.SEND_FLUSH)) return this.ordered(0, Infinity, false, async () => {});
    return this.ordered(0, Infinity, false, () => this.exec(NbdCommand.Flush, 0, 0, 0, 'flush'));
  }

  boundWriteLatency(ms: number): void {
    this.writeBoundMs = ms;
  }

  /** Asks the server again (a fresh connection, which then serves the requests that follow). */
  async refreshSize(): Promise<number> {
    const fresh = await NbdConnection.connect(this.target, this.name, this.timeoutMs);
    await this.ordered(0, Infinity, true, async () => {
      const old = this.conn;
      this.conn = fresh;
      this.size = fresh.info.size;
      await old.disconnect();
    });
    return this.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight].map((r) => r.done));
    await this.conn.disconnect();
  }

  private checkExport(conn: NbdConnection): void {
    if (!this.readOnly && conn.info.flags & TX.READ_ONLY) throw new DeviceError(`${this.name}: the server exports it read-only`);
    if (conn.info.size < this.size) throw new DeviceError(`${this.name}: the export shrank from ${this.size} to ${conn.info.size} bytes`);
    this.size = conn.info.size;
  }

  private transfer(kind: 'read' | 'write', buf: Uint8Array, offset: number): Promise<void> {
    if (this.closed) return Promise.reject(new DeviceError(`${this.name}: closed`));
    if (offset < 0 || offset + buf.length > this.size) {
      return Promise.reject(new DeviceError(`${this.name}: ${kind} of ${buf.length} bytes at ${offset} is past the end (${this.size} bytes)`));
    }
    // A bounded write counts from this call: waiting its turn uses up the bound too.
    const deadline = kind === 'write' && this.writeBoundMs !== null ? performance.now() + this.writeBoundMs : null;
    const { minBlock, maxBlock } = this.conn.info;
    if (minBlock > 1 && (offset % minBlock !== 0 || buf.length % minBlock !== 0)) {
      return Promise.reject(new DeviceError(`${this.name}: ${kind} of ${buf.length} bytes at ${offset} is not aligned to the export's ${minBlock}-byte blocks`));
    }
    const chunk = Math.max(minBlock, Math.min(maxBlock, DEFAULT_MAX_BLOCK) - (Math.min(maxBlock, DEFAULT_MAX_BLOCK) % minBlock));
    if (buf.length === 0) return Promise.resolve();
    const parts: Promise<void>[] = [];
    for (let at = 0; at < buf.length; at += chunk) {
      const piece = buf.subarray(at, Math.min(buf.length, at + chunk));
      const start = offset + at;
      if (kind === 'read') parts.push(this.ordered(start, start + piece.length, false, () => this.exec(NbdCommand.Read, 0, start, piece.length, 'read', undefined, piece)));
      else {
        // A server that cannot flush can still be asked to make each write durable.
        const fua = this.conn.info.flags & TX.SEND_FUA && !(this.conn.info.flags & TX.SEND_FLUSH) ? CMD_FLAG_FUA : 0;
        parts.push(this.ordered(start, start + piece.length, true, () => this.exec(NbdCommand.Write, fua, start, piece.length, 'write', piece, undefined, deadline)));
      }
    }
    return parts.length === 1 ? parts[0] : Promise.all(parts).then(() => undefined);
  }

  /**
   * Runs `op` once every earlier request it conflicts with (overlapping, one
   * of them a write) has finished; at once, in this tick, when there is none.
   */
  private ordered(start: number, end: number, write: boolean, op: () => Promise<void>): Promise<void> {
    const before: Promise<unknown>[] = [];
    for (const r of this.inFlight) if (r.start < end && start < r.end && (write || r.write)) before.push(r.done);
    const done = before.length === 0 ? op() : Promise.allSettled(before).then(op);
    const entry: InFlight = { start, end, write, done };
    this.inFlight.add(entry);
    const settle = () => void this.inFlight.delete(entry);
    done.then(settle, settle);
    return done;
  }

  /** One request, with its timeout; `deadline` (performance.now() time) bounds a write from its call to its reply. */
  private async exec(command: NbdCommand, flags: number, offset: number, length: number, what: string, payload?: Uint8Array, into?: Uint8Array, deadline: number | null = null): Promise<void> {
    const describe = command === NbdCommand.Flush ? 'flush' : `${what} of ${length} bytes at ${offset}`;
    for (let attempt = 0; ; attempt++) {
      const conn = this.conn.alive ? this.conn : await this.reconnect();
      const left = deadline === null ? this.timeoutMs : Math.min(this.timeoutMs, deadline - performance.now());
      if (left <= 0) throw new DeviceError(`${this.name}: ${describe}: not sent: it could not go out within its ${this.writeBoundMs} ms bound`);
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      try {
        const reply = conn.request(command, flags, offset, length, payload, into);
        // Timers run before the event loop polls its sockets: after a stall of the
        // loop, a reply that has arrived is taken in before the timeout counts.
        const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => (immediate = setImmediate(() => reject(new RequestTimeout()))), left)));
        await Promise.race([reply, timeout]);
        return;
      } catch (e) {
        if (e instanceof RequestTimeout) {
          conn.drop(`a request got no reply within ${Math.round(left)} ms`);
          if (left < this.timeoutMs) throw new DeviceError(`${this.name}: ${describe}: no reply within its ${this.writeBoundMs} ms bound; the connection was reset so it cannot land later`);
          throw new DeviceError(`${this.name}: ${describe}: no reply within ${this.timeoutMs / 1000} s (server unreachable or stalled)`);
        }
        if (e instanceof NbdReplyError) throw new DeviceError(`${this.name}: ${describe}: the server answered ${e.message}`);
        if (e instanceof NbdConnectionLost) {
          if (command === NbdCommand.Read && attempt === 0) continue;
          const outcome = command === NbdCommand.Read ? 'lost again after reconnecting' : 'it may or may not have reached the disk';
          throw new DeviceError(`${this.name}: ${describe}: connection lost (${e.message}); ${outcome}`);
        }
        throw e;
      } finally {
        clearTimeout(timer);
        clearImmediate(immediate);
      }
    }
  }

  /** A new connection after a loss: a few tries, all within one I/O timeout. Concurrent callers share it. */
  private reconnect(): Promise<NbdConnection> {
    if (this.closed) return Promise.reject(new DeviceError(`${this.name}: closed`));
    this.connecting ??= (async () => {
      const deadline = Date.now() + this.timeoutMs;
      let last: Error = new DeviceError(`${this.name}: cannot connect`);
      let tries = 0;
      for (const delay of RECONNECT_DELAYS_MS) {
        await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
        const left = deadline - Date.now();
        if (left <= 0 && tries > 0) break;
        tries++;
        let conn: NbdConnection | null = null;
        try {
          conn = await NbdConnection.connect(this.target, this.name, Math.max(left, 1));
          this.checkExport(conn);
          this.conn = conn;
          return conn;
        } catch (e) {
          await conn?.disconnect();
          last = e as Error;
        }
      }
      throw new DeviceError(`${last.message} (lost the connection; ${tries} reconnect attempt${tries === 1 ? '' : 's'} failed)`);
    })().finally(() => (this.connecting = null));
    return this.connecting;
  }
}
