/**
 * user-cli.test.ts: user management a help desk can use (issue 14 item 9): `user set` with
 * --attr/--unset, `user import` with attribute columns, plain passwords hashed at import time,
 * provisioning.defaultDomain for rows without a domain, and one rule for users the
 * configuration file defines (every store-writing command refuses them). Through the real
 * executable; the effect on a rendered document is checked through the HTTP face.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliWithInput } from './helpers/daemon';
import { HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace } from './helpers/prov';

const cli = (args: readonly string[], input = ''): ReturnType<typeof cliWithInput> => cliWithInput(args, input, 'utf8');

interface Row {
  user: string;
  source: string;
  password: string;
  attributes: Record<string, string>;
}

describe('CLI: user set and user import with attributes', () => {
  let dir: string;
  let cfg: string;
  const list = async (): Promise<Row[]> => JSON.parse((await cli(['user', 'list', '--config', cfg, '--json'])).stdout) as Row[];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-usercli-'));
    const hashes = { alice: await hashPassword('alice pw', 10), bob: await hashPassword('bob pw', 10) };
    cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, `${HTTP_LOOPBACK}stateDir: ${join(dir, 'state')}\n${provisioningYaml(hashes)}`);
    const add = await cli(['user', 'add', 'carol', '--config', cfg, '--password-stdin', '--attr', 'extension=1003', '--attr', 'displayName=Carol'], 'carol pw\n');
    assert.equal(add.code, 0, add.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('user set --attr sets and replaces, --unset removes; the next request renders the new value', async () => {
    const r = await cli(['user', 'set', 'carol@example.com', '--config', cfg, '--attr', 'extension=2003', '--attr', 'room=B12', '--unset', 'displayName']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /attributes of carol@example\.com: extension, room/);
    const carol = (await list()).find((u) => u.user === 'carol@example.com');
    assert.deepEqual(carol?.attributes, { extension: '2003', room: 'B12' });
    const f = await startFace(readFileSync(cfg, 'utf8').replace(/stateDir: .*\n/, ''), { stateDir: join(dir, 'state') });
    try {
      const res = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=carol%40example.com&password=carol+pw' });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.body, /acc1\.USER_ID=2003@sip\.example\.com/);
      assert.match(res.body, /acc1\.DISPLAY_NAME=carol/, 'the unset displayName falls back to the user name');
    } finally {
      await f.close();
    }
  });

  test('user set refusals: nothing to do, an unknown key to unset, no such user, a configuration user', async () => {
    const none = await cli(['user', 'set', 'carol@example.com', '--config', cfg]);
    assert.equal(none.code, 5);
    assert.match(none.stderr, /at least one --attr key=value or --unset key \[PROVD_ERR_USER\]/);
    const typo = await cli(['user', 'set', 'carol@example.com', '--config', cfg, '--unset', 'extenssion']);
    assert.equal(typo.code, 5);
    assert.match(typo.stderr, /has no attribute 'extenssion' \(it has: extension, room\)/);
    const ghost = await cli(['user', 'set', 'nobody@example.com', '--config', cfg, '--attr', 'a=b']);
    assert.equal(ghost.code, 5);
    assert.match(ghost.stderr, /no user nobody@example\.com in the store/);
    const cfgUser = await cli(['user', 'set', 'alice@example.com', '--config', cfg, '--attr', 'a=b']);
    assert.equal(cfgUser.code, 5);
    assert.match(cfgUser.stderr, /alice@example\.com is defined in the configuration file; change it there/);
    const badKv = await cli(['user', 'set', 'carol@example.com', '--config', cfg, '--attr', 'noequals']);
    assert.equal(badKv.code, 5);
    assert.match(badKv.stderr, /--attr 'noequals' is not key=value/);
  });

  test('user import: attribute columns by header, plain passwords hashed at import, defaultDomain, configuration users refused', async () => {
    const csv = join(dir, 'u.csv');
    writeFileSync(csv, 'username,domain,password,extension,displayName\ndan,,dan pw,1004,Dan Ü\nerin,example.com,erin pw,,Erin\n');
    const r = await cli(['user', 'import', csv, '--config', cfg, '--format', 'plain']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 2 user/);
    assert.doesNotMatch(r.stderr, /weak/, 'plain passwords are hashed now, not at first login');
    const rows = (await list()).filter((u) => /dan|erin/.test(u.user));
    assert.deepEqual(
      rows.map((u) => [u.user, u.password, u.attributes]),
      [
        ['dan@example.com', 'scrypt', { extension: '1004', displayName: 'Dan Ü' }],
        ['erin@example.com', 'scrypt', { displayName: 'Erin' }],
      ],
    );
    const stored = readFileSync(join(dir, 'state', 'provisiond.sqlite'));
    assert.ok(!stored.includes('dan pw') && !stored.includes('plain:'), 'no clear-text password in the store');
    const f = await startFace(readFileSync(cfg, 'utf8').replace(/stateDir: .*\n/, ''), { stateDir: join(dir, 'state') });
    try {
      const res = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=dan%40example.com&password=dan+pw' });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.body, /acc1\.USER_ID=1004@sip\.example\.com/);
    } finally {
      await f.close();
    }
    const withCfg = join(dir, 'v.csv');
    writeFileSync(withCfg, 'username,domain,password\nfred,example.com,fred pw\nalice,example.com,x\n');
    const refused = await cli(['user', 'import', withCfg, '--config', cfg, '--format', 'plain']);
    assert.equal(refused.code, 5);
    assert.match(refused.stderr, /row 3: alice@example\.com is defined in the configuration file; change it there/);
    assert.ok(!(await list()).some((u) => u.user === 'fred@example.com'), 'with any problem, nothing is imported');
  });
});
