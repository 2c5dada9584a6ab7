/**
 * probe-netns.test.ts: `provisiond probe` end to end, only inside two network namespaces this
 * test creates (names carry the PID; always deleted). The server namespace runs
 *   1. provisiond with its DHCP, mDNS and HTTP faces, then
 *   2. ISC dhcpd (`-p 6767`, option 224) + avahi-daemon publishing "Provisioning URL" + a PHP
 *      provisioning script (test/fixtures/provisioning.php) under PHP's built-in server,
 * and the probe runs in the client namespace. Each piece is then stopped in turn and the probe
 * must fail naming that step. Skips with a message when not root or a tool is missing.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Lab, ROOT, labSkipReason, type Proc } from './helpers/mdns-lab';
import { startDaemon, MAIN, type Running } from './helpers/daemon';
import { provisioningYaml, hashPassword, DOC_PASSWORD } from './helpers/prov';

const skip =
  labSkipReason() ||
  (existsSync('/usr/sbin/dhcpd') ? false : 'ISC dhcpd (isc-dhcp-server) is not installed') ||
  (spawnSync('php', ['--version']).status === 0 ? false : 'php (php-cli) is not installed');
const PHP_SCRIPT = join(ROOT, 'test', 'fixtures', 'provisioning.php');

interface ProbeRun {
  readonly code: number | string;
  readonly report: { ok: boolean; failed?: string; steps: { step: string; ok: boolean; summary: string; findings: Record<string, unknown> }[] };
  readonly stderr: string;
}

describe('provisiond probe in network namespaces', { skip }, () => {
  const lab = new Lab('p', 1, 236);
  const l = lab.links[0] as (typeof lab.links)[0];
  const daemons: Running[] = [];
  let provisioning = '';

  /** probe runs `provisiond probe --json` in the client namespace, password on stdin; bounded, killed by PID. */
  const probe = (args: readonly string[], password = DOC_PASSWORD): Promise<ProbeRun> =>
    new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', lab.cli, process.execPath, MAIN, 'probe', '--json', '--interface', l.cliIf, '--username', 'alice@example.com', '--password-stdin', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdin.end(`${password}\n`);
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        try {
          resolve({ code: code ?? sig ?? -1, report: JSON.parse(out) as ProbeRun['report'], stderr: err });
        } catch (e) {
          reject(new Error(`probe printed no JSON (exit ${code ?? sig}): ${out}\n${err}\n${String(e)}`));
        }
      });
    });
  const config = (name: string, text: string): string => {
    const p = join(lab.dir, name);
    writeFileSync(p, text);
    return p;
  };
  const start = async (cfg: string, waitFor: string | RegExp): Promise<Running> => {
    const d = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', lab.srv]);
    daemons.push(d);
    await d.waitForLog(waitFor, 20_000);
    return d;
  };
  const stop = async (d: Running): Promise<void> => {
    if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM');
    await d.exited;
  };

  before(async () => {
    lab.up();
    spawnSync('ip', ['-n', lab.cli, 'route', 'add', '255.255.255.255/32', 'dev', l.cliIf]);
    spawnSync('ip', ['-n', lab.srv, 'route', 'add', '255.255.255.255/32', 'dev', l.srvIf]);
    const hashes = { alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob', 10) };
    provisioning = provisioningYaml(hashes);
  });
  after(async () => {
    for (const d of daemons) await stop(d);
    await lab.down();
  });

  describe('against provisiond (DHCP, mDNS and HTTP faces)', () => {
    let d: Running;
    before(async () => {
      const cfg = config('pd.yaml', `dhcp:\n  interfaces: [${l.srvIf}]\nmdns:\n  hostname: provtest\nhttp: {host: 0.0.0.0, rateLimit: {rate: 0}}\nstateDir: ${join(lab.dir, 'state-pd')}\nlog: {level: debug}\n${provisioning}`);
      d = await start(cfg, 'mDNS face advertising');
    });
    after(async () => stop(d));

    test('--method dhcp: every step succeeds, with the server, URL, status and properties reported', { timeout: 60_000 }, async () => {
      const r = await probe(['--method', 'dhcp']);
      assert.equal(r.code, 0, JSON.stringify(r.report, null, 1) + r.stderr);
      assert.deepEqual(r.report.steps.map((s) => s.step), ['dhcp', 'url', 'http', 'properties']);
      const dhcp = r.report.steps[0];
      assert.equal(dhcp?.findings['server'], `${l.srvIp}:6767`);
      assert.match(String(dhcp?.findings['url']), new RegExp(`^http://${l.srvIp.replace(/\./g, '\\.')}:8667/jitsi\\?username=\\$\\{username\\}`));
      const url = r.report.steps[1];
      assert.equal(url?.findings['target'], `http://${l.srvIp}:8667/jitsi`);
      assert.equal(url?.findings['credentialsRequested'], true);
      assert.equal(url?.findings['ipaddr'], l.cliIp);
      const props = r.report.steps[3];
      assert.ok(Number(props?.findings['properties']) >= 3, JSON.stringify(props));
    });

    test('--method bonjour: resolves Provisioning URL over mDNS and fetches it', { timeout: 60_000 }, async () => {
      const r = await probe(['--method', 'bonjour']);
      assert.equal(r.code, 0, JSON.stringify(r.report, null, 1) + r.stderr);
      const b = r.report.steps[0];
      assert.equal(b?.step, 'bonjour');
      assert.equal(b?.findings['type'], '_http._tcp');
      assert.match(String(b?.findings['url']), new RegExp(`^http://${l.srvIp.replace(/\./g, '\\.')}:8667/jitsi\\?`));
      assert.equal(r.report.steps[2]?.findings['status'], 200);
    });

    test('a wrong password fails at the http step (403/401) with exit code 13', { timeout: 60_000 }, async () => {
      const r = await probe(['--method', 'dhcp'], 'not the password');
      assert.equal(r.code, 13, JSON.stringify(r.report));
      assert.equal(r.report.failed, 'http');
      assert.match(r.stderr, /failed at step http.*\[PROVD_ERR_PROBE\]/);
    });
  });

  describe('against ISC dhcpd + avahi-daemon + a PHP provisioning script', () => {
    let dhcpd: Proc;
    let avahi: Proc;
    let php: Proc;
    const PORT = 8680;
    const url = `http://${l.srvIp}:${PORT}/jitsi?user=\${username}&password=\${password}&uuid=\${uuid}&hw=\${hwaddr}&os=\${osname}`;
    before(async () => {
      php = lab.spawn(lab.srv, ['php', '-S', `${l.srvIp}:${PORT}`, PHP_SCRIPT], { ...process.env, PROV_PASSWORD: DOC_PASSWORD });
      if (!(await php.waitFor(/Development Server .* started/, 15_000))) throw new Error(`php -S did not start:\n${php.lines.join('\n')}`);
      const conf = config(
        'dhcpd.conf',
        `option jitsi-provisioning-url code 224 = text;\nauthoritative;\nddns-update-style none;\nsubnet ${l.srvIp.replace(/\.1$/, '.0')} netmask 255.255.255.0 {\n  option jitsi-provisioning-url "${url}";\n}\n`,
      );
      const leases = join(lab.dir, 'dhcpd.leases');
      writeFileSync(leases, '');
      dhcpd = lab.spawn(lab.srv, ['/usr/sbin/dhcpd', '-f', '-d', '-4', '-p', '6767', '-cf', conf, '-lf', leases, '-pf', join(lab.dir, 'dhcpd.pid'), l.srvIf]);
      const up = await dhcpd.waitFor(/Sending on|Server starting service/, 15_000);
      if (!up) throw new Error(`dhcpd did not start:\n${dhcpd.lines.join('\n')}`);
      const service = `<?xml version="1.0" standalone='no'?>\n<!DOCTYPE service-group SYSTEM "avahi-service.dtd">\n<service-group>\n  <name>Provisioning URL</name>\n  <service>\n    <type>_http._tcp</type>\n    <port>${PORT}</port>\n    <txt-record>path=/jitsi</txt-record>\n    <txt-record>user=\${username}</txt-record>\n    <txt-record>password=\${password}</txt-record>\n    <txt-record>uuid=\${uuid}</txt-record>\n  </service>\n</service-group>\n`;
      avahi = await lab.avahi(lab.srv, { name: 'srv', hostName: 'pprobesrv', interfaces: [l.srvIf], dbus: false, services: { 'prov.service': service } });
    });

    test('--method dhcp: dhcpd answers with option 224 and the document is fetched', { timeout: 60_000 }, async () => {
      const r = await probe(['--method', 'dhcp']);
      assert.equal(r.code, 0, JSON.stringify(r.report, null, 1) + r.stderr);
      assert.equal(r.report.steps[0]?.findings['url'], url);
      assert.equal(String(r.report.steps[0]?.findings['server']).split(':')[0], l.srvIp);
      assert.equal(r.report.steps[2]?.findings['status'], 200);
      assert.equal(r.report.steps[3]?.findings['properties'], 4, 'the PHP script\'s four properties');
    });

    test('--method bonjour: avahi-daemon publishes the service; URL assembled as JmDNS does', { timeout: 60_000 }, async () => {
      const r = await probe(['--method', 'bonjour']);
      assert.equal(r.code, 0, JSON.stringify(r.report, null, 1) + r.stderr);
      assert.equal(r.report.steps[0]?.findings['url'], `http://${l.srvIp}:${PORT}/jitsi?user=\${username}&password=\${password}&uuid=\${uuid}`);
      assert.equal(r.report.steps[2]?.findings['status'], 200);
    });

    test('a wrong password: the PHP script answers 401 and the probe says so', { timeout: 60_000 }, async () => {
      const r = await probe(['--method', 'dhcp'], 'not-the-password');
      assert.equal(r.code, 13, JSON.stringify(r.report));
      assert.match(r.report.steps.at(-1)?.summary ?? '', /HTTP 401 \(the client clears its stored credentials and asks again\)/);
    });

    test('each piece stopped in turn: the probe names the failing step', { timeout: 120_000 }, async () => {
      await php.stop(3000);
      let r = await probe(['--method', 'both']);
      assert.equal(r.code, 13, JSON.stringify(r.report));
      assert.equal(r.report.failed, 'http');
      await avahi.stop(3000);
      r = await probe(['--method', 'bonjour']);
      assert.equal(r.code, 11, JSON.stringify(r.report));
      assert.equal(r.report.failed, 'bonjour');
      await dhcpd.stop(3000);
      r = await probe(['--method', 'dhcp']);
      assert.equal(r.code, 10, JSON.stringify(r.report));
      assert.equal(r.report.failed, 'dhcp');
      assert.match(r.stderr, /failed at step dhcp/);
    });
  });
});
