import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeSip,
  encodeSip,
  header,
  headerValues,
  headerList,
  headerKey,
  parseSipUri,
  parseNameAddr,
  formatNameAddr,
  parseVia,
  topVia,
  stampVia,
  responseTarget,
  parseHeaderParams,
  parseParams,
  parseCSeq,
  unescapeUser,
  withParam,
  newTag,
  newBranch,
  newCallId,
  buildResponse,
  missingHeaders,
  splitOutside,
  DEFAULT_LIMITS,
  type SipMessage,
  type SipRequest,
  type SipDecodeErrorCode,
} from '../src/sip/codec';
import { VENDOR_SHAPES, subscribe, subscribeText } from './helpers/sip-phones';

function mustDecode(b: Buffer | string): SipMessage {
  const r = decodeSip(typeof b === 'string' ? Buffer.from(b, 'utf8') : b);
  if (!r.ok) assert.fail(`decode failed: ${r.error.code} ${r.error.detail}`);
  return r.message;
}

function mustRequest(b: Buffer | string): SipRequest {
  const m = mustDecode(b);
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

/** The §2.3 200 OK, as composed in sip-phones.md. */
const OK_TEXT = [
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 192.0.2.50:5080;branch=z9hG4bK7001;rport=5080;received=192.0.2.50',
  'From: <sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=4411',
  'To: <sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=pd-8c1e',
  'Call-ID: 7001-5080-1@192.0.2.50',
  'CSeq: 20000 SUBSCRIBE',
  'Contact: <sip:192.0.2.10:5060>',
  'Expires: 0',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

/** The §2.3 NOTIFY. */
const NOTIFY_TEXT = [
  'NOTIFY sip:192.0.2.50:5080 SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-pd-51a7;rport',
  'Max-Forwards: 70',
  'From: <sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=pd-8c1e',
  'To: <sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=4411',
  'Call-ID: 7001-5080-1@192.0.2.50',
  'CSeq: 1 NOTIFY',
  'Contact: <sip:192.0.2.10:5060>',
  'Event: ua-profile;profile-type="device";vendor="Grandstream";model="GRP2614";version="1.0.5.15"',
  'Subscription-State: terminated;reason=timeout',
  'Content-Type: application/url',
  'Content-Length: 39',
  '',
  'http://192.0.2.10:8667/gs/k7Qd2fX9aB31/',
].join('\r\n');

describe('SIP codec: each vendor SUBSCRIBE of sip-phones.md §2', () => {
  for (const p of VENDOR_SHAPES) {
    test(`${p.vendor}: decodes method, Request-URI, headers${p.compact ? ' (compact forms)' : ''}${p.lf ? ' (bare LF)' : ''}`, () => {
      const req = mustRequest(subscribe(p));
      assert.equal(req.method, 'SUBSCRIBE');
      assert.equal(req.uri, p.ruri);
      assert.equal(req.version, 'SIP/2.0');
      assert.equal(req.headers.length, 12);
      assert.equal(header(req, 'Event'), p.event);
      assert.equal(header(req, 'event'), p.event);
      assert.equal(header(req, 'o'), p.event);
      assert.equal(header(req, 'call-id'), `7001-${p.port}-1@192.0.2.50`);
      assert.equal(header(req, 'CONTENT-LENGTH'), '0');
      assert.equal(header(req, 'User-Agent'), p.userAgent);
      assert.equal(req.body.length, 0);
      assert.deepEqual(missingHeaders(req), []);
      const via = topVia(req);
      assert.ok(via);
      assert.equal(via.transport, 'UDP');
      assert.equal(via.host, '192.0.2.50');
      assert.equal(via.port, p.port);
      assert.equal(via.branch, 'z9hG4bK7001');
      assert.equal(via.rport, null);
      assert.equal(via.received, undefined);
      const from = parseNameAddr(header(req, 'f') ?? '');
      assert.ok(from);
      assert.equal(from.uri, p.from);
      assert.equal(from.params.get('tag'), '4411');
      const ev = parseHeaderParams(header(req, 'event') ?? '');
      assert.equal(ev.value, 'ua-profile');
      assert.ok(ev.params.has('profile-type'));
      assert.deepEqual(parseCSeq(header(req, 'cseq') ?? ''), { seq: 20000, method: 'SUBSCRIBE' });
    });

    test(`${p.vendor}: round trip decode → encode → decode keeps every header`, () => {
      const a = mustRequest(subscribe(p));
      const b = mustRequest(encodeSip(a));
      assert.deepEqual(b, a);
      if (!p.lf) assert.equal(encodeSip(a).toString('utf8'), subscribeText(p));
    });
  }

  test('the Request-URI/From user parts give the MAC encodings of §2.1', () => {
    const users = VENDOR_SHAPES.map((p) => unescapeUser(parseSipUri(p.ruri)?.userinfo ?? ''));
    // RFC 3261 §25.1: an unescaped `:` in the userinfo starts a password
    const y = parseSipUri('sip:MAC:805ec0112233@224.0.1.75');
    assert.deepEqual([y?.user, y?.password, y?.userinfo, y?.host], ['MAC', '805ec0112233', 'MAC:805ec0112233', '224.0.1.75']);
    assert.deepEqual(users, ['MAC:C074AD0B63EE', 'MAC:00135E874B49', 'MAC:7C2F80E0D605', 'MAC:805ec0112233', 'MAC0c383e07e16c', 'MAC=00304fa99948', '']);
    const ac = parseSipUri('sip:224.0.1.75:5060');
    assert.ok(ac);
    assert.equal(ac.user, undefined);
    assert.equal(ac.host, '224.0.1.75');
    assert.equal(ac.port, 5060);
  });

  test('the §2.3 200 OK and NOTIFY decode, body by Content-Length', () => {
    const ok = mustDecode(OK_TEXT);
    assert.equal(ok.kind, 'response');
    if (ok.kind !== 'response') return;
    assert.equal(ok.status, 200);
    assert.equal(ok.reason, 'OK');
    const via = topVia(ok);
    assert.equal(via?.rport, 5080);
    assert.equal(via?.received, '192.0.2.50');
    assert.equal(parseNameAddr(header(ok, 'To') ?? '')?.params.get('tag'), 'pd-8c1e');

    const notify = mustRequest(NOTIFY_TEXT);
    assert.equal(notify.method, 'NOTIFY');
    assert.equal(notify.body.toString(), 'http://192.0.2.10:8667/gs/k7Qd2fX9aB31/');
    assert.equal(encodeSip(notify).toString(), NOTIFY_TEXT);
    const ss = parseHeaderParams(header(notify, 'Subscription-State') ?? '');
    assert.equal(ss.value, 'terminated');
    assert.equal(ss.params.get('reason'), 'timeout');
  });

  test('buildResponse reproduces the §2.3 200 OK from the Grandstream SUBSCRIBE', () => {
    const gs = VENDOR_SHAPES.find((p) => p.vendor === 'grandstream');
    assert.ok(gs);
    const req = mustRequest(subscribe(gs));
    const res = buildResponse(req, 200, 'OK', {
      toTag: 'pd-8c1e',
      source: { address: '192.0.2.50', port: 5080 },
      headers: [
        { name: 'Contact', value: '<sip:192.0.2.10:5060>' },
        { name: 'Expires', value: '0' },
      ],
    });
    assert.equal(encodeSip(res).toString(), OK_TEXT);
  });
});

describe('SIP codec: headers', () => {
  test('compact forms map to their long names (RFC 3261 §7.3.3, RFC 6665)', () => {
    const table: [string, string][] = [
      ['v', 'via'], ['f', 'from'], ['t', 'to'], ['i', 'call-id'], ['m', 'contact'], ['l', 'content-length'],
      ['c', 'content-type'], ['k', 'supported'], ['e', 'content-encoding'], ['o', 'event'], ['s', 'subject'],
      ['x', 'session-expires'], ['u', 'allow-events'], ['r', 'refer-to'], ['b', 'referred-by'],
      ['V', 'via'], ['Call-ID', 'call-id'], ['CSEQ', 'cseq'], ['X-Custom', 'x-custom'],
    ];
    for (const [name, key] of table) assert.equal(headerKey(name), key, name);
  });

  test('repeated and comma-separated list headers keep their order; non-list headers are not split', () => {
    const msg = mustRequest(
      [
        'OPTIONS sip:a@192.0.2.1 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1, SIP/2.0/UDP 192.0.2.8:5070;branch=z9hG4bK2',
        'v: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK3;received=192.0.2.7',
        'From: "Doe, John" <sip:j@example.org>;tag=a',
        'To: sip:a@192.0.2.1',
        'Call-ID: x',
        'CSeq: 1 OPTIONS',
        'Accept: application/url, application/sdp',
        'User-Agent: Foo/1.0 (a, b)',
        'Contact: "A, B" <sip:a@h>;q=0.5, <sip:b@h;lr>',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    const vias = headerList(msg, 'via');
    assert.equal(vias.length, 3);
    assert.deepEqual(vias.map((v) => parseVia(v)?.port), [undefined, 5070, 5061]);
    assert.equal(parseVia(vias[2] ?? '')?.host, '2001:db8::1');
    assert.equal(parseVia(vias[2] ?? '')?.transport, 'TCP');
    assert.equal(topVia(msg)?.branch, 'z9hG4bK1');
    assert.deepEqual(headerValues(msg, 'VIA').length, 2);
    assert.deepEqual(headerList(msg, 'Accept'), ['application/url', 'application/sdp']);
    assert.deepEqual(headerList(msg, 'User-Agent'), ['Foo/1.0 (a, b)']);
    assert.deepEqual(headerList(msg, 'm'), ['"A, B" <sip:a@h>;q=0.5', '<sip:b@h;lr>']);
    assert.equal(parseNameAddr(header(msg, 'from') ?? '')?.display, 'Doe, John');
    const to = parseNameAddr(header(msg, 'to') ?? '');
    assert.equal(to?.uri, 'sip:a@192.0.2.1');
    assert.equal(to?.params.size, 0);
  });

  test('folded header lines are unfolded (RFC 3261 §7.3.1)', () => {
    const msg = mustRequest('OPTIONS sip:x@h SIP/2.0\r\nSubject: I know you\r\n  are there\r\n\tpick up\r\nContent-Length: 0\r\n\r\n');
    assert.equal(header(msg, 's'), 'I know you are there pick up');
  });

  test('name-addr forms and their parameters', () => {
    const table: [string, { display: string | undefined; uri: string; params: [string, string | null][] } | undefined][] = [
      ['<sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=4411', { display: undefined, uri: 'sip:MAC%3AC074AD0B63EE@224.0.1.75', params: [['tag', '4411']] }],
      ['"Bob" <sips:bob@biloxi.example.com;transport=tcp>;TAG=x;lr', { display: 'Bob', uri: 'sips:bob@biloxi.example.com;transport=tcp', params: [['tag', 'x'], ['lr', null]] }],
      ['Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8', { display: 'Anonymous', uri: 'sip:c8oqz84zk7z@privacy.org', params: [['tag', 'hyh8']] }],
      ['sip:+12125551212@server.phone2net.com;tag=887s', { display: undefined, uri: 'sip:+12125551212@server.phone2net.com', params: [['tag', '887s']] }],
      ['<sip:a@b', undefined],
      ['"unterminated <sip:a@b>', undefined],
      ['', undefined],
      ['<>', undefined],
      ['<sip:a@b> junk', undefined],
      ['not a uri', undefined],
    ];
    for (const [input, want] of table) {
      const got = parseNameAddr(input);
      if (want === undefined) {
        assert.equal(got, undefined, input);
        continue;
      }
      assert.ok(got, input);
      assert.equal(got.display, want.display, input);
      assert.equal(got.uri, want.uri, input);
      assert.deepEqual([...got.params], want.params, input);
    }
    assert.equal(formatNameAddr({ display: 'A "b"', uri: 'sip:x@y', params: new Map([['tag', '1']]) }), '"A \\"b\\"" <sip:x@y>;tag=1');
  });

  test('SIP URIs: user, password, host, port, params, headers', () => {
    const u = parseSipUri('sip:alice:secret@[2001:db8::10]:5070;transport=udp;lr?subject=x');
    assert.ok(u);
    assert.equal(u.scheme, 'sip');
    assert.equal(u.user, 'alice');
    assert.equal(u.password, 'secret');
    assert.equal(u.host, '2001:db8::10');
    assert.equal(u.port, 5070);
    assert.equal(u.params.get('transport'), 'udp');
    assert.equal(u.params.get('lr'), null);
    assert.equal(u.headers, 'subject=x');
    const v = parseSipUri('SIPS:192.0.2.50:5080');
    assert.equal(v?.scheme, 'sips');
    assert.equal(v?.user, undefined);
    assert.equal(v?.port, 5080);
    for (const bad of ['tel:+123', 'sip:', 'sip:@host', 'sip:a@', 'sip:a@host:99999', 'sip:a@host:0', 'sip:a@[::1', 'sip:a@ho st', 'http://x']) {
      assert.equal(parseSipUri(bad), undefined, bad);
    }
    assert.equal(unescapeUser('MAC%3a00135E874B49'), 'MAC:00135E874B49');
    assert.equal(unescapeUser('bad%zz%4'), 'bad%zz%4');
  });

  test('Via: rport/received stamping (RFC 3261 §18.2.1, RFC 3581) and where the response goes', () => {
    const src = { address: '198.51.100.7', port: 40000 };
    const table: [string, string, { address: string; port: number }][] = [
      // rport asked: filled with the source port, received always added
      ['SIP/2.0/UDP 192.0.2.50:5080;branch=z9hG4bK7001;rport', 'SIP/2.0/UDP 192.0.2.50:5080;branch=z9hG4bK7001;rport=40000;received=198.51.100.7', { address: '198.51.100.7', port: 40000 }],
      // no rport, sent-by differs from the source: received added, the response goes to the sent-by port
      ['SIP/2.0/UDP 192.0.2.50:5070;branch=z9hG4bK1', 'SIP/2.0/UDP 192.0.2.50:5070;branch=z9hG4bK1;received=198.51.100.7', { address: '198.51.100.7', port: 5070 }],
      // no rport, no port: 5060
      ['SIP/2.0/UDP 192.0.2.50;branch=z9hG4bK1', 'SIP/2.0/UDP 192.0.2.50;branch=z9hG4bK1;received=198.51.100.7', { address: '198.51.100.7', port: 5060 }],
      // sent-by equals the source: unchanged
      ['SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1', 'SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1', { address: '198.51.100.7', port: 5060 }],
    ];
    for (const [input, stamped, target] of table) {
      assert.equal(stampVia(input, src), stamped, input);
      const via = parseVia(input);
      assert.ok(via, input);
      assert.deepEqual(responseTarget(via, src), target, input);
    }
    for (const bad of ['SIP/2.0 192.0.2.1', 'SIP/3.0/UDP 192.0.2.1', 'SIP/2.0/UDP', 'SIP/2.0/UDP 192.0.2.1;rport=0', 'SIP/2.0/UDP 192.0.2.1;rport=abc', 'SIP/2.0/UDP host:port']) {
      assert.equal(parseVia(bad), undefined, bad);
    }
    assert.equal(parseVia('SIP / 2.0 / udp 192.0.2.1 : 5060 ;branch=z9hG4bKx')?.port, 5060);
  });

  test('parameters: quoted values, flags, first one wins; withParam adds or replaces', () => {
    assert.deepEqual([...parseParams(';a=1;B="x;y";c;a=2')], [['a', '1'], ['b', 'x;y'], ['c', null]]);
    assert.equal(withParam('<sip:a@b;lr>;tag=1', 'tag', '2'), '<sip:a@b;lr>;tag=2');
    assert.equal(withParam('<sip:a@b;lr>', 'tag', 'pd-1'), '<sip:a@b;lr>;tag=pd-1');
    assert.equal(withParam('sip:a@b;x=1', 'tag', 't'), 'sip:a@b;x=1;tag=t');
    assert.deepEqual(splitOutside('a;"b;c";<d;e>;f', ';'), ['a', '"b;c"', '<d;e>', 'f']);
  });

  test('CSeq', () => {
    assert.deepEqual(parseCSeq('1 NOTIFY'), { seq: 1, method: 'NOTIFY' });
    for (const bad of ['', 'NOTIFY', '1', '-1 NOTIFY', '2147483648 NOTIFY', '1 NO TIFY', '1 NOT<IFY']) assert.equal(parseCSeq(bad), undefined, bad);
  });

  test('tags, branches and Call-IDs are fresh and well formed', () => {
    const tags = new Set(Array.from({ length: 50 }, () => newTag()));
    assert.equal(tags.size, 50);
    for (const t of tags) assert.match(t, /^pd-[0-9a-f]{16}$/);
    assert.match(newBranch(), /^z9hG4bK-pd-[0-9a-f]{16}$/);
    assert.match(newCallId('192.0.2.10'), /^[0-9a-f]{16}@192\.0\.2\.10$/);
    const fixed = (n: number): Buffer => Buffer.alloc(n, 0xab);
    assert.equal(newTag(fixed), 'pd-abababababababab');
  });

  test('missingHeaders names what a request lacks or holds malformed', () => {
    const req = mustRequest('SUBSCRIBE sip:x@h SIP/2.0\r\nVia: nonsense\r\nFrom: <sip:a@b\r\nCSeq: x SUBSCRIBE\r\n\r\n');
    assert.deepEqual(missingHeaders(req), ['to', 'call-id', 'via (malformed)', 'cseq (malformed)', 'from (malformed)']);
  });
});

describe('SIP codec: encode', () => {
  test('Content-Length is computed, replacing a wrong one in place, in any form', () => {
    const body = Buffer.from('http://192.0.2.10/x/');
    const b = encodeSip({ kind: 'request', method: 'NOTIFY', uri: 'sip:a@b', version: 'SIP/2.0', headers: [{ name: 'l', value: '999' }, { name: 'Content-Length', value: '1' }, { name: 'Call-ID', value: 'c' }], body });
    assert.equal(b.toString(), `NOTIFY sip:a@b SIP/2.0\r\nl: ${body.length}\r\nCall-ID: c\r\n\r\nhttp://192.0.2.10/x/`);
    const r = encodeSip({ kind: 'response', version: 'SIP/2.0', status: 489, reason: 'Bad Event', headers: [], body: Buffer.alloc(0) });
    assert.equal(r.toString(), 'SIP/2.0 489 Bad Event\r\nContent-Length: 0\r\n\r\n');
  });

  test('a multi-byte UTF-8 body is counted in bytes', () => {
    const body = Buffer.from('http://h/é/');
    const m = mustRequest(encodeSip({ kind: 'request', method: 'NOTIFY', uri: 'sip:a@b', version: 'SIP/2.0', headers: [], body }));
    assert.equal(header(m, 'content-length'), String(body.length));
    assert.equal(m.body.toString(), 'http://h/é/');
  });

  test('decode(encode(m)) gives m back for generated messages', () => {
    const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9\-.!%*_+`'~]{0,15}$/);
    const value = fc.stringMatching(/^[!-~]([ -~]{0,40}[!-~])?$/);
    const msg = fc.record({
      method: token,
      uri: fc.stringMatching(/^sip:[a-z0-9]{1,10}@[a-z0-9.]{1,20}$/),
      headers: fc.array(fc.record({ name: token.filter((n) => headerKey(n) !== 'content-length'), value }), { maxLength: 20 }),
      body: fc.uint8Array({ maxLength: 200 }),
    });
    fc.assert(
      fc.property(msg, (r) => {
        const headers = r.headers.map((h) => ({ name: h.name, value: h.value }));
        const m: SipMessage = { kind: 'request', method: r.method, uri: r.uri, version: 'SIP/2.0', headers, body: Buffer.from(r.body) };
        const d = mustRequest(encodeSip(m));
        assert.equal(d.method, m.method);
        assert.equal(d.uri, m.uri);
        assert.deepEqual(d.headers.slice(0, -1), m.headers);
        assert.deepEqual(d.body, m.body);
      }),
      { numRuns: 200 },
    );
  });
});

describe('SIP codec: garbage and bounds', () => {
  const valid = 'OPTIONS sip:x@h SIP/2.0\r\nCall-ID: a\r\n';
  const table: [string, Buffer, SipDecodeErrorCode][] = [
    ['no bytes', Buffer.alloc(0), 'empty'],
    ['CRLF keep-alive', Buffer.from('\r\n\r\n'), 'empty'],
    ['over maxBytes', Buffer.alloc(DEFAULT_LIMITS.maxBytes + 1, 0x41), 'too-long'],
    ['NUL in the head', Buffer.from('OPTIONS sip:x@h SIP/2.0\r\nCall-ID: a\x00b\r\n\r\n'), 'bad-char'],
    ['binary junk', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x0a, 0x0a]), 'bad-char'],
    ['no empty line', Buffer.from(valid), 'no-header-end'],
    ['HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'bad-start-line'],
    ['two words', Buffer.from('OPTIONS sip:x@h\r\n\r\n'), 'bad-start-line'],
    ['method not a token', Buffer.from('OPT(ONS sip:x@h SIP/2.0\r\n\r\n'), 'bad-start-line'],
    ['URI without scheme', Buffer.from('OPTIONS x@h SIP/2.0\r\n\r\n'), 'bad-start-line'],
    ['SIP/3.0 request', Buffer.from('OPTIONS sip:x@h SIP/3.0\r\n\r\n'), 'bad-version'],
    ['SIP/1.0 response', Buffer.from('SIP/1.0 200 OK\r\n\r\n'), 'bad-version'],
    ['status 999', Buffer.from('SIP/2.0 999 Huh\r\n\r\n'), 'bad-status'],
    ['status 20', Buffer.from('SIP/2.0 20 OK\r\n\r\n'), 'bad-status'],
    ['header without colon', Buffer.from(`${valid}Nonsense\r\n\r\n`), 'bad-header'],
    ['header name with space', Buffer.from(`${valid}Bad Name: x\r\n\r\n`), 'bad-header'],
    ['empty header name', Buffer.from(`${valid}: x\r\n\r\n`), 'bad-header'],
    ['Content-Length not a number', Buffer.from(`${valid}Content-Length: -1\r\n\r\n`), 'bad-content-length'],
    ['Content-Length huge', Buffer.from(`${valid}Content-Length: 99999999999\r\n\r\n`), 'bad-content-length'],
    ['two Content-Lengths', Buffer.from(`${valid}Content-Length: 1\r\nl: 2\r\n\r\nab`), 'bad-content-length'],
    ['body shorter than Content-Length', Buffer.from(`${valid}Content-Length: 10\r\n\r\nabc`), 'truncated-body'],
    ['too many headers', Buffer.from(`${valid}${'X-A: 1\r\n'.repeat(DEFAULT_LIMITS.maxHeaders)}\r\n`), 'too-many-headers'],
    ['header line too long', Buffer.from(`${valid}X-Long: ${'a'.repeat(DEFAULT_LIMITS.maxLineBytes)}\r\n\r\n`), 'line-too-long'],
    ['folded header too long', Buffer.from(`${valid}X-Long: a\r\n${` ${'b'.repeat(500)}\r\n`.repeat(5)}\r\n`), 'line-too-long'],
    ['start line too long', Buffer.from(`OPTIONS sip:${'x'.repeat(DEFAULT_LIMITS.maxLineBytes)}@h SIP/2.0\r\n\r\n`), 'line-too-long'],
  ];
  for (const [name, buf, code] of table) {
    test(`${name} → ${code}`, () => {
      const r = decodeSip(buf);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, code, r.error.detail);
    });
  }

  test('extra bytes after Content-Length are discarded (RFC 3261 §18.3); no Content-Length = to the end', () => {
    const a = mustDecode(`${valid}Content-Length: 3\r\n\r\nabcdef`);
    assert.equal(a.body.toString(), 'abc');
    const b = mustDecode(`${valid}\r\nabcdef`);
    assert.equal(b.body.toString(), 'abcdef');
  });

  test('leading CRLFs are skipped (RFC 3261 §7.5)', () => {
    assert.equal(mustRequest(`\r\n\r\n${valid}\r\n`).method, 'OPTIONS');
  });

  test('limits are the caller\'s', () => {
    const r = decodeSip(Buffer.from(`${valid}X: 1\r\n\r\n`), { maxBytes: 1000, maxHeaders: 1, maxLineBytes: 100 });
    assert.equal(r.ok ? 'ok' : r.error.code, 'too-many-headers');
  });

  test('random bytes and mutated SUBSCRIBEs never throw', () => {
    const seeds = VENDOR_SHAPES.map((p) => subscribe(p));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), fc.nat(seeds.length - 1), fc.nat(2000), fc.uint8Array({ minLength: 1, maxLength: 8 }), (junk, si, at, patch) => {
        const r1 = decodeSip(Buffer.from(junk));
        assert.equal(typeof r1.ok, 'boolean');
        const s = Buffer.from(seeds[si] as Buffer);
        Buffer.from(patch).copy(s, Math.min(at, s.length - 1));
        const r2 = decodeSip(s);
        assert.equal(typeof r2.ok, 'boolean');
        if (r2.ok) {
          // what decodes re-encodes and decodes to the same message
          const again = decodeSip(encodeSip(r2.message));
          assert.ok(again.ok);
        }
        // helpers never throw on what was decoded
        if (r2.ok) {
          topVia(r2.message);
          parseNameAddr(header(r2.message, 'from') ?? '');
          parseSipUri(r2.message.kind === 'request' ? r2.message.uri : '');
          if (r2.message.kind === 'request') missingHeaders(r2.message);
        }
      }),
      { numRuns: 500 },
    );
  });
});
