/**
 * http-phones.test.ts: the HTTP face serving SIP phone files (issue 12 §5) on real sockets on
 * loopback, with curl as an independent client (its --interface picks the source address, so
 * each ban or cap test has a source of its own): a lab configuration with an `auth: none`
 * default tenant and a keyed tenant, a Yealink and a Polycom declared in YAML; keyed, wazo-style
 * and unkeyed paths; a wrong key counted into the bans until banned; autoprov `all` under the
 * devices caps; the sighting recorded; HEAD; If-None-Match → 304; the security.log lines; a
 * reload changing the served bytes; the Jitsi routes unchanged; `http.workers: 2`.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/config/load';
import { hashPassword, startFace, type TestFace } from './helpers/prov';
import { startDaemon, type Running } from './helpers/daemon';

const KEY = 'acmeKey0123456789abcdefXYZ';
const YEALINK_MAC = '00:15:65:4a:a9:37';
const POLYCOM_MAC = '00:04:f2:21:1c:8b';
const YEALINK_UA = 'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37';
const POLYCOM_UA = 'FileTransport PolycomVVX-VVX_400-UA/6.4.3.5018 Type/Application';

function labYaml(pw: string, opts: { proxy?: string; http?: string; extra?: string } = {}): string {
  return `http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}, bans: {maxRetry: 3, findTime: 600, banTime: 600}${opts.http ?? ''}}
dhcp: {enabled: false}
mdns: {enabled: false}
devices: {maxNewPerSourcePerHour: 1}
provisioning:
  defaultDomain: lab.example
  passwords: {scryptCost: 10}
  tenants:
    lab.example:
      auth: none
      users:
        carol: {password: "${pw}", attributes: {sip_username: "2001", sip_password: "Carol-SIP-secret", display_name: Carol}}
    acme.example:
      auth: url_key
      urlKey: ${KEY}
      users:
        alice: {password: "${pw}", attributes: {sip_username: "1001", sip_password: "Alice-SIP-secret", display_name: Alice}}
        bob: {password: "${pw}", attributes: {sip_username: "1002", sip_password: "Bob-SIP-secret", display_name: Bob}}
phones:
  enabled: true
  autoprovision: all
  configs:
    - {id: site, tenant: acme.example, role: default, raw: {sip_proxy_ip: "${opts.proxy ?? '192.0.2.10'}", ntp_ip: 192.0.2.123}}
    - {id: lab, tenant: lab.example, role: default, raw: {sip_proxy_ip: 192.0.2.20}}
    - {id: auto, tenant: lab.example, role: autoprov, raw: {sip_proxy_ip: 192.0.2.20}}
  devices:
    - {mac: "${YEALINK_MAC}", tenant: acme.example, profile: yealink, model: T46S, users: [alice]}
    - {mac: "${POLYCOM_MAC}", tenant: acme.example, profile: polycom, model: VVX400, users: [bob]}
${opts.extra ?? ''}`;
}

interface CurlAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** curl fetches a URL with curl (an independent client) from a chosen loopback source address. */
function curl(url: string, opts: { ua?: string; from?: string; head?: boolean; headers?: Record<string, string> } = {}): Promise<CurlAnswer> {
  // -I prints the headers itself (with -D - they would come twice).
  const args = ['-s', '-g', ...(opts.head === true ? ['-I'] : ['-D', '-']), '--max-time', '10', '--interface', opts.from ?? '127.0.0.1'];
  if (opts.ua !== undefined) args.push('-A', opts.ua);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile('curl', args, { encoding: 'latin1', maxBuffer: 1 << 22 }, (err, stdout) => {
      if (err) return reject(err);
      const cut = stdout.indexOf('\r\n\r\n');
      const head = cut < 0 ? stdout : stdout.slice(0, cut);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: Buffer.from(cut < 0 ? '' : stdout.slice(cut + 4), 'latin1').toString('utf8') });
    });
  });
}

let pw: string;
before(async () => {
  pw = await hashPassword('lab pw', 10);
});

