/**
 * Issue 5, slices 1-2: auth strategies per tenant, shared secret, allowFrom, provisioning keys
 * (path segment, hashed at rest, rotation grace, constant-time, tenant scoping), keyed URLs on the
 * DHCP/mDNS faces.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable, Readable } from 'node:stream';
import { parseConfigText } from '../src/config/load';
import { ProvError } from '../src/errors';
import { type ServedInterface } from '../src/dhcp/handler';
import { buildUrlPlan, keyedUrl, selectUrl } from '../src/urls/plan';
import { generateKey, hashKey, KeyRing, KEY_PATTERN } from '../src/identity/keys';
import { openSqliteStore } from '../src/store/sqlite';
import { keyRotate, keyList } from '../src/cli/key';
import { HTTP_LOOPBACK, hashPassword, startFace, type TestFace } from './helpers/prov';
import { parseCidr, parseIPv4, type Cidr } from '../src/net/ipv4';
import { planAdvertisement } from '../src/mdns/plan';
import type { HostInterface } from '../src/net/interfaces';

const FORM = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' };
const KEY_A = 'AAAAaaaaBBBBbbbbCCCCccccDDDDdddd';
const KEY_B = 'ZZZZzzzzYYYYyyyyXXXXxxxxWWWWwwww';

function memIo(stdin = ''): { io: { stdin: Readable; stdout: Writable; stderr: Writable }; out: () => string; err: () => string } {
  const o: string[] = [];
  const e: string[] = [];
  const sink = (into: string[]): Writable =>
    new Writable({
      write(c: Buffer, _e, cb) {
        into.push(c.toString('utf8'));
        cb();
      },
    });
  return { io: { stdin: Readable.from([stdin]), stdout: sink(o), stderr: sink(e) }, out: () => o.join(''), err: () => e.join('') };
}

describe('provisioning keys: generation, hashing, key ring', () => {
  test('a generated key has ≥128 bits, matches KEY_PATTERN, and keys differ', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const k = generateKey();
      assert.match(k, KEY_PATTERN);
      assert.ok(Buffer.from(k, 'base64url').length >= 16);
      seen.add(k);
    }
    assert.equal(seen.size, 50);
    assert.match(hashKey('x'), /^[0-9a-f]{64}$/);
  });

  test('config keys and stored keys resolve to their tenant; previous key only within the grace period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-keys-'));
    try {
      const s = openSqliteStore(dir);
      let now = Date.parse('2026-01-01T00:00:00Z');
      const ring = new KeyRing(new Map([['a.example', KEY_A]]), s.keys, () => now);
      assert.equal(await ring.tenantOf(KEY_A), 'a.example');
      assert.equal(await ring.tenantOf(KEY_B), undefined);
      assert.equal(await ring.tenantOf(''), undefined);
      const k1 = generateKey();
      const k2 = generateKey();
      const k3 = generateKey();
      await s.keys.rotate('b.example', hashKey(k1), new Date(now).toISOString(), new Date(now + 3600_000).toISOString());
      assert.equal(await ring.tenantOf(k1), 'b.example');
      await s.keys.rotate('b.example', hashKey(k2), new Date(now).toISOString(), new Date(now + 3600_000).toISOString());
      assert.equal(await ring.tenantOf(k1), 'b.example', 'previous key valid during the grace period');
      assert.equal(await ring.tenantOf(k2), 'b.example');
      now += 3600_000;
      assert.equal(await ring.tenantOf(k1), undefined, 'previous key refused once the grace period ends');
      assert.equal(await ring.tenantOf(k2), 'b.example');
      await s.keys.rotate('b.example', hashKey(k3), new Date(now).toISOString(), new Date(now + 3600_000).toISOString());
      assert.equal((await s.keys.list()).length, 2, 'a rotation keeps the current and one previous key');
      assert.ok(!JSON.stringify((await s.keys.list())).includes(k3), 'only hashes at rest');
      s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('provisiond key rotate prints the key once, stores its hash, and refuses an unknown tenant', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-keys-'));
    try {
      const cfg = parseConfigText(`provisioning:\n  keyGracePeriod: 60\n  tenants:\n    b.example: {auth: url_key}\nstateDir: ${dir}\n`, 'k.yaml');
      const m = memIo();
      await keyRotate(m.io, cfg, { tenant: 'b.example', now: new Date('2026-01-01T00:00:00Z') });
      const key = m.out().trim();
      assert.match(key, KEY_PATTERN);
      assert.match(m.err(), /shown once/);
      const s = openSqliteStore(dir);
      const list = (await s.keys.list());
      s.close();
      assert.equal(list.length, 1);
      assert.equal(list[0]?.hash, hashKey(key));
      assert.equal(list[0]?.expiresAt, null);
      const m2 = memIo();
      await keyRotate(m2.io, cfg, { tenant: 'b.example', now: new Date('2026-01-01T00:00:00Z') });
      const l = memIo();
      await keyList(l.io, cfg, { json: true, now: new Date('2026-01-01T00:00:30Z') });
      const rows = JSON.parse(l.out()) as { state: string; validUntil: string | null }[];
      assert.deepEqual(rows.map((r) => r.state).sort(), ['current', 'previous (grace)']);
      assert.ok(rows.some((r) => r.validUntil === '2026-01-01T00:01:00.000Z'), 'grace = provisioning.keyGracePeriod');
      assert.ok(!l.out().includes(key) && !l.out().includes(hashKey(key)));
      await assert.rejects(keyRotate(memIo().io, cfg, { tenant: 'nope.example' }), (e: unknown) => (e as { code?: string }).code === 'PROVD_ERR_KEY');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('auth strategies over HTTP', () => {
  let f: TestFace;
  let storedKey: string;
  const yaml = (alice: string): string => `${HTTP_LOOPBACK}provisioning:
  tenants:
    a.example:
      auth: url_key+credentials
      urlKey: ${KEY_A}
      users: {alice: {password: "${alice}"}}
      rules: [{subject: default, properties: {k.who: "A {{ user.name }}"}}]
    b.example:
      auth: url_key
      users: {bob: {password: "${alice}"}}
      rules: [{subject: default, properties: {k.who: "B secret data"}}]
    open.example:
      auth: none
      rules: [{subject: default, properties: {k.who: "open"}}]
    creds.example:
      auth: credentials
      users: {carol: {password: "${alice}"}}
      rules: [{subject: default, properties: {k.who: "C"}}]
    walled.example:
      auth: none
      allowFrom: [10.0.0.0/8]
      rules: [{subject: default, properties: {k.who: "walled"}}]
    shared.example:
      auth: none
      secret: "s3cret-s3cret-s3cret"
      rules: [{subject: default, properties: {k.who: "shared"}}]
`;
  before(async () => {
    f = await startFace(yaml(await hashPassword('pw', 10)));
    storedKey = generateKey();
    await f.store.keys.rotate('b.example', hashKey(storedKey), new Date().toISOString(), new Date(Date.now() + 60_000).toISOString());
  });
  after(async () => f.close());
  const post = (url: string, body: string) => f.face.app!.inject({ method: 'POST', url, headers: FORM, payload: body });
  /** expectStatus: on a wrong status, the message carries the body (which 429: ban, in flight, KDF) and the face's counters. */
  const expectStatus = async (r: ReturnType<typeof post>, code: number, what = ''): Promise<void> => {
    const res = await r;
    assert.equal(res.statusCode, code, `${what} ${res.body.trim()} ${JSON.stringify(f.face.stats())}`);
  };

  test('url_key+credentials: key and password → 200; wrong password → 401', async () => {
    const ok = await post(`/${KEY_A}/jitsi`, 'username=alice&password=pw&uuid=u-1');
    assert.equal(ok.statusCode, 200, ok.body);
    assert.match(ok.body, /k\.who=A alice/);
    assert.equal(ok.headers['cache-control'], 'no-store');
    await expectStatus(post(`/${KEY_A}/jitsi`, 'username=alice&password=nope'), 401);
    await expectStatus(post(`/${KEY_A}/jitsiprovs/`, 'username=alice@a.example&password=pw'), 200);
    const g = await f.face.app!.inject({ method: 'GET', url: `/${KEY_A}/jitsi?username=alice&password=pw` });
    assert.equal(g.statusCode, 200, g.body);
  });

  test('a wrong key and a right key of another tenant fail identically (404, same body and headers)', async () => {
    const wrong = await post(`/${'Q'.repeat(32)}/jitsi`, 'username=bob@b.example&password=pw');
    const other = await post(`/${KEY_A}/jitsi`, 'username=bob@b.example&password=pw');
    const otherDomain = await post(`/${KEY_A}/jitsi`, 'username=bob&domain=b.example&password=pw');
    for (const r of [wrong, other, otherDomain]) {
      assert.equal(r.statusCode, 404, r.body);
      assert.equal(r.body, wrong.body);
      assert.deepEqual({ ...r.headers, date: '', 'content-length': '' }, { ...wrong.headers, date: '', 'content-length': '' });
    }
    assert.ok(!other.body.includes('B secret'));
  });

  test('a key-only tenant without its key reads like an unknown tenant; its stored key works', async () => {
    const missing = await post('/jitsi', 'username=bob@b.example&password=pw');
    const unknown = await post('/jitsi', 'username=bob@nowhere.example&password=pw');
    assert.equal(missing.statusCode, 404, missing.body);
    assert.equal(missing.body.replace('b.example', 'X'), unknown.body.replace('nowhere.example', 'X'));
    const ok = await post(`/${storedKey}/jitsi`, 'uuid=u-2');
    assert.equal(ok.statusCode, 200, `url_key: anonymous with the key: ${ok.body} ${JSON.stringify(f.face.stats())}`);
    assert.match(ok.body, /B secret data/);
    await expectStatus(post(`/${storedKey}/jitsi`, 'username=bob&password=bad'), 401, 'a carried pair is still checked');
  });

  test('credentials without a pair → 400; none → 200', async () => {
    await expectStatus(post('/jitsi', 'domain=creds.example'), 400);
    await expectStatus(post('/jitsi', 'domain=open.example'), 200);
  });

  test('allowFrom and secret refuse with 404, never 401/403', async () => {
    const walled = await post('/jitsi', 'domain=walled.example');
    assert.equal(walled.statusCode, 404);
    assert.equal(walled.body, 'unknown tenant: walled.example\n');
    await expectStatus(post('/jitsi', 'domain=shared.example'), 404);
    await expectStatus(post('/jitsi', 'domain=shared.example&secret=wrong'), 404);
    await expectStatus(post('/jitsi', 'domain=shared.example&secret=s3cret-s3cret-s3cret'), 200);
  });

  test("a request scoped to tenant A never alters tenant B's device record", async () => {
    await expectStatus(post(`/${storedKey}/jitsi`, 'uuid=shared-1&os=B-os'), 200);
    assert.equal((await f.store.devices.get('uuid:shared-1'))?.tenant, 'b.example');
    await expectStatus(post(`/${KEY_A}/jitsi`, 'username=alice&password=pw&uuid=shared-1&os=A-os'), 200);
    const d = (await f.store.devices.get('uuid:shared-1'));
    assert.equal(d?.tenant, 'b.example');
    assert.equal(d?.osname, 'B-os');
    assert.equal(d?.requests, 1);
  });

  test('no request recorded a device for a refused request, and no key or secret reached the log', async () => {
    assert.ok(!(await f.store.devices.list()).some((d) => d.tenant === 'b.example' && d.key === 'uuid:u-9'));
    await post(`/${'Q'.repeat(32)}/jitsi`, 'uuid=u-9');
    assert.equal((await f.store.devices.get('uuid:u-9')), undefined);
    const text = f.text();
    assert.ok(!text.includes(KEY_A) && !text.includes(storedKey), 'keys never logged');
    assert.ok(!text.includes('s3cret-s3cret'), 'secrets never logged');
    assert.match(text, /"path":"\/<key>\/jitsi"/);
  });
});

