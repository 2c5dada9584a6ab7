import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../src/config/load';
import { compileTemplate, readsOf } from '../src/templates/templates';
import { DocumentCache } from '../src/jitsi/doccache';
import { generateKey, hashKey } from '../src/identity/keys';
import { BODY_2_10, DOC_PASSWORD, HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace, type TestFace } from './helpers/prov';

const FORM = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' };

describe('templates know what they read (the document cache key)', () => {
  test('literal, simple lookups, filters and expressions list their context paths', () => {
    assert.deepEqual(compileTemplate('TLS').ok && (compileTemplate('TLS') as { template: { reads: unknown } }).template.reads, []);
    const simple = compileTemplate("sip:{{ user.name }}@{{ tenant.attributes.sipDomain }}/{{ params.os | default('') }}");
    assert.ok(simple.ok);
    assert.deepEqual(simple.template.reads, [['user', 'name'], ['tenant', 'attributes', 'sipDomain'], ['params', 'os']]);
    assert.deepEqual(readsOf('{{ user.name | capitalize }}'), [['user', 'name']]);
    assert.deepEqual(readsOf("{{ user.attributes.displayName | default(user.name) }}"), [['user', 'attributes', 'displayName'], ['user', 'name']]);
    assert.deepEqual(readsOf("hello {{ user.name if user else 'anonymous' }}"), [['user'], ['user', 'name']]);
    assert.deepEqual(readsOf('{% if params.os == "Linux" %}L{% else %}{{ client.ip }}{% endif %}'), [['params', 'os'], ['client', 'ip']]);
    // a computed index reads its whole base
    assert.deepEqual(readsOf('{{ params[user.name] }}'), [['params'], ['user', 'name']]);
  });

  test('loops, assignments, calls and the random filter are not followed: never cached', () => {
    for (const src of ['{% for x in [1, 2] %}{{ x }}{% endfor %}', '{% set a = params.os %}{{ a }}', '{{ range(3) }}', '{{ [1, 2, 3] | random }}', '{{ user.name | random }}']) {
      assert.equal(readsOf(src), null, src);
    }
    const t = compileTemplate('{{ [1, 2, 3] | random }}');
    assert.ok(t.ok);
    assert.equal(t.template.reads, null);
  });

  test('DocumentCache is bounded in entries and bytes: the oldest entry goes first; size 0 keeps nothing', () => {
    const c = new DocumentCache(2);
    for (const k of ['a', 'b', 'c']) c.set(k, { body: k, lines: [] });
    assert.equal(c.size, 2);
    assert.equal(c.get('a'), undefined);
    assert.equal(c.get('c')?.body, 'c');
    const small = new DocumentCache(100, 400);
    for (const k of ['k1', 'k2', 'k3', 'k4']) small.set(k, { body: 'x'.repeat(40), lines: [] }); // 84 bytes each
    assert.equal(small.size, 4);
    small.set('k5', { body: 'x'.repeat(40), lines: [] }); // 5 × 84 > 400: k1 goes
    assert.equal(small.size, 4);
    assert.equal(small.get('k1'), undefined);
    assert.ok(small.weight <= 400);
    small.set('big', { body: 'b'.repeat(100), lines: [] }); // over a quarter of maxBytes: not kept
    assert.equal(small.get('big'), undefined);
    const off = new DocumentCache(0);
    off.set('a', { body: 'a', lines: [] });
    assert.equal(off.size, 0);
  });
});

