import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createSocket, Socket } from 'node:dgram';
import { once } from 'node:events';
import fc from 'fast-check';
import { configProblems } from './helpers/config';
import { deriveTxt, assembleClientUrl, serviceTypeFor, type Origin } from '../src/mdns/txt';
import { planAdvertisement, hostLabel, clientUrlOn, txtGroups, groupingKey, type Advertisement } from '../src/mdns/plan';
import { decodeDns, encodeQuery } from '../src/mdns/wire';
import { observe, isConflict, activeNodeIn } from '../src/mdns/conflict';
import { avahiServiceXml, xmlEscape } from '../src/mdns/avahi';
import { txtRecord, ciaoAdvertiser, type Advertiser, type AdvertiserFactory, type Publication, type PublishHandlers } from '../src/mdns/advertiser';
import { MdnsFace } from '../src/mdns/server';
import { eligible, allUnique, installImmediateAnswers, type QueryView, type ImmediateStats } from '../src/mdns/immediate';
import { installPerLinkTxt, fromAnotherLink } from '../src/mdns/perlink';
import type { Responder } from '@homebridge/ciao';
import { DNSPacket, QType } from '@homebridge/ciao/lib/coder/DNSPacket';
import { Question } from '@homebridge/ciao/lib/coder/Question';
import { SRVRecord } from '@homebridge/ciao/lib/coder/records/SRVRecord';
import { TXTRecord } from '@homebridge/ciao/lib/coder/records/TXTRecord';
import { PTRRecord } from '@homebridge/ciao/lib/coder/records/PTRRecord';
import { ARecord } from '@homebridge/ciao/lib/coder/records/ARecord';
import { QueryResponse } from '@homebridge/ciao/lib/responder/QueryResponse';
import type { EndpointInfo } from '@homebridge/ciao/lib/MDNSServer';
import { buildUrlPlan, selectUrl } from '../src/urls/plan';
import { parseConfigText } from '../src/config/load';
import { ProvError } from '../src/errors';
import type { HostInterface } from '../src/net/interfaces';
import { captureLog } from './helpers/log';
import { runCli } from './helpers/daemon';

const ORIGIN: Origin = { scheme: 'http', host: '192.168.1.10', port: 8667 };
const DEFAULT = 'http://192.168.1.10:8667/jitsi?username=${username}&password=${password}&uuid=${uuid}&hwaddr=${hwaddr}&osname=${osname}&build=${build}';

function iface(name: string, ip: string, prefix = 24): HostInterface {
  const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
  const address = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (address & mask) >>> 0;
  return { name, address, internal: name === 'lo', cidr: { network: `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}.${base & 255}`, prefix, base, mask } };
}
const HOST = [iface('lo', '127.0.0.1', 8), iface('eth0', '192.168.1.10'), iface('eth1', '10.20.0.1', 16)];

const problems = configProblems;

describe('TXT derivation (jitsi-client-contract.md §3.2)', () => {
  test('the default URL becomes path + one string per parameter, in order', () => {
    const r = deriveTxt(DEFAULT, ORIGIN);
    assert.ok(r.ok);
    assert.deepEqual(r.txt, ['path=/jitsi', 'username=${username}', 'password=${password}', 'uuid=${uuid}', 'hwaddr=${hwaddr}', 'osname=${osname}', 'build=${build}']);
    assert.equal(assembleClientUrl(ORIGIN, r.txt), DEFAULT);
  });

  test('a URL the client cannot rebuild from IP and port keeps everything before the ? in path', () => {
    for (const url of ['http://192.168.1.10/jitsi?a=1', 'https://192.168.1.10:8667/jitsi?a=1', 'http://prov.example:8667/jitsi?a=1', 'http://192.168.1.10:8667?a=1']) {
      const r = deriveTxt(url, ORIGIN);
      assert.ok(r.ok, url);
      assert.equal(r.txt[0], `path=${url.slice(0, url.indexOf('?'))}`);
      assert.equal(assembleClientUrl(ORIGIN, r.txt), url);
    }
  });

  test('without an origin (mdns.url) the absolute URL goes into path whole', () => {
    const r = deriveTxt('https://prov.example.com/jitsi?u=${username}');
    assert.ok(r.ok);
    assert.deepEqual(r.txt, ['path=https://prov.example.com/jitsi', 'u=${username}']);
  });

  test('never a ? in path, never an empty string', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/), fc.stringMatching(/^[A-Za-z0-9${}?=.:/-]{0,20}$/)), { maxLength: 8 }),
        fc.stringMatching(/^(\/[a-z0-9._-]{1,10}){0,3}$/),
        (pairs, path) => {
          const keys = new Set<string>();
          const q = pairs.filter(([k]) => k !== 'path' && !keys.has(k) && keys.add(k)).map(([k, v]) => `${k}=${v}`);
          const url = `http://192.168.1.10:8667${path}${q.length ? `?${q.join('&')}` : ''}`;
          const r = deriveTxt(url, ORIGIN);
          assert.ok(r.ok, `${url}: ${r.ok ? '' : r.error}`);
          assert.ok(!(r.txt[0] ?? '').includes('?'));
          assert.ok(r.txt.every((s) => s.length > 0));
          // With a query the client rebuilds the URL exactly; without one it appends a bare '?'.
          assert.equal(assembleClientUrl(ORIGIN, r.txt), q.length ? url : `${url}?`);
        },
      ),
      { numRuns: 300 },
    );
  });

  const bad: [string, RegExp][] = [
    ['http://h/p?a=1&&b=2', /empty/],
    ['http://h/p?a=1&', /empty/],
    ['http://h/p?flag', /no '='/],
    ['http://h/p?=v', /empty key/],
    ['http://h/p?a=1&A=2', /repeats the key 'A'/],
    ['http://h/p?path=x', /named 'path'/],
    ['http://h/p?1=x', /all-digit key/],
    ['http://h/p#frag', /fragment/],
    [`http://h/p?a=${'x'.repeat(260)}`, /at most 255/],
    [`http://h/p?${Array.from({ length: 7 }, (_, i) => `k${i}=${'v'.repeat(200)}`).join('&')}`, /1300/],
  ];
  for (const [url, re] of bad) {
    test(`rejects ${url.slice(0, 40)}`, () => {
      const r = deriveTxt(url);
      assert.ok(!r.ok);
      assert.match(r.error, re);
    });
  }

  test('the type follows TLS unless mdns.type says otherwise', () => {
    assert.equal(serviceTypeFor(undefined, false), '_http._tcp');
    assert.equal(serviceTypeFor(undefined, true), '_https._tcp');
    assert.equal(serviceTypeFor('_http._tcp', true), '_http._tcp');
  });

  test('txtRecord keeps TXT order for the advertiser', () => {
    assert.deepEqual(Object.entries(txtRecord(['path=/x', 'b=2', 'a=1=1'])), [
      ['path', '/x'],
      ['b', '2'],
      ['a', '1=1'],
    ]);
  });
});

