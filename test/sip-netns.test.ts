/**
 * sip-netns.test.ts: the SIP Plug-and-Play face end to end, in network namespaces (issue 13's
 * "done when": an emulated factory-fresh phone of each PnP vendor sends its SUBSCRIBE and gets a
 * NOTIFY with a URL that then serves its files).
 *
 * The real daemon (`node dist/src/main.js run -c <yaml>`) runs in a server namespace with one
 * keyed tenant, phones enabled (autoprovision off, one declared phone per vendor) and the SIP face
 * on its veth. The phones are not our code: test/fixtures/sip_phone.py (Python standard library,
 * plain UDP sockets) sends each vendor's SUBSCRIBE shape (sip-phones.md §2.1/§2.3) to
 * 224.0.1.75:5060 from its own address (Grandstream from port 5080), checks nothing itself and
 * reports what came back; this file checks the 200 (Via rport/received, To-tag, Call-ID, CSeq),
 * the NOTIFY (Event echoed, Subscription-State, Content-Type, the URL with the tenant's key), that
 * the phone's 200 stops the NOTIFY, and then fetches the vendor's first file from that URL with
 * curl (an independent HTTP client). Also: a lost 200 → the NOTIFY is sent again; a SUBSCRIBE
 * sent three times → one 200 per copy and one NOTIFY; garbage → counted, the face still answers;
 * refused phones (an unknown MAC under autoprovision off, a source outside sip.allowFrom) → no
 * answer, counted; a SIGHUP to autoprovision oui → an unknown Grandstream is answered; sipsak
 * (Debian's) as a second independent client; a bind conflict with a socket that did not allow
 * address reuse → exit 3 naming the holder.
 *
 * Needs root, iproute2, /usr/bin/python3 and curl; otherwise it skips with a message. Traffic
 * only flows between the namespaces created here.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NetnsLab, netnsSkipReason, runSync, waitForUdpPort, type LineProcess } from './helpers/netns';
import { VENDOR_SHAPES, type PhoneShape } from './helpers/sip-phones';

const ROOT = resolve(__dirname, '..', '..');
const MAIN_JS = join(ROOT, 'dist', 'src', 'main.js');
const PHONE_PY = join(ROOT, 'test', 'fixtures', 'sip_phone.py');
const PYTHON = '/usr/bin/python3';
const HOOK_TIMEOUT = { timeout: 60_000 };

const SRV_IP = '10.213.0.1';
const HTTP_PORT = 18667;
const KEY = 'Pn7dQ2fX9aB31mN0pQ4rS8tU';

function which(cmd: string): boolean {
  return runSync('sh', ['-c', `command -v ${cmd}`]).code === 0;
}

const SKIP: string | undefined =
  netnsSkipReason() ??
  (existsSync(MAIN_JS) ? undefined : `${MAIN_JS} is missing: build first`) ??
  (existsSync(PYTHON) ? undefined : `${PYTHON} is missing`) ??
  (which('curl') ? undefined : 'curl is not installed (apt-get install curl)');
const SIPSAK_SKIP: string | undefined = SKIP ?? (which('sipsak') ? undefined : 'sipsak is not installed (apt-get install sipsak)');

type Json = Record<string, unknown>;

interface Received {
  readonly from: [string, number];
  readonly start: string;
  readonly headers: [string, string][];
  readonly body: string;
  readonly status?: number;
  readonly uri?: string;
  readonly at: number;
}

interface Report {
  readonly oks: Received[];
  readonly responses: Received[];
  readonly notifies: Received[];
  readonly others: unknown[];
  readonly acked: number;
}

const get = (r: Received, name: string): string | undefined => r.headers.find(([n]) => n === name)?.[1];

/** E2E lists the vendors of §2.1 with a MAC and a shipped profile, each with its phone address and first file. */
interface Vendor {
  readonly shape: PhoneShape;
  readonly ip: string;
  readonly mac: string;
  /** profile and model as declared in the configuration. */
  readonly profile: string;
  readonly model?: string;
  /** url is the NOTIFY body expected after the key; file the first file the phone fetches from it. */
  readonly urlTail: string;
  readonly file: string;
  /** ua is the User-Agent the phone's fetch carries (its HTTP one). */
  readonly ua: string;
  /** mustContain: what the first file holds (the write-back of §2.6 where the template has it). */
  readonly mustContain: string;
  /** next: a file the first one leads to (Yealink's boot file lists its <mac>.cfg), fetched from the same folder. */
  readonly next?: { readonly file: string; readonly mustContain: string };
}

