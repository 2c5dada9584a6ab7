import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { TenantAccess, FAILURE_OUTCOMES, NOT_FOUND } from '../src/identity/access';
import type { Params } from '../src/devices/request';
import { parseConfigText } from '../src/config/load';
import { createLogger } from '../src/log';

// Tenant access on its own, without any Jitsi rule: what a phone engine will call before rendering.
const KEY = 'K'.repeat(32);
const cfg = parseConfigText(
  `provisioning:
  passwords: {scryptCost: 10}
  tenants:
    open.example: {}
    creds.example:
      auth: credentials
      users: {alice: {password: "plain:pw"}}
    keyed.example:
      auth: url_key
      urlKey: ${KEY}
    lan.example:
      allowFrom: [10.0.0.0/8]
      secret: s3cret-s3cret-s3cret
`,
  'access.yaml',
).provisioning;
const access = new TenantAccess(cfg, { log: createLogger('silent') });
const params = (p: Record<string, string>): Params => p;

describe('TenantAccess (identity/access.ts)', () => {
  test('lists the tenants and their strategies', () => {
    assert.deepEqual(access.tenantNames(), ['open.example', 'creds.example', 'keyed.example', 'lan.example']);
    assert.equal(access.strategyOf('creds.example'), 'credentials');
    assert.equal(access.strategyOf('keyed.example'), 'url_key');
    assert.equal(access.strategyOf('nope.example'), undefined);
    assert.equal(access.hasTenant('open.example'), true);
  });

  test('grants an open tenant anonymously and refuses an unknown one with a 404', async () => {
    assert.deepEqual(await access.authorize({ params: params({ domain: 'open.example' }), ip: '192.0.2.1' }), { ok: true, tenant: 'open.example', user: null, cached: false });
    assert.deepEqual(await access.authorize({ params: params({ domain: 'nope.example' }), ip: '192.0.2.1' }), {
      ok: false,
      tenant: null,
      status: 404,
      outcome: 'unknown-tenant',
      body: 'unknown tenant: nope.example\n',
      askedTenant: 'nope.example',
    });
  });

  test('credentials: a right pair is granted as the user, a wrong one is a 401, none is a 400', async () => {
    const ok = await access.authorize({ params: params({ username: 'Alice@creds.example', password: 'pw' }), ip: '192.0.2.1' });
    assert.ok(ok.ok);
    assert.equal(ok.user?.name, 'alice');
    const bad = await access.authorize({ params: params({ username: 'alice@creds.example', password: 'no' }), ip: '192.0.2.1' });
    assert.ok(!bad.ok);
    assert.deepEqual([bad.status, bad.outcome, bad.tenant], [401, 'bad-credentials', 'creds.example']);
    const none = await access.authorize({ params: params({ domain: 'creds.example' }), ip: '192.0.2.1' });
    assert.ok(!none.ok);
    assert.deepEqual([none.status, none.outcome], [400, 'credentials-required']);
    assert.equal(access.userKeyOf(params({ user: 'Alice@creds.example', pass: 'x' })), 'alice@creds.example');
  });

  test('keys: required on the unkeyed path, scoped to their tenant, a wrong key reads as not found', async () => {
    const missing = await access.authorize({ params: params({ domain: 'keyed.example' }), ip: '192.0.2.1' });
    assert.ok(!missing.ok);
    assert.deepEqual([missing.status, missing.outcome, missing.body], [404, 'key-required', 'unknown tenant: keyed.example\n']);
    assert.deepEqual(await access.authorize({ params: params({}), ip: '192.0.2.1', key: KEY }), { ok: true, tenant: 'keyed.example', user: null, cached: false });
    for (const r of [
      await access.authorize({ params: params({}), ip: '192.0.2.1', key: 'Q'.repeat(32) }),
      await access.authorize({ params: params({ domain: 'open.example' }), ip: '192.0.2.1', key: KEY }),
    ]) {
      assert.ok(!r.ok);
      assert.deepEqual([r.status, r.outcome, r.body], [404, 'bad-key', NOT_FOUND]);
    }
  });

  test('allowFrom and the shared secret', async () => {
    const outside = await access.authorize({ params: params({ domain: 'lan.example', secret: 's3cret-s3cret-s3cret' }), ip: '192.0.2.1' });
    assert.ok(!outside.ok);
    assert.equal(outside.outcome, 'not-allowed');
    const noSecret = await access.authorize({ params: params({ domain: 'lan.example' }), ip: '::ffff:10.1.2.3' });
    assert.ok(!noSecret.ok);
    assert.equal(noSecret.outcome, 'bad-secret');
    assert.equal((await access.authorize({ params: params({ domain: 'lan.example', secret: 's3cret-s3cret-s3cret' }), ip: '10.1.2.3' })).ok, true);
  });

  test('FAILURE_OUTCOMES are the guesses', () => {
    assert.deepEqual([...FAILURE_OUTCOMES].sort(), ['bad-credentials', 'bad-key', 'bad-secret', 'key-required', 'not-allowed']);
  });
});
