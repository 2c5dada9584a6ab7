/**
 * dhcp-netns.test.ts: interoperability tests of the DHCP face, end to end, in network namespaces.
 *
 * The real daemon (`node dist/src/main.js run -c <yaml>`) runs inside a server namespace; clients
 * run inside client namespaces joined to it by veth pairs:
 *   A  a Jitsi-like Node client sends the exact 300-byte DHCPINFORM of jitsi-client-contract.md
 *      §2.2 to 255.255.255.255:6767 from 0.0.0.0:6768 and checks the DHCPACK byte by byte
 *      (plus the broadcast-reply, relay and retransmission variants of §2.5's destination rule);
 *   B  Debian's python3-scapy builds, sends, sniffs and decodes the exchange on its own;
 *   C  a server with two links: the answer to a client on link 2 leaves through link 2 only;
 *   D  a burst of malformed datagrams does not crash the daemon, which still answers afterwards.
 *
 * Needs root and iproute2 (and /usr/bin/python3 with scapy for B); otherwise it skips with a
 * message. Traffic only ever flows between the namespaces created here.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetnsLab, netnsSkipReason, runSync, waitForUdpPort, udpPortsOfPid, sleep, type LineProcess } from './helpers/netns';
import type { ProbeSpec, ProbeReport, ProbeDatagram } from './helpers/udp-probe';
import type { FloodSpec } from './helpers/dhcp-flood';
import { jitsiInform as sharedJitsiInform } from './helpers/jitsi';

const ROOT = resolve(__dirname, '..', '..');
const MAIN_JS = join(ROOT, 'dist', 'src', 'main.js');
const PROBE_JS = join(__dirname, 'helpers', 'udp-probe.js');
const FLOOD_JS = join(__dirname, 'helpers', 'dhcp-flood.js');
const SCAPY_PY = join(ROOT, 'test', 'helpers', 'scapy_inform.py');
const SYSTEM_PYTHON = '/usr/bin/python3';

const SERVER_PORT = 6767;
const CLIENT_PORT = 6768;
const BROADCAST = '255.255.255.255';
const DHCP_COOKIE = 0x63825363;
/** HOOK_TIMEOUT bounds setup and teardown (every step inside is bounded on its own too). */
const HOOK_TIMEOUT = { timeout: 60_000 };

// ---------------------------------------------------------------------------------------------
// Skip decisions (computed once, at load)

const NETNS_SKIP: string | undefined = netnsSkipReason() ?? (existsSync(MAIN_JS) ? undefined : `${MAIN_JS} is missing: build first (npx tsc -p .)`);
const SCAPY_SKIP: string | undefined = NETNS_SKIP ?? scapySkipReason();

function scapySkipReason(): string | undefined {
  const r = runSync(SYSTEM_PYTHON, ['-c', 'import scapy'], 20_000);
  if (r.code === 0) return undefined;
  return `Debian python3-scapy is not importable by ${SYSTEM_PYTHON} (apt-get install python3-scapy): ${r.stderr.trim().split('\n').pop() ?? ''}`;
}

// ---------------------------------------------------------------------------------------------
// Wire helpers, written independently of src/dhcp (the tests must not share the codec under test)

function ipv4Bytes(a: string): Buffer {
  const parts = a.split('.').map((p) => Number(p));
  assert.equal(parts.length, 4, `bad IPv4 ${a}`);
  return Buffer.from(parts);
}

function ipv4String(b: Buffer, off: number): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

function macBytes(mac: string): Buffer {
  const b = Buffer.from(mac.replace(/:/g, ''), 'hex');
  assert.equal(b.length, 6, `bad MAC ${mac}`);
  return b;
}

/** randomXid returns a fresh xid; `negative` sets the top bit (a negative Java int, as Jitsi's often is). */
function randomXid(negative = false): number {
  const x = randomBytes(4).readUInt32BE(0);
  return (negative ? x | 0x80000000 : x & 0x7fffffff) >>> 0;
}

interface InformParams {
  readonly xid: number;
  readonly ciaddr: string;
  readonly mac: string;
  readonly giaddr?: string;
  readonly hops?: number;
  /** extraOptions are raw TLV bytes inserted after option 55 (before END). */
  readonly extraOptions?: Buffer;
}

/**
 * jitsiInform builds the DHCPINFORM of jitsi-client-contract.md §2.2: 300 bytes, op=1 htype=1
 * hlen=6, xid, ciaddr, chaddr = MAC + 10 zeros, cookie, 35 01 08, 37 01 E0, FF, zero padding.
 */
function jitsiInform(p: InformParams): Buffer {
  const b = Buffer.alloc(300);
  b[0] = 1; // op BOOTREQUEST
  b[1] = 1; // htype Ethernet
  b[2] = 6; // hlen
  b[3] = p.hops ?? 0;
  b.writeUInt32BE(p.xid >>> 0, 4);
  // secs = 0, flags = 0 (broadcast bit not set)
  ipv4Bytes(p.ciaddr).copy(b, 12);
  if (p.giaddr !== undefined) ipv4Bytes(p.giaddr).copy(b, 24);
  macBytes(p.mac).copy(b, 28);
  b.writeUInt32BE(DHCP_COOKIE, 236);
  const opts = Buffer.concat([Buffer.from([0x35, 0x01, 0x08, 0x37, 0x01, 0xe0]), p.extraOptions ?? Buffer.alloc(0), Buffer.from([0xff])]);
  assert.ok(240 + opts.length <= 300, 'options fit the 300-byte Jitsi packet');
  opts.copy(b, 240);
  return b;
}

interface DhcpOption {
  readonly code: number;
  readonly value: Buffer;
}

interface ParsedReply {
  readonly op: number;
  readonly htype: number;
  readonly hlen: number;
  readonly hops: number;
  readonly xid: number;
  readonly secs: number;
  readonly flags: number;
  readonly ciaddr: string;
  readonly yiaddr: string;
  readonly siaddr: string;
  readonly giaddr: string;
  readonly chaddr: Buffer;
  readonly sname: Buffer;
  readonly file: Buffer;
  readonly options: readonly DhcpOption[];
  /** endAt is the offset of the END option. */
  readonly endAt: number;
}

