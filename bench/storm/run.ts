/**
 * bench/storm/run.ts: a Monday-morning boot storm against one provisiond. N simulated Jitsi
 * clients, started over a ramp, each do the whole client sequence (generator.ts): the 300-byte
 * DHCPINFORM from UDP 6768 → the DHCPACK with option 224 → placeholder substitution → the form
 * POST → parsing the properties (src/probe's pure parts) → checking the document is the
 * client's own (its user is named in it). Every client is its own user.
 *
 *   node scripts/ensure.mjs && node dist/bench/storm/run.js [N=10000] [warm|cold|restart] [scryptCost=product default] [rampMs=2000]
 *        [--generators=2] [--http-workers=1] [--kdf-threads=N] [--http-nice=N] [--dhcp-nice=N] [--max-connections=9000] [--deadline=900] [--warmup-deadline=3600]
 *        [--loopback] [--no-record]
 *
 * Runs as root in two network namespaces it creates (pmd<pid>st{s,c}; always deleted): provisiond
 * (DHCP + HTTP faces, mDNS off) in the server one; in the client one, `--generators` generator
 * processes, each with its own client address on the client veth and its own socket on
 * that address's port 6768 (the server answers an INFORM by unicast to ciaddr:6768). warm = a
 * first pass verifies every credential once (a failed client starts over there, and only there),
 * the second pass is measured; cold = the first pass after start is measured (every password
 * goes through scrypt); restart = warm, then the daemon is stopped and started again on the same
 * store and a second measured pass runs (issue 16: remembered logins; its errors must be zero).
 * A cold pass also prints the theoretical maximum it could provision beside the provisioned
 * count: the daemon's KDF threads × (ramp + the client's 10 s timeout − the answer margin) ÷ the
 * run time the pass saw, and the daemon's own check of its admission (kdf-missed-ms). Around each pass it reads the daemon's counters (SIGUSR1), the kernel's
 * UDP/TCP/ARP counters of both namespaces and the global backlog drops, so a lost exchange can be
 * placed. `--loopback` runs the same storm on 127.0.0.1 without namespaces or root (free ports,
 * INFORMs by unicast, generators on 127.0.0.2…; no kernel counters): the smoke test's mode.
 *
 * The KDF cost defaults to the product's (provisioning.passwords.scryptCost). The product
 * defaults the bench changes, and why, are printed first (`# ` lines) and kept in the JSON.
 * Percentiles are over all clients, a failure counted at its timeout (summary.ts). Prints a
 * summary per pass (`# ` lines), one JSON line (also appended to .bench-results/storm.jsonl
 * unless --no-record) and a Markdown row.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync, mkdirSync, readdirSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, Proc, ROOT } from '../../test/helpers/mdns-lab';
import { MAIN, freeUdpPort } from '../../test/helpers/daemon';
import { parseConfigText } from '../../src/config/load';
import { ANSWER_MARGIN_MS } from '../../src/identity/auth';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DHCP_TIMEOUT_MS } from '../../src/probe/net';
import { HTTP_TIMEOUT_MS, type GeneratorArgs, type GeneratorResult, type Trace } from './generator';
import { pairExchanges, type WireTimes } from './wire';
import { userHashes } from './hashes';
import { emptyStage, mergeStage, summarize, okOnly, formatMs, USER_PROPERTY, USER_TEMPLATE, type Summary } from './summary';

type Counters = Record<string, number>;

/**
 * warmupConnections: POST connections per generator in the warm-up. It keeps the warm-up under
 * the KDF queue (maxPendingVerifications 64) and, at a costly KDF, each client's wait under the
 * 10 s HTTP timeout: the daemon verifies about as many passwords at once as libuv has threads
 * (4), at ~0.1-0.3 s each at ln=15 on the 2-core box, so 2 × 4 clients waiting is already enough.
 */
function warmupConnections(cost: number): number {
  return cost <= 12 ? 24 : 4;
}

/** CLIENT_TIMEOUT_MS: a failed client counts as this long at least (the DHCP and the HTTP timeouts back to back). */
const CLIENT_TIMEOUT_MS = DHCP_TIMEOUT_MS + HTTP_TIMEOUT_MS;

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

