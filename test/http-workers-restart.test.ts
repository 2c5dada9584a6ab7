/**
 * http-workers-restart.test.ts: with http.workers > 1, dead workers are re-forked with back-off
 * for as long as it takes; a reload while one is down is refused, not reported as applied; and
 * when no worker has served for a while the daemon exits non-zero (issue 10, defect 11). The
 * workers are this test's grandchildren; each is killed by its PID.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { startDaemon, logLines, type Running } from './helpers/daemon';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}


/** workerPids is every worker PID the daemon logged (at start and at each restart). */
function workerPids(d: Running): number[] {
  const out: number[] = [];
  for (const l of logLines(d)) {
    if (l['msg'] === 'HTTP workers serving') out.push(...(l['pids'] as number[]));
    if (l['msg'] === 'HTTP worker restarted') out.push(Number(l['workerPid']));
  }
  return out;
}

describe('http.workers: 2, workers that keep dying', () => {
  let dir: string;
  let cfgPath: string;
  let d: Running;
  let port: number;
  const config = (display: string): string =>
    `dhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${join(dir, 'state')}\nhttp: {host: 127.0.0.1, port: ${port}, workers: 2, rateLimit: {rate: 0}}\n` +
    `provisioning: {tenants: {localdomain: {auth: none, rules: [{subject: default, properties: {net.java.sip.communicator.impl.gui.NAME: "${display}"}}]}}}\n`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-workers-restart-'));
    // A fixed port: with port 0 a pool that was entirely dead would come back on another port.
    port = await freeTcpPort();
    cfgPath = join(dir, 'w.yaml');
    writeFileSync(cfgPath, config('one'));
    d = startDaemon(['run', '--config', cfgPath]);
    await d.waitForLog('HTTP workers serving', 60_000); // workers start one after the other: generous for a loaded CI box
  });
  after(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    for (const p of workerPids(d)) if (alive(p)) process.kill(p, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (): Promise<string> => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/jitsi`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(3000) });
      return `${r.status} ${await r.text()}`;
    } catch (err) {
      return String((err as { cause?: unknown }).cause ?? err);
    }
  };
  /** servedWithin polls (bounded) until a request is answered 200. */
  const servedWithin = async (ms: number): Promise<string> => {
    const t0 = Date.now();
    let last = '';
    while (Date.now() - t0 < ms) {
      last = await get();
      if (last.startsWith('200 ')) return last;
      await sleep(100);
    }
    return last;
  };
  /** liveWorkers: the logged worker PIDs still alive. */
  const liveWorkers = (): number[] => workerPids(d).filter(alive);

  test('both workers killed 4 times in a row (8 deaths in well under a minute): the face comes back each time', async () => {
    for (let round = 1; round <= 4; round++) {
      const pids = liveWorkers();
      assert.equal(pids.length, 2, `round ${round}: two workers alive (${JSON.stringify(pids)})`);
      for (const p of pids) process.kill(p, 'SIGKILL');
      const got = await servedWithin(20_000);
      assert.match(got, /^200 /, `round ${round}: the HTTP face did not come back: ${got}`);
      // Both slots re-forked before the next round (bounded).
      for (let i = 0; i < 200 && liveWorkers().length < 2; i++) await sleep(100);
    }
    assert.equal(d.child.exitCode, null, 'the daemon is still running');
  });

  test('a reload while a worker is down is refused (not reported as applied), and works once it is back', async () => {
    const [victim] = liveWorkers();
    assert.ok(victim !== undefined);
    const died = logLines(d).filter((l) => l['msg'] === 'HTTP worker died').length;
    process.kill(victim, 'SIGKILL');
    for (let i = 0; i < 100 && logLines(d).filter((l) => l['msg'] === 'HTTP worker died').length === died; i++) await sleep(50);
    // The slot's back-off has grown over the previous test: the worker stays down for seconds.
    const reloadedBefore = logLines(d).filter((l) => l['msg'] === 'configuration reloaded').length;
    writeFileSync(cfgPath, config('two'));
    d.child.kill('SIGHUP');
    const refused = await d.waitForLog('reload could not be applied; still serving the previous configuration', 10_000);
    assert.match(String(refused['err']), /worker/);
    assert.equal(logLines(d).filter((l) => l['msg'] === 'configuration reloaded').length, reloadedBefore, 'no success reported');
    // Once both serve again, the same reload goes through.
    for (let i = 0; i < 300 && liveWorkers().length < 2; i++) await sleep(100);
    await sleep(500);
    d.child.kill('SIGHUP');
    for (let i = 0; i < 100 && logLines(d).filter((l) => l['msg'] === 'configuration reloaded').length === reloadedBefore; i++) await sleep(100);
    assert.match(await servedWithin(5000), /NAME=two/);
  });

  test('when no worker has served for 15 s the daemon exits non-zero with PROVD_ERR_HTTP_WORKER (systemd restarts it)', async () => {
    // Kill every worker, and every re-forked one as soon as it is logged; bounded to 60 s.
    const t0 = Date.now();
    let exited: number | string | undefined;
    void d.exited.then((c) => (exited = c));
    while (exited === undefined && Date.now() - t0 < 60_000) {
      for (const p of liveWorkers()) process.kill(p, 'SIGKILL');
      await sleep(50);
    }
    assert.notEqual(exited, undefined, `the daemon still runs after ${Date.now() - t0} ms without a worker`);
    assert.equal(exited, 3, `exit ${String(exited)}; stderr:\n${d.stderr().slice(-3000)}\nlast log lines:\n${logLines(d).slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    const fatal = logLines(d).find((l) => l['code'] === 'PROVD_ERR_HTTP_WORKER' && l['level'] === 'fatal');
    assert.ok(fatal, 'a fatal line with the code');
    assert.match(d.stderr(), /PROVD_ERR_HTTP_WORKER/);
  });
});
