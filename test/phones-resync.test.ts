/**
 * phones-resync.test.ts: `provisiond devices sync` through the executable against scripted phones
 * that are not our code (test/fixtures/sip_phones.py: Python, plain UDP sockets, hashlib), in a
 * network namespace this test creates (loopback addresses 127.0.0.x, port 5060; the namespace is
 * always deleted). The store is seeded with the phones (declared in the configuration file) and
 * their last addresses, as the HTTP face records them.
 *
 *   yealink  127.0.0.2  answers 200, after checking the Event is Yealink's
 *   cisco    127.0.0.3  answers 401, then checks the digest itself (hashlib, the known
 *                       credentials, the Request-URI) before 200
 *   cisco2   127.0.0.7  the same phone, but the store holds another password: 403, refused
 *   snom     127.0.0.4  silent: unreachable (Timer F, shortened by --timeout)
 *   grandstr 127.0.0.5  answers 481: refused (the store holds ::ffff:127.0.0.5; it listens on 5062,
 *                       the device option sip_port)
 *   fanvil   127.0.0.6  nothing listens: ICMP port unreachable
 *   gigaset  —          never seen: no known address
 *
 * Skips with a message when not root, without iproute2 or without /usr/bin/python3.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { MAIN } from './helpers/daemon';
import { NetnsLab, netnsSkipReason, type LineProcess } from './helpers/netns';
import { openSqliteStore } from '../src/store/sqlite';

const ROOT = join(__dirname, '..', '..');
const PY = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test', 'fixtures', 'sip_phones.py');
const skip = netnsSkipReason() ?? (existsSync(PY) ? false : `${PY} is not installed`);

interface Phone {
  readonly name: string;
  readonly mac: string;
  readonly profile: string;
  readonly user: string;
  /** ip: the last address the store holds; null: never seen. */
  readonly ip: string | null;
  /** storedIp: the address as the store holds it, when another form (a dual-stack socket's ::ffff:a.b.c.d). */
  readonly storedIp?: string;
  /** mode of the scripted phone; undefined: nothing listens there. */
  readonly mode?: 'ok' | 'digest' | 'refuse' | 'silent';
  readonly events?: readonly string[];
  /** port: where the scripted phone listens, given to provisiond as the device option sip_port (default 5060). */
  readonly port?: number;
  /** phonePassword: the password the scripted phone expects (the store's is `<user>-SIP-Secret-9`). */
  readonly phonePassword?: string;
}

const PHONES: readonly Phone[] = [
  { name: 'yealink', mac: '00:15:65:00:00:01', profile: 'yealink', user: 'alice', ip: '127.0.0.2', mode: 'ok', events: ['check-sync;reboot=false', 'check-sync;reboot=true'] },
  { name: 'cisco', mac: '00:02:fd:00:00:02', profile: 'cisco-spa', user: 'erin', ip: '127.0.0.3', mode: 'digest', events: ['resync', 'reboot_now'] },
  { name: 'cisco2', mac: '00:02:fd:00:00:07', profile: 'cisco-spa', user: 'ivan', ip: '127.0.0.7', mode: 'digest', events: ['resync', 'reboot_now'], phonePassword: 'not-what-the-store-has' },
  { name: 'snom', mac: '00:04:13:00:00:03', profile: 'snom', user: 'carol', ip: '127.0.0.4', mode: 'silent', events: ['check-sync;reboot=false'] },
  { name: 'grandstream', mac: '00:0b:82:00:00:04', profile: 'grandstream', user: 'dave', ip: '127.0.0.5', storedIp: '::ffff:127.0.0.5', port: 5062, mode: 'refuse', events: ['resync'] },
  { name: 'fanvil', mac: '0c:38:3e:00:00:05', profile: 'fanvil', user: 'frank', ip: '127.0.0.6' },
  { name: 'gigaset', mac: '7c:2f:80:00:00:06', profile: 'gigaset', user: 'grace', ip: null },
];

const sipUser = (u: string): string => `${u}-1001`;
const sipPassword = (u: string): string => `${u}-SIP-Secret-9`;

