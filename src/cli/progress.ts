// A one-line progress bar on stderr, drawn only when stderr is a terminal
// (nothing on a pipe), at most ten times a second.
export interface ProgressBar {
  update(done: number, total: number, label?: string): void;
  done(): void;
}

export function progressBar(label: string, format: (n: number) => string = String): ProgressBar | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  let shown = false;
  let current = label;
  const draw = (done: number, total: number) => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    process.stderr.write(`\r${current} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${format(done)} / ${format(total)}  `);
    shown = true;
  };
  return {
    update(done, total, newLabel) {
      const now = Date.now();
      if (newLabel && newLabel !== current) {
        if (shown) process.stderr.write('\n');
        current = newLabel;
        last = 0;
      }
      if (now - last >= 100 || done >= total) {
        last = now;
        draw(done, total);
      }
    },
    done() {
      if (shown) process.stderr.write('\n');
    },
  };
}
