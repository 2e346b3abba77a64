// One connection to an NBD server: the newstyle fixed handshake with option
// haggling (NBD_OPT_GO asking for the export's size, flags and block sizes;
// NBD_OPT_EXPORT_NAME when the server does not know GO), then the transmission
// phase with simple replies: requests carry a handle and are pipelined, replies
// come back in any order and are matched by handle. Every integer on the wire
// is big-endian. This module knows the protocol only; timeouts, reconnects,
// ordering and splitting belong to nbdDevice.ts.
import { createConnection, Socket } from 'node:net';
import { DeviceError } from './blockDevice.js';
import { NbdTarget } from './nbdUrl.js';

const NBDMAGIC = 0x4e42444d41474943n; // 'NBDMAGIC'
const IHAVEOPT = 0x49484156454f5054n; // 'IHAVEOPT': newstyle server greeting, and the prefix of every option
const OLDSTYLE_MAGIC = 0x00420281861253n;
const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

// Handshake flags (server) and client flags.
const FLAG_FIXED_NEWSTYLE = 1 << 0;
const FLAG_NO_ZEROES = 1 << 1;

const OPT_EXPORT_NAME = 1;
const OPT_ABORT = 2;
const OPT_GO = 7;
const REP_ACK = 1;
const REP_INFO = 3;
const REP_ERR = 0x80000000;
const REP_ERR_UNSUP = REP_ERR + 1;
const REP_ERRORS: Record<number, string> = {
  [REP_ERR + 1]: 'option not supported',
  [REP_ERR + 2]: 'refused by the server’s policy',
  [REP_ERR + 3]: 'invalid option',
  [REP_ERR + 4]: 'not supported on the server’s platform',
  [REP_ERR + 5]: 'TLS required',
  [REP_ERR + 6]: 'no such export',
  [REP_ERR + 7]: 'the server is shutting down',
  [REP_ERR + 8]: 'block size constraints required',
  [REP_ERR + 9]: 'request too big',
};
const INFO_EXPORT = 0;
/** The largest request the spec says is safe when the server states no maximum. */
export const DEFAULT_MAX_BLOCK = 32 * 2 ** 20;
const INFO_BLOCK_SIZE = 3;

/** Transmission flags the server advertises for the export. */
export const TX = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
} as const;

export enum NbdCommand {
  Read = 0,
  Write = 1,
  Disconnect = 2,
  Flush = 3,
}
export const CMD_FLAG_FUA = 1 << 0;

/** The errno values a server may answer with (NBD's numbering, as Linux's). */
const NBD_ERRNO: Record<number, string> = {
  1: 'EPERM (Operation not permitted)',
  5: 'EIO (Input/output error)',
  12: 'ENOMEM (Cannot allocate memory)',
  22: 'EINVAL (Invalid argument)',
  28: 'ENOSPC (No space left on device)',
  75: 'EOVERFLOW (Value too large)',
  95: 'ENOTSUP (Operation not supported)',
  108: 'ESHUTDOWN (Server shutting down)',
};

export interface ExportInfo {
  size: number;
  flags: number;
  /** Block size constraints (1 and 32 MiB when the server gives none). */
  minBlock: number;
  maxBlock: number;
}

/** The server answered a request with an error. */
export class NbdReplyError extends Error {
  constructor(readonly errno: number) {
    super(NBD_ERRNO[errno] ?? `error ${errno}`);
  }
}

/** The connection closed, failed or was dropped: requests in flight have no answer. */
export class NbdConnectionLost extends Error {}

interface Pending {
  resolve(): void;
  reject(e: Error): void;
  /** Where a read's data goes. */
  into: Uint8Array | null;
}

/** What the socket reads at most at once. */
const READ_BUFFER = 1 << 20;

/**
 * Hands out what the socket delivers by exact lengths. The socket reads into
 * one reused buffer (no allocation per read); a read reply's data goes from
 * there straight into the caller's buffer when it is waited for already,
 * and anything else is copied out and queued.
 */
class ByteQueue {
  private chunks: Buffer[] = [];
  private length = 0;
  private waiter: { into: Uint8Array; filled: number; resolve(): void; reject(e: Error): void } | null = null;
  private failed: Error | null = null;

  /** `chunk` is only valid during this call. */
  push(chunk: Buffer): void {
    let at = 0;
    const w = this.waiter;
    if (w && this.length === 0) {
      at = Math.min(chunk.length, w.into.length - w.filled);
      w.into.set(chunk.subarray(0, at), w.filled);
      w.filled += at;
      if (w.filled === w.into.length) {
        this.waiter = null;
        w.resolve();
      }
    }
    if (at < chunk.length) {
      this.chunks.push(Buffer.from(chunk.subarray(at)));
      this.length += chunk.length - at;
      this.wake();
    }
  }

