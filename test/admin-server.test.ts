/**
 * The admin listener and the metrics registry in-process, on loopback: plugins mounted before
 * start answer; a taken port never makes start or reload reject (PROVD_ERR_ADMIN_BIND logged
 * once, retried) and a reload to a free port moves the listener; the configuration refuses an
 * admin port equal to the provisioning port; Monotonic and the registry carry a face's counter
 * across a reset to zero; labels stay bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminFace } from '../src/admin/server';
import { adminSchema } from '../src/admin/config';
import { Metrics, Monotonic, MAX_SERIES, familyOf } from '../src/metrics/metrics';
import { ActivityBus } from '../src/activity';
import { captureLog } from './helpers/log';
import { configProblems } from './helpers/config';
import { httpsPost, makeCert, opensslMissing } from './helpers/tls';

const admin = (port: number): { admin: ReturnType<typeof adminSchema.parse> } => ({ admin: adminSchema.parse({ host: '127.0.0.1', port }) });

async function holdPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return { server, port: a.port };
}

test('plugins mounted before start answer on the admin listener', async () => {
  const cap = captureLog('info');
  const face = new AdminFace({ config: admin(0), log: cap.log, plugins: [async (app) => void app.get('/one', async () => 'one')] });
  face.mount(async (app) => void app.get('/two', async () => ({ two: 2 })));
  try {
    await face.start();
    const port = face.address?.port;
    assert.ok(port !== undefined && port > 0);
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/one`)).text(), 'one');
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/two`)).json(), { two: 2 });
    assert.equal(face.health().ready, true);
    assert.equal(face.stats()['status:200'], 2);
  } finally {
    await face.close();
  }
  assert.equal(face.health().ready, false);
});

test('a taken admin port is logged once and retried, never thrown; a reload to a free port moves it', async () => {
  const cap = captureLog('info');
  const held = await holdPort();
  const face = new AdminFace({ config: admin(held.port), log: cap.log });
  const portOf = (): number | undefined => face.address?.port; // a getter: no narrowing across awaits
  try {
    await face.start(); // resolves: provisioning must not stop for the admin port
    assert.equal(portOf(), undefined);
    assert.equal(face.health().ready, false);
    const errors = cap.lines.filter((l) => l['code'] === 'PROVD_ERR_ADMIN_BIND');
    assert.equal(errors.length, 1, cap.text());
    assert.match(String(errors[0]?.['err']), new RegExp(`127\\.0\\.0\\.1:${held.port}.*EADDRINUSE`));
    await face.reload(admin(held.port)); // the same problem again: not logged a second time
    assert.equal(cap.lines.filter((l) => l['code'] === 'PROVD_ERR_ADMIN_BIND').length, 1);
    await face.reload(admin(0));
    assert.equal(face.health().ready, true);
    const port = portOf();
    assert.ok(port !== undefined && port !== held.port);
    assert.ok(cap.lines.some((l) => l['msg'] === 'admin listener problem resolved'));
    // A move to a taken port keeps the running listener.
    await face.reload(admin(held.port));
    assert.equal(portOf(), port);
    assert.equal((await fetch(`http://127.0.0.1:${port}/nothing`)).status, 404);
  } finally {
    await face.close();
    held.server.close();
  }
});

test('admin.tls: HTTPS on the admin port, the certificate re-read on reload', { skip: opensslMissing() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-admin-tls-'));
  const cap = captureLog('info');
  const tls = makeCert(dir, 'admin', 'admin-one');
  const config = { admin: adminSchema.parse({ host: '127.0.0.1', port: 0, tls }) };
  const face = new AdminFace({ config, log: cap.log, plugins: [
      async (app) => {
        app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
        app.post('/echo', async () => 'tls');
      },
    ],
  });
  try {
    await face.start();
    const port = face.address?.port ?? 0;
    const one = await httpsPost(port, '/echo', '');
    assert.deepEqual([one.status, one.body, one.cn], [200, 'tls', 'admin-one']);
    makeCert(dir, 'admin', 'admin-two'); // renewed in place
    await face.reload(config);
    assert.equal((await httpsPost(port, '/echo', '')).cn, 'admin-two');
  } finally {
    await face.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the configuration refuses an admin port equal to the provisioning port', () => {
  const problems = configProblems('dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {port: 9000}\nadmin: {port: 9000}\n');
  assert.ok(problems.some((p) => /admin\.port: must differ from http\.port \(9000\)/.test(p)), problems.join('\n'));
  assert.deepEqual(configProblems('dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {port: 9000}\nadmin: {enabled: false, port: 9000}\n'), []);
  assert.ok(configProblems('admin: {host: localhost}\n').some((p) => /admin\.host: must be an IP address literal/.test(p)));
});

test('Monotonic carries a counter across a reset to zero', () => {
  const m = new Monotonic();
  assert.equal(m.value('k', 5), 5);
  assert.equal(m.value('k', 7), 7);
  assert.equal(m.value('k', 0), 7); // the source restarted
  assert.equal(m.value('k', 3), 10);
  assert.equal(m.value('k', 1), 11); // and again
  assert.deepEqual([...m.totals()], [['k', 11]]);
});

test('the registry never lets a face counter go down, and keeps labels bounded', async () => {
  const bus = new ActivityBus();
  let stats: Record<string, Record<string, number>> = { dhcp: { received: 40, 'malformed:short': 2, 'send-queue': 3 }, http: { 'status:200': 9 } };
  const metrics = new Metrics({ bus, faces: async () => stats });
  try {
    const one = await metrics.scrape();
    assert.match(one, /^provisiond_packets_received_total\{face="dhcp"\} 40$/m);
    assert.match(one, /^provisiond_packets_dropped_total\{face="dhcp",reason="malformed:short"\} 2$/m);
    assert.match(one, /^provisiond_face_state\{face="dhcp",name="send-queue"\} 3$/m);
    // The DHCP thread died and was restarted; the HTTP face was replaced by a reload.
    stats = { dhcp: { received: 4, 'send-queue': 0 }, http: { 'status:200': 1 } };
    const two = await metrics.scrape();
    assert.match(two, /^provisiond_packets_received_total\{face="dhcp"\} 44$/m);
    assert.match(two, /^provisiond_packets_dropped_total\{face="dhcp",reason="malformed:short"\} 2$/m);
    assert.match(two, /^provisiond_face_events_total\{face="http",event="status:200"\} 10$/m);
    assert.match(two, /^provisiond_face_state\{face="dhcp",name="send-queue"\} 0$/m);

    // Counted between two scrapes, then reset: observe() (the daemon's timer, a reload) kept it.
    metrics.observe({ dhcp: { received: 30 } });
    stats = { dhcp: { received: 2 }, http: { 'status:200': 1 } };
    assert.match(await metrics.scrape(), /^provisiond_packets_received_total\{face="dhcp"\} 72$/m);

    // Requests: bounded label sets; a flood of distinct outcomes folds into "other".
    for (let i = 0; i < MAX_SERIES + 50; i++) bus.emit({ face: 'http', outcome: `o${i}`, ok: false, status: 400, at: Date.now(), ms: 1 });
    const three = await metrics.scrape();
    const series = three.split('\n').filter((l) => l.startsWith('provisiond_requests_total{'));
    assert.equal(series.length, MAX_SERIES + 1);
    assert.match(three, /^provisiond_requests_total\{face="http",status="400",outcome="other"\} 50$/m);
    bus.emit({ face: 'phones', outcome: 'served', ok: true, status: 200, at: Date.now(), ms: 2, vendor: 'yealink', ip: '10.0.0.9', device: 'mac:001565000001' });
    const four = await metrics.scrape();
    assert.match(four, /^provisiond_phone_requests_total\{vendor="yealink",outcome="served"\} 1$/m);
    assert.doesNotMatch(four, /10\.0\.0\.9|001565000001/);
  } finally {
    metrics.close();
  }
  assert.equal(bus.watched, false);
});

test('scrapes never overlap and never queue up: callers share the next one', async () => {
  const bus = new ActivityBus();
  let calls = 0;
  let inFlight = 0;
  let most = 0;
  const metrics = new Metrics({
    bus,
    faces: async () => {
      calls++;
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { dhcp: { received: calls } };
    },
  });
  try {
    const all = await Promise.all(Array.from({ length: 50 }, () => metrics.scrape()));
    assert.equal(calls, 2); // the one running, and one shared by the 49 that came during it
    assert.equal(most, 1);
    assert.match(all[0] ?? '', /received_total\{face="dhcp"\} 1$/m);
    assert.match(all[49] ?? '', /received_total\{face="dhcp"\} 2$/m);
  } finally {
    metrics.close();
  }
});

test('familyOf sorts the faces\' counters', () => {
  assert.equal(familyOf('dhcp', 'received'), 'received');
  assert.equal(familyOf('tftp', 'refused:rate-limited'), 'dropped');
  assert.equal(familyOf('tftp', 'refused:not-found'), 'event');
  assert.equal(familyOf('sip', 'transactions'), 'gauge');
  assert.equal(familyOf('http', 'cache-hits'), 'cache-hits');
  assert.equal(familyOf('http', 'inventory-pending'), 'gauge');
  assert.equal(familyOf('http', 'dropped:peer-gone'), 'event');
  assert.equal(familyOf('mdns', 'queriesHeard'), 'received');
  assert.equal(familyOf('http', 'workers'), 'gauge');
  assert.equal(familyOf('http', 'store-pg-connections'), 'gauge');
  assert.equal(familyOf('http', 'store-pg-waiting'), 'gauge');
  assert.equal(familyOf('http', 'store-pg-queries'), 'event');
});
