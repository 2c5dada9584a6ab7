/**
 * Issue 10, defect 16: the write-behind buffer in front of the daemon's store connection
 * (busy timeout 0), against a real SQLite file whose write lock a second connection holds.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database, { type Db } from '../src/store/driver';
import { openSqliteStore, STORE_FILE } from '../src/store/sqlite';
import { DeviceWriteBehind } from '../src/store/writebehind';
import { StoreBusyError, type DeviceObservation, type Store } from '../src/store/repository';
import { captureLog } from './helpers/log';
import { parseConfigText } from '../src/config/load';
import { HttpFace } from '../src/http/server';

const obs = (key: string, over: Partial<DeviceObservation> = {}): DeviceObservation => ({
  key: `uuid:${key}`,
  uuid: key,
  hwaddr: null,
  ip: '192.0.2.1',
  hostname: `h-${key}`,
  osname: 'Linux',
  arch: null,
  build: null,
  userAgent: null,
  username: null,
  tenant: 'localdomain',
  outcome: '200 ok',
  at: new Date().toISOString(),
  ...over,
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(f: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!(await f()) && Date.now() - t0 < ms) await sleep(20);
  return f();
}

/** lab opens the daemon's kind of store (busy timeout 0) and a second connection to hold its lock. */
function lab(): { dir: string; store: Store; other: Db; lock: () => void; unlock: () => void; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-wb-'));
  const store = openSqliteStore(dir, { busyTimeoutMs: 0 });
  const other = new Database(join(dir, STORE_FILE));
  return {
    dir,
    store,
    other,
    lock: () => other.exec('BEGIN IMMEDIATE'),
    unlock: () => other.exec('COMMIT'),
    done: () => {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('the daemon\'s store connection never waits for a lock', () => {
  test('busyTimeoutMs 0: a write under another connection\'s lock throws StoreBusyError at once; reads still work (WAL)', async () => {
    const l = lab();
    try {
      await l.store.devices.upsert(obs('a'));
      l.lock();
      const t0 = performance.now();
      await assert.rejects(l.store.devices.upsert(obs('b')), StoreBusyError);
      await assert.rejects(l.store.devices.pruneUnprovisioned('9999'), StoreBusyError);
      await assert.rejects(l.store.users.setPassword('d', 'n', 'plain:x'), StoreBusyError);
      assert.ok(performance.now() - t0 < 1000, 'no busy wait (a 5 s timeout would show here)');
      assert.equal((await l.store.devices.get('uuid:a'))?.hostname, 'h-a', 'a WAL reader is not blocked by the writer');
      assert.deepEqual((await l.store.keys.list()), []);
    } finally {
      l.done();
    }
  });

  test('pruning under a lock is skipped and counted, never waited for; a password re-hash is deferred to the next login', async () => {
    const l = lab();
    const cap = captureLog('info');
    const config = parseConfigText(
      `stateDir: ${l.dir}\nhttp: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\n` +
        'provisioning:\n  passwords: {scryptCost: 10}\n  tenants:\n    localdomain:\n      auth: credentials\n      rules: [{subject: default, properties: {k.a: v}}]\n',
      't.yaml',
    );
    await l.store.users.add({ domain: 'localdomain', name: 'old', passwordHash: 'plain:imported pw' });
    const face = new HttpFace({ config, log: cap.log, store: l.store });
    await face.start();
    try {
      l.lock();
      const t0 = performance.now();
      assert.equal(await face.prune(), 0);
      assert.ok(performance.now() - t0 < 1000);
      assert.equal(face.stats()['store-busy:prune'], 1);
      const login = (): Promise<Response> =>
        fetch(`http://127.0.0.1:${face.port ?? 0}/jitsi`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'user=old&password=imported+pw' });
      assert.equal((await login()).status, 200, 'the login itself never depends on the re-hash');
      assert.ok(await until(() => face.stats()['rehash-deferred:store-busy'] === 1, 5000));
      assert.equal((await l.store.users.get('localdomain', 'old'))?.passwordHash, 'plain:imported pw');
      assert.ok(!cap.lines.some((x) => x['level'] === 50), 'no error line');
      l.unlock();
      face.engine?.auth.cache.clear();
      assert.equal((await login()).status, 200);
      assert.ok(await until(async () => (await l.store.users.get('localdomain', 'old'))?.passwordHash.startsWith('$scrypt$') === true, 5000), 're-hashed at the next login');
    } finally {
      await face.close();
      l.done();
    }
  });
});

describe('DeviceWriteBehind', () => {
  test('buffers under a lock, coalesces per device (latest wins, counts add up), logs the episode once, lands after the release', async () => {
    const l = lab();
    const cap = captureLog('info');
    const wb = new DeviceWriteBehind(l.store.devices, { log: cap.log });
    try {
      await wb.upsert(obs('known'));
      l.lock();
      for (let i = 0; i < 5; i++) await wb.upsert(obs('a', { hostname: `a-${i}` }));
      await wb.upsert(obs('known', { outcome: '401 bad-credentials', hostname: 'evil' }));
      await wb.upsert(obs('ghost', { outcome: '401 bad-credentials' })); // unknown device: a no-op, not buffered
      assert.equal(wb.size, 2);
      assert.ok(await wb.get('uuid:a'), 'a buffered new device reads as known (the device cap counts it once)');
      await sleep(300); // several retries while locked
      assert.equal((await l.store.devices.get('uuid:a')), undefined);
      l.unlock();
      assert.ok(await until(async () => (await l.store.devices.get('uuid:a')) !== undefined, 5000), 'landed after the release');
      const a = (await l.store.devices.get('uuid:a'));
      assert.equal(a?.hostname, 'a-4', 'the latest observation wins');
      assert.equal(a?.requests, 5, 'every request counted');
      const k = (await l.store.devices.get('uuid:known'));
      assert.deepEqual([k?.hostname, k?.requests, k?.failures], ['h-known', 2, 1], 'a failure only counts');
      assert.equal((await l.store.devices.get('uuid:ghost')), undefined);
      assert.ok(await until(() => cap.lines.some((x) => x['msg'] === 'store lock released: buffered inventory writes landed'), 2000));
      const started = cap.lines.filter((x) => /^store locked by another process/.test(String(x['msg'])));
      assert.equal(started.length, 1);
      const end = cap.lines.find((x) => x['msg'] === 'store lock released: buffered inventory writes landed');
      assert.deepEqual([end?.['written'], end?.['dropped'], end?.['buffered']], [6, 0, 6]);
      assert.equal(wb.stats()['inventory-deferred-written'], 6);
      await wb.upsert(obs('after'));
      assert.ok((await l.store.devices.get('uuid:after')), 'written directly again once drained');
    } finally {
      await wb.close();
      l.done();
    }
  });

  test('bounded: beyond maxPending devices new ones are dropped and counted; known ones still coalesce', async () => {
    const l = lab();
    const cap = captureLog('info');
    const wb = new DeviceWriteBehind(l.store.devices, { log: cap.log, maxPending: 3 });
    try {
      l.lock();
      for (let i = 0; i < 10; i++) await wb.upsert(obs(`d${i}`));
      await wb.upsert(obs('d0', { hostname: 'again' }));
      assert.equal(wb.size, 3);
      assert.equal(wb.stats()['inventory-dropped:buffer-full'], 7);
      l.unlock();
      assert.ok(await until(() => wb.size === 0, 5000));
      assert.equal((await l.store.devices.count()), 3);
      assert.equal((await l.store.devices.get('uuid:d0'))?.hostname, 'again');
      assert.ok(await until(() => cap.lines.some((x) => x['msg'] === 'store lock released: buffered inventory writes landed' && x['dropped'] === 7), 2000));
    } finally {
      await wb.close();
      l.done();
    }
  });

  test('close() writes what is buffered once the lock is free, and says what is lost when it is not', async () => {
    const l = lab();
    const cap = captureLog('info');
    const wb = new DeviceWriteBehind(l.store.devices, { log: cap.log, setBusyTimeout: (ms) => l.store.setBusyTimeout?.(ms) });
    l.lock();
    await wb.upsert(obs('x'));
    l.unlock();
    await wb.close();
    assert.ok((await l.store.devices.get('uuid:x')), 'flushed at close');

    const wb2 = new DeviceWriteBehind(l.store.devices, { log: cap.log, setBusyTimeout: (ms) => l.store.setBusyTimeout?.(Math.min(ms, 100)) });
    l.lock();
    await wb2.upsert(obs('y'));
    await wb2.close();
    assert.ok(cap.lines.some((x) => x['msg'] === 'store still locked at shutdown: buffered inventory updates are lost' && x['devices'] === 1));
    l.done();
  });

  test('an error that is not a lock is not buffered: it reaches the caller (the handler reports it)', async () => {
    const cap = captureLog('info');
    const failing = {
      upsert: () => Promise.reject(new Error('disk I/O error')),
      get: () => Promise.resolve(undefined),
      list: () => Promise.resolve([]),
      count: () => Promise.resolve(0),
      pruneUnprovisioned: () => Promise.resolve(0),
    };
    const wb = new DeviceWriteBehind(failing, { log: cap.log });
    await assert.rejects(wb.upsert(obs('z')), /disk I\/O error/);
    assert.equal(wb.size, 0);
    await wb.close();
  });
});
