import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliWithInput } from './helpers/daemon';
import { hashPassword } from './helpers/prov';
import { loadConfigFile } from '../src/config/load';
import { loadPhonesDomain } from '../src/phones/domain';
import { PhoneService } from '../src/phones/service';
import { openSqliteStore } from '../src/store/sqlite';

/** cli runs dist/src/main.js; stdout is kept as latin1 so that its bytes can be compared. */
const cli = (args: readonly string[]): ReturnType<typeof cliWithInput> => cliWithInput(args, '', 'latin1');

const YEALINK = '00:15:65:4a:a9:37';
const POLYCOM = '00:04:f2:21:1c:8b';
const YEALINK_UA = 'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37';
const POLYCOM_UA = 'FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application';
const KEY = 'abcdefghijklmnopqrstuvwxyz012345';

/** toolSkip is a skip message when a tool is not installed (scripts/install-test-deps.sh installs them). */
function toolSkip(bin: string, arg: string): string | false {
  const r = spawnSync(bin, [arg], { encoding: 'utf8', timeout: 10_000 });
  return r.error === undefined ? false : `${bin} is not installed (scripts/install-test-deps.sh): ${r.error.message}`;
}

describe('CLI: SIP phones (devices, render --mac, export dhcp)', () => {
  let dir: string;
  let cfg: string;
  let keyed: string;
  const files = { isc: '', kea: '', dnsmasq: '' };
  const c = (...args: string[]): ReturnType<typeof cli> => cli([...args, '--config', cfg]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-phones-cli-'));
    const h = await hashPassword('pw', 10);
    cfg = join(dir, 'lab.yaml');
    const body = (host: string, extra: string): string => `stateDir: ${join(dir, 'state')}
http: {host: ${host}, port: 8667}
phones:
  enabled: true
  passwordWindow: 30
  configs:
    - {id: site, role: default, raw: {ntp_ip: 192.0.2.123, sip_proxy_ip: 192.0.2.10, timezone: Europe/Paris}}
    - {id: quiet, raw: {sip_proxy_ip: 192.0.2.11}}
  devices:
    - {mac: '00-15-65-4A-A9-37', profile: yealink, model: T46S, users: [alice]}
${extra}provisioning:
  defaultDomain: acme
  passwords: {scryptCost: 10}
  tenants:
    acme:
      auth: none
      users:
        alice: {password: "${h}", attributes: {sip_username: '1001', sip_password: Alice-SIP-secret, display_name: Alice}}
        bob: {password: "${h}", attributes: {sip_username: '1002', sip_password: Bob-SIP-secret, display_name: Bob}}
    other.example:
      auth: url_key
      urlKey: ${KEY}
      users:
        carol: {password: "${h}"}
`;
    writeFileSync(cfg, body('127.0.0.1', ''));
    keyed = join(dir, 'keyed.yaml');
    writeFileSync(keyed, body('0.0.0.0', '').replace('defaultDomain: acme', 'defaultDomain: other.example'));
    Object.assign(files, { isc: join(dir, 'out.isc'), kea: join(dir, 'out.kea.json'), dnsmasq: join(dir, 'out.dnsmasq') });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('add/show/set/del round trip, any MAC form; a declared phone is listed from the YAML file', async () => {
    const add = await c('devices', 'add', '0004F2211C8B', '--profile', 'polycom', '--model', 'VVX400', '--user', 'bob', '--device-config', 'quiet', '--option', 'foo=bar');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^phone 00:04:f2:21:1c:8b added \(tenant acme, profile polycom\)\n$/);

    const list = await c('devices', 'list', '--kind', 'phones', '--json');
    assert.equal(list.code, 0, list.stderr);
    const phones = JSON.parse(list.stdout) as { mac: string; profile: string; users: string[] }[];
    assert.deepEqual(phones.map((p) => `${p.mac} ${p.profile} ${p.users.join(',')}`), [`${POLYCOM} polycom bob`, `${YEALINK} yealink alice`]);

    const show = await c('devices', 'show', '00-04-F2-21-1C-8B', '--json');
    assert.equal(show.code, 0, show.stderr);
    const p = JSON.parse(show.stdout) as Record<string, unknown>;
    assert.equal(p['config'], 'quiet');
    assert.deepEqual(p['options'], { foo: 'bar' });
    for (const k of ['firstSeen', 'lastSeen', 'version', 'previousVersion', 'addedAt', 'assignedAt', 'resetAt', 'createdBy']) assert.ok(k in p, k);
    const text = await c('devices', 'show', POLYCOM);
    assert.match(text.stdout, /^mac +00:04:f2:21:1c:8b\n/);
    assert.match(text.stdout, /\nusers +1:bob\n/);
    assert.match(text.stdout, /\nfirstSeen +never\n/);

    const set = await c('devices', 'set', POLYCOM, '--default-config', '--user', 'alice', '--user', 'Bob', '--option', 'foo=', '--option', 'x=1', '--reset');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /provisioning window reopened/);
    const after1 = JSON.parse((await c('devices', 'show', POLYCOM, '--json')).stdout) as { config: null; users: string[]; options: object; resetAt: string | null };
    assert.equal(after1.config, null);
    assert.deepEqual(after1.users, ['alice', 'bob']);
    assert.deepEqual(after1.options, { x: '1' });
    assert.ok(after1.resetAt !== null);
    const clear = await c('devices', 'set', '0004f2211c8b', '--clear-users');
    assert.equal(clear.code, 0, clear.stderr);
    assert.deepEqual((JSON.parse((await c('devices', 'show', POLYCOM, '--json')).stdout) as { users: string[] }).users, []);
    assert.equal((await c('devices', 'set', POLYCOM, '--user', 'bob')).code, 0);

    const tmp = await c('devices', 'add', '00:04:f2:00:00:01', '--profile', 'polycom');
    assert.equal(tmp.code, 0, tmp.stderr);
    const del = await c('devices', 'del', '00-04-f2-00-00-01');
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await c('devices', 'show', '00:04:f2:00:00:01')).code, 5);
    const delDeclared = await c('devices', 'del', YEALINK);
    assert.equal(delDeclared.code, 0);
    assert.match(delDeclared.stderr, /declared in phones\.devices/);
    assert.equal((await c('devices', 'show', YEALINK)).code, 0, 'the declared phone is seeded again');
  });

  test('refusals: bad MAC, unknown profile, tenant, config or user, duplicate, missing device; exit 5 with PROVD_ERR_DEVICE', async () => {
    const cases: [string[], RegExp][] = [
      [['devices', 'add', '00:15:65:4a:a9:3', '--profile', 'yealink'], /not a MAC address/],
      [['devices', 'add', '00:15:65:4a:a9:3g', '--profile', 'yealink'], /not a MAC address/],
      [['devices', 'add', '00:15:65:00:00:02', '--profile', 'nokia'], /profile 'nokia' is not loaded \(loaded: cisco-spa, fanvil, gigaset, grandstream, polycom, snom, yealink/],
      [['devices', 'add', '00:15:65:00:00:02', '--profile', 'yealink', '--tenant', 'nowhere.example'], /tenant nowhere\.example is not configured/],
      [['devices', 'add', '00:15:65:00:00:02', '--profile', 'yealink', '--user', 'zed'], /user 'zed' does not exist in tenant acme/],
      [['devices', 'add', '00:15:65:00:00:02', '--profile', 'yealink', '--user', 'carol'], /user 'carol' does not exist in tenant acme/],
      [['devices', 'add', '00:15:65:00:00:02', '--profile', 'yealink', '--user', 'alice@other.example'], /not of the device's tenant acme/],
      [['devices', 'add', '00:15:65:00:00:02', '--profile', 'yealink', '--device-config', 'nope'], /config 'nope' does not exist in tenant acme/],
      [['devices', 'add', '00:15:65:00:00:02', '--profile', 'yealink', '--option', 'novalue'], /is not key=value/],
      [['devices', 'add', YEALINK.toUpperCase(), '--profile', 'yealink'], /MAC 00:15:65:4a:a9:37 is already recorded \(tenant acme, profile yealink\)/],
      [['devices', 'set', '00:15:65:00:00:09', '--reset'], /no phone with MAC 00:15:65:00:00:09/],
      [['devices', 'set', YEALINK, '--profile', 'nokia'], /profile 'nokia' is not loaded/],
      [['devices', 'set', YEALINK, '--user', 'zed'], /user 'zed' does not exist/],
      [['devices', 'del', '00:15:65:00:00:09'], /no phone with MAC/],
      [['devices', 'show', 'nonsense'], /not a MAC address/],
      [['devices', 'set-profile', '--from', 'yealink', '--to', 'nokia'], /profile 'nokia' is not loaded/],
      [['devices', 'set-profile', '--from', 'yealink', '--to', 'yealink'], /both 'yealink'/],
      [['devices', 'set-profile', '--from', 'yealink', '--to', 'polycom', '--tenant', 'nowhere.example'], /tenant nowhere\.example is not configured/],
    ];
    for (const [args, message] of cases) {
      const r = await c(...args);
      assert.equal(r.code, 5, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /\[PROVD_ERR_DEVICE\]\n$/, args.join(' '));
    }
    assert.equal((await c('devices', 'show', '00:15:65:00:00:02')).code, 5, 'no refused add wrote anything');
    const model = await c('devices', 'add', '00:15:65:00:00:03', '--profile', 'yealink', '--model', 'T99');
    assert.equal(model.code, 0, model.stderr);
    assert.match(model.stderr, /warning: model 'T99' is not one of profile yealink's models/);
    assert.equal((await c('devices', 'del', '00:15:65:00:00:03')).code, 0);
    for (const args of [['devices', 'set', YEALINK], ['devices', 'set', YEALINK, '--user', 'alice', '--clear-users'], ['devices', 'list', '--kind', 'clients', '--profile', 'yealink'], ['devices', 'list', '--limit', '-1'], ['devices', 'add', YEALINK]]) {
      const r = await c(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /PROVD_ERR_USAGE/);
    }
  });

  test('set-profile moves every phone of a profile atomically (per tenant) and prints the count; list filters and pages', async () => {
    for (const mac of ['00:15:65:00:00:11', '00:15:65:00:00:12']) assert.equal((await c('devices', 'add', mac, '--profile', 'fanvil', '--model', 'X6U Pro')).code, 0);
    assert.equal((await c('devices', 'add', '00:15:65:00:00:13', '--profile', 'fanvil', '--tenant', 'other.example', '--user', 'carol')).code, 0);
    const filtered = await c('devices', 'list', '--profile', 'fanvil', '--tenant', 'acme', '--json');
    assert.deepEqual((JSON.parse(filtered.stdout) as { mac: string }[]).map((p) => p.mac), ['00:15:65:00:00:11', '00:15:65:00:00:12']);
    const paged = await c('devices', 'list', '--profile', 'fanvil', '--limit', '1', '--offset', '2', '--json');
    assert.deepEqual((JSON.parse(paged.stdout) as { mac: string }[]).map((p) => p.mac), ['00:15:65:00:00:13']);
    const byModel = await c('devices', 'list', '--model', 'X6U Pro');
    assert.match(byModel.stdout, /^MAC +TENANT +PROFILE +MODEL +CONFIG +USERS/);
    assert.equal(byModel.stdout.trim().split('\n').length, 3);

    const moved = await c('devices', 'set-profile', '--from', 'fanvil', '--to', 'grandstream', '--tenant', 'acme');
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(moved.stdout, '2 phones moved from profile fanvil to grandstream (tenant acme)\n');
    const rest = await c('devices', 'set-profile', '--from', 'fanvil', '--to', 'grandstream');
    assert.equal(rest.stdout, '1 phone moved from profile fanvil to grandstream\n');
    const none = await c('devices', 'set-profile', '--from', 'fanvil', '--to', 'grandstream');
    assert.equal(none.stdout, '0 phones moved from profile fanvil to grandstream\n');
    const declared = await c('devices', 'set-profile', '--from', 'yealink', '--to', 'grandstream');
    assert.match(declared.stderr, /declared in phones\.devices/);
    assert.equal((await c('devices', 'set-profile', '--from', 'grandstream', '--to', 'yealink')).code, 0);
    for (const mac of ['00:15:65:00:00:11', '00:15:65:00:00:12', '00:15:65:00:00:13']) assert.equal((await c('devices', 'del', mac)).code, 0);

    // The Jitsi clients' list keeps its JSON array; the phones are named on stderr.
    const all = await c('devices', 'list', '--json');
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(JSON.parse(all.stdout), []);
    assert.match(all.stderr, /SIP phones? (is|are) not in this list: provisiond devices list --kind phones --json/);
    const table = await c('devices', 'list');
    assert.match(table.stdout, /^MAC +TENANT/, 'no clients yet: the phones table only');
    const clients = await c('devices', 'list', '--kind', 'clients');
    assert.match(clients.stdout, /^DEVICE +USER +HWADDR/);
    assert.equal(clients.stdout.split('\n').length, 2, 'the header only');

    // With a Jitsi client recorded: its table as before, then a blank line and the phones.
    const s = openSqliteStore(join(dir, 'state'));
    try {
      await s.devices.upsert({ key: 'uuid:client-1', uuid: 'client-1', hwaddr: null, ip: '192.0.2.77', hostname: 'pc', osname: 'Linux', arch: 'amd64', build: '2.10.5550', userAgent: 'Jitsi/2.10.5550', username: 'alice', tenant: 'acme', outcome: '200 ok', at: new Date().toISOString() });
    } finally {
      s.close();
    }
    const both = await c('devices', 'list');
    assert.match(both.stdout, /^DEVICE +USER +HWADDR.*\nuuid:client-1 +alice +.*\n\nMAC +TENANT +PROFILE.*\n00:04:f2:21:1c:8b +acme +polycom/s);
    const json = await c('devices', 'list', '--json');
    assert.deepEqual((JSON.parse(json.stdout) as { key: string }[]).map((d) => d.key), ['uuid:client-1']);
    const other = await c('devices', 'list', '--tenant', 'other.example');
    assert.equal(other.stdout, 'DEVICE  USER  HWADDR  IP  OS  BUILD  LAST SEEN  LAST OUTCOME  REQUESTS  FAILURES  LAST FAILURE\n');
  });

  test('render --mac of a Yealink and a Polycom phone is byte-identical to the answer the phone gets, with its users\' SIP passwords', async () => {
    assert.equal((await c('devices', 'set', POLYCOM, '--user', 'bob', '--reset')).code, 0);
    const y = await c('render', '--mac', '001565-4AA937');
    assert.equal(y.code, 0, y.stderr);
    assert.match(y.stdout, /^account\.1\.password = Alice-SIP-secret$/m);
    assert.match(y.stdout, /^account\.1\.sip_server\.1\.address = 192\.0\.2\.10$/m);
    const p = await c('render', '--mac', POLYCOM);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /reg\.1\.auth\.password="Bob-SIP-secret"/);
    assert.equal(p.stderr, '');

    // The same bytes from PhoneService.answer, the code the HTTP face answers phones with.
    const config = loadConfigFile(cfg);
    const s = openSqliteStore(join(dir, 'state'));
    try {
      const svc = new PhoneService(config, { phones: s.phones, users: s.sync?.users, keys: s.sync?.keys, domain: loadPhonesDomain(config.phones) });
      const t = svc.resolveTenant(undefined, '192.0.2.50');
      assert.ok(t.ok);
      const server = { httpBaseUrl: 'http://127.0.0.1:8667/' };
      const ya = svc.answer({ path: '/0015654aa937.cfg', userAgent: YEALINK_UA, ip: '192.0.2.50' }, t.tenant, server);
      assert.equal(ya.status, 200);
      assert.equal(y.stdout, ya.body.toString('latin1'));
      const pa = svc.answer({ path: '/0004f2211c8b-user.cfg', userAgent: POLYCOM_UA, ip: '192.0.2.51' }, t.tenant, server);
      assert.equal(pa.status, 200);
      assert.equal(p.stdout, pa.body.toString('latin1'));
      assert.ok(!p.stdout.endsWith('\n\n'));
      const boot = svc.answer({ path: '/y000000000000.boot', userAgent: YEALINK_UA, ip: '192.0.2.50' }, t.tenant, server);
      const cb = await c('render', '--mac', YEALINK, '--file', 'y000000000000.boot');
      assert.equal(cb.code, 0, cb.stderr);
      assert.equal(cb.stdout, boot.body.toString('latin1'));
    } finally {
      s.close();
    }

    const hw = await c('render', '--mac', YEALINK, '--file', 'y000000000066.cfg');
    assert.equal(hw.code, 0, hw.stderr);
    assert.match(hw.stdout, /^#!version:1\.0\.0\.1\n/);
    assert.doesNotMatch(hw.stdout, /password/i, 'a common file carries no secret');
    const base = await c('render', '--mac', YEALINK, '--base-url', 'https://prov.example.org/');
    assert.match(base.stdout, /https:\/\/prov\.example\.org\//);

    // Outside the provisioning window (added long ago, never reset): the file without its passwords, and a note.
    const s2 = openSqliteStore(join(dir, 'state'));
    try {
      s2.phones.add({ mac: '00:15:65:00:00:31', tenant: 'acme', profile: 'yealink', model: 'T46S', users: ['alice'] }, '2020-01-01T00:00:00.000Z');
    } finally {
      s2.close();
    }
    const old = await c('render', '--mac', '00:15:65:00:00:31');
    assert.equal(old.code, 0, old.stderr);
    assert.doesNotMatch(old.stdout, /Alice-SIP-secret/);
    assert.match(old.stdout, /^account\.1\.user_name = 1001$/m);
    assert.match(old.stderr, /served without its passwords now: the provisioning window \(phones\.passwordWindow\) is closed; provisiond devices set 00:15:65:00:00:31 --reset reopens it/);
    assert.equal((await c('devices', 'set', '00:15:65:00:00:31', '--reset')).code, 0);
    const reopened = await c('render', '--mac', '00:15:65:00:00:31');
    assert.match(reopened.stdout, /Alice-SIP-secret/);
    assert.equal(reopened.stderr, '');
    assert.equal((await c('devices', 'del', '00:15:65:00:00:31')).code, 0);
  });

  test('render --mac refusals and notes: unknown MAC, unknown file, a wildcard host, a wrong key', async () => {
    const unknown = await c('render', '--mac', '00:15:65:00:00:99');
    assert.equal(unknown.code, 5);
    assert.match(unknown.stderr, /no phone with MAC 00:15:65:00:00:99 .*\[PROVD_ERR_RENDER\]/);
    const bad = await c('render', '--mac', 'zz');
    assert.equal(bad.code, 5);
    assert.match(bad.stderr, /not a MAC address/);
    const file = await c('render', '--mac', YEALINK, '--file', 'nothing.cfg');
    assert.equal(file.code, 5);
    assert.match(file.stderr, /the phone would get 404 for nothing\.cfg/);
    // Snom's first per-device file needs the model: without one, the error says so; its other file renders.
    assert.equal((await c('devices', 'add', '00:04:13:92:2d:24', '--profile', 'snom')).code, 0);
    const snom = await c('render', '--mac', '00:04:13:92:2d:24');
    assert.equal(snom.code, 0, snom.stderr);
    assert.match(snom.stdout, /^<\?xml version="1\.0" encoding="utf-8"\?>\n<settings>/, 'the first file it can name: <MAC>.xml');
    assert.equal((await c('devices', 'del', '00:04:13:92:2d:24')).code, 0);
    assert.equal((await c('render', '--mac', YEALINK, '--user', 'alice')).code, 2);
    assert.equal((await c('render', '--file', 'x.cfg')).code, 2);
    // A phone of the keyed tenant on a wildcard http.host: the key in http_base_url, a note about 127.0.0.1.
    const add = await cli(['devices', 'add', '00:15:65:00:00:21', '--profile', 'yealink', '--user', 'carol', '--config', keyed]);
    assert.equal(add.code, 0, add.stderr);
    const k = await cli(['render', '--mac', '00:15:65:00:00:21', '--config', keyed]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, new RegExp(`http://127\\.0\\.0\\.1:8667/${KEY}/`));
    assert.match(k.stderr, /note: phones\.baseUrl is not set and http\.host is 0\.0\.0\.0: using http:\/\/127\.0\.0\.1:8667\//);
    const wrong = await cli(['render', '--mac', '00:15:65:00:00:21', '--key', 'x'.repeat(32), '--config', keyed]);
    assert.equal(wrong.code, 5);
    assert.match(wrong.stderr, /--key is not a current key of tenant other\.example/);
    assert.equal((await cli(['devices', 'del', '00:15:65:00:00:21', '--config', keyed])).code, 0);
  });

  test('export dhcp: ISC, Kea (valid JSON) and dnsmasq with a class per vendor, the key warned about; checked by the real servers', async () => {
    const isc = await cli(['export', 'dhcp', '--format', 'isc', '--config', keyed, '--base-url', 'http://192.0.2.10:8667']);
    assert.equal(isc.code, 0, isc.stderr);
    const url = `http://192.0.2.10:8667/${KEY}/`;
    assert.match(isc.stdout, /^class "provisiond-yealink" \{$/m);
    assert.match(isc.stdout, /substring\(hardware, 1, 3\) = 00:15:65/);
    assert.match(isc.stdout, /substring\(option vendor-class-identifier, 0, 4\) = "snom"/);
    assert.ok(isc.stdout.includes(`option tftp-server-name "${url}";`));
    assert.ok(isc.stdout.includes(`option provisiond-url-160 "${url}";`), 'Polycom gets option 160');
    assert.ok(isc.stdout.includes(`option provisiond-url-114 "${url}";`), 'Gigaset gets option 114');
    assert.match(isc.stderr, /holds the provisioning key of tenant other\.example/);

    const kea = await cli(['export', 'dhcp', '--format', 'kea', '--config', keyed, '--base-url', 'http://192.0.2.10:8667/']);
    assert.equal(kea.code, 0, kea.stderr);
    const doc = JSON.parse(kea.stdout) as { Dhcp4: { 'client-classes': { name: string; test: string; 'option-data': { name?: string; code?: number; data: string }[] }[] } };
    const classes = doc.Dhcp4['client-classes'];
    assert.deepEqual(classes.map((k) => k.name), ['cisco-spa', 'fanvil', 'gigaset', 'grandstream', 'polycom', 'snom', 'yealink'].map((v) => `provisiond-${v}`));
    const poly = classes.find((k) => k.name === 'provisiond-polycom');
    assert.match(poly?.test ?? '', /substring\(pkt4\.mac, 0, 3\) == 0x0004f2/);
    assert.equal(Buffer.from(poly?.['option-data'][0]?.data ?? '', 'hex').toString(), url);
    assert.equal(poly?.['option-data'][0]?.code, 160);
    assert.equal(classes.find((k) => k.name === 'provisiond-yealink')?.['option-data'][0]?.data, url);

    const dm = await cli(['export', 'dhcp', '--format', 'dnsmasq', '--config', keyed, '--base-url', 'http://192.0.2.10:8667/']);
    assert.equal(dm.code, 0, dm.stderr);
    assert.match(dm.stdout, /^dhcp-mac=set:provisiond-yealink,00:15:65:\*:\*:\*$/m);
    assert.match(dm.stdout, /^dhcp-vendorclass=set:provisiond-snom,snom$/m);
    assert.ok(dm.stdout.includes(`dhcp-option-force=tag:provisiond-polycom,160,"${url}"`));

    // Without a key: no warning, the URL from http.host; a wildcard host without a base URL is refused.
    const plain = await cli(['export', 'dhcp', '--format', 'dnsmasq', '--config', cfg]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(plain.stdout.includes('dhcp-option-force=tag:provisiond-yealink,66,"http://127.0.0.1:8667/"'));
    assert.equal(plain.stderr, '');
    const wild = await cli(['export', 'dhcp', '--format', 'isc', '--config', keyed]);
    assert.equal(wild.code, 1);
    assert.match(wild.stderr, /http\.host is 0\.0\.0\.0 .*--base-url.*\[PROVD_ERR_CONFIG_INVALID\]/);
    assert.equal((await cli(['export', 'dhcp', '--config', cfg])).code, 2, '--format is required');
    assert.equal((await cli(['export', 'avahi', '--format', 'isc', '--config', cfg])).code, 2);

    writeFileSync(files.isc, isc.stdout);
    writeFileSync(files.kea, kea.stdout);
    writeFileSync(files.dnsmasq, dm.stdout);
  });

  // Each server's own syntax check of the file above (skipped when the server is not installed).
  const checks: [string, string, (f: typeof files) => string[], string][] = [
    ['dhcpd', '--version', (f) => ['-t', '-cf', f.isc], 'code 160 = text;'],
    ['kea-dhcp4', '-v', (f) => ['-t', f.kea], '"test": "substring(pkt4.mac, 0, 3) =='],
    ['dnsmasq', '--version', (f) => ['--test', '-C', f.dnsmasq], 'dhcp-mac=set:provisiond-yealink,00:15:65:'],
  ];
  for (const [bin, probe, args, breakAt] of checks) {
    test(`export dhcp: ${bin} accepts its file, and refuses it broken`, { skip: toolSkip(bin, probe) }, () => {
      const r = spawnSync(bin, args(files), { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, `${bin} ${args(files).join(' ')}: ${r.stdout}${r.stderr}`);
      const file = args(files).at(-1) ?? '';
      const good = readFileSync(file, 'utf8');
      assert.ok(good.includes(breakAt), breakAt);
      writeFileSync(file, good.replace(breakAt, `${breakAt}(`));
      try {
        assert.notEqual(spawnSync(bin, args(files), { encoding: 'utf8', timeout: 20_000 }).status, 0, `${bin} accepted a broken file`);
      } finally {
        writeFileSync(file, good);
      }
    });
  }
});
