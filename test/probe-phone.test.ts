/**
 * probe-phone.test.ts: `provisiond probe --as PROFILE` (src/probe/phone.ts, tftp.ts).
 *
 * Pure parts (the SUBSCRIBE decoded back with the SIP codec, file names, the NOTIFY checks), then
 * the executable against the real daemon's HTTP face (phones enabled, loopback) with a scripted
 * PnP responder that is not our code (test/fixtures/pnp_responder.py, Python) standing in for the
 * SIP face: success for Yealink, Snom and Grandstream; each step failing in turn (exit 15, 16,
 * 17); Polycom (no PnP) straight to the files; Cisco SPA over TFTP from Debian's tftpd-hpa
 * (`in.tftpd`, an independent server) when it is installed and we are root.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSip, header } from '../src/sip/codec';
import { fileName, notifyProblem, parseServer, resolveBase, subscribeRequest, VENDORS } from '../src/probe/phone';
import { MAIN, cliWithInput, freeUdpPort, startDaemon, type Running } from './helpers/daemon';
import { spawn } from 'node:child_process';
import { LineProcess, NetnsLab, isRoot, netnsSkipReason } from './helpers/netns';

const ROOT = join(__dirname, '..', '..');
const PY = '/usr/bin/python3';
const RESPONDER = join(ROOT, 'test', 'fixtures', 'pnp_responder.py');
const TFTPD = '/usr/sbin/in.tftpd';

describe('probe --as: pure parts', () => {
  test('the SUBSCRIBE decodes with the codec: ua-profile, the MAC in the user part, Expires 0, Accept application/url', () => {
    const v = VENDORS['snom'];
    assert.ok(v !== undefined);
    const d = decodeSip(subscribeRequest(v, '000413922d24', 'D785', { address: '192.0.2.50', port: 40000 }, { callId: 'c@192.0.2.50', tag: 't1', branch: 'z9hG4bK-1', cseq: 1 }));
    assert.ok(d.ok && d.message.kind === 'request');
    const m = d.message;
    assert.equal(m.method, 'SUBSCRIBE');
    assert.equal(m.uri, 'sip:MAC%3a000413922D24@224.0.1.75');
    assert.equal(header(m, 'event'), 'ua-profile;profile-type="device";vendor="OEM";model="OEM";version="1.0.0.1"');
    assert.equal(header(m, 'expires'), '0');
    assert.equal(header(m, 'accept'), 'application/url');
    assert.equal(header(m, 'contact'), '<sip:192.0.2.50:40000>');
    assert.match(header(m, 'user-agent') ?? '', /snomD785-SIP .* 000413922D24 /);
  });

  test('boot file names per vendor', () => {
    const names = (vendor: string, model: string): (string | undefined)[] => (VENDORS[vendor]?.boot ?? []).map((f) => fileName(f, '0015654aa937', model, VENDORS[vendor]?.hwids));
    assert.deepEqual(names('yealink', 'T46S'), ['0015654aa937.boot', 'y000000000000.boot', 'y000000000066.cfg', '0015654aa937.cfg']);
    assert.deepEqual(names('yealink', 'T99X'), ['0015654aa937.boot', 'y000000000000.boot', undefined, '0015654aa937.cfg'], 'no hwid: the file is left out');
    assert.deepEqual(names('cisco-spa', 'SPA508G'), ['spa508g.cfg', '0015654aa937.xml']);
    assert.deepEqual(names('snom', 'D785'), ['snomD785-0015654AA937.htm', '0015654AA937.xml']);
  });

  test('the NOTIFY a phone takes, and the ones it does not', () => {
    const notify = (ct: string, body: string, event = 'ua-profile;vendor="x"'): ReturnType<typeof notifyProblem> => {
      const d = decodeSip(Buffer.from(`NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 NOTIFY\r\nEvent: ${event}\r\nContent-Type: ${ct}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      assert.ok(d.ok && d.message.kind === 'request');
      return notifyProblem(d.message);
    };
    assert.equal(notify('application/url', 'http://192.0.2.10:8667/k/'), undefined);
    assert.equal(notify('application/url', 'tftp://192.0.2.10'), undefined);
    assert.match(notify('text/plain', 'http://x/') ?? '', /not application\/url/);
    assert.match(notify('application/url', '') ?? '', /empty/);
    assert.match(notify('application/url', 'not a url') ?? '', /not a URL/);
    assert.match(notify('application/url', 'ftp://x/') ?? '', /scheme ftp/);
    assert.match(notify('application/url', 'http://x/', 'check-sync') ?? '', /not ua-profile/);
  });

  test('resolveBase and parseServer', () => {
    assert.deepEqual(resolveBase('http://h:1/k/')?.base.href, 'http://h:1/k/');
    const f = resolveBase('http://h:1/k/0015654aa937.cfg?x=1');
    assert.deepEqual([f?.base.href, f?.first], ['http://h:1/k/', '0015654aa937.cfg']);
    assert.equal(resolveBase('nope'), undefined);
    assert.deepEqual(parseServer('127.0.0.1:5062', 5060), { address: '127.0.0.1', port: 5062 });
    assert.deepEqual(parseServer('127.0.0.1', 69), { address: '127.0.0.1', port: 69 });
    assert.equal(parseServer('host.example:5060', 5060), undefined);
    assert.equal(parseServer('127.0.0.1:99999', 5060), undefined);
  });
});

const skipPy = existsSync(PY) ? false : `${PY} is not installed`;

describe('probe --as through the executable, against the daemon and a scripted PnP responder', { skip: skipPy }, () => {
  let tmp = '';
  let daemon: Running | undefined;
  let httpPort = 0;
  const responders: LineProcess[] = [];

  /** responder starts the Python responder on a free loopback port; it resolves with the port. */
  const responder = async (mode: string, url: string): Promise<{ port: number; proc: LineProcess }> => {
    const port = await freeUdpPort();
    const proc = await LineProcess.spawn(PY, [RESPONDER, JSON.stringify({ address: '127.0.0.1', port, mode, url })]);
    responders.push(proc);
    await proc.waitForLine('the responder to be ready', (l) => l.includes('"ready"'), 10_000);
    return { port, proc };
  };
  const probe = (args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => cliWithInput(['probe', '--json', ...args]);

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'provd-probe-phone-'));
    mkdirSync(join(tmp, 'state'));
    const cfg = join(tmp, 'provisiond.yaml');
    writeFileSync(
      cfg,
      `http:
  host: 127.0.0.1
  port: 0
dhcp:
  enabled: false
mdns:
  enabled: false
stateDir: ${join(tmp, 'state')}
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
      users:
        alice: { password: "plain:pw", attributes: { sip_username: "1001", sip_password: "alice-sip" } }
phones:
  enabled: true
  devices:
    - { mac: "00:15:65:4a:a9:37", profile: yealink, model: T46S, users: [alice] }
    - { mac: "00:04:13:92:2d:24", profile: snom, model: D785, users: [alice] }
    - { mac: "00:0b:82:86:5e:6a", profile: grandstream, model: GXP2170, users: [alice] }
    - { mac: "00:04:f2:21:1c:8b", profile: polycom, model: VVX400, users: [alice] }
`,
    );
    daemon = startDaemon(['run', '--config', cfg]);
    const line = await daemon.waitForLog('HTTP face serving', 20_000);
    httpPort = Number(line['port']);
    assert.ok(httpPort > 0);
  });
  after(async () => {
    for (const r of responders) await r.stop();
    if (daemon && daemon.child.exitCode === null) {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  for (const [vendor, mac, files] of [
    ['yealink', '00:15:65:4a:a9:37', ['0015654aa937.boot', 'y000000000000.boot', 'y000000000066.cfg', '0015654aa937.cfg']],
    ['snom', '00:04:13:92:2d:24', ['snomD785-000413922D24.htm', '000413922D24.xml']],
    ['grandstream', '00:0b:82:86:5e:6a', ['cfg000b82865e6a', 'cfg000b82865e6a.xml']],
  ] as const) {
    test(`${vendor}: SUBSCRIBE answered, NOTIFY with the URL, the boot files with the vendor's User-Agent (exit 0)`, async () => {
      const r0 = await responder('ok', `http://127.0.0.1:${httpPort}/`);
      const r = await probe(['--as', vendor, '--mac', mac, '--server', `127.0.0.1:${r0.port}`]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const rep = JSON.parse(r.stdout) as { ok: boolean; steps: { step: string; ok: boolean; findings: Record<string, unknown> }[] };
      assert.deepEqual(rep.steps.map((s) => [s.step, s.ok]), [['subscribe', true], ['notify', true], ['files', true]]);
      const got = rep.steps[2]?.findings['got'] as { file: string; status: string }[];
      assert.deepEqual(got.map((g) => g.file), files);
      assert.equal(got[got.length - 1]?.status, '200', 'the per-device file is served');
      // What the responder saw: the vendor's SUBSCRIBE, then our 200 to its NOTIFY.
      await r0.proc.waitForLine('our 200 to the NOTIFY', (l) => l.includes('"SIP/2.0 200 OK"'), 5000);
      const seen = r0.proc.lines.filter((l) => !l.includes('"ready"')).map((l) => JSON.parse(l) as Record<string, string>);
      assert.match(seen[0]?.['start'] ?? '', new RegExp(`^SUBSCRIBE sip:MAC%3a${mac.replace(/:/g, '').toUpperCase()}@224\\.0\\.1\\.75 SIP/2\\.0$`));
      assert.match(seen[0]?.['event'] ?? '', /^ua-profile;profile-type="device"/);
      assert.ok(seen.some((x) => x['start'] === 'SIP/2.0 200 OK'), 'the NOTIFY was answered 200');
    });
  }

  test('a silent responder: exit 15 (subscribe)', async () => {
    const r0 = await responder('silent', 'http://x/');
    const r = await probe(['--as', 'yealink', '--server', `127.0.0.1:${r0.port}`]);
    assert.equal(r.code, 15, r.stderr);
    assert.match(r.stderr, /probe failed at step subscribe: no 2xx to the SUBSCRIBE/);
  });

  test('a refusing responder: exit 15 naming the status', async () => {
    const r0 = await responder('refuse', 'http://x/');
    const r = await probe(['--as', 'fanvil', '--server', `127.0.0.1:${r0.port}`]);
    assert.equal(r.code, 15);
    assert.match(r.stderr, /489 Bad Event/);
  });

  test('a NOTIFY without application/url: exit 16 (notify)', async () => {
    const r0 = await responder('badtype', `http://127.0.0.1:${httpPort}/`);
    const r = await probe(['--as', 'gigaset', '--server', `127.0.0.1:${r0.port}`]);
    assert.equal(r.code, 16, r.stderr);
    assert.match(r.stderr, /not application\/url/);
  });

  test('a phone the daemon does not know (autoprovision off): exit 17 (files), naming the file and status', async () => {
    const r0 = await responder('ok', `http://127.0.0.1:${httpPort}/`);
    const r = await probe(['--as', 'yealink', '--mac', '00:15:65:00:00:99', '--server', `127.0.0.1:${r0.port}`]);
    assert.equal(r.code, 17, r.stderr);
    assert.match(r.stderr, /probe failed at step files: HTTP 001565000099\.cfg: status 404/);
  });

  test('polycom (no PnP): the steps are skipped, the files come from --server', async () => {
    const r = await probe(['--as', 'polycom', '--mac', '00:04:f2:21:1c:8b', '--server', `http://127.0.0.1:${httpPort}/`]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rep = JSON.parse(r.stdout) as { steps: { step: string; skipped?: boolean; findings: Record<string, unknown> }[] };
    assert.deepEqual(rep.steps.map((s) => [s.step, s.skipped === true]), [['subscribe', true], ['notify', true], ['files', false]]);
    const got = rep.steps[2]?.findings['got'] as { file: string; status: string }[];
    assert.deepEqual(got.map((g) => `${g.file} ${g.status}`), ['0004f2211c8b.cfg 404', '000000000000.cfg 200', '0004f2211c8b-user.cfg 200']);
  });

  test('usage: --mac without --as, --as with --url', async () => {
    assert.equal((await probe(['--mac', '00:15:65:4a:a9:37'])).code, 2);
    assert.equal((await probe(['--as', 'yealink', '--url', 'http://x/'])).code, 2);
    assert.equal((await probe(['--as', 'nokia'])).code, 2);
  });
});

const skipTftp = skipPy || (existsSync(TFTPD) ? (isRoot() ? false : 'tftpd-hpa needs root here (it chroots into its folder)') : `${TFTPD} (tftpd-hpa) is not installed`);

describe('probe --as cisco-spa over TFTP, against tftpd-hpa', { skip: skipTftp }, () => {
  let tmp = '';
  let tftpd: LineProcess | undefined;
  let port = 0;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'provd-probe-tftp-'));
    writeFileSync(join(tmp, 'spa508g.cfg'), '<flat-profile><Profile_Rule>tftp://127.0.0.1/$MA.xml</Profile_Rule></flat-profile>\n');
    // Over one 1468-byte block: the transfer takes several DATA/ACK rounds.
    writeFileSync(join(tmp, '0002fdff2103.xml'), `<flat-profile>\n${'  <Line_Enable_1_>Yes</Line_Enable_1_>\n'.repeat(200)}</flat-profile>\n`);
    port = await freeUdpPort();
    tftpd = await LineProcess.spawn(TFTPD, ['--foreground', '--address', `127.0.0.1:${port}`, '--secure', '--user', 'root', tmp]);
    await new Promise((r) => setTimeout(r, 300)); // in.tftpd prints nothing when ready; the probe retries its RRQ anyway
  });
  after(async () => {
    await tftpd?.stop();
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  test('the boot files over TFTP (blksize and tsize negotiated), byte for byte', async () => {
    const r = await cliWithInput(['probe', '--json', '--as', 'cisco-spa', '--mac', '00:02:fd:ff:21:03', '--tftp', '--server', `127.0.0.1:${port}`]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${tftpd?.stderr ?? ''}`);
    const rep = JSON.parse(r.stdout) as { steps: { step: string; findings: Record<string, unknown> }[] };
    const got = rep.steps[2]?.findings['got'] as { file: string; status: string; bytes: number }[];
    assert.deepEqual(got.map((g) => [g.file, g.status, g.bytes]), [
      ['spa508g.cfg', '200', 83],
      ['0002fdff2103.xml', '200', 7831],
    ]);
  });

  test('a file the server lacks: exit 17 naming the TFTP error', async () => {
    const r = await cliWithInput(['probe', '--as', 'cisco-spa', '--mac', '00:02:fd:00:00:01', '--tftp', '--server', `127.0.0.1:${port}`]);
    assert.equal(r.code, 17);
    assert.match(r.stderr, /probe failed at step files: TFTP 0002fd000001\.xml: TFTP error 1/);
  });
});

describe('probe --as to the multicast group 224.0.1.75:5060 (no --server), in a namespace', { skip: netnsSkipReason() ?? skipPy }, () => {
  const lab = new NetnsLab('ppm');
  let ns = '';
  let tmp = '';
  let daemon: Running | undefined;
  let httpPort = 0;
  let responder: LineProcess | undefined;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'provd-probe-mcast-'));
    ns = lab.addNamespace('m');
    // Multicast on the namespace's loopback: the group's route and the interface flag.
    await lab.exec(ns, 'ip', ['link', 'set', 'lo', 'multicast', 'on'], { timeoutMs: 5000 });
    await lab.exec(ns, 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'lo'], { timeoutMs: 5000 });
    const cfg = join(tmp, 'provisiond.yaml');
    writeFileSync(
      cfg,
      `http: { host: 127.0.0.1, port: 0 }
dhcp: { enabled: false }
mdns: { enabled: false }
stateDir: ${join(tmp, 'state')}
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example: { auth: none, users: { alice: { password: "plain:pw", attributes: { sip_username: "1001" } } } }
phones:
  enabled: true
  devices:
    - { mac: "80:5e:c0:12:34:56", profile: yealink, model: T54W, users: [alice] }
`,
    );
    daemon = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', ns]);
    httpPort = Number((await daemon.waitForLog('HTTP face serving', 20_000))['port']);
    responder = await lab.spawn(ns, PY, [RESPONDER, JSON.stringify({ address: '127.0.0.1', port: 5060, mode: 'ok', url: `http://127.0.0.1:${httpPort}/`, group: '224.0.1.75' })]);
    await responder.waitForLine('the responder to be ready', (l) => l.includes('"ready"'), 10_000);
  });
  after(async () => {
    if (daemon && daemon.child.exitCode === null) {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    assert.deepEqual(await lab.destroy(), []);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  test('the SUBSCRIBE goes to the group; the answer, the NOTIFY and the files follow (exit 0)', async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, MAIN, 'probe', '--json', '--as', 'yealink', '--mac', '80:5e:c0:12:34:56', '--model', 'T54W'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rep = JSON.parse(r.stdout) as { steps: { step: string; findings: Record<string, unknown> }[] };
    assert.equal(rep.steps[0]?.findings['to'], '224.0.1.75:5060');
    const got = rep.steps[2]?.findings['got'] as { file: string; status: string }[];
    assert.deepEqual(got.map((g) => `${g.file} ${g.status}`), ['805ec0123456.boot 200', 'y000000000000.boot 200', 'y000000000096.cfg 200', '805ec0123456.cfg 200']);
  });
});
