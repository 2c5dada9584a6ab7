import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/config/load';
import { DhcpFace } from '../src/dhcp/server';
import { BODY_2_10, BODY_HEAD, DOC_PASSWORD, DOC_UUID, HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace, type TestFace } from './helpers/prov';
import { javaLoad, javaMissing } from './helpers/java';
import { captureLog } from './helpers/log';
import { makeCert, opensslMissing, httpsPost } from './helpers/tls';
import { startDaemon } from './helpers/daemon';
import { listenBacklogs, somaxconn } from './helpers/listen';

const FORM = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' };
let hashes: { alice: string; bob: string };

before(async () => {
  hashes = { alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw=#!', 10) };
});

/** The document the doc sample request must produce, as the client will see it. */
function intendedDocSample(): Map<string, string> {
  return new Map([
    ['provisioning.ALLOW_PREFIX', 'net.java.sip.communicator'],
    ['net.java.sip.communicator.impl.protocol.sip', '${null}'],
    ['net.java.sip.communicator.impl.protocol.sip.acc1', 'acc1'],
    ['net.java.sip.communicator.impl.protocol.sip.acc1.USER_ID', '1001@sip.example.com'],
    ['net.java.sip.communicator.impl.protocol.sip.acc1.DISPLAY_NAME', 'Alice Ł'],
    ['net.java.sip.communicator.impl.protocol.sip.acc1.PASSWORD', DOC_PASSWORD],
    ['net.java.sip.communicator.impl.gui.OS', 'Windows 10 00:1a:2b:3c:4d:5e 2.10.5550'],
    ['net.java.sip.communicator.impl.gui.DESK', 'front desk'],
    ['provisioning.ENFORCE_PREFIX', 'net.java.sip.communicator'],
  ]);
}

describe('HTTP face: handler logic (inject)', () => {
  let f: TestFace;
  before(async () => {
    f = await startFace(HTTP_LOOPBACK + provisioningYaml(hashes));
  });
  after(() => f.close());

  const post = (body: string, url = '/jitsi', headers: Record<string, string> = FORM) => f.face.app!.inject({ method: 'POST', url, headers, payload: body });

  test('the doc sample from Jitsi 2.10 (URI order) and current Jitsi (HashMap order) get the same document', async () => {
    const a = await post(BODY_2_10);
    const b = await post(BODY_HEAD, '/jitsi', { ...FORM, 'accept-encoding': 'gzip,deflate' });
    assert.equal(a.statusCode, 200, a.body);
    assert.equal(b.statusCode, 200, b.body);
    assert.equal(a.body, b.body);
    assert.equal(a.headers['content-type'], 'text/plain; charset=ISO-8859-1');
    assert.equal(b.headers['content-encoding'], undefined, 'no compression');
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.match(a.body, /^[\x20-\x7e\n]*$/);
    const lines = a.body.trimEnd().split('\n');
    assert.equal(lines[0], 'provisioning.ALLOW_PREFIX=net.java.sip.communicator');
    assert.equal(lines[lines.length - 1], 'provisioning.ENFORCE_PREFIX=net.java.sip.communicator');
    assert.equal(new Set(lines.map((l) => l.split('=')[0])).size, lines.length, 'no key twice');
  });

  test('the JDK parses the doc sample document back to exactly the intended values', { skip: javaMissing() }, async () => {
    const r = await post(BODY_HEAD);
    const [parsed] = javaLoad([Buffer.from(r.rawPayload)]);
    assert.deepEqual(parsed, intendedDocSample());
  });

  test('wrong password, unknown user, empty password: 401 without WWW-Authenticate', async () => {
    for (const body of [BODY_2_10.replace('p%40ss', 'nope'), 'user=mallory%40example.com&password=x', 'user=alice%40example.com&password=']) {
      const r = await post(body);
      assert.equal(r.statusCode, 401, body);
      assert.equal(r.headers['www-authenticate'], undefined);
    }
  });

  test('no credential fields on a tenant that needs them: 400 naming the parameters, never 401', async () => {
    for (const body of ['os=Linux&uuid=x', 'user=alice%40example.com&os=Linux', 'password=x', '']) {
      const r = await post(body);
      assert.equal(r.statusCode, 400, body);
      assert.match(r.body, /username=\$\{username\}&password=\$\{password\}/);
    }
  });

  test('unknown tenant: 404, from user@domain or the domain field', async () => {
    assert.equal((await post('user=alice%40nowhere.org&password=x')).statusCode, 404);
    assert.equal((await post('user=alice&password=x&domain=nowhere.org')).statusCode, 404);
    assert.equal((await post('os=Linux&domain=nowhere.org')).statusCode, 404);
  });

  test('the domain field and the default domain select the tenant', async () => {
    assert.equal((await post(`user=alice&password=${encodeURIComponent(DOC_PASSWORD)}&domain=example.com`)).statusCode, 200);
    assert.equal((await post(`user=ALICE&password=${encodeURIComponent(DOC_PASSWORD)}`)).statusCode, 200, 'defaultDomain; names are case-insensitive');
  });

  test('a tenant without requireCredentials serves anonymous requests, but still checks a carried pair', async () => {
    const r = await post('domain=open.example&os=Linux');
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /HELLO=hello anonymous/);
    assert.equal((await post('user=x%40open.example&password=y')).statusCode, 401);
  });

  test('GET /jitsi?… and POST /jitsiprovs/ give the same document; no redirects anywhere', async () => {
    const ref = (await post(BODY_2_10)).body;
    const g = await f.face.app!.inject({ method: 'GET', url: `/jitsi?${BODY_2_10}`, headers: { 'user-agent': 'Jitsi/2.10.5550' } });
    assert.equal(g.statusCode, 200);
    assert.equal(g.body, ref);
    for (const url of ['/jitsiprovs/', '/jitsiprovs', '/jitsi/']) {
      const r = await post(BODY_2_10, url);
      assert.equal(r.statusCode, 200, url);
      assert.equal(r.body, ref);
    }
    const nf = await post(BODY_2_10, '/provisioning.php');
    assert.equal(nf.statusCode, 404);
    assert.equal(nf.headers['location'], undefined);
  });

  test('malformed bodies: 400', async () => {
    assert.equal((await post('a=%zz')).statusCode, 400);
    assert.equal((await post('{"user":"alice"}', '/jitsi', { 'content-type': 'application/json' })).statusCode, 400);
    const many = Array.from({ length: 100 }, (_, i) => `p${i}=1`).join('&');
    assert.equal((await post(many)).statusCode, 400);
  });

  test('a form body without Content-Type, or with a charset, is read the same', async () => {
    const ref = (await post(BODY_2_10)).body;
    assert.equal((await post(BODY_2_10, '/jitsi', { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8', 'user-agent': 'Jitsi/2.10.5550' })).body, ref);
    assert.equal((await post(BODY_2_10, '/jitsi', { 'user-agent': 'Jitsi/2.10.5550' })).body, ref);
  });

  test('idempotent: the same POST 4 times (retry handler) gives the same answer and one device row', async () => {
    const body = BODY_2_10.replace(DOC_UUID, 'aaaaaaaa-0000-4000-8000-000000000004');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await post(body)).body);
    assert.equal(new Set(answers).size, 1);
    const d = (await f.store.devices.get('uuid:aaaaaaaa-0000-4000-8000-000000000004'));
    assert.equal(d?.requests, 4);
    assert.equal(d?.lastOutcome, '200 ok');
  });

  test('the inventory is keyed by uuid, else hwaddr, and records the outcome', async () => {
    await post(`user=alice%40example.com&password=${encodeURIComponent(DOC_PASSWORD)}&hw=02%3A00%3A00%3A00%3A00%3A01&os=Linux&hostname=box&arch=amd64&build=2.10.5550`);
    const d = (await f.store.devices.get('hwaddr:02:00:00:00:00:01'));
    assert.ok(d);
    assert.equal(d.username, 'alice@example.com');
    assert.equal(d.tenant, 'example.com');
    assert.equal(d.osname, 'Linux');
    assert.equal(d.arch, 'amd64');
    assert.equal(d.hostname, 'box');
    assert.equal(d.userAgent, 'Jitsi/2.10.5550');
    // A failed request creates no record (issue 10, defect 14); on a known one it is counted only.
    await post('user=alice%40example.com&password=wrong&uuid=bbbbbbbb-0000-4000-8000-000000000001');
    assert.equal((await f.store.devices.get('uuid:bbbbbbbb-0000-4000-8000-000000000001')), undefined);
    await post('user=alice%40example.com&password=wrong&hw=02%3A00%3A00%3A00%3A00%3A01');
    assert.equal((await f.store.devices.get('hwaddr:02:00:00:00:00:01'))?.lastFailure, '401 bad-credentials');
    assert.equal((await f.store.devices.get('hwaddr:02:00:00:00:00:01'))?.lastOutcome, '200 ok');
  });
});

describe('HTTP face: other status codes', () => {
  test('500 carries a request id, and the log line has the same id and the cause', async () => {
    const f = await startFace(
      `${HTTP_LOOPBACK}provisioning:\n  tenants:\n    localdomain:\n      requireCredentials: false\n      rules:\n        - {subject: default, properties: {k.a: "{{ params.missing }}"}}\n`,
    );
    try {
      const r = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: FORM, payload: 'os=Linux' });
      assert.equal(r.statusCode, 500);
      const id = /request id (\S+)\)/.exec(r.body)?.[1];
      assert.ok(id, r.body);
      const line = f.lines().find((l) => l['reqId'] === id && l['level'] === 'error');
      assert.ok(line, f.text());
      assert.match(String(line['err']), /k\.a/);
    } finally {
      await f.close();
    }
  });

  test('429 when one address exceeds http.rateLimit, with Retry-After', async () => {
    const f = await startFace(
      `http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 1, burst: 2}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nprovisioning:\n  tenants:\n    localdomain: {requireCredentials: false}\n`,
    );
    try {
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: FORM, payload: 'os=x' })).statusCode);
      assert.deepEqual(codes, [200, 200, 429]);
    } finally {
      await f.close();
    }
  });

  test('429 when more password checks are pending than maxPendingVerifications', async () => {
    // A costlier hash (ln=14, tens of ms) keeps the first check pending while the others arrive.
    const slow = { alice: await hashPassword(DOC_PASSWORD, 14), bob: hashes.bob };
    const f = await startFace(HTTP_LOOPBACK + provisioningYaml(slow).replace('passwords: {scryptCost: 10}', 'passwords: {scryptCost: 10, maxPendingVerifications: 1}'));
    try {
      const rs = await Promise.all(
        Array.from({ length: 8 }, (_, i) => f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: FORM, payload: `user=alice&password=guess${i}` })),
      );
      const codes = rs.map((r) => r.statusCode).sort();
      assert.ok(codes.filter((c) => c === 429).length >= 2, codes.join());
      assert.ok(codes.includes(401), codes.join());
      // A saturation episode is one warning, not one line per refused request.
      const warned = f.lines().filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('password checks saturated'));
      assert.equal(warned.length, 1, f.text());
      assert.equal(warned[0]?.['level'], 'warn');
      assert.equal(f.lines().filter((l) => l['outcome'] === 'busy' && l['level'] !== 'debug' && l['reqId'] !== warned[0]?.['reqId']).length, 0, f.text());
    } finally {
      await f.close();
    }
  });
});

