import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, type DhcpMessage } from '../src/dhcp/codec';
import { handle, type HandlerContext, type ServedInterface } from '../src/dhcp/handler';
import { buildUrlPlan, selectUrl, defaultProvisioningUrl } from '../src/urls/plan';
import { parseCidr, parseIPv4 } from '../src/net/ipv4';
import { parseConfigText } from '../src/config/load';
import { jitsiInform, SAMPLE } from './helpers/jitsi';

const URL = 'https://prov.example.com/jitsi?username=${username}&password=${password}&uuid=${uuid}';

function iface(addr: string, cidr: string, name = 'eth0'): ServedInterface {
  const c = parseCidr(cidr);
  if (!c.ok) throw new Error(c.error);
  return { name, address: parseIPv4(addr) ?? 0, cidr: c.value };
}

/** ctxFor builds the context for a request that came from `source` (SAMPLE's own address by default). */
function ctxFor(yaml: string, i = iface('192.168.1.1', '192.168.1.0/24'), source = '192.168.1.23'): HandlerContext {
  const cfg = parseConfigText(yaml, 'test.yaml');
  const plan = buildUrlPlan(cfg);
  const ctx = { plan, iface: i, serverPort: 6767, replyPort: 6768, subnets: [i.cidr, ...plan.networks.map((n) => n.cidr)], links: [i.cidr], source: parseIPv4(source) ?? 0 };
  return ctx;
}

function req(mutate?: (b: Buffer) => void): DhcpMessage {
  const b = jitsiInform(SAMPLE);
  mutate?.(b);
  const r = decode(b);
  if (!r.ok) throw new Error(r.error.detail);
  return r.message;
}

