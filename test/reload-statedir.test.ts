/**
 * reload-statedir.test.ts: a reload that changes `stateDir` changes nothing until restart (the
 * store and the security event log stay in the running one) and says so once; through the
 * executable and SIGHUP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon';

test('a reload that changes stateDir keeps the store and the event log where they are, and warns once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-statedir-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const cfgPath = join(dir, 'p.yaml');
  const cfg = (stateDir: string, level: string): string =>
    `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: ${stateDir}\nlog: {level: ${level}}\n`;
  writeFileSync(cfgPath, cfg(a, 'info'));
  const d = startDaemon(['run', '--config', cfgPath]);
  try {
    await d.waitForLog('provisiond started');
    assert.ok(existsSync(join(a, 'provisiond.sqlite')), 'the store opens in the first stateDir');
    assert.ok(existsSync(join(a, 'security.log')), 'the event log opens in the first stateDir');
    const reloads = (): number => d.stdout().split('\n').filter((l) => l.includes('"msg":"configuration reloaded"')).length;
    const warns = (): string[] => d.stdout().split('\n').filter((l) => l.includes('stateDir changes take effect at the next restart'));
    // Two reloads to the new stateDir: both applied ("configuration reloaded"), one warning.
    for (const [i, level] of [[1, 'info'], [2, 'debug']] as const) {
      writeFileSync(cfgPath, cfg(b, level));
      d.child.kill('SIGHUP');
      for (let t = 0; t < 100 && reloads() < i; t++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(reloads(), i, d.stdout());
    }
    assert.equal(existsSync(b), false, 'nothing is created in the new stateDir before a restart');
    const w = warns();
    assert.equal(w.length, 1, `one warning, got:\n${w.join('\n')}`);
    const line = JSON.parse(w[0] ?? '{}') as Record<string, unknown>;
    assert.equal(line['level'], 'warn');
    assert.equal(line['stateDir'], a);
    assert.equal(line['next'], b);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  } finally {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
