/**
 * phones-e2e.test.ts: issue 12's "done when", through the real executable on loopback sockets.
 *
 * A lab configuration file with one tenant (auth none), its users' SIP attributes, and one phone
 * per shipped vendor declared in the file, each with an assigned user. The daemon runs it; an
 * emulated phone per vendor sends the vendor's real User-Agent and boot sequence
 * (sip-phones.md §3) over its own connections and checks what it gets: common files, the
 * per-device file with its own user's SIP credentials, 404 on the probes a phone makes. Each
 * per-device file is byte-identical to `provisiond render --mac`. A custom `<mac>.cfg.tpl`
 * dropped into the configuration directory's templates wins over the model template with no
 * reconfigure step, over HTTP and in `render --mac`. The Yealink sequence is fetched with curl
 * (an independent client) when it is installed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import { cliWithInput, startDaemon, type Running } from './helpers/daemon';

const TMP = mkdtempSync(join(tmpdir(), 'provd-phones-e2e-'));
const BASE = 'http://127.0.0.1:18667';

/** PHONES: one per vendor, each with its user, User-Agent and boot sequence (status expected per file). */
interface Phone {
  readonly vendor: string;
  readonly mac: string;
  readonly model: string;
  readonly user: string;
  readonly ua: string;
  /** steps: file and the status the phone must get; `own: true` marks the per-device file with the user's credentials. */
  readonly steps: readonly { readonly file: string; readonly status: number; readonly own?: boolean }[];
}

const PHONES: readonly Phone[] = [
  {
    vendor: 'yealink',
    mac: '00:15:65:4a:a9:37',
    model: 'T46S',
    user: 'alice',
    ua: 'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37',
    steps: [
      { file: '0015654aa937.boot', status: 200 },
      { file: 'y000000000000.boot', status: 200 },
      { file: 'y000000000066.cfg', status: 200 },
      { file: '0015654aa937.cfg', status: 200, own: true },
    ],
  },
  {
    vendor: 'polycom',
    mac: '00:04:f2:21:1c:8b',
    model: 'VVX400',
    user: 'bob',
    ua: 'FileTransport PolycomVVX-VVX_400-UA/6.4.3.5018 Type/Application',
    steps: [
      { file: '0004f2211c8b.cfg', status: 404 },
      { file: '000000000000.cfg', status: 200 },
      { file: '0004f2211c8b-user.cfg', status: 200, own: true },
      { file: '000000000000-license.cfg', status: 404 },
    ],
  },
  {
    vendor: 'snom',
    mac: '00:04:13:92:2d:24',
    model: 'D785',
    user: 'carol',
    ua: 'Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)',
    steps: [
      { file: 'snomD785-000413922D24.htm', status: 200 },
      { file: '000413922D24.xml', status: 200, own: true },
    ],
  },
  {
    vendor: 'grandstream',
    mac: '00:0b:82:86:5e:6a',
    model: 'GXP2170',
    user: 'dave',
    ua: 'Grandstream Model HW GXP2170 SW 1.0.11.85 DevId 000b82865e6a',
    steps: [
      { file: 'cfg000b82865e6a', status: 404 },
      { file: 'cfg000b82865e6a.xml', status: 200, own: true },
    ],
  },
  {
    vendor: 'cisco-spa',
    mac: '00:02:fd:ff:21:03',
    model: 'SPA508G',
    user: 'erin',
    ua: 'Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK)',
    steps: [
      { file: 'spa508g.cfg', status: 200 },
      { file: '0002fdff2103.xml', status: 200, own: true },
    ],
  },
  {
    vendor: 'fanvil',
    mac: '0c:38:3e:07:e1:6c',
    model: 'X4',
    user: 'frank',
    ua: 'Fanvil X4 2.10.2.6887 0c383e07e16c',
    steps: [{ file: '0c383e07e16c.cfg', status: 200, own: true }],
  },
  {
    vendor: 'gigaset',
    mac: '7c:2f:80:e0:d6:05',
    model: 'N870 IP PRO',
    user: 'grace',
    ua: 'Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605',
    steps: [{ file: '7C2F80E0D605.xml', status: 200, own: true }],
  },
];

function sipPassword(user: string): string {
  return `${user}-SIP-Secret-9`;
}

function configText(): string {
  const users = PHONES.map((p) => `        ${p.user}: { password: "plain:pw-${p.user}", attributes: { sip_username: "${p.user}-1001", sip_password: "${sipPassword(p.user)}", display_name: "${p.user} desk" } }`).join('\n');
  const devices = PHONES.map((p) => `    - { mac: "${p.mac}", profile: ${p.vendor}, model: "${p.model}", users: [${p.user}] }`).join('\n');
  return `http:
  host: 127.0.0.1
  port: 0
dhcp:
  enabled: false
mdns:
  enabled: false
log:
  level: info
stateDir: ${join(TMP, 'state')}
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
      users:
${users}
phones:
  enabled: true
  baseUrl: ${BASE}
  templatesDir: templates
  configs:
    - { id: site, role: default, raw: { ntp_ip: 192.0.2.123, sip_proxy_ip: 192.0.2.10, timezone: Europe/Paris, sip_lines: { "1": { proxy_ip: 192.0.2.10 } } } }
  devices:
${devices}
`;
}

