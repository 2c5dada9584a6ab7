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

describe('HTTP face: a request whose socket is already gone (defect 17)', () => {
  let f: TestFace;
  before(async () => {
    const hashes = { alice: await hashPassword('a', 10), bob: await hashPassword('b', 10) };
    f = await startFace(HTTP_LOOPBACK + provisioningYaml(hashes), { level: 'info' });
  });
  after(() => f.close());

  test('a valid pipelined request followed by garbage: no 500, no error line, the drop is counted', async () => {
    const port = f.face.port ?? 0;
    const body = 'domain=open.example';
    const valid = `POST /jitsi HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const garbage = 'GARBAGE \x00\x01\x02 NOT HTTP\r\n\r\n';
    // The parser error destroys the socket before the route runs; bounded in count and time.
    const t0 = Date.now();
    for (let i = 0; i < 200 && (f.face.stats()['dropped:peer-gone'] ?? 0) < 5 && Date.now() - t0 < 20_000; i++) {
      await Promise.all(Array.from({ length: 5 }, () => rawExchange(port, valid + garbage)));
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
