/**
 * generator.ts (bench/storm): one load-generator process of the storm. It runs inside the
 * client namespace, owns one client address (its own socket on ciaddr:6768, so the server's
 * unicast replies reach it and no other generator), and plays the clients i ≡ index (mod count)
 * of the storm: each does the Jitsi client's sequence (jitsi-client-contract.md §2–§4):
 *
 *  - the 300-byte DHCPINFORM from port 6768 to 255.255.255.255:6767, sent again after a 1 s or
 *    2 s gap, 3 transmissions in all, matched on the xid, 10 s timeout;
 *  - placeholder substitution, the query moved into a form POST on a connection of its own,
 *    10 s socket timeout, up to 3 retries on an I/O error that is not a timeout or a refused
 *    connection (DefaultHttpRequestRetryHandler(3, true)); no retry on any status (a 429 fails
 *    the client, as it fails the real one);
 *  - parsing the document as Java Properties and applying the ALLOW/ENFORCE prefixes;
 *  - checking it is this client's own document: the lab's template names the user who logged in
 *    (summary.ts, USER_PROPERTY); another user's document is a `wrong-user` error.
 *
 * Client i starts at startAt + rampMs·i/n (wall clock, shared by all generators). A stage's
 * failures are recorded with the time they took (summary.ts counts them at the timeout). At
 * deadlineAt the clients still running fail with `deadline`, and the process reports anyway.
 * The DHCP half runs in a worker thread of the process (dhcpThread, below), so that the INFORM →
 * ACK times are not those of an event loop busy with thousands of HTTP clients.
 * The process prints one `RESULT {json}` line: the per-stage samples, the errors by kind and a
 * trace of every datagram sent and received, so that a lost exchange can be placed.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { buildInform, readReply, ipv4ToU32, retransmitGaps } from '../../src/probe/inform';
import { substitute, planPost, formBody, type HostValues } from '../../src/probe/request';
import { parseProperties, applyPrefixes } from '../../src/probe/properties';
import { DHCP_TIMEOUT_MS } from '../../src/probe/net';
import { setOwnThreadNice } from '../../src/priority';
import { checkEntries, emptyStage, type StageSamples } from './summary';

/** GeneratorArgs is what the orchestrator passes on the command line (as JSON). */
export interface GeneratorArgs {
  readonly n: number;
  readonly index: number;
  readonly count: number;
  readonly ip: string;
  /** server is where INFORMs go: 255.255.255.255 as the Jitsi client, or the daemon's address on loopback. */
  readonly server: string;
  readonly serverPort: number;
  /** clientPort is the port the INFORMs leave from and the ACKs come to (dhcp.replyPort). */
  readonly clientPort: number;
  /** startAt is the wall-clock time (ms since the epoch) client 0 starts. */
  readonly startAt: number;
  readonly rampMs: number;
  /** deadlineAt (wall clock): the clients still running then fail with `deadline`. */
  readonly deadlineAt: number;
  /** maxConnections bounds this process's open POST connections (file descriptors). */
  readonly maxConnections: number;
  /** warmup: a failed client starts over (up to 10 times), so that every credential gets cached. */
  readonly warmup: boolean;
  /**
   * httpNice: the scheduling priority of this process's HTTP half (its main thread; 0 = unchanged).
   * The generators stand for thousands of other hosts but share the appliance's cores; a positive
   * value keeps their HTTP clients from taking the cores the appliance's and the generators' own
   * DHCP threads wake on (the DHCP thread stays at nice 0).
   */
  readonly httpNice: number;
  /** dhcpNice: the DHCP thread's priority (negative: ahead of everything else on the box; needs root). */
  readonly dhcpNice: number;
}

/** Trace counts what crossed this generator's socket and connections. */
export interface Trace {
  informsSent: number;
  /** informResends: INFORMs sent again because no ACK had come (informsSent minus the first sends). */
  informResends: number;
  informSendErrors: number;
  datagramsReceived: number;
  acksMatched: number;
  /** acksLate: an answer whose client already had its URL (a retransmission answered twice) or gave up. */
  acksLate: number;
  malformed: number;
  httpIoRetries: number;
  /** warmupRetries: clients of the warm-up pass that started over after a failure. */
  warmupRetries: number;
  /** boundLateMs: how late this process was ready for startAt (0 when on time). */
  boundLateMs: number;
}