describe('DHCP handler', () => {
  test('answers the Jitsi INFORM byte for byte as specified', () => {
    const r = handle(req(), ctxFor(`dhcp:\n  url: "${URL}"\n`));
    assert.equal(r.kind, 'reply');
    if (r.kind !== 'reply') return;
    const url = Buffer.from(URL, 'latin1');
    const expected = Buffer.alloc(Math.max(300, 240 + 3 + 6 + 2 + url.length + 1));
    expected.set([0x02, 0x01, 0x06, 0x00], 0); // BOOTREPLY, ethernet, hlen 6, hops 0
    expected.writeUInt32BE(0xdeadbeef, 4); // same xid
    // secs 0, flags copied (0)
    expected.set([192, 168, 1, 23], 12); // ciaddr copied; yiaddr, siaddr, giaddr 0
    expected.set([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e], 28); // chaddr copied
    expected.set([0x63, 0x82, 0x53, 0x63], 236);
    let i = 240;
    expected.set([0x35, 0x01, 0x05], i); // DHCPACK
    i += 3;
    expected.set([0x36, 0x04, 192, 168, 1, 1], i); // server identifier = receiving interface
    i += 6;
    expected.set([0xe0, url.length], i);
    i += 2;
    expected.set(url, i); // the URL, no NUL
    i += url.length;
    expected[i] = 0xff;
    assert.equal(r.packet.toString('hex'), expected.toString('hex'));
    assert.ok(r.packet.length >= 300);
    assert.ok(!r.packet.subarray(240, i).includes(0), 'no NUL inside the options');
    assert.deepEqual(r.to, { address: '192.168.1.23', port: 6768, broadcast: false });
  });

  test('copies flags and, for a relayed request, giaddr; replies to the relay when ciaddr is 0', () => {
    const m = req((b) => {
      b.writeUInt16BE(0x8000, 10);
      b.fill(0, 12, 16); // ciaddr 0
      b.set([10, 9, 8, 7], 24); // giaddr: a configured (relayed) network
      b.set([0x35, 0x01, 0x08, 0x52, 0x04, 0x01, 0x02, 0xaa, 0xbb, 0xff], 240); // + option 82
    });
    const r = handle(m, ctxFor('dhcp:\n  networks:\n    - { subnet: 10.9.8.0/24, url: "http://p.example/j" }\n', undefined, '10.9.8.7'));
    assert.equal(r.kind, 'reply');
    if (r.kind !== 'reply') return;
    assert.equal(r.packet.readUInt16BE(10), 0x8000);
    assert.equal(r.packet.subarray(24, 28).toString('hex'), '0a090807');
    assert.deepEqual(r.to, { address: '10.9.8.7', port: 6767, broadcast: false });
    const d = decode(r.packet);
    assert.ok(d.ok);
    if (d.ok) assert.equal(d.message.options.get(82)?.toString('hex'), '0102aabb', 'option 82 echoed (RFC 3046)');
  });

  test('a client with neither ciaddr nor giaddr gets a broadcast', () => {
    const r = handle(req((b) => b.fill(0, 12, 16)), ctxFor('{}'));
    assert.equal(r.kind, 'reply');
    if (r.kind === 'reply') assert.deepEqual(r.to, { address: '255.255.255.255', port: 6768, broadcast: true });
  });

  test('a ciaddr outside every served and configured subnet is not answered (no reflection)', () => {
    const r = handle(req((b) => b.set([192, 0, 2, 55], 12)), ctxFor('{}'));
    assert.equal(r.kind, 'ignore');
    if (r.kind === 'ignore') assert.equal(r.reason, 'foreign-ciaddr');
  });

  test('a ciaddr in a configured dhcp.networks subnet (behind a relay) is answered through the relay (RFC 2131 §4.1)', () => {
    const r = handle(
      req((b) => {
        b.set([10, 50, 0, 9], 12);
        b.set([10, 50, 0, 1], 24);
      }),
      ctxFor('dhcp:\n  networks:\n    - { subnet: 10.50.0.0/24, url: "http://p.example/j" }\n', undefined, '10.50.0.1'),
    );
    assert.equal(r.kind, 'reply');
    if (r.kind === 'reply') assert.deepEqual(r.to, { address: '10.50.0.1', port: 6767, broadcast: false });
  });

  // Issue 10, defect 4: the ACK went to any giaddr (192.0.2.55:6767), a reflection.
  test('a relayed request whose giaddr is in no served or configured subnet is not answered (no reflection)', () => {
    const r = handle(req((b) => (b.fill(0, 12, 16), b.set([192, 0, 2, 55], 24))), ctxFor('{}', undefined, '192.168.1.23'));
    assert.equal(r.kind, 'ignore');
    if (r.kind === 'ignore') assert.equal(r.reason, 'foreign-giaddr');
  });

  test('a giaddr on a served link must be the source itself (a relay there sends from that address)', () => {
    // 192.168.1.99 is on the served link but did not send the datagram: the reply would be an
    // unsolicited unicast to a neighbour (or stuck in the ARP queue for an unused address).
    const r = handle(req((b) => (b.fill(0, 12, 16), b.set([192, 168, 1, 99], 24))), ctxFor('{}', undefined, '192.168.1.23'));
    assert.equal(r.kind, 'ignore');
    if (r.kind === 'ignore') assert.equal(r.reason, 'relay-source');
    const ok = handle(req((b) => (b.fill(0, 12, 16), b.set([192, 168, 1, 99], 24))), ctxFor('{}', undefined, '192.168.1.99'));
    assert.equal(ok.kind, 'reply');
    if (ok.kind === 'reply') assert.deepEqual(ok.to, { address: '192.168.1.99', port: 6767, broadcast: false });
  });

  test('a remote giaddr (dhcp.networks) is answered when the relay sends from a served or configured subnet, not from elsewhere', () => {
    const yaml = 'dhcp:\n  networks:\n    - { subnet: 10.50.0.0/24, url: "http://p.example/j" }\n';
    const m = req((b) => (b.fill(0, 12, 16), b.set([10, 50, 0, 1], 24)));
    const viaRouter = handle(m, ctxFor(yaml, undefined, '192.168.1.254')); // the router's upstream address, on our link
    assert.equal(viaRouter.kind, 'reply');
    if (viaRouter.kind === 'reply') assert.deepEqual(viaRouter.to, { address: '10.50.0.1', port: 6767, broadcast: false });
    const stranger = handle(m, ctxFor(yaml, undefined, '198.51.100.7'));
    assert.equal(stranger.kind, 'ignore');
    if (stranger.kind === 'ignore') assert.equal(stranger.reason, 'relay-source');
  });

  // Issue 10, defect 1: a unicast to a ciaddr that did not send the request (e.g. an unused
  // address) waits in the kernel's ARP queue and can jam the reply socket.
  test('a non-relayed INFORM is unicast to ciaddr only when ciaddr is the source; otherwise broadcast on the link', () => {
    const own = handle(req(), ctxFor('{}', undefined, '192.168.1.23'));
    assert.equal(own.kind, 'reply');
    if (own.kind === 'reply') assert.deepEqual(own.to, { address: '192.168.1.23', port: 6768, broadcast: false });
    for (const source of ['192.168.1.24', '0.0.0.0', '192.168.7.7']) {
      const other = handle(req(), ctxFor('{}', undefined, source));
      assert.equal(other.kind, 'reply');
      if (other.kind === 'reply') assert.deepEqual(other.to, { address: '255.255.255.255', port: 6768, broadcast: true }, `from ${source}`);
    }
  });

  const ignored: [string, (b: Buffer) => void, string][] = [
    ['DHCPDISCOVER', (b) => b.set([0x35, 0x01, 0x01, 0xff], 240), 'not-inform'],
    ['DHCPREQUEST', (b) => b.set([0x35, 0x01, 0x03, 0xff], 240), 'not-inform'],
    ['DHCPRELEASE', (b) => b.set([0x35, 0x01, 0x07, 0xff], 240), 'not-inform'],
    ['a BOOTREPLY (e.g. another server)', (b) => (b[0] = 2), 'not-request'],
    ['plain BOOTP (no option 53)', (b) => b.set([0x37, 0x01, 0xe0, 0xff], 240), 'no-message-type'],
    ['option 53 with two bytes', (b) => b.set([0x35, 0x02, 0x08, 0x08, 0xff], 240), 'bad-option'],
  ];
  for (const [name, mutate, reason] of ignored) {
    test(`ignores ${name} (${reason})`, () => {
      const r = handle(req(mutate), ctxFor('{}'));
      assert.equal(r.kind, 'ignore');
      if (r.kind === 'ignore') assert.equal(r.reason, reason);
    });
  }
});