/** runGenerators runs one generator process per args (in namespace `ns`, or here when undefined). */
function runGenerators(ns: string | undefined, args: readonly GeneratorArgs[]): Promise<GeneratorResult[]> {
  const script = join(__dirname, 'generator.js');
  return Promise.all(
    args.map(
      (a) =>
        new Promise<GeneratorResult>((resolve, reject) => {
          // Asynchronous on purpose: this process must keep reading the daemon's log pipe while
          // the storm runs (a blocked reader stalls the daemon's synchronous logger).
          const argv = [process.execPath, script, JSON.stringify(a)];
          const c = ns === undefined ? spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let errText = '';
          c.stdout.on('data', (b: Buffer) => void (out += b.toString('utf8')));
          c.stderr.on('data', (b: Buffer) => void (errText += b.toString('utf8')));
          // Backstop only: the generator reports by itself at a.deadlineAt.
          const timer = setTimeout(() => c.kill('SIGKILL'), Math.max(0, a.deadlineAt - Date.now()) + 60_000);
          // 'close', not 'exit': the child may exit before this process has read all of its
          // stdout (a 10 000-client RESULT line is megabytes), and 'exit' then saw half a line.
          c.on('close', () => {
            clearTimeout(timer);
            const line = out.split('\n').find((x) => x.startsWith('RESULT '));
            // A line that does not parse rejects (the bench then stops its daemon) rather than throwing here.
            let parsed: GeneratorResult | undefined;
            try {
              parsed = line === undefined ? undefined : (JSON.parse(line.slice(7)) as GeneratorResult);
            } catch {
              parsed = undefined;
            }
            if (parsed !== undefined) resolve(parsed);
            else reject(new Error(`generator ${a.index} failed:\n${out}\n${errText}`));
          });
        }),
    ),
  );
}

interface Options {
  readonly n: number;
  readonly mode: 'warm' | 'cold' | 'restart';
  readonly cost: number;
  readonly rampMs: number;
  readonly generators: number;
  readonly httpWorkers: number;
  readonly maxConnections: number;
  /** deadlineS: seconds after the measured pass's ramp its unfinished clients fail (`deadline`). */
  readonly deadlineS: number;
  /** warmupDeadlineS: the same for the warm-up pass (N KDF runs: ~17 min for 10 000 users at ln=15). */
  readonly warmupDeadlineS: number;
  readonly loopback: boolean;
  readonly record: boolean;
  /** httpNice: the generators' HTTP halves' scheduling priority (--http-nice; their DHCP threads stay at 0). */
  readonly httpNice: number;
  /** dhcpNice: the generators' DHCP threads' priority (--dhcp-nice, e.g. -15: they stand for other hosts' DHCP stacks). */
  readonly dhcpNice: number;
  /** kdfThreads: provisioning.passwords.kdfThreads, when --kdf-threads asks for one (else the product's default). */
  readonly kdfThreads: number | undefined;
}

/** DEFAULTS is the product's configuration with nothing set: what the bench compares its overrides with. */
const DEFAULTS = parseConfigText('', 'defaults.yaml');

function parseArgs(argv: readonly string[]): Options {
  const pos = argv.filter((a) => !a.startsWith('--'));
  const flag = (name: string, dflt: number): number => {
    const v = argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    return v === undefined || !Number.isFinite(Number(v)) ? dflt : Number(v);
  };
  const productCost = DEFAULTS.provisioning.passwords.scryptCost;
  return {
    n: Math.max(1, Math.min(100_000, Number(pos[0] ?? 10_000) || 10_000)),
    mode: pos[1] === 'cold' ? 'cold' : pos[1] === 'restart' ? 'restart' : 'warm',
    cost: Math.max(10, Math.min(20, Number(pos[2] ?? productCost) || productCost)),
    rampMs: Math.max(0, Math.min(600_000, Number(pos[3] ?? 2000) || 0)),
    generators: Math.max(1, Math.min(16, flag('generators', 2))),
    httpWorkers: Math.max(1, Math.min(8, flag('http-workers', 1))),
    maxConnections: Math.max(1, flag('max-connections', 9000)),
    deadlineS: Math.max(30, Math.min(3600, flag('deadline', 900))),
    warmupDeadlineS: Math.max(30, Math.min(4 * 3600, flag('warmup-deadline', 3600))),
    loopback: argv.includes('--loopback'),
    record: !argv.includes('--no-record'),
    httpNice: Math.max(0, Math.min(19, flag('http-nice', 0))),
    dhcpNice: Math.max(-20, Math.min(19, flag('dhcp-nice', 0))),
    kdfThreads: argv.some((a) => a.startsWith('--kdf-threads=')) ? Math.max(1, Math.min(64, flag('kdf-threads', 1))) : undefined,
  };
}

/** Override is one product default the bench changes: the key, both values, and why. */
interface Override {
  readonly key: string;
  readonly product: string;
  readonly bench: string;
  readonly why: string;
}