/** parseReply dissects a BOOTP/DHCP message as strictly as dhcp4java does (END required). */
function parseReply(buf: Buffer): ParsedReply {
  assert.ok(buf.length >= 240, `reply is ${buf.length} bytes; a DHCP message has at least 240`);
  assert.equal(buf.readUInt32BE(236), DHCP_COOKIE, 'magic cookie at offset 236');
  const options: DhcpOption[] = [];
  let i = 240;
  let endAt = -1;
  while (i < buf.length) {
    const code = buf[i] as number;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) {
      endAt = i;
      break;
    }
    assert.ok(i + 1 < buf.length, `option ${code} at ${i} has no length byte`);
    const len = buf[i + 1] as number;
    assert.ok(i + 2 + len <= buf.length, `option ${code} at ${i} overruns the datagram`);
    options.push({ code, value: buf.subarray(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  assert.ok(endAt >= 0, 'options are terminated by END (dhcp4java rejects a reply without it: "Packet seams to be truncated")');
  return {
    op: buf[0] as number,
    htype: buf[1] as number,
    hlen: buf[2] as number,
    hops: buf[3] as number,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipv4String(buf, 12),
    yiaddr: ipv4String(buf, 16),
    siaddr: ipv4String(buf, 20),
    giaddr: ipv4String(buf, 24),
    chaddr: buf.subarray(28, 44),
    sname: buf.subarray(44, 108),
    file: buf.subarray(108, 236),
    options,
    endAt,
  };
}

function optionValues(r: ParsedReply, code: number): Buffer[] {
  return r.options.filter((o) => o.code === code).map((o) => o.value);
}

function onlyOption(r: ParsedReply, code: number): Buffer {
  const v = optionValues(r, code);
  assert.equal(v.length, 1, `option ${code} appears exactly once (dhcp4java keeps only the last copy); got ${v.length}`);
  return v[0] as Buffer;
}

interface AckExpectation {
  readonly xid: number;
  readonly ciaddr: string;
  readonly giaddr?: string;
  readonly mac: string;
  readonly serverId: string;
  readonly url: string;
}

/** assertJitsiAck checks a reply against contract §2.5, byte by byte where the contract is exact. */
function assertJitsiAck(buf: Buffer, e: AckExpectation): ParsedReply {
  assert.ok(buf.length >= 300, `reply is padded to at least 300 bytes (got ${buf.length})`);
  assert.ok(buf.length <= 576, `reply fits 576 bytes (got ${buf.length})`);
  const r = parseReply(buf);
  assert.equal(r.op, 2, 'op = BOOTREPLY');
  assert.equal(r.htype, 1, 'htype copied (Ethernet)');
  assert.equal(r.hlen, 6, 'hlen copied');
  assert.equal(r.hops, 0, 'hops = 0');
  assert.equal(r.xid.toString(16), (e.xid >>> 0).toString(16), 'same xid (the only thing the Jitsi client matches on)');
  assert.equal(r.secs, 0, 'secs = 0');
  assert.equal(r.flags, 0, 'flags copied (0)');
  assert.equal(r.ciaddr, e.ciaddr, 'ciaddr copied');
  assert.equal(r.yiaddr, '0.0.0.0', 'yiaddr = 0 (INFORM: no lease)');
  assert.equal(r.giaddr, e.giaddr ?? '0.0.0.0', 'giaddr copied');
  assert.equal(r.chaddr.subarray(0, 6).toString('hex'), macBytes(e.mac).toString('hex'), 'chaddr copied');
  assert.ok(r.chaddr.subarray(6).equals(Buffer.alloc(10)), 'chaddr tail is zero');
  assert.ok(r.sname.equals(Buffer.alloc(64)), 'sname is zero');
  assert.ok(r.file.equals(Buffer.alloc(128)), 'file is zero');
  assert.deepEqual([...onlyOption(r, 53)], [5], 'option 53 = DHCPACK (35 01 05)');
  assert.equal(ipv4String(onlyOption(r, 54), 0), e.serverId, 'option 54 = server identifier of the receiving link');
  assert.equal(onlyOption(r, 54).length, 4, 'option 54 is 4 bytes');
  const url = onlyOption(r, 224);
  assert.ok(url.length <= 255, 'option 224 fits one option');
  assert.equal(url.indexOf(0), -1, 'option 224 has no NUL (Jitsi keeps it in the URL)');
  assert.equal(url.toString('latin1'), e.url, 'option 224 = the configured URL, byte for byte');
  assert.ok(buf.subarray(r.endAt + 1).equals(Buffer.alloc(buf.length - r.endAt - 1)), 'bytes after END are zero padding');
  return r;
}

// ---------------------------------------------------------------------------------------------
// Process helpers

type Json = Record<string, unknown>;

function parseJsonLine(line: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

function isProbeReport(v: Json | undefined): v is Json & ProbeReport {
  return v !== undefined && v['event'] === 'done' && Array.isArray(v['received']) && Array.isArray(v['sendErrors']);
}

let specFiles = 0;

/** runProbe runs udp-probe.js inside `ns` to completion and returns its report. */
async function runProbe(lab: NetnsLab, ns: string, spec: ProbeSpec): Promise<ProbeReport> {
  let arg = JSON.stringify(spec);
  let specFile: string | undefined;
  if (arg.length > 16_000) {
    // Too large for one argv string (Linux caps each at 128 KiB): hand it over in a file.
    specFile = join(tmpdir(), `provisiond-probe-${process.pid}-${++specFiles}.json`);
    writeFileSync(specFile, arg);
    arg = `@${specFile}`;
  }
  const r = await lab.exec(ns, process.execPath, [PROBE_JS, arg], { timeoutMs: spec.timeoutMs + 5000 }).finally(() => {
    if (specFile) rmSync(specFile, { force: true });
  });
  const report = r.stdout
    .split('\n')
    .map(parseJsonLine)
    .find((v) => isProbeReport(v));
  assert.ok(report && isProbeReport(report), `probe in ${ns} produced no report (exit ${String(r.code)}, timedOut ${r.timedOut}): ${r.stdout} ${r.stderr}`);
  return report;
}

/** startProbe starts a long-running udp-probe.js (a listener) and waits until it is bound. */
async function startProbe(lab: NetnsLab, ns: string, spec: ProbeSpec): Promise<LineProcess> {
  const p = await lab.spawn(ns, process.execPath, [PROBE_JS, JSON.stringify(spec)]);
  await p.waitForLine(`probe in ${ns} to be bound`, (l) => parseJsonLine(l)?.['event'] === 'ready', 10_000);
  return p;
}

/** stopProbe closes the listener's stdin and returns its report. */
async function stopProbe(p: LineProcess): Promise<ProbeReport> {
  p.closeStdin();
  const line = await p.waitForLine('listener report', (l) => isProbeReport(parseJsonLine(l)), 10_000);
  const report = parseJsonLine(line);
  assert.ok(isProbeReport(report));
  return report;
}

function xidOf(d: ProbeDatagram): number | undefined {
  const b = Buffer.from(d.hex, 'hex');
  return b.length >= 8 ? b.readUInt32BE(4) : undefined;
}

function repliesFor(report: ProbeReport, xid: number): ProbeDatagram[] {
  return report.received.filter((d) => xidOf(d) === xid >>> 0);
}

/** informSpec is the Jitsi client's send: bound to 0.0.0.0:6768 with SO_BROADCAST, to 255.255.255.255:6767. */
function informSpec(packets: readonly Buffer[], xid: number, extra: Partial<ProbeSpec> = {}): ProbeSpec {
  return {
    bindAddress: '0.0.0.0',
    bindPort: CLIENT_PORT,
    broadcast: true,
    sends: packets.map((p) => ({ address: BROADCAST, port: SERVER_PORT, hex: p.toString('hex') })),
    awaitXid: xid,
    lingerMs: 400,
    timeoutMs: 6000,
    ...extra,
  };
}

interface Daemon {
  readonly proc: LineProcess;
  readonly serving: Json;
}

/** startDaemon writes a temp YAML config and runs the real daemon inside `ns`. */
async function startDaemon(lab: NetnsLab, ns: string, dir: string, dhcp: Json): Promise<Daemon> {
  const cfgPath = join(dir, 'provisiond.yaml');
  const config = { dhcp, mdns: { enabled: false }, log: { level: 'debug' }, stateDir: join(dir, 'state') };
  // JSON is valid YAML; it keeps the ${…} placeholders literal without any quoting rules.
  writeFileSync(cfgPath, `# provisiond netns interop test\n${JSON.stringify(config, null, 2)}\n`);
  const proc = await lab.spawn(ns, process.execPath, [MAIN_JS, 'run', '-c', cfgPath], ROOT);
  const line = await proc.waitForLine('"DHCP face serving" log line', (l) => l.includes('"msg":"DHCP face serving"'), 10_000);
  await waitForUdpPort(ns, SERVER_PORT, 5000);
  // `ip netns exec` execs the daemon in place: the PID we will kill is the daemon itself,
  // and it lives in the server namespace.
  assert.ok(udpPortsOfPid(proc.pid).has(SERVER_PORT), `PID ${proc.pid} is the daemon and holds UDP ${SERVER_PORT} in ${ns}`);
  const serving = parseJsonLine(line);
  assert.ok(serving, `serving line is JSON: ${line}`);
  return { proc, serving };
}

/** counters asks the daemon for its counters (SIGUSR1) and returns the DHCP face's. */
async function counters(d: Daemon): Promise<Record<string, number>> {
  const from = d.proc.lines.length;
  d.proc.signal('SIGUSR1');
  const line = await d.proc.waitForLine('"counters" log line after SIGUSR1', (l) => l.includes('"msg":"counters"'), 5000, from);
  const stats = parseJsonLine(line)?.['stats'];
  const dhcp = typeof stats === 'object' && stats !== null ? (stats as Json)['dhcp'] : undefined;
  assert.ok(typeof dhcp === 'object' && dhcp !== null, `counters line has stats.dhcp: ${line}`);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(dhcp as Json)) if (typeof v === 'number') out[k] = v;
  return out;
}

function delta(after: Record<string, number>, before: Record<string, number>, key: string): number {
  return (after[key] ?? 0) - (before[key] ?? 0);
}

/** xorshift32 is a seeded PRNG so that a failing burst can be replayed. */
function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

// ---------------------------------------------------------------------------------------------
// The tests

describe('DHCP face in network namespaces', { skip: NETNS_SKIP, timeout: 180_000 }, () => {
  it('the Jitsi INFORM fixture matches contract §2.2', () => {
    const p = jitsiInform({ xid: 0x89abcdef, ciaddr: '10.77.10.2', mac: '02:00:5e:10:20:30' });
    assert.equal(p.length, 300);
    assert.equal(p.subarray(0, 12).toString('hex'), '0101060089abcdef00000000');
    assert.equal(p.subarray(12, 28).toString('hex'), '0a4d0a02' + '00'.repeat(12));
    assert.equal(p.subarray(28, 44).toString('hex'), '02005e102030' + '00'.repeat(10));
    assert.ok(p.subarray(44, 236).equals(Buffer.alloc(192)));
    assert.equal(p.subarray(236, 247).toString('hex'), '638253633501083701e0ff');
    assert.ok(p.subarray(247).equals(Buffer.alloc(53)));
    // Cross-check against the other hand-written fixture of the same contract section.
    const shared = sharedJitsiInform({ xid: 0x89abcdef, ciaddr: [10, 77, 10, 2], mac: [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30] });
    assert.equal(p.toString('hex'), shared.toString('hex'));
  });

  describe('single link: server ns <-> client ns', () => {
    const lab = new NetnsLab('pvd');
    const SRV_IP = '10.77.10.1';
    const CLI_IP = '10.77.10.2';
    const URL = `https://prov.example.test/jitsi?u=\${username}&run=${process.pid}`;
    let srvNs = '';
    let cliNs = '';
    let cliMac = '';
    let dir = '';
    let daemon: Daemon | undefined;

    const need = (): Daemon => {
      assert.ok(daemon, 'daemon started in before()');
      return daemon;
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'provisiond-netns-'));
      srvNs = lab.addNamespace('srv');
      cliNs = lab.addNamespace('cli');
      lab.link({ ns: srvNs, ifname: 'srv0', cidr: `${SRV_IP}/24` }, { ns: cliNs, ifname: 'cli0', cidr: `${CLI_IP}/24` });
      // The client needs a route for the limited broadcast (inside its namespace only).
      lab.route(cliNs, '255.255.255.255/32', 'dev', 'cli0');
      cliMac = lab.mac(cliNs, 'cli0');
      await lab.waitForLinkUp(srvNs, 'srv0');
      await lab.waitForLinkUp(cliNs, 'cli0');
      daemon = await startDaemon(lab, srvNs, dir, { url: URL });
    }, HOOK_TIMEOUT);

    after(async () => {
      const problems = await lab.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(problems, [], 'teardown is clean');
    }, HOOK_TIMEOUT);

    it('serves exactly the veth link (not loopback) and logs the configured URL', () => {
      const { serving } = need();
      assert.deepEqual(serving['interfaces'], [`srv0=${SRV_IP}/24`]);
      assert.equal(serving['port'], SERVER_PORT);
      assert.equal(serving['replyPort'], CLIENT_PORT);
      assert.deepEqual(serving['urls'], { srv0: URL });
    });

    it('A: answers the exact 300-byte Jitsi DHCPINFORM with a DHCPACK carrying option 224, unicast to ciaddr:6768', async () => {
      const xid = randomXid(true);
      const inform = jitsiInform({ xid, ciaddr: CLI_IP, mac: cliMac });
      const report = await runProbe(lab, cliNs, informSpec([inform], xid));
      assert.deepEqual(report.sendErrors, []);
      assert.equal(report.reason, 'xid', `no DHCPACK within the timeout; received: ${JSON.stringify(report.received)}`);
      const replies = repliesFor(report, xid);
      assert.equal(replies.length, 1, 'exactly one DHCPACK for one INFORM (the broadcast must not be answered twice)');
      const d = replies[0] as ProbeDatagram;
      assert.equal(d.address, SRV_IP, 'the reply comes from the server address of the receiving link');
      assert.equal(d.port, SERVER_PORT, 'the reply comes from UDP 6767');
      assertJitsiAck(Buffer.from(d.hex, 'hex'), { xid, ciaddr: CLI_IP, mac: cliMac, serverId: SRV_IP, url: URL });
      assert.equal(report.received.length, 1, 'nothing else reached the client port');
    });

    it('A: answers each Jitsi retransmission (same xid) identically', async () => {
      const xid = randomXid(true);
      const inform = jitsiInform({ xid, ciaddr: CLI_IP, mac: cliMac });
      const report = await runProbe(lab, cliNs, informSpec([inform, inform, inform], xid, { lingerMs: 800 }));
      const replies = repliesFor(report, xid);
      assert.equal(replies.length, 3, 'three INFORMs, three ACKs');
      const first = (replies[0] as ProbeDatagram).hex;
      for (const r of replies) assert.equal(r.hex, first, 'every retransmission gets the same bytes');
      assertJitsiAck(Buffer.from(first, 'hex'), { xid, ciaddr: CLI_IP, mac: cliMac, serverId: SRV_IP, url: URL });
    });

    it('A: an INFORM with ciaddr 0 is answered by a broadcast to 255.255.255.255:6768 on the receiving link', async () => {
      const xid = randomXid();
      const inform = jitsiInform({ xid, ciaddr: '0.0.0.0', mac: cliMac });
      const report = await runProbe(lab, cliNs, informSpec([inform], xid));
      const replies = repliesFor(report, xid);
      assert.equal(replies.length, 1, `one broadcast DHCPACK (received ${JSON.stringify(report.received)})`);
      const d = replies[0] as ProbeDatagram;
      assert.equal(d.address, SRV_IP);
      assert.equal(d.port, SERVER_PORT);
      assertJitsiAck(Buffer.from(d.hex, 'hex'), { xid, ciaddr: '0.0.0.0', mac: cliMac, serverId: SRV_IP, url: URL });
    });

    it('A: a relayed INFORM (giaddr set, unicast to the server) is answered to giaddr:6767 with option 82 echoed', async () => {
      const xid = randomXid();
      const relayInfo = Buffer.from([0x52, 0x06, 0x01, 0x04, 0x70, 0x76, 0x64, 0x31]); // 82: circuit-id "pvd1"
      const inform = jitsiInform({ xid, ciaddr: '0.0.0.0', giaddr: CLI_IP, hops: 1, mac: cliMac, extraOptions: relayInfo });
      const report = await runProbe(lab, cliNs, {
        bindAddress: '0.0.0.0',
        bindPort: SERVER_PORT, // a relay agent listens on the server port (RFC 2131 §4.1)
        broadcast: false,
        sends: [{ address: SRV_IP, port: SERVER_PORT, hex: inform.toString('hex') }],
        awaitXid: xid,
        lingerMs: 400,
        timeoutMs: 6000,
      });
      const replies = repliesFor(report, xid);
      assert.equal(replies.length, 1, `one DHCPACK to the relay (received ${JSON.stringify(report.received)})`);
      const d = replies[0] as ProbeDatagram;
      assert.equal(d.address, SRV_IP);
      assert.equal(d.port, SERVER_PORT);
      const r = assertJitsiAck(Buffer.from(d.hex, 'hex'), { xid, ciaddr: '0.0.0.0', giaddr: CLI_IP, mac: cliMac, serverId: SRV_IP, url: URL });
      assert.equal(onlyOption(r, 82).toString('hex'), relayInfo.subarray(2).toString('hex'), 'option 82 echoed (RFC 3046 §2.2)');
    });

    it('B: an independent scapy client (Debian python3-scapy) gets option 224 and a DHCPACK', { skip: SCAPY_SKIP, timeout: 60_000 }, async () => {
      const xid = randomXid();
      const spec = { iface: 'cli0', mac: cliMac, ciaddr: CLI_IP, xid, timeout: 8 };
      const r = await lab.exec(cliNs, SYSTEM_PYTHON, [SCAPY_PY, JSON.stringify(spec)], { timeoutMs: 45_000 });
      assert.equal(r.code, 0, `scapy client failed (exit ${String(r.code)}, timedOut ${r.timedOut}): ${r.stderr}`);
      const out = r.stdout
        .trim()
        .split('\n')
        .map(parseJsonLine)
        .filter((v): v is Json => v !== undefined)
        .pop();
      assert.ok(out, `scapy client printed JSON: ${r.stdout}`);
      const sent = out['sent_hex'];
      assert.equal(typeof sent, 'string');
      // scapy's own encoding of message-type=inform and param_req_list=[224], right after the cookie.
      assert.equal((sent as string).slice(236 * 2, 247 * 2), '638253633501083701e0ff', 'scapy built the INFORM we asked for');
      const reply = out['reply'];
      assert.ok(typeof reply === 'object' && reply !== null, `scapy saw no reply within its timeout; stderr: ${r.stderr}`);
      const rep = reply as Json;
      assert.equal(rep['message_type'], 5, 'scapy decodes message-type = ACK');
      assert.equal(rep['opt224'], URL, 'scapy decodes option 224 = the configured URL');
      assert.equal(typeof rep['opt224_hex'], 'string');
      assert.ok(!/^(..)*00/.test(rep['opt224_hex'] as string), 'no NUL byte in option 224');
      assert.equal(rep['server_id'], SRV_IP);
      assert.equal(rep['op'], 2);
      assert.equal(rep['xid'], xid);
      assert.equal(rep['ciaddr'], CLI_IP);
      assert.equal(rep['chaddr'], macBytes(cliMac).toString('hex'));
      assert.equal(rep['src'], SRV_IP);
      assert.equal(rep['dst'], CLI_IP, 'unicast to ciaddr');
      assert.equal(rep['sport'], SERVER_PORT);
      assert.equal(rep['dport'], CLIENT_PORT);
      assert.ok(typeof rep['length'] === 'number' && rep['length'] >= 300, 'reply is at least 300 bytes');
      // The same bytes must also satisfy the strict, dhcp4java-like parser.
      assertJitsiAck(Buffer.from(rep['raw_hex'] as string, 'hex'), { xid, ciaddr: CLI_IP, mac: cliMac, serverId: SRV_IP, url: URL });
    });

    it('D: a burst of malformed datagrams does not crash the daemon; a following INFORM still gets its ACK', { timeout: 60_000 }, async () => {
      const d = need();
      const before = await counters(d);
      const seed = randomBytes(4).readUInt32BE(0);
      const rnd = xorshift32(seed);
      const junkXid = (): number => (rnd() & 0x7fffffff) >>> 0;
      const junk: Buffer[] = [];
      const sizes = [0, 1, 4, 7, 28, 100, 235, 236, 239, 240, 241, 246, 299, 300, 301, 548, 576, 1000, 1472, 1500, 1501, 1600];
      for (let i = 0; i < 60; i++) {
        const n = i < sizes.length ? (sizes[i] as number) : rnd() % 1601;
        const b = Buffer.alloc(n);
        for (let j = 0; j < n; j++) b[j] = rnd() & 0xff;
        junk.push(b);
      }
      const base = (): Buffer => jitsiInform({ xid: junkXid(), ciaddr: CLI_IP, mac: cliMac });
      for (const cut of [1, 4, 8, 28, 100, 235, 236, 239, 240, 241, 243, 246]) junk.push(base().subarray(0, cut)); // truncated
      const noEnd = base();
      noEnd[246] = 0; // END replaced by PAD: options never terminated
      const overrun = base();
      overrun[246] = 0xe0;
      overrun[247] = 0xff; // option 224 claims 255 bytes, 52 remain
      const badHlen = base();
      badHlen[2] = 200;
      const noCookie = base();
      noCookie.writeUInt32BE(0, 236); // plain BOOTP: random bytes rarely produce this (hlen must be <= 16)
      const tooLong = Buffer.concat([base(), Buffer.alloc(1201)]); // 1501 bytes
      const badOverload = jitsiInform({ xid: junkXid(), ciaddr: CLI_IP, mac: cliMac, extraOptions: Buffer.from([0x34, 0x01, 0x09]) });
      const bootReply = base();
      bootReply[0] = 2; // a BOOTREPLY must never be answered
      const discover = base();
      discover[242] = 1; // DHCPDISCOVER: provisiond never offers leases
      const twoByteType = jitsiInform({ xid: junkXid(), ciaddr: CLI_IP, mac: cliMac });
      Buffer.from([0x35, 0x02, 0x08, 0x08, 0xff]).copy(twoByteType, 240);
      junk.push(noEnd, overrun, badHlen, noCookie, tooLong, badOverload, bootReply, discover, twoByteType);

      const xid = randomXid(true);
      const valid = jitsiInform({ xid, ciaddr: CLI_IP, mac: cliMac });
      const sends = [
        ...junk.map((b) => ({ address: SRV_IP, port: SERVER_PORT, hex: b.toString('hex') })), // unicast: the interface socket
        ...junk.slice(0, 40).map((b) => ({ address: BROADCAST, port: SERVER_PORT, hex: b.toString('hex') })), // broadcast: the wildcard socket
        { address: BROADCAST, port: SERVER_PORT, hex: valid.toString('hex') },
      ];
      const report = await runProbe(lab, cliNs, { ...informSpec([], xid, { timeoutMs: 10_000, lingerMs: 500 }), sends });
      const diag = `seed ${seed}; send errors ${JSON.stringify(report.sendErrors)}`;
      assert.equal(report.sent + report.sendErrors.length, sends.length, diag);
      assert.equal(report.reason, 'xid', `the valid INFORM after the burst got no ACK (${diag})`);
      assert.equal(d.proc.running, true, `the daemon is still running (${diag}); stderr: ${d.proc.stderr}`);
      const replies = repliesFor(report, xid);
      assert.equal(replies.length, 1);
      assertJitsiAck(Buffer.from((replies[0] as ProbeDatagram).hex, 'hex'), { xid, ciaddr: CLI_IP, mac: cliMac, serverId: SRV_IP, url: URL });
      assert.equal(report.received.length, 1, `no malformed or non-INFORM datagram was answered (${diag}): ${JSON.stringify(report.received.map(xidOf))}`);

      await sleep(200);
      const afterCounts = await counters(d);
      assert.equal(d.proc.running, true, 'the daemon survived SIGUSR1 and the burst');
      assert.ok(udpPortsOfPid(d.proc.pid).has(SERVER_PORT), 'the daemon still holds UDP 6767');
      assert.equal(delta(afterCounts, before, 'received'), report.sent, `every datagram sent reached the daemon and was counted (${diag})`);
      assert.equal(delta(afterCounts, before, 'acked'), 1, 'exactly one ACK for the whole burst');
      for (const reason of ['too-short', 'too-long', 'bad-hlen', 'no-cookie', 'no-end', 'option-truncated', 'bad-overload']) {
        assert.ok(delta(afterCounts, before, `malformed:${reason}`) >= 1, `malformed:${reason} counted (${diag}): ${JSON.stringify(afterCounts)}`);
      }
      assert.ok(delta(afterCounts, before, 'ignored:discover') >= 1, 'the DISCOVER was ignored');
      assert.ok(delta(afterCounts, before, 'ignored:not-request') >= 1, 'the BOOTREPLY was ignored');
      assert.ok(delta(afterCounts, before, 'ignored:bad-option') >= 1, 'the 2-byte option 53 was ignored');
      assert.equal(delta(afterCounts, before, 'internal-error'), 0, 'no request hit the internal-error path');
      assert.equal(delta(afterCounts, before, 'socket-error'), 0, 'no socket error');
      assert.ok(!d.proc.lines.some((l) => l.includes('"msg":"DHCP request failed"')), 'no "DHCP request failed" log line');
    });

    it('stops cleanly on SIGTERM (exit 0, final stats logged)', async () => {
      const d = need();
      d.proc.signal('SIGTERM');
      assert.equal(await d.proc.waitForExit(8000), true, 'the daemon exits within the shutdown grace period');
      assert.deepEqual(d.proc.exit, { code: 0, signal: null });
      assert.ok(d.proc.lines.some((l) => l.includes('"msg":"provisiond stopped"')), 'logs "provisiond stopped"');
    });
  });

  describe('multi-homed server: two links, two client namespaces', () => {
    const lab = new NetnsLab('pvd');
    const S1 = '10.77.21.1';
    const C1 = '10.77.21.2';
    const S2 = '10.77.22.1';
    const C2 = '10.77.22.2';
    const URL = `https://prov.example.test/jitsi?u=\${username}&run=${process.pid}`;
    // Short on purpose: the ACK is then shorter than 300 bytes before padding, so the padding rule is tested.
    const URL2 = `https://p2.test/j?u=\${username}`;
    let srvNs = '';
    let c1Ns = '';
    let c2Ns = '';
    let mac1 = '';
    let mac2 = '';
    let dir = '';
    let daemon: Daemon | undefined;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'provisiond-netns-mh-'));
      srvNs = lab.addNamespace('mhsrv');
      c1Ns = lab.addNamespace('mhc1');
      c2Ns = lab.addNamespace('mhc2');
      lab.link({ ns: srvNs, ifname: 'srv1', cidr: `${S1}/24` }, { ns: c1Ns, ifname: 'cli1', cidr: `${C1}/24` });
      lab.link({ ns: srvNs, ifname: 'srv2', cidr: `${S2}/24` }, { ns: c2Ns, ifname: 'cli2', cidr: `${C2}/24` });
      lab.route(c1Ns, '255.255.255.255/32', 'dev', 'cli1');
      lab.route(c2Ns, '255.255.255.255/32', 'dev', 'cli2');
      mac1 = lab.mac(c1Ns, 'cli1');
      mac2 = lab.mac(c2Ns, 'cli2');
      for (const [ns, ifname] of [
        [srvNs, 'srv1'],
        [srvNs, 'srv2'],
        [c1Ns, 'cli1'],
        [c2Ns, 'cli2'],
      ] as const) {
        await lab.waitForLinkUp(ns, ifname);
      }
      // The server namespace deliberately has no default route and no broadcast route: a reply
      // broadcast can only leave through the link whose address the sending socket is bound to.
      daemon = await startDaemon(lab, srvNs, dir, { url: URL, networks: [{ subnet: '10.77.22.0/24', url: URL2 }] });
    }, HOOK_TIMEOUT);

    after(async () => {
      const problems = await lab.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(problems, [], 'teardown is clean');
    }, HOOK_TIMEOUT);

    it('serves both links', () => {
      assert.ok(daemon);
      const ifs = daemon.serving['interfaces'];
      assert.ok(Array.isArray(ifs));
      assert.deepEqual([...(ifs as unknown[])].sort(), [`srv1=${S1}/24`, `srv2=${S2}/24`]);
    });

    it('C: a client on link 1 is answered from link 1 (option 54 = link-1 address, default URL)', async () => {
      const xid = randomXid(true);
      const report = await runProbe(lab, c1Ns, informSpec([jitsiInform({ xid, ciaddr: C1, mac: mac1 })], xid));
      const replies = repliesFor(report, xid);
      assert.equal(replies.length, 1, `one ACK (received ${JSON.stringify(report.received)})`);
      const d = replies[0] as ProbeDatagram;
      assert.equal(d.address, S1);
      assertJitsiAck(Buffer.from(d.hex, 'hex'), { xid, ciaddr: C1, mac: mac1, serverId: S1, url: URL });
    });

    it('C: a broadcast INFORM from client 2 is answered out of link 2 only; client 1 sees nothing', { timeout: 60_000 }, async () => {
      const listener = await startProbe(lab, c1Ns, {
        bindAddress: '0.0.0.0',
        bindPort: CLIENT_PORT,
        broadcast: true,
        sends: [],
        timeoutMs: 30_000,
        stopOnStdinEnd: true,
      });
      let listened: ProbeReport | undefined;
      try {
        // (1) ciaddr set: unicast reply to 10.77.22.2, from the link-2 socket.
        const xidU = randomXid(true);
        const ru = await runProbe(lab, c2Ns, informSpec([jitsiInform({ xid: xidU, ciaddr: C2, mac: mac2 })], xidU));
        const u = repliesFor(ru, xidU);
        assert.equal(u.length, 1, `client 2 gets one ACK (received ${JSON.stringify(ru.received)})`);
        assert.equal((u[0] as ProbeDatagram).address, S2, 'sent from the link-2 address');
        assertJitsiAck(Buffer.from((u[0] as ProbeDatagram).hex, 'hex'), { xid: xidU, ciaddr: C2, mac: mac2, serverId: S2, url: URL2 });

        // (2) ciaddr 0: the reply is a limited broadcast, which must leave through link 2 only.
        const xidB = randomXid();
        const rb = await runProbe(lab, c2Ns, informSpec([jitsiInform({ xid: xidB, ciaddr: '0.0.0.0', mac: mac2 })], xidB));
        const b = repliesFor(rb, xidB);
        assert.equal(b.length, 1, `client 2 gets one broadcast ACK (received ${JSON.stringify(rb.received)})`);
        assert.equal((b[0] as ProbeDatagram).address, S2, 'broadcast from the link-2 address');
        assertJitsiAck(Buffer.from((b[0] as ProbeDatagram).hex, 'hex'), { xid: xidB, ciaddr: '0.0.0.0', mac: mac2, serverId: S2, url: URL2 });

        await sleep(500); // give a stray copy on link 1 time to arrive
        listened = await stopProbe(listener);
        assert.equal(repliesFor(listened, xidU).length, 0, "client 1 must not receive client 2's unicast ACK");
        assert.equal(repliesFor(listened, xidB).length, 0, "client 1 must not receive client 2's broadcast ACK");
        assert.deepEqual(listened.received, [], 'nothing at all reached client 1 port 6768');
      } finally {
        if (!listened) await listener.stop();
      }
    });
  });
  // Issue 10, defects 1 and 4: the DHCP face under attack from a LAN host. The client namespace
  // holds a real client (10.77.40.2 on cli0), an attacker address on the same link (10.77.40.3),
  // fifty attacker addresses on a second interface whose ARP cli0 does not answer (arp_ignore=1:
  // a unicast reply to them waits in the server's ARP queue, as one to an unused address does),
  // and 192.0.2.55 (off every served subnet; the server routes it through the client namespace).
  describe('under attack (issue 10): reflection, ARP-queue jam, bounded send queue', () => {
    const lab = new NetnsLab('pvd');
    const SRV_IP = '10.77.40.1';
    const CLI_IP = '10.77.40.2';
    const ATK_IP = '10.77.40.3';
    const DEAF = Array.from({ length: 50 }, (_, i) => `10.77.40.${100 + i}`);
    const UNUSED = Array.from({ length: 50 }, (_, i) => `10.77.40.${200 + i}`);
    const OFF_NET = '192.0.2.55';
    const URL = `https://prov.example.test/jitsi?u=\${username}&run=${process.pid}`;
    let srvNs = '';
    let cliNs = '';
    let cliMac = '';
    let dir = '';
    let daemon: Daemon | undefined;
    const need = (): Daemon => {
      assert.ok(daemon, 'daemon started in before()');
      return daemon;
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'provisiond-netns-atk-'));
      srvNs = lab.addNamespace('asrv');
      cliNs = lab.addNamespace('acli');
      lab.link({ ns: srvNs, ifname: 'srv0', cidr: `${SRV_IP}/24` }, { ns: cliNs, ifname: 'cli0', cidr: `${CLI_IP}/24` });
      const cmds = [
        `addr add ${ATK_IP}/24 dev cli0`,
        'link add atk0 type veth peer name atk1', // a link of its own inside the namespace (no dummy module needed)
        'link set atk0 up',
        'link set atk1 up',
        ...DEAF.map((a) => `addr add ${a}/32 dev atk0`),
        `addr add ${OFF_NET}/32 dev lo`,
        'route add 255.255.255.255/32 dev cli0',
      ];
      for (const c of cmds) {
        const r = runSync('ip', ['-n', cliNs, ...c.split(' ')]);
        assert.equal(r.code, 0, `ip -n ${cliNs} ${c}: ${r.stderr}`);
      }
      for (const [k, v] of [
        ['net.ipv4.conf.cli0.arp_ignore', '1'], // answer ARP only for addresses on cli0: the DEAF ones stay unresolved
        ['net.ipv4.conf.cli0.arp_announce', '2'], // never teach the server a DEAF address in our own ARP requests
      ]) {
        const r = runSync('ip', ['netns', 'exec', cliNs, 'sysctl', '-qw', `${k}=${v}`]);
        assert.equal(r.code, 0, `sysctl ${k}: ${r.stderr}`);
      }
      lab.route(srvNs, '192.0.2.0/24', 'via', CLI_IP);
      cliMac = lab.mac(cliNs, 'cli0');
      await lab.waitForLinkUp(srvNs, 'srv0');
      await lab.waitForLinkUp(cliNs, 'cli0');
      daemon = await startDaemon(lab, srvNs, dir, { url: URL });
    }, HOOK_TIMEOUT);

    after(async () => {
      const problems = await lab.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(problems, [], 'teardown is clean');
    }, HOOK_TIMEOUT);

    /** flood runs the attacker (dhcp-flood.js) inside the client namespace. */
    async function flood(spec: FloodSpec): Promise<{ sent: number; errors: number; ms: number }> {
      const r = await lab.exec(cliNs, process.execPath, [FLOOD_JS, JSON.stringify(spec)], { timeoutMs: spec.durationMs + 15_000 });
      const out = r.stdout
        .split('\n')
        .map(parseJsonLine)
        .find((v) => v?.['event'] === 'done');
      assert.ok(out, `flooder printed no report (exit ${String(r.code)}, timedOut ${r.timedOut}): ${r.stdout} ${r.stderr}`);
      return { sent: Number(out['sent']), errors: Number(out['errors']), ms: Number(out['ms']) };
    }

    /**
     * realClient is the Jitsi client: the exact INFORM, broadcast from 0.0.0.0:6768, sent again
     * every 2 s (the client retransmits and, after its timeout, a user restarts it), for at most
     * `budgetMs`. It returns how long the first DHCPACK took, or undefined.
     */
    async function realClient(budgetMs: number): Promise<number | undefined> {
      const t0 = Date.now();
      const xid = randomXid(true);
      const inform = jitsiInform({ xid, ciaddr: CLI_IP, mac: cliMac });
      for (let i = 0; i < Math.ceil(budgetMs / 2000) && Date.now() - t0 < budgetMs; i++) {
        const report = await runProbe(lab, cliNs, informSpec([inform], xid, { timeoutMs: 2000, lingerMs: 0 }));
        const replies = repliesFor(report, xid);
        if (replies.length > 0) {
          assertJitsiAck(Buffer.from((replies[0] as ProbeDatagram).hex, 'hex'), { xid, ciaddr: CLI_IP, mac: cliMac, serverId: SRV_IP, url: URL });
          return Date.now() - t0;
        }
      }
      return undefined;
    }

    it('the real client is answered at once before any attack', async () => {
      const ms = await realClient(6000);
      assert.ok(ms !== undefined && ms < 3000, `first ACK after ${String(ms)} ms`);
    });

    it('a Jitsi INFORM for a secondary address, sent from the primary one (multi-homed client, contract §2.3), is still answered', async () => {
      // ciaddr 10.77.40.3 is not the source (10.77.40.2): the ACK is a broadcast on the link,
      // which the client's 0.0.0.0:6768 socket receives.
      const xid = randomXid(true);
      const report = await runProbe(lab, cliNs, informSpec([jitsiInform({ xid, ciaddr: ATK_IP, mac: cliMac })], xid));
      const replies = repliesFor(report, xid);
      assert.equal(replies.length, 1, `one ACK (received ${JSON.stringify(report.received)})`);
      assertJitsiAck(Buffer.from((replies[0] as ProbeDatagram).hex, 'hex'), { xid, ciaddr: ATK_IP, mac: cliMac, serverId: SRV_IP, url: URL });
    });

    it('defect 4: a relayed INFORM whose giaddr is off every subnet, or an on-link address that did not send it, is not answered (no reflection)', { timeout: 60_000 }, async () => {
      const d = need();
      const before = await counters(d);
      const xidOff = randomXid();
      const xidOnLink = randomXid();
      const off = jitsiInform({ xid: xidOff, ciaddr: '0.0.0.0', giaddr: OFF_NET, hops: 1, mac: cliMac });
      const onLink = jitsiInform({ xid: xidOnLink, ciaddr: '0.0.0.0', giaddr: '10.77.40.77', hops: 1, mac: cliMac });
      // Bound to 0.0.0.0:6767 in the client namespace, which owns 192.0.2.55: a reflected ACK lands here.
      const report = await runProbe(lab, cliNs, {
        bindAddress: '0.0.0.0',
        bindPort: SERVER_PORT,
        broadcast: false,
        sends: [off, onLink].map((b) => ({ address: SRV_IP, port: SERVER_PORT, hex: b.toString('hex') })),
        awaitXid: xidOff,
        lingerMs: 0,
        timeoutMs: 2500,
      });
      assert.equal(repliesFor(report, xidOff).length, 0, `an ACK was reflected to ${OFF_NET}:6767: ${JSON.stringify(report.received)}`);
      assert.deepEqual(report.received, [], 'nothing reached UDP 6767 in the client namespace');
      await sleep(200);
      const afterCounts = await counters(d);
      assert.equal(delta(afterCounts, before, 'ignored:foreign-giaddr'), 1, JSON.stringify(afterCounts));
      assert.equal(delta(afterCounts, before, 'ignored:relay-source'), 1, JSON.stringify(afterCounts));
      assert.equal(delta(afterCounts, before, 'acked'), 0);
    });

    it('defect 1: a 5 s burst of relayed INFORMs to unused addresses (random chaddr) does not delay a real client', { timeout: 120_000 }, async (t) => {
      const d = need();
      const before = await counters(d);
      const attack = flood({ sources: [ATK_IP], server: SRV_IP, port: SERVER_PORT, packets: 5000, durationMs: 5000, ciaddr: UNUSED, giaddr: 'source' });
      await sleep(2000);
      const during = await realClient(10_000);
      const a = await attack;
      const rightAfter = await realClient(10_000);
      t.diagnostic(`real client ACK during the burst after ${String(during)} ms, right after it after ${String(rightAfter)} ms`);
      // Seconds, not minutes: the Jitsi client gives up 10 s after its last INFORM.
      assert.ok(during !== undefined && during < 8000, `ACK during the burst after ${String(during)} ms (burst: ${JSON.stringify(a)})`);
      assert.ok(rightAfter !== undefined && rightAfter < 8000, `ACK right after the burst after ${String(rightAfter)} ms`);
      const c = await counters(d);
      assert.ok(delta(c, before, 'received') >= a.sent * 0.9, `the burst reached the daemon: ${JSON.stringify(c)}`);
    });

    it('defect 1: replies stuck in the ARP queue fill a bounded send queue; the overflow is dropped, counted and logged once', { timeout: 120_000 }, async (t) => {
      const d = need();
      const from = d.proc.lines.length;
      const before = await counters(d);
      // Each DEAF address sends INFORMs for itself: a unicast reply is allowed, and never resolves.
      const a = await flood({ sources: DEAF, server: SRV_IP, port: SERVER_PORT, packets: 5000, durationMs: 5000, ciaddr: 'source' });
      const ms = await realClient(15_000);
      assert.ok(ms !== undefined && ms < 10_000, `a real client is answered within seconds after the burst (${String(ms)} ms)`);
      const c = await counters(d);
      t.diagnostic(`real client ACK ${String(ms)} ms after the burst; counters ${JSON.stringify(c)}`);
      const dropped = delta(c, before, 'send-dropped:queue-full');
      assert.ok(dropped > 0, `the bounded queue dropped replies: ${JSON.stringify(c)} (burst ${JSON.stringify(a)})`);
      assert.ok((c['send-queue-max'] ?? Infinity) <= 64, `the send queue stayed within its bound: ${JSON.stringify(c)}`);
      // Every datagram is accounted for exactly once: answered (acked = the send completed),
      // failed, dropped at the queue, or not answered for a counted reason. Counting acked when a
      // send was merely queued would break this as soon as a send failed or was still waiting.
      assert.equal(c['send-queue'], 0, 'the queue has drained');
      const outcomes = Object.keys(c).filter((k) => k === 'acked' || k === 'send-error' || k.startsWith('send-dropped:') || k.startsWith('ignored:') || k.startsWith('rate-limited') || k.startsWith('malformed:'));
      const accounted = outcomes.reduce((n, k) => n + delta(c, before, k), 0);
      assert.equal(accounted, delta(c, before, 'received'), `received = acked + send-error + dropped + ignored + rate-limited: ${JSON.stringify(c)}`);
      const started = await d.proc.waitForLine('send-queue episode start', (l) => l.includes('DHCP replies dropped: send queue full'), 5000, from);
      assert.ok(parseJsonLine(started)?.['level'] === 'warn', `logged at warn: ${started}`);
      const ended = await d.proc.waitForLine('send-queue episode summary', (l) => l.includes('DHCP send queue drained'), 30_000, from);
      assert.ok(Number(parseJsonLine(ended)?.['dropped']) >= 1, ended);
      assert.equal(d.proc.lines.slice(from).filter((l) => l.includes('DHCP replies dropped: send queue full')).length, 1, 'the episode is logged once');
    });
  });
});
