/**
 * storm.ts (bench/phones): the boot storm client. N emulated phones fetch their boot sequence
 * (manifest.json, written by setup.ts) from one server, at most C phones at once.
 *
 *   node dist/bench/phones/storm.js --manifest FILE --url http://127.0.0.1:PORT [--label NAME]
 *        [--concurrency 200] [--phones N] [--conn phone|request] [--timeout 300] [--request-timeout 10]
 *        [--one-source]
 *
 * Each phone is a host of its own: it connects from its own loopback address (the manifest's
 * `src`, 127.10.x.y; `--one-source` uses 127.0.0.1 for all) with its vendor's User-Agent, over
 * its own connection (`--conn phone`, the default: one keep-alive connection for the phone's
 * whole sequence, closed when it is done; `--conn request`: a new connection per file), and
 * asks its files in order, `GET /<key>/<file>`. Every answer is validated: the status the
 * manifest expects (200, or 404 for the probes every vendor makes), the body's sha256 equal to
 * the one provisiond rendered at setup, and the per-device file carrying the phone's own SIP
 * username on line 1 (lab.ts userOfBody) and its password. Anything else is an error, counted
 * by kind with the file; a phone with an error is a failed phone. Bounded: at most MAX_PHONES
 * phones, 5000 at once, a global timeout (default 300 s) after which every open request is
 * aborted and the phones not done count as `global-timeout`.
 *
 * Prints one line `RESULT {json}` on stdout (completion time, req/s, per-request and per-phone
 * p50/p99, errors by kind with up to 20 examples, the client's CPU) and a summary on stderr.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { MAX_PHONES, userOfBody, type Manifest, type ManifestPhone } from './lab';

/** StormOptions are the command line's. */
export interface StormOptions {
  readonly url: string;
  readonly label: string;
  readonly concurrency: number;
  readonly phones: number;
  readonly conn: 'phone' | 'request';
  readonly timeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly oneSource: boolean;
}

/** Got is one answer as the client saw it. */
export interface Got {
  readonly status: number;
  readonly body: Buffer;
}

/**
 * checkAnswer validates one answer against the manifest; undefined when right, else the error
 * kind (`status-<got>`, `body-differs`, `wrong-user`, `no-password`).
 */
export function checkAnswer(p: Pick<ManifestPhone, 'vendor' | 'sipUsername' | 'sipPassword' | 'deviceFile'>, req: readonly [string, number, string], got: Got): string | undefined {
  const [file, status, sha] = req;
  if (got.status !== status) return `status-${got.status}`;
  if (status !== 200) return undefined;
  if (file === p.deviceFile) {
    const text = got.body.toString('utf8');
    if (userOfBody(p.vendor, text) !== p.sipUsername) return 'wrong-user';
    if (!text.includes(p.sipPassword)) return 'no-password';
  }
  const h = got.body.length === 0 ? '' : createHash('sha256').update(got.body).digest('hex');
  return h === sha ? undefined : 'body-differs';
}

/** pct is the p-th percentile (nearest rank) of sorted values, rounded to 0.01 ms. */
export function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
  return Math.round(v * 100) / 100;
}

/** StormResult is the RESULT line. */
export interface StormResult {
  readonly label: string;
  readonly url: string;
  readonly phones: number;
  readonly concurrency: number;
  readonly conn: string;
  readonly oneSource: boolean;
  readonly phonesOk: number;
  readonly phonesFailed: number;
  readonly requests: number;
  readonly requestsOk: number;
  readonly completionMs: number;
  readonly reqPerSec: number;
  readonly reqP50Ms: number;
  readonly reqP99Ms: number;
  readonly reqMaxMs: number;
  readonly phoneP50Ms: number;
  readonly phoneP99Ms: number;
  /** firstP50Ms/firstP99Ms: a phone's first request (its connection opened by it); laterP*: the others. */
  readonly firstP50Ms: number;
  readonly firstP99Ms: number;
  readonly laterP50Ms: number;
  readonly laterP99Ms: number;
  /** byVendorP99Ms: the per-request p99 of each vendor's requests. */
  readonly byVendorP99Ms: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<string, number>>;
  readonly examples: readonly string[];
  readonly clientCpuMs: number;
  readonly timedOut: boolean;
}

