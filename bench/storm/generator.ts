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
 * The process prints one `RESULT {json}` line: the per-stage samples, the errors by kind and a
 * trace of every datagram sent and received, so that a lost exchange can be placed.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { buildInform, readReply, ipv4ToU32, retransmitGaps } from '../../src/probe/inform';
import { substitute, planPost, formBody, type HostValues } from '../../src/probe/request';
import { parseProperties, applyPrefixes } from '../../src/probe/properties';
import { DHCP_TIMEOUT_MS } from '../../src/probe/net';
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

/** runGenerator plays this process's share of the storm and returns its result. */
export async function runGenerator(a: GeneratorArgs): Promise<GeneratorResult> {
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
  const salt = Math.floor(Math.random() * 0x7fffffff);
  const stages = { dhcp: emptyStage(), http: emptyStage(), client: emptyStage() };
  const samples = { slotWait: [] as number[], parse: [] as number[] };
  const errors: Record<string, number> = {};
  const err = (k: string): void => void (errors[k] = (errors[k] ?? 0) + 1);
  const onSent = (e: Error | null): void => {
    if (e) trace.informSendErrors++;
  };
  let open = 0;
  const slots: (() => void)[] = [];
  let finishAt = wallNow();
  /** running: the clients under way (for the deadline); closed: the deadline passed, nothing more is recorded. */
  const running = new Map<number, Running>();
  let closed = false;

  const dhcp = (xid: number, mac: Buffer): Promise<string | undefined> =>
    new Promise((resolve) => {
      const packet = buildInform(xid, ciaddr, mac);
      const gaps = retransmitGaps();
      const timers: NodeJS.Timeout[] = [];
      const finish = (url: string | undefined): void => {
        for (const t of timers) clearTimeout(t);
        waiting.delete(xid);
        resolve(url);
      };
      const send = (again: boolean): void => {
        trace.informsSent++;
        if (again) trace.informResends++;
        sock.send(packet, a.serverPort, a.server, onSent);
      };
      waiting.set(xid, finish);
      send(false);
      timers.push(
        setTimeout(() => send(true), gaps[0]),
        setTimeout(() => send(true), gaps[0] + gaps[1]),
        setTimeout(() => finish(undefined), DHCP_TIMEOUT_MS),
      );
    });

  const post = async (target: URL, body: string): Promise<PostOutcome> => {
    for (let attempt = 0; ; attempt++) {
      const r = await postOnce(target, body, a.ip);
      if ('status' in r || NOT_RETRIED.has(r.error) || attempt >= HTTP_RETRIES) return r;
      trace.httpIoRetries++;
    }
  };

  /** attempt runs client i's whole sequence once; it returns the error kind, or undefined on success. */
  const attempt = async (i: number, round: number, run: Running): Promise<string | undefined> => {
    const xid = (salt + i * 7919 + round * 104729) >>> 0; // fresh per pass: a repeated xid is a retransmission to the server
    const mac = Buffer.from([0x02, 0x00, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x01]);
    run.phase = 'dhcp';
    run.stageAt = performance.now();
    const url = await dhcp(xid, mac);
    if (closed) return 'deadline';
    if (url === undefined) {
      stages.dhcp.failed.push(performance.now() - run.stageAt);
      return 'dhcp-timeout';
    }
    stages.dhcp.ok.push(performance.now() - run.stageAt);
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

  /** one is client i. In the warm-up (preparation, not measured) a failed client starts over, up to 10 times. */
  const one = async (i: number): Promise<void> => {
    const run: Running = { phase: 'dhcp', stageAt: performance.now(), clientAt: performance.now() };
    running.set(i, run);
    for (let round = 0; ; round++) {
      const e = await attempt(i, round, run);
      if (closed) return;
      if (e === undefined) {
        stages.client.ok.push(performance.now() - run.clientAt);
        break;
      }
      if (!a.warmup || round >= 9) {
        stages.client.failed.push(performance.now() - run.clientAt);
        err(e);
        break;
      }
      trace.warmupRetries++;
      await new Promise((r) => setTimeout(r, 250));
      if (closed) return;
    }
    running.delete(i);
  };

  const all: Promise<void>[] = [];
  const startTimers: NodeJS.Timeout[] = [];
  let mine = 0;
  for (let i = a.index; i < a.n; i += a.count) {
    const at = a.startAt + (a.n <= 1 ? 0 : (a.rampMs * i) / a.n);
    mine++;
    all.push(
      new Promise<void>((r) => startTimers.push(setTimeout(r, Math.max(0, at - wallNow()))))
        .then(() => one(i))
        .finally(() => void (finishAt = Math.max(finishAt, wallNow()))),
    );
  }
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => (deadlineTimer = setTimeout(r, Math.max(0, a.deadlineAt - wallNow()))));
  await Promise.race([Promise.all(all), deadline]);
  clearTimeout(deadlineTimer);
  closed = true;
  for (const t of startTimers) clearTimeout(t);
  // Deadline: every client still running fails in its stage, counted like any failure.
  const now = performance.now();
  for (const run of running.values()) {
    stages[run.phase].failed.push(now - run.stageAt);
    stages.client.failed.push(now - run.clientAt);
    err('deadline');
  }
  const started = stages.client.ok.length + stages.client.failed.length;
  for (let k = started; k < mine; k++) {
    stages.client.failed.push(0);
    err('deadline-not-started');
  }
  if (running.size > 0) finishAt = wallNow();
  sock.close();
  const cpu = process.cpuUsage();
  // A copy: a late answer after the deadline must not change what is reported.
  return JSON.parse(
    JSON.stringify({ index: a.index, ok: stages.client.ok.length, errors, stages, samples, trace, finishAt, cpuS: Math.round((cpu.user + cpu.system) / 1e4) / 100 }),
  ) as GeneratorResult;
}

if (require.main === module) {
  const args = JSON.parse(process.argv[2] ?? '{}') as GeneratorArgs;
  runGenerator(args).then(
    (r) => {
      process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
      // Sockets of clients cut off by the deadline may still be open: exit rather than wait for them.
      process.exit(0);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
