import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, encode, emptyMessage, readU8, type DhcpMessage, MIN_MESSAGE_LEN } from '../src/dhcp/codec';
import { Opt, OPTIONS, checkOptionLength } from '../src/dhcp/options';
import { jitsiInform, SAMPLE, SAMPLE_HEX } from './helpers/jitsi';

function mustDecode(b: Buffer): DhcpMessage {
  const r = decode(b);
  if (!r.ok) assert.fail(`decode failed: ${r.error.code} ${r.error.detail}`);
  return r.message;
}

describe('DHCP codec', () => {
  test('the fixture is the 300-byte datagram of the contract', () => {
    const b = jitsiInform(SAMPLE);
    assert.equal(b.length, 300);
    assert.equal(b.toString('hex'), SAMPLE_HEX);
  });

  test('decodes the Jitsi DHCPINFORM field by field', () => {
    const m = mustDecode(jitsiInform(SAMPLE));
    assert.equal(m.op, 1);
    assert.equal(m.htype, 1);
    assert.equal(m.hlen, 6);
    assert.equal(m.xid, 0xdeadbeef);
    assert.equal(m.flags, 0);
    assert.equal(m.ciaddr, 0xc0a80117);
    assert.equal(m.giaddr, 0);
    assert.equal(m.chaddr.subarray(0, 6).toString('hex'), '001a2b3c4d5e');
    assert.deepEqual([...m.options.keys()], [Opt.MessageType, Opt.ParameterRequestList]);
    assert.deepEqual(readU8(m, Opt.MessageType), { kind: 'ok', value: 8 });
    assert.deepEqual([...(m.options.get(Opt.ParameterRequestList) ?? [])], [224]);
  });

  test('round trip: encode(decode(x)) reproduces the Jitsi datagram byte for byte', () => {
    const b = jitsiInform(SAMPLE);
    assert.equal(encode(mustDecode(b)).toString('hex'), b.toString('hex'));
  });

  test('round trip: decode(encode(m)) gives m back for generated messages', () => {
    const optionCode = fc.integer({ min: 1, max: 254 }).filter((c) => c !== Opt.Overload);
    const msg = fc.record({
      op: fc.integer({ min: 0, max: 255 }),
      htype: fc.integer({ min: 0, max: 255 }),
      hlen: fc.integer({ min: 0, max: 16 }),
      hops: fc.integer({ min: 0, max: 255 }),
      xid: fc.integer({ min: 0, max: 0xffffffff }),
      secs: fc.integer({ min: 0, max: 0xffff }),
      flags: fc.integer({ min: 0, max: 0xffff }),
      ciaddr: fc.integer({ min: 0, max: 0xffffffff }),
      yiaddr: fc.integer({ min: 0, max: 0xffffffff }),
      siaddr: fc.integer({ min: 0, max: 0xffffffff }),
      giaddr: fc.integer({ min: 0, max: 0xffffffff }),
      chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      options: fc.uniqueArray(fc.tuple(optionCode, fc.uint8Array({ minLength: 0, maxLength: 300 })), { selector: (t) => t[0], maxLength: 4 }),
    });
    fc.assert(
      fc.property(msg, (r) => {
        const m: DhcpMessage = {
          ...emptyMessage(),
          ...r,
          chaddr: Buffer.from(r.chaddr),
          options: new Map(r.options.map(([c, v]) => [c, Buffer.from(v)])),
        };
        const bytes = encode(m);
        if (bytes.length > 1500) return; // larger than the decoder accepts (by design)
        const back = mustDecode(bytes);
        assert.equal(back.xid, m.xid);
        assert.equal(back.ciaddr, m.ciaddr);
        assert.equal(back.giaddr, m.giaddr);
        assert.equal(back.chaddr.toString('hex'), m.chaddr.toString('hex'));
        assert.deepEqual([...back.options.keys()], [...m.options.keys()]);
        for (const [c, v] of m.options) assert.equal(back.options.get(c)?.toString('hex'), v.toString('hex'), `option ${c}`);
        assert.equal(encode(back).toString('hex'), bytes.toString('hex'));
      }),
      { numRuns: 300 },
    );
  });

  test('encode pads to 300 bytes and ends the options with END', () => {
    const m = emptyMessage();
    m.options.set(Opt.MessageType, Buffer.from([5]));
    const b = encode(m);
    assert.equal(b.length, MIN_MESSAGE_LEN);
    assert.equal(b.subarray(240, 244).toString('hex'), '350105ff');
  });

  test('a value longer than 255 bytes is split into consecutive options and concatenated on decode (RFC 3396)', () => {
    const m = emptyMessage();
    const long = Buffer.alloc(300, 0x61);
    m.options.set(Opt.ProvisioningUrl, long);
    const b = encode(m);
    assert.equal(b[240], 224);
    assert.equal(b[241], 255);
    assert.equal(b[240 + 2 + 255], 224);
    assert.equal(b[240 + 2 + 255 + 1], 45);
    assert.equal(mustDecode(b).options.get(Opt.ProvisioningUrl)?.length, 300);
  });

  test('PAD bytes between options are skipped', () => {
    const b = jitsiInform(SAMPLE);
    b.set([0x00, 0x00, 0x35, 0x01, 0x08, 0x00, 0x37, 0x01, 0xe0, 0xff], 240);
    const m = mustDecode(b);
    assert.deepEqual([...m.options.keys()], [53, 55]);
  });

  test('unknown options are skipped by their length', () => {
    const b = jitsiInform(SAMPLE);
    b.set([0xfa, 0x03, 1, 2, 3, 0x35, 0x01, 0x08, 0xff], 240);
    const m = mustDecode(b);
    assert.deepEqual([...(m.options.get(250) ?? [])], [1, 2, 3]);
    assert.deepEqual(readU8(m, Opt.MessageType), { kind: 'ok', value: 8 });
  });

  test('option overload (52) makes the file and sname fields option areas', () => {
    const b = jitsiInform(SAMPLE);
    b.set([0x34, 0x01, 0x03, 0x35, 0x01, 0x08, 0xff], 240);
    b.set([0x0c, 0x03, 0x61, 0x62, 0x63, 0xff], 108); // file: host-name "abc"
    b.set([0x37, 0x01, 0xe0, 0xff], 44); // sname: PRL [224]
    const m = mustDecode(b);
    assert.equal(m.options.get(Opt.HostName)?.toString(), 'abc');
    assert.deepEqual([...(m.options.get(Opt.ParameterRequestList) ?? [])], [224]);
  });

  test('the option table declares a valid length rule for every row', () => {
    for (const def of OPTIONS) {
      assert.ok(def.code > 0 && def.code < 255, def.name);
      const fixed = { u8: 1, u16: 2, u32: 4, ipv4: 4 } as Record<string, number>;
      const n = fixed[def.type];
      if (n !== undefined) {
        assert.equal(checkOptionLength(def, n), undefined, def.name);
        assert.notEqual(checkOptionLength(def, n + 1), undefined, def.name);
      }
    }
  });

  test('readU8 reports a wrong length instead of reading garbage', () => {
    const b = jitsiInform(SAMPLE);
    b.set([0x35, 0x02, 0x08, 0x08, 0xff], 240);
    const r = readU8(mustDecode(b), Opt.MessageType);
    assert.equal(r.kind, 'bad');
  });
});

