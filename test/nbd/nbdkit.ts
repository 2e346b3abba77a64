// Real NBD servers for the tests: nbdkit (Debian's) started in the foreground
// with --exit-with-parent, on a Unix socket or a TCP port, optionally inside a
// network namespace; ready once its pid file exists. stop() kills it (SIGKILL
// by default: a server that dies mid-request), start() brings it back on the
// same address.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface NbdkitOptions {
  /** Plugin and its parameters, e.g. ['memory', '64M'] or ['file', PATH]. */
  plugin: string[];
  /** --filter=NAME for each, outermost first; their parameters go in `params`. */
  filters?: string[];
  params?: string[];
  /** A Unix socket path; otherwise TCP on `port` (a free one by default) of `bind`. */
  socket?: string;
  port?: number;
  bind?: string;
  /** Export read-only (-r). */
  readOnly?: boolean;
  /** Run inside this network namespace (ip netns exec). */
  netns?: string;
  /** Where the pid file goes. */
  dir: string;
}

export interface Nbdkit {
  /** nbd://... or nbd+unix://... for the default export. */
  url: string;
  port: number;
  pid(): number;
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

let serial = 0;

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startNbdkit(options: NbdkitOptions): Promise<Nbdkit> {
  const port = options.socket ? 0 : (options.port ?? (await freePort()));
  const pidFile = join(options.dir, `nbdkit-${process.pid}-${serial++}.pid`);
  const address = options.socket ? ['-U', options.socket] : ['-p', String(port), ...(options.bind ? ['-i', options.bind] : [])];
  const args = ['-f', '--exit-with-parent', '-P', pidFile, ...address, ...(options.readOnly ? ['-r'] : []), ...(options.filters ?? []).map((f) => `--filter=${f}`), ...options.plugin, ...(options.params ?? [])];
  const host = options.bind ?? '127.0.0.1';
  const url = options.socket ? `nbd+unix:///?socket=${options.socket}` : `nbd://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const server: Nbdkit = {
    url,
    port,
    pid: () => child?.pid ?? -1,
    async start() {
      rmSync(pidFile, { force: true });
      if (options.socket) rmSync(options.socket, { force: true }); // left by a killed server
      const [cmd, argv] = options.netns ? ['ip', ['netns', 'exec', options.netns, 'nbdkit', ...args]] : ['nbdkit', args];
      const c = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      let stderr = '';
      c.stderr!.on('data', (d) => (stderr += d));
      exited = new Promise((r) => c.once('exit', () => r()));
      const end = Date.now() + 10_000;
      while (!existsSync(pidFile)) {
        if (c.exitCode !== null || c.signalCode !== null || Date.now() > end) throw new Error(`nbdkit ${args.join(' ')} did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop(signal = 'SIGKILL') {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
      child = null;
    },
  };
  await server.start();
  return server;
}
