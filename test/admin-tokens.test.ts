import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliWithInput } from './helpers/daemon';
import { HTTP_LOOPBACK, hashPassword, provisioningYaml } from './helpers/prov';
import { openSqliteStore } from '../src/store/sqlite';
import { TokenAuth, parseScopes } from '../src/admin/tokens';

const cli = (args: readonly string[]): ReturnType<typeof cliWithInput> => cliWithInput(args);

describe('token create/list/revoke (the real executable)', () => {
  let dir: string;
  let cfg: string;
  let state: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-tokens-'));
    state = join(dir, 'state');
    const h = await hashPassword('pw', 10);
    cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, `${HTTP_LOOPBACK}stateDir: ${state}\n${provisioningYaml({ alice: h, bob: h })}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('create prints a pvd_ token once (256 bits), the store keeps only its SHA-256; list never shows it; revoke ends it at once', async () => {
    const made = await cli(['token', 'create', '--config', cfg, '--tenant', 'example.com', '--scope', 'write', '--name', 'ci']);
    assert.equal(made.code, 0, made.stderr);
    const token = made.stdout.trim();
    assert.match(token, /^pvd_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(token.slice(4), 'base64url').length, 32);
    assert.match(made.stderr, /shown once.*stored only as a hash/);
    const all = await cli(['token', 'create', '--config', cfg, '--all', '--scope', 'read,secrets']);
    assert.equal(all.code, 0, all.stderr);
    assert.notEqual(all.stdout.trim(), token);

    const list = await cli(['token', 'list', '--config', cfg, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(!list.stdout.includes(token.slice(4)), 'token list printed a token');
    assert.ok(!list.stdout.includes(createHash('sha256').update(token).digest('hex')), 'token list printed a hash');
    const rows = JSON.parse(list.stdout) as { id: string; name: string; tenant: string | null; scopes: string[] }[];
    assert.deepEqual(rows.map((r) => [r.name, r.tenant, r.scopes.join(',')]), [['ci', 'example.com', 'read,write'], ['', null, 'read,secrets']]);
    const table = await cli(['token', 'list', '--config', cfg]);
    assert.match(table.stdout, /ID +NAME +TENANT +SCOPES/);
    assert.match(table.stdout, /\(all\)/);

    const s = openSqliteStore(state);
    try {
      const stored = s.tokens === undefined ? [] : await s.tokens.list();
      assert.equal(stored[0]?.hash, createHash('sha256').update(token).digest('hex'));
      const auth = new TokenAuth(s.tokens ?? assert.fail('no tokens'));
      assert.equal((await auth.resolve(token))?.tenant, 'example.com');
      assert.equal(await auth.resolve(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), undefined, 'a token one character off resolves');
      assert.equal(await auth.resolve('pvd_short'), undefined);
    } finally {
      await s.close();
    }

    const id = rows[0]?.id ?? '';
    const rev = await cli(['token', 'revoke', id, '--config', cfg]);
    assert.equal(rev.code, 0, rev.stderr);
    const again = await cli(['token', 'revoke', id, '--config', cfg]);
    assert.equal(again.code, 5);
    assert.match(again.stderr, /no token with id.*\[PROVD_ERR_TOKEN\]/);
    const s2 = openSqliteStore(state);
    try {
      assert.equal(await new TokenAuth(s2.tokens ?? assert.fail('no tokens')).resolve(token), undefined, 'a revoked token still resolves');
    } finally {
      await s2.close();
    }
  });

  test('refusals: unknown tenant, both or neither of --tenant/--all, a bad scope', async () => {
    const unknown = await cli(['token', 'create', '--config', cfg, '--tenant', 'nope.example', '--scope', 'read']);
    assert.equal(unknown.code, 5);
    assert.match(unknown.stderr, /unknown tenant nope\.example.*\[PROVD_ERR_TOKEN\]/);
    const both = await cli(['token', 'create', '--config', cfg, '--tenant', 'example.com', '--all', '--scope', 'read']);
    assert.equal(both.code, 2);
    const neither = await cli(['token', 'create', '--config', cfg, '--scope', 'read']);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /--tenant T or --all/);
    const scope = await cli(['token', 'create', '--config', cfg, '--all', '--scope', 'admin']);
    assert.equal(scope.code, 5);
    assert.match(scope.stderr, /scope 'admin'.*\[PROVD_ERR_TOKEN\]/);
    assert.equal(unknown.stdout + both.stdout + neither.stdout + scope.stdout, '', 'a refused create printed something on stdout');
  });

  test('parseScopes: write implies read; secrets alone is refused', () => {
    assert.deepEqual(parseScopes('write'), ['read', 'write']);
    assert.deepEqual(parseScopes('read,secrets'), ['read', 'secrets']);
    assert.throws(() => parseScopes('secrets'), /needs read or write/);
    assert.throws(() => parseScopes(''), /needs read or write/);
  });
});
