/**
 * bench/storm/run.ts: a Monday-morning boot storm against one provisiond. N simulated Jitsi
 * clients, started over a ramp, each do the whole client sequence: the 300-byte DHCPINFORM from
 * UDP 6768 → the DHCPACK with option 224 → placeholder substitution → the form POST → parsing
 * the properties (src/probe's pure parts). Every client is its own user.
 *
 *   npm run build && node dist/bench/storm/run.js [N=10000] [warm|cold] [scryptCost=10] [rampMs=2000]
 *
 * Runs as root in two network namespaces it creates (pst<pid>{s,c}; always deleted): provisiond
 * (DHCP + HTTP faces, mDNS off) in the server one, this load generator in the client one (the
 * generator re-executes itself there). warm = a first pass verifies every credential once, the
 * second pass is measured; cold = the first pass after start is measured (every password goes
 * through scrypt). Prints one JSON line and a Markdown row.
 */
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../test/helpers/mdns-lab';
import { startDaemon } from '../../test/helpers/daemon';
import { hashPassword } from '../../src/provisioning/passwords';
import { buildInform, readReply, ipv4ToU32 } from '../../src/probe/inform';
import { substitute, planPost, formBody, type HostValues } from '../../src/probe/request';
import { parseProperties, applyPrefixes } from '../../src/probe/properties';

interface Stage {
  dhcp: number[];
  http: number[];
  parse: number[];
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN) * 10) / 10;
}

/** generator runs inside the client namespace: N clients, one shared 6768 socket, matched by xid. */
async function generator(n: number, rampMs: number, cliIp: string, concurrency: number): Promise<void> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  const waiting = new Map<number, (url: string) => void>();
  sock.on('message', (buf) => {
    const xid = buf.length >= 8 ? buf.readUInt32BE(4) : -1;
    const w = waiting.get(xid);
    if (w === undefined) return;
    const r = readReply(buf, xid);
    if (r.kind === 'url') {
      waiting.delete(xid);
      w(r.url);
    }
  });
  await new Promise<void>((res) => sock.bind(6768, '0.0.0.0', () => res()));
  sock.setBroadcast(true);
  const salt = Math.floor(Math.random() * 0x7fffffff);
  const st: Stage = { dhcp: [], http: [], parse: [] };
  const errors: Record<string, number> = {};
  const err = (k: string): void => void (errors[k] = (errors[k] ?? 0) + 1);
  let inflight = 0;
  const slots: (() => void)[] = [];
  const t0 = performance.now();
  const one = async (i: number): Promise<void> => {
    const xid = (salt + i * 7919) >>> 0; // fresh per pass: a repeated xid is a retransmission to the server
    const mac = Buffer.from([0x02, 0x00, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x01]);
    const a = performance.now();
    const url = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(xid);
        resolve(undefined);
      }, 10_000);
      let tries = 0;
      const send = (): void => {
        if (!waiting.has(xid) || tries++ >= 3) return;
        sock.send(buildInform(xid, ipv4ToU32(cliIp), mac), 6767, '255.255.255.255');
        setTimeout(send, 1000).unref();
      };
      waiting.set(xid, (u) => {
        clearTimeout(timer);
        resolve(u);
      });
      send();
    });
    if (url === undefined) return err('dhcp-timeout');
    st.dhcp.push(performance.now() - a);
    const hw = [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const v: HostValues = { env: {}, homeLocation: '/home/u', homeName: '.jitsi', uuid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, osname: 'Linux', arch: 'amd64', resx: '1920', resy: '1080', build: '2.10.5550', locale: '', ipaddr: cliIp, hostname: `pc${i}`, hwaddr: hw };
    const plan = planPost(substitute(url, v), `u${i}@example.com`, `pw-${i}`);
    while (inflight >= concurrency) await new Promise<void>((r) => slots.push(r));
    inflight++;
    const b = performance.now();
    let body: Buffer | undefined;
    try {
      const r = await fetch(plan.target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' }, body: formBody(plan.params), signal: AbortSignal.timeout(30_000) });
      body = Buffer.from(await r.arrayBuffer());
      if (r.status !== 200) {
        err(`http-${r.status}`);
        body = undefined;
      }
    } catch (e) {
      err(`http-${e instanceof Error ? e.name : 'error'}`);
    } finally {
      inflight--;
      slots.shift()?.();
    }
    if (body === undefined) return;
    st.http.push(performance.now() - b);
    const c = performance.now();
    const p = parseProperties(body);
    if (!p.ok || applyPrefixes(p.entries).properties === 0) return err('parse');
    st.parse.push(performance.now() - c);
  };
  const all: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const at = n <= 1 ? 0 : (rampMs * i) / n;
    all.push(new Promise<void>((r) => setTimeout(r, at)).then(() => one(i)));
  }
  await Promise.all(all);
  const total = performance.now() - t0;
  sock.close();
  const ok = st.parse.length;
  process.stdout.write(
    `RESULT ${JSON.stringify({ n, ok, errors, completionMs: Math.round(total), dhcp: { p50: pct(st.dhcp, 50), p99: pct(st.dhcp, 99) }, http: { p50: pct(st.http, 50), p99: pct(st.http, 99) }, parse: { p50: pct(st.parse, 50), p99: pct(st.parse, 99) } })}\n`,
  );
}

