// `vmfs` run as a user runs it, from the TypeScript sources (vmCli.mts
// through tsx, no build needed): to completion with fixed input, or in the
// background with its output watched, for the tests where several hosts
// (processes) share one datastore.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ROOT_DIR } from '../helpers.js';

const runner = fileURLToPath(new URL('./vmCli.mts', import.meta.url));

export interface Done {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function vmfs(args: string[], input = ''): Done {
  const r = spawnSync(process.execPath, ['--import', 'tsx', runner, ...args], { input, encoding: 'latin1', timeout: 90_000, cwd: ROOT_DIR });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Background {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches (rejects if the process exits first or after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `vmfs ARGS` with stdin left open (write to child.stdin). */
export function vmfsBackground(args: string[]): Background {
  const child = spawn(process.execPath, ['--import', 'tsx', runner, ...args], { cwd: ROOT_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const watchers: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    for (const w of [...watchers]) w();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('latin1')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(out)) return;
        watchers.splice(watchers.indexOf(check), 1);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => reject(new Error(`no ${pattern} from vmfs ${args.join(' ')} within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs);
      watchers.push(check);
      check();
      void exited.then(() => setTimeout(() => reject(new Error(`vmfs ${args.join(' ')} exited before ${pattern}; stdout: ${out}; stderr: ${err}`)), 100));
    });
  return { child, stdout: () => out, stderr: () => err, waitFor, exited };
}
