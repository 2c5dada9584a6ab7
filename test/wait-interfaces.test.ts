/**
 * wait-interfaces.test.ts: `run --wait-interfaces S` (the unit passes 60): a configured
 * interface that has no IPv4 address yet is waited for (bounded, one warn line) instead of a
 * startup failure; past the bound the usual exit 3. In a network namespace of the test's own,
 * with a veth pair (both ends inside it) whose address the test adds late.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, netnsSkipReason, ip, sleep } from './helpers/netns';
import { startDaemon, runCli } from './helpers/daemon';
import { Listener, field, notifySkip } from './helpers/notify';

const skip = netnsSkipReason() ?? false;
const dir = mkdtempSync(join(tmpdir(), 'provisiond-waitif-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('run --wait-interfaces', { skip }, () => {
  const lab = new NetnsLab('pvw');
  after(async () => void (await lab.destroy()));

  test('waits for a configured interface to get its address, then starts', async () => {
    const ns = lab.addNamespace('a');
    ip('-n', ns, 'link', 'add', 'dum0', 'type', 'veth', 'peer', 'name', 'dum0p');
    ip('-n', ns, 'link', 'set', 'dum0', 'up');
    ip('-n', ns, 'link', 'set', 'dum0p', 'up');
    const cfg = join(dir, 'a.yaml');
    writeFileSync(cfg, `dhcp: {port: 6767, interfaces: [dum0]}\nmdns: {enabled: false}\nhttp: {enabled: false}\nstateDir: ${join(dir, 'state-a')}\n`);
    // With a notification socket where the machine allows it: STATUS= names the interface, READY=1 only once started.
    const listener = notifySkip === false ? new Listener(join(dir, 'a.sock')) : undefined;
    if (listener) await listener.wait('LISTENING', 0);
    const env = listener ? { ...process.env, NOTIFY_SOCKET: listener.path } : process.env;
    const d = startDaemon(['run', '--config', cfg, '--wait-interfaces', '20'], ['ip', 'netns', 'exec', ns], env);
    try {
      const waiting = await d.waitForLog('waiting for the configured interfaces to get an IPv4 address');
      assert.equal(waiting['level'], 'warn');
      assert.deepEqual(waiting['interfaces'], ['dum0']);
      await sleep(700);
      assert.doesNotMatch(d.stdout(), /provisiond started/, 'no start before the address');
      assert.equal(d.child.exitCode, null);
      if (listener) {
        await listener.wait(/^STATUS=waiting up to 20 s for dum0 to get an IPv4 address$/, 1);
        assert.ok(!listener.messages.some((m) => m.includes('READY=1')), 'no READY=1 while waiting');
      }
      ip('-n', ns, 'addr', 'add', '10.77.9.1/24', 'dev', 'dum0');
      await d.waitForLog('the configured interfaces have their addresses');
      await d.waitForLog('provisiond started');
      if (listener) assert.equal(field(listener.messages[await listener.wait('READY=1', 1)], 'STATUS'), 'serving: dhcp');
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
      listener?.close();
    }
  });

  test('past the bound: the usual startup failure, exit 3 naming the interface', async () => {
    const ns = lab.addNamespace('b');
    ip('-n', ns, 'link', 'add', 'dum1', 'type', 'veth', 'peer', 'name', 'dum1p');
    const cfg = join(dir, 'b.yaml');
    writeFileSync(cfg, `dhcp: {port: 6767, interfaces: [dum1]}\nmdns: {enabled: false}\nhttp: {enabled: false}\nstateDir: ${join(dir, 'state-b')}\n`);
    const t0 = Date.now();
    const d = startDaemon(['run', '--config', cfg, '--wait-interfaces', '1'], ['ip', 'netns', 'exec', ns]);
    const code = await d.exited;
    assert.equal(code, 3, d.stdout() + d.stderr());
    assert.ok(Date.now() - t0 >= 1000, 'it waited');
    assert.match(d.stdout(), /"msg":"gave up waiting for the configured interfaces"/);
    assert.match(d.stderr(), /interface 'dum1' does not exist or has no IPv4 address .*\[PROVD_ERR_DHCP_INTERFACE\]/);
  });
});

test('--wait-interfaces is bounded: a negative or huge value is a usage error', async () => {
  for (const v of ['-1', '100000']) {
    const r = await runCli(['run', '--wait-interfaces', v]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--wait-interfaces must be 0-600 seconds \[PROVD_ERR_USAGE\]/);
  }
});