describe('DHCP URL choice', () => {
  const yaml = [
    'dhcp:',
    '  url: https://fallback.example/jitsi',
    '  networks:',
    '    - { subnet: 10.0.0.0/8, url: "https://wide.example/jitsi" }',
    '    - { subnet: 10.1.0.0/16, url: "https://narrow.example/jitsi" }',
    '    - { subnet: 172.16.0.0/12, url: "https://relay.example/jitsi" }',
    '    - { subnet: 192.168.50.0/24, url: "https://link.example/jitsi" }',
  ].join('\n');
  const plan = buildUrlPlan(parseConfigText(yaml, 't.yaml'));
  const link = iface('192.168.50.1', '192.168.50.0/24');
  const other = iface('192.168.60.1', '192.168.60.0/24');
  const ip = (s: string): number => parseIPv4(s) ?? 0;
  const cases: [string, number, number, ServedInterface, string][] = [
    ['longest prefix wins for ciaddr', ip('10.1.2.3'), 0, link, 'https://narrow.example/jitsi'],
    ['shorter prefix when only it matches', ip('10.2.2.3'), 0, link, 'https://wide.example/jitsi'],
    ['the relay network when ciaddr matches nothing', ip('8.8.8.8'), ip('172.16.5.1'), link, 'https://relay.example/jitsi'],
    ['the receiving interface network next', ip('8.8.8.8'), 0, link, 'https://link.example/jitsi'],
    ['dhcp.url when nothing matches', ip('8.8.8.8'), 0, other, 'https://fallback.example/jitsi'],
  ];
  for (const [name, ci, gi, i, want] of cases) {
    test(name, () => assert.equal(selectUrl(plan, ci, gi, i).toString(), want));
  }

  test('with no url configured, the default points at the HTTP face on the receiving interface', () => {
    const p = buildUrlPlan(parseConfigText('http:\n  port: 8443\n', 't.yaml'));
    assert.equal(
      selectUrl(p, ip('192.168.60.9'), 0, other).toString(),
      'http://192.168.60.1:8443/jitsi?username=${username}&password=${password}&uuid=${uuid}&hwaddr=${hwaddr}&osname=${osname}&build=${build}',
    );
  });

  test('a specific http.host is used instead of the interface address', () => {
    const p = buildUrlPlan(parseConfigText('http:\n  host: 192.168.60.5\n', 't.yaml'));
    assert.equal(selectUrl(p, 0, 0, other).toString(), defaultProvisioningUrl('192.168.60.5', 8667));
  });
});

describe('DHCP decode + handle fuzz (time-boxed)', () => {
  const ctx = ctxFor(`dhcp:\n  url: "${URL}"\n`);
  const check = (bytes: Uint8Array): void => {
    const d = decode(Buffer.from(bytes));
    if (!d.ok) return;
    const r = handle(d.message, ctx);
    if (r.kind === 'reply') {
      assert.ok(r.packet.length >= 300 && r.packet.length <= 1500);
      assert.equal(r.packet.readUInt32BE(4), d.message.xid);
      assert.equal(r.packet[0], 2);
    }
  };
  test('random datagrams never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 1600 }), (b) => check(b)), { numRuns: 20000, interruptAfterTimeLimit: 3000 });
  });
  test('mutations of the Jitsi INFORM never throw', () => {
    const base = jitsiInform(SAMPLE);
    const mutation = fc.array(fc.tuple(fc.integer({ min: 0, max: 299 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(mutation, fc.integer({ min: 200, max: 300 }), (muts, len) => {
        const b = Buffer.from(base);
        for (const [at, v] of muts) b[at] = v;
        check(b.subarray(0, len));
      }),
      { numRuns: 20000, interruptAfterTimeLimit: 3000 },
    );
  });
});
