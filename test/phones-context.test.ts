import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildContext, contextFor, isSecretKey } from '../src/phones/context';
import type { ContextInput, ContextUser } from '../src/phones/context';
import { renderCacheKey, canonicalJson, contentStamp } from '../src/phones/cachekey';
import type { CacheKeyInput } from '../src/phones/cachekey';
import { flatten, withDefaults } from '../src/phones/configs';
import type { PhoneConfig, PhoneConfigs, RawMap, RawValue } from '../src/phones/configs';
import { createTemplateLookup } from '../src/templates/lookup';
import type { TemplateFiles } from '../src/templates/lookup';

const ALICE: ContextUser = {
  name: 'alice',
  domain: 'acme',
  attributes: { sip_username: '1001', sip_password: 'alice-sip-secret', display_name: 'Alice A.', number: '1001', department: 'R&D' },
};
const BOB: ContextUser = { name: 'bob', domain: 'acme', attributes: { sip_auth_username: 'bob-auth', sip_password: 'bob-sip-secret' } };

function configs(...list: { id: string; parents?: string[]; raw?: RawMap }[]): PhoneConfigs {
  return new Map(list.map((c): [string, PhoneConfig] => [c.id, { id: c.id, parents: c.parents ?? [], raw: c.raw ?? {} }]));
}

const SET = configs(
  { id: 'base', raw: { ntp_ip: '10.0.0.1', timezone: 'Europe/Paris', admin_password: 'admin-secret', user_password: 'user-secret', sip_proxy_ip: '10.0.0.2', X_custom: 'x' } },
  {
    id: 'dev',
    parents: ['base'],
    raw: {
      sip_lines: {
        '1': { proxy_ip: '10.0.0.9', proxy_port: 5060, username: 'old', auth_username: 'old-auth', password: 'config-secret', display_name: 'Old', number: '999', dtmf_mode: 'SIP-INFO' },
        '3': { proxy_ip: '10.0.0.3', username: 'three', password: 'three-secret' },
      },
      funckeys: { '1': { type: 'blf', value: '1002', label: 'Bob', line: 1 } },
    },
  },
);

function raw(): RawMap {
  const r = flatten(SET, 'dev');
  assert.ok(r.ok);
  return r.raw;
}

function input(over: Partial<ContextInput> = {}): ContextInput {
  return {
    device: { mac: '00:15:65:4a:a9:37', model: 'T46S', vendor: 'yealink', ip: '10.0.1.5', version: '66.86.0.15', config: 'dev', lines: 4 },
    raw: raw(),
    users: [ALICE, BOB],
    tenant: { name: 'acme', attributes: { site: 'paris' }, urlKey: 'k3yk3yk3y' },
    server: { httpBaseUrl: 'https://prov.example:8667/' },
    ...over,
  };
}

function lineOf(ctx: RawMap, n: string): RawMap {
  const lines = ctx.sip_lines as RawMap;
  return lines[n] as RawMap;
}

