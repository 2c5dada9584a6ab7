/**
 * Issue 12 §6: `provisiond import wazo DIR`. The mapping by table (src/phones/wazo.ts), the
 * bounded reader, and the executable on the fixture test/fixtures/wazo (written by us in the
 * documented jsondb shapes): the store then holds the devices and configs, the wazo key opens
 * its tenant, a second import changes nothing, --dry-run writes nothing, and the imported
 * Yealink's file carries its wazo line's credentials (through PhoneService.renderDevice).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, cliWithInput as cli } from './helpers/daemon';
import { loadConfigFile, parseConfigText } from '../src/config/load';
import { isProvError } from '../src/errors';
import { KeyRing, hashKey } from '../src/identity/keys';
import { IMPORT_LIMITS, applyPlan, readWazoDir } from '../src/cli/import';
import { loadPhonesDomain } from '../src/phones/domain';
import { PhoneService } from '../src/phones/service';
import { MAX_DEPTH, WAZO_KEY, mapWazo, type WazoPlan, normalizeWazoMac, parseWazoJson, templateSyntax, vendorOfPlugin, type WazoInput, type WazoMapOptions } from '../src/phones/wazo';
import { openSqliteStore } from '../src/store/sqlite';

const ROOT = join(MAIN, '..', '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'wazo');
const A = '3b1c0a6e-7d44-4f2a-9a1e-0c5d2f8b6a11';
const B = '9f4e2d1c-5b3a-4c8d-8e7f-1a2b3c4d5e6f';
const KEY = 'Wz7kQ2mR9xT4vB8nL3pF6hJ1sD5gK0aE';
const MAP = ['--tenant-map', `${A}=a.example`, '--tenant-map', `${B}=b.example`];
const YEALINK = '00:15:65:4a:a9:37';

const dir = mkdtempSync(join(tmpdir(), 'provisiond-wazo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PROFILES: WazoMapOptions['profiles'] = new Map([...loadPhonesDomain({}).profiles].map(([v, l]) => [v, new Set(l.profile.models.keys())]));
const OPTS: WazoMapOptions = { tenantMap: new Map([[A, 'a.example'], [B, 'b.example']]), tenants: ['a.example', 'b.example'], profiles: PROFILES };

/** doc makes an in-memory file. */
function doc(path: string, value: unknown): { path: string; name: string; text: string } {
  return { path, name: path.split('/').pop() ?? path, text: typeof value === 'string' ? value : JSON.stringify(value) };
}

/** input builds a WazoInput from documents. */
function input(p: Partial<WazoInput>): WazoInput {
  return { configs: [], devices: [], templates: [], ...p };
}

/** configFile writes a configuration for a fresh state directory and template folder. */
function configFile(name: string, extra = ''): string {
  const base = join(dir, name);
  mkdirSync(base, { recursive: true });
  const p = join(base, 'p.yaml');
  writeFileSync(
    p,
    `stateDir: ${join(base, 'state')}\nprovisioning:\n  defaultDomain: a.example\n  tenants:\n    a.example: {auth: url_key}\n    b.example: {auth: url_key}\nphones: {enabled: true, templatesDir: ${join(base, 'tpl')}${extra}}\n`,
  );
  return p;
}