describe('HTTP face: real sockets', () => {
  let f: TestFace;
  before(async () => {
    f = await startFace(HTTP_LOOPBACK + provisioningYaml(hashes), { level: 'trace' });
  });
  after(() => f.close());

  test('the listening socket has the http.backlog accept queue (default 4096, capped by somaxconn), not Node\'s 511', async () => {
    assert.deepEqual(listenBacklogs(f.face.port ?? 0), [Math.min(4096, somaxconn())]);
    const g = await startFace(HTTP_LOOPBACK.replace('rateLimit', 'backlog: 100, rateLimit') + provisioningYaml(hashes));
    try {
      assert.deepEqual(listenBacklogs(g.face.port ?? 0), [100]);
    } finally {
      await g.close();
    }
  });

  test('413 for a body over http.bodyLimit', async () => {
    const r = await fetch(`${f.url}/jitsi`, { method: 'POST', headers: FORM, body: `os=${'a'.repeat(20_000)}` });
    assert.equal(r.status, 413);
  });

  test('concurrent requests for different users never mix', async () => {
    const users = [
      { user: 'alice', pw: DOC_PASSWORD, ext: '1001' },
      { user: 'bob', pw: 'bob pw=#!', ext: '1002' },
      // A third user with a wrong password: a user of its own, so that the ban it earns after
      // http.bans.maxRetry failures (429 from then on) never touches alice or bob.
      { user: 'mallory', pw: 'not bob', ext: '' },
    ];
    const jobs = Array.from({ length: 90 }, (_, i) => {
      const u = users[i % users.length] ?? users[0]!;
      const uuid = `cccccccc-0000-4000-8000-${String(i).padStart(12, '0')}`;
      return fetch(`${f.url}/jitsi`, { method: 'POST', headers: FORM, body: `username=${u.user}&password=${encodeURIComponent(u.pw)}&uuid=${uuid}&os=OS${i}` }).then(async (r) => ({ i, u, status: r.status, body: await r.text() }));
    });
    for (const r of await Promise.all(jobs)) {
      if (r.u.ext === '') {
        assert.ok(r.status === 401 || r.status === 429, `request ${r.i}: ${r.status}`);
        continue;
      }
      assert.equal(r.status, 200, `request ${r.i}: ${r.body}`);
      assert.match(r.body, new RegExp(`USER_ID=${r.u.ext}@sip`), `request ${r.i}`);
      const pw = /acc1\.PASSWORD=(.*)\n/.exec(r.body)?.[1] ?? '';
      assert.equal(pw.replace(/\\(.)/g, '$1'), r.u.pw, `request ${r.i}`);
      assert.match(r.body, new RegExp(`OS=OS${r.i} `), `request ${r.i}`);
    }
    for (let i = 0; i < 90; i++) {
      const d = (await f.store.devices.get(`uuid:cccccccc-0000-4000-8000-${String(i).padStart(12, '0')}`));
      if (i % 3 === 2) continue; // mallory: recorded until banned, then answered 429 before any record
      assert.equal(d?.osname, `OS${i}`);
      assert.equal(d?.username, i % 3 === 0 ? 'alice@example.com' : 'bob@example.com');
    }
  });

  test('no password ever reaches a log line (POST, GET query, 401, 400, trace level)', async () => {
    const secret = 'Sup3r-Secret-Pw';
    await fetch(`${f.url}/jitsi`, { method: 'POST', headers: FORM, body: `username=alice&password=${secret}&uuid=x` });
    await fetch(`${f.url}/jitsi?username=alice&password=${secret}`);
    await fetch(`${f.url}/jitsi?password=${secret}`);
    await fetch(`${f.url}/jitsi`, { method: 'POST', headers: FORM, body: `username=alice&password=${encodeURIComponent(DOC_PASSWORD)}` });
    await fetch(`${f.url}/nope?password=${secret}`);
    await fetch(`${f.url}/jitsi?password=${secret}&x=%zz`);
    const text = f.text();
    assert.ok(f.lines().length >= 5, 'requests were logged');
    assert.ok(!text.includes(secret), 'the secret password appears in the log');
    assert.ok(!text.includes(DOC_PASSWORD) && !text.includes(encodeURIComponent(DOC_PASSWORD)), "alice's password appears in the log");
    assert.ok(!text.includes('bob pw'), "bob's password appears in the log");
  });
});

