import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { flatten, linearize, mergeRaw, validateConfigs, checkRaw, withDefaults } from '../src/phones/configs';
import type { PhoneConfig, PhoneConfigs, RawMap } from '../src/phones/configs';
import { createTemplateLookup } from '../src/templates/lookup';
import type { TemplateFiles } from '../src/templates/lookup';

function configs(...list: { id: string; parents?: string[]; raw?: RawMap }[]): PhoneConfigs {
  return new Map(list.map((c): [string, PhoneConfig] => [c.id, { id: c.id, parents: c.parents ?? [], raw: c.raw ?? {} }]));
}

function flat(set: PhoneConfigs, id: string, base?: RawMap): RawMap {
  const r = flatten(set, id, base);
  assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
  return r.raw;
}

describe('inheritance order', () => {
  const TABLE: { name: string; set: PhoneConfigs; id: string; order: string[]; raw: RawMap }[] = [
    {
      name: 'no parent',
      set: configs({ id: 'a', raw: { ntp_ip: '1' } }),
      id: 'a',
      order: ['a'],
      raw: { ntp_ip: '1' },
    },
    {
      name: 'the child overrides its parent',
      set: configs({ id: 'base', raw: { ntp_ip: 'base', timezone: 'UTC' } }, { id: 'dev', parents: ['base'], raw: { ntp_ip: 'dev' } }),
      id: 'dev',
      order: ['base', 'dev'],
      raw: { ntp_ip: 'dev', timezone: 'UTC' },
    },
    {
      name: 'a later parent overrides an earlier one',
      set: configs({ id: 'p1', raw: { ntp_ip: 'p1', locale: 'fr_FR' } }, { id: 'p2', raw: { ntp_ip: 'p2' } }, { id: 'c', parents: ['p1', 'p2'] }),
      id: 'c',
      order: ['p1', 'p2', 'c'],
      raw: { ntp_ip: 'p2', locale: 'fr_FR' },
    },
    {
      name: 'parents in the other order',
      set: configs({ id: 'p1', raw: { ntp_ip: 'p1', locale: 'fr_FR' } }, { id: 'p2', raw: { ntp_ip: 'p2' } }, { id: 'c', parents: ['p2', 'p1'] }),
      id: 'c',
      order: ['p2', 'p1', 'c'],
      raw: { ntp_ip: 'p1', locale: 'fr_FR' },
    },
    {
      name: 'grandparents come before the parents, depth first',
      set: configs(
        { id: 'g1', raw: { ntp_ip: 'g1', dns_ip: 'g1', syslog_ip: 'g1' } },
        { id: 'p1', parents: ['g1'], raw: { dns_ip: 'p1' } },
        { id: 'p2', raw: { syslog_ip: 'p2' } },
        { id: 'c', parents: ['p1', 'p2'] },
      ),
      id: 'c',
      order: ['g1', 'p1', 'p2', 'c'],
      raw: { dns_ip: 'p1', ntp_ip: 'g1', syslog_ip: 'p2' },
    },
    {
      // d ← b, d ← c, b and c ← a: d merged once (first visit), so c's parent d does not undo b's override.
      name: 'a diamond merges the shared ancestor once',
      set: configs(
        { id: 'd', raw: { ntp_ip: 'd', dns_ip: 'd' } },
        { id: 'b', parents: ['d'], raw: { ntp_ip: 'b' } },
        { id: 'c', parents: ['d'], raw: { dns_ip: 'c' } },
        { id: 'a', parents: ['b', 'c'] },
      ),
      id: 'a',
      order: ['d', 'b', 'c', 'a'],
      raw: { dns_ip: 'c', ntp_ip: 'b' },
    },
  ];
  for (const row of TABLE) {
    test(row.name, () => {
      const r = flatten(row.set, row.id);
      assert.ok(r.ok);
      assert.deepEqual(r.order, row.order);
      assert.deepEqual(r.raw, row.raw);
      const lin = linearize(row.set, row.id);
      assert.ok(lin.ok);
      assert.deepEqual(lin.order, row.order);
      assert.deepEqual(validateConfigs(row.set), []);
    });
  }

  test('the base raw config comes first', () => {
    const set = configs({ id: 'a', raw: { ntp_ip: 'a' } });
    assert.deepEqual(flat(set, 'a', { http_base_url: 'http://p/', ntp_ip: 'base' }), { http_base_url: 'http://p/', ntp_ip: 'a' });
  });

  test('the inputs are not modified, the result is sorted', () => {
    const parent = { sip_lines: { '1': { username: 'u', password: 'p' } }, timezone: 'UTC' };
    const set = configs({ id: 'p', raw: parent }, { id: 'c', parents: ['p'], raw: { sip_lines: { '1': { password: 'q' } }, admin_password: 'x' } });
    const before = JSON.stringify(parent);
    const raw = flat(set, 'c');
    assert.equal(JSON.stringify(parent), before);
    assert.deepEqual(Object.keys(raw), ['admin_password', 'sip_lines', 'timezone']);
  });
});

