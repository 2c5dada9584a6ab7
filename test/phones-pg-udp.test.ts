/**
 * phones-pg-udp.test.ts: the SIP PnP and TFTP faces on the shared store (PostgreSQL, issue 16
 * item 3). The real daemon runs in a server namespace with `store.url` pointing at a real
 * PostgreSQL server (test/helpers/postgres.ts, reached over its unix socket) and the SIP and TFTP
 * faces on its veth; the phone is declared beforehand by another process (the CLI, as another node
 * would), so every answer below comes from the shared tables:
 * - an emulated Yealink (test/fixtures/sip_phone.py, plain UDP sockets) sends its multicast
 *   SUBSCRIBE and gets the NOTIFY with the URL;
 * - curl (an independent TFTP client) fetches the phone's file over TFTP, with the line the
 *   CLI gave it, and the face's sighting reaches the shared table;
 * - a line changed by the CLI meanwhile (another node's write) is served by TFTP within the
 *   view's refresh.
 * Needs root, iproute2, /usr/bin/python3, curl and Debian's postgresql; skips with a message
 * otherwise. Traffic flows only between the namespaces created here.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NetnsLab, netnsSkipReason, runSync, waitFor, waitForUdpPort, type LineProcess } from './helpers/netns';
import { usePostgres } from './helpers/postgres';
import { runCli } from './helpers/daemon';
import { VENDOR_SHAPES } from './helpers/sip-phones';

const ROOT = resolve(__dirname, '..', '..');
const MAIN_JS = join(ROOT, 'dist', 'src', 'main.js');
const PHONE_PY = join(ROOT, 'test', 'fixtures', 'sip_phone.py');
const PYTHON = '/usr/bin/python3';
const SRV_IP = '10.215.0.1';
const PHONE_IP = '10.215.0.54';
const HTTP_PORT = 18669;
const MAC = '80:5e:c0:11:22:33'; // the emulated Yealink's (VENDOR_SHAPES)
const FILE = '805ec0112233.cfg';
const YEALINK = VENDOR_SHAPES.find((s) => s.vendor === 'yealink');

const SKIP =
  netnsSkipReason() ??
  (existsSync(MAIN_JS) ? undefined : `${MAIN_JS} is missing: build first`) ??
  (existsSync(PYTHON) ? undefined : `${PYTHON} is missing`) ??
  (runSync('sh', ['-c', 'command -v curl']).code === 0 ? undefined : 'curl is not installed (apt-get install curl)');

const pg = usePostgres('udp');
const lab = new NetnsLab('pgu');
let daemon: LineProcess | undefined;

after(async () => {
  await daemon?.stop();
  assert.deepEqual(await lab.destroy(), []);
});

function configText(stateDir: string, url: string): string {
  return JSON.stringify(
    {
      http: { host: '0.0.0.0', port: HTTP_PORT, rateLimit: { rate: 0 } },
      dhcp: { enabled: false },
      mdns: { enabled: false },
      log: { level: 'info' },
      stateDir,
      store: { url },
      provisioning: {
        defaultDomain: 'lab.example',
        passwords: { scryptCost: 10 },
        tenants: {
          'lab.example': {
            auth: 'none',
            users: {
              carol: { password: 'plain:carol pw', attributes: { sip_username: '2001', sip_password: 'Carol-SIP-secret', display_name: 'Carol' } },
              dave: { password: 'plain:dave pw', attributes: { sip_username: '2002', sip_password: 'Dave-SIP-secret', display_name: 'Dave' } },
            },
          },
        },
      },
      phones: { enabled: true, autoprovision: 'off', configs: [{ id: 'site', role: 'default', raw: { sip_proxy_ip: SRV_IP } }] },
      sip: { enabled: true, interfaces: ['srv0'], allowFrom: ['10.215.0.0/24'] },
      tftp: { enabled: true, interfaces: ['srv0'], rateLimit: { rate: 0 } },
    },
    null,
    2,
  );
}

test('SIP PnP and TFTP faces answer from PostgreSQL: a phone declared by another process is announced and served, its sighting is shared, a later change is served', { timeout: 180_000 }, async (t) => {
  if (SKIP !== undefined) return t.skip(SKIP);
  if (pg.skip !== false) return t.skip(pg.skip);
  assert.ok(YEALINK);
  const db = await pg.freshDb();
  const cfg = join(pg.tmp, 'provisiond.json');
  writeFileSync(cfg, configText(join(pg.tmp, 'state'), db.url));

  // Another node's write: the phone and its line go into the shared tables before the daemon starts.
  const add = await runCli(['devices', 'add', MAC, '--profile', 'yealink', '--model', 'T46S', '--user', 'carol', '--config', cfg]);
  assert.equal(add.code, 0, add.stderr);

  const srv = lab.addNamespace('srv');
  const ph = lab.addNamespace('ph');
  lab.link({ ns: srv, ifname: 'srv0', cidr: `${SRV_IP}/24` }, { ns: ph, ifname: 'ph0', cidr: `${PHONE_IP}/24` });
  await lab.waitForLinkUp(srv, 'srv0');
  await lab.waitForLinkUp(ph, 'ph0');
  daemon = await lab.spawn(srv, process.execPath, [MAIN_JS, 'run', '-c', cfg], ROOT);
  const d = daemon;
  await d.waitForLine('"SIP face serving"', (l) => l.includes('SIP face serving'), 30_000);
  await d.waitForLine('"TFTP face serving"', (l) => l.includes('TFTP face serving'), 30_000);
  await waitForUdpPort(srv, 5060, 5000);
  await waitForUdpPort(srv, 69, 5000);

  // SIP PnP: the multicast SUBSCRIBE is answered with the URL of the phone's files.
  const spec = { bind: PHONE_IP, port: YEALINK.port, ruri: YEALINK.ruri, from: YEALINK.from, event: YEALINK.event, ua: YEALINK.userAgent, compact: YEALINK.compact === true, branch: 'z9hG4bK-pgu-1', callId: `pgu-1@${PHONE_IP}` };
  const r = await lab.exec(ph, PYTHON, [PHONE_PY, JSON.stringify(spec)], { timeoutMs: 40_000 });
  assert.equal(r.code, 0, `sip_phone.py: ${r.stderr}`);
  const rep = JSON.parse(r.stdout) as { oks: unknown[]; notifies: { body: string }[] };
  assert.equal(rep.oks.length, 1, `one 200: ${r.stdout}\n${d.lines.slice(-30).join("\n")}`);
  assert.equal(rep.notifies.length, 1, `one NOTIFY: ${r.stdout}\n${d.lines.slice(-20).join('\n')}`);
  assert.equal(rep.notifies[0]?.body, `http://${SRV_IP}:${HTTP_PORT}/`);

  // TFTP: the phone's file, with the line the CLI gave it in the shared store.
  const tftp = (): { code: number; body: string } => {
    const g = runSync('ip', ['netns', 'exec', ph, 'curl', '-sS', '--fail', '--max-time', '10', `tftp://${SRV_IP}/${FILE}`], 20_000);
    return { code: g.code ?? -1, body: g.stdout };
  };
  const first = tftp();
  assert.equal(first.code, 0, `curl tftp://${SRV_IP}/${FILE}: ${first.body}`);
  assert.match(first.body, /Carol-SIP-secret/);
  assert.ok(first.body.includes(`static.auto_provision.server.url = http://${SRV_IP}:${HTTP_PORT}/`), first.body);

  // The face's sighting (its address) is written through to the shared table.
  const seen = await waitFor(
    'the TFTP sighting in PostgreSQL',
    async () => {
      const rows = await pg.server?.sql(db.name, `SELECT ip FROM phone_devices WHERE mac = '${MAC}'`);
      return rows?.[0]?.['ip'] === PHONE_IP ? rows : undefined;
    },
    15_000,
    250,
  );
  assert.equal(seen.length, 1);

  // Another node changes the line: served by TFTP once the view has re-read the tables (every 2 s).
  const set = await runCli(['devices', 'set', MAC, '--user', 'dave', '--config', cfg]);
  assert.equal(set.code, 0, set.stderr);
  const later = await waitFor(
    'the TFTP face to serve the new line',
    () => {
      const g = tftp();
      return g.code === 0 && g.body.includes('Dave-SIP-secret') ? g.body : undefined;
    },
    15_000,
    250,
  );
  assert.doesNotMatch(later, /Carol-SIP-secret/);
  assert.equal(d.lines.filter((l) => /"level":"(error|fatal)"/.test(l)).join('\n'), '', 'no error line');
});
