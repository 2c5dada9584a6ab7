import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../src/config/load';
import { Engine } from '../src/jitsi/engine';
import { createLogger } from '../src/log';
import type { Params } from '../src/jitsi/form';

const silent = createLogger('silent');

/** engineFor builds an engine for an anonymous tenant t.example with the given rules (YAML). */
function engineFor(rulesYaml: string, tenantExtra = ''): Engine {
  const yaml = `provisioning:
  defaultDomain: t.example
  tenants:
    t.example:
      requireCredentials: false
${tenantExtra}      rules:
${rulesYaml
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
`;
  return new Engine(parseConfigText(yaml, 'rules.yaml').provisioning, { log: silent });
}

async function render(e: Engine, p: Record<string, string> = {}): Promise<Record<string, string>> {
  const params = Object.assign(Object.create(null), p) as Params;
  const r = await e.provision({ params, ip: '192.0.2.1', userAgent: 'Jitsi/2.10.5550' });
  assert.equal(r.status, 200, r.body + (r.error ?? ''));
  return Object.fromEntries((r.lines ?? []).map((l) => [l.key, l.value]));
}

const RULES = `- name: base
  subject: default
  priority: 10
  properties:
    k.a: base
    k.b: {value: base, priority: 20}
    k.c: base
    k.d: base
- name: linux
  subject: {osname: "Linux*"}
  priority: 10
  properties:
    k.a: linux
    k.b: {value: linux, priority: 5}
- name: mac
  subject: {hwaddr: "00:1A:2B:3C:4D:5E"}
  priority: 5
  properties:
    k.c: mac
    k.d: null
- name: both
  subject: {hwaddr: ["aa:*", "bb:*"], osname: "Linux*"}
  priority: 1
  properties:
    k.e: both`;

describe('rule priority resolution (JitsiProvS model)', () => {
  const e = engineFor(RULES);
  const table: { name: string; params: Record<string, string>; want: Record<string, string> }[] = [
    { name: 'default only', params: {}, want: { 'k.a': 'base', 'k.b': 'base', 'k.c': 'base', 'k.d': 'base' } },
    // same subject priority: tie on (10,10) for k.a -> first declared wins; k.b: (10,5) beats (10,20)
    { name: 'equal subject priority: property priority decides, then declaration order', params: { osname: 'Linux' }, want: { 'k.a': 'base', 'k.b': 'linux', 'k.c': 'base', 'k.d': 'base' } },
    // os= is an alias of osname; glob is case-insensitive
    { name: 'alias os= and case-insensitive glob', params: { os: 'linux Mint' }, want: { 'k.a': 'base', 'k.b': 'linux', 'k.c': 'base', 'k.d': 'base' } },
    // smaller subject priority wins regardless of property priority; null removes the key
    { name: 'per-MAC override (hyphens, upper case) and a null value', params: { hwaddr: '00-1a-2b-3c-4d-5e' }, want: { 'k.a': 'base', 'k.b': 'base', 'k.c': 'mac' } },
    { name: 'all subject fields must match', params: { hwaddr: 'aa:01:02:03:04:05' }, want: { 'k.a': 'base', 'k.b': 'base', 'k.c': 'base', 'k.d': 'base' } },
    { name: 'a list matches any of its patterns', params: { hwaddr: 'bb:01:02:03:04:05', osname: 'Linux' }, want: { 'k.a': 'base', 'k.b': 'linux', 'k.c': 'base', 'k.d': 'base', 'k.e': 'both' } },
    { name: 'glob does not match a substring', params: { osname: 'GNU/Linux' }, want: { 'k.a': 'base', 'k.b': 'base', 'k.c': 'base', 'k.d': 'base' } },
  ];
  for (const c of table) {
    test(c.name, async () => {
      assert.deepEqual(await render(e, c.params), c.want);
    });
  }

  test('keys come out in first-appearance order, whichever rule wins', async () => {
    const e2 = engineFor(`- subject: {osname: Linux}\n  priority: 1\n  properties:\n    z.last: a\n    a.first: b\n- subject: default\n  properties:\n    m.mid: c\n    z.last: d`);
    const r = await e2.provision({ params: Object.assign(Object.create(null), { osname: 'Linux' }) as Params, ip: '1', userAgent: '' });
    assert.deepEqual(
      r.lines?.map((l) => `${l.key}=${l.value}`),
      ['z.last=a', 'a.first=b', 'm.mid=c'],
    );
  });

  test('subjects can match any request field, the tenant and the user', async () => {
    const e3 = engineFor(`- subject: {site: hq, tenant: "t.*"}\n  properties:\n    k.site: hq\n- subject: {username: alice}\n  properties:\n    k.user: alice`);
    assert.deepEqual(await render(e3, { site: 'HQ' }), { 'k.site': 'hq' });
    // an anonymous request that merely names a user does not match a username rule
    assert.deepEqual(await render(e3, { username: 'alice' }), {});
  });

  test('directives: ALLOW first, wipes next, content, ENFORCE last; no key twice', async () => {
    const e4 = engineFor(
      `- subject: default\n  properties:\n    net.java.a: "1"\n    net.java.b.c: "2"`,
      `      allowPrefix: [net.java, org.jitsi]\n      wipe: [net.java.b]\n      enforcePrefix: [net.java]\n`,
    );
    const r = await e4.provision({ params: Object.create(null) as Params, ip: '1', userAgent: '' });
    assert.equal(
      r.body,
      'provisioning.ALLOW_PREFIX=net.java|org.jitsi\nnet.java.b=${null}\nnet.java.a=1\nnet.java.b.c=2\nprovisioning.ENFORCE_PREFIX=net.java\n',
    );
  });

  test('templates render from the typed context', async () => {
    const e5 = engineFor(
      `- subject: default\n  properties:\n    k.t: "{{ tenant.domain }} {{ client.ip }} {{ client.product }}/{{ client.version }} {{ params.x }} {{ device.key }} {{ user.name if user else 'anon' }}"`,
    );
    assert.deepEqual(await render(e5, { x: 'y', uuid: 'ABC' }), { 'k.t': 't.example 192.0.2.1 Jitsi/2.10.5550 y uuid:abc anon' });
  });

  test('an undefined template value is a 500 (render-error), never an empty password', async () => {
    const e6 = engineFor(`- subject: default\n  properties:\n    k.t: "{{ params.missing }}"`);
    const r = await e6.provision({ params: Object.create(null) as Params, ip: '1', userAgent: '' });
    assert.equal(r.status, 500);
    assert.equal(r.outcome, 'render-error');
    assert.match(r.error ?? '', /k\.t/);
  });
});