/** GeneratorResult is the RESULT line. */
export interface GeneratorResult {
  readonly index: number;
  readonly ok: number;
  readonly errors: Record<string, number>;
  /**
   * dhcp: first INFORM → matching ACK (failed: no ACK within DHCP_TIMEOUT_MS); http: request →
   * a document this client can use (failed: an I/O error, a status other than 200, an unusable
   * or another user's document); client: the whole sequence (failed: any of these). A warm-up
   * retry adds one dhcp (and http) sample per attempt, one client sample per client.
   */
  readonly stages: { readonly dhcp: StageSamples; readonly http: StageSamples; readonly client: StageSamples };
  /** slotWait is the time a client waited for one of this process's maxConnections slots; parse the parse and check. */
  readonly samples: { slotWait: number[]; parse: number[] };
  readonly trace: Trace;
  /** finishAt is the wall-clock time the last of this process's clients finished. */
  readonly finishAt: number;
  /** cpuS is this generator's own CPU time (user + system), to show when the load side saturates. */
  readonly cpuS: number;
}

export const HTTP_TIMEOUT_MS = 10_000;
const HTTP_RETRIES = 3;
const NOT_RETRIED = new Set(['ETIMEDOUT', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** wallNow is the wall clock in ms with sub-ms resolution (comparable across processes). */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

type PostOutcome = { readonly status: number; readonly body: Buffer } | { readonly error: string };

/** postOnce sends one form POST on a connection of its own (the storm's clients are separate hosts). */
function postOnce(target: URL, body: string, localAddress: string): Promise<PostOutcome> {
  return new Promise((resolve) => {
    const payload = Buffer.from(body, 'utf8');
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: 'POST',
        agent: false,
        // From the generator's own address: each generator is one source to the daemon.
        localAddress,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550', 'content-length': payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
      },
    );
    req.setTimeout(HTTP_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(payload);
  });
}

/** Phase is where a running client is, for the deadline's accounting. */
interface Running {
  phase: 'dhcp' | 'http';
  /** stageAt / clientAt: performance.now() when the current stage and the client started. */
  stageAt: number;
  readonly clientAt: number;
}

/** ToDhcp / FromDhcp are the messages between a generator's main thread and its DHCP thread. */
type ToDhcp = { readonly t: 'again'; readonly i: number; readonly round: number } | { readonly t: 'stop' };
type FromDhcp =
  | { readonly t: 'dhcp'; readonly i: number; readonly round: number; readonly url?: string; readonly ms: number }
  | { readonly t: 'stopped'; readonly trace: Trace; readonly running: number[]; readonly notStarted: number };

/** xidOf / macOf: client i's transaction id (fresh per pass: a repeated xid is a retransmission to the server) and hardware address. */
function xidOf(salt: number, i: number, round: number): number {
  return (salt + i * 7919 + round * 104729) >>> 0;
}
function macOf(i: number): Buffer {
  return Buffer.from([0x02, 0x00, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x01]);
}

/**
 * dhcpThread is the DHCP half of a generator, in a worker thread of its own: it owns the UDP
 * socket, starts each of this process's clients at its time on the ramp, retransmits, and times
 * INFORM → ACK on an event loop that does nothing else. Without it the HTTP clients' work on the
 * same event loop (thousands of connections, parsing) delayed the reading of the ACKs, and the
 * DHCP percentiles measured the generator, not the daemon. The main thread gets each client's
 * URL (or its timeout) and runs the HTTP half.
 */
async function dhcpThread(a: GeneratorArgs, salt: number, port: NonNullable<typeof parentPort>): Promise<void> {
  if (a.httpNice > 0 || a.dhcpNice !== 0) setOwnThreadNice(a.dhcpNice);
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const trace: Trace = { informsSent: 0, informResends: 0, informSendErrors: 0, datagramsReceived: 0, acksMatched: 0, acksLate: 0, malformed: 0, httpIoRetries: 0, warmupRetries: 0, boundLateMs: 0 };
  const waiting = new Map<number, (url: string) => void>();
  sock.on('message', (buf) => {
    trace.datagramsReceived++;
    const xid = buf.length >= 8 ? buf.readUInt32BE(4) : -1;
    const w = waiting.get(xid);
    if (w === undefined) {
      trace.acksLate++;
      return;
    }
    const r = readReply(buf, xid);
    if (r.kind === 'malformed') trace.malformed++;
    if (r.kind !== 'url') return;
    trace.acksMatched++;
    waiting.delete(xid);
    w(r.url);
  });
  await new Promise<void>((res) => sock.bind(a.clientPort, a.ip, () => res()));
  sock.setBroadcast(true);
  trace.boundLateMs = Math.max(0, Math.round(wallNow() - a.startAt));
  const ciaddr = ipv4ToU32(a.ip);
  const onSent = (e: Error | null): void => {
    if (e) trace.informSendErrors++;
  };
  const post = (m: FromDhcp): void => port.postMessage(m);
  /** running: client → the timers of its exchange under way and when it started. */
  const running = new Map<number, { readonly at: number; readonly timers: NodeJS.Timeout[] }>();
  const start = (i: number, round: number): void => {
    const xid = xidOf(salt, i, round);
    const packet = buildInform(xid, ciaddr, macOf(i));
    const gaps = retransmitGaps();
    const at = performance.now();
    const finish = (url: string | undefined): void => {
      const r = running.get(i);
      if (r === undefined) return;
      for (const t of r.timers) clearTimeout(t);
      running.delete(i);
      waiting.delete(xid);
      post({ t: 'dhcp', i, round, url, ms: performance.now() - at });
    };
    const send = (again: boolean): void => {
      trace.informsSent++;
      if (again) trace.informResends++;
      sock.send(packet, a.serverPort, a.server, onSent);
    };
    waiting.set(xid, finish);
    send(false);
    running.set(i, {
      at,
      timers: [setTimeout(() => send(true), gaps[0]), setTimeout(() => send(true), gaps[0] + gaps[1]), setTimeout(() => finish(undefined), DHCP_TIMEOUT_MS)],
    });
  };
  const startTimers = new Map<number, NodeJS.Timeout>();
  for (let i = a.index; i < a.n; i += a.count) {
    const at = a.startAt + (a.n <= 1 ? 0 : (a.rampMs * i) / a.n);
    startTimers.set(
      i,
      setTimeout(() => {
        startTimers.delete(i);
        start(i, 0);
      }, Math.max(0, at - wallNow())),
    );
  }
  port.on('message', (m: ToDhcp) => {
    if (m.t === 'again') return start(m.i, m.round);
    // stop: the deadline passed. The clients still exchanging are reported (with their time), the ones not started counted.
    for (const t of startTimers.values()) clearTimeout(t);
    const now = performance.now();
    const still: number[] = [];
    for (const r of running.values()) {
      for (const t of r.timers) clearTimeout(t);
      still.push(now - r.at);
    }
    sock.close();
    post({ t: 'stopped', trace, running: still, notStarted: startTimers.size });
    port.close();
  });
}

/** runGenerator plays this process's share of the storm and returns its result. */
export async function runGenerator(a: GeneratorArgs): Promise<GeneratorResult> {
  const salt = Math.floor(Math.random() * 0x7fffffff);
  const dhcpWorker = new Worker(__filename, { workerData: { args: a, salt } });
  if (a.httpNice > 0) setOwnThreadNice(a.httpNice);
  const stages = { dhcp: emptyStage(), http: emptyStage(), client: emptyStage() };
  const samples = { slotWait: [] as number[], parse: [] as number[] };
  const errors: Record<string, number> = {};
  const err = (k: string): void => void (errors[k] = (errors[k] ?? 0) + 1);
  let httpIoRetries = 0;
  let warmupRetries = 0;
  let open = 0;
  const slots: (() => void)[] = [];
  let finishAt = wallNow();
  /** running: the clients in their HTTP stage or waiting to start over (for the deadline); closed: the deadline passed. */
  const running = new Map<number, Running>();
  let closed = false;
  let mine = 0;
  for (let i = a.index; i < a.n; i += a.count) mine++;
  let done = 0;
  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((r) => (allDone = r));
  if (mine === 0) allDone();

  const post = async (target: URL, body: string): Promise<PostOutcome> => {
    for (let attempt = 0; ; attempt++) {
      const r = await postOnce(target, body, a.ip);
      if ('status' in r || NOT_RETRIED.has(r.error) || attempt >= HTTP_RETRIES) return r;
      httpIoRetries++;
    }
  };

  /** httpHalf runs client i's sequence after its DHCP exchange; it returns the error kind, or undefined on success. */
  const httpHalf = async (i: number, url: string, run: Running): Promise<string | undefined> => {
    const mac = macOf(i);
    const hw = [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const v: HostValues = { env: {}, homeLocation: '/home/u', homeName: '.jitsi', uuid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, osname: 'Linux', arch: 'amd64', resx: '1920', resy: '1080', build: '2.10.5550', locale: '', ipaddr: a.ip, hostname: `pc${i}`, hwaddr: hw };
    const plan = planPost(substitute(url, v), `u${i}@example.com`, `pw-${i}`);
    const tw = performance.now();
    while (open >= a.maxConnections) await new Promise<void>((r) => slots.push(r));
    open++;
    run.phase = 'http';
    run.stageAt = performance.now();
    samples.slotWait.push(run.stageAt - tw);
    let r: PostOutcome;
    try {
      r = await post(new URL(plan.target), formBody(plan.params));
    } finally {
      open--;
      slots.shift()?.();
    }
    if (closed) return 'deadline';
    const httpFailed = (kind: string): string => {
      stages.http.failed.push(performance.now() - run.stageAt);
      return kind;
    };
    if ('error' in r) return httpFailed(`http-${r.error}`);
    if (r.status !== 200) return httpFailed(`http-${r.status}`);
    const t2 = performance.now();
    const p = parseProperties(r.body);
    if (!p.ok || applyPrefixes(p.entries).properties === 0) return httpFailed('parse');
    const verdict = checkEntries(p.entries, `u${i}`);
    samples.parse.push(performance.now() - t2);
    if (verdict !== 'ok') return httpFailed(verdict);
    stages.http.ok.push(performance.now() - run.stageAt);
    return undefined;
  };

  const end = (i: number): void => {
    running.delete(i);
    finishAt = Math.max(finishAt, wallNow());
    if (++done === mine) allDone();
  };

  /** onDhcp continues client i after its DHCP exchange (round: the warm-up's attempt). */
  const onDhcp = async (m: Extract<FromDhcp, { t: 'dhcp' }>): Promise<void> => {
    if (closed) return;
    const now = performance.now();
    let run = running.get(m.i);
    if (run === undefined) {
      run = { phase: 'dhcp', stageAt: now - m.ms, clientAt: now - m.ms };
      running.set(m.i, run);
    }
    let e: string | undefined;
    if (m.url === undefined) {
      stages.dhcp.failed.push(m.ms);
      e = 'dhcp-timeout';
    } else {
      stages.dhcp.ok.push(m.ms);
      e = await httpHalf(m.i, m.url, run);
    }
    if (closed) return;
    if (e === undefined) {
      stages.client.ok.push(performance.now() - run.clientAt);
      return end(m.i);
    }
    if (!a.warmup || m.round >= 9) {
      stages.client.failed.push(performance.now() - run.clientAt);
      err(e);
      return end(m.i);
    }
    // The warm-up (preparation, not measured): a failed client starts over, up to 10 times.
    warmupRetries++;
    run.phase = 'dhcp';
    await new Promise((r) => setTimeout(r, 250));
    if (closed) return;
    run.stageAt = performance.now();
    dhcpWorker.postMessage({ t: 'again', i: m.i, round: m.round + 1 } satisfies ToDhcp);
  };

  let stopped: (m: Extract<FromDhcp, { t: 'stopped' }>) => void = () => undefined;
  const stoppedP = new Promise<Extract<FromDhcp, { t: 'stopped' }>>((r) => (stopped = r));
  dhcpWorker.on('message', (m: FromDhcp) => {
    if (m.t === 'stopped') return stopped(m);
    void onDhcp(m);
  });
  const workerFailed = new Promise<never>((_, reject) => dhcpWorker.on('error', reject));

  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => (deadlineTimer = setTimeout(r, Math.max(0, a.deadlineAt - wallNow()))));
  await Promise.race([finished, deadline, workerFailed]);
  clearTimeout(deadlineTimer);
  closed = true;
  dhcpWorker.postMessage({ t: 'stop' } satisfies ToDhcp);
  const s = await Promise.race([stoppedP, workerFailed]);
  // Deadline: every client still running fails in its stage, counted like any failure.
  const now = performance.now();
  for (const ms of s.running) {
    stages.dhcp.failed.push(ms);
    stages.client.failed.push(ms);
    err('deadline');
  }
  for (const run of running.values()) {
    if (run.phase === 'dhcp') continue; // waiting to start over: the DHCP thread reported it above, or it had not been sent again
    stages.http.failed.push(now - run.stageAt);
    stages.client.failed.push(now - run.clientAt);
    err('deadline');
  }
  for (let k = 0; k < s.notStarted; k++) {
    stages.client.failed.push(0);
    err('deadline-not-started');
  }
  if (s.running.length > 0 || running.size > 0) finishAt = wallNow();
  await dhcpWorker.terminate();
  const trace: Trace = { ...s.trace, httpIoRetries, warmupRetries };
  const cpu = process.cpuUsage();
  // A copy: a late answer after the deadline must not change what is reported.
  return JSON.parse(
    JSON.stringify({ index: a.index, ok: stages.client.ok.length, errors, stages, samples, trace, finishAt, cpuS: Math.round((cpu.user + cpu.system) / 1e4) / 100 }),
  ) as GeneratorResult;
}

if (!isMainThread && parentPort !== null) {
  const d = workerData as { args: GeneratorArgs; salt: number };
  void dhcpThread(d.args, d.salt, parentPort);
}

if (require.main === module && isMainThread) {
  const args = JSON.parse(process.argv[2] ?? '{}') as GeneratorArgs;
  runGenerator(args).then(
    (r) => {
      // Sockets of clients cut off by the deadline may still be open: exit rather than wait for
      // them, once the line is written (a pipe write of megabytes may not complete at once).
      process.stdout.write(`RESULT ${JSON.stringify(r)}\n`, () => process.exit(0));
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
