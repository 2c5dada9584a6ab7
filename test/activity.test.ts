/**
 * activity.test.ts: the process's activity bus (src/activity.ts) and the HTTP face's records on it.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityBus, activity, type Activity } from '../src/activity';
import { HTTP_LOOPBACK, hashPassword, startFace } from './helpers/prov';
import { createDaemon } from '../src/daemon';
import { parseConfigText } from '../src/config/load';
import { captureLog } from './helpers/log';

describe('activity bus', () => {
  test('watchers get every record; a throwing watcher is counted and never reaches the emitter; off removes', () => {
    const bus = new ActivityBus();
    assert.equal(bus.watched, false);
    bus.emit({ face: 'dhcp', outcome: 'inform', ok: true, at: 1 }); // nobody listens: nothing happens
    const got: Activity[] = [];
    const off = bus.on((a) => got.push(a));
    bus.on(() => {
      throw new Error('watcher bug');
    });
    bus.emit({ face: 'dhcp', outcome: 'inform', ok: true, at: 2 });
    assert.equal(got.length, 1);
    assert.equal(bus.watcherErrors, 1);
    off();
    bus.emit({ face: 'dhcp', outcome: 'inform', ok: true, at: 3 });
    assert.equal(got.length, 1);
  });

  test('the HTTP face emits a Jitsi answer with its outcome, user and device, never the password', async () => {
    const f = await startFace(`${HTTP_LOOPBACK}provisioning:\n  passwords: {scryptCost: 10}\n  defaultDomain: t.example\n  tenants:\n    t.example:\n      users: {alice: {password: "${await hashPassword('pw', 10)}"}}\n`);
    const got: Activity[] = [];
    const off = activity.on((a) => got.push(a));
    try {
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      assert.equal((await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: form, payload: 'username=alice&password=pw&uuid=dev-1' })).statusCode, 200);
      assert.equal((await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: form, payload: 'username=alice&password=wrong-pw' })).statusCode, 401);
      assert.equal(got.length, 2);
      const [ok, bad] = got as [Activity, Activity];
      assert.equal(ok.face, 'http');
      assert.equal(ok.ok, true);
      assert.equal(ok.status, 200);
      assert.equal(ok.device, 'uuid:dev-1');
      assert.match(ok.user ?? '', /^alice@/);
      assert.equal(bad.ok, false);
      assert.equal(bad.status, 401);
      assert.equal(bad.outcome, 'bad-credentials');
      assert.ok(!JSON.stringify(got).includes('wrong-pw') && !JSON.stringify(got).includes('"pw"'), 'no password in a record');
    } finally {
      off();
      await f.close();
    }
  });
});

describe('activity bus and the admin listener', () => {
  test('with admin.enabled false the daemon puts no watcher on the bus (no activity record is built); enabled, it does', async () => {
    const base = 'dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {enabled: false}\n';
    assert.equal(activity.watched, false, 'nothing else in this process watches');
    const off = createDaemon(parseConfigText(`${base}admin: {enabled: false}\n`, 'a.yaml'), { log: captureLog('info').log, checkPortFree: false });
    try {
      await off.start();
      assert.equal(activity.watched, false);
    } finally {
      await off.close();
    }
    const on = createDaemon(parseConfigText(`${base}admin: {enabled: true, host: 127.0.0.1, port: 0}\n`, 'a.yaml'), { log: captureLog('info').log, checkPortFree: false });
    try {
      await on.start();
      assert.equal(activity.watched, true, 'the metrics and the status page watch');
    } finally {
      await on.close();
    }
    assert.equal(activity.watched, false, 'closing the daemon takes its watchers off');
  });
});
