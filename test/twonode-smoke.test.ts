/**
 * twonode-smoke.test.ts: the two-node bench (bench/storm/twonode.ts, issue 16 item 5) end to end
 * at a tiny size: 20 clients at ln=10, two nodes on one PostgreSQL behind nginx in namespaces,
 * then one node. Checked: every client gets its own document in every measured pass of both
 * configurations; after node A (and the single node) restarts, it answers the warm pass from the
 * remembered rows (no KDF run); the ban made on node A refuses the client on node B and through
 * nginx, and `bans lift` on A ends it on B. Only counts and statuses, never a time. Skips where
 * the machine has no namespaces, nginx or PostgreSQL (scripts/install-test-deps.sh).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { labSkipReason } from './helpers/mdns-lab';

const RUN = join(__dirname, '..', 'bench', 'storm', 'twonode.js');

function skipReason(): string | false {
  const lab = labSkipReason({ avahi: false });
  if (lab !== false) return lab;
  if (!existsSync('/usr/sbin/nginx')) return 'nginx is not installed (Debian nginx-light: bash scripts/install-test-deps.sh)';
  if (!existsSync('/usr/lib/postgresql')) return 'PostgreSQL is not installed (Debian postgresql: bash scripts/install-test-deps.sh)';
  return false;
}

function runBench(args: readonly string[], ms: number): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => c.kill('SIGTERM'), ms);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

interface PassJson {
  readonly name: string;
  readonly ok: number;
  readonly errors: Record<string, number>;
  readonly nodes: Record<string, { kdfRuns: number; rememberedHits: number }>;
}

test('two-node bench: 20 clients through nginx to 2 nodes on one PostgreSQL, then 1 node; remembered logins and bans hold across nodes', async (t) => {
  const skip = skipReason();
  if (skip !== false) return t.skip(skip);
  const r = await runBench(['20', '10', '0', '--no-record', '--deadline=60'], 240_000);
  assert.equal(r.code, 0, `exit ${String(r.code)}\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.split('\n');
  const header = lines.filter((l) => l.startsWith('# ')).join('\n');
  assert.match(header, /dhcp\.enabled, mdns\.enabled: on → off: /, 'the header says what the bench turns off');
  assert.match(header, /# bans across nodes: .*→ effective on both nodes/);
  assert.match(header, /# ratio 2 nodes \/ 1 node: cold: throughput ×[\d.]+, p99 ×[\d.]+/);
  const json = JSON.parse(lines.find((l) => l.startsWith('{')) ?? '{}') as { pair: PassJson[]; single: PassJson[]; bans: { effective: boolean; onA: string; viaLb: string[]; afterLiftB: string } };
  for (const [config, passes] of [['pair', json.pair], ['single', json.single]] as const) {
    assert.deepEqual(passes.map((p) => p.name), ['cold', 'warm', `warm after restarting node ${config === 'pair' ? 'A' : 'S'}`]);
    for (const p of passes) assert.deepEqual([p.ok, p.errors], [20, {}], `${config} ${p.name}: every client served its own document`);
    const restarted = passes[2]?.nodes[config === 'pair' ? 'A' : 'S'];
    assert.equal(restarted?.kdfRuns, 0, `${config}: the restarted node ran no KDF`);
    assert.ok((restarted?.rememberedHits ?? 0) > 0, `${config}: it answered from the remembered rows`);
  }
  const kdfCold = Object.values(json.pair[0]?.nodes ?? {}).map((n) => n.kdfRuns);
  assert.ok(kdfCold.every((k) => k > 0), 'round-robin: both nodes verified logins in the cold pass');
  assert.equal(json.bans.effective, true);
  assert.equal(json.bans.onA, '429');
  assert.deepEqual(json.bans.viaLb, ['429', '429']);
  assert.equal(json.bans.afterLiftB, '200');
});
