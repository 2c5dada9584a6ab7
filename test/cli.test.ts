import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { decode } from '../src/dhcp/codec';
import { startDaemon, runCli, freeUdpPort, type Running } from './helpers/daemon';
import { jitsiInform } from './helpers/jitsi';

const ROOT = join(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'provisiond-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('CLI', () => {
  test('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), (require(join(ROOT, 'package.json')) as { version: string }).version);
  });

  test('--help lists the commands', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /provisiond run/);
    assert.match(r.stdout, /provisiond check-config/);
  });

  for (const args of [['bogus'], ['run', 'extra'], ['--nope'], ['check-config', '--config', 'a', 'b'], ['check-config']]) {
    test(`usage error exits 2: provisiond ${args.join(' ')}`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /\[PROVD_ERR_USAGE\]/);
    });
  }

  test('check-config accepts the shipped example', async () => {
    const r = await runCli(['check-config', '--config', join(ROOT, 'config', 'provisiond.example.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration is valid/);
  });

  test('check-config lists every problem and exits 1', async () => {
    const p = file('bad.yaml', 'dhcp:\n  prot: 1\n  url: nope\nmdsn: {}\n');
    const r = await runCli(['check-config', '--config', p]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid configuration \(3 problems\) \[PROVD_ERR_CONFIG_INVALID\]/);
    assert.match(r.stderr, /bad\.yaml:2:3: dhcp\.prot: unknown key 'prot'; did you mean 'port'\?/);
    assert.match(r.stderr, /bad\.yaml:3:8: dhcp\.url: must be an absolute/);
    assert.match(r.stderr, /bad\.yaml:4:1: mdsn: unknown key 'mdsn'; did you mean 'mdns'\?/);
  });

  test('check-config on a missing file exits 1 naming it', async () => {
    const r = await runCli(['check-config', '--config', join(dir, 'absent.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read configuration file .*absent\.yaml.*\[PROVD_ERR_CONFIG_READ\]/);
  });

  test('run with an invalid config exits 1 before binding anything', async () => {
    const r = await runCli(['run', '--config', file('bad2.yaml', 'dhcp: {port: -1}\n')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dhcp\.port: must be 0-65535/);
  });

  test('a port in use is a startup failure: exit 3, one line naming the cause', async () => {
    const holder = createSocket('udp4');
    holder.bind(0, '127.0.0.1');
    await once(holder, 'listening');
    const port = holder.address().port;
    try {
      const cfg = file('busy.yaml', `dhcp: {port: ${port}, interfaces: [lo]}\nmdns: {enabled: false}\nhttp: {enabled: false}\n`);
      const r = await runCli(['run', '--config', cfg]);
      assert.equal(r.code, 3);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] ?? '', new RegExp(`dhcp\\.port ${port}/udp is already in use .*\\[PROVD_ERR_DHCP_BIND\\]`));
    } finally {
      holder.close();
    }
  });

  test('an unknown interface is a startup failure: exit 3 naming it', async () => {
    const cfg = file('ifname.yaml', 'dhcp: {port: 0, interfaces: [nosuch0]}\nmdns: {enabled: false}\nhttp: {enabled: false}\n');
    const r = await runCli(['run', '--config', cfg]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /dhcp\.interfaces: interface 'nosuch0' does not exist .*\[PROVD_ERR_DHCP_INTERFACE\]/);
  });
});

describe('signals during startup', () => {
  test('SIGUSR1 and SIGHUP sent while the daemon starts are its own (counters, reload), not Node\'s defaults', async () => {
    const cfgPath = file('early.yaml', `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: ${join(dir, 'early-state')}\n`);
    const d = startDaemon(['run', '--config', cfgPath]);
    try {
      await d.waitForLog('provisiond starting');
      // Right after the first line, while the faces are still being started: before the fix,
      // SIGUSR1 started Node's inspector on 127.0.0.1:9229 and SIGHUP ended the process.
      d.child.kill('SIGUSR1');
      d.child.kill('SIGHUP');
      await d.waitForLog('provisiond started');
      await d.waitForLog('counters');
      await d.waitForLog('configuration reloaded');
      assert.equal(d.child.exitCode, null);
      assert.doesNotMatch(d.stderr(), /Debugger listening/);
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });
});

describe('daemon lifecycle: SIGHUP reload and SIGTERM', () => {
  let d: Running;
  let client: Socket;
  let port: number;
  let cfgPath: string;
  const replies: Buffer[] = [];
  const cfg = (url: string): string =>
    `dhcp:\n  port: ${port}\n  replyPort: ${client.address().port}\n  interfaces: [lo]\n  url: "${url}"\nmdns: {enabled: false}\nhttp: {enabled: false}\nlog: {level: debug}\n`;

  before(async () => {
    client = createSocket('udp4');
    client.on('message', (m) => replies.push(m));
    client.bind(0, '127.0.0.1');
    await once(client, 'listening');
    port = await freeUdpPort();
    cfgPath = file('live.yaml', cfg('http://one.example/jitsi'));
    d = startDaemon(['run', '--config', cfgPath]);
    await d.waitForLog('provisiond started');
  });
  after(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    client.close();
  });

  async function ask(xid: number): Promise<string> {
    replies.length = 0;
    client.send(jitsiInform({ xid, ciaddr: [127, 0, 0, 1], mac: [2, 1, 1, 1, 1, 1] }), port, '127.0.0.1');
    for (let i = 0; i < 50 && replies.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const reply = replies[0];
    assert.ok(reply, 'no DHCPACK within 1 s');
    const m = decode(reply);
    assert.ok(m.ok);
    return m.ok ? (m.message.options.get(224)?.toString() ?? '') : '';
  }

  test('serves the configured URL', async () => {
    assert.equal(await ask(1), 'http://one.example/jitsi');
  });

  test('SIGHUP with a broken file logs every problem and keeps serving the old config', async () => {
    writeFileSync(cfgPath, 'dhcp:\n  prot: 1\n  url: nope\n');
    d.child.kill('SIGHUP');
    const rejected = await d.waitForLog('reload rejected; still serving the previous configuration');
    assert.equal(rejected['problems'], 2);
    assert.match(d.stdout(), /dhcp\.prot: unknown key 'prot'/);
    assert.match(d.stdout(), /dhcp\.url: must be an absolute/);
    assert.equal(await ask(2), 'http://one.example/jitsi');
  });

  test('SIGHUP with a valid file applies it', async () => {
    writeFileSync(cfgPath, cfg('http://two.example/jitsi'));
    d.child.kill('SIGHUP');
    await d.waitForLog('configuration reloaded');
    assert.equal(await ask(3), 'http://two.example/jitsi');
  });

  test('SIGTERM closes gracefully within 5 s with exit 0', async () => {
    const t0 = Date.now();
    d.child.kill('SIGTERM');
    const code = await d.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 5000);
    assert.match(d.stdout(), /"msg":"provisiond stopped"/);
  });
});