describe('advertisement plan', () => {
  const cfg = (yaml: string) => parseConfigText(yaml, 'c.yaml');

  test('defaults: the DHCP face interfaces, its URL on each, the system host name, _http._tcp', () => {
    const c = cfg('dhcp:\n  interfaces: [eth0]\n');
    const r = planAdvertisement(c, HOST, 'box.example.org');
    assert.ok(r.ok);
    assert.equal(r.ad.instance, 'Provisioning URL');
    assert.equal(r.ad.type, '_http._tcp');
    assert.equal(r.ad.port, 8667);
    assert.equal(r.ad.hostname, 'box');
    assert.deepEqual(r.ad.interfaces.map((i) => i.name), ['eth0']);
    const dhcpUrl = selectUrl(buildUrlPlan(c), 0, 0, { name: 'eth0', address: (HOST[1] as HostInterface).address, cidr: (HOST[1] as HostInterface).cidr }).toString();
    assert.equal(clientUrlOn(r.ad, r.ad.interfaces[0] as Advertisement['interfaces'][0]), dhcpUrl);
  });

  test('with http.tls the type is _https._tcp and the client assembles the DHCP face\'s https URL', () => {
    const c = cfg('dhcp:\n  interfaces: [eth0]\nhttp:\n  tls: {cert: /etc/p/cert.pem, key: /etc/p/key.pem}\n');
    const r = planAdvertisement(c, HOST, 'box');
    assert.ok(r.ok);
    assert.equal(r.ad.type, '_https._tcp');
    const eth0 = HOST[1] as HostInterface;
    const dhcpUrl = selectUrl(buildUrlPlan(c), 0, 0, { name: 'eth0', address: eth0.address, cidr: eth0.cidr }).toString();
    assert.match(dhcpUrl, /^https:\/\/192\.168\.1\.10:8667\/jitsi\?/);
    assert.equal(clientUrlOn(r.ad, r.ad.interfaces[0] as Advertisement['interfaces'][0]), dhcpUrl);
    assert.equal(r.ad.txt[0], 'path=/jitsi', 'scheme, address and port come from the type, A and SRV records');
  });

  test('empty dhcp.interfaces means every non-loopback interface, as for the DHCP face', () => {
    const r = planAdvertisement(cfg(''), HOST, 'box');
    assert.ok(r.ok);
    assert.deepEqual(r.ad.interfaces.map((i) => `${i.name}=${i.ipv4}`), ['eth0=192.168.1.10', 'eth1=10.20.0.1']);
    assert.deepEqual(r.ad.txt.slice(0, 2), ['path=/jitsi', 'username=${username}']);
  });

  test('mdns.interfaces overrides; a missing interface is PROVD_ERR_MDNS_INTERFACE', () => {
    const r = planAdvertisement(cfg('dhcp:\n  interfaces: [eth0]\nmdns:\n  interfaces: [eth1]\n'), HOST, 'box');
    assert.ok(r.ok);
    assert.deepEqual(r.ad.interfaces.map((i) => i.name), ['eth1']);
    const bad = planAdvertisement(cfg('mdns:\n  interfaces: [eth7]\n'), HOST, 'box');
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'PROVD_ERR_MDNS_INTERFACE');
    assert.match(bad.error.message, /eth7/);
  });

  test('different URLs on two advertised links: each link advertises its own (mDNS is link-local); mdns.url makes one', () => {
    const yaml = 'dhcp:\n  networks:\n    - { subnet: 10.20.0.0/16, url: "http://10.20.0.1:8667/a?x=1" }\n    - { subnet: 192.168.1.0/24, url: "http://192.168.1.10:8667/b?x=1" }\n';
    const r = planAdvertisement(cfg(yaml), HOST, 'box');
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const byName = Object.fromEntries(r.ad.interfaces.map((i) => [i.name, clientUrlOn(r.ad, i)]));
    assert.deepEqual(byName, { eth0: 'http://192.168.1.10:8667/b?x=1', eth1: 'http://10.20.0.1:8667/a?x=1' });
    assert.equal(txtGroups(r.ad).length, 2);
    assert.notEqual(groupingKey(r.ad), r.ad.interfaces.map((i) => i.name).join(','));
    const fixed = planAdvertisement(cfg(`${yaml}mdns:\n  url: "https://prov.example/j?x=1"\n`), HOST, 'box');
    assert.ok(fixed.ok);
    assert.deepEqual(fixed.ad.txt, ['path=https://prov.example/j', 'x=1']);
    assert.equal(txtGroups(fixed.ad).length, 1);
  });

  test('the same relative URL on two links is one TXT record', () => {
    const r = planAdvertisement(cfg('mdns:\n  hostname: Prov-1.local\n'), HOST, 'box');
    assert.ok(r.ok);
    assert.equal(r.ad.hostname, 'Prov-1');
    assert.equal(r.ad.interfaces.length, 2);
    // https type, http URL: the scheme differs, so path is absolute, hence per link.
    assert.equal(txtGroups(r.ad).length, 1);
    const two = planAdvertisement(cfg('mdns:\n  type: _https._tcp\n'), HOST, 'box');
    assert.ok(two.ok);
    assert.equal(txtGroups(two.ad).length, 2);
    const one = planAdvertisement(cfg('dhcp:\n  interfaces: [eth0]\nmdns:\n  type: _https._tcp\n'), HOST, 'box');
    assert.ok(one.ok);
    assert.equal(one.ad.txt[0], 'path=http://192.168.1.10:8667/jitsi');
  });

  test('host labels are sanitized', () => {
    assert.equal(hostLabel('my_box.lan'), 'my-box');
    assert.equal(hostLabel('x.local'), 'x');
    assert.equal(hostLabel('__'), 'provisiond');
  });
});

