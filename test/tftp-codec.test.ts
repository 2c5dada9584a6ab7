/**
 * tftp-codec.test.ts: the pure TFTP codec (src/tftp/codec.ts) as tables: every packet type
 * decoded from hand-written bytes, every malformed shape with its stable reason, the option
 * reader's ranges, and round trips (generated with fast-check).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decode,
  encode,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  readOptions,
  MAX_BLKSIZE,
  MAX_DATAGRAM,
  MAX_OPTIONS,
  type Packet,
  type DecodeErrorCode,
  type OptionValue,
} from '../src/tftp/codec';

/** req builds a datagram from a 2-byte opcode and strings, each NUL-terminated. */
function req(op: number, ...strings: string[]): Buffer {
  const o = Buffer.alloc(2);
  o.writeUInt16BE(op, 0);
  return Buffer.concat([o, ...strings.map((s) => Buffer.from(`${s}\0`, 'latin1'))]);
}

function mustDecode(b: Buffer): Packet {
  const r = decode(b);
  if (!r.ok) assert.fail(`decode failed: ${r.error.code} ${r.error.detail}`);
  return r.packet;
}

describe('TFTP codec: decode', () => {
  const good: Array<[string, Buffer, Packet]> = [
    ['RRQ, octet, no options', req(1, 'SEP001122334455.cnf.xml', 'octet'), { op: 'rrq', filename: 'SEP001122334455.cnf.xml', mode: 'octet', options: [] }],
    ['RRQ, mode case-insensitive', req(1, 'a', 'OcTeT'), { op: 'rrq', filename: 'a', mode: 'octet', options: [] }],
    ['RRQ, netascii', req(1, 'a', 'netascii'), { op: 'rrq', filename: 'a', mode: 'netascii', options: [] }],
    [
      'RRQ with options, names lower-cased, order kept',
      req(1, '/spa504g.cfg', 'octet', 'BLKSIZE', '1468', 'tsize', '0', 'windowsize', '8', 'timeout', '3'),
      {
        op: 'rrq',
        filename: '/spa504g.cfg',
        mode: 'octet',
        options: [
          { name: 'blksize', value: '1468' },
          { name: 'tsize', value: '0' },
          { name: 'windowsize', value: '8' },
          { name: 'timeout', value: '3' },
        ],
      },
    ],
    ['RRQ with trailing NUL padding', Buffer.concat([req(1, 'a', 'octet'), Buffer.alloc(3)]), { op: 'rrq', filename: 'a', mode: 'octet', options: [] }],
    ['RRQ, a byte above 0x7f in the name survives (latin1)', req(1, 'caf\xe9', 'octet'), { op: 'rrq', filename: 'caf\xe9', mode: 'octet', options: [] }],
    ['WRQ', req(2, 'x-boot.log', 'octet'), { op: 'wrq', filename: 'x-boot.log', mode: 'octet', options: [] }],
    ['DATA, empty (the last block of an exact multiple)', Buffer.from([0, 3, 0, 7]), { op: 'data', block: 7, data: Buffer.alloc(0) }],
    ['DATA, block 65535', Buffer.from([0, 3, 0xff, 0xff, 1, 2]), { op: 'data', block: 65535, data: Buffer.from([1, 2]) }],
    ['ACK 0', Buffer.from([0, 4, 0, 0]), { op: 'ack', block: 0 }],
    ['ACK with padding', Buffer.from([0, 4, 1, 2, 0, 0]), { op: 'ack', block: 258 }],
    ['ERROR', Buffer.concat([Buffer.from([0, 5, 0, 1]), Buffer.from('File not found\0')]), { op: 'error', code: 1, message: 'File not found' }],
    ['ERROR without its NUL', Buffer.concat([Buffer.from([0, 5, 0, 8]), Buffer.from('no')]), { op: 'error', code: 8, message: 'no' }],
    ['ERROR, empty message', Buffer.from([0, 5, 0, 0, 0]), { op: 'error', code: 0, message: '' }],
    ['OACK', req(6, 'blksize', '1468', 'tsize', '42'), { op: 'oack', options: [{ name: 'blksize', value: '1468' }, { name: 'tsize', value: '42' }] }],
    ['OACK, empty', Buffer.from([0, 6]), { op: 'oack', options: [] }],
  ];
  for (const [name, bytes, want] of good) {
    test(name, () => {
      assert.deepEqual(mustDecode(bytes), want);
    });
  }

  const many: string[] = [];
  for (let i = 0; i <= MAX_OPTIONS; i++) many.push(`o${i}`, '1');
  const bad: Array<[string, Buffer, DecodeErrorCode]> = [
    ['empty datagram', Buffer.alloc(0), 'too-short'],
    ['one byte', Buffer.from([0]), 'too-short'],
    ['opcode 0', Buffer.from([0, 0, 1, 2]), 'bad-opcode'],
    ['opcode 7', Buffer.from([0, 7, 0, 0]), 'bad-opcode'],
    ['opcode 0x0100 (little-endian RRQ)', Buffer.from([1, 0, 0x61, 0, 0x6f, 0]), 'bad-opcode'],
    ['a datagram larger than a 65464-byte block', Buffer.concat([Buffer.from([0, 3, 0, 1]), Buffer.alloc(MAX_BLKSIZE + 1)]), 'too-long'],
    ['RRQ over 512 bytes', req(1, 'a'.repeat(600), 'octet'), 'too-long'],
    ['RRQ without strings', Buffer.from([0, 1]), 'no-filename'],
    ['RRQ with an empty filename', req(1, '', 'octet'), 'no-filename'],
    ['RRQ without a mode', req(1, 'file'), 'no-mode'],
    ['RRQ, filename without NUL', Buffer.from('\x00\x01file', 'latin1'), 'unterminated'],
    ['RRQ, mode without NUL', Buffer.from('\x00\x01file\x00octet', 'latin1'), 'unterminated'],
    ['RRQ, option without value', req(1, 'f', 'octet', 'blksize'), 'option-no-value'],
    ['RRQ, option with an empty value', req(1, 'f', 'octet', 'blksize', ''), 'option-no-value'],
    ['RRQ, empty string then data', Buffer.concat([req(1, 'f', 'octet'), Buffer.from('\x00blksize\x00512\x00', 'latin1')]), 'empty-option'],
    ['RRQ, the same option twice (any case)', req(1, 'f', 'octet', 'blksize', '512', 'BlkSize', '1024'), 'duplicate-option'],
    ['RRQ, too many options', req(1, 'f', 'octet', ...many), 'too-many-options'],
    ['DATA without block number', Buffer.from([0, 3, 0]), 'too-short'],
    ['ACK without block number', Buffer.from([0, 4, 0]), 'too-short'],
    ['ERROR without code', Buffer.from([0, 5, 0]), 'too-short'],
    ['OACK, option without value', req(6, 'blksize'), 'option-no-value'],
    ['OACK over 512 bytes', req(6, 'x'.repeat(600), '1'), 'too-long'],
  ];
  for (const [name, bytes, code] of bad) {
    test(`malformed: ${name} → ${code}`, () => {
      const r = decode(bytes);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.code, code, r.error.detail);
        assert.ok(r.error.detail.length > 0);
      }
    });
  }

  test('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), (a) => {
        const r = decode(Buffer.from(a));
        assert.equal(typeof r.ok, 'boolean');
      }),
      { numRuns: 3000 },
    );
  });

  test('never throws on random bytes behind a request opcode', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.uint8Array({ minLength: 0, maxLength: 600 }), (op, a) => {
        const b = Buffer.concat([Buffer.from([0, op]), Buffer.from(a)]);
        const r = decode(b);
        assert.equal(typeof r.ok, 'boolean');
      }),
      { numRuns: 3000 },
    );
  });
});

