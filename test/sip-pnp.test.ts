/**
 * sip-pnp.test.ts: the PnP responder's pure parts as tables: the MAC in every §2.1 encoding
 * (src/sip/pnp.ts macFromUser/macOf), classify() for each vendor's SUBSCRIBE and for what is not
 * one (multicast never answered with an error, unicast answered), the 200 OK and NOTIFY shapes
 * (§2.2/§2.3), and PhoneService.pnpTarget (src/phones/pnp.ts) on a SQLite store with the shipped
 * profiles: autoprovision modes, allow-lists, keyed and unkeyed tenants, each vendor's URL shape.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSip, encodeSip, header, parseHeaderParams, parseNameAddr, parseVia, type SipMessage, type SipRequest } from '../src/sip/codec';
import { classify, macFromUser, macOf, pnpNotify, pnpOk, hintsOf, type Classified, type PnpSubscribe } from '../src/sip/pnp';
import { openSqliteStore } from '../src/store/sqlite';
import { parseConfigText } from '../src/config/load';
import { loadPhonesDomain } from '../src/phones/domain';
import { PhoneService, syncDeclared } from '../src/phones/service';
import { parseCidr, type Cidr } from '../src/net/ipv4';
import type { Config } from '../src/config/schema';
import { VENDOR_SHAPES, subscribe } from './helpers/sip-phones';

function decoded(b: Buffer | string): SipMessage {
  const r = decodeSip(typeof b === 'string' ? Buffer.from(b) : b);
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.detail}`);
  return r.message;
}

const SRC = { address: '192.0.2.50', port: 5060 };
const LOCAL = { address: '192.0.2.10', port: 40123 };

function subOf(c: Classified): PnpSubscribe {
  if (c.kind !== 'subscribe') assert.fail(`expected a subscribe, got ${c.kind}${c.kind === 'drop' ? ` (${c.reason})` : ''}`);
  return c.sub;
}

describe('PnP: the MAC in the user part (§2.1)', () => {
  const table: [string | undefined, string | undefined][] = [
    ['MAC%3a00135E874B49', '00:13:5e:87:4b:49'],
    ['MAC%3AC074AD0B63EE', 'c0:74:ad:0b:63:ee'],
    ['MAC:805ec0112233', '80:5e:c0:11:22:33'],
    ['MAC0c383e07e16c', '0c:38:3e:07:e1:6c'],
    ['MAC=00304fa99948', '00:30:4f:a9:99:48'],
    ['mac%3a00-13-5E-87-4B-49', '00:13:5e:87:4b:49'],
    ['MAC%3a00:13:5E:87:4B:49', '00:13:5e:87:4b:49'],
    ['0004f2211c8b', '00:04:f2:21:1c:8b'],
    ['00000001', undefined], // AudioCodes: no MAC
    ['MAC%3a000000000000', undefined],
    ['MAC%3a01005e000001', undefined], // a multicast MAC
    ['MAC%3a00135E874B4', undefined],
    ['MAC%3a00135E874B499', undefined],
    ['MAC%3g00135E874B49', undefined],
    ['MACX00135E874B49', undefined],
    ['alice', undefined],
    ['', undefined],
    [undefined, undefined],
    ['M'.repeat(100), undefined],
  ];
  for (const [user, want] of table) test(`${JSON.stringify(user)} → ${want ?? 'none'}`, () => assert.equal(macFromUser(user), want));

  test('each vendor shape: the MAC comes from the Request-URI, else From (AudioCodes: none)', () => {
    for (const p of VENDOR_SHAPES) {
      const want = p.mac === undefined ? undefined : p.mac.replace(/(..)(?!$)/g, '$1:');
      assert.equal(macOf(decoded(subscribe(p)) as SipRequest), want, p.vendor);
    }
    const fromOnly = subscribe(VENDOR_SHAPES[0]!).toString().replace('SUBSCRIBE sip:MAC%3AC074AD0B63EE@224.0.1.75', 'SUBSCRIBE sip:224.0.1.75');
    assert.equal(macOf(decoded(fromOnly) as SipRequest), 'c0:74:ad:0b:63:ee');
  });

  test('Event parameters are hints', () => {
    assert.deepEqual(hintsOf('ua-profile;profile-type="device";vendor="OEM";model="OEM";version="7.1.19"'), { vendor: 'OEM', model: 'OEM', version: '7.1.19', profileType: 'device' });
    assert.deepEqual(hintsOf('ua-profile'), { vendor: undefined, model: undefined, version: undefined, profileType: undefined });
  });
});

describe('PnP: classify', () => {
  for (const p of VENDOR_SHAPES.filter((v) => v.mac !== undefined)) {
    test(`${p.vendor}: a ua-profile SUBSCRIBE becomes a question, by multicast and by unicast`, () => {
      for (const multicast of [true, false]) {
        const sub = subOf(classify(decoded(subscribe(p)), { address: '192.0.2.50', port: p.port }, multicast, 'pd-t'));
        assert.equal(sub.mac, p.mac?.replace(/(..)(?!$)/g, '$1:'));
        assert.equal(sub.cseq, 20000);
        assert.equal(sub.fromTag, '4411');
        assert.equal(sub.callId, `7001-${p.port}-1@192.0.2.50`);
        assert.equal(sub.via.port, p.port);
        assert.equal(sub.userAgent, p.userAgent);
      }
    });
  }

  test('AudioCodes (no MAC in any user part) is dropped, counted ignored:no-mac', () => {
    const ac = VENDOR_SHAPES.find((v) => v.vendor === 'audiocodes')!;
    const c = classify(decoded(subscribe(ac)), SRC, true, 'pd-t');
    assert.equal(c.kind === 'drop' ? c.reason : c.kind, 'ignored:no-mac');
  });

  const base = (method: string, extra: string, cseqMethod = method): string =>
    [`${method} sip:MAC%3a000413874B49@224.0.1.75 SIP/2.0`, 'Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKx;rport', 'From: <sip:a@192.0.2.50>;tag=1', 'To: <sip:b@224.0.1.75>', 'Call-ID: c1', `CSeq: 7 ${cseqMethod}`, extra, 'Content-Length: 0', '', ''].filter((l, i, a) => l !== '' || i >= a.length - 2).join('\r\n');

  // [name, datagram, multicast verdict, unicast verdict (reply status or drop reason)]
  const table: [string, string, string, string][] = [
    ['OPTIONS', base('OPTIONS', 'Accept: application/sdp'), 'drop:answered:OPTIONS', 'reply:200:answered:OPTIONS'],
    ['INVITE', base('INVITE', 'Contact: <sip:a@192.0.2.50>'), 'drop:ignored:method', 'reply:405:ignored:method'],
    ['REGISTER', base('REGISTER', 'Contact: <sip:a@192.0.2.50>'), 'drop:ignored:method', 'reply:405:ignored:method'],
    ['NOTIFY to us', base('NOTIFY', 'Event: ua-profile'), 'drop:refused:NOTIFY', 'reply:481:refused:NOTIFY'],
    ['ACK', base('ACK', 'Max-Forwards: 70'), 'drop:ignored:ACK', 'drop:ignored:ACK'],
    ['SUBSCRIBE to another event', base('SUBSCRIBE', 'Event: presence'), 'drop:ignored:event', 'reply:489:ignored:event'],
    ['SUBSCRIBE without Event', base('SUBSCRIBE', 'Expires: 0'), 'drop:ignored:event', 'reply:489:ignored:event'],
    ['SUBSCRIBE over TCP', base('SUBSCRIBE', 'Event: ua-profile').replace('SIP/2.0/UDP', 'SIP/2.0/TCP'), 'drop:ignored:transport', 'drop:ignored:transport'],
    ['CSeq method differs', base('SUBSCRIBE', 'Event: ua-profile', 'INVITE'), 'drop:malformed:cseq-method', 'drop:malformed:cseq-method'],
    ['no Call-ID', base('SUBSCRIBE', 'Event: ua-profile').replace('Call-ID: c1\r\n', ''), 'drop:malformed:missing-header', 'drop:malformed:missing-header'],
    ['ua-profile SUBSCRIBE', base('SUBSCRIBE', 'Event: ua-profile;vendor="OEM"'), 'subscribe', 'subscribe'],
    ['event name in another case', base('SUBSCRIBE', 'o: UA-Profile'), 'subscribe', 'subscribe'],
  ];
  const verdict = (c: Classified): string =>
    c.kind === 'drop' ? `drop:${c.reason}` : c.kind === 'reply' ? `reply:${c.response.status}:${c.reason}` : c.kind;
  for (const [name, text, mc, uc] of table) {
    test(`${name}: multicast → ${mc}; unicast → ${uc}`, () => {
      assert.equal(verdict(classify(decoded(text), SRC, true, 'pd-t')), mc);
      const u = classify(decoded(text), SRC, false, 'pd-t');
      assert.equal(verdict(u), uc);
      if (u.kind === 'reply') {
        // RFC 3261 §8.2.6: Via/From/Call-ID/CSeq echoed, a To-tag added, sent where rport says.
        assert.deepEqual(u.to, SRC);
        assert.equal(parseNameAddr(header(u.response, 'to') ?? '')?.params.get('tag'), 'pd-t');
        assert.equal(header(u.response, 'call-id'), 'c1');
        assert.equal(parseVia(header(u.response, 'via') ?? '')?.rport, 5060);
      }
    });
  }

  test('a response is handed over with its branch for NOTIFY matching', () => {
    const c = classify(decoded('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:40123;branch=z9hG4bK-pd-1\r\nCall-ID: c\r\nCSeq: 1 NOTIFY\r\n\r\n'), SRC, false, 'x');
    assert.equal(c.kind, 'response');
    if (c.kind === 'response') assert.equal(c.branch, 'z9hG4bK-pd-1');
  });
});

describe('PnP: the 200 OK and the NOTIFY (§2.2, §2.3)', () => {
  const gs = VENDOR_SHAPES.find((v) => v.vendor === 'grandstream')!;
  const src = { address: '192.0.2.50', port: 5080 };
  const sub = subOf(classify(decoded(subscribe(gs)), src, true, 'x'));

  test('200 OK: Via stamped (rport=5080;received), From/Call-ID/CSeq echoed, To-tag, Contact, Expires 0', () => {
    const ok = decoded(encodeSip(pnpOk(sub, src, 'pd-8c1e', LOCAL)));
    assert.equal(ok.kind, 'response');
    if (ok.kind !== 'response') return;
    assert.equal(ok.status, 200);
    assert.equal(header(ok, 'via'), 'SIP/2.0/UDP 192.0.2.50:5080;branch=z9hG4bK7001;rport=5080;received=192.0.2.50');
    assert.equal(header(ok, 'from'), '<sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=4411');
    assert.equal(header(ok, 'to'), '<sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=pd-8c1e');
    assert.equal(header(ok, 'call-id'), '7001-5080-1@192.0.2.50');
    assert.equal(header(ok, 'cseq'), '20000 SUBSCRIBE');
    assert.equal(header(ok, 'contact'), '<sip:192.0.2.10:40123>');
    assert.equal(header(ok, 'expires'), '0');
  });

  test('NOTIFY: dialog form, Event echoed, terminated;reason=timeout, application/url, the URL as body', () => {
    const url = 'http://192.0.2.10:8667/k7Qd2fX9aB31/';
    const n = decoded(encodeSip(pnpNotify(sub, src, url, { toTag: 'pd-8c1e', branch: 'z9hG4bK-pd-51a7' }, LOCAL)));
    assert.equal(n.kind, 'request');
    if (n.kind !== 'request') return;
    assert.equal(n.method, 'NOTIFY');
    assert.equal(n.uri, 'sip:192.0.2.50:5080'); // the SUBSCRIBE's Contact
    assert.equal(header(n, 'via'), 'SIP/2.0/UDP 192.0.2.10:40123;branch=z9hG4bK-pd-51a7;rport');
    assert.equal(header(n, 'from'), '<sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=pd-8c1e');
    assert.equal(header(n, 'to'), '<sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=4411');
    assert.equal(header(n, 'call-id'), '7001-5080-1@192.0.2.50');
    assert.equal(header(n, 'cseq'), '1 NOTIFY');
    assert.equal(header(n, 'event'), gs.event);
    const ss = parseHeaderParams(header(n, 'subscription-state') ?? '');
    assert.equal(ss.value, 'terminated');
    assert.equal(ss.params.get('reason'), 'timeout');
    assert.equal(header(n, 'content-type'), 'application/url');
    assert.equal(header(n, 'content-length'), String(Buffer.byteLength(url)));
    assert.equal(n.body.toString(), url);
  });

  test('NOTIFY in the copy form (sip.notifyForm: copy): From and To unchanged from the SUBSCRIBE', () => {
    const n = pnpNotify(sub, src, 'http://h/', { toTag: 'pd-8c1e', branch: 'b', form: 'copy' }, LOCAL);
    assert.equal(header(n, 'from'), '<sip:MAC%3AC074AD0B63EE@224.0.1.75>;tag=4411');
    assert.equal(header(n, 'to'), '<sip:MAC%3AC074AD0B63EE@224.0.1.75>');
  });

  test('NOTIFY without a usable Contact goes to sip:<source>', () => {
    const text = subscribe(gs).toString().replace('Contact: <sip:192.0.2.50:5080>', 'Contact: *');
    const s2 = subOf(classify(decoded(text), src, true, 'x'));
    const n = pnpNotify(s2, src, 'http://h/', { toTag: 't', branch: 'b' }, LOCAL);
    assert.equal(n.uri, 'sip:192.0.2.50:5080');
  });
});

// ---------------------------------------------------------------------------------------------

const TMP = mkdtempSync(join(tmpdir(), 'provd-pnp-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const KEY = 'Kx7dQ2fX9aB31mN0pQ4rS8tU';
const BASE = 'http://192.0.2.10:8667/';

function config(autoprovision: string, extra = ''): Config {
  return parseConfigText(
    `
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
    keyed.example:
      auth: url_key
      urlKey: ${KEY}
      allowFrom: [10.1.0.0/16]
    nokey.example:
      auth: url_key
phones:
  enabled: true
  autoprovision: ${autoprovision}
  devices:
    - { mac: "00:15:65:4a:a9:37", profile: yealink, model: T46S }
    - { mac: "00:04:13:92:2d:24", profile: snom, model: D785 }
    - { mac: "7c:2f:80:e0:d6:05", profile: gigaset, tenant: keyed.example }
    - { mac: "0c:38:3e:00:00:01", profile: fanvil, tenant: nokey.example }
${extra}`,
    'test.yaml',
    { skipPhoneProfiles: true },
  );
}

let n = 0;
function service(cfg: Config): { svc: PhoneService; close: () => void } {
  const store = openSqliteStore(join(TMP, `s${n++}`));
  syncDeclared(store.phones, cfg.phones, cfg.provisioning.defaultDomain, '2026-11-27T10:00:00Z');
  const svc = new PhoneService(cfg, { phones: store.phones, users: store.sync?.users, keys: store.sync?.keys, domain: loadPhonesDomain(cfg.phones) });
  return { svc, close: () => store.close() };
}

const cidrs = (...c: string[]): Cidr[] => c.map((s) => {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.error);
  return r.value;
});

describe('PhoneService.pnpTarget: who gets a NOTIFY, with which URL', () => {
  // [name, autoprovision, mac, ip, vendorHint, sip.allowFrom, want: URL or refusal]
  const table: [string, string, string, string, string | undefined, string[], string][] = [
    ['known Yealink: a folder URL (its boot sequence starts there)', 'off', '00:15:65:4a:a9:37', '192.0.2.50', undefined, [], `${BASE}`],
    ['known Snom with its model: snom<model>-<MAC>.htm', 'off', '00:04:13:92:2d:24', '192.0.2.50', 'OEM', [], `${BASE}snomD785-000413922D24.htm`],
    ['known Gigaset of a keyed tenant: the key first, <MAC>.xml', 'off', '7c:2f:80:e0:d6:05', '10.1.2.3', 'OEM', [], `${BASE}${KEY}/7C2F80E0D605.xml`],
    ['known Gigaset outside its tenant\'s allowFrom', 'off', '7c:2f:80:e0:d6:05', '192.0.2.50', 'OEM', [], 'tenant-not-allowed'],
    ['known phone of a keyed tenant without urlKey', 'off', '0c:38:3e:00:00:01', '192.0.2.50', undefined, [], 'no-url-key'],
    ['unknown MAC, autoprovision off', 'off', 'c0:74:ad:0b:63:ee', '192.0.2.50', 'Grandstream', [], 'unknown-device'],
    ['unknown MAC, autoprovision known', 'known', 'c0:74:ad:0b:63:ee', '192.0.2.50', 'Grandstream', [], 'unknown-device'],
    ['unknown Grandstream by OUI: a folder ending in /', 'oui', 'c0:74:ad:0b:63:ee', '192.0.2.50', 'Grandstream', [], `${BASE}`],
    ['unknown Snom by OUI, no model: <MAC>.xml', 'oui', '00:04:13:87:4b:49', '192.0.2.50', 'OEM', [], `${BASE}000413874B49.xml`],
    ['unknown Fanvil by OUI: <mac>.cfg', 'oui', '0c:38:3e:07:e1:6c', '192.0.2.50', 'Fanvil', [], `${BASE}0c383e07e16c.cfg`],
    ['unknown OUI under oui (the hint is not identity)', 'oui', '00:13:5e:87:4b:49', '192.0.2.50', 'snom', [], 'unknown-vendor'],
    ['unknown OUI under all: the hint names a profile', 'all', '00:13:5e:87:4b:49', '192.0.2.50', 'Snom', [], `${BASE}00135E874B49.xml`],
    ['unknown OUI under all: OEM names nothing', 'all', '00:13:5e:87:4b:49', '192.0.2.50', 'OEM', [], 'unknown-vendor'],
    ['source outside sip.allowFrom, even a known phone', 'off', '00:15:65:4a:a9:37', '198.51.100.9', undefined, ['192.0.2.0/24'], 'not-allowed'],
    ['source inside sip.allowFrom', 'oui', 'c0:74:ad:0b:63:ee', '192.0.2.50', undefined, ['192.0.2.0/24'], `${BASE}`],
  ];
  for (const [name, mode, mac, ip, hint, allow, want] of table) {
    test(`${name} → ${want}`, () => {
      const { svc, close } = service(config(mode));
      try {
        const d = svc.pnpTarget({ mac, ip, vendorHint: hint, baseUrl: BASE }, { allowFrom: cidrs(...allow) });
        assert.equal(d.ok ? d.url : d.reason, want);
      } finally {
        close();
      }
    });
  }

  test('sip.tenant answers unknown phones with that tenant\'s key', () => {
    const { svc, close } = service(config('oui'));
    try {
      const d = svc.pnpTarget({ mac: 'c0:74:ad:0b:63:ee', ip: '10.1.9.9', baseUrl: 'https://prov.example:8443' }, { tenant: 'keyed.example', allowFrom: [] });
      assert.equal(d.ok ? d.url : d.reason, `https://prov.example:8443/${KEY}/`);
      const n2 = svc.pnpTarget({ mac: 'c0:74:ad:0b:63:ee', ip: '10.1.9.9', baseUrl: BASE }, { tenant: 'nokey.example', allowFrom: [] });
      assert.equal(n2.ok ? n2.url : n2.reason, 'no-url-key');
    } finally {
      close();
    }
  });

  test('a phone recorded by the store (not declared) is answered with its own profile', () => {
    const cfg = config('off');
    const { svc, close } = service(cfg);
    try {
      const store = openSqliteStore(join(TMP, `s${n - 1}`));
      store.phones.add({ mac: 'ec:74:d7:00:00:01', tenant: 'lab.example', profile: 'grandstream', model: 'GRP2614' }, '2026-11-27T10:00:00Z');
      store.close();
      const d = svc.pnpTarget({ mac: 'ec:74:d7:00:00:01', ip: '192.0.2.60', baseUrl: BASE }, { allowFrom: [] });
      assert.equal(d.ok ? `${d.vendor} ${d.url} ${d.known}` : d.reason, `grandstream ${BASE} true`);
    } finally {
      close();
    }
  });
});

describe('§2.6: the first file served writes the provisioning URL back', () => {
  const cfg = parseConfigText(
    `
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example: { auth: url_key, urlKey: ${KEY} }
phones:
  enabled: true
  configs:
    - { id: site, role: default, raw: { sip_proxy_ip: 192.0.2.10 } }
  devices:
    - { mac: "c0:74:ad:0b:63:ee", profile: grandstream, model: GRP2614 }
    - { mac: "00:04:13:92:2d:24", profile: snom, model: D785 }
    - { mac: "00:15:65:4a:a9:37", profile: yealink, model: T46S }
`,
    'test.yaml',
    { skipPhoneProfiles: true },
  );
  const table: [string, string, string, string, string[]][] = [
    ['grandstream over HTTPS', 'c0:74:ad:0b:63:ee', 'cfgc074ad0b63ee.xml', 'https://prov.example:8443/', [`<P237>prov.example:8443/${KEY}</P237>`, '<P212>2</P212>']],
    ['grandstream over HTTP', 'c0:74:ad:0b:63:ee', 'cfgc074ad0b63ee.xml', 'http://192.0.2.10:8667/', [`<P237>192.0.2.10:8667/${KEY}</P237>`, '<P212>1</P212>']],
    ["snom: this device's own file", '00:04:13:92:2d:24', '000413922D24.xml', 'http://192.0.2.10:8667/', [`<setting_server perm="">http://192.0.2.10:8667/${KEY}/000413922D24.xml</setting_server>`]],
    ['yealink', '00:15:65:4a:a9:37', '0015654aa937.cfg', 'http://192.0.2.10:8667/', [`static.auto_provision.server.url = http://192.0.2.10:8667/${KEY}/`]],
  ];
  for (const [name, mac, file, base, want] of table) {
    test(name, () => {
      const { svc, close } = service(cfg);
      try {
        const r = svc.renderDevice(mac, { baseUrl: base, key: KEY, file });
        assert.equal(r.answer.status, 200);
        const body = String(r.answer.body);
        for (const w of want) assert.ok(body.includes(w), `${r.file} holds ${w}:\n${body}`);
      } finally {
        close();
      }
    });
  }
});