  fail(e: Error): void {
    this.failed ??= e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.failed);
  }

  /** Exactly `n` bytes, once they have arrived. */
  async take(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    await this.takeInto(out);
    return out;
  }

  /** Fills `into`, once enough bytes have arrived. */
  takeInto(into: Uint8Array): Promise<void> {
    const filled = this.consume(into, 0);
    if (filled === into.length) return Promise.resolve();
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => (this.waiter = { into, filled, resolve, reject }));
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    w.filled = this.consume(w.into, w.filled);
    if (w.filled === w.into.length) {
      this.waiter = null;
      w.resolve();
    }
  }

  /** Moves queued bytes into `into` from `filled` on; returns how far it is filled. */
  private consume(into: Uint8Array, filled: number): number {
    while (filled < into.length && this.chunks.length > 0) {
      const c = this.chunks[0];
      const k = Math.min(c.length, into.length - filled);
      into.set(c.subarray(0, k), filled);
      filled += k;
      this.length -= k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return filled;
  }
}

export class NbdConnection {
  private readonly pending = new Map<number, Pending>();
  private nextHandle = 1;
  private lost: NbdConnectionLost | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly queue: ByteQueue,
    readonly info: ExportInfo,
  ) {}

  /** Connects and negotiates the export; fails with a DeviceError naming `name` (refused, unknown export, timeout). */
  static async connect(target: NbdTarget, name: string, timeoutMs: number): Promise<NbdConnection> {
    const queue = new ByteQueue();
    const onread = { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: (n: number, buf: Uint8Array) => (queue.push(Buffer.from(buf.buffer, buf.byteOffset, n)), true) };
    const socket = target.kind === 'tcp' ? createConnection({ host: target.host, port: target.port, onread }) : createConnection({ path: target.socket, onread });
    socket.setNoDelay(true);
    socket.on('error', (e) => queue.fail(new NbdConnectionLost(describeSocketError(e))));
    socket.on('close', () => queue.fail(new NbdConnectionLost('the server closed the connection')));
    const timer = setTimeout(() => {
      queue.fail(new NbdConnectionLost(`no answer within ${timeoutMs} ms`));
      socket.destroy();
    }, timeoutMs);
    try {
      const info = await handshake(socket, queue, target.exportName);
      clearTimeout(timer);
      const conn = new NbdConnection(socket, queue, info);
      void conn.readReplies();
      return conn;
    } catch (e) {
      clearTimeout(timer);
      socket.destroy();
      const why = e instanceof DeviceError ? e.message : (e as Error).message;
      throw new DeviceError(`${name}: cannot connect: ${why}`);
    }
  }

  get alive(): boolean {
    return this.lost === null;
  }

  /**
   * Sends one request; resolves once its reply arrived (a read's data in
   * `into`, which must be `length` bytes). The request is on the socket when
   * this returns. A failed read may have overwritten part of `into`.
   */
  request(command: NbdCommand, flags: number, offset: number, length: number, payload?: Uint8Array, into?: Uint8Array): Promise<void> {
    if (this.lost) return Promise.reject(this.lost);
    const handle = this.nextHandle++;
    const header = Buffer.allocUnsafe(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(flags, 4);
    header.writeUInt16BE(command, 6);
    header.writeUInt32BE(0, 8); // handle, high half
    header.writeUInt32BE(handle, 12); // handle, low half
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length, 24);
    const done = new Promise<void>((resolve, reject) => this.pending.set(handle, { resolve, reject, into: command === NbdCommand.Read ? (into ?? Buffer.alloc(length)) : null }));
    this.socket.cork();
    this.socket.write(header);
    if (payload) this.socket.write(payload);
    this.socket.uncork();
    return done;
  }

  /** Asks the server to end the session (no reply) and closes the socket. */
  async disconnect(): Promise<void> {
    if (!this.lost) {
      const header = Buffer.alloc(28);
      header.writeUInt32BE(REQUEST_MAGIC, 0);
      header.writeUInt16BE(NbdCommand.Disconnect, 6);
      this.socket.end(header);
      this.fail(new NbdConnectionLost('disconnected'));
    }
    await new Promise<void>((resolve) => (this.socket.closed ? resolve() : this.socket.once('close', () => resolve())));
  }

  /** Drops the connection at once (a reset: nothing queued is sent) and fails every request in flight. */
  drop(reason: string): void {
    if (this.lost) return;
    // A reset discards what the kernel still holds for the server (TCP); a Unix socket just closes.
    if (this.socket.remoteAddress !== undefined && !this.socket.destroyed) this.socket.resetAndDestroy();
    else this.socket.destroy();
    this.fail(new NbdConnectionLost(reason));
  }

  private fail(e: NbdConnectionLost): void {
    if (this.lost) return;
    this.lost = e;
    this.queue.fail(e);
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(e);
  }

  private async readReplies(): Promise<void> {
    try {
      for (;;) {
        const h = await this.queue.take(16);
        if (h.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC) throw new NbdConnectionLost(`bad reply magic 0x${h.readUInt32BE(0).toString(16)}`);
        const error = h.readUInt32BE(4);
        const handle = h.readUInt32BE(12);
        const p = this.pending.get(handle);
        if (!p || h.readUInt32BE(8) !== 0) throw new NbdConnectionLost(`reply to unknown handle ${handle}`);
        // Stays pending until its data is in: a loss meanwhile fails it.
        if (error === 0 && p.into) await this.queue.takeInto(p.into);
        this.pending.delete(handle);
        if (error !== 0) p.reject(new NbdReplyError(error));
        else p.resolve();
      }
    } catch (e) {
      // A protocol violation: the stream can no longer be trusted.
      if (!this.lost) this.drop((e as Error).message);
    }
  }
}

