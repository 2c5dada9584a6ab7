/**
 * bench/storm/run.ts: a Monday-morning boot storm against one provisiond. N simulated Jitsi
 * clients, started over a ramp, each do the whole client sequence (generator.ts): the 300-byte
 * DHCPINFORM from UDP 6768 → the DHCPACK with option 224 → placeholder substitution → the form
 * POST → parsing the properties (src/probe's pure parts). Every client is its own user.
 *
 *   node scripts/ensure.mjs && node dist/bench/storm/run.js [N=10000] [warm|cold] [scryptCost=10] [rampMs=2000]
 *        [--generators=2] [--http-workers=1] [--max-connections=9000]
 *
 * Runs as root in two network namespaces it creates (pmd<pid>st{s,c}; always deleted): provisiond
 * (DHCP + HTTP faces, mDNS off) in the server one; in the client one, `--generators` generator
 * processes, each with its own client address on the client veth and its own socket on
 * that address's port 6768 (the server answers an INFORM by unicast to ciaddr:6768). warm = a
 * first pass verifies every credential once (a 429 is retried there, and only there), the second
 * pass is measured; cold = the first pass after start is measured (every password goes through
 * scrypt). Around each pass it reads the daemon's counters (SIGUSR1), the kernel's UDP/TCP/ARP
 * counters of both namespaces and the global backlog drops, so a lost exchange can be placed.
 * Prints one JSON line (also appended to .bench-results/storm.jsonl) and a Markdown row.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ROOT, type Proc } from '../../test/helpers/mdns-lab';
import { MAIN } from '../../test/helpers/daemon';
import { hashPassword } from '../../src/identity/passwords';
import type { GeneratorArgs, GeneratorResult, Trace } from './generator';

type Counters = Record<string, number>;

/** WARMUP_CONNECTIONS per generator keeps the warm-up under the KDF queue (maxPendingVerifications 64). */
const WARMUP_CONNECTIONS = 24;

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN) * 10) / 10;
}

function delta(after: Counters, before: Counters): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** flatten turns the daemon's {face: {counter: n}} into {"face.counter": n}. */
function flatten(stats: Record<string, Record<string, number>>): Counters {
  const out: Counters = {};
  for (const [face, c] of Object.entries(stats)) for (const [k, v] of Object.entries(c)) out[`${face}.${k}`] = v;
  return out;
}

/** KERNEL lists the kernel counters kept (per namespace); deltas of the others are noise here. */
const KERNEL = new Set([
  'Udp.InDatagrams', 'Udp.NoPorts', 'Udp.InErrors', 'Udp.OutDatagrams', 'Udp.RcvbufErrors', 'Udp.SndbufErrors',
  'Tcp.ActiveOpens', 'Tcp.PassiveOpens', 'Tcp.AttemptFails', 'Tcp.RetransSegs',
  'TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPTimeouts',
]);

/** kernelCounters reads a namespace's SNMP counters and its ARP unresolved discards. */
function kernelCounters(ns: string): Counters {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp', '/proc/net/netstat', '/proc/net/stat/arp_cache'], { encoding: 'utf8' });
  const out: Counters = {};
  const lines = r.stdout.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = /^(\w+): (.*)$/.exec(lines[i] ?? '');
    const vals = /^(\w+): (.*)$/.exec(lines[i + 1] ?? '');
    if (!head || !vals || head[1] !== vals[1] || /^[-\d ]+$/.test(head[2] ?? '')) continue;
    const names = (head[2] ?? '').split(' ');
    const nums = (vals[2] ?? '').split(' ');
    names.forEach((n, k) => KERNEL.has(`${head[1]}.${n}`) && (out[`${head[1]}.${n}`] = Number(nums[k])));
    i++;
  }
  const arpHead = lines.findIndex((l) => l.startsWith('entries '));
  const col = (lines[arpHead] ?? '').split(/\s+/).indexOf('unresolved_discards');
  if (arpHead >= 0 && col >= 0) {
    out['Arp.UnresolvedDiscards'] = lines.slice(arpHead + 1).reduce((s, l) => s + (l.trim() ? parseInt(l.trim().split(/\s+/)[col] ?? '0', 16) : 0), 0);
  }
  return out;
}

