/**
 * phones-service.test.ts: PhoneService (src/phones/service.ts) on a real SQLite store and the
 * shipped profiles: the tenant of a request (URL key, the auth:none default tenant, allowFrom),
 * syncDeclared (YAML configs and devices seeded, idempotent, a change reopening the window,
 * problems reported), renderDevice giving the same bytes as the phone's own request, a custom
 * per-device template winning with no reconfigure step, and baseUrlFor.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/sqlite';
import { parseConfigText } from '../src/config/load';
import { loadPhonesDomain } from '../src/phones/domain';
import { PhoneService, baseUrlFor, syncDeclared } from '../src/phones/service';
import type { Config } from '../src/config/schema';

const TMP = mkdtempSync(join(tmpdir(), 'provd-service-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const KEY = 'Kx7dQ2fX9aB31mN0pQ4rS8tU';
const YEALINK = '00:15:65:4a:a9:37';
const POLYCOM = '00:04:f2:21:1c:8b';

function config(extra = '', templatesDir?: string): Config {
  const text = `
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
      users:
        alice: { password: "plain:pw-alice", attributes: { sip_username: "1001", sip_password: "Alice-SIP-secret", display_name: "Alice" } }
    keyed.example:
      auth: url_key
      urlKey: ${KEY}
      allowFrom: [10.1.0.0/16]
      users:
        bob: { password: "plain:pw-bob", attributes: { sip_username: "2001", sip_password: "Bob-SIP-secret" } }
phones:
  enabled: true
  passwordWindow: 30
${templatesDir === undefined ? '' : `  templatesDir: ${templatesDir}\n`}  configs:
    - { id: site, role: default, raw: { ntp_ip: 192.0.2.123, sip_proxy_ip: 192.0.2.10 } }
    - { id: desk, parents: [site], raw: { timezone: Europe/Paris } }
    - { id: k-site, tenant: keyed.example, role: default, raw: { sip_proxy_ip: 198.51.100.7 } }
  devices:
    - { mac: "${YEALINK}", profile: yealink, model: T46S, config: desk, users: [alice] }
    - { mac: 0004F2211C8B, profile: polycom, model: VVX400, tenant: keyed.example, users: [bob] }
${extra}`;
  return parseConfigText(text, 'test.yaml', { skipPhoneProfiles: true });
}

let n = 0;
function setup(cfg: Config, now = new Date('2026-11-27T10:00:00Z')): { service: PhoneService; store: ReturnType<typeof openSqliteStore> } {
  const store = openSqliteStore(join(TMP, `s${n++}`));
  const r = syncDeclared(store.phones, cfg.phones, cfg.provisioning.defaultDomain, now.toISOString());
  assert.deepEqual(r.problems, []);
  const service = new PhoneService(cfg, { phones: store.phones, users: store.sync?.users, keys: store.sync?.keys, domain: loadPhonesDomain(cfg.phones), now: () => now });
  return { service, store };
}

describe('PhoneService.resolveTenant', () => {
  const { service, store } = setup(config());
  after(() => store.close());
  const cases: [string, string | undefined, string, string][] = [
    ['unkeyed reaches the auth:none default tenant', undefined, '192.0.2.50', 'ok:lab.example'],
    ['the key selects its tenant', KEY, '10.1.2.3', 'ok:keyed.example'],
    ['a wrong key', 'Wrong7dQ2fX9aB31mN0pQ4rS8', '10.1.2.3', 'bad-key'],
    ['the keyed tenant outside allowFrom', KEY, '192.0.2.50', 'not-allowed'],
  ];
  for (const [name, key, ip, want] of cases) {
    test(name, () => {
      const r = service.resolveTenant(key, ip);
      assert.equal(r.ok ? `ok:${r.tenant.name}` : r.outcome, want);
      if (r.ok) assert.equal(r.tenant.urlKey, key);
    });
  }
  test('unkeyed is refused when the default tenant wants a key', () => {
    const s = setup(parseConfigText(`provisioning:\n  defaultDomain: keyed.example\n  tenants:\n    keyed.example: { auth: url_key, urlKey: ${KEY} }\nphones: { enabled: true }\n`, 't.yaml', { skipPhoneProfiles: true }));
    assert.deepEqual(s.service.resolveTenant(undefined, '192.0.2.1'), { ok: false, outcome: 'key-required' });
    s.store.close();
  });
});

describe('syncDeclared', () => {
  test('seeds configs parents first and devices; a second run writes nothing', () => {
    const cfg = config();
    const store = openSqliteStore(join(TMP, `s${n++}`));
    const first = syncDeclared(store.phones, cfg.phones, 'lab.example', '2026-11-27T10:00:00.000Z');
    assert.deepEqual(first, { configs: 3, devices: 2, problems: [] });
    assert.equal(store.phones.getConfig('lab.example', 'desk')?.parents[0], 'site');
    assert.equal(store.phones.get(POLYCOM)?.tenant, 'keyed.example');
    assert.deepEqual(syncDeclared(store.phones, cfg.phones, 'lab.example', '2026-11-27T11:00:00.000Z'), { configs: 0, devices: 0, problems: [] });
    // Unchanged: the window stays where the first seeding put it.
    assert.equal(store.phones.get(YEALINK)?.assignedAt ?? store.phones.get(YEALINK)?.addedAt, '2026-11-27T10:00:00.000Z');
    store.close();
  });
  test('a changed declaration updates the device (its window reopens); problems are named, not thrown', () => {
    const store = openSqliteStore(join(TMP, `s${n++}`));
    syncDeclared(store.phones, config().phones, 'lab.example', '2026-11-27T10:00:00.000Z');
    const changed = config().phones;
    const devices = [{ ...changed.devices[0]!, users: [] as string[] }, changed.devices[1]!];
    const r = syncDeclared(store.phones, { configs: changed.configs, devices }, 'lab.example', '2026-11-27T12:00:00.000Z');
    assert.equal(r.devices, 1);
    assert.equal(store.phones.get(YEALINK)?.assignedAt, '2026-11-27T12:00:00.000Z');
    const bad = syncDeclared(
      store.phones,
      { configs: [{ id: 'orphan', role: 'none', parents: ['missing'], raw: {} }], devices: [{ mac: YEALINK, tenant: 'keyed.example', profile: 'yealink', users: [], options: {} }] },
      'lab.example',
    );
    assert.equal(bad.problems.length, 2);
    assert.match(bad.problems[0] ?? '', /orphan.*parent is unknown/);
    assert.match(bad.problems[1] ?? '', /recorded under tenant lab\.example/);
    store.close();
  });
});

describe('PhoneService answers and renderDevice', () => {
  test('renderDevice gives the bytes the phone gets; the user line carries the SIP password within the window', () => {
    const { service, store } = setup(config());
    const server = { httpBaseUrl: 'http://192.0.2.1:8667/' };
    const t = service.resolveTenant(undefined, '192.0.2.50');
    assert.ok(t.ok);
    const phone = service.answer({ path: '/0015654aa937.cfg', userAgent: 'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37', ip: '192.0.2.50' }, t.tenant, server);
    assert.equal(phone.status, 200, phone.problem);
    assert.equal(phone.outcome, 'served');
    assert.match(phone.body.toString(), /Alice-SIP-secret/);
    store.phones.observe(YEALINK, { ip: '192.0.2.50' });
    const r = service.renderDevice('00-15-65-4A-A9-37', { baseUrl: 'http://192.0.2.1:8667/' });
    assert.equal(r.file, '0015654aa937.cfg');
    assert.equal(r.answer.body.toString(), phone.body.toString());
    store.close();
  });
  test('the keyed tenant: the Polycom user file carries bob, by its own request and by renderDevice', () => {
    const { service, store } = setup(config());
    const t = service.resolveTenant(KEY, '10.1.0.9');
    assert.ok(t.ok);
    const a = service.answer({ path: '0004f2211c8b-user.cfg', userAgent: 'FileTransport PolycomVVX-VVX_400-UA/6.4.3.5018 Type/Application', ip: '10.1.0.9' }, t.tenant, { httpBaseUrl: 'http://10.1.0.1:8667/' });
    assert.equal(a.status, 200, a.problem);
    assert.match(a.body.toString(), /Bob-SIP-secret/);
    const r = service.renderDevice(POLYCOM, { baseUrl: 'http://10.1.0.1:8667/' });
    assert.match(r.answer.body.toString(), /Bob-SIP-secret/);
    store.close();
  });
  test('a custom <file>.tpl in templatesDir wins over the model template at once, with no reconfigure', () => {
    const custom = join(TMP, `custom${n++}`);
    const { service, store } = setup(config('', custom));
    const before = service.renderDevice(YEALINK, { baseUrl: 'http://192.0.2.1/' }).answer.body.toString();
    assert.doesNotMatch(before, /custom-marker/);
    mkdirSync(join(custom, 'yealink'), { recursive: true });
    writeFileSync(join(custom, 'yealink', '0015654aa937.cfg.tpl'), '#!version:1.0.0.1\n# custom-marker {{ sip_lines["1"].username }}\n');
    // The lookup re-checks stamps within a second.
    const deadline = Date.now() + 3000;
    let text = before;
    while (Date.now() < deadline && !text.includes('custom-marker')) {
      text = service.renderDevice(YEALINK, { baseUrl: 'http://192.0.2.1/' }).answer.body.toString();
      if (!text.includes('custom-marker')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
    assert.equal(text, '#!version:1.0.0.1\n# custom-marker 1001\n');
    store.close();
  });
  test('renderDevice refusals name the problem', () => {
    const { service, store } = setup(config());
    assert.throws(() => service.renderDevice('nope', { baseUrl: 'http://x/' }), /not a MAC/);
    assert.throws(() => service.renderDevice('00:15:65:00:00:01', { baseUrl: 'http://x/' }), /no phone with MAC/);
    store.close();
  });
});

test('baseUrlFor: phones.baseUrl, else where the request arrived', () => {
  assert.equal(baseUrlFor({ baseUrl: 'https://prov.example.org:8667' }, { tls: false, address: '10.0.0.1', port: 80 }), 'https://prov.example.org:8667/');
  assert.equal(baseUrlFor({}, { tls: false, address: '::ffff:192.0.2.1', port: 8667 }), 'http://192.0.2.1:8667/');
  assert.equal(baseUrlFor({}, { tls: true, address: 'fe80::1', port: 443 }), 'https://[fe80::1]:443/');
});