describe('cycles and unknown parents', () => {
  test('a cycle is refused with its path', () => {
    const set = configs({ id: 'a', parents: ['b'] }, { id: 'b', parents: ['c'] }, { id: 'c', parents: ['a'] }, { id: 'x', parents: ['b'] });
    const r = flatten(set, 'x');
    assert.equal(r.ok, false);
    assert.deepEqual(r.ok ? [] : r.problems, ['config cycle: b → c → a → b']);
    assert.deepEqual(validateConfigs(set), ['config cycle: a → b → c → a']);
  });

  test('a config that is its own parent', () => {
    const set = configs({ id: 'a', parents: ['a'] });
    const r = flatten(set, 'a');
    assert.deepEqual(r.ok ? [] : r.problems, ['config cycle: a → a']);
    assert.deepEqual(validateConfigs(set), ['config cycle: a → a']);
  });

  test('two separate cycles are both reported', () => {
    const set = configs({ id: 'a', parents: ['b'] }, { id: 'b', parents: ['a'] }, { id: 'm', parents: ['n'] }, { id: 'n', parents: ['m'] });
    assert.deepEqual(validateConfigs(set), ['config cycle: a → b → a', 'config cycle: m → n → m']);
  });

  test('an unknown parent, an unknown config', () => {
    const set = configs({ id: 'base' }, { id: 'dev', parents: ['base', 'nope'] });
    const r = flatten(set, 'dev');
    assert.deepEqual(r.ok ? [] : r.problems, ['config "dev" names an unknown parent "nope"']);
    const u = flatten(set, 'missing');
    assert.deepEqual(u.ok ? [] : u.problems, ['unknown config "missing"']);
    assert.deepEqual(validateConfigs(set), ['config "dev" names an unknown parent "nope"']);
  });

  test('validateConfigs lists every problem at once', () => {
    const set: PhoneConfigs = new Map<string, PhoneConfig>([
      ['a', { id: 'a', parents: ['b', 'b', 'ghost'], raw: { ntpip: '1', XX_fkeys: 'x' } }],
      ['b', { id: 'b', parents: ['a'], raw: {} }],
      ['bad id', { id: 'other', parents: [], raw: {} }],
    ]);
    assert.deepEqual(validateConfigs(set), [
      'config "a": parent "b" is listed twice',
      'config "a" names an unknown parent "ghost"',
      'config "a": unknown key "ntpip" (custom keys must start with X_)',
      'config "a": key "XX_fkeys" is reserved (XX_ keys are computed for the templates)',
      'config "bad id": its id field says "other"',
      'config "bad id": an id is 1 to 128 printable characters without spaces',
      'config cycle: a → b → a',
    ]);
  });
});

