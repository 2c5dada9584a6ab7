/**
 * storm-smoke.test.ts: the storm bench end to end at a tiny size: `bench/storm/run.js 20 cold 10 200
 * --loopback --no-record` starts a real provisiond on loopback and 2 generator processes, and
 * every one of the 20 clients must get its own user's document. Only counts and the report's
 * shape are checked, never a time. The fast KDF (ln=10) is for this smoke only; the bench itself
 * defaults to the product's cost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const RUN = join(__dirname, '..', 'bench', 'storm', 'run.js');

function runBench(args: readonly string[], ms: number): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => c.kill('SIGKILL'), ms);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

interface StageJson {
  readonly n: number;
  readonly failed: number;
  readonly p50: number;
  readonly p99: number;
}

test('storm bench on loopback: 20 cold clients, each gets its own user’s document; the report names the defaults it turns off', async () => {
  const r = await runBench(['20', 'cold', '10', '200', '--loopback', '--no-record', '--generators=2', '--deadline=60'], 90_000);
  assert.equal(r.code, 0, `exit ${String(r.code)}\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.split('\n');
  const header = lines.filter((l) => l.startsWith('# ')).join('\n');
  assert.match(header, /scrypt ln=10 r=8 p=1 \(product default ln=15\)/);
  for (const key of ['dhcp.rateLimit.rate', 'http.rateLimit.rate', 'http.maxConnectionsPerSource', 'devices.maxNewPerSourcePerHour', 'provisioning.passwords.scryptCost']) {
    assert.match(header, new RegExp(`#   ${key.replace(/\./g, '\\.')}: .* → .*: `), `the header says why ${key} changes`);
  }
  assert.match(header, /one source address/);
  assert.match(header, /# measured pass \(cold\): 20\/20 ok, 0 wrong user's document, errors: none/);
  assert.match(header, /DHCP INFORM→ACK: p50 .*; \d+ INFORMs resent/);

  const jsonLine = lines.find((l) => l.startsWith('{'));
  assert.ok(jsonLine, 'one JSON line');
  const out = JSON.parse(jsonLine) as Record<string, unknown>;
  assert.equal(out['n'], 20);
  assert.equal(out['ok'], 20);
  assert.deepEqual(out['errors'], {});
  assert.equal(out['wrongDocuments'], 0);
  for (const k of ['dhcp', 'http', 'client'] as const) {
    const s = out[k] as StageJson;
    assert.equal(s.n, 20, `${k}: every client is in the percentiles`);
    assert.equal(s.failed, 0);
    assert.ok(s.p50 > 0 && s.p50 <= s.p99);
  }
  assert.equal(typeof out['informResends'], 'number');
  assert.equal(typeof out['daemon'], 'object', 'the daemon counters of the pass are kept');
  assert.equal(out['warmup'], undefined, 'a cold storm has no warm-up pass');
  // The theoretical maximum beside the result, from the daemon's own pool counters: 20 checks,
  // none refused, so no thread time can have been missed.
  assert.match(header, /# theoretical maximum: \d+ KDF thread\(s\) × .* = \d+ of 20; provisioned 20/);
  assert.match(header, /the daemon's check: KDF thread time left free while a refused client could still have been answered: 0 ms \(0 runs\)/);
  const th = out['theoretical'] as { how: string; runs: number; provisioned: number; missedMs: number; threads: number };
  assert.deepEqual({ how: th.how, runs: th.runs, provisioned: th.provisioned, missedMs: th.missedMs }, { how: 'pool', runs: 20, provisioned: 20, missedMs: 0 });
  assert.ok(th.threads >= 1);
  const row = lines.find((l) => l.startsWith('| 20 | cold | ln=10 |'));
  assert.ok(row, 'the Markdown row');
});
