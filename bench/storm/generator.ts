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
 *  - parsing the document as Java Properties and applying the ALLOW/ENFORCE prefixes.
 *
 * Client i starts at startAt + rampMs·i/n (wall clock, shared by all generators). The process
 * prints one `RESULT {json}` line: the per-stage samples, the errors by kind and a trace of every
 * datagram sent and received, so that a lost exchange can be placed.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { buildInform, readReply, ipv4ToU32, retransmitGaps } from '../../src/probe/inform';
import { substitute, planPost, formBody, type HostValues } from '../../src/probe/request';
import { parseProperties, applyPrefixes } from '../../src/probe/properties';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DHCP_TIMEOUT_MS } from '../../src/probe/net';

/** GeneratorArgs is what the orchestrator passes on the command line (as JSON). */
export interface GeneratorArgs {
  readonly n: number;
  readonly index: number;
  readonly count: number;
  readonly ip: string;
  /** startAt is the wall-clock time (ms since the epoch) client 0 starts. */
  readonly startAt: number;
  readonly rampMs: number;
  /** maxConnections bounds this process's open POST connections (file descriptors). */
  readonly maxConnections: number;
  /** warmup: a failed client starts over (up to 10 times), so that every credential gets cached. */
  readonly warmup: boolean;
}

/** Trace counts what crossed this generator's socket and connections. */
export interface Trace {
  informsSent: number;
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
  /** slotWait is the time a client waited for one of this process's maxConnections slots. */
  readonly samples: { dhcp: number[]; slotWait: number[]; http: number[]; parse: number[]; total: number[] };
  readonly trace: Trace;
  /** finishAt is the wall-clock time the last of this process's clients finished. */
  readonly finishAt: number;
  /** cpuS is this generator's own CPU time (user + system), to show when the load side saturates. */
  readonly cpuS: number;
}

const HTTP_TIMEOUT_MS = 10_000;
const HTTP_RETRIES = 3;
const NOT_RETRIED = new Set(['ETIMEDOUT', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** wallNow is the wall clock in ms with sub-ms resolution (comparable across processes). */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

type PostOutcome = { readonly status: number; readonly body: Buffer } | { readonly error: string };

/** postOnce sends one form POST on a connection of its own (the storm's clients are separate hosts). */
function postOnce(target: URL, body: string): Promise<PostOutcome> {
  return new Promise((resolve) => {
    const payload = Buffer.from(body, 'utf8');
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: 'POST',
        agent: false,
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

/** runGenerator plays this process's share of the storm and returns its result. */
export async function runGenerator(a: GeneratorArgs): Promise<GeneratorResult> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const trace: Trace = { informsSent: 0, informSendErrors: 0, datagramsReceived: 0, acksMatched: 0, acksLate: 0, malformed: 0, httpIoRetries: 0, warmupRetries: 0, boundLateMs: 0 };
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
  await new Promise<void>((res) => sock.bind(DHCP_CLIENT_PORT, a.ip, () => res()));
  sock.setBroadcast(true);
  trace.boundLateMs = Math.max(0, Math.round(wallNow() - a.startAt));

  const ciaddr = ipv4ToU32(a.ip);
  const salt = Math.floor(Math.random() * 0x7fffffff);
  const samples = { dhcp: [] as number[], slotWait: [] as number[], http: [] as number[], parse: [] as number[], total: [] as number[] };
  const errors: Record<string, number> = {};
  const err = (k: string): void => void (errors[k] = (errors[k] ?? 0) + 1);
  const onSent = (e: Error | null): void => {
    if (e) trace.informSendErrors++;
  };
  let open = 0;
  const slots: (() => void)[] = [];
  let finishAt = wallNow();

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
      const send = (): void => {
        trace.informsSent++;
        sock.send(packet, DHCP_SERVER_PORT, '255.255.255.255', onSent);
      };
      waiting.set(xid, finish);
      send();
      timers.push(setTimeout(send, gaps[0]), setTimeout(send, gaps[0] + gaps[1]), setTimeout(() => finish(undefined), DHCP_TIMEOUT_MS));
    });

  const post = async (target: URL, body: string): Promise<PostOutcome> => {
    for (let attempt = 0; ; attempt++) {
      const r = await postOnce(target, body);
      if ('status' in r || NOT_RETRIED.has(r.error) || attempt >= HTTP_RETRIES) return r;
      trace.httpIoRetries++;
    }
  };

  /** attempt runs client i's whole sequence once; it returns the error kind, or undefined on success. */
  const attempt = async (i: number, round: number): Promise<string | undefined> => {
    const xid = (salt + i * 7919 + round * 104729) >>> 0; // fresh per pass: a repeated xid is a retransmission to the server
    const mac = Buffer.from([0x02, 0x00, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x01]);
    const t0 = performance.now();
    const url = await dhcp(xid, mac);
    if (url === undefined) return 'dhcp-timeout';
    samples.dhcp.push(performance.now() - t0);
    const hw = [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const v: HostValues = { env: {}, homeLocation: '/home/u', homeName: '.jitsi', uuid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, osname: 'Linux', arch: 'amd64', resx: '1920', resy: '1080', build: '2.10.5550', locale: '', ipaddr: a.ip, hostname: `pc${i}`, hwaddr: hw };
    const plan = planPost(substitute(url, v), `u${i}@example.com`, `pw-${i}`);
    const tw = performance.now();
    while (open >= a.maxConnections) await new Promise<void>((r) => slots.push(r));
    open++;
    const t1 = performance.now();
    samples.slotWait.push(t1 - tw);
    let r: PostOutcome;
    try {
      r = await post(new URL(plan.target), formBody(plan.params));
    } finally {
      open--;
      slots.shift()?.();
    }
    if ('error' in r) return `http-${r.error}`;
    if (r.status !== 200) return `http-${r.status}`;
    samples.http.push(performance.now() - t1);
    const t2 = performance.now();
    const p = parseProperties(r.body);
    if (!p.ok || applyPrefixes(p.entries).properties === 0) return 'parse';
    const end = performance.now();
    samples.parse.push(end - t2);
    samples.total.push(end - t0);
    return undefined;
  };

  /** one is client i. In the warm-up (preparation, not measured) a failed client starts over, up to 10 times. */
  const one = async (i: number): Promise<void> => {
    for (let round = 0; ; round++) {
      const e = await attempt(i, round);
      if (e === undefined) return;
      if (!a.warmup || round >= 9) return err(e);
      trace.warmupRetries++;
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  const all: Promise<void>[] = [];
  for (let i = a.index; i < a.n; i += a.count) {
    const at = a.startAt + (a.n <= 1 ? 0 : (a.rampMs * i) / a.n);
    all.push(
      new Promise<void>((r) => setTimeout(r, Math.max(0, at - wallNow())))
        .then(() => one(i))
        .finally(() => void (finishAt = Math.max(finishAt, wallNow()))),
    );
  }
  await Promise.all(all);
  sock.close();
  const cpu = process.cpuUsage();
  return { index: a.index, ok: samples.total.length, errors, samples, trace, finishAt, cpuS: Math.round((cpu.user + cpu.system) / 1e4) / 100 };
}

if (require.main === module) {
  const args = JSON.parse(process.argv[2] ?? '{}') as GeneratorArgs;
  runGenerator(args).then(
    (r) => process.stdout.write(`RESULT ${JSON.stringify(r)}\n`),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
