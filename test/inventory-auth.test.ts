/**
 * Issue 10, defect 14: a request that is not answered 200 (wrong or missing credentials, a key
 * refusal, ...) must never rewrite a device's inventory record: it may only move the device's
 * counters and last-failure fields, and it never creates a record. Driven over real HTTP with
 * curl, the "attacker" from a second loopback address (127.0.0.2).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { DOC_PASSWORD, HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace, type TestFace } from './helpers/prov';

const curlSkip = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed';

/** curlPost POSTs a form body from `source` (a loopback address) and resolves with the status. */
function curlPost(url: string, body: string, source: string, userAgent: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--interface', source, '-A', userAgent, '-H', 'content-type: application/x-www-form-urlencoded', '--data-binary', body, url],
      { timeout: 15_000 },
      (err, stdout) => (err ? reject(err) : resolve(Number(stdout.trim()))),
    );
  });
}

const UUID = 'cccccccc-0000-4000-8000-000000000014';
const MAC = '02:00:00:00:14:01';
const good = `user=alice%40example.com&password=${encodeURIComponent(DOC_PASSWORD)}&uuid=${UUID}&hw=${encodeURIComponent(MAC)}&os=Windows+10&hostname=DESKTOP-7Q2&arch=amd64&build=2.10.5550`;

describe('device inventory under attack (real HTTP, curl)', { skip: curlSkip }, () => {
  let f: TestFace;
  before(async () => {
    f = await startFace(HTTP_LOOPBACK + provisioningYaml({ alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw', 10) }));
  });
  after(() => f.close());

  test('a request with a known uuid or MAC and wrong or no credentials leaves the record\'s fields unchanged; only counters and the last failure move', async () => {
    assert.equal(await curlPost(`${f.url}/jitsi`, good, '127.0.0.1', 'Jitsi/2.10.5550'), 200);
    const before = (await f.store.devices.get(`uuid:${UUID}`));
    assert.ok(before, 'the device was recorded by its successful request');
    assert.equal(before.ip, '127.0.0.1');

    const evil = `&os=EvilOS&hostname=evil-host&arch=mips&build=6.6.6`;
    // Wrong password, same uuid, from another address with other device fields: 401.
    assert.equal(await curlPost(`${f.url}/jitsi`, `user=alice%40example.com&password=wrong&uuid=${UUID}${evil}`, '127.0.0.2', 'Evil/1.0'), 401);
    // No credentials at all on a tenant that needs them: 400.
    assert.equal(await curlPost(`${f.url}/jitsi`, `uuid=${UUID}${evil}`, '127.0.0.2', 'Evil/1.0'), 400);
    // Another user's valid name with a wrong password and the device's MAC only (keyed by hwaddr: no such record).
    assert.equal(await curlPost(`${f.url}/jitsi`, `user=bob%40example.com&password=wrong&hw=${encodeURIComponent(MAC)}${evil}`, '127.0.0.2', 'Evil/1.0'), 401);

    const after = (await f.store.devices.get(`uuid:${UUID}`));
    assert.ok(after);
    for (const field of ['ip', 'hostname', 'osname', 'arch', 'build', 'userAgent', 'username', 'tenant', 'hwaddr', 'firstSeen', 'lastSeen', 'lastOutcome'] as const) {
      assert.equal(after[field], before[field], `${field} is unchanged`);
    }
    assert.equal(before.failures, 0);
    assert.equal(before.lastFailureAt, null);
    assert.equal(after.requests, before.requests + 2, 'both failed requests that named the uuid are counted');
    assert.equal(after.failures, 2);
    assert.equal(after.lastFailure, '400 credentials-required');
    assert.ok(after.lastFailureAt !== null && after.lastFailureAt >= before.lastSeen, 'the last failure time moved');
    assert.equal((await f.store.devices.get(`hwaddr:${MAC}`)), undefined, 'the MAC-keyed failure created no record');

    // The owner comes back with good credentials: the record follows it again.
    assert.equal(await curlPost(`${f.url}/jitsi`, good.replace('DESKTOP-7Q2', 'DESKTOP-NEW'), '127.0.0.1', 'Jitsi/2.10.5550'), 200);
    const again = (await f.store.devices.get(`uuid:${UUID}`));
    assert.equal(again?.hostname, 'DESKTOP-NEW');
    assert.equal(again?.lastOutcome, '200 ok');
    assert.equal(again?.failures, 2, 'failures are kept');
  });

  test('a failed request for an unknown device creates no record', async () => {
    const n = (await f.store.devices.count());
    for (let i = 0; i < 5; i++) {
      assert.equal(await curlPost(`${f.url}/jitsi`, `user=alice%40example.com&password=wrong${i}&uuid=dddddddd-0000-4000-8000-00000000000${i}&hostname=junk`, '127.0.0.2', 'Evil/1.0'), 401);
    }
    assert.equal(await curlPost(`${f.url}/jitsi`, 'uuid=dddddddd-0000-4000-8000-000000000009&hostname=junk', '127.0.0.2', 'Evil/1.0'), 400);
    assert.equal((await f.store.devices.count()), n);
    assert.equal((await f.store.devices.get('uuid:dddddddd-0000-4000-8000-000000000001')), undefined);
  });
});