function procStats(pid: number): { rssPeakKb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+)/.exec(status)?.[1];
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { rssPeakKb: Number(hwm ?? NaN), cpuTicks: Number(stat[11] ?? 0) + Number(stat[12] ?? 0) };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--generator') {
    await generator(Number(process.argv[3]), Number(process.argv[4]), process.argv[5] ?? '', Number(process.argv[6]));
    return;
  }
  const n = Math.max(1, Math.min(100_000, Number(process.argv[2] ?? 10_000) || 10_000));
  const mode = process.argv[3] === 'cold' ? 'cold' : 'warm';
  const cost = Math.max(10, Math.min(20, Number(process.argv[4] ?? 10) || 10));
  const rampMs = Math.max(0, Number(process.argv[5] ?? 2000));
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  const lab = new Lab('st', 1, 237);
  const l = lab.links[0] as (typeof lab.links)[0];
  try {
    lab.up();
    spawnSync('ip', ['-n', lab.cli, 'route', 'add', '255.255.255.255/32', 'dev', l.cliIf]);
    process.stderr.write(`hashing ${n} passwords (scrypt ln=${cost})...\n`);
    const users: string[] = [];
    const B = 256;
    for (let i = 0; i < n; i += B) {
      const batch = await Promise.all(Array.from({ length: Math.min(B, n - i) }, (_, k) => hashPassword(`pw-${i + k}`, cost)));
      batch.forEach((h, k) => users.push(`        u${i + k}: {password: "${h}"}`));
    }
    const stateDir = join(lab.dir, 'state');
    mkdirSync(stateDir);
    const cfg = join(lab.dir, 'storm.yaml');
    writeFileSync(
      cfg,
      `stateDir: ${stateDir}\nlog: {level: info}\ndhcp:\n  interfaces: [${l.srvIf}]\n  rateLimit: {rate: 0}\nmdns: {enabled: false}\ndevices: {maxNewPerSourcePerHour: 1000000}\nhttp: {host: 0.0.0.0, rateLimit: {rate: 0}, maxConnections: 100000}\n` +
        `provisioning:\n  defaultDomain: example.com\n  passwords: {scryptCost: ${cost}, cacheSize: ${Math.max(10_000, n)}}\n  tenants:\n    example.com:\n      users:\n${users.join('\n')}\n` +
        `      rules:\n        - subject: default\n          properties:\n            net.java.sip.communicator.impl.protocol.sip.acc1: acc1\n            net.java.sip.communicator.impl.protocol.sip.acc1.USER_ID: "{{ user.name }}@sip.example.com"\n`,
    );
    const d = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', lab.srv]);
    await d.waitForLog('provisiond started', 60_000);
    const pid = d.child.pid ?? 0;
    const gen = (): Record<string, unknown> => {
      const r = spawnSync('ip', ['netns', 'exec', lab.cli, process.execPath, __filename, '--generator', String(n), String(rampMs), l.cliIp, '512'], { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 24 });
      const line = r.stdout.split('\n').find((x) => x.startsWith('RESULT '));
      if (!line) throw new Error(`generator failed: ${r.stdout}\n${r.stderr}`);
      return JSON.parse(line.slice(7)) as Record<string, unknown>;
    };
    if (mode === 'warm') gen();
    const before = procStats(pid);
    const res = gen();
    const after = procStats(pid);
    const out = { ...res, mode, scrypt: `ln=${cost} r=8 p=1`, rampMs, daemonCpuS: (after.cpuTicks - before.cpuTicks) / 100, daemonPeakRssMb: Math.round(after.rssPeakKb / 1024) };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    d.child.kill('SIGTERM');
    await d.exited;
  } finally {
    await lab.down();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