/** MAX_HEAD and MAX_BODY bound one response (a phone file is a few kB). */
const MAX_HEAD = 16 << 10;
const MAX_BODY = 1 << 20;

/** Parsed is parseResponse's answer: a whole response and the bytes after it, or `more` (incomplete). */
export type Parsed = { readonly got: Got; readonly close: boolean; readonly rest: Buffer } | 'more';

/**
 * parseResponse reads one HTTP/1.1 response from the start of `buf` (a minimal client: status
 * line, `content-length` or `transfer-encoding: chunked`, `connection: close`; a response with
 * neither length runs to the end of the connection, `ended`). Throws on malformed or oversized
 * input; `more` when the buffer holds only part of it.
 */
export function parseResponse(buf: Buffer, ended = false): Parsed {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (buf.length > MAX_HEAD) throw new Error('bad-response');
    if (ended) throw new Error('io-closed');
    return 'more';
  }
  const head = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (m === null) throw new Error('bad-response');
  const status = Number(m[1]);
  let length: number | undefined;
  let chunked = false;
  let close = (head[0] ?? '').startsWith('HTTP/1.0');
  for (const h of head.slice(1)) {
    const i = h.indexOf(':');
    const name = h.slice(0, i).trim().toLowerCase();
    const value = h.slice(i + 1).trim().toLowerCase();
    if (name === 'content-length') length = Number(value);
    else if (name === 'transfer-encoding') chunked = value.includes('chunked');
    else if (name === 'connection') close = value.includes('close') ? true : value.includes('keep-alive') ? false : close;
  }
  const start = headEnd + 4;
  if (status === 304 || status === 204 || (status >= 100 && status < 200)) return { got: { status, body: Buffer.alloc(0) }, close, rest: buf.subarray(start) };
  if (chunked) {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return ended ? fail('io-closed') : 'more';
      const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isFinite(size) || size < 0 || size > MAX_BODY) throw new Error('bad-response');
      if (buf.length < eol + 2 + size + 2) return ended ? fail('io-closed') : 'more';
      if (size === 0) return { got: { status, body: Buffer.concat(parts) }, close, rest: buf.subarray(eol + 4) };
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  if (length !== undefined) {
    if (!Number.isInteger(length) || length < 0 || length > MAX_BODY) throw new Error('bad-response');
    if (buf.length < start + length) return ended ? fail('io-closed') : 'more';
    return { got: { status, body: buf.subarray(start, start + length) }, close, rest: buf.subarray(start + length) };
  }
  if (!ended) return buf.length - start > MAX_BODY ? fail('bad-response') : 'more';
  return { got: { status, body: buf.subarray(start) }, close: true, rest: Buffer.alloc(0) };
}

function fail(kind: string): never {
  throw new Error(kind);
}

/**
 * Conn is one phone's HTTP connection: requests one at a time; a new socket when the server
 * closed the previous one between two requests (as a phone reconnects), never a retry of a
 * request that was sent.
 */