interface Got {
  readonly status: number;
  readonly body: Buffer;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** get fetches one file on a connection of its own (phones do not share connections). */
function get(port: number, path: string, ua: string, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers: { 'user-agent': ua }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

async function renderMac(config: string, mac: string, file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return cliWithInput(['render', '--config', config, '--mac', mac, '--file', file], '', 'latin1');
}

describe('phones end to end: a lab config, an emulated phone per vendor, render --mac', () => {
  const config = join(TMP, 'provisiond.yaml');
  let daemon: Running | undefined;
  let port = 0;

  before(async () => {
    mkdirSync(join(TMP, 'templates'), { recursive: true });
    writeFileSync(config, configText());
    daemon = startDaemon(['run', '--config', config]);
    const line = await daemon.waitForLog('HTTP face serving', 20_000);
    port = Number(line['port']);
    assert.ok(port > 0);
  });
  after(async () => {
    if (daemon && daemon.child.exitCode === null) {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    rmSync(TMP, { recursive: true, force: true });
  });

  for (const phone of PHONES) {
    test(`${phone.vendor}: the boot sequence, its own user's credentials, byte-identical to render --mac`, async () => {
      for (const step of phone.steps) {
        const got = await get(port, `/${step.file}`, phone.ua);
        assert.equal(got.status, step.status, `${phone.vendor} GET /${step.file}: ${got.body.toString()}`);
        if (step.status !== 200) continue;
        assert.ok(got.body.length > 0, `${step.file} has a body`);
        const text = got.body.toString('utf8');
        if (step.own === true) {
          assert.ok(text.includes(sipPassword(phone.user)), `${step.file} carries ${phone.user}'s SIP password`);
          assert.ok(text.includes(`${phone.user}-1001`), `${step.file} carries ${phone.user}'s SIP username`);
          for (const other of PHONES) if (other.user !== phone.user) assert.ok(!text.includes(sipPassword(other.user)), `${step.file} carries no other user's password`);
        } else {
          for (const other of PHONES) assert.ok(!text.includes(sipPassword(other.user)), `common file ${step.file} carries no password`);
        }
        const r = await renderMac(config, phone.mac, step.file);
        if (step.own === true || step.file.toLowerCase().includes(phone.mac.replace(/:/g, ''))) {
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, got.body.toString('latin1'), `render --mac ${phone.mac} --file ${step.file} is byte-identical to what the phone got`);
        }
      }
    });
  }

  test('a second fetch is byte-stable and a matching If-None-Match gets 304', async () => {
    const p = PHONES[0]!;
    const a = await get(port, '/0015654aa937.cfg', p.ua);
    const b = await get(port, '/0015654aa937.cfg', p.ua);
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, b.body);
    const etag = String(a.headers['etag']);
    const c = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/0015654aa937.cfg', agent: false, headers: { 'user-agent': p.ua, 'if-none-match': etag } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(c, 304);
  });

  test("a phone asking for another MAC's file, or a file no profile knows, gets 404", async () => {
    const yealink = PHONES[0]!;
    assert.equal((await get(port, '/0015654aa938.cfg', yealink.ua)).status, 404);
    assert.equal((await get(port, '/no-such-file.bin', yealink.ua)).status, 404);
  });

  test('the Yealink sequence through curl, an independent client', { skip: spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed' }, () => {
    const p = PHONES[0]!;
    for (const step of p.steps) {
      const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-A', p.ua, `http://127.0.0.1:${port}/${step.file}`], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.stdout, String(step.status), `curl /${step.file}`);
    }
  });

  test('a custom <mac>.cfg.tpl in the configuration directory wins at once, over HTTP and in render --mac', async () => {
    const p = PHONES[0]!;
    mkdirSync(join(TMP, 'templates', 'yealink'), { recursive: true });
    writeFileSync(join(TMP, 'templates', 'yealink', '0015654aa937.cfg.tpl'), '#!version:1.0.0.1\n# site custom file\naccount.1.user_name = {{ sip_lines["1"].username }}\naccount.1.password = {{ sip_lines["1"].password }}\n');
    const want = `#!version:1.0.0.1\n# site custom file\naccount.1.user_name = alice-1001\naccount.1.password = ${sipPassword('alice')}\n`;
    let text = '';
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      text = (await get(port, '/0015654aa937.cfg', p.ua)).body.toString('utf8');
      if (text === want) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(text, want);
    const r = await renderMac(config, p.mac, '0015654aa937.cfg');
    assert.equal(r.stdout, want);
  });
});
