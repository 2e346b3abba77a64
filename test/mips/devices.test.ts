// The interrupt controller and the devices on their own, against Nachos's
// timing: event order, SystemTick on re-enable, idling, console latency,
// disk seek/rotation/track-buffer latency, the timer.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BufferInput, Console, EOF, StreamInput } from '../../src/mips/console.js';
import { Disk, MemorySectorStore, type SectorStore } from '../../src/mips/disk.js';
import { Interrupt, IntType, MachineStatus } from '../../src/mips/interrupt.js';
import { ConsoleTime, RotationTime, SeekTime, Stats, SystemTick } from '../../src/mips/stats.js';
import { Timer } from '../../src/mips/timer.js';

function clock(): { stats: Stats; interrupt: Interrupt } {
  const stats = new Stats();
  return { stats, interrupt: new Interrupt(stats) };
}

/** Advances the clock to `when` the way the machine does (user ticks, then due interrupts). */
function runTo(c: { stats: Stats; interrupt: Interrupt }, when: number): void {
  while (c.interrupt.nextTime() <= when) {
    c.interrupt.advanceUser(c.interrupt.nextTime() - c.stats.totalTicks);
    c.interrupt.serviceDue();
  }
  c.interrupt.advanceUser(when - c.stats.totalTicks);
}

describe('interrupts', () => {
  it('fire in time order, ties in the order scheduled, each with interrupts off in system mode', () => {
    const c = clock();
    const fired: string[] = [];
    for (const t of [IntType.Timer, IntType.Disk, IntType.ConsoleWrite, IntType.ConsoleRead]) {
      c.interrupt.setHandler(t, (arg) => {
        expect(c.interrupt.enabled).toBe(false);
        expect(c.interrupt.status).toBe(MachineStatus.System);
        fired.push(`${t}:${arg}@${c.stats.totalTicks}`);
      });
    }
    c.interrupt.enabled = true;
    c.interrupt.status = MachineStatus.User;
    c.interrupt.schedule(IntType.Disk, 50, 1);
    c.interrupt.schedule(IntType.Timer, 20, 2);
    c.interrupt.schedule(IntType.ConsoleWrite, 50, 3);
    c.interrupt.schedule(IntType.ConsoleRead, 20, 4);
    c.interrupt.schedule(IntType.Timer, 50, 5);
    c.interrupt.advanceUser(49);
    expect(c.interrupt.serviceDue()).toBe(2);
    c.interrupt.advanceUser(1);
    expect(c.interrupt.serviceDue()).toBe(3);
    expect(fired).toEqual(['0:2@49', '3:4@49', '1:1@50', '2:3@50', '0:5@50']);
    expect(c.interrupt.enabled).toBe(true);
    expect(c.interrupt.status).toBe(MachineStatus.User);
  });

  it('re-enabling interrupts costs a SystemTick and services what is then due', () => {
    const c = clock();
    let fired = 0;
    c.interrupt.setHandler(IntType.Disk, () => fired++);
    c.interrupt.schedule(IntType.Disk, 5);
    expect(c.interrupt.setLevel(false)).toBe(false);
    expect(c.stats.totalTicks).toBe(0);
    expect(c.interrupt.setLevel(true)).toBe(false);
    expect(c.stats.totalTicks).toBe(SystemTick);
    expect(c.stats.systemTicks).toBe(SystemTick);
    expect(fired).toBe(1);
    expect(c.interrupt.setLevel(true)).toBe(true); // already on: no tick
    expect(c.stats.totalTicks).toBe(SystemTick);
  });

  it('idle jumps to the next interrupt and counts idle time; with only the timer left it stops', () => {
    const c = clock();
    const fired: number[] = [];
    c.interrupt.setHandler(IntType.Disk, () => fired.push(c.stats.totalTicks));
    c.interrupt.setHandler(IntType.Timer, () => fired.push(-c.stats.totalTicks));
    c.interrupt.schedule(IntType.Timer, 300);
    c.interrupt.schedule(IntType.Disk, 1234);
    expect(c.interrupt.idle()).toBe(true);
    expect(fired).toEqual([-300]);
    expect(c.interrupt.idle()).toBe(true);
    expect(fired).toEqual([-300, 1234]);
    expect(c.stats.idleTicks).toBe(1234);
    c.interrupt.schedule(IntType.Timer, 100);
    expect(c.interrupt.idle()).toBe(false);
    expect(c.stats.totalTicks).toBe(1234);
  });

  it('a switch asked for while idle is dropped: whatever woke up runs anyway', () => {
    const c = clock();
    c.interrupt.setHandler(IntType.Timer, () => (c.interrupt.yieldOnReturn = true));
    c.interrupt.setHandler(IntType.Disk, () => {});
    c.interrupt.schedule(IntType.Timer, 10);
    c.interrupt.schedule(IntType.Disk, 20);
    c.interrupt.advanceUser(10);
    c.interrupt.serviceDue();
    expect(c.interrupt.yieldOnReturn).toBe(true);
    c.interrupt.yieldOnReturn = false;
    c.interrupt.schedule(IntType.Timer, 5);
    expect(c.interrupt.idle()).toBe(true);
    expect(c.interrupt.yieldOnReturn).toBe(false);
  });

  it('saves and restores the pending queue as plain data', () => {
    const c = clock();
    const order: number[] = [];
    c.interrupt.schedule(IntType.Disk, 30, 1);
    c.interrupt.schedule(IntType.Disk, 10, 2);
    c.interrupt.schedule(IntType.Disk, 30, 3);
    const saved = structuredClone(c.interrupt.save());
    const d = clock();
    d.interrupt.setHandler(IntType.Disk, (a) => order.push(a));
    d.interrupt.restore(saved);
    d.interrupt.schedule(IntType.Disk, 30, 4);
    runTo(d, 100);
    expect(order).toEqual([2, 1, 3, 4]);
  });

  it('refuses to schedule into the past or the present', () => {
    const c = clock();
    expect(() => c.interrupt.schedule(IntType.Disk, 0)).toThrow(/0 ticks from now/);
  });
});