export class Conn {
  private socket: net.Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: { resolve: (g: Got) => void; reject: (e: Error) => void } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly localAddress: string | undefined,
    private readonly keepAlive: boolean,
    private readonly timeoutMs: number,
  ) {}

  get(path: string, headers: string): Promise<Got> {
    if (this.socket === undefined || this.ended || this.socket.destroyed) this.open();
    const s = this.socket as net.Socket;
    this.buf = Buffer.alloc(0);
    return new Promise<Got>((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.timer = setTimeout(() => this.fail(new Error('request-timeout')), this.timeoutMs);
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n${headers}${this.keepAlive ? '' : 'Connection: close\r\n'}\r\n`);
    });
  }

  /** destroy closes the connection (an open request fails with `kind`). */
  destroy(kind = 'aborted'): void {
    this.fail(new Error(kind));
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): void {
    this.socket?.destroy();
    this.ended = false;
    const s = net.connect({ host: this.host, port: this.port, ...(this.localAddress !== undefined ? { localAddress: this.localAddress } : {}) });
    s.setNoDelay(true);
    // events of a socket this connection has already replaced are ignored
    s.on('data', (d: Buffer) => {
      if (this.socket !== s) return;
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    s.on('end', () => {
      if (this.socket !== s) return;
      this.ended = true;
      this.parse();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (this.socket === s) this.fail(new Error(e.code !== undefined ? `io-${e.code}` : e.message));
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.ended = true;
      if (this.waiter !== undefined) this.parse();
    });
    this.socket = s;
  }

  private parse(): void {
    if (this.waiter === undefined) return;
    let r: Parsed;
    try {
      r = parseResponse(this.buf, this.ended);
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if (r === 'more') return;
    const w = this.waiter;
    this.waiter = undefined;
    clearTimeout(this.timer);
    if (r.close || !this.keepAlive) {
      this.socket?.destroy();
      this.socket = undefined;
    }
    w.resolve({ status: r.got.status, body: Buffer.from(r.got.body) });
  }

  private fail(e: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    clearTimeout(this.timer);
    if (w !== undefined) {
      this.socket?.destroy();
      this.socket = undefined;
      w.reject(e);
    }
  }
}

/** runStorm plays the storm; see the file comment. */
export async function runStorm(m: Manifest, o: StormOptions): Promise<StormResult> {
  const base = new URL(o.url);
  const phones = m.phones.slice(0, Math.min(o.phones, MAX_PHONES));
  const reqMs: number[] = [];
  const firstMs: number[] = [];
  const laterMs: number[] = [];
  const vendorMs = new Map<string, number[]>();
  const phoneMs: number[] = [];
  const errors: Record<string, number> = {};
  const examples: string[] = [];
  const conns = new Set<Conn>();
  let requests = 0;
  let requestsOk = 0;
  let phonesOk = 0;
  let next = 0;
  let timedOut = false;
  const err = (kind: string, what: string): void => {
    errors[kind] = (errors[kind] ?? 0) + 1;
    if (examples.length < 20) examples.push(`${kind}: ${what}`);
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = setTimeout(() => {
    timedOut = true;
    for (const c of conns) c.destroy('global-timeout');
  }, o.timeoutMs);

  const playPhone = async (p: ManifestPhone): Promise<void> => {
    const start = performance.now();
    const conn = new Conn(base.hostname, Number(base.port || 80), o.oneSource ? undefined : p.src, o.conn === 'phone', o.requestTimeoutMs);
    const headers = `User-Agent: ${p.ua}\r\nAccept: */*\r\n`;
    conns.add(conn);
    let ok = true;
    try {
      for (const r of p.reqs) {
        if (timedOut) {
          ok = false;
          break;
        }
        const [file, status] = r;
        const s = performance.now();
        requests++;
        try {
          const got = await conn.get(`/${m.key}/${file}`, headers);
          const ms = performance.now() - s;
          reqMs.push(ms);
          (r === p.reqs[0] ? firstMs : laterMs).push(ms);
          const vm = vendorMs.get(p.vendor) ?? [];
          vm.push(ms);
          vendorMs.set(p.vendor, vm);
          const bad = checkAnswer(p, r, got);
          if (bad === undefined) requestsOk++;
          else {
            ok = false;
            err(bad, `${p.vendor} ${file} (expected ${status}, got ${got.status}, ${got.body.length} bytes)`);
          }
        } catch (e) {
          ok = false;
          err(timedOut ? 'global-timeout' : e instanceof Error ? e.message : String(e), `${p.vendor} ${file}`);
        }
      }
    } finally {
      conn.destroy();
      conns.delete(conn);
    }
    phoneMs.push(performance.now() - start);
    if (ok) phonesOk++;
  };

  const worker = async (): Promise<void> => {
    while (!timedOut && next < phones.length) {
      const p = phones[next++];
      if (p !== undefined) await playPhone(p);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, 5000, phones.length)) }, () => worker()));
  clearTimeout(deadline);
  const completionMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const notStarted = phones.length - next;
  if (notStarted > 0) errors['global-timeout'] = (errors['global-timeout'] ?? 0) + notStarted;
  for (const xs of [reqMs, phoneMs, firstMs, laterMs, ...vendorMs.values()]) xs.sort((a, b) => a - b);
  return {
    label: o.label,
    url: o.url,
    phones: phones.length,
    concurrency: o.concurrency,
    conn: o.conn,
    oneSource: o.oneSource,
    phonesOk,
    phonesFailed: phones.length - phonesOk,
    requests,
    requestsOk,
    completionMs: Math.round(completionMs),
    reqPerSec: Math.round((requests / completionMs) * 1000),
    reqP50Ms: pct(reqMs, 50),
    reqP99Ms: pct(reqMs, 99),
    reqMaxMs: pct(reqMs, 100),
    phoneP50Ms: pct(phoneMs, 50),
    phoneP99Ms: pct(phoneMs, 99),
    firstP50Ms: pct(firstMs, 50),
    firstP99Ms: pct(firstMs, 99),
    laterP50Ms: pct(laterMs, 50),
    laterP99Ms: pct(laterMs, 99),
    byVendorP99Ms: Object.fromEntries([...vendorMs].map(([v, xs]) => [v, pct(xs, 99)])),
    errors,
    examples,
    clientCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    timedOut,
  };
}

/** parseArgs reads `--name value` flags (and bare `--one-source`); bounds every number. */
export function parseArgs(argv: readonly string[]): StormOptions & { readonly manifest: string } {
  const v = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--one-source') v.set('one-source', '1');
    else if (a.startsWith('--') && i + 1 < argv.length) v.set(a.slice(2), argv[++i] ?? '');
    else throw new Error(`unexpected argument ${a}`);
  }
  const num = (k: string, d: number, lo: number, hi: number): number => {
    const x = Number(v.get(k) ?? d);
    if (!Number.isFinite(x) || x < lo || x > hi) throw new Error(`--${k} must be ${lo}..${hi}`);
    return x;
  };
  const manifest = v.get('manifest');
  const url = v.get('url');
  if (manifest === undefined || url === undefined) throw new Error('--manifest and --url are required');
  const conn = v.get('conn') ?? 'phone';
  if (conn !== 'phone' && conn !== 'request') throw new Error('--conn is phone or request');
  return {
    manifest,
    url,
    label: v.get('label') ?? url,
    concurrency: num('concurrency', 200, 1, 5000),
    phones: num('phones', MAX_PHONES, 1, MAX_PHONES),
    conn,
    timeoutMs: num('timeout', 300, 1, 600) * 1000,
    requestTimeoutMs: num('request-timeout', 10, 1, 60) * 1000,
    oneSource: v.has('one-source'),
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const m = JSON.parse(readFileSync(o.manifest, 'utf8')) as Manifest;
  const r = await runStorm(m, o);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  const errs = Object.entries(r.errors).map(([k, c]) => `${k} ×${c}`);
  process.stderr.write(
    `${r.label}: ${r.phonesOk}/${r.phones} phones ok in ${(r.completionMs / 1000).toFixed(2)} s, ${r.requests} requests (${r.reqPerSec} req/s), ` +
      `request p50 ${r.reqP50Ms} ms p99 ${r.reqP99Ms} ms (first of a phone ${r.firstP50Ms}/${r.firstP99Ms}, later ${r.laterP50Ms}/${r.laterP99Ms}), phone p50 ${r.phoneP50Ms} ms p99 ${r.phoneP99Ms} ms, client CPU ${(r.clientCpuMs / 1000).toFixed(1)} s` +
      `${errs.length > 0 ? `, ERRORS ${errs.join(', ')}` : ', 0 errors'}\n`,
  );
  for (const e of r.examples) process.stderr.write(`  ${e}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`storm: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