describe('mdns configuration keys', () => {
  test('valid keys load; the example file is valid', () => {
    const c = parseConfigText('mdns:\n  type: _https._tcp\n  hostname: prov\n  interfaces: [eth0]\n  url: "https://p.example/x?a=1"\n', 'c.yaml');
    assert.equal(c.mdns.type, '_https._tcp');
    assert.deepEqual(c.mdns.interfaces, ['eth0']);
  });

  test('each bad value is named by key', () => {
    const p = problems('mdns:\n  type: _ipp._tcp\n  hostname: "bad name"\n  interfaces: []\n  url: "/relative?a=1"\n');
    assert.equal(p.length, 4, p.join('\n'));
    assert.match(p[0] ?? '', /mdns\.type: Invalid option/);
    assert.match(p[1] ?? '', /mdns\.hostname: must be one DNS label/);
    assert.match(p[2] ?? '', /mdns\.interfaces: must list at least one interface/);
    assert.match(p[3] ?? '', /mdns\.url: must be an absolute http/);
  });

  test('a TXT string over 255 bytes in mdns.url is an error at load', () => {
    const [p] = problems(`mdns:\n  url: "https://p.example/x?a=${'v'.repeat(300)}"\n`);
    assert.match(p ?? '', /mdns\.url: gives the TXT string .* of 302 bytes; a TXT string holds at most 255/);
  });

  test('a DHCP URL mDNS cannot carry exactly is an error while mdns is enabled', () => {
    const [p] = problems('dhcp:\n  url: "http://a/p?flag"\n');
    assert.match(p ?? '', /dhcp\.url: cannot be advertised over mDNS exactly: it query parameter 1 \('flag'\) has no '='/);
    assert.deepEqual(problems('dhcp:\n  url: "http://a/p?flag"\nmdns:\n  enabled: false\n'), []);
    assert.deepEqual(problems('dhcp:\n  url: "http://a/p?flag"\nmdns:\n  url: "http://a/p?flag=1"\n'), []);
  });

  test('http.port 0 cannot be advertised', () => {
    assert.match(problems('http:\n  port: 0\n')[0] ?? '', /http\.port: must be a fixed port while mdns\.enabled/);
  });
});

