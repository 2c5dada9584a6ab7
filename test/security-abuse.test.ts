/**
 * Issue 5, slice 4: abuse limits on real sockets: body size and field count, malformed
 * encodings, slow clients (slowloris), the connection cap, device-record caps and pruning.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import Database from '../src/store/driver';
import { AsyncDeviceQuota, deviceSource } from '../src/limits/quota';
import type { DeviceRepository } from '../src/store/repository';
import { startFace, type TestFace } from './helpers/prov';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const TENANT = 'provisioning:\n  tenants:\n    localdomain:\n      auth: none\n      rules: [{subject: default, properties: {k.a: v}}]\n';
const faceYaml = (http: string, devices = ''): string => `http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}${http}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\n${devices}${TENANT}`;

/** closedWithin resolves with the ms until the server closed the socket (or rejects after limitMs). */
function closedWithin(s: Socket, limitMs: number): Promise<{ ms: number; data: string }> {
  const t0 = Date.now();
  let data = '';
  s.on('data', (d: Buffer) => (data += d.toString('latin1')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - t0, data });
    });
    s.on('error', () => undefined);
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

describe('abuse limits on a real socket', () => {
  let f: TestFace;
  before(async () => {
    f = await startFace(faceYaml(', headersTimeout: 1, requestTimeout: 2, maxConnections: 4'));
  });
  after(async () => f.close());
  const post = (body: string) => fetch(`${f.url}/jitsi`, { method: 'POST', headers: FORM, body });

  test('413 over 16 KiB, 400 over 64 fields, 400 for invalid percent-encoding and invalid UTF-8; still serving', async () => {
    assert.equal((await post(`os=${'a'.repeat(16 * 1024)}`)).status, 413);
    assert.equal((await post(Array.from({ length: 65 }, (_, i) => `f${i}=x`).join('&'))).status, 400);
    assert.equal((await post(Array.from({ length: 64 }, (_, i) => `f${i}=x`).join('&'))).status, 200);
    assert.equal((await post('os=%zz')).status, 400);
    assert.equal((await post('os=%C3%28')).status, 400, 'invalid UTF-8');
    assert.equal((await post('os=%FF%FE')).status, 400, 'invalid UTF-8');
    const bad = await fetch(`${f.url}/jitsi?os=%E0%80`, { method: 'GET' });
    assert.equal(bad.status, 400);
    assert.equal((await post('os=Linux')).status, 200);
  });

  test('slowloris: a client trickling its headers is cut off after headersTimeout; others are served', async () => {
    const s = await open(f.face.port ?? 0);
    s.write('POST /jitsi HTTP/1.1\r\nHost: x\r\n');
    const closed = closedWithin(s, 6000);
    let i = 0;
    const trickle = setInterval(() => {
      if (i++ < 40 && !s.destroyed) s.write(`X-Slow-${i}: a\r\n`);
    }, 200);
    try {
      const r = await closed;
      assert.ok(r.ms < 5000, `closed after ${r.ms} ms`);
      assert.ok(r.data === '' || /^HTTP\/1\.1 408/.test(r.data), r.data.slice(0, 40));
    } finally {
      clearInterval(trickle);
      s.destroy();
    }
    assert.equal((await post('os=Linux')).status, 200);
  });

  test('a slow body is cut off after requestTimeout', async () => {
    const s = await open(f.face.port ?? 0);
    s.write('POST /jitsi HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nos=');
    const closed = closedWithin(s, 8000);
    let i = 0;
    const trickle = setInterval(() => {
      if (i++ < 60 && !s.destroyed) s.write('a');
    }, 200);
    try {
      const r = await closed;
      assert.ok(r.ms < 7000, `closed after ${r.ms} ms`);
    } finally {
      clearInterval(trickle);
      s.destroy();
    }
  });

  test('the connection cap: connections beyond http.maxConnections are closed on arrival', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) held.push(await open(f.face.port ?? 0));
      const extra = await open(f.face.port ?? 0);
      const r = await closedWithin(extra, 3000);
      assert.equal(r.data, '');
    } finally {
      for (const s of held) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await post('os=Linux')).status, 200);
  });
});