describe('lines from users', () => {
  const TABLE: { name: string; users: readonly (ContextUser | null)[]; line: string; want: RawMap }[] = [
    {
      name: 'a user replaces the credentials of the config line, keeps its server fields',
      users: [ALICE],
      line: '1',
      want: { proxy_ip: '10.0.0.9', proxy_port: 5060, registrar_ip: '10.0.0.9', dtmf_mode: 'SIP-INFO', username: '1001', auth_username: '1001', password: 'alice-sip-secret', display_name: 'Alice A.', number: '1001' },
    },
    {
      name: 'a user without sip_username uses its name; its auth username is its own; no config credential leaks',
      users: [null, BOB],
      line: '2',
      want: { username: 'bob', auth_username: 'bob-auth', password: 'bob-sip-secret' },
    },
    {
      name: 'a null user leaves the config line as it is',
      users: [null],
      line: '1',
      want: { proxy_ip: '10.0.0.9', proxy_port: 5060, registrar_ip: '10.0.0.9', dtmf_mode: 'SIP-INFO', username: 'old', auth_username: 'old-auth', password: 'config-secret', display_name: 'Old', number: '999' },
    },
    {
      name: 'a line without a user keeps the config (line 3), defaults applied',
      users: [ALICE, BOB],
      line: '3',
      want: { proxy_ip: '10.0.0.3', registrar_ip: '10.0.0.3', username: 'three', auth_username: 'three', password: 'three-secret' },
    },
  ];
  for (const row of TABLE) {
    test(row.name, () => {
      const ctx = buildContext(input({ users: row.users }));
      assert.deepEqual(lineOf(ctx, row.line), row.want);
    });
  }

  test('users and user are exposed for our templates, in line order', () => {
    const ctx = buildContext(input());
    const users = ctx.users as readonly RawMap[];
    assert.deepEqual(users.map((u) => [u.name, u.line]), [['alice', '1'], ['bob', '2']]);
    assert.equal((ctx.user as RawMap).name, 'alice');
    assert.equal(((ctx.user as RawMap).attributes as RawMap).department, 'R&D');
  });

  test('raw_config names pass through, with wazo defaults and XX_ keys', () => {
    const ctx = buildContext(input());
    assert.equal(ctx.ntp_ip, '10.0.0.1');
    assert.equal(ctx.timezone, 'Europe/Paris');
    assert.equal(ctx.X_custom, 'x');
    assert.equal(ctx.sip_registrar_ip, '10.0.0.2');
    assert.equal(ctx.sip_transport, 'udp');
    assert.equal(ctx.syslog_port, 514);
    assert.deepEqual(ctx.sccp_call_managers, {});
    assert.deepEqual(Object.keys(ctx.XX_sip_lines as RawMap), ['1', '2', '3', '4']);
    assert.equal((ctx.XX_sip_lines as RawMap)['4'], null);
    assert.deepEqual(ctx.device, { mac: '00:15:65:4a:a9:37', mac_hex: '0015654aa937', model: 'T46S', vendor: 'yealink', ip: '10.0.1.5', version: '66.86.0.15', config: 'dev' });
    assert.deepEqual(ctx.tenant, { name: 'acme', attributes: { site: 'paris' }, keyed: true });
  });
});

describe('http_base_url', () => {
  const TABLE: { name: string; base: string; key?: string; configured?: string; want: string; ip: string; port: number; server: string }[] = [
    { name: 'the key is the first path segment', base: 'https://prov.example:8667/', key: 'k3yk3yk3y', want: 'https://prov.example:8667/k3yk3yk3y', ip: 'prov.example', port: 8667, server: 'https://prov.example:8667/k3yk3yk3y' },
    { name: 'without trailing slash', base: 'http://10.0.0.1:8667', key: 'abc12345', want: 'http://10.0.0.1:8667/abc12345', ip: '10.0.0.1', port: 8667, server: 'http://10.0.0.1:8667/abc12345' },
    { name: 'a tenant without key', base: 'http://10.0.0.1/', want: 'http://10.0.0.1', ip: '10.0.0.1', port: 80, server: 'http://10.0.0.1' },
    { name: 'the config wins over the server, the key appended last (wazo)', base: 'http://ignored/', configured: 'https://pbx.example/device/provisioning/', key: 'kk998877', want: 'https://pbx.example/device/provisioning/kk998877', ip: 'pbx.example', port: 443, server: 'https://pbx.example/device/provisioning/kk998877' },
  ];
  for (const row of TABLE) {
    test(row.name, () => {
      const r: RawMap = row.configured === undefined ? raw() : { ...raw(), http_base_url: row.configured };
      const ctx = buildContext(input({ raw: r, server: { httpBaseUrl: row.base }, tenant: { name: 't', attributes: {}, urlKey: row.key } }));
      assert.equal(ctx.http_base_url, row.want);
      assert.equal(ctx.XX_server_url, row.server);
      assert.equal(ctx.ip, row.ip);
      assert.equal(ctx.http_port, row.port);
      assert.equal((ctx.tenant as RawMap).keyed, row.key !== undefined);
      assert.ok(!JSON.stringify(ctx.tenant).includes(row.key ?? '\u0000'), 'the key is not in tenant');
    });
  }
});

/** scan lists every key path and every string value of a value. */
function scan(v: RawValue, path: string, keys: string[], strings: string[]): void {
  if (typeof v === 'string') strings.push(v);
  if (Array.isArray(v)) (v as readonly RawValue[]).forEach((x, i) => scan(x, `${path}[${i}]`, keys, strings));
  else if (typeof v === 'object' && v !== null) {
    for (const k of Object.keys(v)) {
      keys.push(`${path}.${k}`);
      const x = (v as RawMap)[k];
      if (x !== undefined) scan(x, `${path}.${k}`, keys, strings);
    }
  }
}

