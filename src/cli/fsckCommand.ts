// vmfs fsck: thin over src/fsck. Exit codes as e2fsck's (0, 1, 2, 4, 8, 16).
import { Command } from 'commander';
import { FSCK_USAGE, FsckMode, fsck } from '../fsck/fsck.js';
import { addDatastoreOption, extentList } from './datastoreOption.js';
import { progressBar } from './progress.js';

const PASS_NAMES = ['extents and LVM', 'inodes and blocks', 'directories', '', 'link counts', 'bitmaps', 'cluster state (watching heartbeats)'];

export class FsckUsageError extends Error {
  readonly exitCode = FSCK_USAGE;
}

export function registerFsckCommand(program: Command): void {
  addDatastoreOption(program.command('fsck').description('check a datastore, and repair it with -y or -p (exit codes as e2fsck)'))
    .option('-n, --no-changes', 'check only, write nothing (the default)')
    .option('-y, --yes', 'repair everything that can be repaired')
    .option('-p, --preen', 'repair only what is safe without a human')
    .option('-f, --force', 'repair even while another host is using the datastore (dangerous)')
    .option('--recreate-extent <paths>', 'with -y: recreate each missing extent empty in a new file (comma-separated, in segment order); what it held is lost')
    .option('--json', 'every finding, with its location, as JSON')
    .option('-v, --verbose', 'print each pass and the statistics')
    .addHelpText('after', '\nExit codes: 0 clean, 1 errors corrected, 2 corrected (remount), 4 errors left uncorrected, 8 operational error, 16 usage error.')
    .action(async (opts) => {
      const chosen = [opts.yes && 'yes', opts.preen && 'preen', opts.changes === false && 'check'].filter(Boolean) as FsckMode[];
      if (chosen.length > 1) throw new FsckUsageError('fsck: -n, -y and -p exclude each other');
      const mode: FsckMode = chosen[0] ?? 'check';
      const recreate = opts.recreateExtent === undefined ? [] : String(opts.recreateExtent).split(',').filter(Boolean);
      if (opts.recreateExtent !== undefined && (mode !== 'yes' || recreate.length === 0)) throw new FsckUsageError('fsck: --recreate-extent needs -y and at least one path');
      const bar = opts.json ? undefined : progressBar('Pass 1: inodes and blocks');
      const result = await fsck(extentList(opts.datastore), {
        mode,
        force: !!opts.force,
        recreate,
        progress: bar ? (pass, done, total) => bar.update(done, total, `Pass ${pass}: ${PASS_NAMES[pass]}`) : undefined,
      });
      bar?.done();
      if (opts.json) {
        process.stdout.write(JSON.stringify({ exitCode: result.exitCode, mode, files: result.files, directories: result.directories, notes: result.notes, findings: result.findings }, null, 2) + '\n');
      } else {
        for (const n of result.notes) process.stdout.write(`Note: ${n}\n`);
        for (const f of result.findings) {
          process.stdout.write(`Pass ${f.pass}: ${f.where ? `${f.where}: ` : ''}${f.message}${f.fixed ? '  FIXED' : mode === 'check' ? '' : '  NOT FIXED'}\n`);
        }
        if (opts.verbose || result.findings.length === 0 || mode !== 'check') {
          const problems = result.findings.length;
          const fixed = result.findings.filter((f) => f.fixed).length;
          process.stdout.write(
            `${extentList(opts.datastore)[0]}: ${result.files} files, ${result.directories} directories; ${problems} problem${problems === 1 ? '' : 's'}` +
              (mode === 'check' ? '' : `, ${fixed} fixed`) +
              '\n',
          );
        }
        if (result.exitCode === 8 && result.findings.some((f) => f.code === 'host-live')) process.stdout.write('Nothing was changed.\n');
        if (result.exitCode === 4 && mode === 'preen') process.stdout.write('UNEXPECTED INCONSISTENCY; run vmfs fsck -y (or -n to see it) by hand.\n');
      }
      process.exitCode = result.exitCode;
    });
}
