/**
 * probe.test.ts: the pure parts of `provisiond probe` against the contract's own examples
 * (jitsi-client-contract.md §2.2, §3.2, §4.1-§4.3, §5.1-§5.2).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildInform, readReply, ipv4ToU32, macBytes, retransmitGaps } from '../src/probe/inform';
import { assembleUrl, txtProperties, encodeQuery, collect, serviceName, type Resolution } from '../src/probe/mdns';
import { substitute, planPost, formBody, formEncode, javaArch, javaOsName, nextRedirect, type HostValues } from '../src/probe/request';
import { runProbe } from '../src/probe/run';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCert, opensslMissing } from './helpers/tls';
import { runCli } from './helpers/daemon';
import type { AddressInfo } from 'node:net';
import { parseProperties, applyPrefixes, javaSplitBar } from '../src/probe/properties';
import { decodeDns } from '../src/mdns/wire';
import { jitsiInform, SAMPLE } from './helpers/jitsi';
import { BODY_2_10, DOC_USER, DOC_PASSWORD, DOC_UUID } from './helpers/prov';

test('the INFORM is byte for byte the Jitsi client\'s 300-byte datagram', () => {
  const b = buildInform(SAMPLE.xid, ipv4ToU32('192.168.1.23'), macBytes('00:1a:2b:3c:4d:5e'));
  assert.equal(b.length, 300);
  assert.deepEqual(b, jitsiInform(SAMPLE));
  const noMac = buildInform(1, 0, undefined);
  assert.equal(noMac[2], 6, 'hlen is 6 even without a MAC');
  assert.ok(noMac.subarray(28, 44).every((x) => x === 0));
});

test('replies are matched on the xid only and option 224 is read untrimmed', () => {
  const reply = Buffer.from(jitsiInform(SAMPLE));
  reply[0] = 2;
  const url = 'http://10.0.0.1/p?u=${username}';
  const opt = Buffer.concat([Buffer.from([0x35, 1, 5, 0xe0, url.length]), Buffer.from(url), Buffer.from([0xff])]);
  opt.copy(reply, 240);
  const r = readReply(reply, SAMPLE.xid);
  assert.deepEqual(r, { kind: 'url', url, messageType: 5, hasNul: false });
  assert.equal(readReply(reply, SAMPLE.xid + 1).kind, 'other-xid');
  assert.equal(readReply(jitsiInform(SAMPLE), SAMPLE.xid).kind, 'no-option-224');
  assert.equal(readReply(Buffer.alloc(100), 0).kind, 'malformed');
});

test('retransmission gaps are 1 s or 2 s', () => {
  assert.deepEqual(retransmitGaps(() => 0.1), [1000, 1000]);
  assert.deepEqual(retransmitGaps(() => 0.9), [2000, 2000]);
});

test('the mDNS query is a standard query decodable by our own decoder', () => {
  const q = decodeDns(encodeQuery(7, [{ name: serviceName('_https._tcp'), type: 33 }, { name: 'h.local.', type: 1 }]));
  assert.ok(q.ok);
  if (!q.ok) return;
  assert.equal(q.message.id, 7);
  assert.deepEqual(q.message.questions.map((x) => [x.name, x.type, x.cls]), [['Provisioning URL._https._tcp.local.', 33, 1], ['h.local.', 1, 1]]);
});

const res = (txt: string[]): Resolution => ({ port: 8443, target: 'h.local.', txt, ipv4: ['192.168.1.10'] });

test('the URL is assembled as JmDNS getURLs + the client: IP, port, path, other keys unescaped', () => {
  assert.equal(assembleUrl('https', res(['path=/provisioning.php', 'user=${username}', 'password=${password}', 'uuid=${uuid}'])), 'https://192.168.1.10:8443/provisioning.php?user=${username}&password=${password}&uuid=${uuid}');
  assert.equal(assembleUrl('http', res(['path=p.php'])), 'http://192.168.1.10:8443/p.php?', 'path alone leaves a bare ?');
  assert.equal(assembleUrl('http', res(['a=1', 'path=/x'])), 'http://192.168.1.10:8443/x?a=1&', 'path last leaves a trailing &');
  assert.equal(assembleUrl('https', res(['path=https://prov.example/j', 'u=1'])), 'https://prov.example/j?u=1');
  assert.equal(assembleUrl('http', res(['flag'])), 'http://192.168.1.10:8443?flag=true');
  assert.equal(assembleUrl('http', { ...res(['a=1']), ipv4: [] }), undefined, 'no A record: JmDNS has no info');
  assert.deepEqual([...txtProperties(['a=1', '', 'b=2'])], [], 'a zero-length string clears everything');
});

test('collect takes SRV/TXT of the instance and A of the SRV target only', () => {
  const name = serviceName('_http._tcp');
  const r = collect(
    [
      { section: 'answer', name, type: 33, cls: 1, cacheFlush: true, ttl: 120, data: { kind: 'srv', priority: 0, weight: 0, port: 80, target: 'srv.local.' } },
      { section: 'answer', name, type: 16, cls: 1, cacheFlush: true, ttl: 120, data: { kind: 'txt', strings: ['path=/j'] } },
      { section: 'additional', name: 'other.local.', type: 1, cls: 1, cacheFlush: true, ttl: 120, data: { kind: 'a', address: '10.9.9.9' } },
      { section: 'additional', name: 'SRV.local.', type: 1, cls: 1, cacheFlush: true, ttl: 120, data: { kind: 'a', address: '10.0.0.5' } },
    ],
    name,
  );
  assert.deepEqual(r, { port: 80, target: 'srv.local.', txt: ['path=/j'], ipv4: ['10.0.0.5'] });
});

const HOST: HostValues = {
  env: { SITE: 'hq' },
  homeLocation: '/home/a',
  homeName: '.jitsi',
  uuid: DOC_UUID,
  osname: 'Windows 10',
  arch: 'amd64',
  resx: '1920',
  resy: '1080',
  build: '2.10.5550',
  locale: '',
  ipaddr: '192.168.1.23',
  hostname: 'DESKTOP-7Q2',
  hwaddr: '00:1a:2b:3c:4d:5e',
};

test('the doc URI becomes exactly Jitsi 2.10\'s POST body (contract §4.6)', () => {
  const tpl = 'https://example.com/provisioning.php?user=${username}&password=${password}&os=${osname}&hw=${hwaddr}&uuid=${uuid}&hostname=${hostname}';
  const plan = planPost(substitute(tpl, HOST), DOC_USER, DOC_PASSWORD);
  assert.equal(plan.target, 'https://example.com/provisioning.php');
  assert.equal(plan.credentials, true);
  assert.equal(formBody(plan.params), BODY_2_10);
});

test('substitution order, literal leftovers and the split rules of §4.1-§4.3', () => {
  assert.equal(substitute('x?a=${env.SITE}&b=${env.NOPE}&c=${system.x}&d=${arch}', HOST), 'x?a=hq&b=${env.NOPE}&c=${system.x}&d=amd64');
  assert.equal(substitute('x?h=${hwaddr}', { ...HOST, hwaddr: undefined }), 'x?h=${hwaddr}');
  assert.deepEqual(planPost('http://h/p?a=1&&b&c=x=y&&', undefined, undefined).params, [['a', '1'], ['', ''], ['b', ''], ['c', 'x=y']]);
  assert.deepEqual(planPost('http://h/p?', undefined, undefined), { target: 'http://h/p', params: [], credentials: false });
  const x = planPost('http://h/p?u=x${username}&p=${password}', 'alice', 'pw');
  assert.equal(x.credentials, false, 'user=x${username} does not prompt');
  assert.deepEqual(x.params, [['u', 'x'], ['p', '']]);
  assert.equal(formEncode('a b+%é~*'), 'a+b%2B%25%C3%A9%7E*');
  assert.equal(javaArch('x64'), 'amd64');
  assert.equal(javaOsName('Darwin', '23.0.0'), 'Mac OS X');
});

test('Properties.load parsing: separators, escapes, continuations, latin-1, first position last value', () => {
  const text = '# c\n! c\n  a = 1 \nb:2\nc\\ d\\=e=\\u00e9\\t\\x\nlong=one \\\n    two\nempty\na=3\n';
  const r = parseProperties(Buffer.from(text, 'latin1'));
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(r.entries, [['a', '3'], ['b', '2'], ['c d=e', 'é\tx'], ['long', 'one two'], ['empty', '']]);
  assert.deepEqual(parseProperties(Buffer.from([0x6b, 0x3d, 0xe9])), { ok: true, entries: [['k', 'é']] });
  const bad = parseProperties(Buffer.from('k=\\u00zz\n'));
  assert.equal(bad.ok, false);
});

test('ALLOW_PREFIX applies to later entries; ENFORCE_PREFIX removes what came before', () => {
  const a = applyPrefixes([
    ['early.x', '1'],
    ['provisioning.ALLOW_PREFIX', 'net.java|org.jitsi'],
    ['net.java.a', '1'],
    ['other.b', '2'],
    ['org.jitsi.c', '3'],
    ['provisioning.ENFORCE_PREFIX', 'net.java'],
  ]);
  assert.equal(a.properties, 4);
  assert.deepEqual(a.dropped, [
    { key: 'other.b', reason: 'ALLOW_PREFIX' },
    { key: 'org.jitsi.c', reason: 'ENFORCE_PREFIX' },
    { key: 'early.x', reason: 'ENFORCE_PREFIX' },
  ]);
  assert.deepEqual(javaSplitBar('a||b|'), ['a', '', 'b']);
  assert.deepEqual(applyPrefixes([['provisioning.ALLOW_PREFIX', 'a||b'], ['zzz', '1']]).dropped, [], 'an empty prefix allows everything');
});

test('redirects are followed as the client follows them (contract §4.5)', () => {
  const base = 'http://10.0.0.1:8667/jitsi';
  assert.deepEqual(nextRedirect(303, '/final', base, 1), { follow: true, url: 'http://10.0.0.1:8667/final' }, '303: GET, relative allowed');
  const moved = nextRedirect(302, 'http://10.0.0.2/p', base, 1);
  assert.ok(moved.follow && moved.url === 'http://10.0.0.2/p' && /current builds do not follow 302/.test(moved.note ?? ''), JSON.stringify(moved));
  const rel = nextRedirect(301, '/p', base, 1);
  assert.ok(!rel.follow && /absolute URL/.test(rel.reason));
  for (const s of [307, 308]) {
    const r = nextRedirect(s, 'http://10.0.0.2/p', base, 1);
    assert.ok(!r.follow && /does not follow 307\/308/.test(r.reason));
  }
  const ph = nextRedirect(303, 'http://x/p?u=${username}', base, 1);
  assert.ok(!ph.follow && /placeholder/.test(ph.reason));
  const many = nextRedirect(303, '/again', base, 11);
  assert.ok(!many.follow && /more than 10 redirects/.test(many.reason));
  const none = nextRedirect(303, null, base, 1);
  assert.ok(!none.follow && /without a Location/.test(none.reason));
  const notRedirect = nextRedirect(304, '/x', base, 1);
  assert.ok(!notRedirect.follow);
});

test('probe --url on loopback: the POST, a 303 followed as GET, 307 refused, each named in the report', async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/jitsi') return void res.writeHead(303, { location: '/hop' }).end();
    if (req.url === '/hop') return void res.writeHead(302, { location: `http://127.0.0.1:${port()}/final` }).end();
    if (req.url === '/final') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('net.java.sip.communicator.impl.protocol.sip.acc1=acc1\n');
    if (req.url === '/temp') return void res.writeHead(307, { location: '/final' }).end();
    if (req.url === '/loop') return void res.writeHead(303, { location: '/loop' }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (): number => (server.address() as AddressInfo).port;
  try {
    const ok = await runProbe({ method: 'both', userAgent: 'Jitsi/2.10.5550', build: 't', url: `http://127.0.0.1:${port()}/jitsi?hostname=\${hostname}&ip=\${ipaddr}` });
    assert.equal(ok.ok, true, JSON.stringify(ok.steps));
    assert.deepEqual(ok.steps.map((s) => s.step), ['url', 'http', 'properties'], 'no discovery with --url');
    assert.deepEqual(seen, ['POST /jitsi', 'GET /hop', 'GET /final']);
    const http = ok.steps[1];
    assert.match(http?.summary ?? '', /after 2 redirect\(s\): 303 → http:\/\/127\.0\.0\.1:\d+\/hop, 302 → /);
    assert.match(http?.summary ?? '', /warning: HTTP 302: followed as GET by the 2\.10–2\.11 client/);
    seen.length = 0;
    const temp = await runProbe({ method: 'both', userAgent: 'Jitsi/2.10.5550', build: 't', url: `http://127.0.0.1:${port()}/temp` });
    assert.equal(temp.failed, 'http');
    assert.match(temp.steps.at(-1)?.summary ?? '', /HTTP 307 \(HTTP 307: the client does not follow 307\/308\)/);
    assert.deepEqual(seen, ['POST /temp'], 'the 307 is not followed');
    const loop = await runProbe({ method: 'both', userAgent: 'Jitsi/2.10.5550', build: 't', url: `http://127.0.0.1:${port()}/loop` });
    assert.equal(loop.failed, 'http');
    assert.match(loop.steps.at(-1)?.summary ?? '', /after 10 redirect\(s\).*more than 10 redirects/);
  } finally {
    server.close();
  }
});

describe('probe over HTTPS with a self-signed certificate (loopback)', { skip: opensslMissing() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'probe-tls-'));
  const { cert, key } = makeCert(dir, 'srv', 'provisioning.test');
  const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('net.java.sip.communicator.impl.protocol.sip.acc1=acc1\n');
  });
  let url = '';
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/jitsi?u=\${username}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an untrusted certificate fails the http step (exit 13) and says what the client would do', async () => {
    const r = await runCli(['probe', '--url', url]);
    assert.equal(r.code, 13, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL http .*TLS certificate not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT/);
    assert.match(r.stdout, /would ask its user/);
  });

  test('--ca trusts it (the IP SAN matches the URL); --insecure accepts it with a warning', async () => {
    const trusted = await runCli(['probe', '--url', url, '--ca', cert]);
    assert.equal(trusted.code, 0, trusted.stdout + trusted.stderr);
    assert.doesNotMatch(trusted.stdout, /not checked/);
    const insecure = await runCli(['probe', '--url', url, '--insecure']);
    assert.equal(insecure.code, 0, insecure.stdout + insecure.stderr);
    assert.match(insecure.stdout, /warning: the server certificate was not checked \(--insecure\)/);
  });

  test('a missing --ca file is a usage error naming it', async () => {
    const r = await runCli(['probe', '--url', url, '--ca', join(dir, 'nope.pem')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read --ca .*nope\.pem/);
  });
});

test('a response over 16 MiB is refused, not buffered without bound', async () => {
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const server = createServer((_req, res) => {
    res.writeHead(200);
    let n = 0;
    const pump = (): void => {
      while (n < 20 && res.write(chunk)) n++;
      if (n < 20) res.once('drain', pump);
      else res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const rep = await runProbe({ method: 'both', userAgent: 'Jitsi/2.10.5550', build: 't', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/big` });
    assert.equal(rep.failed, 'http');
    assert.match(rep.steps.at(-1)?.summary ?? '', /larger than 16 MiB/);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
