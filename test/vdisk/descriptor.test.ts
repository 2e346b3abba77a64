// The descriptor parser and writer: VMware's and qemu's text, kept as written.
import { describe, expect, it } from 'vitest';
import { formatCid, newDescriptor, NO_PARENT, parseDescriptor } from '../../src/vdisk/descriptor.js';

const VMWARE = `# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=3b4c5d6e
parentCID=ffffffff
isNativeSnapshot="no"
createType="vmfs"

# Extent description
RW 20971520 VMFS "web01-flat.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "1305"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.longContentID = "0123456789abcdef0123456789abcdef"
ddb.uuid = "60 00 C2 9a 2b 3c 4d 5e-6f 70 81 92 a3 b4 c5 d6"
ddb.virtualHWVersion = "7"
`;

describe('descriptor', () => {
  it('parses a VMware descriptor and writes it back unchanged', () => {
    const d = parseDescriptor(VMWARE, 'web01.vmdk');
    expect(d.cid).toBe(0x3b4c5d6e);
    expect(d.parentCid).toBe(NO_PARENT);
    expect(d.hasParent).toBe(false);
    expect(d.createType).toBe('vmfs');
    expect(d.capacity).toBe(20971520 * 512);
    expect(d.extents).toEqual([{ access: 'RW', sectors: 20971520, type: 'VMFS', file: 'web01-flat.vmdk', offset: 0 }]);
    expect(d.ddb.get('ddb.uuid')).toBe('60 00 C2 9a 2b 3c 4d 5e-6f 70 81 92 a3 b4 c5 d6');
    expect(d.format()).toBe(VMWARE.replace('"web01-flat.vmdk"', '"web01-flat.vmdk" 0'));
    d.cid = 0xabc;
    expect(d.format()).toContain('\nCID=00000abc\n');
    expect(parseDescriptor(d.format(), 'x').ddb).toEqual(d.ddb);
  });

  it('parses a delta with CRLF lines and a ZERO extent', () => {
    const d = parseDescriptor(
      '# Disk DescriptorFile\r\nversion=1\r\nCID=fffffffe\r\nparentCID=12ab\r\ncreateType="monolithicSparse"\r\nparentFileNameHint="base.vmdk"\r\nRW 100 SPARSE "d.vmdk"\r\nRDONLY 28 ZERO\r\n',
      'd.vmdk',
    );
    expect(d.parentCid).toBe(0x12ab);
    expect(d.parentFileNameHint).toBe('base.vmdk');
    expect(d.extents[1]).toEqual({ access: 'RDONLY', sectors: 28, type: 'ZERO', file: null, offset: 0 });
    expect(d.capacity).toBe(128 * 512);
  });

  it('writes new descriptors as qemu and VMware read them', () => {
    const d = newDescriptor({ createType: 'monolithicSparse', capacity: 1 << 30, extent: { type: 'SPARSE', file: 'n.vmdk' }, parent: { cid: 0x1234, fileNameHint: 'p.vmdk' } });
    const text = d.format();
    expect(text).toMatch(/^# Disk DescriptorFile\nversion=1\nencoding="UTF-8"\nCID=[0-9a-f]{8}\nparentCID=00001234\ncreateType="monolithicSparse"\nparentFileNameHint="p.vmdk"\n/);
    expect(text).toContain('\nRW 2097152 SPARSE "n.vmdk"\n');
    expect(text).toContain('ddb.geometry.cylinders = "130"');
    expect(d.cid).not.toBe(NO_PARENT);
    expect(formatCid(d.parentCid)).toBe('00001234');
  });

  it.each([
    ['no CID', 'createType="x"\nRW 1 FLAT "a" 0\n', /t\.vmdk: descriptor has no CID/],
    ['a malformed CID', 'CID=xyz\ncreateType="x"\nRW 1 FLAT "a" 0\n', /t\.vmdk: descriptor has a malformed CID/],
    ['no createType', 'CID=1\nRW 1 FLAT "a" 0\n', /no createType/],
    ['no extents', 'CID=1\ncreateType="x"\n', /lists no extents/],
    ['garbage', 'CID=1\ncreateType="x"\nRW 1 FLAT "a" 0\nrm -rf /\n', /t\.vmdk: descriptor line 4: not understood: "rm -rf \/"/],
    ['a delta without hint', 'CID=1\nparentCID=2\ncreateType="x"\nRW 1 SPARSE "a"\n', /delta disk without a parentFileNameHint/],
    ['a huge extent', 'CID=1\ncreateType="x"\nRW 99999999999999999999 FLAT "a" 0\n', /descriptor line 3: extent size out of range/],
    ['64 KiB of text', `CID=1\n${'#'.repeat(70000)}`, /descriptor longer than 65536 bytes/],
  ])('refuses a descriptor with %s', (_what, text, message) => {
    expect(() => parseDescriptor(text, 't.vmdk')).toThrow(message);
  });
});