/** packet builds a DNS response holding the given records (names uncompressed). */
function packet(records: { name: string; type: number; ttl: number; rdata: Buffer }[], response = true): Buffer {
  const name = (n: string): Buffer => Buffer.concat([...n.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(response ? 0x8400 : 0, 2);
  head.writeUInt16BE(records.length, 6);
  const body = records.map((r) => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(r.type, 0);
    fixed.writeUInt16BE(0x8001, 2);
    fixed.writeUInt32BE(r.ttl, 4);
    fixed.writeUInt16BE(r.rdata.length, 8);
    return Buffer.concat([name(r.name), fixed, r.rdata]);
  });
  return Buffer.concat([head, ...body]);
}
function srv(port: number, target: string): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(port, 4);
  return Buffer.concat([b, ...target.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}
const txt = (...s: string[]): Buffer => Buffer.concat(s.map((x) => Buffer.concat([Buffer.from([Buffer.byteLength(x)]), Buffer.from(x)])));

describe('DNS decoding and conflict reading', () => {
  const ad: Advertisement = { instance: 'Provisioning URL', type: '_http._tcp', port: 8667, hostname: 'prov', interfaces: [{ name: 'eth0', ipv4: '192.168.1.10', url: '', txt: ['path=/jitsi', 'u=1'] }], txt: ['path=/jitsi', 'u=1'] };

  test('another node serving our records (its own SRV target) is the same service, not a conflict; other TXT or port is', () => {
    const fqdn = 'Provisioning URL._http._tcp.local';
    const read = (recs: { name: string; type: number; ttl: number; rdata: Buffer }[]): ReturnType<typeof observe> => {
      const d = decodeDns(packet(recs));
      assert.ok(d.ok);
      return observe('10.0.0.2', d.message, [ad]);
    };
    const twin = read([{ name: fqdn, type: 33, ttl: 120, rdata: srv(8667, 'nodeb.local') }, { name: fqdn, type: 16, ttl: 4500, rdata: txt('path=/jitsi', 'u=1') }]);
    assert.ok(!twin.some(isConflict));
    assert.deepEqual(activeNodeIn(twin), { kind: 'live', from: '10.0.0.2', ttlMs: 120_000 });
    const bye = read([{ name: fqdn, type: 33, ttl: 0, rdata: srv(8667, 'nodeb.local') }, { name: fqdn, type: 16, ttl: 0, rdata: txt('path=/jitsi', 'u=1') }]);
    assert.deepEqual(activeNodeIn(bye), { kind: 'gone', from: '10.0.0.2' });
    const otherTxt = read([{ name: fqdn, type: 33, ttl: 120, rdata: srv(8667, 'nodeb.local') }, { name: fqdn, type: 16, ttl: 4500, rdata: txt('path=/other') }]);
    assert.ok(otherTxt.some(isConflict));
    assert.equal(activeNodeIn(otherTxt), undefined);
    const otherPort = read([{ name: fqdn, type: 33, ttl: 120, rdata: srv(80, 'nodeb.local') }, { name: fqdn, type: 16, ttl: 4500, rdata: txt('path=/jitsi', 'u=1') }]);
    assert.ok(otherPort.some(isConflict));
    assert.equal(activeNodeIn(otherPort), undefined);
    assert.equal(activeNodeIn(read([{ name: fqdn, type: 33, ttl: 120, rdata: srv(8667, 'nodeb.local') }])), undefined, 'an SRV alone does not show the URL: no standby on it');
  });

  test('encodeQuery: a QM query the decoder reads back', () => {
    const d = decodeDns(encodeQuery('Provisioning URL._http._tcp.local.', [33, 16]));
    assert.ok(d.ok);
    assert.equal(d.message.response, false);
    assert.deepEqual(
      d.message.questions.map((q) => [q.name.replace(/\.$/, ''), q.type, q.cls]),
      [
        ['Provisioning URL._http._tcp.local', 33, 1],
        ['Provisioning URL._http._tcp.local', 16, 1],
      ],
    );
    assert.throws(() => encodeQuery(`${'x'.repeat(64)}.local`, [33]), RangeError);
  });

  test('decodes SRV, TXT and A, including a compressed name', () => {
    const p = packet([
      { name: 'Provisioning URL._http._tcp.local', type: 33, ttl: 120, rdata: srv(80, 'other.local') },
      { name: 'Provisioning URL._http._tcp.local', type: 16, ttl: 4500, rdata: txt('path=/x') },
      { name: 'prov.local', type: 1, ttl: 120, rdata: Buffer.from([192, 168, 1, 99]) },
    ]);
    const d = decodeDns(p);
    assert.ok(d.ok, d.ok ? '' : d.error);
    assert.equal(d.message.records.length, 3);
    const compressed = Buffer.concat([packet([{ name: 'a.local', type: 1, ttl: 1, rdata: Buffer.from([1, 2, 3, 4]) }]).subarray(0, 12 + 9 + 10 + 4)]);
    compressed.writeUInt16BE(2, 6);
    const pointer = Buffer.concat([Buffer.from([0xc0, 12]), Buffer.from([0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 5, 6, 7, 8])]);
    const two = decodeDns(Buffer.concat([compressed, pointer]));
    assert.ok(two.ok, two.ok ? '' : two.error);
    assert.equal(two.message.records[1]?.name, 'a.local.');
    const obs = observe('192.168.1.50', d.message, [ad]);
    assert.deepEqual(obs.map((o) => [o.which, o.identical, isConflict(o)]), [
      ['instance', false, true],
      ['instance', false, true],
      ['hostname', false, true],
    ]);
  });

  test('our own records and goodbyes are not conflicts', () => {
    const p = packet([
      { name: 'provisioning url._http._tcp.local', type: 33, ttl: 120, rdata: srv(8667, 'PROV.local') },
      { name: 'Provisioning URL._http._tcp.local', type: 16, ttl: 4500, rdata: txt('path=/jitsi', 'u=1') },
      { name: 'prov.local', type: 1, ttl: 120, rdata: Buffer.from([192, 168, 1, 10]) },
      { name: 'Provisioning URL._http._tcp.local', type: 33, ttl: 0, rdata: srv(80, 'x.local') },
    ]);
    const d = decodeDns(p);
    assert.ok(d.ok);
    assert.ok(!observe('192.168.1.10', d.message, [ad]).some(isConflict));
  });

  test('malformed input is an error value, never a throw', () => {
    const loop = Buffer.alloc(12 + 2 + 10);
    loop.writeUInt16BE(1, 6);
    loop.writeUInt16BE(0xc00c, 12);
    assert.equal(decodeDns(loop).ok, false);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        decodeDns(Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('Avahi service file', () => {
  const ad: Advertisement = { instance: 'Provisioning URL', type: '_https._tcp', port: 443, hostname: 'p', interfaces: [{ name: 'eth0', ipv4: '10.0.0.1', url: '', txt: ['path=/p', 'q=<&>"\''] }], txt: ['path=/p', 'q=<&>"\''] };

  test('escapes XML and keeps TXT order', () => {
    assert.equal(xmlEscape(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
    const xml = avahiServiceXml(ad, 'test -- generator');
    assert.match(xml, /<txt-record>path=\/p<\/txt-record>\n {4}<txt-record>q=&lt;&amp;&gt;&quot;&apos;<\/txt-record>/);
    assert.ok(!/<!--[\s\S]*--[\s\S]*-->/.test(xml.replace(/<!--|-->/g, '')), 'no -- inside the comment');
  });

  const py = spawnSync('/usr/bin/python3', ['--version']);
  test('parses as Avahi service XML', { skip: py.status === 0 ? false : '/usr/bin/python3 is not installed' }, () => {
    const r = spawnSync('/usr/bin/python3', ['-c', 'import sys, xml.etree.ElementTree as E\nr=E.fromstring(sys.stdin.read())\nprint(r.tag, r.findtext("name"), r.find("service").findtext("type"), [t.text for t in r.iter("txt-record")])'], {
      input: avahiServiceXml(ad, 'g'),
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `service-group Provisioning URL _https._tcp ['path=/p', 'q=<&>"\\'']`);
  });

  const dir = mkdtempSync(join(tmpdir(), 'provisiond-export-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  test('provisiond export avahi prints it; a run-time port is refused', async () => {
    const cfg = join(dir, 'x.yaml');
    writeFileSync(cfg, `dhcp:\n  interfaces: [lo]\nmdns:\n  enabled: false\n  url: "https://p.example/x?a=1&b=<>&q='\\"&c=d"\n`);
    const r = await runCli(['export', 'avahi', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<txt-record>path=https:\/\/p\.example\/x<\/txt-record>/);
    assert.match(r.stdout, /<txt-record>b=&lt;&gt;<\/txt-record>\n {4}<txt-record>q=&apos;&quot;<\/txt-record>/);
    writeFileSync(cfg, 'http: {port: 0}\nmdns: {enabled: false}\n');
    const bad = await runCli(['export', 'avahi', '--config', cfg]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /fixed port .*\[PROVD_ERR_CONFIG_INVALID\]/);
    const usage = await runCli(['export', 'bonjour']);
    assert.equal(usage.code, 2);
  });
});

/** FakeAdvertiser records what the face asks of it; tests trigger renames and announcements. */
class FakeAdvertiser implements Advertiser {
  static made: FakeAdvertiser[] = [];
  readonly pubs: { ad: Advertisement; handlers: PublishHandlers; txt: (readonly string[])[]; ended: boolean; announce: (ok: boolean) => void }[] = [];
  shut = false;
  constructor(readonly interfaces: readonly string[]) {
    FakeAdvertiser.made.push(this);
  }
  publish(ad: Advertisement, handlers: PublishHandlers): Publication {
    let announce: (ok: boolean) => void = () => undefined;
    const announced = new Promise<boolean>((r) => (announce = r));
    const rec = { ad, handlers, txt: [] as (readonly string[])[], ended: false, announce };
    this.pubs.push(rec);
    return {
      announced,
      updateTxt: (a) => rec.txt.push(a.txt),
      end: async () => {
        rec.ended = true;
        announce(false);
      },
    };
  }
  async shutdown(): Promise<void> {
    this.shut = true;
  }
}
const fakeFactory: AdvertiserFactory = (names) => new FakeAdvertiser(names);
const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('mDNS face logic (fake advertiser, watcher on a loopback port)', () => {
  const yaml = 'dhcp:\n  interfaces: [eth0]\nmdns:\n  hostname: prov\n';

  async function face(retryMs = 50, more: Partial<ConstructorParameters<typeof MdnsFace>[0]> = { lookMs: 0 }): Promise<{ f: MdnsFace; cap: ReturnType<typeof captureLog>; port: number }> {
    FakeAdvertiser.made = [];
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    const cap = captureLog();
    const f = new MdnsFace({ config: parseConfigText(yaml, 'c.yaml'), log: cap.log, listInterfaces: () => HOST, systemHostname: () => 'box', advertiser: fakeFactory, watcherPort: port, retryMs, ...more });
    await f.start();
    return { f, cap, port };
  }

  test('start publishes the exact name on the configured interfaces; close ends it and shuts down', async () => {
    const { f } = await face();
    const adv = FakeAdvertiser.made[0];
    assert.ok(adv);
    assert.deepEqual(adv.interfaces, ['eth0']);
    assert.equal(adv.pubs[0]?.ad.instance, 'Provisioning URL');
    assert.equal(f.state, 'probing');
    adv.pubs[0]?.announce(true);
    await tick();
    assert.equal(f.state, 'announced');
    assert.equal(f.stats()['announced'], 1);
    await f.close();
    await f.close();
    assert.ok(adv.pubs[0]?.ended);
    assert.ok(adv.shut);
  });

  test('a rename by the library is a logged conflict, retried under the same name', async () => {
    const { f, cap } = await face(40);
    const first = FakeAdvertiser.made[0];
    first?.pubs[0]?.handlers.onRenamed('Provisioning URL (2)');
    assert.equal(f.state, 'conflict');
    const line = cap.lines.find((l) => l['code'] === 'PROVD_ERR_MDNS_CONFLICT');
    assert.ok(line);
    assert.equal(line['level'], 'error');
    assert.equal(line['retryInMs'], 40);
    await tick(120);
    const retry = FakeAdvertiser.made[1];
    assert.ok(retry, 'a fresh advertiser for the retry');
    assert.ok(first?.shut);
    assert.equal(retry.pubs[0]?.ad.instance, 'Provisioning URL');
    retry.pubs[0]?.announce(true);
    await tick();
    assert.equal(f.state, 'announced');
    assert.equal(f.stats()['conflicts'], 1);
    await f.close();
  });

  test('a response claiming our name while probing is a conflict naming its sender', async () => {
    const { f, cap, port } = await face(10_000);
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    s.send(packet([{ name: 'Provisioning URL._http._tcp.local', type: 33, ttl: 120, rdata: srv(80, 'other.local') }]), port, '127.0.0.1');
    for (let i = 0; i < 50 && f.state !== 'conflict'; i++) await tick();
    s.close();
    assert.equal(f.state, 'conflict');
    const line = cap.lines.find((l) => l['code'] === 'PROVD_ERR_MDNS_CONFLICT');
    assert.equal(line?.['otherResponder'], '127.0.0.1');
    assert.equal(line?.['otherRecord'], 'Provisioning URL._http._tcp.local. SRV 0 0 80 other.local.');
    assert.equal(line?.['hint'] !== undefined, true, 'the sender is on this host');
    assert.ok(FakeAdvertiser.made[0]?.pubs[0]?.ended);
    await f.close();
  });

  test('standby: another node answering with our service before we probe; logged once at info, never probes; takes over after its goodbye', async () => {
    FakeAdvertiser.made = [];
    const host = HOST.slice(1); // the "other node" sends from 127.0.0.1, which must not be one of ours
    const config = parseConfigText(yaml, 'c.yaml');
    const plan = planAdvertisement(config, host, 'box');
    assert.ok(plan.ok);
    const fqdn = 'Provisioning URL._http._tcp.local';
    const answer = (ttl: number, target: string, strings: readonly string[]): Buffer =>
      packet([
        { name: fqdn, type: 33, ttl: ttl === 0 ? 0 : 120, rdata: srv(plan.ad.port, target) },
        { name: fqdn, type: 16, ttl: ttl === 0 ? 0 : 4500, rdata: txt(...strings) },
      ]);
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    const cap = captureLog();
    const f = new MdnsFace({ config, log: cap.log, listInterfaces: () => host, systemHostname: () => 'box', advertiser: fakeFactory, watcherPort: port, lookMs: 400, takeoverJitterMs: 0 });
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    try {
      const started = f.start();
      // the other node's answer to our look: its own host name, our port and TXT
      for (let i = 0; i < 20 && f.state !== 'standby'; i++) {
        s.send(answer(120, 'nodea.local', plan.ad.txt), port, '127.0.0.1');
        await tick(10);
      }
      await started;
      assert.equal(f.state, 'standby');
      assert.equal(FakeAdvertiser.made.length, 0, 'nothing probed, nothing announced');
      assert.equal(f.stats()['standingBy'], 1);
      assert.equal(f.stats()['probes'], undefined);
      s.send(answer(120, 'nodea.local', plan.ad.txt), port, '127.0.0.1'); // a refresh: still standing by
      await tick(50);
      const standby = cap.lines.filter((l) => /standing by/.test(String(l['msg'])));
      assert.equal(standby.length, 1, 'logged once');
      assert.equal(standby[0]?.['level'], 'info');
      assert.equal(standby[0]?.['activeNode'], '127.0.0.1');
      assert.ok(!cap.lines.some((l) => l['level'] === 'error' || l['level'] === 'warn'), JSON.stringify(cap.lines));
      s.send(answer(0, 'nodea.local', plan.ad.txt), port, '127.0.0.1'); // goodbye
      for (let i = 0; i < 100 && FakeAdvertiser.made.length === 0; i++) await tick(20);
      assert.ok(cap.lines.some((l) => /goodbye\); taking over/.test(String(l['msg']))), JSON.stringify(cap.lines));
      const adv = FakeAdvertiser.made[0];
      assert.ok(adv, 'it probes after the goodbye');
      assert.equal(adv.pubs[0]?.ad.instance, 'Provisioning URL', 'the exact name');
      adv.pubs[0]?.announce(true);
      await tick();
      assert.equal(f.state, 'announced');
    } finally {
      s.close();
      await f.close();
    }
  });

  test('standby: the active node\'s records expiring without a refresh is a takeover; other records under our name stay a conflict', async () => {
    FakeAdvertiser.made = [];
    const host = HOST.slice(1);
    const config = parseConfigText(yaml, 'c.yaml');
    const plan = planAdvertisement(config, host, 'box');
    assert.ok(plan.ok);
    const fqdn = 'Provisioning URL._http._tcp.local';
    let clock = 1_000_000;
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    const cap = captureLog();
    const f = new MdnsFace({ config, log: cap.log, listInterfaces: () => host, systemHostname: () => 'box', advertiser: fakeFactory, watcherPort: port, lookMs: 400, now: () => clock, retryMs: 60_000 });
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    try {
      const started = f.start();
      for (let i = 0; i < 20 && f.state !== 'standby'; i++) {
        s.send(packet([{ name: fqdn, type: 33, ttl: 120, rdata: srv(plan.ad.port, 'nodea.local') }, { name: fqdn, type: 16, ttl: 4500, rdata: txt(...plan.ad.txt) }]), port, '127.0.0.1');
        await tick(10);
      }
      await started;
      assert.equal(f.state, 'standby');
      clock += 119_000; // not yet: the SRV's 120 s TTL
      await tick(1200);
      assert.equal(f.state, 'standby');
      clock += 2_000;
      for (let i = 0; i < 100 && FakeAdvertiser.made.length === 0; i++) await tick(20);
      assert.ok(cap.lines.some((l) => /expired without a refresh; taking over/.test(String(l['msg']))), JSON.stringify(cap.lines));
      assert.ok(FakeAdvertiser.made[0], 'it probes once the records expired');
      // while probing, the same name with another TXT is a conflict, not a standby
      s.send(packet([{ name: fqdn, type: 33, ttl: 120, rdata: srv(plan.ad.port, 'nodea.local') }, { name: fqdn, type: 16, ttl: 4500, rdata: txt('path=/elsewhere') }]), port, '127.0.0.1');
      for (let i = 0; i < 50 && (f.state as string) !== 'conflict'; i++) await tick();
      assert.equal(f.state, 'conflict');
      const line = cap.lines.find((l) => l['code'] === 'PROVD_ERR_MDNS_CONFLICT');
      assert.equal(line?.['level'], 'error');
      assert.match(String(line?.['otherRecord']), /TXT "path=\/elsewhere"/);
    } finally {
      s.close();
      await f.close();
    }
  });

  test('queries are counted and skipped undecoded, garbage is counted, a response with our name still is a conflict', async () => {
    const { f, port } = await face(10_000);
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    // A query whose question (our SRV) would read as a claim if queries were decoded like responses.
    const query = packet([{ name: 'Provisioning URL._http._tcp.local', type: 33, ttl: 120, rdata: srv(80, 'other.local') }], false);
    s.send(query, port, '127.0.0.1');
    s.send(Buffer.from([0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x05]), port, '127.0.0.1'); // a truncated response
    for (let i = 0; i < 50 && ((f.stats()['queriesHeard'] ?? 0) < 1 || (f.stats()['malformedDatagrams'] ?? 0) < 1); i++) await tick();
    s.close();
    assert.equal(f.stats()['queriesHeard'], 1);
    assert.equal(f.stats()['malformedDatagrams'], 1);
    assert.equal(f.state, 'probing', 'a query is not a conflict');
    await f.close();
  });

  test('reload: a new TXT is re-announced in place; a new port withdraws and probes again', async () => {
    const { f } = await face();
    const adv = FakeAdvertiser.made[0];
    adv?.pubs[0]?.announce(true);
    await tick();
    await f.reload(parseConfigText(`${yaml}  url: "http://x.example/y?z=1"\n`, 'c.yaml'));
    assert.deepEqual(adv?.pubs[0]?.txt.at(-1), ['path=http://x.example/y', 'z=1']);
    assert.equal(adv?.pubs.length, 1);
    await f.reload(parseConfigText(`${yaml}http:\n  port: 9000\n`, 'c.yaml'));
    assert.ok(adv?.pubs[0]?.ended, 'goodbye for the old SRV');
    assert.equal(adv?.pubs[1]?.ad.port, 9000);
    await assert.rejects(f.reload(parseConfigText('mdns:\n  interfaces: [eth9]\n', 'c.yaml')), (e: ProvError) => e.code === 'PROVD_ERR_MDNS_INTERFACE');
    assert.equal(f.advertisement?.port, 9000, 'a rejected reload keeps the old advertisement');
    await f.close();
  });
});

describe('immediate answers to queries for unique records (RFC 6762 §6)', () => {
  const jmdns: QueryView = { fromPort: 5353, truncated: false, continuesTruncated: false, authorities: 0, probing: false, questions: [{ qu: false, qclass: 1 }, { qu: false, qclass: 1 }] };

  test('eligible: a QM query from 5353 (what JmDNS sends); never legacy unicast, probes, truncation, QU or other classes', () => {
    assert.equal(eligible(jmdns), true);
    assert.equal(eligible({ ...jmdns, questions: [{ qu: false, qclass: 255 }] }), true);
    assert.equal(eligible({ ...jmdns, fromPort: 40000 }), false);
    assert.equal(eligible({ ...jmdns, truncated: true }), false);
    assert.equal(eligible({ ...jmdns, continuesTruncated: true }), false);
    assert.equal(eligible({ ...jmdns, authorities: 1 }), false);
    assert.equal(eligible({ ...jmdns, probing: true }), false);
    assert.equal(eligible({ ...jmdns, questions: [{ qu: true, qclass: 1 }, { qu: false, qclass: 1 }] }), false);
    assert.equal(eligible({ ...jmdns, questions: [{ qu: false, qclass: 3 }] }), false);
    assert.equal(eligible({ ...jmdns, questions: [] }), false);
  });

  test('allUnique: every question answered, no shared answer', () => {
    const u = { answered: true, shared: false };
    assert.equal(allUnique([[u], [u]]), true);
    assert.equal(allUnique([[u], [{ answered: true, shared: true }]]), false);
    assert.equal(allUnique([[u], []]), false, 'a question we cannot answer may be for another responder');
    assert.equal(allUnique([[u], [{ answered: false, shared: false }]]), false);
    assert.equal(allUnique([]), false);
  });

  /** fakeCiao is shaped like ciao's Responder internals, with real ciao records and responses. */
  function fakeCiao(): { responder: Responder; sent: DNSPacket[]; toCiao: DNSPacket[]; stats: ImmediateStats } {
    const name = 'Provisioning URL._http._tcp.local';
    const sent: DNSPacket[] = [];
    const toCiao: DNSPacket[] = [];
    const answer = (q: Question, _e: EndpointInfo, known: Map<string, never>): QueryResponse[] => {
      const r = new QueryResponse(known);
      // ciao keeps names fully qualified, with the trailing dot
      if (q.type === QType.SRV && q.name === `${name}.`) {
        r.addAnswer(new SRVRecord(name, 'prov.local', 8667, true));
        r.addAdditional(new ARecord('prov.local', '10.0.0.1', true));
      } else if (q.type === QType.TXT && q.name === `${name}.`) r.addAnswer(new TXTRecord(name, [Buffer.from('path=/jitsi')], true));
      else if (q.type === QType.PTR && q.name === '_http._tcp.local.') r.addAnswer(new PTRRecord('_http._tcp.local', name));
      return r.hasAnswers() ? [r] : [];
    };
    const fake = { handleQuery: (p: DNSPacket) => void toCiao.push(p), answerQuestion: answer, server: { sendResponse: (p: DNSPacket) => void sent.push(p) }, truncatedQueries: {} };
    const stats = { immediate: 0, deferred: 0 };
    assert.equal(installImmediateAnswers(fake as unknown as Responder, stats), true);
    return { responder: fake as unknown as Responder, sent, toCiao, stats };
  }
  const query = (...qs: [string, QType][]): DNSPacket => DNSPacket.createDNSQueryPacket({ questions: qs.map(([n, t]) => new Question(n, t)) });
  const FROM_5353: EndpointInfo = { address: '10.0.0.2', port: 5353, interface: 'eth0' };
  const handle = (r: Responder, p: DNSPacket, e: EndpointInfo): void => (r as unknown as { handleQuery(p: DNSPacket, e: EndpointInfo): void }).handleQuery(p, e);

  test('SRV+TXT in one query: one response with both (and the A record), sent synchronously', () => {
    const f = fakeCiao();
    const name = 'Provisioning URL._http._tcp.local';
    handle(f.responder, query([name, QType.SRV], [name, QType.TXT]), FROM_5353);
    assert.equal(f.toCiao.length, 0);
    assert.equal(f.sent.length, 1, 'combined into one response');
    const p = f.sent[0] as DNSPacket;
    assert.deepEqual([...p.answers.values()].map((r) => r.type).sort(), [16, 33]);
    assert.deepEqual([...p.additionals.values()].map((r) => r.type), [1]);
    assert.deepEqual(f.stats, { immediate: 1, deferred: 0 });
  });

  test('left to ciao: a shared (PTR) answer, an unanswerable question, a legacy unicast querier, a QU question', () => {
    const f = fakeCiao();
    const name = 'Provisioning URL._http._tcp.local';
    handle(f.responder, query(['_http._tcp.local', QType.PTR]), FROM_5353);
    handle(f.responder, query([name, QType.SRV], ['other._http._tcp.local', QType.TXT]), FROM_5353);
    handle(f.responder, query([name, QType.SRV]), { ...FROM_5353, port: 40000 });
    const qu = query([name, QType.SRV]);
    for (const q of qu.questions.values()) q.unicastResponseFlag = true;
    handle(f.responder, qu, FROM_5353);
    assert.equal(f.sent.length, 0);
    assert.equal(f.toCiao.length, 4);
    assert.deepEqual(f.stats, { immediate: 0, deferred: 4 });
  });

  test('known answers are honoured: a query whose answers the querier already has is left to ciao', () => {
    const f = fakeCiao();
    const name = 'Provisioning URL._http._tcp.local';
    const p = DNSPacket.createDNSQueryPacket({ questions: [new Question(name, QType.SRV)], answers: [new SRVRecord(name, 'prov.local', 8667, true, 120)] });
    handle(f.responder, p, FROM_5353);
    assert.equal(f.sent.length, 0, 'nothing to send');
    assert.equal(f.toCiao.length, 1);
  });

  test('installs on the ciao release in package.json (a new release lacking its internals fails here); shutdown right after start leaks no socket', async () => {
    /** mdnsSockets counts this process's open UDP sockets bound to port 5353 (only ciao binds it here). */
    const mdnsSockets = (): number =>
      (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => {
        if (!(h instanceof Socket)) return false;
        try {
          return h.address().port === 5353;
        } catch {
          return false; // not bound (yet) or already closed
        }
      }).length;
    const adv = ciaoAdvertiser(['lo']);
    try {
      assert.notEqual(adv.queryStats, null);
      assert.equal(installImmediateAnswers({} as Responder, { immediate: 0, deferred: 0 }), false, 'an unknown shape is left alone');
    } finally {
      // ciao 1.3.12 alone would leave its 5353 socket open here and this file would never exit.
      await adv.shutdown();
    }
    await new Promise((r) => setTimeout(r, 500)); // a socket closes asynchronously; a leaked one is bound by then
    assert.equal(mdnsSockets(), 0, 'every ciao socket is closed');
  });
});

describe('perlink.ts: each link its own TXT, and a link filter', () => {
  const nm = new Map([
    ['vlan10', { ipv4: '10.10.0.1', ip4Netmask: '255.255.255.0' }],
    ['vlan20', { ipv4: '10.20.0.1', ip4Netmask: '255.255.255.0' }],
  ]);
  const lookup = (n: string): { ipv4: string; ip4Netmask: string } | undefined => nm.get(n);

  test('a datagram from the subnet of another of our links is from that link; others are kept', () => {
    const bound = ['vlan10', 'vlan20'];
    assert.equal(fromAnotherLink('10.20.0.1', 'vlan10', bound, lookup), true, 'our own packet on vlan20, looped to the vlan10 socket');
    assert.equal(fromAnotherLink('10.20.0.77', 'vlan10', bound, lookup), true, 'a vlan20 client');
    assert.equal(fromAnotherLink('10.10.0.77', 'vlan10', bound, lookup), false, 'a vlan10 client');
    assert.equal(fromAnotherLink('192.168.5.5', 'vlan10', bound, lookup), false, 'an unknown subnet stays (routed mDNS is rare, but not ours to judge)');
    assert.equal(fromAnotherLink('10.20.0.9', 'vlan10', ['vlan10'], lookup), false, 'only links the responder is bound to count');
  });

  test('sends each link its TXT (one-link sends and split broadcasts), restores ciao\'s record, and drops datagrams from another link', async () => {
    const sent: { link: string; txt: string[] }[] = [];
    const received: string[] = [];
    const txtOf = (p: DNSPacket): string[] => [...p.answers.values(), ...p.authorities.values()].flatMap((r) => (r instanceof TXTRecord ? r.txt.map((b) => b.toString()) : []));
    const server = {
      send: (p: DNSPacket, link: string) => {
        sent.push({ link, txt: txtOf(p) });
        return Promise.resolve({ status: 'fulfilled', interface: link });
      },
      sendOnAllNetworksForService: (p: DNSPacket) => {
        sent.push({ link: '*', txt: txtOf(p) });
        return Promise.resolve([]);
      },
      handleMessage: (link: string, _b: Buffer, rinfo: { address: string }) => void received.push(`${link}<${rinfo.address}`),
      getBoundInterfaceNames: () => ['vlan10', 'vlan20'],
      networkManager: { getInterface: lookup },
    };
    const pl = installPerLinkTxt({ server } as unknown as Responder);
    assert.ok(pl);
    const fqdn = 'Provisioning URL._http._tcp.local.';
    pl.set(fqdn, new Map([['vlan10', ['path=/j', 'site=a']], ['vlan20', ['path=/j', 'site=b']]]));
    const rec = new TXTRecord(fqdn, [Buffer.from('path=/j'), Buffer.from('site=a')], true, 0);
    const packet = DNSPacket.createDNSResponsePacketsFromRRSet({ answers: [rec] });
    const s = server as unknown as { send(p: DNSPacket, l: string): Promise<unknown>; sendOnAllNetworksForService(p: DNSPacket, svc: unknown): Promise<unknown[]>; handleMessage(l: string, b: Buffer, r: unknown, f: string): void };
    await s.send(packet, 'vlan20');
    const all = await s.sendOnAllNetworksForService(packet, { advertisesOnInterface: () => true });
    assert.equal(all.length, 2, 'one send result per link');
    assert.deepEqual(sent, [
      { link: 'vlan20', txt: ['path=/j', 'site=b'] },
      { link: 'vlan10', txt: ['path=/j', 'site=a'] },
      { link: 'vlan20', txt: ['path=/j', 'site=b'] },
    ]);
    assert.deepEqual(rec.txt.map((b) => b.toString()), ['path=/j', 'site=a'], "ciao's own record is unchanged");
    const other = DNSPacket.createDNSResponsePacketsFromRRSet({ answers: [new TXTRecord('other._http._tcp.local.', [Buffer.from('x=1')])] });
    await s.sendOnAllNetworksForService(other, { advertisesOnInterface: () => true });
    assert.deepEqual(sent.at(-1), { link: '*', txt: ['x=1'] }, "a packet without our TXT keeps ciao's broadcast");
    s.handleMessage('vlan10', Buffer.alloc(0), { address: '10.20.0.1' }, 'IPv4');
    s.handleMessage('vlan10', Buffer.alloc(0), { address: '10.10.0.2' }, 'IPv4');
    assert.deepEqual(received, ['vlan10<10.10.0.2']);
    assert.equal(pl.fromOtherLinks, 1);
  });

  test('returns undefined when ciao lacks an internal it wraps', () => {
    assert.equal(installPerLinkTxt({ server: { send: () => undefined } } as unknown as Responder), undefined);
  });
});