describe('the document cache over HTTP: a hit is byte-identical, every change of input misses', () => {
  let f: TestFace;
  let storedKey: string;
  let carolHash: string;
  const extra = `    keyed.example:
      auth: url_key
      rules: [{subject: default, properties: {net.java.sip.communicator.who: "keyed {{ params.os | default('') }}"}}]
    lucky.example:
      auth: none
      rules: [{subject: default, properties: {net.java.sip.communicator.n: "{{ [1, 2, 3, 4, 5, 6, 7, 8] | random }}"}}]
`;
  before(async () => {
    const hashes = { alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw', 10) };
    carolHash = await hashPassword('carol-1', 10);
    f = await startFace(HTTP_LOOPBACK + provisioningYaml(hashes) + extra, { level: 'info' });
    // carol lives in the store: her password and attributes change without a reload
    assert.ok((await f.store.users.add({ domain: 'example.com', name: 'carol', passwordHash: carolHash, attributes: { extension: '1003' } })));
    storedKey = generateKey();
    await f.store.keys.rotate('keyed.example', hashKey(storedKey), new Date().toISOString(), new Date(Date.now() + 60_000).toISOString());
  });
  after(() => f.close());

  const post = (body: string, url = '/jitsi') => f.face.app!.inject({ method: 'POST', url, headers: FORM, payload: body });
  const stats = (): { hits: number; misses: number } => {
    const c = f.face.engine!.documentCache;
    return { hits: c.hits, misses: c.misses };
  };
  /** ask posts and tells whether the document came from the cache. */
  const ask = async (body: string, url?: string): Promise<{ status: number; body: string; raw: Buffer; hit: boolean }> => {
    const before = stats();
    const r = await post(body, url);
    const after = stats();
    return { status: r.statusCode, body: r.body, raw: r.rawPayload, hit: after.hits === before.hits + 1 };
  };

  test('the same request twice: the second is a hit with a byte-identical body and the same headers', async () => {
    const a = await post(BODY_2_10);
    const s0 = stats();
    const b = await post(BODY_2_10);
    assert.equal(a.statusCode, 200, a.body);
    assert.equal(b.statusCode, 200);
    assert.equal(stats().hits, s0.hits + 1);
    assert.ok(Buffer.compare(a.rawPayload, b.rawPayload) === 0, 'byte-identical');
    assert.equal(a.headers['content-type'], b.headers['content-type']);
    assert.equal(a.headers['content-length'], b.headers['content-length']);
  });

  test('a parameter a template reads misses; one no template reads (nor a rule) hits', async () => {
    await ask(BODY_2_10);
    const os = await ask(BODY_2_10.replace('Windows+10', 'Linux'));
    assert.equal(os.status, 200);
    assert.equal(os.hit, false, 'os is read by a template');
    assert.match(os.body, /gui\.OS=Linux /);
    const host = await ask(BODY_2_10.replace('DESKTOP-7Q2', 'OTHER-HOST'));
    assert.equal(host.hit, true, 'hostname is read by nothing');
    const mac = await ask(BODY_2_10.replace('00%3A1a%3A2b%3A3c%3A4d%3A5e', '00%3A1a%3A2b%3A3c%3A4d%3A5f'));
    assert.equal(mac.hit, false, 'the MAC decides a rule and is read by a template');
    assert.doesNotMatch(mac.body, /front desk/);
    const client = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: { ...FORM, 'user-agent': 'Jitsi/2.11.1' }, payload: BODY_2_10 });
    assert.match(client.body, /2\.11\.1/, 'client.version is read: a different client misses');
  });

  test('a different user of the same tenant never gets another user\'s document', async () => {
    const alice = await ask(BODY_2_10);
    const bob = await ask('user=bob%40example.com&password=bob+pw&os=Windows+10');
    assert.equal(bob.status, 200);
    assert.equal(bob.hit, false);
    assert.match(bob.body, /USER_ID=1002@/);
    assert.notEqual(alice.body, bob.body);
  });

  test('a password change misses (and the old password is refused before any cache)', async () => {
    const body = (pw: string): string => `user=carol%40example.com&password=${pw}&os=Linux`;
    const first = await ask(body('carol-1'));
    assert.equal(first.status, 200, first.body);
    assert.equal((await ask(body('carol-1'))).hit, true);
    assert.ok((await f.store.users.setPassword('example.com', 'carol', await hashPassword('carol-2', 10))));
    const old = await ask(body('carol-1'));
    assert.equal(old.status, 401);
    const fresh = await ask(body('carol-2'));
    assert.equal(fresh.status, 200);
    assert.equal(fresh.hit, false, 'a new password hash is a new key');
    assert.equal((await ask(body('carol-2'))).hit, true);
  });

  test('a user attribute change misses and shows in the document', async () => {
    const body = 'user=carol%40example.com&password=carol-2&os=Linux';
    const a = await ask(body);
    assert.match(a.body, /USER_ID=1003@/);
    await f.store.users.upsert({ domain: 'example.com', name: 'carol', passwordHash: (await f.store.users.get('example.com', 'carol'))!.passwordHash, attributes: { extension: '2003' } });
    const b = await ask(body);
    assert.equal(b.hit, false);
    assert.match(b.body, /USER_ID=2003@/);
    // an attribute no template reads still changes the key (the record is the input)
    await f.store.users.upsert({ domain: 'example.com', name: 'carol', passwordHash: (await f.store.users.get('example.com', 'carol'))!.passwordHash, attributes: { extension: '2003', room: '12' } });
    const c = await ask(body);
    assert.equal(c.hit, false);
    assert.equal(c.body, b.body);
  });

  test('a reload misses: the new configuration starts with an empty cache', async () => {
    await ask(BODY_2_10);
    assert.equal((await ask(BODY_2_10)).hit, true);
    const yaml = HTTP_LOOPBACK + provisioningYaml({ alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw', 10) }).replace('sip.example.com', 'sip2.example.com') + extra;
    await f.face.reload(parseConfigText(`${yaml}\nstateDir: ${f.stateDir}\n`, 'test.yaml'));
    const after = await ask(BODY_2_10);
    assert.equal(after.status, 200);
    assert.equal(after.hit, false);
    assert.match(after.body, /@sip2\.example\.com/);
  });

  test('a key rotation misses: the new key renders afresh, the old one is refused', async () => {
    const url = (k: string): string => `/${k}/jitsi`;
    const a = await ask('os=Linux', url(storedKey));
    assert.equal(a.status, 200, a.body);
    assert.equal((await ask('os=Linux', url(storedKey))).hit, true);
    const next = generateKey();
    const now = Date.now();
    await f.store.keys.rotate('keyed.example', hashKey(next), new Date(now).toISOString(), new Date(now - 1).toISOString());
    assert.equal((await ask('os=Linux', url(storedKey))).status, 404, 'the old key is no longer valid');
    const b = await ask('os=Linux', url(next));
    assert.equal(b.status, 200);
    assert.equal(b.hit, false);
    assert.equal(b.body, a.body);
  });

  test('a template with the random filter is never reused; failures are never cached', async () => {
    const s0 = stats();
    for (let i = 0; i < 3; i++) assert.equal((await post('os=Linux&domain=lucky.example')).statusCode, 200);
    assert.equal(stats().hits, s0.hits);
    const bad = await ask(BODY_2_10.replace('p%40ss', 'nope'));
    assert.equal(bad.status, 401);
    assert.equal(bad.hit, false);
  });
});