describe('device-record caps and pruning', () => {
  let f: TestFace;
  before(async () => {
    f = await startFace(faceYaml('', 'devices: {maxNewPerSourcePerHour: 2, maxTotal: 4, pruneAfter: 3600}\n'));
  });
  after(async () => f.close());
  const from = (ip: string, uuid: string) => f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: FORM, payload: `uuid=${uuid}&os=L`, remoteAddress: ip });

  test('per source per hour: excess requests are answered but not recorded, and counted', async () => {
    for (const u of ['a1', 'a2', 'a3', 'a4']) assert.equal((await from('192.0.2.1', u)).statusCode, 200);
    assert.ok((await f.store.devices.get('uuid:a1')) && (await f.store.devices.get('uuid:a2')));
    assert.equal((await f.store.devices.get('uuid:a3')), undefined);
    assert.equal(f.face.stats()['devices-not-recorded:over-source'], 2);
    assert.equal((await from('192.0.2.1', 'a1')).statusCode, 200);
    assert.equal((await f.store.devices.get('uuid:a1'))?.requests, 2, 'known devices are still updated');
  });

  test('in total: beyond devices.maxTotal nothing new is recorded', async () => {
    for (const [ip, u] of [['192.0.2.2', 'b1'], ['192.0.2.3', 'b2'], ['192.0.2.4', 'b3']] as const) assert.equal((await from(ip, u)).statusCode, 200);
    assert.equal((await f.store.devices.count()), 4);
    assert.equal((await f.store.devices.get('uuid:b3')), undefined);
    assert.equal(f.face.stats()['devices-not-recorded:over-total'], 1);
  });

  test('pruning removes only devices never successfully provisioned, after pruneAfter', async () => {
    const old = '2020-01-01T00:00:00.000Z';
    const base = { uuid: null, hwaddr: null, ip: '192.0.2.9', hostname: null, osname: null, arch: null, build: null, userAgent: null, username: null, tenant: 'localdomain' };
    // Records never provisioned are left by earlier versions (a failed request no longer creates
    // one, issue 10 defect 14): written here as those versions did, with raw SQL.
    const raw = new Database(f.store.location);
    const junk = raw.prepare("INSERT INTO devices (key, ip, tenant, first_seen, last_seen, last_outcome) VALUES (?, '192.0.2.9', 'localdomain', ?, ?, ?)");
    junk.run('uuid:junk', old, old, '401 bad-credentials');
    junk.run('uuid:fresh', new Date().toISOString(), new Date().toISOString(), '400 credentials-required');
    raw.close();
    await f.store.devices.upsert({ ...base, key: 'uuid:good', outcome: '200 ok', at: old });
    assert.equal(await f.face.prune(), 1);
    assert.equal((await f.store.devices.get('uuid:junk')), undefined);
    assert.ok((await f.store.devices.get('uuid:good')));
    assert.ok((await f.store.devices.get('uuid:fresh')), 'younger than pruneAfter');
    assert.equal(f.face.stats()['devices-pruned'], 1);
  });
});

describe('DeviceQuota (fake clock)', () => {
  test('the per-source allowance comes back after an hour', async () => {
    let t = 0;
    const known = new Set<string>();
    const devices = { get: (k: string) => Promise.resolve(known.has(k) ? ({} as never) : undefined), count: () => Promise.resolve(known.size) } as unknown as DeviceRepository;
    const q = new AsyncDeviceQuota({ perSourcePerHour: 1, maxTotal: 100, now: () => t }, deviceSource(devices));
    assert.equal(await q.admit('k1', '192.0.2.1'), 'record');
    assert.equal(await q.admit('k2', '192.0.2.1'), 'over-source');
    assert.equal(await q.admit('k2', '192.0.2.2'), 'record');
    t += 3_600_000;
    assert.equal(await q.admit('k3', '192.0.2.1'), 'record');
  });
});