/** backlogDrops sums the second column of /proc/net/softnet_stat (netdev_max_backlog overflows; global). */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .reduce((s, l) => s + parseInt(l.trim().split(/\s+/)[1] ?? '0', 16), 0);
}

/** processTree is pid and its descendants (the HTTP workers when http.workers > 1). */
function processTree(pid: number): number[] {
  const out = [pid];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (kids) for (const k of kids.split(' ')) out.push(...processTree(Number(k)));
    }
  } catch {
    // exited meanwhile
  }
  return out;
}

/** procStats sums CPU ticks over the daemon's process tree and lists each process's peak RSS. */
function procStats(pid: number): { cpuTicks: number; rssPeakMb: number[] } {
  let cpuTicks = 0;
  const rssPeakMb: number[] = [];
  for (const p of processTree(pid)) {
    try {
      const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      cpuTicks += Number(stat[11] ?? 0) + Number(stat[12] ?? 0);
      rssPeakMb.push(Math.round(Number(hwm ?? NaN) / 1024));
    } catch {
      // exited meanwhile
    }
  }
  return { cpuTicks, rssPeakMb };
}

/** daemonCounters asks the daemon for its counters (SIGUSR1) and reads the log line it writes. */
async function daemonCounters(d: Proc): Promise<Counters> {
  const from = d.lines.length;
  const t0 = performance.now();
  d.child.kill('SIGUSR1');
  const hit = await d.waitFor((l) => l.includes('"msg":"counters"'), 120_000, from);
  if (!hit) throw new Error(`the daemon did not log its counters within 120 s of SIGUSR1:\n${d.lines.slice(-5).join('\n')}`);
  const ms = performance.now() - t0;
  if (ms > 1000) process.stderr.write(`the daemon took ${Math.round(ms)} ms to log its counters\n`);
  return flatten((JSON.parse(hit.line) as { stats: Record<string, Record<string, number>> }).stats);
}