describe('secrets: false', () => {
  const SECRETS = ['alice-sip-secret', 'bob-sip-secret', 'config-secret', 'three-secret', 'admin-secret', 'user-secret', 'PRIVATE KEY'];
  const withKey = (): RawMap => ({ ...raw(), sip_local_key: 'PRIVATE KEY' });

  test('the full context carries the secrets (the scan is meaningful)', () => {
    const strings: string[] = [];
    scan(buildContext(input({ raw: withKey() })), 'ctx', [], strings);
    scan(buildContext(input({ raw: withKey(), users: [null] })), 'ctx', [], strings);
    for (const s of SECRETS) assert.ok(strings.includes(s), s);
  });

  const TABLE: { name: string; users: readonly (ContextUser | null)[] }[] = [
    { name: 'users on lines 1 and 2', users: [ALICE, BOB] },
    { name: 'no user', users: [] },
    { name: 'a gap: config line 1 kept', users: [null, ALICE] },
  ];
  for (const row of TABLE) {
    test(`every password is removed at any depth: ${row.name}`, () => {
      const full = buildContext(input({ raw: withKey(), users: row.users }));
      const ctx = buildContext(input({ raw: withKey(), users: row.users }), { secrets: false });
      const keys: string[] = [];
      const strings: string[] = [];
      scan(ctx, 'ctx', keys, strings);
      assert.deepEqual(keys.filter((k) => /password|local_key/i.test(k)), []);
      for (const s of SECRETS) assert.ok(!strings.includes(s), s);
      assert.ok(!JSON.stringify(ctx).includes('secret'));
      // the same context otherwise: only secret keys differ
      const fullKeys: string[] = [];
      scan(full, 'ctx', fullKeys, []);
      assert.deepEqual(fullKeys.filter((k) => !isSecretKey(k.slice(k.lastIndexOf('.') + 1))), keys);
      assert.equal(ctx.http_base_url, full.http_base_url);
    });
  }
});

/** shuffled rebuilds a value with every map's keys in reverse order. */
function reversed(v: RawValue): RawValue {
  if (Array.isArray(v)) return (v as readonly RawValue[]).map(reversed);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, RawValue> = {};
  for (const k of Object.keys(v).reverse()) {
    const x = (v as RawMap)[k];
    if (x !== undefined) out[k] = reversed(x);
  }
  return out;
}

describe('byte stability', () => {
  test('the JSON of the context does not depend on the input key order', () => {
    const a = buildContext(input());
    const rev = (m: Readonly<Record<string, string>>): Record<string, string> => Object.fromEntries(Object.entries(m).reverse());
    const b = buildContext(
      input({
        raw: reversed(raw()) as RawMap,
        users: [{ ...ALICE, attributes: rev(ALICE.attributes) }, { ...BOB, attributes: rev(BOB.attributes) }],
        tenant: { urlKey: 'k3yk3yk3y', attributes: { site: 'paris' }, name: 'acme' },
        device: { lines: 4, config: 'dev', version: '66.86.0.15', ip: '10.0.1.5', vendor: 'yealink', model: 'T46S', mac: '00:15:65:4a:a9:37' },
      }),
    );
    assert.equal(JSON.stringify(b), JSON.stringify(a));
    assert.equal(canonicalJson(a), JSON.stringify(a));
  });

  test('every map of the context has sorted keys', () => {
    const keys: string[][] = [];
    const walk = (v: RawValue): void => {
      if (Array.isArray(v)) (v as readonly RawValue[]).forEach(walk);
      else if (typeof v === 'object' && v !== null) {
        keys.push(Object.keys(v));
        for (const x of Object.values(v as RawMap)) if (x !== undefined) walk(x);
      }
    };
    walk(buildContext(input()));
    for (const k of keys) assert.deepEqual(k, [...k].sort());
  });

  test('a render through the lookup is byte-identical for reordered inputs', () => {
    const tree = new Map([['/s/base.tpl', '{% for n, l in sip_lines %}{{ n }}={{ l.username }}:{{ l.password }};{% endfor %}{{ http_base_url }}']]);
    const files: TemplateFiles = { stamp: (p) => (tree.has(p) ? 's1' : undefined), read: (p) => tree.get(p) ?? '' };
    const lookup = createTemplateLookup([{ label: 'shipped', dir: '/s' }], files);
    const a = lookup.render('0015654aa937.cfg', 'T46S', buildContext(input()));
    const b = lookup.render('0015654aa937.cfg', 'T46S', buildContext(input({ raw: reversed(raw()) as RawMap })));
    assert.equal(a.text, b.text);
    assert.equal(a.text, '1=1001:alice-sip-secret;2=bob:bob-sip-secret;3=three:three-secret;https://prov.example:8667/k3yk3yk3y');
  });
});

