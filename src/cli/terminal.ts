// The guest console on this process's terminal: input from stdin a byte at a
// time, output to stdout by lines, and a prompt shown before the machine
// waits for the user to type.
import { type ConsoleInput, StreamInput } from '../mips/console.js';

export interface Terminal {
  input: ConsoleInput;
  output: (byte: number) => void;
  /** Messages from the machine: after the console output so far, on stderr. */
  message: (text: string) => void;
  flush(): void;
  close(): void;
}

export function terminal(): Terminal {
  const stdin = new StreamInput(process.stdin);
  const out: number[] = [];
  const flush = (): void => {
    if (out.length > 0) process.stdout.write(Uint8Array.from(out.splice(0)));
  };
  return {
    input: { ready: () => stdin.ready(), take: () => stdin.take(), wait: () => (flush(), stdin.wait()) },
    output: (b) => {
      out.push(b);
      if (b === 10 || out.length >= 4096) flush();
    },
    message: (text) => {
      flush();
      process.stderr.write(`vmfs: ${text}\n`);
    },
    flush,
    close: () => {
      flush();
      stdin.close();
    },
  };
}