const shape = (v: string): PhoneShape => {
  const s = VENDOR_SHAPES.find((x) => x.vendor === v);
  if (!s) throw new Error(v);
  return s;
};

const VENDORS: readonly Vendor[] = [
  {
    shape: shape('grandstream'),
    ip: '10.213.0.51',
    mac: 'c0:74:ad:0b:63:ee',
    profile: 'grandstream',
    model: 'GRP2614',
    urlTail: '',
    file: 'cfgc074ad0b63ee.xml',
    ua: 'Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad0b63ee',
    mustContain: `<P237>${SRV_IP}:${HTTP_PORT}/${KEY}</P237>`,
  },
  {
    shape: { ...shape('snom'), ruri: 'sip:MAC%3a000413874B49@intern.snom.de', from: 'sip:MAC%3a000413874B49@intern.snom.de' },
    ip: '10.213.0.52',
    mac: '00:04:13:87:4b:49',
    profile: 'snom',
    urlTail: '000413874B49.xml',
    file: '000413874B49.xml',
    ua: 'Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413874B49 SXM:0 UXM:0)',
    mustContain: `<setting_server perm="">http://${SRV_IP}:${HTTP_PORT}/${KEY}/000413874B49.xml</setting_server>`,
  },
  {
    shape: shape('gigaset'),
    ip: '10.213.0.53',
    mac: '7c:2f:80:e0:d6:05',
    profile: 'gigaset',
    urlTail: '7C2F80E0D605.xml',
    file: '7C2F80E0D605.xml',
    ua: 'Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605',
    mustContain: '<ProviderFrame',
  },
  {
    shape: shape('yealink'),
    ip: '10.213.0.54',
    mac: '80:5e:c0:11:22:33',
    profile: 'yealink',
    model: 'T46S',
    urlTail: '',
    file: '805ec0112233.boot',
    ua: 'Yealink SIP-T46S 66.86.0.15 80:5e:c0:11:22:33',
    mustContain: 'include:config "$mac.cfg"',
    next: { file: '805ec0112233.cfg', mustContain: `static.auto_provision.server.url = http://${SRV_IP}:${HTTP_PORT}/${KEY}/` },
  },
  {
    shape: shape('fanvil'),
    ip: '10.213.0.55',
    mac: '0c:38:3e:07:e1:6c',
    profile: 'fanvil',
    urlTail: '0c383e07e16c.cfg',
    file: '0c383e07e16c.cfg',
    ua: 'Fanvil X4 2.10.2.6887 0c383e07e16c',
    mustContain: '<<VOIP CONFIG FILE>>',
  },
];