describe('TFTP codec: encode', () => {
  test('exact bytes of each packet type', () => {
    assert.equal(encodeRequest('rrq', 'a.cfg', 'octet', [{ name: 'tsize', value: '0' }]).toString('latin1'), '\x00\x01a.cfg\x00octet\x00tsize\x000\x00');
    assert.equal(encodeRequest('wrq', 'b', 'octet').toString('hex'), '000262006f6374657400');
    assert.equal(encodeData(1, Buffer.from('hi')).toString('hex'), '000300016869');
    assert.equal(encodeAck(65535).toString('hex'), '0004ffff');
    assert.equal(encodeError(1, 'File not found').toString('latin1'), '\x00\x05\x00\x01File not found\x00');
    assert.equal(encodeOack([{ name: 'blksize', value: '1468' }]).toString('latin1'), '\x00\x06blksize\x001468\x00');
    assert.equal(encodeOack([]).toString('hex'), '0006');
  });

  test('block numbers roll over modulo 2^16', () => {
    assert.equal(encodeData(65536, Buffer.alloc(0)).toString('hex'), '00030000');
    assert.equal(encodeData(65537, Buffer.alloc(0)).toString('hex'), '00030001');
    assert.equal(encodeAck(131071).toString('hex'), '0004ffff');
  });

  test('an ERROR message is cut to 255 bytes and stays NUL-terminated', () => {
    const b = encodeError(0, 'x'.repeat(1000));
    assert.equal(b.length, 4 + 255 + 1);
    assert.equal(b[b.length - 1], 0);
  });

  test('a DATA packet never exceeds the largest datagram', () => {
    assert.equal(encodeData(1, Buffer.alloc(MAX_BLKSIZE + 100)).length, MAX_DATAGRAM);
  });

  test('round trip: decode(encode(p)) gives p back for generated packets', () => {
    const str = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0') && /^[\x01-\xff]*$/.test(s));
    const opts = fc.uniqueArray(fc.record({ name: str.map((s) => s.toLowerCase()), value: str }), { selector: (o) => o.name, maxLength: 6 });
    const packet: fc.Arbitrary<Packet> = fc.oneof(
      fc.record({ op: fc.constantFrom<'rrq' | 'wrq'>('rrq', 'wrq'), filename: str, mode: str.map((s) => s.toLowerCase()), options: opts }),
      fc.record({ op: fc.constant<'data'>('data'), block: fc.integer({ min: 0, max: 0xffff }), data: fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)) }),
      fc.record({ op: fc.constant<'ack'>('ack'), block: fc.integer({ min: 0, max: 0xffff }) }),
      fc.record({ op: fc.constant<'error'>('error'), code: fc.integer({ min: 0, max: 0xffff }), message: str }),
      fc.record({ op: fc.constant<'oack'>('oack'), options: opts }),
    );
    fc.assert(
      fc.property(packet, (p) => {
        // fast-check's records have a null prototype: compare plain copies.
        const plain = 'options' in p ? { ...p, options: p.options.map((o) => ({ ...o })) } : { ...p };
        assert.deepEqual(mustDecode(encode(p)), plain);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('TFTP codec: readOptions', () => {
  const ok = (value: number): OptionValue => ({ kind: 'ok', value });
  const rows: Array<[string, string, string, OptionValue]> = [
    ['blksize', 'blksize', '1468', ok(1468)],
    ['blksize minimum', 'blksize', '8', ok(8)],
    ['blksize maximum', 'blksize', '65464', ok(65464)],
    ['blksize above the maximum is answered with the maximum', 'blksize', '65535', ok(65464)],
    ['blksize below 8', 'blksize', '7', { kind: 'bad', reason: '7 is below 8' }],
    ['blksize not a number', 'blksize', '1k', { kind: 'bad', reason: "'1k' is not a decimal number" }],
    ['blksize negative', 'blksize', '-512', { kind: 'bad', reason: "'-512' is not a decimal number" }],
    ['timeout', 'timeout', '1', ok(1)],
    ['timeout 255', 'timeout', '255', ok(255)],
    ['timeout 0', 'timeout', '0', { kind: 'bad', reason: '0 is below 1' }],
    ['timeout 256 is refused (the server must echo it)', 'timeout', '256', { kind: 'bad', reason: '256 is above 255' }],
    ['tsize 0 (a RRQ)', 'tsize', '0', ok(0)],
    ['tsize large', 'tsize', '4294967296', ok(4294967296)],
    ['tsize absurdly long', 'tsize', '1'.repeat(40), { kind: 'bad', reason: `'${'1'.repeat(20)}' is not a decimal number` }],
    ['windowsize', 'windowsize', '16', ok(16)],
    ['windowsize 65535', 'windowsize', '65535', ok(65535)],
    ['windowsize above is answered with the maximum', 'windowsize', '70000', ok(65535)],
    ['windowsize 0', 'windowsize', '0', { kind: 'bad', reason: '0 is below 1' }],
  ];
  for (const [name, opt, value, want] of rows) {
    test(name, () => {
      const r = readOptions([{ name: opt, value }]);
      assert.deepEqual(r[opt as 'blksize' | 'timeout' | 'tsize' | 'windowsize'], want);
    });
  }

  test('absent options, unknown ones listed in order', () => {
    const r = readOptions([
      { name: 'multicast', value: '' },
      { name: 'blksize', value: '512' },
      { name: 'rollover', value: '0' },
    ]);
    assert.deepEqual(r.timeout, { kind: 'absent' });
    assert.deepEqual(r.tsize, { kind: 'absent' });
    assert.deepEqual(r.windowsize, { kind: 'absent' });
    assert.deepEqual(r.blksize, ok(512));
    assert.deepEqual(r.unknown, ['multicast', 'rollover']);
  });
});
