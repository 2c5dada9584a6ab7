/**
 * http-conn.test.ts: the HTTP face's connections under attack and across reloads (issue 10,
 * defects 3, 12 and 17), on real loopback sockets.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { hashPassword, HTTP_LOOPBACK, provisioningYaml, startFace, type TestFace } from './helpers/prov';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** rawExchange writes `data` on a fresh connection and resolves with what came back once it closed (bounded). */
function rawExchange(port: number, data: string | Buffer, ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.write(data);
  });
}

/** resetAfter writes `data` on a fresh connection and resets it (RST) at once. */
function resetAfter(port: number, data: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.on('connect', () => s.write(data, () => s.resetAndDestroy()));
  });
}

describe('HTTP face: a request whose socket is already gone (defect 17)', () => {
  let f: TestFace;
  before(async () => {
    const hashes = { alice: await hashPassword('a', 10), bob: await hashPassword('b', 10) };
    f = await startFace(HTTP_LOOPBACK + provisioningYaml(hashes), { level: 'info' });
  });
  after(() => f.close());

  test('a valid pipelined request followed by garbage, or by a reset: no 500, no error line, the drop is counted', async () => {
    const port = f.face.port ?? 0;
    const body = 'domain=open.example';
    const valid = `POST /jitsi HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const garbage = 'GARBAGE \x00\x01\x02 NOT HTTP\r\n\r\n';
    // The parser error destroys the socket before the route runs; bounded in count and time.
    const t0 = Date.now();
    for (let i = 0; i < 200 && (f.face.stats()['dropped:peer-gone'] ?? 0) < 5 && Date.now() - t0 < 20_000; i++) {
      await Promise.all([
        ...Array.from({ length: 3 }, () => rawExchange(port, valid + garbage)),
        // The same request, then a reset at once: the socket is gone before the route runs.
        ...Array.from({ length: 3 }, () => resetAfter(port, valid)),
      ]);
    }
    const stats = f.face.stats();
    const errors = f.lines().filter((l) => l['level'] === 'error' || l['level'] === 'fatal');
    assert.deepEqual(errors.slice(0, 2), [], 'no error line');
    assert.equal(stats['status:500'] ?? 0, 0, 'no 500');
    assert.ok((stats['dropped:peer-gone'] ?? 0) > 0, `the drop is counted: ${JSON.stringify(stats)}`);
    // The face still answers.
    const r = await fetch(`${f.url}/jitsi?domain=open.example`);
    assert.equal(r.status, 200);
  });
});

/** openIdle opens `n` connections from `localAddress` that never send a byte; resolves once each is connected or closed. */
async function openIdle(port: number, localAddress: string, n: number): Promise<Socket[]> {
  const socks: Socket[] = [];
  await Promise.all(
    Array.from({ length: n }, () => {
      const s = connect({ host: '127.0.0.1', port, localAddress });
      s.on('error', () => undefined);
      socks.push(s);
      return Promise.race([once(s, 'connect'), once(s, 'close')]);
    }),
  );
  return socks;
}

/** postFrom sends one provisioning POST from `localAddress` on a fresh connection; resolves with the status, or the error code. */
function postFrom(port: number, localAddress: string, body: string): Promise<number | string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    let got = '';
    const timer = setTimeout(() => s.destroy(), 10_000);
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', (e: NodeJS.ErrnoException) => (got ||= `error:${e.code ?? e.message}`));
    s.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      resolve(m ? Number(m[1]) : got || 'closed without an answer');
    });
    s.write(`POST /jitsi HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
}

/** drained waits (bounded) until the face's server holds no connection (the previous test's are gone). */
async function drained(f: TestFace): Promise<void> {
  const server = f.face.app?.server;
  assert.ok(server);
  for (let i = 0; i < 100; i++) {
    const n = await new Promise<number>((r) => server.getConnections((_e, c) => r(c)));
    if (n === 0) return;
    await sleep(50);
  }
  assert.fail('the server still holds connections after 5 s');
}

describe('HTTP face: one LAN host cannot take every connection slot (defect 3)', () => {
  let f: TestFace;
  before(async () => {
    const hashes = { alice: await hashPassword('a', 10), bob: await hashPassword('b', 10) };
    // A global cap of 200: the attacker below opens 300 silent connections from one address.
    f = await startFace(HTTP_LOOPBACK.replace('rateLimit', 'maxConnections: 200, rateLimit') + provisioningYaml(hashes), { level: 'info' });
  });
  after(() => f.close());

  test('300 idle connections from 127.0.0.2: a client from 127.0.0.3 is still served; refusals are counted and logged once', async () => {
    const port = f.face.port ?? 0;
    const attacker = await openIdle(port, '127.0.0.2', 300);
    try {
      await sleep(200); // let the server see every connection
      const statuses: (number | string)[] = [];
      for (let i = 0; i < 5; i++) statuses.push(await postFrom(port, '127.0.0.3', 'domain=open.example'));
      assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
      const stats = f.face.stats();
      assert.ok((stats['connections-refused:per-source'] ?? 0) >= 300 - 128, JSON.stringify(stats));
      const floods = f.lines().filter((l) => l['level'] === 'warn' && /per source/.test(String(l['msg'])));
      assert.equal(floods.length, 1, 'one line per source episode');
      assert.equal(floods[0]?.['ip'], '127.0.0.2');
    } finally {
      for (const s of attacker) s.destroy();
    }
  });

  test('a connection that sends no byte is closed after http.firstByteTimeout (default 5 s), counted', async () => {
    const port = f.face.port ?? 0;
    await drained(f);
    const before = f.face.stats()['connections-closed:first-byte-timeout'] ?? 0;
    const t0 = Date.now();
    const [s] = await openIdle(port, '127.0.0.4', 1);
    assert.ok(s);
    // Bounded: 15 s, far beyond the timeout; Node itself never closes a silent connection.
    const closed = await Promise.race([once(s, 'close').then(() => true), sleep(15_000).then(() => false)]);
    s.destroy();
    assert.ok(closed, 'the silent connection was closed');
    const ms = Date.now() - t0;
    assert.ok(ms >= 3000 && ms < 12_000, `closed after ${ms} ms`);
    assert.equal((f.face.stats()['connections-closed:first-byte-timeout'] ?? 0) - before, 1);
  });
});