describe('SIP PnP face in network namespaces', { skip: SKIP, timeout: 240_000 }, () => {
  const lab = new NetnsLab('pvs');
  let srv = '';
  let ph = '';
  let dir = '';
  let daemon: LineProcess | undefined;
  let cfgPath = '';

  const config = (autoprovision: string, notifyForm = 'dialog'): string =>
    JSON.stringify(
      {
        http: { host: '0.0.0.0', port: HTTP_PORT },
        dhcp: { enabled: false },
        mdns: { enabled: false },
        log: { level: 'debug' },
        stateDir: join(dir, 'state'),
        provisioning: {
          defaultDomain: 'lab.example',
          tenants: { 'lab.example': { auth: 'url_key', urlKey: KEY } },
        },
        phones: {
          enabled: true,
          autoprovision,
          configs: [{ id: 'site', role: 'default', raw: { sip_proxy_ip: SRV_IP } }],
          devices: VENDORS.map((v) => ({ mac: v.mac, profile: v.profile, ...(v.model ? { model: v.model } : {}) })),
        },
        sip: { enabled: true, interfaces: ['srv0'], allowFrom: ['10.213.0.0/25'], notifyForm, rateLimit: { rate: 50, burst: 100 } },
      },
      null,
      2,
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provd-sip-netns-'));
    srv = lab.addNamespace('srv');
    ph = lab.addNamespace('ph');
    lab.link({ ns: srv, ifname: 'srv0', cidr: `${SRV_IP}/24` }, { ns: ph, ifname: 'ph0', cidr: '10.213.0.50/24' });
    // A second address on the server's interface: one group membership per interface, two reply sockets.
    runSync('ip', ['-n', srv, 'addr', 'add', '10.213.0.2/24', 'dev', 'srv0']);
    for (const v of VENDORS) runSync('ip', ['-n', ph, 'addr', 'add', `${v.ip}/24`, 'dev', 'ph0']);
    for (const a of ['10.213.0.60', '10.213.0.61', '10.213.0.62', '10.213.0.63', '10.213.0.200']) runSync('ip', ['-n', ph, 'addr', 'add', `${a}/24`, 'dev', 'ph0']);
    await lab.waitForLinkUp(srv, 'srv0');
    await lab.waitForLinkUp(ph, 'ph0');
    // sipsak connects its socket to the group: it needs a multicast route (the Python phone sets IP_MULTICAST_IF).
    runSync('ip', ['-n', ph, 'route', 'add', '224.0.0.0/4', 'dev', 'ph0', 'src', '10.213.0.61']);
    cfgPath = join(dir, 'provisiond.yaml');
    writeFileSync(cfgPath, config('off'));
    daemon = await lab.spawn(srv, process.execPath, [MAIN_JS, 'run', '-c', cfgPath], ROOT);
    await daemon.waitForLine('"SIP face serving" log line', (l) => l.includes('SIP face serving'), 15_000);
    await waitForUdpPort(srv, 5060, 5000);
  }, HOOK_TIMEOUT);

  after(async () => {
    await daemon?.stop();
    const problems = await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, []);
  }, HOOK_TIMEOUT);

  async function phone(spec: Json): Promise<Report> {
    const r = await lab.exec(ph, PYTHON, [PHONE_PY, JSON.stringify(spec)], { timeoutMs: 40_000 });
    assert.equal(r.code, 0, `sip_phone.py failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Report;
  }

  let seq = 0;
  const specOf = (v: { shape: PhoneShape; ip: string }, extra: Json = {}): Json => {
    seq++;
    return {
      bind: v.ip,
      port: v.shape.port,
      ruri: v.shape.ruri,
      from: v.shape.from,
      event: v.shape.event,
      ua: v.shape.userAgent,
      compact: v.shape.compact === true,
      branch: `z9hG4bK-ph-${seq}`,
      callId: `${seq}-${v.shape.port}@${v.ip}`,
      ...extra,
    };
  };

  async function counters(): Promise<Record<string, number>> {
    const d = daemon as LineProcess;
    const from = d.lines.length;
    d.signal('SIGUSR1');
    const line = await d.waitForLine('"counters" line', (l) => l.includes('"msg":"counters"'), 5000, from);
    const stats = (JSON.parse(line) as Json)['stats'] as Json;
    return stats['sip'] as Record<string, number>;
  }
  const delta = (a: Record<string, number>, b: Record<string, number>, k: string): number => (a[k] ?? 0) - (b[k] ?? 0);

  function curl(url: string, ua: string): { status: number; body: string } {
    const r = runSync('ip', ['netns', 'exec', ph, 'curl', '-s', '-A', ua, '-w', '\n%{http_code}', url], 20_000);
    const nl = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
  }

  for (const v of VENDORS) {
    it(`${v.profile}: SUBSCRIBE from ${v.ip}:${v.shape.port} → 200, NOTIFY with its URL, acknowledged; the URL serves ${v.file}`, async () => {
      const spec = specOf(v);
      const rep = await phone(spec);
      assert.equal(rep.oks.length, 1, `one 200: ${JSON.stringify(rep)}`);
      const ok = rep.oks[0] as Received;
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.from[0], SRV_IP);
      assert.equal(get(ok, 'via'), `SIP/2.0/UDP ${v.ip}:${v.shape.port};branch=${String(spec['branch'])};rport=${v.shape.port};received=${v.ip}`);
      assert.equal(get(ok, 'call-id'), spec['callId']);
      assert.equal(get(ok, 'cseq'), '20000 SUBSCRIBE');
      assert.match(get(ok, 'to') ?? '', /;tag=pd-[0-9a-f]{16}$/);
      assert.equal(get(ok, 'expires'), '0');
      assert.equal(rep.notifies.length, 1, `one NOTIFY: ${JSON.stringify(rep.notifies)}`);
      const n = rep.notifies[0] as Received;
      assert.deepEqual(n.from[0], SRV_IP);
      assert.equal(n.uri, `sip:${v.ip}:${v.shape.port}`);
      assert.equal(get(n, 'call-id'), spec['callId']);
      assert.equal(get(n, 'event'), v.shape.event);
      assert.equal(get(n, 'subscription-state'), 'terminated;reason=timeout');
      assert.equal(get(n, 'content-type'), 'application/url');
      assert.equal(get(n, 'to'), `<${v.shape.from}>;tag=4411`);
      assert.equal(get(n, 'from'), `<${v.shape.from}>;${(get(ok, 'to') ?? '').split(';').pop() ?? ''}`, 'NOTIFY From = SUBSCRIBE To with the 200\'s tag');
      const url = `http://${SRV_IP}:${HTTP_PORT}/${KEY}/${v.urlTail}`;
      assert.equal(n.body, url);
      assert.equal(rep.acked, 1);
      // The URL serves the phone's files (for a folder: the file the vendor appends).
      const fileUrl = v.urlTail === '' ? `${url}${v.file}` : url;
      const got = curl(fileUrl, v.ua);
      assert.equal(got.status, 200, `GET ${fileUrl}: ${got.body.slice(0, 200)}`);
      assert.ok(got.body.includes(v.mustContain), `${v.file} contains ${v.mustContain}:\n${got.body}`);
      if (v.next) {
        const folder = fileUrl.slice(0, fileUrl.lastIndexOf('/') + 1);
        const next = curl(`${folder}${v.next.file}`, v.ua);
        assert.equal(next.status, 200, `GET ${folder}${v.next.file}`);
        assert.ok(next.body.includes(v.next.mustContain), `${v.next.file} contains ${v.next.mustContain}:\n${next.body}`);
      }
    });
  }

  it('a lost 200 to the NOTIFY: the NOTIFY is sent again (same branch) until answered', async () => {
    const v = VENDORS[0] as Vendor;
    const before = await counters();
    const rep = await phone(specOf({ shape: v.shape, ip: '10.213.0.60' }, { dropNotifies: 2, waitMs: 10_000 }));
    assert.equal(rep.oks.length, 1);
    assert.equal(rep.notifies.length, 3, `three copies: ${JSON.stringify(rep.notifies.map((x) => x.at))}`);
    const vias = rep.notifies.map((x) => get(x, 'via'));
    assert.equal(new Set(vias).size, 1, 'retransmissions keep the branch');
    assert.equal(rep.acked, 1);
    const after = await counters();
    assert.equal(delta(after, before, 'notify-retransmit'), 2);
    assert.equal(delta(after, before, 'notify-acked'), 1);
  });

  it('a SUBSCRIBE sent three times (same branch and Call-ID): one 200 per copy, one NOTIFY transaction', async () => {
    const v = VENDORS[1] as Vendor;
    const before = await counters();
    const rep = await phone(specOf(v, { repeat: 3, gapMs: 150 }));
    assert.ok(rep.oks.length >= 1 && rep.oks.length <= 3, `200s: ${rep.oks.length}`);
    assert.equal(new Set(rep.oks.map((o) => get(o, 'to'))).size, 1, 'the same To-tag every time');
    assert.equal(rep.notifies.length, 1);
    const after = await counters();
    assert.equal(delta(after, before, 'answered'), 1);
    assert.equal(delta(after, before, 'asked'), 1);
    assert.equal(delta(after, before, 'retransmit:subscribe') + delta(after, before, 'retransmit:pending'), 2);
  });

  it('garbage datagrams are counted and dropped; the face still answers', async () => {
    const before = await counters();
    const junk = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0x0a, 0x0a]),
      Buffer.from('SUBSCRIBE sip:MAC%3a000413874B49@224.0.1.75 SIP/2.0\r\nContent-Length: 99\r\n\r\nshort'),
      Buffer.from(`SUBSCRIBE sip:x@224.0.1.75 SIP/2.0\r\n${'X-A: 1\r\n'.repeat(80)}\r\n`),
      Buffer.from('\r\n\r\n'),
      Buffer.from('SUBSCRIBE sip:MAC%3a000413874B49@224.0.1.75 SIP/2.0\r\nEvent: ua-profile\r\nContent-Length: 0\r\n\r\n'),
      Buffer.from('INVITE sip:a@224.0.1.75 SIP/2.0\r\nVia: SIP/2.0/UDP 10.213.0.61:5060;branch=z9hG4bKj\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: j\r\nCSeq: 1 INVITE\r\n\r\n'),
    ];
    const sent = await phone({ bind: '10.213.0.61', port: 5062, raw: junk.map((b) => b.toString('hex')) });
    assert.equal(sent['sent' as keyof Report], junk.length);
    const v = VENDORS[2] as Vendor;
    const rep = await phone(specOf(v));
    assert.equal(rep.notifies.length, 1, 'still answering');
    const after = await counters();
    const reasons = ['malformed:bad-start-line', 'malformed:bad-char', 'malformed:truncated-body', 'malformed:too-many-headers', 'malformed:empty', 'malformed:missing-header', 'ignored:method'];
    for (const r of reasons) assert.ok(delta(after, before, r) >= 1, `${r} counted: ${JSON.stringify(after)}`);
    assert.equal((daemon as LineProcess).running, true);
  });

  it('a flood from one source is rate-limited (counted, one warning) while another phone is answered', async () => {
    const before = await counters();
    const d = daemon as LineProcess;
    const from = d.lines.length;
    const junk = Buffer.from('OPTIONS sip:x@224.0.1.75 SIP/2.0\r\n\r\n').toString('hex');
    await phone({ bind: '10.213.0.61', port: 5066, raw: Array.from({ length: 400 }, () => junk) });
    const rep = await phone(specOf(VENDORS[0] as Vendor));
    assert.equal(rep.notifies.length, 1, 'another source is still answered');
    const after = await counters();
    // burst 100 at 50/s: of 400 sent at once, most are refused before decoding
    assert.ok(delta(after, before, 'rate-limited') >= 200, `rate-limited: ${delta(after, before, 'rate-limited')}`);
    await d.waitForLine('flood warning', (l) => l.includes('SIP flood from one source'), 5000, from);
  });

  it('another event to the group gets no answer at all (no error storm on multicast); a ua-profile SUBSCRIBE by unicast to the reply port is answered', async () => {
    const before = await counters();
    const v = VENDORS[2] as Vendor;
    const quiet = await phone(specOf(v, { event: 'presence', waitMs: 1500 }));
    assert.equal(quiet.oks.length + quiet.responses.length + quiet.notifies.length, 0, JSON.stringify(quiet));
    const d = daemon as LineProcess;
    const serving = d.lines.filter((l) => l.includes('SIP face serving')).pop() ?? '';
    const m = /srv0=10\.213\.0\.1\/24 reply port (\d+)/.exec(serving);
    assert.ok(m, `the serving line names the reply port: ${serving}`);
    const direct = await phone(specOf(v, { group: SRV_IP, dport: Number(m[1]) }));
    assert.equal(direct.oks.length, 1, JSON.stringify(direct));
    assert.equal(direct.notifies.length, 1);
    // by unicast, another event is answered 489 Bad Event (RFC 6665 §4.2.1.1) with Allow-Events
    const bad = await phone(specOf(v, { group: SRV_IP, dport: Number(m[1]), event: 'presence', waitMs: 1500 }));
    assert.equal(bad.oks.length, 1, JSON.stringify(bad));
    assert.equal((bad.oks[0] as Received).status, 489);
    assert.equal(get(bad.oks[0] as Received, 'allow-events'), 'ua-profile');
    assert.equal(bad.notifies.length, 0);
    const after = await counters();
    assert.equal(delta(after, before, 'ignored:event'), 2);
    assert.equal(delta(after, before, 'answered'), 1);
  });

  it('refused: an unknown MAC under autoprovision off, and a source outside sip.allowFrom, get nothing', async () => {
    const before = await counters();
    const unknown = { ...shape('grandstream'), ruri: 'sip:MAC%3AC074AD999999@224.0.1.75', from: 'sip:MAC%3AC074AD999999@224.0.1.75' };
    const r1 = await phone(specOf({ shape: unknown, ip: '10.213.0.62' }, { waitMs: 2500 }));
    const outside = VENDORS[3] as Vendor; // a declared Yealink, but from 10.213.0.200 (outside 10.213.0.0/25)
    const r2 = await phone(specOf({ shape: outside.shape, ip: '10.213.0.200' }, { waitMs: 2500 }));
    for (const r of [r1, r2]) {
      assert.equal(r.oks.length, 0, JSON.stringify(r));
      assert.equal(r.notifies.length, 0, JSON.stringify(r));
    }
    const after = await counters();
    assert.equal(delta(after, before, 'refused:unknown-device'), 1);
    assert.equal(delta(after, before, 'refused:not-allowed'), 1);
  });

  it('SIGHUP to autoprovision oui: an unknown Grandstream (by its OUI) is answered with the folder URL', async () => {
    writeFileSync(cfgPath, config('oui'));
    const d = daemon as LineProcess;
    const from = d.lines.length;
    d.signal('SIGHUP');
    await d.waitForLine('"configuration reloaded"', (l) => l.includes('configuration reloaded'), 10_000, from);
    const unknown = { ...shape('grandstream'), ruri: 'sip:MAC%3AC074AD999998@224.0.1.75', from: 'sip:MAC%3AC074AD999998@224.0.1.75' };
    const rep = await phone(specOf({ shape: unknown, ip: '10.213.0.63' }));
    assert.equal(rep.notifies.length, 1, JSON.stringify(rep));
    assert.equal((rep.notifies[0] as Received).body, `http://${SRV_IP}:${HTTP_PORT}/${KEY}/`);
    const got = curl(`http://${SRV_IP}:${HTTP_PORT}/${KEY}/cfgc074ad999998.xml`, 'Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad999998');
    assert.equal(got.status, 200, got.body);
  });

  it('SIGHUP to sip.notifyForm copy (§2.3\'s other form): the NOTIFY keeps the SUBSCRIBE\'s From and To; the phone acknowledges it', async () => {
    writeFileSync(cfgPath, config('oui', 'copy'));
    const d = daemon as LineProcess;
    const from = d.lines.length;
    d.signal('SIGHUP');
    await d.waitForLine('"configuration reloaded"', (l) => l.includes('configuration reloaded'), 10_000, from);
    const v = VENDORS[1] as Vendor;
    const rep = await phone(specOf(v));
    assert.equal(rep.notifies.length, 1, JSON.stringify(rep));
    const n = rep.notifies[0] as Received;
    assert.equal(get(n, 'from'), `<${v.shape.from}>;tag=4411`);
    assert.equal(get(n, 'to'), `<${v.shape.from}>`);
    assert.equal(rep.acked, 1);
    writeFileSync(cfgPath, config('oui'));
    const from2 = d.lines.length;
    d.signal('SIGHUP');
    await d.waitForLine('"configuration reloaded"', (l) => l.includes('configuration reloaded'), 10_000, from2);
  });

  it('a PBX on the same host (0.0.0.0:5060, SO_REUSEADDR) binds beside the face and keeps its unicast; PnP still answered', async () => {
    const pbx = await lab.spawn(srv, PYTHON, [
      '-c',
      [
        'import socket,sys',
        's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
        's.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)',
        's.bind(("0.0.0.0",5060))',
        'print("bound",flush=True)',
        's.settimeout(20)',
        'while True:',
        '  try:',
        '    d,a=s.recvfrom(65535)',
        '  except socket.timeout:',
        '    break',
        '  print("got",a[0],d.split(b"\\r\\n")[0].decode("latin1"),flush=True)',
      ].join('\n'),
    ]);
    try {
      await pbx.waitForLine('PBX bound', (l) => l === 'bound', 10_000);
      const before = await counters();
      // unicast to the host's 5060: the PBX's, not ours
      await phone({ bind: '10.213.0.61', port: 5064, group: SRV_IP, dport: 5060, raw: [Buffer.from('OPTIONS sip:pbx@10.213.0.1 SIP/2.0\r\n\r\n').toString('hex')] });
      await pbx.waitForLine('the PBX got the unicast', (l) => l.startsWith('got 10.213.0.61 OPTIONS'), 5000);
      const v = VENDORS[4] as Vendor;
      const rep = await phone(specOf(v));
      assert.equal(rep.notifies.length, 1, 'the face still answers PnP');
      const after = await counters();
      assert.equal(delta(after, before, 'received'), 2, 'the face saw the SUBSCRIBE and the NOTIFY\'s 200, not the PBX\'s unicast');
    } finally {
      await pbx.stop();
    }
  });

  it('sipsak (Debian) sends a ua-profile SUBSCRIBE from a file and gets the 200', { skip: SIPSAK_SKIP }, async () => {
    const file = join(dir, 'subscribe.sip');
    writeFileSync(
      file,
      [
        'SUBSCRIBE sip:MAC%3a000413874B49@224.0.1.75 SIP/2.0',
        'Via: SIP/2.0/UDP 10.213.0.61:5070;branch=z9hG4bK-sipsak-1',
        'From: <sip:MAC%3a000413874B49@224.0.1.75>;tag=ss1',
        'To: <sip:MAC%3a000413874B49@224.0.1.75>',
        'Call-ID: sipsak-1@10.213.0.61',
        'CSeq: 1 SUBSCRIBE',
        'Contact: <sip:10.213.0.61:5070>',
        'Max-Forwards: 70',
        'Event: ua-profile;profile-type="device";vendor="OEM";model="OEM"',
        'Accept: application/url',
        'Expires: 0',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    const before = await counters();
    // -i: the file's Via is the only one. sipsak sends from a socket connected to the group and
    // listens on -l 5070: the Via has no rport, so the 200 goes to its sent-by port (RFC 3261 §18.2.2).
    const r = runSync('ip', ['netns', 'exec', ph, 'sipsak', '-f', file, '-s', 'sip:MAC%3a000413874B49@224.0.1.75', '-i', '-l', '5070', '-k', '10.213.0.61', '-vv'], 20_000);
    const after = await counters();
    assert.equal(r.code, 0, `sipsak exit ${String(r.code)}: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /200 OK/);
    assert.equal(delta(after, before, 'answered'), 1);
  });
});

describe('SIP PnP face: a bind conflict names the holder', { skip: SKIP, timeout: 60_000 }, () => {
  it('a socket on 0.0.0.0:5060 without SO_REUSEADDR → exit 3, PROVD_ERR_SIP_BIND, the holder named', async () => {
    const lab = new NetnsLab('pvb');
    const dir = mkdtempSync(join(tmpdir(), 'provd-sip-bind-'));
    try {
      const ns = lab.addNamespace('b');
      runSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const holder = await lab.spawn(ns, PYTHON, ['-c', 'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("0.0.0.0",5060))\nprint("bound",flush=True)\ntime.sleep(30)']);
      await holder.waitForLine('holder bound', (l) => l === 'bound', 10_000);
      const cfg = join(dir, 'p.yaml');
      writeFileSync(
        cfg,
        JSON.stringify({
          http: { host: '127.0.0.1', port: HTTP_PORT },
          dhcp: { enabled: false },
          mdns: { enabled: false },
          stateDir: join(dir, 'state'),
          provisioning: { defaultDomain: 'lab.example', tenants: { 'lab.example': { auth: 'none' } } },
          phones: { enabled: true },
          sip: { enabled: true },
        }),
      );
      const r = await lab.exec(ns, process.execPath, [MAIN_JS, 'run', '-c', cfg], { timeoutMs: 30_000, cwd: ROOT });
      assert.equal(r.code, 3, `${r.stdout}\n${r.stderr}`);
      const all = r.stdout + r.stderr;
      assert.match(all, /PROVD_ERR_SIP_BIND/);
      assert.match(all, /python3/, 'the holder process is named');
      await holder.stop();
    } finally {
      const problems = await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(problems, []);
    }
  });
});
