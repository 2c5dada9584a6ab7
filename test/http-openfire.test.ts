import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DOC_PASSWORD, HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace, type TestFace } from './helpers/prov';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { PATHS } from '../src/http/server';

// The Openfire "jitsiprovisioning" plugin's path (jitsi-client-contract.md §8.2) served as another
// Jitsi endpoint, on a real socket: fields `username`, `password`, `secret` from the query or a form body.
const FORM = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' };
const SECRET = 'lan-shared-s3cret';
const LAN_TENANT = `    lan.example:
      auth: credentials
      secret: ${SECRET}
      users:
        carol: {password: "plain:carol pw", attributes: {displayName: "Carol"}}
      rules:
        - subject: default
          properties:
            net.java.sip.communicator.impl.gui.WHO: "{{ user.name }} at {{ tenant.domain }}"
`;

const run = promisify(execFile);
const curlMissing = (): boolean => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
};

describe('HTTP face: the Openfire plugin path', () => {
  let f: TestFace;
  const pw = encodeURIComponent(DOC_PASSWORD);
  before(async () => {
    const hashes = { alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw', 10) };
    f = await startFace(HTTP_LOOPBACK + provisioningYaml(hashes, LAN_TENANT));
  });
  after(() => f.close());

  const get = (path: string, query: string): Promise<Response> => fetch(`${f.url}${path}?${query}`, { headers: { 'user-agent': 'Jitsi/2.10.5550' } });
  const post = (path: string, body: string): Promise<Response> => fetch(`${f.url}${path}`, { method: 'POST', headers: FORM, body });

  test('the path is the plugin servlet\'s', () => {
    assert.equal(PATHS.openfire, '/plugins/jitsiProvisioning/provision');
  });

  test('a configuration user gets the same document as on /jitsi, by GET query and POST form', async () => {
    const q = `username=alice&password=${pw}`;
    const ref = await post(PATHS.jitsi, q);
    assert.equal(ref.status, 200);
    const want = await ref.text();
    assert.match(want, /acc1\.PASSWORD=/);
    for (const r of [await get(PATHS.openfire, q), await post(PATHS.openfire, q), await get(`${PATHS.openfire}/`, q)]) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), ref.headers.get('content-type'));
      assert.equal(await r.text(), want);
    }
  });

  test('curl, as an independent client: the query form (GET) and the form body (POST) give the /jitsi document', { skip: curlMissing() }, async () => {
    const want = await (await post(PATHS.jitsi, `username=alice&password=${pw}`)).text();
    const base = ['-sS', '--max-time', '10', '-A', 'Jitsi/2.10.5550', '-w', '\n%{http_code}', '--data-urlencode', 'username=alice', '--data-urlencode', `password=${DOC_PASSWORD}`];
    for (const extra of [['-G'], []]) {
      const r = await run('curl', [...base, ...extra, `${f.url}${PATHS.openfire}`]);
      const cut = r.stdout.lastIndexOf('\n');
      assert.equal(r.stdout.slice(cut + 1), '200', extra.join(' '));
      assert.equal(r.stdout.slice(0, cut), want);
    }
  });

  test('the tenant secret: right → the document, as on /jitsi', async () => {
    const q = `username=carol%40lan.example&password=carol+pw&secret=${SECRET}`;
    const a = await get(PATHS.openfire, q);
    const b = await get(PATHS.jitsi, q);
    assert.equal(a.status, 200);
    const body = await a.text();
    assert.match(body, /WHO=carol at lan\.example/);
    assert.equal(body, await b.text());
  });

  test('a wrong password is 401; a wrong or missing secret is 404 with the /jitsi body (ours, not the plugin\'s 401)', async () => {
    const bad = await get(PATHS.openfire, 'username=alice&password=nope');
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('www-authenticate'), null);
    for (const secret of ['&secret=wrong', '']) {
      const q = `username=carol%40lan.example&password=carol+pw${secret}`;
      const a = await get(PATHS.openfire, q);
      const b = await get(PATHS.jitsi, q);
      assert.equal(a.status, 404, secret);
      assert.equal(b.status, 404, secret);
      assert.equal(await a.text(), await b.text());
    }
  });

  test('the request is logged with its path only, never the query', async () => {
    const marker = 'Op3nfire-Only-Pw';
    const r = await get(PATHS.openfire, `username=alice&password=${marker}&secret=${SECRET}`);
    assert.equal(r.status, 401);
    const ok = await get(PATHS.openfire, `username=alice&password=${pw}`);
    assert.equal(ok.status, 200);
    const text = f.text();
    assert.ok(!text.includes(marker), 'the password appears in the log');
    assert.ok(!text.includes(DOC_PASSWORD) && !text.includes(pw), "alice's password appears in the log");
    assert.ok(!text.includes(SECRET), 'the secret appears in the log');
    const paths = f.lines().map((l) => l['path']).filter((p): p is string => typeof p === 'string' && p.startsWith('/plugins/'));
    assert.ok(paths.length >= 2, 'the Openfire requests were logged');
    for (const p of paths) assert.match(p, /^\/plugins\/jitsiProvisioning\/provision\/?$/);
  });
});
