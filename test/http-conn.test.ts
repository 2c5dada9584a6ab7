/**
 * http-conn.test.ts: the HTTP face's connections under attack and across reloads (issue 10,
 * defects 3, 12 and 17), on real loopback sockets.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { startDaemon, type Running } from './helpers/daemon';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/config/load';
import { makeCert, opensslMissing, httpsPost } from './helpers/tls';
import { once } from 'node:events';
import { hashPassword, HTTP_LOOPBACK, provisioningYaml, startFace, type TestFace } from './helpers/prov';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
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

/** freeTcpPort asks the kernel for a currently free TCP port on loopback. */
function freeTcpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
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

describe('HTTP face: a reload applies listen settings without dropping requests (defect 12)', () => {
  let f: TestFace;
  let fixed = 0;
  const base = (http: string): string => `http: {host: 127.0.0.1, port: ${fixed}, rateLimit: {rate: 0}${http}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nprovisioning: {tenants: {localdomain: {auth: none}}}\n`;
  const parse = (http: string): ReturnType<typeof parseConfigText> => parseConfigText(`${base(http)}stateDir: ${f.stateDir}\n`, 't.yaml');
  before(async () => {
    // A fixed port, as in production: port 0 would pick another port at each re-listen.
    fixed = await freeTcpPort();
    f = await startFace(base(''), { level: 'info' });
  });
  after(() => f.close());

  test('100 reloads changing bodyLimit, timeouts, maxConnections, trustedProxies and backlog under a client loop: zero failures, all applied', async () => {
    const port = f.face.port ?? 0;
    const app = f.face.app;
    const variants = [
      ', bodyLimit: 1024, headersTimeout: 5, requestTimeout: 20',
      ', bodyLimit: 4096, maxConnections: 500, trustedProxies: [127.0.0.1]',
      ', backlog: 1000, maxConnectionsPerSource: 50, firstByteTimeout: 2',
      ', headersTimeout: 7, requestTimeout: 9, maxConnections: 2000, trustedProxies: ["10.0.0.0/8", "::1"]',
    ];
    let stop = false;
    const failures: string[] = [];
    let ok = 0;
    const loop = async (n: number): Promise<void> => {
      // Bounded: at most 3000 requests per loop (the reloads end well before).
      for (let i = 0; i < 3000 && !stop; i++) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/jitsi`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `uuid=loop-${n}-${i % 50}` });
          await r.text();
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
        } catch (err) {
          failures.push(String((err as { cause?: unknown }).cause ?? err));
        }
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    try {
      for (let i = 0; i < 100; i++) {
        await f.face.reload(parse(variants[i % variants.length] ?? ''));
        await sleep(10);
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${failures.length + ok} requests failed`);
    assert.ok(ok > 100, `only ${ok} requests`);
    // Still the same listener, with the last variant's settings.
    assert.equal(f.face.app, app, 'the listener was not replaced');
    assert.equal(f.face.port, port);
    const server = f.face.app?.server;
    assert.equal(server?.headersTimeout, 7000);
    assert.equal(server?.requestTimeout, 9000);
    assert.equal(server?.maxConnections, 2000);
    // bodyLimit is read from the current configuration.
    await f.face.reload(parse(', bodyLimit: 1024'));
    const big = `uuid=big&os=${'a'.repeat(2000)}`;
    assert.equal((await fetch(`http://127.0.0.1:${port}/jitsi`, { method: 'POST', headers: FORM, body: big })).status, 413);
    await f.face.reload(parse(', bodyLimit: 4096'));
    assert.equal((await fetch(`http://127.0.0.1:${port}/jitsi`, { method: 'POST', headers: FORM, body: big })).status, 200);
    // trustedProxies too: X-Forwarded-For from 127.0.0.1 is believed only once it is a proxy.
    const xff = async (uuid: string): Promise<string | null | undefined> => {
      const r = await fetch(`http://127.0.0.1:${port}/jitsi`, { method: 'POST', headers: { ...FORM, 'x-forwarded-for': '198.51.100.9' }, body: `uuid=${uuid}` });
      assert.equal(r.status, 200);
      return (await f.store.devices.get(`uuid:${uuid}`))?.ip;
    };
    assert.equal(await xff('xff-1'), '127.0.0.1');
    await f.face.reload(parse(', trustedProxies: [127.0.0.1]'));
    assert.equal(await xff('xff-2'), '198.51.100.9');
  });

  test('a port change opens the new listener first and lets an in-flight request finish on the old one', async () => {
    const oldPort = f.face.port ?? 0;
    const free = await freeTcpPort();
    // An in-flight request: headers and half the body sent.
    const body = 'uuid=inflight-1&os=slow';
    const slow = connect({ host: '127.0.0.1', port: oldPort });
    slow.on('error', () => undefined);
    let answer = '';
    slow.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const slowClosed = once(slow, 'close');
    await once(slow, 'connect');
    slow.write(`POST /jitsi HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 8)}`);
    await sleep(100);
    const reloaded = f.face.reload(parseConfigText(`${base('').replace(`port: ${fixed}`, `port: ${free}`)}stateDir: ${f.stateDir}\n`, 't.yaml'));
    await reloaded;
    assert.equal(f.face.port, free);
    // The new port serves at once, while the old request is still in flight.
    assert.equal((await fetch(`http://127.0.0.1:${free}/jitsi`, { method: 'POST', headers: FORM, body: 'uuid=new-port' })).status, 200);
    slow.write(body.slice(8));
    await Promise.race([slowClosed, sleep(10_000)]);
    slow.destroy();
    assert.match(answer, /^HTTP\/1\.1 200 /, 'the in-flight request was answered');
    assert.match(answer, /connection: close/i, 'and its connection closed after it');
    // The old port no longer accepts connections.
    const err = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: oldPort });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(err, 'ECONNREFUSED');
  });
});