describe('keyed URLs on the DHCP and mDNS faces', () => {
  test('keyedUrl puts the key in front of the path', async () => {
    assert.equal(keyedUrl('http://h:8667/jitsi?u=${username}', KEY_A), `http://h:8667/${KEY_A}/jitsi?u=\${username}`);
    assert.equal(keyedUrl('https://h', KEY_A), `https://h/${KEY_A}/`);
  });

  test('dhcp.networks[].tenant: the network is served its tenant key; others are not', async () => {
    const cfg = parseConfigText(
      `mdns: {enabled: false}\ndhcp:\n  networks:\n    - {subnet: 10.1.0.0/16, url: "http://10.1.0.1:8667/jitsi?username=\${username}", tenant: a.example}\n    - {subnet: 10.2.0.0/16, url: "http://10.2.0.1:8667/jitsi"}\nprovisioning:\n  tenants:\n    a.example: {auth: url_key, urlKey: ${KEY_A}}\n`,
      'd.yaml',
    );
    const plan = buildUrlPlan(cfg);
    const iface: ServedInterface = { name: 'eth0', address: parseIPv4('192.0.2.1') ?? 0, cidr: (parseCidr('192.0.2.0/24') as { ok: true; value: Cidr }).value };
    assert.equal(selectUrl(plan, parseIPv4('10.1.2.3') ?? 0, 0, iface).toString(), `http://10.1.0.1:8667/${KEY_A}/jitsi?username=\${username}`);
    assert.equal(selectUrl(plan, parseIPv4('10.2.2.3') ?? 0, 0, iface).toString(), 'http://10.2.0.1:8667/jitsi');
  });

  test('the mDNS face advertises the same keyed URL for the link it serves', async () => {
    const c = parseConfigText(
      `dhcp:\n  interfaces: [eth1]\n  networks:\n    - {subnet: 10.20.0.0/16, url: "http://10.20.0.1:8667/jitsi?username=\${username}", tenant: a.example}\nprovisioning:\n  tenants:\n    a.example: {auth: url_key+credentials, urlKey: ${KEY_A}}\n`,
      'm.yaml',
    );
    const eth1: HostInterface = { name: 'eth1', address: parseIPv4('10.20.0.1') ?? 0, internal: false, cidr: (parseCidr('10.20.0.0/16') as { ok: true; value: Cidr }).value };
    const r = planAdvertisement(c, [eth1], 'box');
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.deepEqual(r.ad.txt, [`path=/${KEY_A}/jitsi`, 'username=${username}']);
  });

  test('a network naming an unknown tenant, a key tenant without urlKey, or a keyed URL over 255 bytes is a config error', async () => {
    const problems = (y: string): string[] => {
      try {
        parseConfigText(y, 'e.yaml');
        return [];
      } catch (err) {
        return err instanceof ProvError ? [...err.details] : [String(err)];
      }
    };
    const net = (url: string, tenant: string): string => `mdns: {enabled: false}\ndhcp:\n  networks:\n    - {subnet: 10.1.0.0/16, url: "${url}", tenant: ${tenant}}\n`;
    assert.match(problems(`${net('http://h/jitsi', 'z.example')}provisioning: {tenants: {a.example: {}}}\n`).join('\n'), /names no tenant/);
    assert.match(problems(`${net('http://h/jitsi', 'a.example')}provisioning: {tenants: {a.example: {auth: url_key}}}\n`).join('\n'), /has no urlKey/);
    const long = `http://h/${'p'.repeat(230)}`;
    assert.match(problems(`${net(long, 'a.example')}provisioning: {tenants: {a.example: {auth: url_key, urlKey: ${KEY_A}}}}\n`).join('\n'), /with tenant a\.example's key/);
    assert.match(problems(`provisioning: {tenants: {a.example: {auth: none, requireCredentials: true}}}\n`).join('\n'), /contradicts auth/);
    assert.match(problems(`provisioning: {tenants: {a.example: {urlKey: short}}}\n`).join('\n'), /22-128 characters/);
  });
});

describe('secret hygiene', () => {
  test('secret-named fields are redacted, including pass, urlKey and hashes', async () => {
    const { captureLog } = await import('./helpers/log');
    const cap = captureLog('info');
    cap.log.info({ pass: 'hunter2', t: { urlKey: KEY_A, passwordHash: '$scrypt$x', hash: 'abc123def' }, secret: 's3cret-s3cret-s3cret' }, 'x');
    const text = cap.text();
    for (const s of ['hunter2', KEY_A, '$scrypt$x', 'abc123def', 's3cret']) assert.ok(!text.includes(s), `'${s}' leaked: ${text}`);
  });

  test('a plaintext password in the configuration warns, naming provisiond hash-password', async () => {
    const { captureLog } = await import('./helpers/log');
    const { startupWarnings } = await import('../src/http/server');
    const { Engine } = await import('../src/jitsi/engine');
    const cfg = parseConfigText('http: {host: 0.0.0.0}\nmdns: {enabled: false}\nprovisioning:\n  tenants:\n    lab.example:\n      auth: none\n      users: {eve: {password: "plain:Sup3r-Secret-Pw"}}\n', 'w.yaml');
    const cap = captureLog('info');
    await startupWarnings(cfg, new Engine(cfg.provisioning, { log: cap.log }), undefined, cap.log);
    const text = cap.text();
    assert.match(text, /plaintext password.*provisiond hash-password/);
    assert.match(text, /auth: none \(lab mode\)/, 'none beyond loopback warns');
    assert.ok(!text.includes('Sup3r-Secret-Pw'));
    const quiet = captureLog('info');
    const local = parseConfigText('http: {host: 127.0.0.1}\nmdns: {enabled: false}\nprovisioning: {tenants: {lab.example: {auth: none}}}\n', 'w.yaml');
    await startupWarnings(local, new Engine(local.provisioning, { log: quiet.log }), undefined, quiet.log);
    assert.ok(!/lab mode/.test(quiet.text()), 'no warning on loopback');
  });

  test('state files are created 0600 in a 0700 directory', async () => {
    const { statSync } = await import('node:fs');
    const root = mkdtempSync(join(tmpdir(), 'provisiond-mode-'));
    const dir = join(root, 'state');
    try {
      const f = await startFace(`${HTTP_LOOPBACK}provisioning: {tenants: {localdomain: {auth: none}}}\n`, { stateDir: dir });
      await f.face.app!.inject({ method: 'POST', url: `/${'Q'.repeat(30)}/jitsi`, payload: 'uuid=x' });
      await f.close();
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      for (const name of ['provisiond.sqlite', 'security.log']) assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('X-Forwarded-For is honoured only from http.trustedProxies', async () => {
    const cfg = (proxies: string): string =>
      `http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}, trustedProxies: [${proxies}]}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nprovisioning: {tenants: {localdomain: {auth: none}}}\n`;
    const f = await startFace(cfg('10.0.0.1'));
    try {
      const send = (from: string, uuid: string) => f.face.app!.inject({ method: 'POST', url: '/jitsi', payload: `uuid=${uuid}`, remoteAddress: from, headers: { 'x-forwarded-for': '198.51.100.7' } });
      await send('10.0.0.1', 'via-proxy');
      await send('192.0.2.66', 'direct');
      assert.equal((await f.store.devices.get('uuid:via-proxy'))?.ip, '198.51.100.7');
      assert.equal((await f.store.devices.get('uuid:direct'))?.ip, '192.0.2.66', 'an untrusted peer cannot pick its address');
    } finally {
      await f.close();
    }
    const g = await startFace(cfg(''));
    try {
      await g.face.app!.inject({ method: 'POST', url: '/jitsi', payload: 'uuid=none', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '198.51.100.7' } });
      assert.equal((await g.store.devices.get('uuid:none'))?.ip, '10.0.0.1', 'no trustedProxies: never honoured');
    } finally {
      await g.close();
    }
  });
});