describe('render cache key', () => {
  const BASE: CacheKeyInput = {
    file: '0015654aa937.cfg',
    model: 'T46S',
    templates: [{ id: 'custom/T46S.tpl', stamp: '1:10:5' }, { id: 'shipped/base.tpl', stamp: '2:20:6' }],
    context: buildContext(input()),
  };
  const key = renderCacheKey(BASE);

  test('a sha256 hex, the same for the same inputs', () => {
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(renderCacheKey({ ...BASE, templates: BASE.templates.map((t) => ({ ...t })) }), key);
    assert.equal(renderCacheKey({ ...BASE, context: buildContext(input({ raw: reversed(raw()) as RawMap })) }), key);
    assert.equal(renderCacheKey({ ...BASE, context: reversed(BASE.context as RawMap) }), key);
  });

  const CHANGES: { name: string; input: CacheKeyInput }[] = [
    { name: 'file', input: { ...BASE, file: '0015654aa938.cfg' } },
    { name: 'model', input: { ...BASE, model: 'T48S' } },
    { name: 'no model', input: { ...BASE, model: undefined } },
    { name: 'a template stamp', input: { ...BASE, templates: [{ id: 'custom/T46S.tpl', stamp: '1:11:5' }, { id: 'shipped/base.tpl', stamp: '2:20:6' }] } },
    { name: 'the winning template', input: { ...BASE, templates: [{ id: 'shipped/T46S.tpl', stamp: '1:10:5' }, { id: 'shipped/base.tpl', stamp: '2:20:6' }] } },
    { name: 'one more template used', input: { ...BASE, templates: [...BASE.templates, { id: 'shipped/inc.tpl', stamp: contentStamp('x') }] } },
    { name: 'a content stamp', input: { ...BASE, templates: [{ id: 'custom/T46S.tpl', stamp: contentStamp('a') }, { id: 'shipped/base.tpl', stamp: '2:20:6' }] } },
    { name: 'a password in the context', input: { ...BASE, context: buildContext(input({ users: [{ ...ALICE, attributes: { ...ALICE.attributes, sip_password: 'new' } }, BOB] })) } },
    { name: 'secrets left out', input: { ...BASE, context: buildContext(input(), { secrets: false }) } },
    { name: 'the tenant key', input: { ...BASE, context: buildContext(input({ tenant: { name: 'acme', attributes: { site: 'paris' }, urlKey: 'other-key' } })) } },
    { name: 'a device field', input: { ...BASE, context: buildContext(input({ device: { ...input().device, version: '66.86.0.16' } })) } },
    { name: 'a nested number versus string', input: { ...BASE, context: { ...(BASE.context as RawMap), syslog_port: '514' } } },
  ];
  for (const row of CHANGES) {
    test(`changes with ${row.name}`, () => {
      assert.notEqual(renderCacheKey(row.input), key);
    });
  }
  test('every change gives a different key', () => {
    const keys = new Set(CHANGES.map((c) => renderCacheKey(c.input)));
    assert.equal(keys.size, CHANGES.length);
  });

  test('values without a stable JSON are refused', () => {
    for (const bad of [Number.NaN, Infinity, new Date(0), new Map(), () => 1]) {
      assert.throws(() => renderCacheKey({ ...BASE, context: { x: bad } }), /PROVD_ERR_TEMPLATE|finite|plain|JSON value/);
    }
  });
});

describe('contextFor', () => {
  test('flattens the device config then builds the same context', () => {
    const { device, users, tenant, server } = input();
    const r = contextFor(SET, { device, users, tenant, server });
    assert.ok(r.ok);
    assert.equal(JSON.stringify(r.context), JSON.stringify(buildContext(input())));
  });
  test('an unknown config or a cycle gives problems, not a throw', () => {
    const { device, users, tenant, server } = input();
    const unknown = contextFor(SET, { device: { ...device, config: 'nope' }, users, tenant, server });
    assert.ok(!unknown.ok && unknown.problems.length > 0);
    const cyc = configs({ id: 'a', parents: ['b'] }, { id: 'b', parents: ['a'] });
    const cycle = contextFor(cyc, { device: { ...device, config: 'a' }, users, tenant, server });
    assert.ok(!cycle.ok && cycle.problems.length > 0);
  });
});

test('a raw config already through withDefaults gives the same context', () => {
  for (const users of [[ALICE, BOB], [null, ALICE], []] as (ContextUser | null)[][]) {
    assert.equal(JSON.stringify(buildContext(input({ raw: withDefaults(raw()), users }))), JSON.stringify(buildContext(input({ users }))));
  }
});