describe('HTTP face: phone files on a real socket', () => {
  let f: TestFace;
  before(async () => {
    f = await startFace(labYaml(pw));
  });
  after(() => f.close());

  test('the declared devices and configs are in the store (seeded at start)', () => {
    assert.equal(f.store.phones.get(YEALINK_MAC)?.model, 'T46S');
    assert.deepEqual(f.store.phones.get(POLYCOM_MAC)?.users, ['bob']);
    assert.equal(f.store.phones.getConfig('acme.example', 'site')?.role, 'default');
  });

  test('Yealink: /<key>/<mac>.cfg carries alice\'s SIP password; the sighting is recorded', async () => {
    const r = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /account\.1\.password = Alice-SIP-secret/);
    assert.ok(!r.body.includes('Bob-SIP-secret'));
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.match(r.headers['etag'] ?? '', /^"[0-9a-f]{64}"$/);
    // Sightings are buffered and written within a second (src/store/sightings.ts).
    const deadline = Date.now() + 5000;
    while (f.store.phones.get(YEALINK_MAC)?.ip !== '127.0.0.1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const d = f.store.phones.get(YEALINK_MAC);
    assert.equal(d?.ip, '127.0.0.1');
    assert.equal(d?.version, '66.86.0.15');
    assert.equal(f.face.stats()['phones:served'] !== undefined, true);
  });

  test('Yealink common file, and the same files under wazo\'s /device/provisioning/<key>/', async () => {
    const boot = await curl(`${f.url}/${KEY}/y000000000000.boot`, { ua: YEALINK_UA });
    assert.equal(boot.status, 200, boot.body);
    assert.match(boot.body, /include:config "\$mac\.cfg"/);
    assert.ok(!boot.body.includes('SIP-secret'));
    const a = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA });
    const b = await curl(`${f.url}/device/provisioning/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA });
    assert.equal(b.status, 200);
    assert.equal(b.body, a.body, 'the same bytes under both paths');
  });

  test('Polycom: 000000000000.cfg and <mac>-user.cfg with bob\'s credentials', async () => {
    const c = await curl(`${f.url}/${KEY}/000000000000.cfg`, { ua: POLYCOM_UA });
    assert.equal(c.status, 200, c.body);
    assert.ok(!c.body.includes('SIP-secret'));
    const u = await curl(`${f.url}/${KEY}/0004f2211c8b-user.cfg`, { ua: POLYCOM_UA });
    assert.equal(u.status, 200, u.body);
    assert.ok(u.body.includes('reg.1.auth.password="Bob-SIP-secret"'), u.body);
  });

  test('HEAD: GET\'s headers, no body; If-None-Match with the ETag: 304', async () => {
    const g = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA });
    const h = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA, head: true });
    assert.equal(h.status, 200);
    assert.equal(h.body, '');
    assert.equal(h.headers['etag'], g.headers['etag']);
    assert.equal(h.headers['content-length'], String(Buffer.byteLength(g.body)));
    const n = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA, headers: { 'if-none-match': g.headers['etag'] ?? '' } });
    assert.equal(n.status, 304);
    assert.equal(n.body, '');
    assert.ok((f.face.stats()['phones:not-modified'] ?? 0) >= 1);
  });

  test('unkeyed on the keyed tenant\'s device: refused (the default tenant does not own it)', async () => {
    const r = await curl(`${f.url}/0015654aa937.cfg`, { ua: YEALINK_UA, from: '127.0.0.3' });
    assert.equal(r.status, 404);
    assert.ok(!r.body.includes('SIP-secret'));
  });

  test('the Jitsi routes are unchanged; the 404 body names the phone paths', async () => {
    const j = await curl(`${f.url}/jitsi`);
    assert.notEqual(j.status, 404);
    const p = await fetch(`${f.url}/nothing/here/at/all.cfg`, { method: 'POST', body: 'x' });
    assert.equal(p.status, 404);
    assert.match(await p.text(), /phone files at GET \/device\/provisioning\/<key>\/<file>/);
  });

  test('a wrong key: the same empty 404 as any refusal, counted into the bans until 429', async () => {
    const from = '127.0.0.5';
    const bad = `${f.url}/wrongKey0123456789abcdefXYZ/0015654aa937.cfg`;
    const first = await curl(bad, { ua: YEALINK_UA, from });
    const unknown = await curl(`${f.url}/${KEY}/nothing.bin`, { ua: YEALINK_UA, from: '127.0.0.9' });
    assert.equal(first.status, 404);
    assert.equal(first.body, unknown.body, 'a probe learns nothing from the body');
    // A 255-character key (wazo's longest) still reaches the key check: the same empty 404.
    const long = await curl(`${f.url}/${'k'.repeat(255)}/0015654aa937.cfg`, { ua: YEALINK_UA, from });
    assert.equal(long.status, 404);
    assert.equal(long.body, '');
    assert.equal((await curl(bad, { ua: YEALINK_UA, from })).status, 404);
    const banned = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA, from });
    assert.equal(banned.status, 429, 'banned: even the right key waits');
    assert.ok(Number(banned.headers['retry-after']) > 0);
    const log = readFileSync(join(f.stateDir, 'security.log'), 'utf8');
    assert.match(log, /failure ip=127\.0\.0\.5 reason=bad-key/);
    assert.match(log, /ban ip=127\.0\.0\.5 scope=ip/);
    assert.match(log, /reason=phone-sensitive-served user=00%3A15%3A65%3A4a%3Aa9%3A37 tenant=acme\.example/);
    assert.ok(!log.includes(KEY), 'never the key');
    assert.ok(!f.text().includes(KEY), 'the key is not in the log');
  });

  test('autoprov all creates an unknown phone; the per-source cap refuses the next (404, counted, logged once)', async () => {
    const from = '127.0.0.6';
    const ua = (mac: string) => `Yealink SIP-T46S 66.86.0.15 ${mac}`;
    const a = await curl(`${f.url}/0015650000a1.cfg`, { ua: ua('00:15:65:00:00:a1'), from });
    assert.equal(a.status, 200, a.body);
    const d = f.store.phones.get('00:15:65:00:00:a1');
    assert.equal(d?.createdBy, 'auto');
    assert.equal(d?.tenant, 'lab.example');
    assert.equal(d?.config, 'auto');
    for (const mac of ['00:15:65:00:00:a2', '00:15:65:00:00:a3']) {
      const r = await curl(`${f.url}/${mac.replace(/:/g, '')}.cfg`, { ua: ua(mac), from });
      assert.equal(r.status, 404);
      assert.equal(f.store.phones.get(mac), undefined);
    }
    assert.equal(f.face.stats()['phones-not-recorded:over-source'], 2);
    assert.equal(f.lines().filter((l) => l['msg'] === 'device cap reached: new phones are not recorded (404)').length, 1);
    assert.match(readFileSync(join(f.stateDir, 'security.log'), 'utf8'), /failure ip=127\.0\.0\.6 reason=phone-device-created user=00%3A15%3A65%3A00%3A00%3Aa1 tenant=lab\.example/);
  });

  test('reload with a changed declared config changes the served bytes', async () => {
    const before = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA });
    assert.ok(before.body.includes('192.0.2.10'));
    await f.face.reload(parseConfigText(`${labYaml(pw, { proxy: '192.0.2.99' })}\nstateDir: ${f.stateDir}\n`, 'test.yaml'));
    const after = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA });
    assert.equal(after.status, 200);
    assert.ok(after.body.includes('192.0.2.99'), after.body);
    assert.notEqual(after.headers['etag'], before.headers['etag']);
  });

  test('unkeyed when the default tenant wants a key: the same empty 404 (key-required), not a ban failure', async () => {
    const yaml = labYaml(pw).replace('defaultDomain: lab.example', 'defaultDomain: acme.example');
    await f.face.reload(parseConfigText(`${yaml}\nstateDir: ${f.stateDir}\n`, 'test.yaml'));
    const from = '127.0.0.8';
    for (let i = 0; i < 4; i++) {
      const r = await curl(`${f.url}/0015654aa937.cfg`, { ua: YEALINK_UA, from });
      assert.equal(r.status, 404);
      assert.equal(r.body, '');
    }
    assert.ok((f.face.stats()['phones:key-required'] ?? 0) >= 4);
    assert.equal((await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA, from })).status, 200, 'not banned');
  });

  test('a declared device the store refuses: a PROVD_ERR_PHONE_STORE warning, counted; the others still served', async () => {
    const yaml = labYaml(pw).replace('users: [bob]}', 'users: [bob]}\n    - {mac: "00:15:65:00:00:b1", tenant: acme.example, profile: yealink, config: nosuch}');
    await f.face.reload(parseConfigText(`${yaml}\nstateDir: ${f.stateDir}\n`, 'test.yaml'));
    assert.ok((f.face.stats()['phones-declared-problems'] ?? 0) >= 1);
    assert.ok(f.lines().some((l) => l['code'] === 'PROVD_ERR_PHONE_STORE' && String(l['problem']).includes('00:15:65:00:00:b1')));
    assert.equal((await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA })).status, 200);
  });

  test('phones.enabled false: today\'s 404 everywhere but the Jitsi routes', async () => {
    await f.face.reload(parseConfigText(`${labYaml(pw).replace('enabled: true', 'enabled: false')}\nstateDir: ${f.stateDir}\n`, 'test.yaml'));
    const r = await curl(`${f.url}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA, from: '127.0.0.7' });
    assert.equal(r.status, 404);
    assert.match(r.body, /^not found; the provisioning endpoints are POST \/jitsi, GET \/jitsi, POST \/jitsiprovs\/ and GET\|POST \/plugins\/jitsiProvisioning\/provision\n$/);
  });
});