function runGenerators(ns: string, args: readonly GeneratorArgs[]): Promise<GeneratorResult[]> {
  const script = join(__dirname, 'generator.js');
  return Promise.all(
    args.map(
      (a) =>
        new Promise<GeneratorResult>((resolve, reject) => {
          // Asynchronous on purpose: this process must keep reading the daemon's log pipe while
          // the storm runs (a blocked reader stalls the daemon's synchronous logger).
          const c = spawn('ip', ['netns', 'exec', ns, process.execPath, script, JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let errText = '';
          c.stdout.on('data', (b: Buffer) => void (out += b.toString('utf8')));
          c.stderr.on('data', (b: Buffer) => void (errText += b.toString('utf8')));
          const timer = setTimeout(() => c.kill('SIGKILL'), 900_000);
          c.on('exit', () => {
            clearTimeout(timer);
            const line = out.split('\n').find((x) => x.startsWith('RESULT '));
            if (line) resolve(JSON.parse(line.slice(7)) as GeneratorResult);
            else reject(new Error(`generator ${a.index} failed:\n${out}\n${errText}`));
          });
        }),
    ),
  );
}

interface Options {
  readonly n: number;
  readonly mode: 'warm' | 'cold';
  readonly cost: number;
  readonly rampMs: number;
  readonly generators: number;
  readonly httpWorkers: number;
  readonly maxConnections: number;
}

function parseArgs(argv: readonly string[]): Options {
  const pos = argv.filter((a) => !a.startsWith('--'));
  const flag = (name: string, dflt: number): number => {
    const v = argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    return v === undefined || !Number.isFinite(Number(v)) ? dflt : Number(v);
  };
  return {
    n: Math.max(1, Math.min(100_000, Number(pos[0] ?? 10_000) || 10_000)),
    mode: pos[1] === 'cold' ? 'cold' : 'warm',
    cost: Math.max(10, Math.min(20, Number(pos[2] ?? 10) || 10)),
    rampMs: Math.max(0, Number(pos[3] ?? 2000)),
    generators: Math.max(1, Math.min(16, flag('generators', 2))),
    httpWorkers: Math.max(1, Math.min(8, flag('http-workers', 1))),
    maxConnections: Math.max(1, flag('max-connections', 9000)),
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  const lab = new Lab('st', 1, 237);
  const l = lab.links[0] as (typeof lab.links)[0];
  // Generator k uses 10.237.1.(2 + k): the lab's client address, then extra ones on the same veth.
  const ips = Array.from({ length: o.generators }, (_, k) => l.cliIp.replace(/\.\d+$/, `.${2 + k}`));
  try {
    lab.up();
    for (const ip of ips.slice(1)) spawnSync('ip', ['-n', lab.cli, 'addr', 'add', `${ip}/24`, 'dev', l.cliIf]);
    spawnSync('ip', ['-n', lab.cli, 'route', 'add', '255.255.255.255/32', 'dev', l.cliIf]);
    process.stderr.write(`hashing ${o.n} passwords (scrypt ln=${o.cost})...\n`);
    const users: string[] = [];
    const B = 256;
    for (let i = 0; i < o.n; i += B) {
      const batch = await Promise.all(Array.from({ length: Math.min(B, o.n - i) }, (_, k) => hashPassword(`pw-${i + k}`, o.cost)));
      batch.forEach((h, k) => users.push(`        u${i + k}: {password: "${h}"}`));
    }
    const stateDir = join(lab.dir, 'state');
    mkdirSync(stateDir);
    const cfg = join(lab.dir, 'storm.yaml');
    writeFileSync(
      cfg,
      `stateDir: ${stateDir}\nlog: {level: info}\ndhcp:\n  interfaces: [${l.srvIf}]\n  rateLimit: {rate: 0}\nmdns: {enabled: false}\ndevices: {maxNewPerSourcePerHour: 1000000}\n` +
        `http: {host: 0.0.0.0, workers: ${o.httpWorkers}, rateLimit: {rate: 0}, maxConnections: 100000, maxConnectionsPerSource: 0}\n` +
        `provisioning:\n  defaultDomain: example.com\n  passwords: {scryptCost: ${o.cost}, cacheSize: ${Math.max(10_000, o.n)}}\n  tenants:\n    example.com:\n      users:\n${users.join('\n')}\n` +
        `      rules:\n        - subject: default\n          properties:\n            net.java.sip.communicator.impl.protocol.sip.acc1: acc1\n            net.java.sip.communicator.impl.protocol.sip.acc1.USER_ID: "{{ user.name }}@sip.example.com"\n`,
    );
    const d = lab.spawn(lab.srv, [process.execPath, MAIN, 'run', '--config', cfg]);
    const started = await d.waitFor((x) => x.includes('"msg":"provisiond started"'), 600_000);
    if (!started) throw new Error(`provisiond did not start:\n${d.lines.join('\n')}`);
    const startupS = Math.round((started.at - d.started) / 100) / 10;
    const pid = d.pid ?? 0;

    const pass = async (warmup: boolean): Promise<Record<string, unknown>> => {
      const before = { daemon: await daemonCounters(d), srv: kernelCounters(lab.srv), cli: kernelCounters(lab.cli), backlog: backlogDrops(), proc: procStats(pid) };
      const logFrom = d.lines.length;
      const startAt = performance.timeOrigin + performance.now() + 1500;
      const results = await runGenerators(
        lab.cli,
        ips.map((ip, index) => ({ n: o.n, index, count: o.generators, ip, startAt, rampMs: o.rampMs, maxConnections: warmup ? WARMUP_CONNECTIONS : o.maxConnections, warmup })),
      );
      const proc = procStats(pid);
      const daemon = delta(await daemonCounters(d), before.daemon);
      const logLines: Counters = {};
      for (const line of d.lines.slice(logFrom)) {
        const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? 'other';
        if (msg !== 'counters') logLines[msg] = (logLines[msg] ?? 0) + 1;
      }
      const merged = { dhcp: [] as number[], slotWait: [] as number[], http: [] as number[], parse: [] as number[], total: [] as number[] };
      const errors: Counters = {};
      const trace: Counters = {};
      for (const r of results) {
        for (const k of Object.keys(merged) as (keyof typeof merged)[]) for (const x of r.samples[k]) merged[k].push(x);
        for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
        for (const [k, v] of Object.entries(r.trace) as [keyof Trace, number][]) trace[k] = k === 'boundLateMs' ? Math.max(trace[k] ?? 0, v) : (trace[k] ?? 0) + v;
      }
      const stage = (xs: number[]): { p50: number; p99: number } => ({ p50: pct(xs, 50), p99: pct(xs, 99) });
      return {
        ok: merged.total.length,
        errors,
        completionMs: Math.round(Math.max(...results.map((r) => r.finishAt)) - startAt),
        dhcp: stage(merged.dhcp),
        slotWait: stage(merged.slotWait),
        http: stage(merged.http),
        parse: stage(merged.parse),
        client: stage(merged.total),
        daemonCpuS: (proc.cpuTicks - before.proc.cpuTicks) / 100,
        daemonPeakRssMb: proc.rssPeakMb,
        generatorCpuS: results.map((r) => r.cpuS),
        trace,
        daemon,
        daemonLogLines: logLines,
        kernel: { srv: delta(kernelCounters(lab.srv), before.srv), cli: delta(kernelCounters(lab.cli), before.cli), backlogDrops: backlogDrops() - before.backlog },
      };
    };

    const warmup = o.mode === 'warm' ? await pass(true) : undefined;
    const res = await pass(false);
    const out = {
      at: new Date().toISOString(),
      commit: spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
      n: o.n,
      mode: o.mode,
      scrypt: `ln=${o.cost} r=8 p=1`,
      rampMs: o.rampMs,
      generators: o.generators,
      httpWorkers: o.httpWorkers,
      daemonStartupS: startupS,
      maxConnectionsPerGenerator: o.maxConnections,
      ...res,
      ...(warmup ? { warmup: { ok: warmup['ok'], errors: warmup['errors'], completionMs: warmup['completionMs'], trace: warmup['trace'], daemon: warmup['daemon'] } } : {}),
    };
    const json = JSON.stringify(out);
    process.stdout.write(`${json}\n`);
    mkdirSync(join(ROOT, '.bench-results'), { recursive: true });
    appendFileSync(join(ROOT, '.bench-results', 'storm.jsonl'), `${json}\n`);
    const errs = Object.entries(res['errors'] as Counters).map(([k, v]) => `${v} ${k}`).join(', ') || '0';
    const st = (k: string): string => {
      const s = res[k] as { p50: number; p99: number };
      return `${s.p50} / ${s.p99} ms`;
    };
    const rss = (res['daemonPeakRssMb'] as number[]).join(' + ');
    process.stdout.write(
      `| ${o.n} | ${o.mode} | ln=${o.cost} | ${o.httpWorkers} | ${o.rampMs / 1000} s | ${String(res['ok'])} | ${errs} | ${(Number(res['completionMs']) / 1000).toFixed(1)} s | ${st('dhcp')} | ${st('http')} | ${st('client')} | ${(res['parse'] as { p99: number }).p99} ms | ${String(res['daemonCpuS'])} s | ${rss} MB |\n`,
    );
    await d.stop();
  } finally {
    await lab.down();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