function configText(state: string): string {
  const users = PHONES.map((p) => `        ${p.user}: { password: "plain:pw-${p.user}", attributes: { sip_username: "${sipUser(p.user)}", sip_password: "${sipPassword(p.user)}" } }`).join('\n');
  const devices = PHONES.map((p) => `    - { mac: "${p.mac}", profile: ${p.profile}, users: [${p.user}]${p.name === 'yealink' ? ', config: sales' : ''}${p.port === undefined ? '' : `, options: { sip_port: "${p.port}" }`} }`).join('\n');
  return `http:
  host: 127.0.0.1
  port: 0
dhcp:
  enabled: false
mdns:
  enabled: false
stateDir: ${state}
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
      users:
${users}
phones:
  enabled: true
  baseUrl: http://127.0.0.1:8667/
  configs:
    - { id: site, role: default, raw: { sip_proxy_ip: 192.0.2.10 } }
    - { id: sales, parents: [site], raw: { ntp_ip: 192.0.2.123 } }
  devices:
${devices}
`;
}

interface CliRun {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

describe('devices sync against scripted phones in a namespace', { skip }, () => {
  const lab = new NetnsLab('prs');
  let tmp = '';
  let config = '';
  let ns = '';
  let phones: LineProcess | undefined;

  /** cli runs the executable inside the namespace, bounded (killed by PID after 60 s). */
  const cli = (args: readonly string[]): Promise<CliRun> =>
    new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        resolve({ code: code ?? sig ?? -1, stdout, stderr });
      });
    });

  /** seen returns the scripted phones' records of one phone received since line `from`. */
  const seen = (name: string, from: number): Record<string, unknown>[] =>
    (phones?.lines ?? [])
      .slice(from)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r['phone'] === name);

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'provd-resync-'));
    config = join(tmp, 'provisiond.yaml');
    writeFileSync(config, configText(join(tmp, 'state')));
    ns = lab.addNamespace('ph');
    const spec = PHONES.filter((p) => p.mode !== undefined).map((p) => ({
      name: p.name,
      address: p.ip,
      port: p.port ?? 5060,
      mode: p.mode,
      events: p.events,
      user: sipUser(p.user),
      password: p.phonePassword ?? sipPassword(p.user),
      realm: 'spa-lab',
      status: 481,
      reason: 'Call/Transaction Does Not Exist',
    }));
    phones = await lab.spawn(ns, PY, [SCRIPT, JSON.stringify(spec)]);
    await phones.waitForLine('the scripted phones to be ready', (l) => l.includes('"ready"'), 10_000);
    // Before any address is known, `devices sync` itself writes the declared phones: all without an address.
    const first = await cli(['devices', 'sync', '--config', config, '--all', '--json']);
    assert.equal(first.code, 6, first.stderr);
    assert.deepEqual((JSON.parse(first.stdout) as { summary: Record<string, number> }).summary, { phones: 7, accepted: 0, refused: 0, unreachable: 0, noAddress: 7, notLoaded: 0 });
    // Then their last addresses, as the HTTP face records them.
    const store = openSqliteStore(join(tmp, 'state'));
    try {
      for (const p of PHONES) if (p.ip !== null) assert.ok(store.phones.observe(p.mac, { ip: p.storedIp ?? p.ip }), `observe ${p.mac}`);
    } finally {
      store.close();
    }
  });
  after(async () => {
    assert.deepEqual(await lab.destroy(), []);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  test('--all: accepted, accepted after a digest, refused (403, 481), unreachable (silent, ICMP), no address; exit 6', async () => {
    const from = phones?.lines.length ?? 0;
    const r = await cli(['devices', 'sync', '--config', config, '--all', '--timeout', '2', '--json']);
    assert.equal(r.code, 6, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, /5 of 7 phones did not accept the resync \[PROVD_ERR_RESYNC\]/);
    const report = JSON.parse(r.stdout) as { summary: Record<string, number>; devices: Record<string, unknown>[] };
    assert.deepEqual(report.summary, { phones: 7, accepted: 2, refused: 2, unreachable: 2, noAddress: 1, notLoaded: 0 });
    const by = new Map(report.devices.map((d) => [d['mac'] as string, d]));
    const result = (mac: string): Record<string, unknown> => (by.get(mac)?.['result'] ?? {}) as Record<string, unknown>;

    assert.deepEqual([result('00:15:65:00:00:01')['outcome'], result('00:15:65:00:00:01')['status'], result('00:15:65:00:00:01')['authenticated']], ['accepted', 200, false]);
    assert.deepEqual([result('00:02:fd:00:00:02')['outcome'], result('00:02:fd:00:00:02')['status'], result('00:02:fd:00:00:02')['authenticated']], ['accepted', 200, true]);
    assert.deepEqual([result('00:02:fd:00:00:07')['outcome'], result('00:02:fd:00:00:07')['status']], ['refused', 403]);
    assert.deepEqual([result('00:0b:82:00:00:04')['outcome'], result('00:0b:82:00:00:04')['status'], result('00:0b:82:00:00:04')['reason']], ['refused', 481, 'Call/Transaction Does Not Exist']);
    assert.equal(by.get('00:0b:82:00:00:04')?.['to'], '127.0.0.5:5062', 'a ::ffff: address is notified over IPv4, at the port of its sip_port option');
    assert.equal(result('00:04:13:00:00:03')['outcome'], 'unreachable');
    assert.match(String(result('00:04:13:00:00:03')['detail']), /Timer F/);
    assert.equal(result('0c:38:3e:00:00:05')['outcome'], 'unreachable');
    assert.match(String(result('0c:38:3e:00:00:05')['detail']), /ICMP port unreachable/);
    assert.deepEqual([by.get('7c:2f:80:00:00:06')?.['outcome'], by.get('7c:2f:80:00:00:06')?.['to']], ['no-address', null]);

    // What the phones themselves saw: their vendor's Event, the Cisco digest checked by Python.
    const y = seen('yealink', from);
    assert.equal(y.length, 1);
    assert.deepEqual([y[0]?.['event'], y[0]?.['eventOk'], y[0]?.['ruri']], ['check-sync;reboot=false', true, 'sip:alice-1001@127.0.0.2:5060']);
    const c = seen('cisco', from);
    assert.deepEqual(
      c.map((x) => [x['event'], x['authorization'], x['digestOk'] ?? null, x['answered']]),
      [
        ['resync', false, null, 'SIP/2.0 401 Unauthorized'],
        ['resync', true, true, 'SIP/2.0 200 OK'],
      ],
    );
    assert.deepEqual(
      seen('cisco2', from).map((x) => [x['digestOk'] ?? null, x['answered']]),
      [
        [null, 'SIP/2.0 401 Unauthorized'],
        [false, 'SIP/2.0 403 Forbidden'],
      ],
    );
    const s = seen('snom', from);
    assert.ok(s.length >= 2, `the silent phone got retransmissions (${s.length})`);
    assert.equal(new Set(s.map((x) => x['branch'])).size, 1, 'retransmissions carry one branch');
    assert.equal(seen('grandstream', from)[0]?.['event'], 'resync');
  });

  test('one MAC with --reboot: the reboot event, one line and a summary, exit 0', async () => {
    const from = phones?.lines.length ?? 0;
    const r = await cli(['devices', 'sync', '00-15-65-00-00-01', '--config', config, '--reboot']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[0] ?? '', /^00:15:65:00:00:01 {2}127\.0\.0\.2:5060 {2}accepted {2}200 OK {2}\[check-sync;reboot=true\]$/);
    assert.equal(lines[1], '1 phone: 1 accepted, 0 refused, 0 unreachable, 0 without a known address (reboot)');
    assert.equal(seen('yealink', from)[0]?.['event'], 'check-sync;reboot=true');
  });

  test('--device-config: the phones whose config inherits from it (the Yealink on sales, child of site)', async () => {
    const r = await cli(['devices', 'sync', '--config', config, '--device-config', 'sales']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^00:15:65:00:00:01 .* accepted /m);
    assert.match(r.stdout, /^1 phone: 1 accepted/m);
    const site = await cli(['devices', 'sync', '--config', config, '--device-config', 'site', '--timeout', '1', '--json']);
    assert.equal(site.code, 6);
    assert.equal((JSON.parse(site.stdout) as { summary: { phones: number } }).summary.phones, 7, 'every phone: the default config is site, and sales inherits from it');
  });

  test('refusals of the command line: nothing named, two named, an unknown MAC or config', async () => {
    const none = await cli(['devices', 'sync', '--config', config]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name one of MAC, --device-config C or --all/);
    const two = await cli(['devices', 'sync', '00:15:65:00:00:01', '--all', '--config', config]);
    assert.equal(two.code, 2);
    const unknown = await cli(['devices', 'sync', '00:15:65:99:99:99', '--config', config]);
    assert.equal(unknown.code, 5);
    assert.match(unknown.stderr, /no phone with MAC 00:15:65:99:99:99 .*\[PROVD_ERR_DEVICE\]/);
    const cfg = await cli(['devices', 'sync', '--device-config', 'nope', '--config', config]);
    assert.equal(cfg.code, 5);
    const timeout = await cli(['devices', 'sync', '--all', '--timeout', '40', '--config', config]);
    assert.equal(timeout.code, 2);
  });
});