describe('wazo mapping: by table', () => {
  test('plugin ids map to profiles; others to none', async () => {
    const cases: [string, string | undefined][] = [
      ['xivo-yealink-v84', 'yealink'],
      ['wazo-yealink-v86', 'yealink'],
      ['xivo-polycom-5.4.3', 'polycom'],
      ['wazo-polycom-6.4', 'polycom'],
      ['xivo-snom-10.1.54.13', 'snom'],
      ['xivo-grandstream-1.0.8.6', 'grandstream'],
      ['xivo-cisco-spa-7.5.5', 'cisco-spa'],
      ['xivo-cisco-sccp-legacy', undefined],
      ['xivo-fanvil-serie-x', 'fanvil'],
      ['xivo-gigaset-N720', 'gigaset'],
      ['xivo-aastra-4.3.0', undefined],
      ['xivo-yealinkish-1', undefined],
      ['null', undefined],
    ];
    for (const [plugin, want] of cases) assert.equal(vendorOfPlugin(plugin), want, plugin);
  });

  test('MACs are normalised; other strings refused', async () => {
    const cases: [string, string | undefined][] = [
      ['00:15:65:4A:A9:37', YEALINK],
      ['00-15-65-4a-a9-37', YEALINK],
      ['0015654aa937', YEALINK],
      ['00:15:65:4a:a9', undefined],
      ['0015654aa93g', undefined],
      ['00:15:65:4a:a9:37:00', undefined],
    ];
    for (const [raw, want] of cases) assert.equal(normalizeWazoMac(raw), want, raw);
  });

  test("keys follow wazo's rule (8-256 of A-Z a-z 0-9 - $ ~ .)", async () => {
    const cases: [string, boolean][] = [
      ['1234567', false],
      ['12345678', true],
      [KEY, true],
      ['a'.repeat(256), true],
      ['a'.repeat(257), false],
      ['se$cu~re.12-3', true],
      ['with space1', false],
      ['slash/in/it', false],
      ['clé-unicode', false],
    ];
    for (const [k, ok] of cases) assert.equal(WAZO_KEY.test(k), ok, k);
  });

  test('a malformed document is named with its file; a template that does not parse says why', async () => {
    const bad = parseWazoJson(doc('jsondb/devices/x', '{"mac": '));
    assert.ok(!bad.ok && /^jsondb\/devices\/x: not valid JSON/.test(bad.message));
    const arr = parseWazoJson(doc('jsondb/devices/y', '[1]'));
    assert.ok(!arr.ok && /not a JSON object/.test(arr.message));
    assert.equal(templateSyntax('{% extends "base.tpl" %}{% block keys %}x{% endblock %}'), undefined);
    assert.match(templateSyntax('{% if x %}never closed') ?? '', /endif|end of file|unexpected/i);
  });

  test('the fixture: line configs only in their tenant, shared ones in both, roles by convention, unmapped things noted', async () => {
    const { input: inp, notes } = readWazoDir(FIXTURE);
    assert.deepEqual(notes, []);
    const plan = mapWazo(inp, OPTS);
    const ids = (t: string): string[] => plan.configs.filter((c) => c.tenant === t).map((c) => c.id).sort();
    assert.deepEqual(ids('a.example'), ['autoprov', 'autoprov8c2f41d0e5a34b6c9d7e8f9a0b1c2d3e', 'base', 'c7a51f0e2b9d4c38a6e1d0f2b3c4a5e6', 'default', 'defaultconfigdevice']);
    assert.deepEqual(ids('b.example'), ['autoprov', 'base', 'default', 'defaultconfigdevice', 'e1d2c3b4a5964738291a0b1c2d3e4f50']);
    const role = (t: string, r: string): string[] => plan.configs.filter((c) => c.tenant === t && c.role === r).map((c) => c.id);
    assert.deepEqual(role('a.example', 'default'), ['defaultconfigdevice']);
    assert.deepEqual(role('b.example', 'autoprov'), ['autoprov']);
    // Parents come before children, for the store.
    for (const t of ['a.example', 'b.example']) {
      const order = plan.configs.filter((c) => c.tenant === t).map((c) => c.id);
      for (const c of plan.configs.filter((x) => x.tenant === t)) for (const p of c.parents) assert.ok(order.indexOf(p) < order.indexOf(c.id), `${t}: ${p} before ${c.id}`);
    }
    // wazo's server address is dropped.
    const base = plan.configs.find((c) => c.id === 'base');
    assert.ok(base !== undefined && !('ip' in base.raw) && !('http_port' in base.raw) && base.raw['ntp_ip'] === '10.40.0.2');
    assert.deepEqual(
      plan.devices.map((d) => [d.mac, d.tenant, d.profile, d.model, d.config, d.createdBy]),
      [
        [YEALINK, 'a.example', 'yealink', 'T46G', 'c7a51f0e2b9d4c38a6e1d0f2b3c4a5e6', 'admin'],
        ['00:04:f2:a1:b2:c3', 'b.example', 'polycom', 'VVX400', 'e1d2c3b4a5964738291a0b1c2d3e4f50', 'admin'],
        ['80:5e:c0:12:34:56', 'a.example', 'yealink', 'T46S', 'autoprov8c2f41d0e5a34b6c9d7e8f9a0b1c2d3e', 'auto'],
      ],
    );
    assert.deepEqual(plan.keys, [{ tenant: 'a.example', uuid: A, hash: hashKey(KEY), advertisable: true }]);
    assert.ok(!JSON.stringify(plan).includes(KEY), 'the plan holds the key only hashed');
    assert.deepEqual(plan.templates.map((t) => [t.vendor, t.name]), [['yealink', '0015654aa937.cfg.tpl']]);
    const text = plan.notes.join('\n');
    assert.match(text, /devices\/f0e1d2c3b4a5465788796a5b4c3d2e1f: device 00:08:5d:2e:ec:fb: plugin xivo-aastra-4\.3\.0 maps to no provisiond profile/);
    assert.match(text, /config stale0f9e8d7c6b5a49382716a5b4c3d2e1f has unknown parent registrar-removed; skipped/);
    assert.match(text, /dropped ip, http_port, tftp_port/);
  });

  test('tenants: unmapped uuids are reported and their documents skipped; one configured tenant takes a single uuid', async () => {
    const { input: inp } = readWazoDir(FIXTURE);
    const none = mapWazo(inp, { ...OPTS, tenantMap: new Map() });
    assert.deepEqual([none.devices.length, none.keys.length, none.configs.length], [0, 0, 0]);
    assert.match(none.notes.join('\n'), new RegExp(`tenant ${A} is mapped to no provisiond tenant`));
    assert.match(none.notes.join('\n'), new RegExp(`tenant ${B} is mapped to no provisiond tenant`));
    const unknownTarget = mapWazo(inp, { ...OPTS, tenantMap: new Map([[A, 'zz.example'], ['no-such-uuid', 'a.example']]) });
    assert.match(unknownTarget.notes.join('\n'), /zz\.example is not a configured tenant/);
    assert.match(unknownTarget.notes.join('\n'), /--tenant-map no-such-uuid: no device or app\.json tenant has this uuid/);
    const dev = { id: 'd1', mac: '00:15:65:00:00:01', plugin: 'xivo-yealink-v84', model: 'T46G', tenant_uuid: A, config: 'line1' };
    const single = mapWazo(input({ devices: [doc('devices/d1', dev)], configs: [doc('configs/line1', { id: 'line1', parent_ids: [], raw_config: {} })] }), { ...OPTS, tenantMap: new Map(), tenants: ['only.example'] });
    assert.deepEqual(single.devices.map((d) => d.tenant), ['only.example']);
    assert.deepEqual(single.configs.map((c) => `${c.tenant}/${c.id}`), ['only.example/line1']);
  });

  test('bad documents: cycles, duplicate MACs, a second default, odd keys, malformed app.json, templates', async () => {
    const cfg = (id: string, parents: string[], extra: Record<string, unknown> = {}): ReturnType<typeof doc> => doc(`configs/${id}`, { id, parent_ids: parents, raw_config: {}, ...extra });
    const dev = (id: string, mac: string, extra: Record<string, unknown> = {}): ReturnType<typeof doc> => doc(`devices/${id}`, { id, mac, plugin: 'xivo-yealink-v84', tenant_uuid: A, ...extra });
    const plan = mapWazo(
      input({
        configs: [cfg('x', ['y']), cfg('y', ['x']), cfg('r1', [], { role: 'default' }), cfg('r2', [], { role: 'default' }), cfg('bad id!', []), doc('configs/broken', '{')],
        devices: [dev('d1', '00:15:65:00:00:01', { config: 'x' }), dev('d2', '00:15:65:00:00:01'), dev('d3', 'nonsense'), dev('d4', '00:15:65:00:00:04', { tenant_uuid: undefined }), dev('d5', '00:15:65:00:00:05', { plugin: undefined, vendor: 'Poly', model: 'VVX400' })],
        app: doc('app.json', { tenants: { [A]: { provisioning_key: 'short' }, [B]: { provisioning_key: KEY } }, NAT: 1 }),
        templates: [
          { ...doc('plugins/xivo-yealink-v84/var/templates/T46G.tpl', 'old'), plugin: 'xivo-yealink-v84' },
          { ...doc('plugins/xivo-yealink-v86/var/templates/T46G.tpl', 'new'), plugin: 'xivo-yealink-v86' },
          { ...doc('plugins/xivo-yealink-v86/var/templates/base.tpl', '{% if %}'), plugin: 'xivo-yealink-v86' },
          { ...doc('plugins/xivo-aastra-4.3.0/var/templates/base.tpl', 'x'), plugin: 'xivo-aastra-4.3.0' },
        ],
      }),
      OPTS,
    );
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const nested = mapWazo(
      input({
        configs: [doc('configs/deep', `{"id":"deep","parent_ids":[],"raw_config":{"X_a":${deep}}}`)],
        devices: [doc('devices/deep', `{"id":"deep","mac":"00:15:65:00:00:07","plugin":"xivo-yealink-v84","tenant_uuid":"${A}","options":{"o":${deep}}}`)],
      }),
      OPTS,
    );
    assert.match(nested.notes.join('\n'), /configs\/deep: raw_config nests deeper than 16 levels; skipped/);
    assert.match(nested.notes.join('\n'), /devices\/deep: device 00:15:65:00:00:07: options nest deeper than 16 levels; left out/);
    assert.deepEqual(nested.devices.map((d) => d.options), [{}]);
    const text = plan.notes.join('\n');
    assert.match(text, /config x has a parent cycle x -> y -> x; skipped|config x has a parent cycle y -> x -> y; skipped/);
    assert.match(text, /devices\/d1: device 00:15:65:00:00:01: config x was not imported/);
    assert.match(text, /devices\/d2: MAC 00:15:65:00:00:01 is also device devices\/d1's; skipped/);
    assert.match(text, /devices\/d3: device d3: "nonsense" is not a MAC address; skipped/);
    assert.match(text, /devices\/d4: device 00:15:65:00:00:04 has no tenant_uuid; skipped/);
    assert.match(text, /config r2 would be a\.example's default config too/);
    assert.match(text, /configs\/bad id!: config id "bad id!" is not/);
    assert.match(text, /configs\/broken: not valid JSON/);
    assert.match(text, new RegExp(`tenants\\.${A}\\.provisioning_key is not 8-256 characters`));
    assert.match(text, /wazo had NAT mode on: set phones\.natMode: true/);
    assert.match(text, /xivo-yealink-v86\/var\/templates\/base\.tpl: does not parse/);
    assert.match(text, /xivo-yealink-v84\/var\/templates\/T46G\.tpl: yealink\/T46G\.tpl already comes from .*xivo-yealink-v86/);
    assert.match(text, /xivo-aastra-4\.3\.0 maps to no loaded provisiond profile/);
    assert.deepEqual(plan.templates.map((t) => [t.name, t.text]), [['T46G.tpl', 'new']]);
    assert.deepEqual(plan.devices.map((d) => [d.mac, d.profile, d.config]), [['00:15:65:00:00:01', 'yealink', null], ['00:15:65:00:00:05', 'polycom', null]]);
    assert.deepEqual(plan.keys.map((k) => k.tenant), ['b.example']);
  });

  test('ancestry: at most MAX_DEPTH levels, whatever the order the files come in; a diamond ladder is walked once', async () => {
    const chain = Array.from({ length: MAX_DEPTH + 6 }, (_, i) => doc(`configs/c${i}`, { id: `c${i}`, parent_ids: i === 0 ? [] : [`c${i - 1}`], raw_config: {} }));
    for (const files of [chain, [...chain].reverse()]) {
      const plan = mapWazo(input({ configs: files }), { ...OPTS, tenantMap: new Map(), tenants: ['only.example'] });
      assert.equal(plan.configs.length, MAX_DEPTH);
      assert.ok(plan.configs.every((c) => Number(c.id.slice(1)) < MAX_DEPTH));
      assert.match(plan.notes.join('\n'), new RegExp(`config c${MAX_DEPTH} has an ancestry more than ${MAX_DEPTH} levels high; skipped`));
    }
    // 60 levels of two configs, each with both configs of the level below as parents: 2^60 paths.
    const ladder = Array.from({ length: 120 }, (_, i) => {
      const level = Math.floor(i / 2);
      return doc(`configs/l${i}`, { id: `l${i}`, parent_ids: level === 0 ? [] : [`l${2 * level - 2}`, `l${2 * level - 1}`], raw_config: {} });
    });
    const t0 = Date.now();
    const plan = mapWazo(input({ configs: ladder }), { ...OPTS, tenantMap: new Map(), tenants: ['only.example'] });
    assert.equal(plan.configs.length, 120);
    assert.ok(Date.now() - t0 < 2000, `mapped in ${Date.now() - t0} ms`);
  });

  test('raw_config keys and line fields no template names are reported (and kept)', async () => {
    const { input: inp } = readWazoDir(FIXTURE);
    const plan = mapWazo(inp, { ...OPTS, templateWords: new Set(['sip_lines', 'username', 'password', 'proxy_ip', 'ntp_ip']) });
    const text = plan.notes.join('\n');
    assert.match(text, /raw_config key exten_dnd \(config c7a51f0e2b9d4c38a6e1d0f2b3c4a5e6\) is named in no template/);
    assert.match(text, /sip_lines field voicemail \(config c7a51f0e2b9d4c38a6e1d0f2b3c4a5e6\)/);
    assert.doesNotMatch(text, /raw_config key sip_lines |raw_config key ntp_ip /);
    assert.equal(plan.configs.find((c) => c.id === 'c7a51f0e2b9d4c38a6e1d0f2b3c4a5e6')?.raw['exten_dnd'], '*25');
  });
});

describe('wazo reader: bounded', () => {
  test('oversized and non-regular files are skipped and named; a folder that is not wazo is refused', async () => {
    const d = join(dir, 'reader');
    mkdirSync(join(d, 'jsondb', 'devices'), { recursive: true });
    mkdirSync(join(d, 'jsondb', 'configs'), { recursive: true });
    writeFileSync(join(d, 'jsondb', 'configs', 'big'), `{"id":"big","raw_config":{"X_pad":"${'x'.repeat(IMPORT_LIMITS.docBytes)}"}}`);
    writeFileSync(join(d, 'jsondb', 'configs', 'ok'), '{"id":"ok","parent_ids":[],"raw_config":{}}');
    symlinkSync('/etc/passwd', join(d, 'jsondb', 'devices', 'link'));
    writeFileSync(join(d, 'jsondb', 'devices', '.d1.swp'), 'x');
    writeFileSync(join(d, 'jsondb', 'devices', 'esc\u001b[31mred'), '{}');
    symlinkSync(d, join(dir, 'reader-link'));
    assert.deepEqual(readWazoDir(join(dir, 'reader-link')).input.configs.map((c) => c.name), ['ok'], 'the directory given may be a symlink');
    const r = readWazoDir(d);
    assert.deepEqual(r.input.configs.map((c) => c.name), ['ok']);
    assert.match(r.notes.join('\n'), /configs\/big: \d+ bytes, over the 1048576-byte cap; skipped/);
    assert.match(r.notes.join('\n'), /devices\/link: not a regular file/);
    assert.match(r.notes.join('\n'), /app\.json: missing/);
    assert.match(r.notes.join('\n'), /devices\/\.d1\.swp: a hidden file/);
    assert.match(r.notes.join('\n'), /devices: entry "esc\\u001b\[31mred" has control characters; skipped/);
    assert.ok(!r.notes.join('\n').includes('\u001b'));
    for (const bad of [join(d, 'nowhere'), join(d, 'jsondb', 'devices')]) {
      assert.throws(() => readWazoDir(bad), (e: unknown) => isProvError(e) && e.code === 'PROVD_ERR_IMPORT');
    }
  });
});

describe('provisiond import wazo: through the executable', () => {
  test('--dry-run reports and writes nothing', async () => {
    const conf = configFile('dry');
    const r = await cli(['import', 'wazo', FIXTURE, '--config', conf, '--dry-run', ...MAP]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dry run: nothing written/);
    assert.match(r.stdout, /devices +3 would be added/);
    assert.match(r.stderr, /plugin xivo-aastra-4\.3\.0 maps to no provisiond profile/);
    assert.ok(!existsSync(join(dir, 'dry', 'state')), 'no store created');
    assert.ok(!existsSync(join(dir, 'dry', 'tpl')), 'no template written');
  });

  test('import, then the store, the key, the render; a second import is a no-op', async () => {
    const conf = configFile('full');
    const r1 = await cli(['import', 'wazo', FIXTURE, '--config', conf, '--json', ...MAP]);
    assert.equal(r1.code, 0, r1.stderr);
    const rep = JSON.parse(r1.stdout) as { configs: { added: number }; devices: { added: number }; keys: { added: number }; templates: { added: number }; warnings: string[] };
    assert.deepEqual([rep.configs.added, rep.devices.added, rep.keys.added, rep.templates.added], [11, 3, 1, 1]);
    assert.ok(rep.warnings.some((w) => /config stale0f9e8d7c6b5a49382716a5b4c3d2e1f has unknown parent/.test(w)));
    assert.ok(!r1.stdout.includes(KEY) && !r1.stderr.includes(KEY), 'the key is never printed');

    const cfg = loadConfigFile(conf);
    const tpl = join(dir, 'full', 'tpl', 'yealink', '0015654aa937.cfg.tpl');
    assert.equal(readFileSync(tpl, 'utf8'), readFileSync(join(FIXTURE, 'plugins', 'xivo-yealink-v84', 'var', 'templates', '0015654aa937.cfg.tpl'), 'utf8'));
    const snapshot = (): string => {
      const s = openSqliteStore(cfg.stateDir, { readonly: true });
      try {
        return JSON.stringify([s.phones.listConfigs(), s.phones.list(), s.sync?.keys.list()]);
      } finally {
        s.close();
      }
    };
    const before = snapshot();
    const mtime = statSync(tpl).mtimeMs;

    const s = openSqliteStore(cfg.stateDir);
    try {
      assert.deepEqual(s.phones.list().map((p) => [p.mac, p.tenant, p.profile, p.model, p.ip, p.version]), [
        ['00:15:65:4a:a9:37', 'a.example', 'yealink', 'T46G', '10.40.1.21', '28.84.0.10'],
        ['80:5e:c0:12:34:56', 'a.example', 'yealink', 'T46S', '10.40.1.44', '66.84.0.15'],
        ['00:04:f2:a1:b2:c3', 'b.example', 'polycom', 'VVX400', '10.41.1.30', '5.4.3.2036'],
      ]);
      assert.equal(s.phones.getConfig('b.example', 'c7a51f0e2b9d4c38a6e1d0f2b3c4a5e6'), undefined, "Alice's line config stays in her tenant");
      assert.deepEqual((await s.keys.list()).map((k) => [k.tenant, k.hash, k.expiresAt]), [['a.example', hashKey(KEY), null]]);
      const svc = new PhoneService(cfg, { phones: s.phones, keys: s.sync?.keys, users: s.sync?.users, domain: loadPhonesDomain(cfg.phones) });
      const t = svc.resolveTenant(KEY, '10.40.1.21');
      assert.ok(t.ok && t.tenant.name === 'a.example', JSON.stringify(t));
      assert.deepEqual(svc.resolveTenant(`${KEY}x`, '10.40.1.21'), { ok: false, outcome: 'bad-key' });
      const y = svc.renderDevice(YEALINK, { baseUrl: 'https://prov.example.org/', key: KEY });
      assert.equal(y.file, '0015654aa937.cfg');
      assert.equal(y.answer.status, 200);
      const body = y.answer.body.toString('utf8');
      assert.match(body, /^account\.1\.user_name = ua7c1q$/m);
      assert.match(body, /^account\.1\.auth_name = ua7c1q$/m);
      assert.match(body, /^account\.1\.password = Yk-s3cret-1$/m);
      assert.match(body, /^account\.1\.display_name = Alice Martin$/m);
      assert.match(body, /^account\.1\.sip_server\.1\.address = 10\.40\.0\.2$/m);
      assert.match(body, /^## keys \(site override for the reception desk\)$/m, 'the imported custom template wins');
      assert.match(body, /^linekey\.1\.value = 1002$/m);
      assert.match(body, /^local_time\.ntp_server1 = 10\.40\.0\.2$/m, 'inherited from base/defaultconfigdevice');
      assert.ok(body.includes(`static.auto_provision.server.url = https://prov.example.org/${KEY}/`), 'the URL carries the wazo key');
      assert.doesNotMatch(body, /10\.40\.0\.2:8667|http_port/, "wazo's own server address is not carried over");
      const p = svc.renderDevice('00:04:f2:a1:b2:c3', { baseUrl: 'https://prov.example.org/' });
      assert.equal(p.answer.status, 200);
      assert.match(p.answer.body.toString('utf8'), /pb2x8k/);
      assert.doesNotMatch(p.answer.body.toString('utf8'), /ua7c1q|Yk-s3cret-1/);
    } finally {
      s.close();
    }

    const r2 = await cli(['import', 'wazo', FIXTURE, '--config', conf, ...MAP]);
    assert.equal(r2.code, 0, r2.stderr);
    for (const k of ['configs', 'devices', 'keys', 'templates']) assert.match(r2.stdout, new RegExp(`^${k} +0 added, 0 updated, \\d+ unchanged, 0 left out$`, 'm'));
    assert.equal(snapshot(), before, 'the second import changes nothing in the store');
    const dry = await cli(['import', 'wazo', FIXTURE, '--config', conf, '--dry-run', '--json', ...MAP]);
    assert.equal(dry.code, 0, dry.stderr);
    const d = JSON.parse(dry.stdout) as Record<'configs' | 'devices' | 'keys' | 'templates', { unchanged: number; added: number }>;
    assert.deepEqual([d.configs, d.devices, d.keys, d.templates].map((c) => [c.added, c.unchanged]), [[0, 11], [0, 3], [0, 1], [0, 1]], 'a dry run reads the existing store');
    assert.equal(statSync(tpl).mtimeMs, mtime, 'nor the template file');
  });

  test('a different existing template or device is left unless --force', async () => {
    const conf = configFile('force');
    assert.equal((await cli(['import', 'wazo', FIXTURE, '--config', conf, ...MAP])).code, 0);
    const tpl = join(dir, 'force', 'tpl', 'yealink', '0015654aa937.cfg.tpl');
    writeFileSync(tpl, '{# the site edited it #}\n');
    const cfg = loadConfigFile(conf);
    const s = openSqliteStore(cfg.stateDir);
    s.phones.update(YEALINK, { model: 'T48G' });
    s.close();
    const left = await cli(['import', 'wazo', FIXTURE, '--config', conf, ...MAP]);
    assert.equal(left.code, 0, left.stderr);
    assert.match(left.stderr, /0015654aa937\.cfg\.tpl exists with other content; left as it is \(--force to overwrite\)/);
    assert.match(left.stderr, /device 00:15:65:4a:a9:37 differs from the stored one; left as it is/);
    assert.equal(readFileSync(tpl, 'utf8'), '{# the site edited it #}\n');
    const forced = await cli(['import', 'wazo', FIXTURE, '--config', conf, '--force', ...MAP]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^devices +0 added, 1 updated/m);
    assert.match(forced.stdout, /^templates +0 added, 1 updated/m);
    const s2 = openSqliteStore(cfg.stateDir, { readonly: true });
    assert.equal(s2.phones.get(YEALINK)?.model, 'T46G');
    s2.close();
  });

  test('nothing importable exits 5 with the reasons; malformed JSON is named; a bad --tenant-map is a usage error', async () => {
    const conf = configFile('nothing');
    const src = join(dir, 'nothing', 'wazo');
    mkdirSync(join(src, 'jsondb', 'devices'), { recursive: true });
    cpSync(join(FIXTURE, 'jsondb', 'devices', 'f0e1d2c3b4a5465788796a5b4c3d2e1f'), join(src, 'jsondb', 'devices', 'f0e1d2c3b4a5465788796a5b4c3d2e1f'));
    writeFileSync(join(src, 'jsondb', 'devices', 'broken'), '{"mac": "00:15:65');
    const r = await cli(['import', 'wazo', src, '--config', conf, ...MAP]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /nothing in .* could be imported \[PROVD_ERR_IMPORT\]/);
    assert.match(r.stderr, /jsondb\/devices\/broken: not valid JSON/);
    assert.match(r.stderr, /xivo-aastra-4\.3\.0 maps to no provisiond profile/);
    assert.ok(!existsSync(join(dir, 'nothing', 'state')), 'no store created');
    const usage = await cli(['import', 'wazo', src, '--config', conf, '--tenant-map', 'no-equals-sign']);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /--tenant-map no-equals-sign: expected UUID=tenant/);
  });
});

describe('import wazo: keys beside the ones a tenant has', () => {
  const URL_A = 'UrlKeyOfTenantA_0123456789abcdef';
  const URL_B = 'UrlKeyOfTenantB_0123456789abcdef';
  const conf = (state: string, window = 30): ReturnType<typeof parseConfigText> =>
    parseConfigText(
      `stateDir: ${state}\nprovisioning:\n  keyGracePeriod: 600\n  tenants:\n    a.example: {auth: url_key, urlKey: ${URL_A}}\n    b.example: {auth: url_key, urlKey: ${URL_B}}\n    c.example: {auth: none}\nphones: {passwordWindow: ${window}}\n`,
      'k.yaml',
    );
  const plan = (keys: WazoPlan['keys'], devices: WazoPlan['devices'] = []): WazoPlan => ({ configs: [], devices, keys, templates: [], notes: [] });
  const key = (tenant: string, k: string, uuid = A): WazoPlan['keys'][number] => ({ tenant, uuid, hash: hashKey(k), advertisable: true });

  test('the wazo key becomes current, the urlKey keeps its grace period; a later rotation is not undone; a key of another tenant is refused', async () => {
    const state = join(dir, 'keys-state');
    const cfg = conf(state);
    const s = openSqliteStore(state);
    try {
      const t0 = new Date('2026-11-27T10:00:00Z');
      const r = await applyPlan(plan([key('a.example', KEY)]), s, cfg, { dryRun: false, force: false, now: t0 });
      assert.equal(r.keys.added, 1);
      assert.match(r.warnings.join('\n'), /a\.example: the wazo key becomes its current key; the key it had stays valid for 600 s \(until 2026-11-27T10:10:00\.000Z\)/);
      const ring = (at: Date): KeyRing => new KeyRing(new Map([['a.example', URL_A], ['b.example', URL_B]]), s.keys, () => at.getTime());
      assert.equal(await ring(t0).tenantOf(KEY), 'a.example');
      assert.equal(await ring(t0).tenantOf(URL_A), 'a.example', 'the configured urlKey within its grace period');
      assert.equal(await ring(new Date('2026-11-27T10:11:00Z')).tenantOf(URL_A), undefined, 'and not after it');
      assert.equal((await applyPlan(plan([key('a.example', KEY)]), s, cfg, { dryRun: false, force: false, now: t0 })).keys.unchanged, 1);
      // The admin rotates after the import: importing again does not bring the wazo key back.
      await s.keys.rotate('a.example', hashKey('RotatedByTheAdmin_0123456789ab'), t0.toISOString(), t0.toISOString());
      const again = await applyPlan(plan([key('a.example', KEY)]), s, cfg, { dryRun: false, force: false, now: t0 });
      assert.deepEqual([again.keys.left, again.keys.added], [1, 0]);
      assert.match(again.warnings.join('\n'), /already its previous or expired key/);
      assert.equal((await applyPlan(plan([key('a.example', KEY)]), s, cfg, { dryRun: false, force: true, now: t0 })).keys.added, 1);
      assert.equal(await ring(t0).tenantOf(KEY), 'a.example');
      // b.example's configured urlKey presented as c.example's wazo key: refused.
      const clash = await applyPlan(plan([key('c.example', URL_B, B)]), s, cfg, { dryRun: false, force: false, now: t0 });
      assert.equal(clash.keys.left, 1);
      assert.match(clash.warnings.join('\n'), new RegExp(`key of wazo tenant ${B} is already a key of b\\.example; not imported for c\\.example`));
      assert.equal(await ring(t0).tenantOf(URL_B), 'b.example');
    } finally {
      s.close();
    }
  });

  test("a tenant without a key is warned about the password window (not when the window is 0)", async () => {
    const dev = (tenant: string): WazoPlan['devices'][number] => ({ mac: '00:15:65:00:00:09', tenant, profile: 'yealink', model: null, version: null, serial: null, ip: null, config: null, options: {}, createdBy: 'admin', from: 'devices/x' });
    const w = (await applyPlan(plan([], [dev('c.example')]), undefined, conf(join(dir, 'nostate')), { dryRun: true, force: false, now: new Date() })).warnings.join('\n');
    assert.match(w, /c\.example has no provisioning key: its imported phones get their SIP passwords only within phones\.passwordWindow \(30 min\)/);
    assert.doesNotMatch((await applyPlan(plan([], [dev('a.example')]), undefined, conf(join(dir, 'nostate')), { dryRun: true, force: false, now: new Date() })).warnings.join('\n'), /no provisioning key/);
    assert.doesNotMatch((await applyPlan(plan([], [dev('c.example')]), undefined, conf(join(dir, 'nostate'), 0), { dryRun: true, force: false, now: new Date() })).warnings.join('\n'), /no provisioning key/);
  });
});