/** overrides lists what the storm's configuration changes from the product defaults (DEFAULTS), with the reason. */
function overrides(o: Options): Override[] {
  const d = DEFAULTS;
  const source = `each generator is one source address playing ~${Math.ceil(o.n / o.generators)} clients (on a LAN each client is its own host)`;
  const out: Override[] = [
    { key: 'dhcp.rateLimit.rate', product: `${d.dhcp.rateLimit.rate}/s burst ${d.dhcp.rateLimit.burst} per source`, bench: '0 (off)', why: source },
    { key: 'http.rateLimit.rate', product: `${d.http.rateLimit.rate}/s burst ${d.http.rateLimit.burst} per source`, bench: '0 (off)', why: source },
    { key: 'http.maxConnectionsPerSource', product: String(d.http.maxConnectionsPerSource), bench: '0 (no cap)', why: source },
    {
      key: 'http.bans.maxRetry',
      product: String(d.http.bans.maxRetry),
      bench: '0 (off)',
      why: `${source}; the bans count a source's logins in flight toward maxRetry, so each generator could have only ${d.http.bans.maxRetry} checks waiting for the KDF at once (the others wait in the ban admission, or get 429 attempts-in-flight)`,
    },
    { key: 'http.maxConnections', product: String(d.http.maxConnections), bench: '100000', why: 'every client holds its own connection; the generators bound theirs (--max-connections)' },
    { key: 'devices.maxNewPerSourcePerHour', product: String(d.devices.maxNewPerSourcePerHour), bench: '1000000', why: `${source}; beyond the cap a device is answered but not recorded, which would skip the SQLite write` },
  ];
  const cacheSize = Math.max(d.provisioning.passwords.cacheSize, o.n);
  if (cacheSize !== d.provisioning.passwords.cacheSize) out.push({ key: 'provisioning.passwords.cacheSize', product: String(d.provisioning.passwords.cacheSize), bench: String(cacheSize), why: 'every user fits in the credential cache (a warm pass is meant warm)' });
  if (o.cost !== d.provisioning.passwords.scryptCost) out.push({ key: 'provisioning.passwords.scryptCost', product: String(d.provisioning.passwords.scryptCost), bench: String(o.cost), why: 'asked for on the command line (the users are hashed at this cost)' });
  if (o.kdfThreads !== undefined) out.push({ key: 'provisioning.passwords.kdfThreads', product: 'cores − 1 (at least 1)', bench: String(o.kdfThreads), why: '--kdf-threads' });
  if (o.httpWorkers !== d.http.workers) out.push({ key: 'http.workers', product: String(d.http.workers), bench: String(o.httpWorkers), why: '--http-workers' });
  return out;
}

/** freeTcpPort asks the kernel for a currently free TCP port on loopback. */
function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Target is where the storm runs: the two namespaces, or loopback. */
interface Target {
  /** cli / srv: the namespaces (undefined on loopback: no kernel counters, generators run here). */
  readonly cli: string | undefined;
  readonly srv: string | undefined;
  readonly dir: string;
  readonly ips: readonly string[];
  readonly server: string;
  readonly serverPort: number;
  readonly clientPort: number;
  /** dhcpYaml / httpYaml: the faces' addressing, spliced into the config. */
  readonly dhcpYaml: string;
  readonly httpYaml: string;
  /** srvIf: the server end of the link, where the DHCP exchanges are captured (namespaces only). */
  readonly srvIf: string | undefined;
  spawn(argv: readonly string[]): Proc;
  down(): Promise<void>;
}

async function netnsTarget(o: Options): Promise<Target> {
  const lab = new Lab('st', 1, 237);
  const l = lab.links[0] as (typeof lab.links)[0];
  // Generator k uses 10.237.1.(2 + k): the lab's client address, then extra ones on the same veth.
  const ips = Array.from({ length: o.generators }, (_, k) => l.cliIp.replace(/\.\d+$/, `.${2 + k}`));
  try {
    lab.up();
    for (const ip of ips.slice(1)) spawnSync('ip', ['-n', lab.cli, 'addr', 'add', `${ip}/24`, 'dev', l.cliIf]);
    spawnSync('ip', ['-n', lab.cli, 'route', 'add', '255.255.255.255/32', 'dev', l.cliIf]);
  } catch (e) {
    await lab.down();
    throw e;
  }
  return {
    cli: lab.cli,
    srv: lab.srv,
    dir: lab.dir,
    ips,
    server: '255.255.255.255',
    serverPort: DHCP_SERVER_PORT,
    clientPort: DHCP_CLIENT_PORT,
    dhcpYaml: `interfaces: [${l.srvIf}]`,
    httpYaml: 'host: 0.0.0.0',
    srvIf: l.srvIf,
    spawn: (argv) => lab.spawn(lab.srv, argv),
    down: () => lab.down(),
  };
}

