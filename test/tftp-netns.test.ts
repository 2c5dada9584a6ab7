/**
 * tftp-netns.test.ts: the TFTP face through the daemon executable, in a network namespace the
 * test creates (port 69, the HTTP face on 8667, loopback inside the namespace only), against
 * independent clients: Debian's tftp-hpa `tftp`, `atftp`, `curl tftp://`, and a raw-UDP Python
 * client (test/helpers/tftp_client.py).
 *
 * - The same bytes over TFTP as curl gets over HTTP, for a rendered per-device file (Yealink
 *   `<mac>.cfg`, with its user's SIP password), a rendered common file and a static file of the
 *   vendor's files/ folder, with each client and every option combination it supports: none,
 *   blksize, tsize, timeout, windowsize, all together (curl: default options, --tftp-blksize,
 *   --tftp-no-options; atftp: --option; tftp-hpa: none, it negotiates nothing).
 * - A static file over 32 MB fetched in 512-byte blocks (block numbers roll over to 0) by
 *   tftp-hpa and curl --tftp-no-options, and by atftp with windowsize.
 * - A lost ACK (the Python client withholds one): the block comes again, the file arrives
 *   intact; a duplicate ACK is answered with no DATA at all (no Sorcerer's Apprentice).
 * - A WRQ → ERROR 2; an unknown file → ERROR 1; netascii → ERROR 4; a path escaping → ERROR 2.
 * - Garbage datagrams → no reply, counted as malformed (SIGUSR1 counters), and the face still serves.
 * - security.log gets the same lines as over HTTP for a failure (a wrong key); after
 *   http.bans.maxRetry failures the source is banned (the ban line, then ERROR 0 even for a good
 *   file), and the shipped fail2ban filter matches every failure line (fail2ban-regex, when installed).
 * - A second daemon on port 69 exits 3 (PROVD_ERR_TFTP_BIND).
 * - The caps: tftp.maxTransfersPerSource (a 3rd transfer from one address gets ERROR 0) and
 *   devices.maxNewPerSourcePerHour (a 2nd auto-created phone from one address: File not found,
 *   not recorded).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, netnsSkipReason, runSync, type LineProcess } from './helpers/netns';
import { MAIN } from './helpers/daemon';

const PY = '/usr/bin/python3';
const FILTER = join(__dirname, '..', '..', 'config', 'fail2ban', 'filter.d', 'provisiond.conf');
const CLIENT = join(__dirname, '..', '..', 'test', 'helpers', 'tftp_client.py');
const MAC = '00:15:65:4a:a9:37';
const FILE = '0015654aa937.cfg';
const COMMON = 'y000000000000.boot';
const SMALL_STATIC = 'T46S-66.86.0.15.rom';
const BIG_STATIC = 'T54W-96.87.0.15.rom';
const BIG_SIZE = 33 * 1024 * 1024 + 1234; // > 65535 blocks of 512 bytes

function missingTool(): string | undefined {
  const r = netnsSkipReason();
  if (r) return r;
  for (const t of ['/usr/bin/tftp', '/usr/bin/atftp', '/usr/bin/curl', PY]) {
    if (runSync('test', ['-x', t]).code !== 0) return `${t} is not installed (scripts/install-test-deps.sh)`;
  }
  return undefined;
}

const skip = missingTool();

function configText(dir: string): string {
  return `http:
  host: 0.0.0.0
  port: 8667
  rateLimit: {rate: 0}
  bans: {maxRetry: 3, findTime: 60, banTime: 600}
dhcp:
  enabled: false
mdns:
  enabled: false
tftp:
  enabled: true
  port: 69
  maxBlockSize: 65464
  maxWindowSize: 64
  maxTransfersPerSource: 2
  rateLimit: {rate: 0}
devices:
  maxNewPerSourcePerHour: 1
log:
  level: info
stateDir: ${join(dir, 'state')}
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
      users:
        alice: { password: "plain:pw-alice", attributes: { sip_username: "alice-1001", sip_password: "alice-SIP-Secret-9", display_name: "alice desk" } }
phones:
  enabled: true
  profilesDir: profiles
  autoprovision: all
  configs:
    - { id: site, role: default, raw: { ntp_ip: 192.0.2.123, sip_proxy_ip: 192.0.2.10, timezone: Europe/Paris } }
  devices:
    - { mac: "${MAC}", profile: yealink, model: T46S, users: [alice] }
`;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

describe('TFTP face in a namespace: tftp-hpa, atftp, curl and a raw client against the daemon', { skip }, () => {
  const lab = new NetnsLab('tftp');
  let ns = '';
  let dir = '';
  let daemon: LineProcess | undefined;
  const want = new Map<string, Buffer>();

  const inNs = (cmd: string, args: readonly string[], timeoutMs = 60_000) => runSync('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);
  const httpGet = (path: string): Buffer => {
    const out = join(dir, `http-${Math.random().toString(36).slice(2)}`);
    const r = inNs('curl', ['-sS', '--fail', '-o', out, `http://127.0.0.1:8667/${path}`]);
    assert.equal(r.code, 0, `curl http ${path}: ${r.stderr}`);
    return readFileSync(out);
  };
  const py = (args: string[], timeoutMs = 120_000): Record<string, unknown> => {
    const r = inNs(PY, [CLIENT, '127.0.0.1', '69', ...args], timeoutMs);
    assert.equal(r.code, 0, `python client ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provd-tftp-'));
    chmodSync(dir, 0o755);
    const files = join(dir, 'profiles', 'yealink', 'files');
    mkdirSync(files, { recursive: true });
    const small = Buffer.alloc(70_000);
    for (let i = 0; i < small.length; i++) small[i] = (i * 31 + 7) & 0xff;
    writeFileSync(join(files, SMALL_STATIC), small);
    // The big file is written in chunks (a pattern that differs per block, so a wrong block shows).
    const fd = openSync(join(files, BIG_STATIC), 'w');
    const chunk = Buffer.alloc(1 << 20);
    for (let off = 0; off < BIG_SIZE; off += chunk.length) {
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32BE(((off + i) * 2654435761) >>> 0, i);
      writeSync(fd, chunk, 0, Math.min(chunk.length, BIG_SIZE - off));
    }
    closeSync(fd);
    writeFileSync(join(dir, 'provisiond.yaml'), configText(dir));
    ns = lab.addNamespace('s');
    daemon = await lab.spawn(ns, process.execPath, [MAIN, 'run', '--config', join(dir, 'provisiond.yaml')], dir);
    await daemon.waitForLine('TFTP face serving', (l) => l.includes('"TFTP face serving"'), 20_000);
    await daemon.waitForLine('HTTP face serving', (l) => l.includes('"HTTP face serving"'), 20_000);
    for (const f of [FILE, COMMON, SMALL_STATIC]) want.set(f, httpGet(f));
    assert.ok(want.get(FILE)?.toString().includes('alice-SIP-Secret-9'), 'the per-device file carries its user\'s password');
  });

  after(async () => {
    const problems = await lab.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, []);
  });

  const curlCases: Array<[string, string[]]> = [
    ['default options', []],
    ['--tftp-blksize 1468', ['--tftp-blksize', '1468']],
    ['--tftp-blksize 8', ['--tftp-blksize', '8']],
    ['--tftp-no-options', ['--tftp-no-options']],
  ];
  const atftpCases: Array<[string, string[]]> = [
    ['no options', []],
    ['blksize 1468', ['--option', 'blksize 1468']],
    ['tsize', ['--option', 'tsize enable']],
    ['timeout 2', ['--option', 'timeout 2']],
    ['windowsize 8', ['--option', 'windowsize 8']],
    ['blksize 1024 + tsize + windowsize 16', ['--option', 'blksize 1024', '--option', 'tsize enable', '--option', 'windowsize 16']],
  ];

  for (const f of [FILE, COMMON, SMALL_STATIC]) {
    test(`${f}: tftp-hpa (octet, no options) gets the HTTP bytes`, () => {
      const out = join(dir, `hpa-${f}`);
      const r = inNs('tftp', ['-m', 'octet', '127.0.0.1', '69', '-c', 'get', f, out]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(sha(readFileSync(out)), sha(want.get(f) as Buffer));
    });
    for (const [name, args] of curlCases) {
      test(`${f}: curl tftp:// ${name} gets the HTTP bytes`, () => {
        const out = join(dir, `curl-${name.replace(/\W/g, '')}-${f}`);
        const r = inNs('curl', ['-sS', '--fail', ...args, '-o', out, `tftp://127.0.0.1/${f}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(sha(readFileSync(out)), sha(want.get(f) as Buffer));
      });
    }
    for (const [name, args] of atftpCases) {
      test(`${f}: atftp ${name} gets the HTTP bytes`, () => {
        const out = join(dir, `atftp-${name.replace(/\W/g, '')}-${f}`);
        const r = inNs('atftp', ['--get', '-r', f, '-l', out, ...args, '127.0.0.1', '69']);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.equal(sha(readFileSync(out)), sha(want.get(f) as Buffer));
      });
    }
  }

  test('a leading / or \\ is tolerated, as phones send them', () => {
    for (const name of [`/${FILE}`, `\\${FILE}`]) {
      const out = join(dir, `lead-${name.charCodeAt(0)}`);
      const r = inNs('atftp', ['--get', '-r', name, '-l', out, '127.0.0.1', '69']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(sha(readFileSync(out)), sha(want.get(FILE) as Buffer));
    }
  });

  test(`a ${BIG_SIZE}-byte static file in 512-byte blocks: block numbers roll over (tftp-hpa, curl --tftp-no-options, atftp windowsize 16)`, () => {
    const big = httpGet(BIG_STATIC);
    assert.equal(big.length, BIG_SIZE);
    const h = sha(big);
    const hpa = join(dir, 'big-hpa');
    let r = inNs('tftp', ['-m', 'octet', '127.0.0.1', '69', '-c', 'get', BIG_STATIC, hpa], 120_000);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(sha(readFileSync(hpa)), h, 'tftp-hpa');
    const c = join(dir, 'big-curl');
    r = inNs('curl', ['-sS', '--fail', '--tftp-no-options', '-o', c, `tftp://127.0.0.1/${BIG_STATIC}`], 120_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(readFileSync(c)), h, 'curl');
    const a = join(dir, 'big-atftp');
    r = inNs('atftp', ['--get', '-r', BIG_STATIC, '-l', a, '--option', 'blksize 512', '--option', 'windowsize 16', '127.0.0.1', '69'], 120_000);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(sha(readFileSync(a)), h, 'atftp');
    rmSync(hpa);
    rmSync(c);
    rmSync(a);
  });

  test('a lost ACK: the block is sent again and the file arrives intact; a duplicate ACK gets no DATA', () => {
    const r = py(['lost-ack', SMALL_STATIC, '5', '9']);
    assert.equal(r['ok'], true, JSON.stringify(r));
    assert.equal(r['sha256'], sha(want.get(SMALL_STATIC) as Buffer));
    assert.equal(r['retransmitted'], true, 'the withheld block came again');
    assert.deepEqual(r['duplicates'], [], 'no DATA answered the duplicate ACK');
  });

  test('WRQ → ERROR 2; unknown file → ERROR 1; netascii → ERROR 4; an escaping path → ERROR 2', () => {
    assert.deepEqual(py(['request', '2', 'octet', 'upload.cfg'])['reply'], { op: 5, n: 2, message: 'write requests are refused: provisiond serves files, it takes none' });
    assert.deepEqual(py(['request', '1', 'octet', 'no-such-file.bin'])['reply'], { op: 5, n: 1, message: 'File not found' });
    assert.deepEqual(py(['request', '1', 'netascii', FILE])['reply'], { op: 5, n: 4, message: 'mode netascii is not served: use octet (binary) mode' });
    assert.deepEqual(py(['request', '1', 'octet', '../../etc/passwd'])['reply'], { op: 5, n: 2, message: 'access violation: empty, . or .. segment' });
    // curl, too, sees the refusal of an upload.
    const up = join(dir, 'up.txt');
    writeFileSync(up, 'x');
    const r = inNs('curl', ['-sS', '-T', up, 'tftp://127.0.0.1/up.txt']);
    assert.notEqual(r.code, 0);
  });

  test('garbage datagrams: no reply, counted as malformed; the face still serves', async () => {
    const g = py(['garbage', '14']);
    assert.equal(g['replies'], 0);
    const out = join(dir, 'after-garbage');
    const r = inNs('curl', ['-sS', '--fail', '-o', out, `tftp://127.0.0.1/${FILE}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(readFileSync(out)), sha(want.get(FILE) as Buffer));
    const from = daemon?.lines.length ?? 0;
    daemon?.signal('SIGUSR1');
    const line = await (daemon as LineProcess).waitForLine('counters', (l) => l.includes('"counters"'), 10_000, from);
    const counters = JSON.parse(line) as { stats?: { tftp?: Record<string, number> } };
    const t = counters.stats?.tftp ?? {};
    const malformed = Object.entries(t).filter(([k]) => k.startsWith('malformed:')).reduce((n, [, v]) => n + v, 0);
    assert.ok(malformed >= 12, `malformed counters: ${JSON.stringify(t)}`);
    assert.ok((t['transfers:complete'] ?? 0) > 0, JSON.stringify(t));
  });

  test('a wrong key over TFTP is a failure line in security.log, as over HTTP', () => {
    const log = join(dir, 'state', 'security.log');
    const before = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const r = py(['request', '1', 'octet', `wrong-key-123/${FILE}`]);
    assert.deepEqual(r['reply'], { op: 5, n: 1, message: 'File not found' });
    const after = readFileSync(log, 'utf8').slice(before.length);
    assert.match(after, /failure ip=127\.0\.0\.1 reason=bad-key user=- tenant=-/);
  });
  test('the OACK holds only what was asked; SIGHUP applies a new tftp.maxBlockSize to the next transfer', async () => {
    const ask = (...opts: string[]) => py(['request', '1', 'octet', FILE, ...opts])['reply'];
    assert.deepEqual(ask('blksize=1468'), { op: 6, options: { blksize: '1468' } });
    assert.deepEqual(ask('tsize=0'), { op: 6, options: { tsize: String((want.get(FILE) as Buffer).length) } });
    assert.deepEqual(ask('windowsize=9999', 'blksize=70000', 'foo=bar'), { op: 6, options: { windowsize: '64', blksize: '65464' } });
    const cfg = join(dir, 'provisiond.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('maxBlockSize: 65464', 'maxBlockSize: 1024'));
    const from = daemon?.lines.length ?? 0;
    daemon?.signal('SIGHUP');
    await (daemon as LineProcess).waitForLine('configuration reloaded', (l) => l.includes('"configuration reloaded"'), 10_000, from);
    assert.deepEqual(ask('blksize=1468'), { op: 6, options: { blksize: '1024' } });
  });

  test('a second daemon on the same port exits 3 with PROVD_ERR_TFTP_BIND naming the holder', () => {
    const cfg = join(dir, 'second.yaml');
    writeFileSync(cfg, `http: {enabled: false}\ndhcp: {enabled: false}\nmdns: {enabled: false}\ntftp: {enabled: true, port: 69}\nstateDir: ${join(dir, 'state2')}\n`);
    const r = inNs(process.execPath, [MAIN, 'run', '--config', cfg], 30_000);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /PROVD_ERR_TFTP_BIND/);
    assert.match(r.stdout + r.stderr, /tftp\.port 69\/udp is already in use/);
  });

  test('tftp.maxTransfersPerSource: 2 running from one address, the 3rd gets ERROR 0 (counted)', () => {
    const r = py(['caps', '3', SMALL_STATIC]);
    const replies = r['replies'] as Array<Record<string, unknown> | null>;
    assert.equal(replies.length, 3);
    assert.deepEqual(replies.slice(0, 2), [{ op: 3, n: 1 }, { op: 3, n: 1 }], JSON.stringify(replies));
    assert.deepEqual(replies[2], { op: 5, n: 0, message: 'too many transfers from this address; retry later' });
  });

  test('devices.maxNewPerSourcePerHour over TFTP: the first unknown phone is recorded and served, the next one gets File not found', () => {
    const first = join(dir, 'auto-1');
    let r = inNs('curl', ['-sS', '--fail', '-o', first, 'tftp://127.0.0.1/001565000001.cfg']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(first).length > 0);
    assert.deepEqual(py(['request', '1', 'octet', '001565000002.cfg'])['reply'], { op: 5, n: 1, message: 'File not found' });
    r = inNs(process.execPath, [MAIN, 'devices', 'list', '--kind', 'phones', '--json', '--config', join(dir, 'provisiond.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    const macs = (JSON.parse(r.stdout) as Array<{ mac: string }>).map((d) => d.mac);
    assert.ok(macs.includes('00:15:65:00:00:01'), r.stdout);
    assert.ok(!macs.includes('00:15:65:00:00:02'), r.stdout);
  });

  test('bans (http.bans): after maxRetry wrong keys the source is banned, with the same ban line as HTTP; even a good file is then refused', () => {
    const log = join(dir, 'state', 'security.log');
    const before = readFileSync(log, 'utf8');
    for (let i = 0; i < 3; i++) py(['request', '1', 'octet', `wrong-key-${i}/${FILE}`]);
    const after = readFileSync(log, 'utf8').slice(before.length);
    assert.match(after, /ban ip=127\.0\.0\.1 scope=ip subject=127\.0\.0\.1 until=/);
    assert.deepEqual(py(['request', '1', 'octet', FILE])['reply'], { op: 5, n: 0, message: 'too many failed attempts; retry later' });
    // The shipped fail2ban filter matches every failure line the TFTP face wrote (the ban line is ours, not fail2ban's).
    if (runSync('fail2ban-regex', ['--help']).code === 0) {
      const all = readFileSync(log, 'utf8').trim().split('\n');
      const failures = all.filter((l) => / failure ip=/.test(l)).length;
      assert.equal(all.length - failures, 1, 'one ban line, the rest failure lines');
      const r = runSync('fail2ban-regex', [log, FILTER], 60_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Lines: ${all.length} lines, 0 ignored, ${failures} matched, 1 missed`), r.stdout);
    }
  });
});
