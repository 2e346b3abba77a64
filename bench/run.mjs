#!/usr/bin/env node
// Benchmark runner: runs every bench/*.bench.mjs (or those named on the
// command line), prints one table, and rewrites docs/BENCHMARKS.md.
//
// A bench module exports `title` (string) and `run(ctx)`, an async function
// that returns rows: { name, value, unit, baseline?, baselineName?, target? }.
// `ratio` is value / baseline (for rates; for times the module inverts it so
// that higher is always better). Every baseline is measured in the same run.
import { readdirSync, writeFileSync, readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir, cpus, totalmem } from 'node:os';


const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

const sections = [];
for (const file of files) {
  const mod = await import(join(here, file));
  const workdir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'vmfs-bench-'));
  process.stdout.write(`\n== ${mod.title} (${file})\n`);
  let rows;
  try {
    rows = await mod.run({ workdir, root, log: (s) => process.stdout.write(`   ${s}\n`) });
  } finally {
    rmSync(workdir, { recursive: true, force: true });
  }
  for (const r of rows) {
    const ratio = r.baseline ? r.value / r.baseline : undefined;
    r.ratio = ratio;
    process.stdout.write(
      `   ${r.name.padEnd(52)} ${fmt(r.value).padStart(10)} ${r.unit.padEnd(8)}` +
        (ratio !== undefined ? ` ${(ratio * 100).toFixed(0).padStart(5)}% of ${r.baselineName}` : '') +
        (r.target ? `  (target ${r.target})` : '') +
        '\n',
    );
  }
  sections.push({ file, title: mod.title, rows, notes: mod.notes });
}

function fmt(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// Merge into docs/BENCHMARKS.md: each bench file owns one section, so running
// a subset keeps the other sections' last figures.
const docPath = join(root, 'docs', 'BENCHMARKS.md');
const old = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
const kept = new Map();
for (const m of old.matchAll(/<!-- bench:(\S+) -->\n([\s\S]*?)<!-- \/bench -->/g)) kept.set(m[1], m[2]);
let machine = '';
try {
  machine = `${cpus()[0].model}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
} catch {}
const date = new Date().toISOString().slice(0, 10);
for (const s of sections) {
  let body = `## ${s.title}\n\nMeasured ${date} with \`npm run bench -- ${s.file.replace('.bench.mjs', '')}\` on ${machine}.\n\n`;
  body += '| benchmark | value | unit | baseline (same run) | ratio | target |\n|---|---:|---|---|---:|---|\n';
  for (const r of s.rows) {
    body += `| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.baselineName ? `${r.baselineName}: ${fmt(r.baseline)}` : ''} | ${
      r.ratio !== undefined ? `${(r.ratio * 100).toFixed(0)}%` : ''
    } | ${r.target ?? ''} |\n`;
  }
  if (s.notes) body += `\n${s.notes.trim()}\n`; // a bench's own reading of its figures (its \`notes\` export)
  kept.set(s.file, `${body}\n`);
}
let doc = '# Benchmarks\n\n`npm run bench` runs every benchmark; `npm run bench -- NAME` runs one file of `bench/`. Every ratio is against a baseline measured in the same run on the same machine. Speed is never asserted in tests.\n\n';
for (const [file, body] of [...kept.entries()].sort()) doc += `<!-- bench:${file} -->\n${body}<!-- /bench -->\n\n`;
writeFileSync(docPath, doc);
process.stdout.write(`\nwrote ${docPath}\n`);