describe('HTTPS', { skip: opensslMissing() }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-tls-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('http.tls serves HTTPS (plus plain HTTP on plainPort); reload re-reads the certificate', async () => {
    const one = makeCert(dir, 'one', 'first.example');
    const two = makeCert(dir, 'two', 'second.example');
    const cert = join(dir, 'live.crt');
    const key = join(dir, 'live.key');
    copyFileSync(one.cert, cert);
    copyFileSync(one.key, key);
    const f = await startFace(`http: {host: 127.0.0.1, port: 0, plainPort: 0, tls: {cert: "${cert}", key: "${key}"}, rateLimit: {rate: 0}}\nmdns: {enabled: false}\n${provisioningYaml(hashes)}`);
    try {
      const port = f.face.port ?? 0;
      const a = await httpsPost(port, '/jitsi', BODY_HEAD);
      assert.equal(a.status, 200);
      assert.equal(a.cn, 'first.example');
      const plain = await fetch(`http://127.0.0.1:${f.face.plainPort ?? 0}/jitsi`, { method: 'POST', headers: FORM, body: BODY_HEAD });
      assert.equal(plain.status, 200);
      assert.equal(await plain.text(), a.body);

      // a renewed certificate at the same path is picked up by reload (SIGHUP), without a restart
      copyFileSync(two.cert, cert);
      copyFileSync(two.key, key);
      await f.face.reload(f.config);
      assert.equal(f.face.port, port);
      assert.equal((await httpsPost(port, '/jitsi', BODY_HEAD)).cn, 'second.example');

      // a broken pair is refused and the old certificate stays
      writeFileSync(key, 'not a key');
      await assert.rejects(f.face.reload(f.config), (e: { code?: string }) => e.code === 'PROVD_ERR_HTTP_TLS');
      assert.equal((await httpsPost(port, '/jitsi', BODY_HEAD)).cn, 'second.example');
    } finally {
      await f.close();
    }
  });

  test('with http.tls the DHCP face hands out an https:// default URL', async () => {
    const c = makeCert(dir, 'd', 'dhcp.example');
    const config = parseConfigText(`dhcp: {port: 0, interfaces: [lo]}\nhttp: {host: 127.0.0.1, port: 8443, tls: {cert: "${c.cert}", key: "${c.key}"}}\n`, 't.yaml');
    const cap = captureLog('info');
    const dhcp = new DhcpFace({ config, log: cap.log, checkPortFree: false });
    await dhcp.start();
    try {
      const line = cap.lines.find((l) => l['msg'] === 'DHCP face serving');
      assert.match(JSON.stringify(line?.['urls']), /"https:\/\/127\.0\.0\.1:8443\/jitsi\?username=\$\{username\}/);
    } finally {
      await dhcp.close();
    }
  });

  test('the daemon re-reads the certificate on SIGHUP', async () => {
    const one = makeCert(dir, 'h1', 'hup-one.example');
    const two = makeCert(dir, 'h2', 'hup-two.example');
    const cert = join(dir, 'hup.crt');
    const key = join(dir, 'hup.key');
    copyFileSync(one.cert, cert);
    copyFileSync(one.key, key);
    const state = join(dir, 'state');
    const cfgPath = join(dir, 'hup.yaml');
    writeFileSync(cfgPath, `dhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${state}\nhttp: {host: 127.0.0.1, port: 0, tls: {cert: "${cert}", key: "${key}"}}\n${provisioningYaml(hashes)}`);
    const d = startDaemon(['run', '--config', cfgPath]);
    try {
      const serving = await d.waitForLog('HTTP face serving');
      const port = Number(serving['port']);
      assert.equal((await httpsPost(port, '/jitsi', BODY_HEAD)).cn, 'hup-one.example');
      copyFileSync(two.cert, cert);
      copyFileSync(two.key, key);
      d.child.kill('SIGHUP');
      await d.waitForLog('TLS certificate re-read');
      const r = await httpsPost(port, '/jitsi', BODY_HEAD);
      assert.equal(r.cn, 'hup-two.example');
      assert.equal(r.status, 200);
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });
});
