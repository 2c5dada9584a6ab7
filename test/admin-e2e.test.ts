/**
 * Issue 17's "Done when", end to end, on the real executable (dist/src/main.js) in a network
 * namespace of its own: the REST API, the status page, /metrics and /readyz on one admin
 * listener. Tokens come from the real CLI (`provisiond token create`, while the daemon runs);
 * tenant A's token creates a user and a phone through the API and both provision with no reload;
 * tenant B's token gets 404 on every tenant route of the route table with A's resources;
 * /metrics passes `promtool check metrics` and shows the provisioning; /readyz flips when the
 * DHCP face loses its interface's address; the status page's login with A's token shows carol's
 * provisioning.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NetnsLab, ip, netnsSkipReason, run } from './helpers/netns';
import { cliWithInput, startDaemon, type Running } from './helpers/daemon';
import { hashPassword } from './helpers/prov';
import { API_PREFIX, API_ROUTES } from '../src/admin/api';

const skipNs = netnsSkipReason();
const promtool = spawnSync('promtool', ['--version']).status === 0;
const SRV = '10.62.0.1/24';
const KEY = 'aKey0123456789abcdefXYZ0123';
const MAC = '00:15:65:4a:a9:39';
const ADMIN = 'http://127.0.0.1:8668';
const HTTP = 'http://127.0.0.1:8667';

/** sample reads one sample's value from an exposition text (undefined: absent). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('issue 17 end to end: API, status page, metrics and health on one admin listener', { skip: skipNs ?? false, timeout: 240_000 }, () => {
  const lab = new NetnsLab('pvwire');
  let ns = '';
  let dir = '';
  let cfgPath = '';
  let d: Running;
  const tokens: Record<string, string> = {};

  /** curl runs curl in the namespace; it returns the status code, the headers and the body. */
  const curl = async (...args: string[]): Promise<{ status: number; body: string }> => {
    const r = await run('ip', ['netns', 'exec', ns, 'curl', '-s', '--max-time', '10', '-w', '\n%{http_code}', ...args], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, `curl ${args.join(' ')}: ${r.stderr}`);
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  };
  /** api calls the REST API with a bearer token (and a JSON body). */
  const api = (method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: string }> =>
    curl('-X', method, '-H', `authorization: Bearer ${token}`, ...(body === undefined ? [] : ['-H', 'content-type: application/json', '--data-binary', JSON.stringify(body)]), `${ADMIN}${API_PREFIX}${path}`);
  const scrape = async (): Promise<string> => {
    const r = await curl(`${ADMIN}/metrics`);
    assert.equal(r.status, 200, r.body);
    return r.body;
  };
  const jitsi = (): Promise<{ status: number; body: string }> => curl('-d', 'username=carol&password=carol%20pw&uuid=u-carol&hwaddr=02:00:00:00:00:07', `${HTTP}/${KEY}/jitsi`);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-wire-'));
    ns = lab.addNamespace('srv');
    const peer = lab.addNamespace('cli');
    lab.link({ ns, ifname: 'srv0', cidr: SRV }, { ns: peer, ifname: 'cli0', cidr: '10.62.0.2/24' });
    cfgPath = join(dir, 'p.yaml');
    const pw = await hashPassword('pw', 10);
    writeFileSync(
      cfgPath,
      `dhcp: {interfaces: [srv0]}\nmdns: {enabled: false}\nstateDir: ${join(dir, 'state')}\n` +
        `http: {host: 0.0.0.0, port: 8667, rateLimit: {rate: 0}}\nadmin: {host: 127.0.0.1, port: 8668}\n` +
        `provisioning:\n  defaultDomain: a.example\n  passwords: {scryptCost: 10}\n  tenants:\n` +
        `    a.example:\n      auth: url_key+credentials\n      urlKey: ${KEY}\n      attributes: {sipServer: sip.a.example}\n` +
        `      rules: [{subject: default, properties: {acc1.USER_ID: "{{ user.attributes.extension | default('none') }}@{{ tenant.attributes.sipServer }}"}}]\n` +
        `    b.example:\n      auth: credentials\n      users: {bob: {password: "${pw}"}}\n      rules: [{subject: default, properties: {k.who: "B"}}]\n` +
        `phones:\n  enabled: true\n  configs:\n    - {id: site, tenant: a.example, role: default, raw: {sip_proxy_ip: 192.0.2.10}}\n`,
    );
    d = startDaemon(['run', '--config', cfgPath], ['ip', 'netns', 'exec', ns]);
    await d.waitForLog('admin listener serving (metrics, health)', 60_000);
    // The real CLI, beside the running daemon, on the same store: the daemon reads tokens per request.
    for (const [name, tenant] of [['a', 'a.example'], ['b', 'b.example']] as const) {
      const made = await cliWithInput(['token', 'create', '--config', cfgPath, '--tenant', tenant, '--scope', 'write', '--name', `e2e-${name}`]);
      assert.equal(made.code, 0, made.stderr);
      tokens[name] = made.stdout.trim();
      assert.match(tokens[name] ?? '', /^pvd_[A-Za-z0-9_-]{43}$/);
    }
  });
  after(async () => {
    if (d && d.child.exitCode === null) {
      d.child.kill('SIGTERM');
      const t = setTimeout(() => d.child.kill('SIGKILL'), 10_000);
      await d.exited;
      clearTimeout(t);
    }
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("A's token creates a user and a phone over the admin port; both provision with no reload; /metrics shows it", async (t) => {
    const doc0 = await jitsi();
    assert.equal(doc0.status, 401, 'carol provisions before she exists');
    const u = await api('POST', '/tenants/a.example/users', tokens['a'] ?? '', { name: 'carol', password: 'carol pw', attributes: { extension: '1003', sip_password: 'Carol-SIP' } });
    assert.equal(u.status, 201, u.body);

    const before = sample(await scrape(), 'provisiond_requests_total', { face: 'http', status: '200', outcome: 'ok' }) ?? 0;
    const doc = await jitsi();
    assert.equal(doc.status, 200, doc.body);
    assert.match(doc.body, /acc1\.USER_ID=1003@sip\.a\.example/);
    const text = await scrape();
    assert.equal(sample(text, 'provisiond_requests_total', { face: 'http', status: '200', outcome: 'ok' }), before + 1, text);

    const ph = await api('POST', '/tenants/a.example/phones', tokens['a'] ?? '', { mac: MAC, profile: 'yealink', model: 'T46S', users: ['carol'] });
    assert.equal(ph.status, 201, ph.body);
    const file = await curl('-A', `Yealink SIP-T46S 66.86.0.15 ${MAC}`, `${HTTP}/${KEY}/${MAC.replaceAll(':', '')}.cfg`);
    assert.equal(file.status, 200, file.body);
    assert.match(file.body, /192\.0\.2\.10/);
    assert.match(file.body, /Carol-SIP/, "the phone's file carries carol's SIP password");

    if (!promtool) {
      t.skip("promtool is absent (Debian's prometheus package: scripts/install-test-deps.sh)");
      return;
    }
    const r = await run('promtool', ['check', 'metrics'], { timeoutMs: 20_000, input: await scrape() });
    assert.equal(r.code, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'promtool reported problems');
  });

  test("B's token gets 404 on every tenant route with A's resources", async () => {
    const params: Record<string, string> = { tenant: 'a.example', name: 'carol', key: 'uuid:u-carol', mac: MAC, id: 'site' };
    let walked = 0;
    for (const r of API_ROUTES) {
      if (!r.path.includes(':tenant')) continue;
      const path = r.path.replace(/:(\w+)/g, (_m, k: string) => encodeURIComponent(params[k] ?? 'x'));
      const a = await api(r.method, path, tokens['b'] ?? '', ['POST', 'PUT', 'PATCH'].includes(r.method) ? {} : undefined);
      assert.equal(a.status, 404, `${r.method} ${path} with B's token: ${a.status} ${a.body}`);
      assert.equal((JSON.parse(a.body) as { code: string }).code, 'PROVD_ERR_API_NOT_FOUND');
      walked++;
    }
    assert.ok(walked >= 25, `walked ${walked} tenant routes`);
    // The listener answers a malformed URL escape as the API does (apiFrameworkErrors), not with fastify's own body.
    const garbled = await curl(`${ADMIN}${API_PREFIX}/tenants/a.example/users/%E0%A4%A`);
    assert.equal(garbled.status, 400, garbled.body);
    assert.equal((JSON.parse(garbled.body) as { code: string }).code, 'PROVD_ERR_API_INVALID');
    // A's own token finds them (so the 404s above are the scoping), and carol still provisions.
    assert.equal((await api('GET', '/tenants/a.example/users/carol', tokens['a'] ?? '')).status, 200);
    assert.equal((await api('GET', `/tenants/a.example/phones/${encodeURIComponent(MAC)}`, tokens['a'] ?? '')).status, 200);
    assert.equal((await jitsi()).status, 200);
  });

  test("the status page: A's token logs in and the page shows carol's provisioning", async () => {
    const jar = join(dir, 'cookies.txt');
    const form = await curl('-c', jar, `${ADMIN}/`);
    assert.equal(form.status, 200, form.body);
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? assert.fail(`no csrf field in the login form: ${form.body.slice(0, 500)}`);
    const bad = await curl('-b', jar, '--data-urlencode', `token=pvd_${'x'.repeat(43)}`, '--data-urlencode', `csrf=${csrf}`, `${ADMIN}/ui/login`);
    assert.notEqual(bad.status, 303, 'an unknown token opened a session');
    const login = await curl('-b', jar, '-c', jar, '--data-urlencode', `token=${tokens['a'] ?? ''}`, '--data-urlencode', `csrf=${csrf}`, `${ADMIN}/ui/login`);
    assert.equal(login.status, 303, login.body);
    const page = await curl('-b', jar, `${ADMIN}/`);
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /carol/, 'the inventory shows carol');
    assert.match(page.body, /u-carol/);
    assert.doesNotMatch(page.body, /name="token"/, 'still the login form');
    // B's user is not on A's page.
    assert.doesNotMatch(page.body, /bob@b\.example/);
  });

  test('/readyz is 200, 503 when the DHCP interface loses its address, and 200 again', async () => {
    assert.equal((await curl(`${ADMIN}/healthz`)).status, 200);
    const ok = await curl(`${ADMIN}/readyz`);
    assert.equal(ok.status, 200, ok.body);
    ip('-n', ns, 'addr', 'del', SRV, 'dev', 'srv0');
    const down = await curl(`${ADMIN}/readyz`);
    assert.equal(down.status, 503, down.body);
    assert.equal((JSON.parse(down.body) as { faces: Record<string, { ready: boolean }> }).faces['dhcp']?.ready, false);
    ip('-n', ns, 'addr', 'add', SRV, 'dev', 'srv0');
    const back = await curl(`${ADMIN}/readyz`);
    assert.equal(back.status, 200, back.body);
  });
});
