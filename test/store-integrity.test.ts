/**
 * Issue 10, defect 18 (store item): a store corrupted past its header must not start silently
 * (and then log one error per request): the daemon runs a quick integrity check at start and
 * refuses to start, exit 3, with one PROVD_ERR_STORE line naming the file and what to do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from '../src/store/driver';
import { openSqliteStore, STORE_FILE } from '../src/store/sqlite';
import { runCli } from './helpers/daemon';

const config = (state: string): string =>
  `stateDir: ${state}\nhttp: {host: 127.0.0.1, port: 0}\ndhcp: {enabled: false}\nmdns: {enabled: false}\n` +
  'provisioning:\n  tenants:\n    localdomain:\n      auth: none\n      rules: [{subject: default, properties: {k.a: v}}]\n';

/** fillStore writes a user and enough devices for that table to span many pages, then closes (checkpointing the WAL). */
async function fillStore(state: string): Promise<void> {
  const s = openSqliteStore(state);
  await s.users.add({ domain: 'localdomain', name: 'alice', passwordHash: 'plain:x' });
  for (let i = 0; i < 400; i++) {
    (await s.devices.upsert({
      key: `uuid:dev-${i}`,
      uuid: `dev-${i}`,
      hwaddr: null,
      ip: '192.0.2.1',
      hostname: `host-${i}-${'h'.repeat(60)}`,
      osname: 'Linux',
      arch: null,
      build: null,
      userAgent: null,
      username: null,
      tenant: 'localdomain',
      outcome: '200 ok',
      at: new Date().toISOString(),
    }));
  }
  s.close();
}

test('a store corrupted past its header: the daemon refuses to start (exit 3, PROVD_ERR_STORE naming the file)', async () => {
  const state = mkdtempSync(join(tmpdir(), 'provisiond-corrupt-'));
  try {
    await fillStore(state);
    const file = join(state, STORE_FILE);
    const pages = statSync(file).size / 4096;
    assert.ok(pages >= 8, `the store spans ${pages} pages`);
    // A full leaf page of the devices table: the header, the schema and the users are intact, so
    // the daemon used to start silently and then fail at every inventory write.
    const before = new Database(file, { readonly: true });
    const leaves = before.prepare<[], { pageno: number }>("SELECT pageno FROM dbstat WHERE name = 'devices' AND pagetype = 'leaf' ORDER BY pageno").all();
    before.close();
    const leaf = leaves[Math.floor(leaves.length / 2)]?.pageno ?? 0;
    assert.ok(leaves.length >= 4 && leaf > 1, `devices leaf pages: ${leaves.map((l) => l.pageno).join(',')}`);
    // Overwrite the middle of that page (past its page header), as a bad sector or a stray write would.
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(1024, 0xa5), 0, 1024, (leaf - 1) * 4096 + 1536);
    closeSync(fd);
    // The header is intact: the file still opens and reports its schema version (what let it start before).
    const raw = new Database(file, { readonly: true });
    assert.ok(Number(raw.pragma('user_version', { simple: true })) > 0);
    assert.equal(raw.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users').get()?.n, 1);
    assert.throws(() => raw.prepare('SELECT * FROM devices').all(), /malformed|corrupt/, 'the corruption is real');
    raw.close();

    const cfgPath = join(state, 'provisiond.yaml');
    writeFileSync(cfgPath, config(state));
    const r = await runCli(['run', '--config', cfgPath], 15_000);
    assert.equal(r.code, 3, `exit code; stderr:\n${r.stderr}\nstdout:\n${r.stdout.slice(0, 2000)}`);
    const lines = r.stderr.split('\n').filter((l) => l.includes('PROVD_ERR_STORE'));
    assert.equal(lines.length, 1, r.stderr);
    const line = lines[0] ?? '';
    assert.ok(line.includes(file), `the line names the file: ${line}`);
    assert.match(line, /integrity|corrupt/i);
    assert.match(line, /restore|backup|\.recover/i, 'the line says what to do');
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test('an intact store passes the start check: the daemon starts and serves', async () => {
  const state = mkdtempSync(join(tmpdir(), 'provisiond-intact-'));
  try {
    await fillStore(state);
    const cfgPath = join(state, 'provisiond.yaml');
    writeFileSync(cfgPath, config(state));
    const { startDaemon } = await import('./helpers/daemon');
    const d = startDaemon(['run', '--config', cfgPath]);
    try {
      await d.waitForLog('provisiond started', 20_000);
    } finally {
      d.child.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});
