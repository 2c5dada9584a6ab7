import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliWithInput } from './helpers/daemon';
import { BODY_HEAD, DOC_PASSWORD, HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace } from './helpers/prov';
import { parseCsv } from '../src/identity/users';

const cli = (args: readonly string[], input = ''): ReturnType<typeof cliWithInput> => cliWithInput(args, input, 'latin1');

const ROOT = join(__dirname, '..', '..');

describe('CLI: users, devices, render', () => {
  let dir: string;
  let cfg: string;
  let hashes: { alice: string; bob: string };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-admin-'));
    hashes = { alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw=#!', 10) };
    cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, `${HTTP_LOOPBACK}stateDir: ${join(dir, 'state')}\n${provisioningYaml(hashes)}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('user add/list/passwd/del with --password-stdin; hashes are never printed', async () => {
    const add = await cli(['user', 'add', 'carol@example.com', '--config', cfg, '--password-stdin', '--attr', 'extension=1003', '--attr', 'displayName=Carol'], 'carol pw\n');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /user carol@example\.com added/);
    const again = await cli(['user', 'add', 'carol@example.com', '--config', cfg, '--password-stdin'], 'x\n');
    assert.equal(again.code, 5);
    assert.match(again.stderr, /already exists.*\[PROVD_ERR_USER\]/);
    const list = await cli(['user', 'list', '--config', cfg, '--json']);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { user: string; source: string; password: string }[];
    assert.deepEqual(
      rows.map((r) => `${r.user} ${r.source} ${r.password}`),
      ['alice@example.com config scrypt', 'bob@example.com config scrypt', 'carol@example.com store scrypt'],
    );
    assert.ok(!list.stdout.includes('$scrypt$'));
    const withSecret = await cli(['user', 'add', 'hank@example.com', '--config', cfg, '--password-stdin', '--attr', 'sipPassword=hush-hush'], 'h pw\n');
    assert.equal(withSecret.code, 0, withSecret.stderr);
    const shown = await cli(['user', 'list', '--config', cfg, '--json']);
    assert.ok(!shown.stdout.includes('hush-hush'), 'an attribute named like a secret is printed');
    assert.match(shown.stdout, /"sipPassword": "\[redacted\]"/);
    assert.equal((await cli(['user', 'del', 'hank@example.com', '--config', cfg])).code, 0);
    assert.equal((await cli(['user', 'passwd', 'carol', '--domain', 'example.com', '--config', cfg, '--password-stdin'], 'new pw\n')).code, 0);
    const del = await cli(['user', 'del', 'carol@example.com', '--config', cfg]);
    assert.equal(del.code, 0);
    assert.equal((await cli(['user', 'del', 'carol@example.com', '--config', cfg])).code, 5);
  });

  test('passwords never come from argv; without a terminal --password-stdin is required', async () => {
    const argv = await cli(['user', 'add', 'dave@example.com', '--config', cfg, '--password', 'secret']);
    assert.equal(argv.code, 2);
    assert.match(argv.stderr, /PROVD_ERR_USAGE/);
    const noTty = await cli(['user', 'add', 'dave@example.com', '--config', cfg]);
    assert.equal(noTty.code, 5);
    assert.match(noTty.stderr, /--password-stdin/);
    const cfgUser = await cli(['user', 'passwd', 'alice@example.com', '--config', cfg, '--password-stdin'], 'x\n');
    assert.equal(cfgUser.code, 5);
    assert.match(cfgUser.stderr, /defined in the configuration file/);
  });

  test('user import of a JitsiProvS user_auth CSV (md5 and plain, header or id column)', async () => {
    const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
    const a = join(dir, 'a.csv');
    writeFileSync(a, `username,domain,password\neve,example.com,${md5('eve pw')}\n"frank",,${md5('f')}\n`);
    const r1 = await cli(['user', 'import', a, '--config', cfg]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stdout, /imported 2 user/);
    assert.match(r1.stderr, /weak/);
    const b = join(dir, 'b.tsv');
    writeFileSync(b, `7\tgina\texample.com\tg "pw"\n`);
    assert.equal((await cli(['user', 'import', b, '--config', cfg, '--format', 'plain', '--delimiter', '\\t'])).code, 0);
    const list = JSON.parse((await cli(['user', 'list', '--config', cfg, '--json'])).stdout) as { user: string; password: string }[];
    assert.deepEqual(
      list.filter((u) => /eve|frank|gina/.test(u.user)).map((u) => `${u.user} ${u.password}`),
      // a row without a domain gets provisioning.defaultDomain; a plain password is hashed at import
      ['eve@example.com md5', 'frank@example.com md5', 'gina@example.com scrypt'],
    );
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'username,domain,password\nx,example.com,nothex\n');
    assert.equal((await cli(['user', 'import', bad, '--config', cfg])).code, 5);
    // an imported md5 user logs in through the endpoint (and is then re-hashed)
    const f = await startFace(readFileSync(cfg, 'utf8').replace(/stateDir: .*\n/, ''), { stateDir: join(dir, 'state') });
    try {
      const ok = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=eve%40example.com&password=eve+pw' });
      assert.equal(ok.statusCode, 200);
    } finally {
      await f.close();
    }
  });

  test('parseCsv handles quotes, doubled quotes and CRLF', () => {
    assert.deepEqual(parseCsv('a,"b,c","d""e"\r\nf,,g\n', ','), [['a', 'b,c', 'd"e'], ['f', '', 'g']]);
  });

  test('render prints exactly what the endpoint returns; devices list shows the request', async () => {
    const state = join(dir, 'state');
    const f = await startFace(readFileSync(cfg, 'utf8').replace(/stateDir: .*\n/, ''), { stateDir: state });
    let endpoint: string;
    try {
      const r = await fetch(`${f.url}/jitsi`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' }, body: BODY_HEAD });
      assert.equal(r.status, 200);
      endpoint = Buffer.from(await r.arrayBuffer()).toString('latin1');
    } finally {
      await f.close();
    }
    const params = new URLSearchParams(BODY_HEAD);
    const args = ['render', '--config', cfg, '--user', params.get('user') ?? ''];
    for (const [k, v] of params) if (k !== 'user') args.push('--param', `${k}=${v}`);
    const rendered = await cli(args);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.equal(rendered.stdout, endpoint);

    const devices = await cli(['devices', 'list', '--config', cfg, '--json']);
    assert.equal(devices.code, 0, devices.stderr);
    const list = JSON.parse(devices.stdout) as { key: string; username: string; osname: string; lastOutcome: string }[];
    const d = list.find((x) => x.key === 'uuid:0f8fad5b-d9cb-469f-a165-70867728950e');
    assert.equal(d?.username, 'alice@example.com');
    assert.equal(d?.osname, 'Windows 10');
    assert.equal(d?.lastOutcome, '200 ok');
    const table = await cli(['devices', 'list', '--config', cfg]);
    assert.match(table.stdout, /^DEVICE +USER/);
    assert.match(table.stdout, /uuid:0f8fad5b-d9cb-469f-a165-70867728950e +alice@example\.com/);
  });

  test('render errors: unknown tenant or user, template failure; exit 5', async () => {
    assert.equal((await cli(['render', '--config', cfg, '--user', 'zed@example.com'])).code, 5);
    const t = await cli(['render', '--config', cfg, '--user', 'x@nowhere.org']);
    assert.equal(t.code, 5);
    assert.match(t.stderr, /unknown tenant: nowhere\.org/);
  });

  test('render of the shipped example configuration', async () => {
    const r = await cli(['render', '--config', join(ROOT, 'config', 'provisiond.example.yaml'), '--user', 'bob@example.org', '--param', 'hwaddr=00:1a:2b:3c:4d:5e', '--param', 'osname=Linux']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^provisioning\.ALLOW_PREFIX=net\.java\.sip\.communicator\|org\.jitsi\n/);
    assert.match(r.stdout, /sip\.acc1\.DISPLAY_NAME=Reception \(Bob \\u00D8deg\\u00E5rd\)\n/);
    assert.match(r.stdout, /sip\.acc1\.PREFERRED_TRANSPORT=TCP\n/);
    assert.match(r.stdout, /jabber\.acc2\.USER_ID=bob@example\.org\n/);
    assert.match(r.stdout, /provisioning\.ENFORCE_PREFIX=net\.java\.sip\.communicator\|org\.jitsi\n$/);
  });
});

describe('CLI: provisioning keys and hash-password', () => {
  test('key rotate prints a key once (exit 0), key list never shows it, an unknown tenant exits 5; hash-password works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-keycli-'));
    try {
      const conf = join(dir, 'c.yaml');
      writeFileSync(conf, `stateDir: ${join(dir, 'state')}\nprovisioning:\n  tenants:\n    a.example: {auth: url_key+credentials}\n`);
      const r = await cli(['key', 'rotate', '--tenant', 'a.example', '--config', conf]);
      assert.equal(r.code, 0, r.stderr);
      const key = r.stdout.trim();
      assert.match(key, /^[A-Za-z0-9_-]{32}$/);
      const l = await cli(['key', 'list', '--config', conf]);
      assert.equal(l.code, 0, l.stderr);
      assert.match(l.stdout, /a\.example\s+current/);
      assert.ok(!l.stdout.includes(key));
      const bad = await cli(['key', 'rotate', '--tenant', 'nope.example', '--config', conf]);
      assert.equal(bad.code, 5);
      assert.match(bad.stderr, /PROVD_ERR_KEY/);
      const h = await cli(['hash-password', '--password-stdin', '--config', conf], 'pw\n');
      assert.equal(h.code, 0, h.stderr);
      assert.match(h.stdout, /^\$scrypt\$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