describe('HTTP face over TLS: the per-source cap and the first-byte timeout act before the handshake (defect 3)', { skip: opensslMissing() }, () => {
  let f: TestFace;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-conn-tls-'));
    const c = makeCert(dir, 'srv', 'conn.test');
    f = await startFace(
      `http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}, maxConnectionsPerSource: 3, firstByteTimeout: 1, trustedProxies: [127.0.0.6], tls: {cert: "${c.cert}", key: "${c.key}"}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nprovisioning: {tenants: {localdomain: {auth: none}}}\n`,
      { level: 'info' },
    );
  });
  after(async () => {
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a 4th silent TCP connection from one address is refused; silent ones close after 1 s; a trusted proxy is not capped; HTTPS still works', async () => {
    const port = f.face.port ?? 0;
    const held = await openIdle(port, '127.0.0.5', 3);
    const refusedBefore = f.face.stats()['connections-refused:per-source'] ?? 0;
    const [fourth] = await openIdle(port, '127.0.0.5', 1);
    assert.ok(fourth);
    const closedFast = await Promise.race([once(fourth, 'close').then(() => true), sleep(800).then(() => false)]);
    assert.ok(closedFast, 'the 4th connection is closed on arrival (well before the 1 s first-byte timeout)');
    assert.equal((f.face.stats()['connections-refused:per-source'] ?? 0) - refusedBefore, 1);
    // The three held ones never sent a ClientHello: closed by the first-byte timeout (bounded wait).
    const closed = await Promise.race([Promise.all(held.map((s) => once(s, 'close'))).then(() => true), sleep(10_000).then(() => false)]);
    assert.ok(closed, 'silent connections closed');
    assert.ok((f.face.stats()['connections-closed:first-byte-timeout'] ?? 0) >= 3);
    // A trusted proxy carries many clients: not capped.
    const proxy = await openIdle(port, '127.0.0.6', 6);
    await sleep(200);
    assert.equal(proxy.filter((s) => s.destroyed).length, 0, 'no connection of the trusted proxy was refused');
    for (const s of proxy) s.destroy();
    assert.equal((await httpsPost(port, '/jitsi', 'uuid=tls-1')).status, 200);
  });
});

describe('the daemon: SIGHUPs that change listen settings under a client loop (defect 12)', () => {
  let dir: string;
  let d: Running;
  let port: number;
  const cfgPath = (): string => join(dir, 'c.yaml');
  const write = (http: string): void =>
    writeFileSync(cfgPath(), `dhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${join(dir, 'state')}\nhttp: {host: 127.0.0.1, port: ${port}, rateLimit: {rate: 0}${http}}\nprovisioning: {tenants: {localdomain: {auth: none}}}\n`);
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-conn-hup-'));
    port = await freeTcpPort();
    write('');
    d = startDaemon(['run', '--config', cfgPath()]);
    await d.waitForLog('provisiond started', 20_000);
  });
  after(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('30 SIGHUPs: zero failed requests', async () => {
    const variants = [', bodyLimit: 2048, headersTimeout: 4', ', maxConnections: 300, trustedProxies: [127.0.0.9], backlog: 800', ', requestTimeout: 12, firstByteTimeout: 3, maxConnectionsPerSource: 40'];
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loop = async (n: number): Promise<void> => {
      for (let i = 0; i < 5000 && !stop; i++) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/jitsi`, { method: 'POST', headers: FORM, body: `uuid=hup-${n}-${i % 20}`, signal: AbortSignal.timeout(10_000) });
          await r.text();
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
        } catch (err) {
          failures.push(String((err as { cause?: unknown }).cause ?? err));
        }
      }
    };
    const loops = [0, 1, 2].map(loop);
    const reloaded = (): number => d.stdout().split('\n').filter((l) => l.includes('"msg":"configuration reloaded"')).length;
    try {
      for (let i = 0; i < 30; i++) {
        write(variants[i % variants.length] ?? '');
        const before = reloaded();
        d.child.kill('SIGHUP');
        for (let j = 0; j < 100 && reloaded() === before; j++) await sleep(50);
        assert.equal(reloaded(), before + 1, `reload ${i + 1} applied`);
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${failures.length + ok} requests failed`);
    assert.ok(ok > 30, `only ${ok} requests`);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  });
});
