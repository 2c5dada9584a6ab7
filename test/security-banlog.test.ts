/**
 * security-banlog.test.ts: bans and refused logins in the main log (issue 14, item 4): a ban is
 * a warn line with the user and tenant, a 401 names the user it claimed to be; never a secret.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_LOOPBACK, hashPassword, startFace, type TestFace } from './helpers/prov';

const KEY = 'AAAAaaaaBBBBbbbbCCCCccccDDDDdddd';
let f: TestFace;
before(async () => {
  const pw = await hashPassword('pw', 10);
  f = await startFace(
    `${HTTP_LOOPBACK.replace('rateLimit: {rate: 0}', 'rateLimit: {rate: 0}, bans: {maxRetry: 3, findTime: 60, banTime: 600}')}provisioning:\n  tenants:\n    a.example:\n      auth: url_key+credentials\n      urlKey: ${KEY}\n      users: {alice: {password: "${pw}"}}\n`,
    { level: 'info' },
  );
});
after(async () => f.close());

test('a 401 names the user; the ban it leads to is a warn line with user and tenant, never the password', async () => {
  const codes: number[] = [];
  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await f.face.app!.inject({
      method: 'POST',
      url: `/${KEY}/jitsi`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=alice@a.example&password=Sup3r-Secret-Pw',
      remoteAddress: '192.0.2.60',
    });
    codes.push(r.statusCode);
    bodies.push(r.body.trim());
  }
  assert.deepEqual(codes, [401, 401, 401, 429], `bodies: ${JSON.stringify(bodies)}; counters: ${JSON.stringify(f.face.stats())}`);
  const lines = f.lines();
  const refused = lines.find((l) => l['status'] === 401);
  assert.ok(refused, f.text());
  assert.equal(refused['user'], 'alice@a.example');
  assert.equal(refused['tenant'], 'a.example');
  const bans = lines.filter((l) => /banned after repeated failed attempts/.test(String(l['msg'])));
  assert.ok(bans.length >= 1, f.text());
  for (const b of bans) {
    assert.equal(b['level'], 'warn');
    assert.equal(b['user'], 'alice@a.example');
    assert.equal(b['tenant'], 'a.example');
    assert.equal(b['ip'], '192.0.2.60');
    assert.equal(b['banTime'], 600);
    assert.match(String(b['until']), /^\d{4}-\d\d-\d\dT/);
  }
  assert.ok(bans.some((b) => b['scope'] === 'user' && b['subject'] === 'alice@a.example'), JSON.stringify(bans));
  assert.ok(!f.text().includes('Sup3r-Secret-Pw'));
});