describe('DHCP codec: malformed corpus', () => {
  const good = jitsiInform(SAMPLE);
  const cases: [string, Buffer, string][] = [
    ['empty', Buffer.alloc(0), 'too-short'],
    ['one byte', Buffer.from([1]), 'too-short'],
    ['header only (236 bytes)', good.subarray(0, 236), 'too-short'],
    ['header + half a cookie', good.subarray(0, 238), 'too-short'],
    ['oversized (1501 bytes)', Buffer.concat([good, Buffer.alloc(1201)]), 'too-long'],
    ['no cookie (BOOTP)', (() => { const b = Buffer.from(good); b.writeUInt32BE(0, 236); return b; })(), 'no-cookie'],
    ['wrong cookie', (() => { const b = Buffer.from(good); b.writeUInt32BE(0xdeadbeef, 236); return b; })(), 'no-cookie'],
    ['hlen 17', (() => { const b = Buffer.from(good); b[2] = 17; return b; })(), 'bad-hlen'],
    ['length past the end', (() => { const b = Buffer.from(good.subarray(0, 246)); b[244] = 200; return b; })(), 'option-truncated'],
    ['code with no length byte', Buffer.concat([good.subarray(0, 240), Buffer.from([0x35])]), 'option-truncated'],
    ['no END', good.subarray(0, 246), 'no-end'],
    ['only PAD after the cookie', Buffer.concat([good.subarray(0, 240), Buffer.alloc(60)]), 'no-end'],
    ['bad overload value', (() => { const b = Buffer.from(good); b.set([0x34, 0x01, 0x07, 0xff], 240); return b; })(), 'bad-overload'],
    ['overload area truncated', (() => { const b = Buffer.from(good); b.set([0x34, 0x01, 0x01, 0xff], 240); b.set([0x0c, 0xf0], 108); return b; })(), 'option-truncated'],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name} → ${code}`, () => {
      const r = decode(bytes);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.code, code);
        assert.ok(r.error.detail.length > 0);
      }
    });
  }
});