describe('console', () => {
  it('writes a character at once and reports it done ConsoleTime ticks later', () => {
    const c = clock();
    const out: number[] = [];
    const con = new Console(c.interrupt, c.stats, null, (b) => out.push(b));
    const done: number[] = [];
    con.onWriteDone = () => done.push(c.stats.totalTicks);
    c.interrupt.advanceUser(7);
    con.putChar(0x41);
    expect(out).toEqual([0x41]);
    expect(con.busy).toBe(true);
    expect(() => con.putChar(0x42)).toThrow(/still being written/);
    runTo(c, 1000);
    expect(done).toEqual([7 + ConsoleTime]);
    expect(c.stats.numConsoleCharsWritten).toBe(1);
    expect(con.busy).toBe(false);
  });

  it('delivers input a character per poll while armed, then end of input', () => {
    const c = clock();
    const con = new Console(c.interrupt, c.stats, new BufferInput('hi'), () => {});
    const got: [number | null, number][] = [];
    con.onCharAvailable = () => {
      const ch = con.getChar();
      got.push([ch, c.stats.totalTicks]);
      if (ch === EOF) con.disarmRead();
    };
    con.armRead();
    runTo(c, 10 * ConsoleTime);
    expect(got).toEqual([
      [0x68, ConsoleTime],
      [0x69, 2 * ConsoleTime],
      [EOF, 3 * ConsoleTime],
    ]);
    expect(c.stats.numConsoleCharsRead).toBe(2);
  });

  it('does not read input nobody asked for', () => {
    const c = clock();
    const con = new Console(c.interrupt, c.stats, new BufferInput('x'), () => {});
    con.onCharAvailable = () => con.disarmRead();
    runTo(c, 10 * ConsoleTime);
    expect(c.stats.numConsoleCharsRead).toBe(0);
    expect(c.interrupt.pendingCount()).toBe(0);
  });

  it('from a stream, makes the machine wait for the host rather than let time pass', async () => {
    const c = clock();
    const stream = new PassThrough();
    const input = new StreamInput(stream);
    const con = new Console(c.interrupt, c.stats, input, () => {});
    const got: (number | null)[] = [];
    con.onCharAvailable = () => {
      const ch = con.getChar();
      got.push(ch);
      if (ch === EOF) con.disarmRead();
    };
    expect(con.hostWait()).toBeNull(); // not armed: nothing to wait for
    con.armRead();
    const wait = con.hostWait();
    expect(wait).not.toBeNull();
    stream.write('z');
    await wait;
    expect(con.hostWait()).toBeNull();
    runTo(c, ConsoleTime);
    expect(got).toEqual([0x7a]);
    stream.end();
    await con.hostWait();
    runTo(c, 2 * ConsoleTime);
    expect(got).toEqual([0x7a, EOF]);
    input.close();
  });
});