async function handshake(socket: Socket, queue: ByteQueue, exportName: string): Promise<ExportInfo> {
  const greeting = await queue.take(16);
  if (greeting.readBigUInt64BE(0) !== NBDMAGIC) throw new DeviceError('not an NBD server (no NBDMAGIC greeting)');
  const second = greeting.readBigUInt64BE(8);
  if (second === OLDSTYLE_MAGIC) throw new DeviceError('the server speaks the oldstyle protocol, which has no export names (use a newstyle server)');
  if (second !== IHAVEOPT) throw new DeviceError('not a newstyle NBD server');
  const serverFlags = (await queue.take(2)).readUInt16BE(0);
  const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE((serverFlags & FLAG_FIXED_NEWSTYLE) | (noZeroes ? FLAG_NO_ZEROES : 0));
  socket.write(clientFlags);
  if (serverFlags & FLAG_FIXED_NEWSTYLE) {
    const info = await optGo(socket, queue, exportName);
    if (info) return info;
  }
  return optExportName(socket, queue, exportName, noZeroes);
}

function sendOption(socket: Socket, option: number, data: Buffer): void {
  const h = Buffer.allocUnsafe(16);
  h.writeBigUInt64BE(IHAVEOPT, 0);
  h.writeUInt32BE(option, 8);
  h.writeUInt32BE(data.length, 12);
  socket.write(Buffer.concat([h, data]));
}

/** NBD_OPT_GO: the export's info and the start of transmission, or null if the server does not know GO. */
async function optGo(socket: Socket, queue: ByteQueue, exportName: string): Promise<ExportInfo | null> {
  const name = Buffer.from(exportName, 'utf8');
  const data = Buffer.alloc(4 + name.length + 2 + 2);
  data.writeUInt32BE(name.length, 0);
  name.copy(data, 4);
  data.writeUInt16BE(1, 4 + name.length); // one info request:
  data.writeUInt16BE(INFO_BLOCK_SIZE, 6 + name.length); // block sizes (the export's size and flags always come)
  sendOption(socket, OPT_GO, data);
  const info: ExportInfo = { size: -1, flags: 0, minBlock: 1, maxBlock: DEFAULT_MAX_BLOCK };
  for (;;) {
    const r = await queue.take(20);
    if (r.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw new DeviceError('bad option reply from the server');
    const type = r.readUInt32BE(12);
    const body = await queue.take(r.readUInt32BE(16));
    if (type === REP_ACK) {
      if (info.size < 0) throw new DeviceError('the server sent no export size');
      return info;
    }
    if (type === REP_INFO && body.length >= 2) {
      const which = body.readUInt16BE(0);
      if (which === INFO_EXPORT && body.length >= 12) {
        info.size = Number(body.readBigUInt64BE(2));
        info.flags = body.readUInt16BE(10);
      } else if (which === INFO_BLOCK_SIZE && body.length >= 14) {
        info.minBlock = body.readUInt32BE(2); // then the preferred size, which we do not need
        info.maxBlock = body.readUInt32BE(10);
      }
      continue;
    }
    if (type === REP_ERR_UNSUP) return null;
    if (type & REP_ERR) {
      sendOption(socket, OPT_ABORT, Buffer.alloc(0)); // end the session politely
      const text = body.toString('utf8').trim();
      throw new DeviceError(`export "${exportName}": ${REP_ERRORS[type] ?? `error 0x${type.toString(16)}`}${text ? ` (${text})` : ''}`);
    }
    // Any other reply type is informational: skip it.
  }
}

/** NBD_OPT_EXPORT_NAME: the old way in; a server that does not have the export just closes the connection. */
async function optExportName(socket: Socket, queue: ByteQueue, exportName: string, noZeroes: boolean): Promise<ExportInfo> {
  sendOption(socket, OPT_EXPORT_NAME, Buffer.from(exportName, 'utf8'));
  let r: Buffer;
  try {
    r = await queue.take(10 + (noZeroes ? 0 : 124));
  } catch (e) {
    throw new DeviceError(`export "${exportName}": refused by the server (${(e as Error).message})`);
  }
  return { size: Number(r.readBigUInt64BE(0)), flags: r.readUInt16BE(8), minBlock: 1, maxBlock: DEFAULT_MAX_BLOCK };
}

function describeSocketError(e: NodeJS.ErrnoException): string {
  const map: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by the server',
    ENOENT: 'no such socket',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'timed out',
    EPIPE: 'the server closed the connection',
  };
  return (e.code && map[e.code]) || e.message;
}