describe('HTTP face: phone files through http.workers: 2', () => {
  let dir: string;
  let d: Running;
  let port: number;
  let pids: number[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-phones-workers-'));
    const cfg = join(dir, 'w.yaml');
    writeFileSync(cfg, `${labYaml(pw, { http: ', workers: 2' })}\nstateDir: ${join(dir, 'state')}\n`);
    d = startDaemon(['run', '--config', cfg]);
    const line = await d.waitForLog('HTTP workers serving', 60_000); // workers start one after the other: generous for a loaded CI box
    port = Number(line['port']);
    pids = line['pids'] as number[];
  });
  after(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('the primary seeded the declared devices; a worker answers the Yealink', async () => {
    const r = await curl(`http://127.0.0.1:${port}/${KEY}/0015654aa937.cfg`, { ua: YEALINK_UA });
    assert.equal(r.status, 200, r.body + d.stdout());
    assert.match(r.body, /account\.1\.password = Alice-SIP-secret/);
  });
});

describe('HTTP face: Polycom uploads (PUT) and static files', () => {
  let f: TestFace;
  let site: string;
  const FIRMWARE = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
  before(async () => {
    site = mkdtempSync(join(tmpdir(), 'provd-site-profiles-'));
    mkdirSync(join(site, 'polycom', 'files'), { recursive: true });
    writeFileSync(join(site, 'polycom', 'files', 'sip.ld'), FIRMWARE);
    f = await startFace(labYaml(pw, { extra: `  uploads: store\n  maxUploadBytes: 2048\n  profilesDir: ${site}\n` }));
  });
  after(async () => {
    await f.close();
    rmSync(site, { recursive: true, force: true });
  });

  test("a recorded Polycom's log upload is stored (201, then 204 replacing it); the file is on disk", async () => {
    const put = (body: string) => fetch(`${f.url}/${KEY}/0004f2211c8b-app.log`, { method: 'PUT', body, headers: { 'user-agent': POLYCOM_UA, 'content-type': 'text/plain' } });
    assert.equal((await put('first log\n')).status, 201);
    assert.equal((await put('second log\n')).status, 204);
    assert.equal(readFileSync(join(f.stateDir, 'uploads', '0004f2211c8b', '0004f2211c8b-app.log'), 'utf8'), 'second log\n');
  });

  test('a PUT without a Content-Type is taken too', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      execFile('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', 'Content-Type:', '--data-binary', 'boot log', `${f.url}/${KEY}/0004f2211c8b-boot.log`], (err, stdout) => (err ? reject(err) : resolve(Number(stdout))));
    });
    assert.ok(res === 201 || res === 204, `status ${res}`);
    assert.equal(readFileSync(join(f.stateDir, 'uploads', '0004f2211c8b', '0004f2211c8b-boot.log'), 'utf8'), 'boot log');
  });

  test('over phones.maxUploadBytes: 413; a name that is no upload: 404; an unrecorded MAC: 204, nothing stored', async () => {
    const big = await fetch(`${f.url}/${KEY}/0004f2211c8b-app.log`, { method: 'PUT', body: 'x'.repeat(4096), headers: { 'content-type': 'text/plain' } });
    assert.equal(big.status, 413);
    const other = await fetch(`${f.url}/${KEY}/0004f2211c8b-user.cfg`, { method: 'PUT', body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(other.status, 404);
    const stranger = await fetch(`${f.url}/${KEY}/0004f2aaaaaa-app.log`, { method: 'PUT', body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(stranger.status, 204);
    assert.equal(existsSync(join(f.stateDir, 'uploads', '0004f2aaaaaa')), false);
    assert.ok((f.face.stats()['phones:upload-unknown-device'] ?? 0) >= 1);
  });

  test('a static file of the site profile folder: 200 whole, 206 for a Range (curl), 304 on its ETag', async () => {
    const whole = await fetch(`${f.url}/${KEY}/sip.ld`, { headers: { 'user-agent': POLYCOM_UA } });
    assert.equal(whole.status, 200);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), FIRMWARE);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    const etag = whole.headers.get('etag') ?? '';
    const part = await curl(`${f.url}/${KEY}/sip.ld`, { ua: POLYCOM_UA, headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 100-199/4096');
    assert.equal(Buffer.from(part.body, 'utf8').length > 0, true);
    const again = await fetch(`${f.url}/${KEY}/sip.ld`, { headers: { 'user-agent': POLYCOM_UA, 'if-none-match': etag } });
    assert.equal(again.status, 304);
    // A wrong key: nothing (static files are served only to a request that reaches a tenant).
    assert.equal((await fetch(`${f.url}/wrongKey0123456789abcdefXYZ/sip.ld`, { headers: { 'user-agent': POLYCOM_UA } })).status, 404);
  });
});