describe('disk', () => {
  function disk(store: SectorStore = new MemorySectorStore(32 * 32)) {
    const c = clock();
    const d = new Disk(c.interrupt, c.stats, store);
    const done: number[] = [];
    d.onDone = () => done.push(c.stats.totalTicks);
    return { ...c, d, done, store };
  }

  it('a read of the sector under the head takes one sector transfer time', () => {
    const t = disk();
    expect(t.d.computeLatency(0, false)).toBe(RotationTime);
  });

  it('a read further round the same track waits for the rotation', () => {
    const t = disk();
    expect(t.d.computeLatency(5, false)).toBe(5 * RotationTime + RotationTime);
  });

  it('a read on the next track seeks, then waits for the sector to come round', () => {
    const t = disk();
    // Seek 500 ends on a sector boundary, where sector 1 of the track is under the head;
    // sector 32 (offset 0) is 31 sectors away.
    expect(t.d.computeLatency(32, false)).toBe(SeekTime + 31 * RotationTime + RotationTime);
    // From tick 123 the seek ends mid-sector: round up to the boundary first.
    t.interrupt.advanceUser(123);
    const over = (123 + SeekTime) % RotationTime;
    const after = 123 + SeekTime + (RotationTime - over);
    const diff = (0 - Math.floor(after / RotationTime) % 32 + 32) % 32;
    expect(t.d.computeLatency(32, false)).toBe(SeekTime + (RotationTime - over) + diff * RotationTime + RotationTime);
  });

  it('the done interrupt comes exactly that many ticks after the request, with the data', () => {
    const t = disk();
    const store = t.store as MemorySectorStore;
    store.bytes.fill(0xab, 70 * 128, 71 * 128);
    t.interrupt.advanceUser(1000);
    const latency = t.d.computeLatency(70, false);
    expect(latency).toBe(2 * SeekTime + ((70 % 32) - (Math.floor((1000 + 2 * SeekTime) / RotationTime) % 32) + 32) % 32 * RotationTime + RotationTime);
    t.d.readRequest(70);
    expect(t.d.busy).toBe(true);
    expect(() => t.d.readRequest(1)).toThrow(/one request at a time/);
    runTo(t, 100_000);
    expect(t.done).toEqual([1000 + latency]);
    expect(t.d.buffer).toEqual(new Uint8Array(128).fill(0xab));
    expect(t.stats.numDiskReads).toBe(1);
  });

  it('reads on the track just reached come from the track buffer; writes never do', () => {
    const t = disk();
    t.d.readRequest(40); // seek to track 1: the track buffer starts filling
    runTo(t, 100_000);
    const later = t.stats.totalTicks;
    // Long enough for the whole track to have passed under the head.
    t.interrupt.advanceUser(40 * RotationTime);
    expect(t.stats.totalTicks).toBe(later + 40 * RotationTime);
    expect(t.d.computeLatency(33, false)).toBe(RotationTime);
    expect(t.d.computeLatency(33, true)).toBeGreaterThan(RotationTime);
  });

  it('writes reach the store, and a bad sector number is refused', () => {
    const t = disk();
    t.d.writeRequest(3, new Uint8Array(128).fill(7));
    runTo(t, 100_000);
    expect((t.store as MemorySectorStore).bytes.subarray(3 * 128, 4 * 128)).toEqual(new Uint8Array(128).fill(7));
    expect(t.stats.numDiskWrites).toBe(1);
    expect(() => t.d.readRequest(32 * 32)).toThrow('disk: sector 1024 is outside the disk (0..1023)');
    expect(() => t.d.writeRequest(1, new Uint8Array(5))).toThrow(/one 128-byte sector/);
  });

  it('an asynchronous store: the machine must await hostWait before time goes on', async () => {
    let release!: () => void;
    const store: SectorStore = {
      sectorSize: 512,
      numSectors: 64,
      readSector: (n, buf) =>
        new Promise<void>((resolve) => {
          release = () => {
            buf.fill(n);
            resolve();
          };
        }),
      writeSector: () => Promise.reject(new Error('read-only store')),
    };
    const t = disk(store);
    t.d.readRequest(9);
    const wait = t.d.hostWait();
    expect(wait).not.toBeNull();
    release();
    await wait;
    expect(t.d.hostWait()).toBeNull();
    runTo(t, 100_000);
    expect(t.d.buffer[0]).toBe(9);
    expect(t.d.error).toBeNull();
    t.d.writeRequest(1, new Uint8Array(512));
    await t.d.hostWait();
    expect(t.d.error).toBe('read-only store');
  });
});

describe('timer', () => {
  it('periodic: every TimerTicks', () => {
    const c = clock();
    const timer = new Timer(c.interrupt, 'periodic');
    const at: number[] = [];
    timer.onTick = () => at.push(c.stats.totalTicks);
    timer.start();
    runTo(c, 450);
    expect(at).toEqual([100, 200, 300, 400]);
  });

  it('random: 1..2*TimerTicks apart, the same for the same seed', () => {
    const times = (seed: number): number[] => {
      const c = clock();
      const timer = new Timer(c.interrupt, 'random', seed);
      const at: number[] = [];
      timer.onTick = () => at.push(c.stats.totalTicks);
      timer.start();
      runTo(c, 5000);
      return at;
    };
    const a = times(1);
    expect(times(1)).toEqual(a);
    expect(times(2)).not.toEqual(a);
    a.forEach((t, i) => {
      const gap = t - (i === 0 ? 0 : a[i - 1]);
      expect(gap).toBeGreaterThanOrEqual(1);
      expect(gap).toBeLessThanOrEqual(200);
    });
    expect(a.length).toBeGreaterThan(30);
  });
});
