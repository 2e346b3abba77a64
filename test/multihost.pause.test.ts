// A host paused (SIGSTOP) past its lease while it holds a file open for
// writing: another host takes the file over and writes it; when the paused
// host resumes, it writes nothing more and reports the loss.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeVolume } from './cluster/clusterHelpers.js';
import { expectTakenOver } from './multihost/takenOver.js';
import { ROOT_DIR, tempDir } from './helpers.js';

const tmp = tempDir('vmfs-pause-');
afterAll(() => tmp.cleanup());

function host(path: string, uuid: string, role: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT_DIR, 'test', 'multihost', 'pauser.ts'), path, uuid, role], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout }).on('line', (l) => events.push(JSON.parse(l)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const until = async (name: string, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!events.some((e) => e.event === name)) {
      if (Date.now() > end) throw new Error(`no ${name} from ${role}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return events.find((e) => e.event === name)!;
  };
  return { child, events, exited, until };
}

describe('a paused host', () => {
  it('writes nothing after another host took its file over', async () => {
    const path = await makeVolume(tmp.path); // lease 1.5 s
    const a = host(path, '6b0000aa-00000001-0001-0000000000aa', 'holder');
    await a.until('locked');
    await a.until('stamped');
    a.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 200)); // what it wrote before the stop has reached us
    const stampsBefore = a.events.filter((e) => e.event === 'stamped').length;
    const b = host(path, '6b0000bb-00000002-0002-0000000000bb', 'taker');
    await b.until('written');
    expect(await b.exited).toBe(0);
    a.child.kill('SIGCONT');
    const failed = await a.until('write-failed');
    expect(String(failed.message)).toMatch(/lost the datastore lease/);
    expect(await a.exited).toBe(3);
    // Not one stamp after the pause: the file holds what the taker wrote.
    expect(a.events.filter((e) => e.event === 'stamped').length).toBe(stampsBefore);
    await expectTakenOver(path);
  });
});