describe('deep merge of raw configs', () => {
  test('sip_lines merge per line number, then field by field', () => {
    const set = configs(
      { id: 'registrar', raw: { sip_lines: { '1': { proxy_ip: '10.0.0.1', proxy_port: 5060 }, '2': { proxy_ip: '10.0.0.1' } } } },
      { id: 'dev', parents: ['registrar'], raw: { sip_lines: { '1': { username: 'alice', password: 's1' }, '3': { username: 'carol' } } } },
    );
    assert.deepEqual(flat(set, 'dev').sip_lines, {
      '1': { password: 's1', proxy_ip: '10.0.0.1', proxy_port: 5060, username: 'alice' },
      '2': { proxy_ip: '10.0.0.1' },
      '3': { username: 'carol' },
    });
  });

  test('funckeys merge per key, each key replaced whole', () => {
    const set = configs(
      { id: 'p', raw: { funckeys: { '1': { type: 'blf', value: '1001', label: 'Bob', line: 1 }, '2': { type: 'park', value: '700' } } } },
      { id: 'c', parents: ['p'], raw: { funckeys: { '1': { type: 'speeddial', value: '555' }, '3': { type: 'blf', value: '1003' } } } },
    );
    assert.deepEqual(flat(set, 'c').funckeys, {
      '1': { type: 'speeddial', value: '555' },
      '2': { type: 'park', value: '700' },
      '3': { type: 'blf', value: '1003' },
    });
  });

  test('null removes a key, a line field or a function key; lists are replaced whole', () => {
    const set = configs(
      { id: 'p', raw: { ntp_ip: '1', X_list: [1, 2, 3], funckeys: { '1': { type: 'park', value: '700' } }, sip_lines: { '1': { username: 'u', voicemail: '*98' } } } },
      { id: 'c', parents: ['p'], raw: { ntp_ip: null, X_list: [9], funckeys: { '1': null }, sip_lines: { '1': { voicemail: null } } } },
    );
    assert.deepEqual(flat(set, 'c'), { X_list: [9], funckeys: {}, sip_lines: { '1': { username: 'u' } } });
  });

  test('a map replaces a scalar and the other way round; nested X_ maps merge deeply', () => {
    assert.deepEqual(mergeRaw({ X_a: 'text', X_b: { k: 1 }, X_c: { d: { e: 1, f: 2 } } }, { X_a: { k: 1 }, X_b: 'text', X_c: { d: { f: 3 } } }), {
      X_a: { k: 1 },
      X_b: 'text',
      X_c: { d: { e: 1, f: 3 } },
    });
  });

  test('a __proto__ key stays an own key and never reaches the prototype', () => {
    const over = JSON.parse('{"X_m": {"__proto__": {"polluted": true}}}') as RawMap;
    const raw = mergeRaw({}, over);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(raw.X_m), Object.prototype);
    assert.ok(Object.prototype.hasOwnProperty.call(raw.X_m, '__proto__'));
    assert.deepEqual(checkRaw('c', JSON.parse('{"__proto__": 1}') as RawMap), ['c: key "__proto__" is not allowed']);
  });
});

describe('raw config checks', () => {
  const TABLE: { raw: RawMap; problems: string[] }[] = [
    { raw: { ntp_ip: '1', X_custom: 'y', sip_lines: { '1': { username: 'u', X_note: 'n' } } }, problems: [] },
    { raw: { sip_lines: { '0': { username: 'u' }, a: {} } }, problems: ['c: sip_lines key "0" is not a number from 1 to 9999', 'c: sip_lines key "a" is not a number from 1 to 9999'] },
    { raw: { sip_lines: { '1': 'u' } }, problems: ['c: sip_lines.1 must be a map'] },
    { raw: { funckeys: ['x'] }, problems: ['c: funckeys must be a map of numbered entries'] },
    { raw: { sip_lines: { '1': { usrname: 'u' } } }, problems: ['c: unknown key "usrname" in sip_lines.1 (custom keys must start with X_)'] },
    { raw: { funckeys: { '1': { type: 'macro' } } }, problems: ['c: funckeys.1: type is "macro", expected one of speeddial, blf, park'] },
    { raw: { sip_transport: 'sctp' }, problems: ['c: sip_transport is "sctp", expected one of udp, tcp, tls'] },
    { raw: { sip_lines: { '1': { dtmf_mode: 'inband' } } }, problems: ['c: sip_lines.1: dtmf_mode is "inband", expected one of RTP-in-band, RTP-out-of-band, SIP-INFO'] },
    { raw: { vlan_id: 4095, vlan_priority: 7 }, problems: ['c: vlan_id is 4095, expected an integer from 0 to 4094'] },
    { raw: { vlan_priority: '3' }, problems: ['c: vlan_priority is "3", expected an integer from 0 to 7'] },
    { raw: { ntp_ip: null, funckeys: { '2': null } }, problems: [] },
  ];
  for (const [i, row] of TABLE.entries()) {
    test(`row ${i}: ${JSON.stringify(row.raw)}`, () => {
      assert.deepEqual(checkRaw('c', row.raw), row.problems);
    });
  }
});