async function loopbackTarget(o: Options): Promise<Target> {
  const [serverPort, clientPort, httpPort] = [await freeUdpPort(), await freeUdpPort(), await freeTcpPort()];
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-storm-'));
  const procs: Proc[] = [];
  return {
    cli: undefined,
    srv: undefined,
    srvIf: undefined,
    dir,
    ips: Array.from({ length: o.generators }, (_, k) => `127.0.0.${2 + k}`),
    server: '127.0.0.1',
    serverPort,
    clientPort,
    dhcpYaml: `interfaces: [lo], port: ${serverPort}, replyPort: ${clientPort}`,
    httpYaml: `host: 127.0.0.1, port: ${httpPort}`,
    spawn: (argv) => {
      const p = new Proc(argv);
      procs.push(p);
      return p;
    },
    down: async () => {
      await Promise.all(procs.map((p) => p.stop(3000)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PassReport is one pass's figures. */
interface PassReport {
  readonly ok: number;
  readonly errors: Counters;
  /** wrongDocuments: clients that got another user's document (also in errors as wrong-user). */
  readonly wrongDocuments: number;
  readonly completionMs: number;
  readonly dhcp: Summary;
  readonly http: Summary;
  readonly client: Summary;
  readonly okOnly: { readonly dhcp: { p50: number; p99: number }; readonly http: { p50: number; p99: number }; readonly client: { p50: number; p99: number } };
  readonly slotWait: Summary;
  readonly parse: Summary;
  readonly informResends: number;
  /** dhcpWire: INFORM → ACK on the server's interface (dumpcap), the face's own latency; undefined without a capture. */
  readonly dhcpWire: (Summary & { readonly informs: number; readonly acks: number; readonly frames: number }) | undefined;
  readonly daemonCpuS: number;
  readonly daemonPeakRssMb: number[];
  readonly generatorCpuS: number[];
  readonly trace: Counters;
  readonly daemon: Counters;
  readonly daemonLogLines: Counters;
  readonly kernel: Record<string, unknown>;
  /** kdfRate: the daemon's measured KDF rate at the end of the pass (runs/s, all workers; undefined: a build without the gauge). */
  readonly kdfRate: number | undefined;
  /** kdfThreads: the daemon's KDF threads (all workers; undefined: a build without the gauge). */
  readonly kdfThreads: number | undefined;
}

/** DUMPCAP is Wireshark's capture tool (Debian's tshark package brings it). */
const DUMPCAP = '/usr/bin/dumpcap';

/**
 * startCapture runs dumpcap on the server end of the link for one pass (namespaces, as root,
 * when it is installed); stop() ends it and pairs the exchanges (wire.ts).
 */
async function startCapture(t: Target, name: string): Promise<{ stop(): Promise<WireTimes | undefined> } | undefined> {
  if (t.srv === undefined || t.srvIf === undefined || !existsSync(DUMPCAP)) return undefined;
  const file = join(t.dir, name);
  const filter = `udp port ${t.serverPort} or udp port ${t.clientPort}`;
  const c = spawn('ip', ['netns', 'exec', t.srv, DUMPCAP, '-q', '-P', '-s', '96', '-B', '64', '-i', t.srvIf, '-f', filter, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    c.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('Capturing on')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    c.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    c.kill('SIGKILL');
    process.stderr.write(`storm: no capture of the DHCP exchanges (dumpcap: ${err.trim() || 'did not start'})\n`);
    return undefined;
  }
  return {
    stop: async () => {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      await exited;
      try {
        return pairExchanges(file, t.serverPort, t.clientPort);
      } catch (e) {
        process.stderr.write(`storm: the capture could not be read: ${e instanceof Error ? e.message : String(e)}\n`);
        return undefined;
      }
    },
  };
}

/** passLines is a pass's summary for people: `# ` lines. */
function passLines(name: string, n: number, r: PassReport, warmup: boolean): string {
  const errs = Object.entries(r.errors).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
  // In the warm-up a failed client starts over: its stages count once per attempt.
  const s = (x: Summary, unit: string): string => `p50 ${formatMs(x.p50)}, p90 ${formatMs(x.p90)}, p99 ${formatMs(x.p99)}, max ${formatMs(x.max)} (${x.n} ${unit}, ${x.failed} failed, counted at ≥ ${formatMs(x.timeoutMs)})`;
  const stage = warmup ? 'attempts' : 'clients';
  return [
    `# ${name}: ${r.ok}/${n} ok, ${r.wrongDocuments} wrong user's document, errors: ${errs}; completion ${formatMs(r.completionMs)}`,
    `#   DHCP INFORM→ACK: ${s(r.dhcp, stage)}; ${r.informResends} INFORMs resent`,
    ...(r.dhcpWire === undefined ? [] : [`#   DHCP on the server's interface (the face's own time, dumpcap): ${s(r.dhcpWire, 'exchanges')}; ${r.dhcpWire.informs} INFORMs and ${r.dhcpWire.acks} ACKs in ${r.dhcpWire.frames} frames`]),
    `#   HTTP POST→own document: ${s(r.http, stage)}`,
    `#   client (whole sequence): ${s(r.client, 'clients')}`,
    '',
  ].join('\n');
}

/** Theoretical: the most clients a cold pass could provision, how it was worked out, and the daemon's own check of its admission. */
interface Theoretical {
  readonly max: number;
  readonly provisioned: number;
  /** how: 'pool' (threads × window ÷ the pass's own run time) or 'gauge' (a build without the pool counters: rate gauge × ramp + timeout). */
  readonly how: 'pool' | 'gauge';
  readonly windowS: number;
  readonly threads?: number;
  readonly runMs?: number;
  readonly busyS?: number;
  readonly runs?: number;
  /** missedMs: KDF thread time left free while a refused client could still have been answered (the daemon's kdf-missed-ms). */
  readonly missedMs?: number;
  readonly missedRuns?: number;
  /** rate: the daemon's rate gauge at the end of the pass (runs/s), for comparison. */
  readonly rate?: number;
  readonly rateMax?: number;
}

/**
 * theoretical is the most clients a cold pass could provision. Each needs one KDF run, a client
 * waits the HTTP timeout, and the daemon wants its answer ANSWER_MARGIN_MS before that: the pool
 * can work from the first request until the last client's deadline, ramp + timeout − margin (or
 * the pass's completion, when retries of dropped checks ran later), on each of its threads, at the run time this pass actually saw (the daemon's kdf-busy-ms over its
 * KDF runs, the storm's own load included). The daemon's kdf-missed-ms is the direct check: the
 * thread time it left free while a client it had refused could still have been answered; zero
 * means no client was left unprovisioned whose wait fit. A build without those counters gets the
 * older figure, the rate gauge × (ramp + timeout).
 */
function theoretical(o: Options, r: PassReport): Theoretical {
  const runs = (r.daemon['http.kdf-runs'] ?? 0) + (r.daemon['http.kdf-burns'] ?? 0);
  const busyMs = r.daemon['http.kdf-busy-ms'];
  const rate = r.kdfRate ?? (r.daemon['http.kdf-runs'] ?? 0) / Math.max(1, Math.min(r.completionMs, o.rampMs + HTTP_TIMEOUT_MS) / 1000);
  const rateMax = Math.min(o.n, Math.floor((rate * (o.rampMs + HTTP_TIMEOUT_MS)) / 1000));
  if (busyMs === undefined || r.kdfThreads === undefined || runs === 0) {
    return { max: rateMax, provisioned: r.ok, how: 'gauge', windowS: (o.rampMs + HTTP_TIMEOUT_MS) / 1000, rate: Math.round(rate * 10) / 10, rateMax };
  }
  // A check dropped unrun when its time ran out closes its connection; the client's retry has a
  // deadline of its own, so the window runs to the pass's completion when that came later.
  const windowMs = Math.max(o.rampMs + HTTP_TIMEOUT_MS - ANSWER_MARGIN_MS, r.completionMs);
  const runMs = busyMs / runs;
  const missedMs = r.daemon['http.kdf-missed-ms'] ?? 0;
  return {
    max: Math.min(o.n, Math.floor((r.kdfThreads * windowMs) / runMs)),
    provisioned: r.ok,
    how: 'pool',
    windowS: Math.round(windowMs / 100) / 10,
    threads: r.kdfThreads,
    runMs: Math.round(runMs),
    busyS: Math.round(busyMs / 100) / 10,
    runs,
    missedMs,
    missedRuns: Math.floor(missedMs / runMs),
    rate: Math.round(rate * 10) / 10,
    rateMax,
  };
}

/** theoreticalLine prints theoretical() for people. */
function theoreticalLine(o: Options, r: PassReport): string {
  const x = theoretical(o, r);
  const pct = x.max > 0 ? Math.round((100 * x.provisioned) / x.max) : 0;
  if (x.how === 'gauge') {
    return `# theoretical maximum: ${x.rate} KDF runs/s (the daemon's rate gauge; this build has no pool counters) × (ramp ${o.rampMs / 1000} s + timeout ${HTTP_TIMEOUT_MS / 1000} s) = ${x.max} of ${o.n}; provisioned ${x.provisioned} (${pct} % of it)\n\n`;
  }
  return [
    `# theoretical maximum: ${x.threads} KDF thread(s) × ${x.windowS} s (ramp ${o.rampMs / 1000} s + timeout ${HTTP_TIMEOUT_MS / 1000} s − ${ANSWER_MARGIN_MS / 1000} s answer margin, or the completion if retries ran later) ÷ ${x.runMs} ms a run (this pass's: ${x.busyS} s of thread time over ${x.runs} runs) = ${x.max} of ${o.n}; provisioned ${x.provisioned} (${pct} % of it)`,
    `#   the daemon's check: KDF thread time left free while a refused client could still have been answered: ${x.missedMs} ms (${x.missedRuns} runs)${x.missedRuns === 0 ? ': no client was left unprovisioned whose wait fit' : ''}`,
    `#   for comparison, the rate gauge at the end of the pass: ${x.rate} runs/s × ${(o.rampMs + HTTP_TIMEOUT_MS) / 1000} s = ${x.rateMax}`,
    '',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (!o.loopback && process.getuid?.() !== 0) throw new Error('needs root (network namespaces); --loopback runs without');
  const ov = overrides(o);
  process.stdout.write(
    [
      `# storm: ${o.n} clients, ${o.mode}, scrypt ln=${o.cost} r=8 p=1 (product default ln=${DEFAULTS.provisioning.passwords.scryptCost}), ramp ${o.rampMs} ms, ${o.generators} generators${o.httpNice > 0 || o.dhcpNice !== 0 ? ` (their HTTP halves at nice ${o.httpNice}, their DHCP threads at ${o.dhcpNice})` : ''}, http.workers ${o.httpWorkers}, ${o.loopback ? 'loopback' : 'two namespaces'}`,
      `# each client checks its document names its own user (${USER_PROPERTY}); percentiles over all clients, a failure counted at its timeout (DHCP ${DHCP_TIMEOUT_MS / 1000} s, HTTP ${HTTP_TIMEOUT_MS / 1000} s, client ${CLIENT_TIMEOUT_MS / 1000} s); pass deadline ${o.deadlineS} s after the ramp${o.mode === 'warm' ? ` (warm-up ${o.warmupDeadlineS} s)` : ''}`,
      '# product defaults this bench changes:',
      ...ov.map((x) => `#   ${x.key}: ${x.product} → ${x.bench}: ${x.why}`),
      '',
    ].join('\n'),
  );
  const users = (await userHashes(o.n, o.cost, o.record)).map((h, i) => `        u${i}: {password: "${h}"}`);
  const t = o.loopback ? await loopbackTarget(o) : await netnsTarget(o);
  try {
    const stateDir = join(t.dir, 'state');
    mkdirSync(stateDir);
    const cfg = join(t.dir, 'storm.yaml');
    writeFileSync(
      cfg,
      `stateDir: ${stateDir}\nlog: {level: info}\ndhcp: {${t.dhcpYaml}, rateLimit: {rate: 0}}\nmdns: {enabled: false}\ndevices: {maxNewPerSourcePerHour: 1000000}\n` +
        `http: {${t.httpYaml}, workers: ${o.httpWorkers}, rateLimit: {rate: 0}, bans: {maxRetry: 0}, maxConnections: 100000, maxConnectionsPerSource: 0}\n` +
        `provisioning:\n  defaultDomain: example.com\n  passwords: {scryptCost: ${o.cost}, cacheSize: ${Math.max(DEFAULTS.provisioning.passwords.cacheSize, o.n)}${o.kdfThreads === undefined ? '' : `, kdfThreads: ${o.kdfThreads}`}}\n  tenants:\n    example.com:\n      users:\n${users.join('\n')}\n` +
        `      rules:\n        - subject: default\n          properties:\n            net.java.sip.communicator.impl.protocol.sip.acc1: acc1\n            ${USER_PROPERTY}: "${USER_TEMPLATE}"\n`,
    );
    // PROVISIOND=path/to/main.js runs another build of the daemon (a before/after comparison).
    const launch = async (): Promise<{ d: Proc; startupS: number }> => {
      const p = t.spawn([process.execPath, process.env['PROVISIOND'] ?? MAIN, 'run', '--config', cfg]);
      const started = await p.waitFor((x) => x.includes('"msg":"provisiond started"'), 600_000);
      if (!started) throw new Error(`provisiond did not start:\n${p.lines.join('\n')}`);
      return { d: p, startupS: Math.round((started.at - p.started) / 100) / 10 };
    };
    let { d, startupS } = await launch();
    let pid = d.pid ?? 0;
    const kernel = (ns: string | undefined): Counters => (ns === undefined ? {} : kernelCounters(ns));

    const pass = async (warmup: boolean): Promise<PassReport> => {
      const before = { daemon: await daemonCounters(d), srv: kernel(t.srv), cli: kernel(t.cli), backlog: backlogDrops(), proc: procStats(pid) };
      const logFrom = d.lines.length;
      const cap = await startCapture(t, `${warmup ? 'warmup' : 'measured'}.pcap`);
      const startAt = performance.timeOrigin + performance.now() + 1500;
      const deadlineAt = startAt + o.rampMs + (warmup ? o.warmupDeadlineS : o.deadlineS) * 1000;
      const results = await runGenerators(
        t.cli,
        t.ips.map((ip, index) => ({
          n: o.n,
          index,
          count: o.generators,
          ip,
          server: t.server,
          serverPort: t.serverPort,
          clientPort: t.clientPort,
          startAt,
          rampMs: o.rampMs,
          deadlineAt,
          maxConnections: warmup ? warmupConnections(o.cost) : o.maxConnections,
          warmup,
          httpNice: o.httpNice,
          dhcpNice: o.dhcpNice,
        })),
      );
      const proc = procStats(pid);
      const wire = cap === undefined ? undefined : await cap.stop();
      const after = await daemonCounters(d);
      const daemon = delta(after, before.daemon);
      const logLines: Counters = {};
      for (const line of d.lines.slice(logFrom)) {
        const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? 'other';
        if (msg !== 'counters') logLines[msg] = (logLines[msg] ?? 0) + 1;
      }
      const stages = { dhcp: emptyStage(), http: emptyStage(), client: emptyStage() };
      const slotWait: number[] = [];
      const parse: number[] = [];
      const errors: Counters = {};
      const trace: Counters = {};
      for (const r of results) {
        for (const k of ['dhcp', 'http', 'client'] as const) mergeStage(stages[k], r.stages[k]);
        slotWait.push(...r.samples.slotWait);
        parse.push(...r.samples.parse);
        for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
        for (const [k, v] of Object.entries(r.trace) as [keyof Trace, number][]) trace[k] = k === 'boundLateMs' ? Math.max(trace[k] ?? 0, v) : (trace[k] ?? 0) + v;
      }
      return {
        ok: stages.client.ok.length,
        errors,
        wrongDocuments: errors['wrong-user'] ?? 0,
        completionMs: Math.round(Math.max(...results.map((r) => r.finishAt)) - startAt),
        dhcp: summarize(stages.dhcp, DHCP_TIMEOUT_MS),
        http: summarize(stages.http, HTTP_TIMEOUT_MS),
        client: summarize(stages.client, CLIENT_TIMEOUT_MS),
        okOnly: { dhcp: okOnly(stages.dhcp), http: okOnly(stages.http), client: okOnly(stages.client) },
        slotWait: summarize({ ok: slotWait, failed: [] }, 0),
        parse: summarize({ ok: parse, failed: [] }, 0),
        informResends: trace['informResends'] ?? 0,
        dhcpWire: wire === undefined ? undefined : { ...summarize({ ok: wire.ok, failed: Array<number>(wire.unanswered).fill(DHCP_TIMEOUT_MS) }, DHCP_TIMEOUT_MS), informs: wire.informs, acks: wire.acks, frames: wire.frames },
        daemonCpuS: (proc.cpuTicks - before.proc.cpuTicks) / 100,
        daemonPeakRssMb: proc.rssPeakMb,
        generatorCpuS: results.map((r) => r.cpuS),
        trace,
        daemon,
        daemonLogLines: logLines,
        kdfRate: after['http.kdf-runs-per-second'],
        kdfThreads: after['http.kdf-threads'],
        kernel: t.srv === undefined || t.cli === undefined ? { note: 'loopback: the host-wide counters are not kept' } : { srv: delta(kernel(t.srv), before.srv), cli: delta(kernel(t.cli), before.cli), backlogDrops: backlogDrops() - before.backlog },
      };
    };

    const warmup = o.mode !== 'cold' ? await pass(true) : undefined;
    if (warmup) process.stdout.write(passLines('warm-up pass (not measured; a failed client starts over, up to 10 times)', o.n, warmup, true));
    let res = await pass(false);
    process.stdout.write(passLines(`measured pass (${o.mode === 'restart' ? 'warm, before the restart' : o.mode})`, o.n, res, false));
    if (o.mode === 'cold') process.stdout.write(theoreticalLine(o, res));
    let beforeRestart: PassReport | undefined;
    let restartS: number | undefined;
    if (o.mode === 'restart') {
      // The daemon stops (SIGTERM: remembered verifications still waiting are written) and starts
      // again on the same store: only the remembered logins are warm, the memory cache is empty.
      beforeRestart = res;
      const t0 = performance.now();
      await d.stop();
      ({ d, startupS } = await launch());
      pid = d.pid ?? 0;
      restartS = Math.round((performance.now() - t0) / 100) / 10;
      res = await pass(false);
      process.stdout.write(passLines(`measured pass after the restart (stop + start took ${restartS} s)`, o.n, res, false));
      const errs = (r: PassReport): number => Object.values(r.errors).reduce((a, b) => a + b, 0);
      process.stdout.write(`# errors per phase: warm-up ${warmup ? errs(warmup) : '-'} (retried), before the restart ${errs(beforeRestart)}, after the restart ${errs(res)}; KDF runs after the restart: ${res.daemon['http.kdf-runs'] ?? 0}, remembered hits: ${res.daemon['http.remembered-hits'] ?? 0}\n\n`);
    }
    const out = {
      at: new Date().toISOString(),
      commit: spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
      n: o.n,
      mode: o.mode,
      scrypt: `ln=${o.cost} r=8 p=1`,
      productScryptCost: DEFAULTS.provisioning.passwords.scryptCost,
      rampMs: o.rampMs,
      generators: o.generators,
      httpWorkers: o.httpWorkers,
      loopback: o.loopback,
      deadlineS: o.deadlineS,
      ...(o.mode !== 'cold' ? { warmupDeadlineS: o.warmupDeadlineS, warmupConnectionsPerGenerator: warmupConnections(o.cost) } : {}),
      ...(o.mode === 'cold' ? { theoretical: theoretical(o, res) } : {}),
      ...(beforeRestart
        ? { restartS, beforeRestart: { ok: beforeRestart.ok, errors: beforeRestart.errors, completionMs: beforeRestart.completionMs, http: beforeRestart.http, client: beforeRestart.client, daemon: beforeRestart.daemon, daemonCpuS: beforeRestart.daemonCpuS, generatorCpuS: beforeRestart.generatorCpuS } }
        : {}),
      overrides: ov,
      daemonStartupS: startupS,
      maxConnectionsPerGenerator: o.maxConnections,
      ...res,
      ...(warmup
        ? { warmup: { ok: warmup.ok, errors: warmup.errors, wrongDocuments: warmup.wrongDocuments, completionMs: warmup.completionMs, dhcp: warmup.dhcp, http: warmup.http, client: warmup.client, informResends: warmup.informResends, trace: warmup.trace, daemon: warmup.daemon } }
        : {}),
    };
    const json = JSON.stringify(out);
    process.stdout.write(`${json}\n`);
    if (o.record) {
      mkdirSync(join(ROOT, '.bench-results'), { recursive: true });
      appendFileSync(join(ROOT, '.bench-results', 'storm.jsonl'), `${json}\n`);
    }
    const errs = Object.entries(res.errors).map(([k, v]) => `${v} ${k}`).join(', ') || '0';
    const p2 = (s: Summary): string => `${formatMs(s.p50)} / ${formatMs(s.p99)}`;
    const p4 = (s: Summary): string => `${formatMs(s.p50)} / ${formatMs(s.p90)} / ${formatMs(s.p99)} / ${formatMs(s.max)}`;
    const warmDhcp = warmup ? `${p2(warmup.dhcp)}, ${warmup.informResends} resent` : '-';
    process.stdout.write(
      `| ${o.n} | ${o.mode} | ln=${o.cost} | ${o.httpWorkers} | ${o.rampMs / 1000} s | ${res.ok} | ${res.wrongDocuments} | ${errs} | ${formatMs(res.completionMs)} | ${warmDhcp} | ${p2(res.dhcp)}, ${res.informResends} resent${res.dhcpWire === undefined ? "" : `; wire ${p2(res.dhcpWire)}`} | ${p4(res.http)} | ${p4(res.client)} | ${formatMs(res.parse.p99)} | ${res.daemonCpuS} s | ${res.daemonPeakRssMb.join(' + ')} MB |\n`,
    );
    await d.stop();
  } finally {
    await t.down();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
