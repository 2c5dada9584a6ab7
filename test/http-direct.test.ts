import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { BODY_2_10, DOC_PASSWORD, HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace, type TestFace } from './helpers/prov';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** post sends one request on a fresh connection (Content-Length unless chunked). */
function post(base: string, path: string, body: string, headers: Record<string, string> = {}, chunked = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550', ...headers };
    if (!chunked) h['content-length'] = String(Buffer.byteLength(body));
    const r = request(`${base}${path}`, { method: 'POST', headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    if (chunked) {
      r.write(body); // a write before end: Node sends Transfer-Encoding: chunked
      r.end();
    } else r.end(body);
  });
}

/** The headers both paths must agree on (date and keep-alive are Node's own). */
const COMPARED = ['content-type', 'cache-control', 'content-length', 'retry-after', 'www-authenticate'];

describe('POST /jitsi answered beside fastify (issue 15): the same answers as the fastify route', () => {
  let f: TestFace;
  before(async () => {
    f = await startFace(`${HTTP_LOOPBACK.replace('rateLimit: {rate: 0}', 'rateLimit: {rate: 0}, bodyLimit: 2048')}${provisioningYaml({ alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw', 10) })}`, { level: 'info' });
  });
  after(() => f.close());

  test('200, 401, 400 (no credentials, wrong content type, malformed form), a query: byte-identical to /jitsiprovs/ through fastify', async () => {
    const cases: [string, string, Record<string, string>][] = [
      ['', BODY_2_10, {}],
      ['', BODY_2_10.replace('p%40ss', 'nope'), {}],
      ['', 'os=Linux', {}],
      ['', BODY_2_10, { 'content-type': 'application/json' }],
      ['', 'a=%zz', {}],
      ['', '', {}],
      ['?os=Linux', 'user=alice%40example.com&password=p%40ss+w0rd%21', {}],
    ];
    for (const [query, body, headers] of cases) {
      const direct = await post(f.url, `/jitsi${query}`, body, headers);
      const routed = await post(f.url, `/jitsiprovs/${query}`, body, headers);
      const label = `${query} ${body} ${JSON.stringify(headers)}`;
      assert.equal(direct.status, routed.status, label);
      assert.ok(direct.body.equals(routed.body), `${label}: ${direct.body.toString()} vs ${routed.body.toString()}`);
      for (const h of COMPARED) assert.deepEqual(direct.headers[h], routed.headers[h], `${label}: ${h}`);
    }
    const s = f.face.stats();
    assert.equal(s['direct'], cases.length, 'every /jitsi request was answered beside fastify');
    assert.ok((s['status:200'] ?? 0) >= 4 && (s['status:401'] ?? 0) >= 2 && (s['status:400'] ?? 0) >= 6, JSON.stringify(s));
  });

  test('a chunked body and a body over http.bodyLimit still go through fastify (200 and 413)', async () => {
    const d0 = f.face.stats()['direct'] ?? 0;
    const chunked = await post(f.url, '/jitsi', BODY_2_10, {}, true);
    assert.equal(chunked.status, 200, chunked.body.toString());
    const big = await post(f.url, '/jitsi', `${BODY_2_10}&pad=${'x'.repeat(4096)}`);
    assert.equal(big.status, 413);
    assert.match(big.body.toString(), /larger than 2048 bytes/);
    assert.equal(f.face.stats()['direct'] ?? 0, d0, 'neither was answered beside fastify');
  });

  test('keep-alive: several requests on one connection, each answered in order', async () => {
    const one = `POST /jitsi HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${BODY_2_10.length}\r\n\r\n${BODY_2_10}`;
    const s = connect(f.face.port ?? 0, '127.0.0.1');
    let got = '';
    const done = new Promise<void>((resolve, reject) => {
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if ((got.match(/ENFORCE_PREFIX=/g) ?? []).length === 3) resolve();
      });
      s.on('error', reject);
      setTimeout(() => reject(new Error(`timeout: ${got}`)), 5000).unref();
    });
    s.write(one + one + one);
    await done;
    s.destroy();
    assert.equal((got.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 3);
    assert.match(got, /connection: keep-alive/i);
  });
});
