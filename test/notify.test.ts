/**
 * notify.test.ts: Type=notify through the protocol: the test owns an AF_UNIX datagram socket
 * (a tiny /usr/bin/python3 listener), passes it as $NOTIFY_SOCKET to the real executable and
 * checks the messages, in order, around start, a refused reload, an applied reload, the
 * watchdog and the stop.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Running } from './helpers/daemon';
import { Listener, PY, field, notifySkip } from './helpers/notify';

const skip = notifySkip;

describe('sd_notify (Type=notify)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-notify-'));
  const cfgPath = join(dir, 'p.yaml');
  const good = (level: string): string => `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: ${join(dir, 'state')}\nlog: {level: ${level}}\n`;
  let listener: Listener;
  let d: Running;

  before(async () => {
    listener = new Listener(join(dir, 'notify.sock'));
    await listener.wait('LISTENING', 0);
    writeFileSync(cfgPath, good('info'));
    // WATCHDOG_USEC 0.4 s: a ping every 0.2 s.
    d = startDaemon(['run', '--config', cfgPath], [], { ...process.env, NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '400000' });
  });
  after(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    listener.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let at = 0;
  test('READY=1 once every face listens, with MAINPID and a STATUS naming the faces', async () => {
    const i = await listener.wait('READY=1', at);
    const m = listener.messages[i];
    assert.equal(field(m, 'MAINPID'), String(d.child.pid));
    assert.equal(field(m, 'STATUS'), 'serving: http');
    // The HTTP face had logged that it listens before READY=1 was sent.
    assert.match(d.stdout(), /"msg":"provisiond started"/);
    at = i + 1;
  });

  test('WATCHDOG=1 pings every WATCHDOG_USEC/2', async () => {
    const t0 = Date.now();
    const a = await listener.wait('WATCHDOG=1', at);
    const b = await listener.wait('WATCHDOG=1', a + 1);
    assert.ok(Date.now() - t0 < 3000, 'two pings should come within ~0.4 s');
    assert.match(d.stdout(), /"msg":"systemd watchdog enabled"/);
    at = b + 1;
  });

  test('a refused reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 with the problem in STATUS', async () => {
    writeFileSync(cfgPath, 'dhcp:\n  prot: 1\n');
    d.child.kill('SIGHUP');
    const r = await listener.wait('RELOADING=1', at);
    const usec = field(listener.messages[r], 'MONOTONIC_USEC');
    assert.match(usec ?? '', /^\d+$/);
    // CLOCK_MONOTONIC, in microseconds: the same clock as this process's hrtime.
    const now = process.hrtime.bigint() / 1000n;
    assert.ok(BigInt(usec ?? '0') <= now && now - BigInt(usec ?? '0') < 10_000_000n, `MONOTONIC_USEC ${usec} vs now ${now}`);
    const ready = await listener.wait('READY=1', r + 1);
    assert.match(field(listener.messages[ready], 'STATUS') ?? '', /reload rejected: .*dhcp\.prot: unknown key 'prot'/);
    at = ready + 1;
  });

  test('an applied reload: RELOADING=1, then READY=1 saying so', async () => {
    writeFileSync(cfgPath, good('debug'));
    d.child.kill('SIGHUP');
    const r = await listener.wait('RELOADING=1', at);
    const ready = await listener.wait('READY=1', r + 1);
    assert.equal(field(listener.messages[ready], 'STATUS'), 'serving: http; configuration reloaded');
    at = ready + 1;
  });

  test('SIGTERM: STOPPING=1, then exit 0, and no ping after it', async () => {
    d.child.kill('SIGTERM');
    const s = await listener.wait('STOPPING=1', at);
    assert.equal(await d.exited, 0);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!listener.messages.slice(s + 1).some((m) => m.includes('WATCHDOG=1')), JSON.stringify(listener.messages.slice(s)));
  });
});

describe('sd_notify without systemd-notify', { skip: existsSync(PY) ? false : `${PY} is not installed` }, () => {
  test('NOTIFY_SOCKET set but no systemd-notify on PATH: one warning, the daemon serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-notify-'));
    try {
      const cfgPath = join(dir, 'p.yaml');
      writeFileSync(cfgPath, `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: ${join(dir, 'state')}\n`);
      const d = startDaemon(['run', '--config', cfgPath], [], { ...process.env, PATH: dir, NOTIFY_SOCKET: join(dir, 'none.sock') });
      try {
        await d.waitForLog('provisiond started');
        await d.waitForLog(/systemd-notify is not on PATH/);
        d.child.kill('SIGTERM');
        assert.equal(await d.exited, 0);
      } finally {
        if (d.child.exitCode === null) d.child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
