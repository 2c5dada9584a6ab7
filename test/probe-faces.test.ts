/**
 * probe-faces.test.ts: `provisiond probe --as` against provisiond's own discovery faces (issue 13
 * "Done when": probe --as works for a PnP vendor and a TFTP vendor), in a two-namespace lab.
 *
 * The daemon (the executable: SIP, TFTP and HTTP faces; the lab's default tenant, `auth: none`) runs in `srv`; the probe
 * runs in `ph` as the factory-fresh phone would: a Yealink's SUBSCRIBE to the group 224.0.1.75:5060
 * across the link, the SIP face's 200 and NOTIFY, then the Yealink boot files over HTTP from the
 * NOTIFY's URL; a Cisco SPA's files over TFTP from the TFTP face. Each file the probe reports is
 * compared with what curl (an independent client) gets over HTTP for the same phone and file.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN } from './helpers/daemon';
import { LineProcess, NetnsLab, netnsSkipReason, runSync, waitForUdpPort } from './helpers/netns';

const ROOT = join(__dirname, '..', '..');
const SRV_IP = '10.214.0.1';
const PH_IP = '10.214.0.50';
const HTTP_PORT = 8667;
const YEALINK = '80:5e:c0:12:34:56';
const CISCO = '00:02:fd:ff:21:03';
const HOOK_TIMEOUT = { timeout: 60_000 };

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Report {
  readonly steps: { readonly step: string; readonly findings: Record<string, unknown> }[];
}

const skip = netnsSkipReason() ?? (spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed');

describe('probe --as against the daemon\'s own SIP and TFTP faces, in a namespace lab', { skip }, () => {
  const lab = new NetnsLab('pfa');
  let srv = '';
  let ph = '';
  let dir = '';
  let daemon: LineProcess | undefined;

  /** inPh runs a command in the phone's namespace, bounded. */
  const inPh = (args: readonly string[], timeoutMs = 30_000): Promise<Outcome> =>
    new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', ph, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  /** httpBytes is what curl gets over HTTP from the phone's namespace for a phone file (its length). */
  const httpBytes = async (file: string, ua: string): Promise<number> => {
    const r = await inPh(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '-A', ua, `http://${SRV_IP}:${HTTP_PORT}/${file}`]);
    const [status, size] = r.stdout.split(' ');
    assert.equal(status, '200', `curl ${file}: ${r.stdout} ${r.stderr}`);
    return Number(size);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provd-probe-faces-'));
    srv = lab.addNamespace('srv');
    ph = lab.addNamespace('ph');
    lab.link({ ns: srv, ifname: 'srv0', cidr: `${SRV_IP}/24` }, { ns: ph, ifname: 'ph0', cidr: `${PH_IP}/24` });
    await lab.waitForLinkUp(srv, 'srv0');
    await lab.waitForLinkUp(ph, 'ph0');
    // The phone's SUBSCRIBE to the group leaves through its link (a factory-fresh phone has no other).
    runSync('ip', ['-n', ph, 'route', 'add', '224.0.0.0/4', 'dev', 'ph0']);
    const cfg = join(dir, 'provisiond.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        http: { host: '0.0.0.0', port: HTTP_PORT },
        dhcp: { enabled: false },
        mdns: { enabled: false },
        stateDir: join(dir, 'state'),
        provisioning: {
          defaultDomain: 'lab.example',
          tenants: { 'lab.example': { auth: 'none', users: { alice: { password: 'plain:pw', attributes: { sip_username: '1001', sip_password: 'alice-SIP-9' } } } } },
        },
        phones: {
          enabled: true,
          configs: [{ id: 'site', role: 'default', raw: { sip_proxy_ip: SRV_IP } }],
          devices: [
            { mac: YEALINK, profile: 'yealink', model: 'T54W', users: ['alice'] },
            { mac: CISCO, profile: 'cisco-spa', model: 'SPA508G', users: ['alice'] },
          ],
        },
        sip: { enabled: true, interfaces: ['srv0'] },
        tftp: { enabled: true, port: 69 },
      }),
    );
    daemon = await lab.spawn(srv, process.execPath, [MAIN, 'run', '-c', cfg], ROOT);
    await daemon.waitForLine('"TFTP face serving" log line', (l) => l.includes('TFTP face serving'), 20_000);
    await waitForUdpPort(srv, 5060, 5000);
    await waitForUdpPort(srv, 69, 5000);
  }, HOOK_TIMEOUT);

  after(async () => {
    await daemon?.stop();
    const problems = await lab.destroy();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, []);
  }, HOOK_TIMEOUT);

  test('a PnP vendor (Yealink): SUBSCRIBE to the group, the SIP face\'s NOTIFY with the URL, the boot files over HTTP (exit 0)', async () => {
    const r = await inPh([process.execPath, MAIN, 'probe', '--json', '--as', 'yealink', '--mac', YEALINK, '--model', 'T54W']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${daemon?.stderr ?? ''}`);
    const rep = JSON.parse(r.stdout) as Report;
    assert.deepEqual(rep.steps.map((s) => s.step), ['subscribe', 'notify', 'files']);
    assert.equal(rep.steps[0]?.findings['to'], '224.0.1.75:5060');
    assert.match(String(rep.steps[1]?.findings['url']), new RegExp(`^http://${SRV_IP.replace(/\./g, '\\.')}:${HTTP_PORT}/`));
    const got = rep.steps[2]?.findings['got'] as { file: string; status: string; bytes: number }[];
    assert.deepEqual(got.map((g) => `${g.file} ${g.status}`), ['805ec0123456.boot 200', 'y000000000000.boot 200', 'y000000000096.cfg 200', '805ec0123456.cfg 200']);
    const perDevice = got.find((g) => g.file === '805ec0123456.cfg');
    assert.equal(perDevice?.bytes, await httpBytes('805ec0123456.cfg', 'Yealink SIP-T54W 96.86.0.100 80:5e:c0:12:34:56'));
  });

  test('a TFTP vendor (Cisco SPA): the boot files from the TFTP face, the same bytes as over HTTP (exit 0)', async () => {
    const r = await inPh([process.execPath, MAIN, 'probe', '--json', '--as', 'cisco-spa', '--mac', CISCO, '--model', 'SPA508G', '--tftp', '--server', `${SRV_IP}:69`]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${daemon?.stderr ?? ''}`);
    const rep = JSON.parse(r.stdout) as Report;
    const got = rep.steps.find((s) => s.step === 'files')?.findings['got'] as { file: string; status: string; bytes: number }[];
    assert.deepEqual(got.map((g) => `${g.file} ${g.status}`), ['spa508g.cfg 200', '0002fdff2103.xml 200']);
    for (const g of got) assert.equal(g.bytes, await httpBytes(g.file, 'Cisco/SPA508G-7.6.2 (0002FDFF2103)'), g.file);
  });

  test('a phone the daemon refuses (unknown MAC, autoprovision off) gets no answer at all: exit 15, the subscribe step named', async () => {
    const r = await inPh([process.execPath, MAIN, 'probe', '--as', 'yealink', '--mac', '80:5e:c0:00:00:99', '--model', 'T54W']);
    assert.equal(r.code, 15, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /probe failed at step subscribe/);
  });
});
