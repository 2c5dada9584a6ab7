import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Running } from './helpers/daemon';
import { listenBacklogs } from './helpers/listen';
import { BODY_HEAD, DOC_PASSWORD, hashPassword, provisioningYaml } from './helpers/prov';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('http.workers: 2 (worker processes sharing the port)', () => {
  let dir: string;
  let cfgPath: string;
  let d: Running;
  let port: number;
  let pids: number[];
  const config = (hashes: { alice: string; bob: string }, display: string): string =>
    `dhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${join(dir, 'state')}\nhttp: {host: 127.0.0.1, port: 0, workers: 2, backlog: 300, rateLimit: {rate: 0}}\n` +
    provisioningYaml(hashes).replace('"Alice Ł"', `"${display}"`);
  let hashes: { alice: string; bob: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-workers-'));
    hashes = { alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob', 10) };
    cfgPath = join(dir, 'w.yaml');
    writeFileSync(cfgPath, config(hashes, 'Alice One'));
    d = startDaemon(['run', '--config', cfgPath]);
    const line = await d.waitForLog('HTTP workers serving', 60_000); // workers start one after the other: generous for a loaded CI box
    port = Number(line['port']);
    pids = line['pids'] as number[];
  });
  after(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    for (const p of pids ?? []) if (alive(p)) process.kill(p, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://127.0.0.1:${port}/jitsi`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' }, body: BODY_HEAD });
    return { status: r.status, body: await r.text() };
  };

  test('both workers serve the same port and the same document', async () => {
    assert.equal(pids.length, 2);
    assert.ok(port > 0);
    const bodies = await Promise.all(Array.from({ length: 8 }, () => post()));
    assert.ok(bodies.every((b) => b.status === 200));
    assert.equal(new Set(bodies.map((b) => b.body)).size, 1);
    assert.match(bodies[0]?.body ?? '', /DISPLAY_NAME=Alice One/);
  });

  test('the shared listening socket has the http.backlog accept queue', () => {
    assert.deepEqual(listenBacklogs(port), [300]);
  });

  test('SIGHUP reaches every worker', async () => {
    writeFileSync(cfgPath, config(hashes, 'Alice Two'));
    d.child.kill('SIGHUP');
    await d.waitForLog('configuration reloaded');
    const bodies = await Promise.all(Array.from({ length: 8 }, () => post()));
    for (const b of bodies) assert.match(b.body, /DISPLAY_NAME=Alice Two/);
  });

  test('SIGTERM stops the workers too', async () => {
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0);
    for (let i = 0; i < 50 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(pids.filter(alive), []);
    assert.match(d.stdout(), /"workers":0/);
  });
});
