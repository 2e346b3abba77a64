// Cluster parameters on disk: written by mkfs at 0x200200, read back by every
// host; a volume without them gets the defaults; bad values are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLUSTER_CONFIG_OFFSET,
  DEFAULT_CLUSTER_PARAMS,
  ReservationKind,
  readClusterConfig,
  writeClusterConfig,
} from '../../src/cluster/clusterConfig.js';
import { formatDatastore, openDatastore } from '../../src/fs/datastore.js';
import { checkFileSystem } from '../../src/fs/check.js';
import { deviceSizeFor } from '../../src/volume/volumeHeader.js';
import { tempDir } from '../helpers.js';
import { openVolume } from './clusterHelpers.js';
import { join } from 'node:path';
import { VolumeError } from '../../src/util/errors.js';

describe('cluster config', () => {
  const dir = tempDir();
  let path: string;
  beforeAll(async () => {
    path = join(dir.path, 'c.vmfs');
    await (await formatDatastore([path], { size: deviceSizeFor(1) })).close();
  });
  afterAll(() => dir.cleanup());

  it('mkfs stores the defaults; a volume without a config (ESX, older mkfs) reads as them; they take over in under 10 s', async () => {
    const v = await openVolume(path);
    expect(await readClusterConfig(v)).toEqual({ ...DEFAULT_CLUSTER_PARAMS, stored: true });
    await v.write(Buffer.alloc(512), CLUSTER_CONFIG_OFFSET); // as a volume formatted elsewhere
    const c = await readClusterConfig(v);
    expect(c).toEqual({ ...DEFAULT_CLUSTER_PARAMS, stored: false });
    expect(c.leaseMs + c.renewMs).toBeLessThan(10_000);
    await v.close();
  });

  it('round-trips through the sector after FS info, and the file system still opens and checks clean', async () => {
    const v = await openVolume(path);
    await writeClusterConfig(v, { leaseMs: 1500, renewMs: 200, ioTimeoutMs: 200, reservation: ReservationKind.LocalMachine, journalBytes: 65536 });
    const raw = Buffer.alloc(512);
    await v.read(raw, CLUSTER_CONFIG_OFFSET);
    expect(raw.readUInt32LE(0)).toBe(0x6c637476);
    expect(raw.readUInt32LE(8)).toBe(1500);
    expect(await readClusterConfig(v)).toEqual({ leaseMs: 1500, renewMs: 200, ioTimeoutMs: 200, reservation: ReservationKind.LocalMachine, journalBytes: 65536, stored: true });
    await v.close();
    const fs = await openDatastore([path]);
    expect((await checkFileSystem(fs)).findings).toEqual([]);
    await fs.close();
  });

  it('refuses parameters that would let a host be fenced before it can renew, and a damaged sector', async () => {
    const v = await openVolume(path);
    await expect(writeClusterConfig(v, { leaseMs: 1000, renewMs: 500, ioTimeoutMs: 200 })).rejects.toThrow(/leaseMs \(1000\) must exceed renewMs \+ 3 \* ioTimeoutMs \(1100\)/);
    await expect(writeClusterConfig(v, { journalBytes: 1000 })).rejects.toThrow(VolumeError);
    await writeClusterConfig(v, {});
    const raw = Buffer.alloc(512);
    await v.read(raw, CLUSTER_CONFIG_OFFSET);
    raw[8] ^= 1;
    await v.write(raw, CLUSTER_CONFIG_OFFSET);
    await expect(readClusterConfig(v)).rejects.toThrow(/cluster config at 0x200200 is damaged/);
    await v.close();
  });
});