describe('withDefaults (wazo-provd fills these before rendering)', () => {
  test('fills what is missing, keeps what is set', () => {
    assert.deepEqual(withDefaults({}), { funckeys: {}, sccp_call_managers: {}, sip_lines: {}, sip_srtp_mode: 'disabled', sip_transport: 'udp', syslog_port: 514 });
    const raw: RawMap = {
      sip_proxy_ip: '10.0.0.1',
      sip_transport: 'tls',
      sip_lines: { '1': { proxy_ip: '10.0.0.2', username: 'alice' }, '2': { proxy_ip: '10.0.0.3', registrar_ip: '10.0.0.4', username: 'bob', auth_username: 'b0b' } },
    };
    assert.deepEqual(withDefaults(raw), {
      funckeys: {},
      sccp_call_managers: {},
      sip_lines: {
        '1': { auth_username: 'alice', proxy_ip: '10.0.0.2', registrar_ip: '10.0.0.2', username: 'alice' },
        '2': { auth_username: 'b0b', proxy_ip: '10.0.0.3', registrar_ip: '10.0.0.4', username: 'bob' },
      },
      sip_proxy_ip: '10.0.0.1',
      sip_registrar_ip: '10.0.0.1',
      sip_srtp_mode: 'disabled',
      sip_transport: 'tls',
      syslog_port: 514,
    });
  });
});

test('flatten + withDefaults + the lookup render the same bytes whatever order the configs were written in', () => {
  const tree = new Map<string, string>([
    ['/s/base.tpl', '{% for n, l in sip_lines %}account.{{ n }}.user_name = {{ l.username }}\naccount.{{ n }}.auth_name = {{ l.auth_username }}\naccount.{{ n }}.password = {{ l.password }}\naccount.{{ n }}.sip_server.1.address = {{ l.registrar_ip }}\n{% endfor %}{% for n, k in funckeys %}linekey.{{ n }}.type = {{ k.type }}\nlinekey.{{ n }}.value = {{ k.value }}\n{% endfor %}{% for k, v in X_extra %}{{ k }} = {{ v }}\n{% endfor %}transport = {{ sip_transport }}\n'],
  ]);
  const files: TemplateFiles = { stamp: (p) => (tree.has(p) ? '1' : undefined), read: (p) => tree.get(p) ?? '' };
  const lookup = createTemplateLookup([{ label: 'custom', dir: '/c' }, { label: 'shipped', dir: '/s' }], files);
  const one = configs(
    { id: 'base', raw: { X_extra: { b: 2, a: 1 }, sip_lines: { '1': { proxy_ip: '10.0.0.1' } } } },
    { id: 'dev', parents: ['base'], raw: { funckeys: { '2': { value: '1002', type: 'blf' }, '1': { type: 'park', value: '700' } }, sip_lines: { '1': { username: 'alice', password: 's' } } } },
  );
  const two = configs(
    { id: 'dev', parents: ['base'], raw: { sip_lines: { '1': { password: 's', username: 'alice' } }, funckeys: { '1': { value: '700', type: 'park' }, '2': { type: 'blf', value: '1002' } } } },
    { id: 'base', raw: { sip_lines: { '1': { proxy_ip: '10.0.0.1' } }, X_extra: { a: 1, b: 2 } } },
  );
  const render = (set: PhoneConfigs): Buffer => Buffer.from(lookup.render('0015651234AB.cfg', 'T46S', withDefaults(flat(set, 'dev'))).text);
  const a = render(one);
  assert.ok(a.equals(render(two)));
  assert.ok(a.equals(render(one)));
  assert.equal(
    a.toString(),
    'account.1.user_name = alice\naccount.1.auth_name = alice\naccount.1.password = s\naccount.1.sip_server.1.address = 10.0.0.1\n' +
      'linekey.1.type = park\nlinekey.1.value = 700\nlinekey.2.type = blf\nlinekey.2.value = 1002\na = 1\nb = 2\ntransport = udp\n',
  );
});
