/**
 * twoclient.ts (bench/storm): the load generator of the two-node bench (twonode.ts). It runs in
 * the client namespace and plays clients i ≡ index (mod count): client i starts at
 * startAt + rampMs·i/n, binds its own source address (srcOf(i): the namespace routes a whole
 * /16 to itself, so every client is its own host to the load balancer, the bans and the rate
 * limits) and sends the Jitsi client's form POST (user u<i>, password pw-<i>) on a connection of
 * its own with the client's 10 s timeout, no retry on any status, and checks the document is
 * its own user's (summary.ts). At most maxConnections are open at once (a bounded queue waits
 * for a place, and its wait counts in the client's time). It prints one `RESULT {json}` line.
 */
import http from 'node:http';
import { checkDocument } from './summary';

/** TwoClientArgs is what twonode.ts passes on the command line (as JSON). */
export interface TwoClientArgs {
  readonly n: number;
  readonly index: number;
  readonly count: number;
  /** url: where the POSTs go (the load balancer, or the single node). */
  readonly url: string;
  readonly startAt: number;
  readonly rampMs: number;
  /** deadlineAt: clients not finished then fail with `deadline`. */
  readonly deadlineAt: number;
  readonly maxConnections: number;
  /** warmup: a failed client starts over (up to 10 times), so that every login gets verified once. */
  readonly warmup?: boolean;
}

/** OneShot is `--one`: a single POST from `src` (the bench's ban demonstration); it prints `STATUS <code|error>`. */
export interface OneShot {
  readonly url: string;
  readonly body: string;
  readonly src: string;
}

/** TwoClientResult is one generator's report: times (ms) of the clients served and failed, errors by kind. */
export interface TwoClientResult {
  readonly ok: number[];
  readonly failed: number[];
  readonly errors: Record<string, number>;
  readonly finishAt: number;
}

/** HTTP_TIMEOUT_MS is the Jitsi client's read timeout. */
export const TWO_HTTP_TIMEOUT_MS = 10_000;

/** srcOf is client i's source address: 10.239.(1 + ⌊i/250⌋).(1 + i mod 250), up to 62 500 clients. */
export function srcOf(i: number): string {
  return `10.239.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** formOf is client i's form body. */
export function formOf(i: number, password = `pw-${i}`, user = `u${i}`): string {
  return `username=${user}%40example.com&password=${encodeURIComponent(password)}&uuid=00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}&os=Linux`;
}

type Outcome = { readonly status: number; readonly body: Buffer } | { readonly error: string };

/** postForm sends one form POST from `localAddress` on a connection of its own. */
export function postForm(url: string, body: string, localAddress: string): Promise<Outcome> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const payload = Buffer.from(body, 'utf8');
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent: false,
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
    req.setTimeout(TWO_HTTP_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(payload);
  });
}

async function run(a: TwoClientArgs): Promise<TwoClientResult> {
  const ok: number[] = [];
  const failed: number[] = [];
  const errors: Record<string, number> = {};
  const err = (k: string): void => void (errors[k] = (errors[k] ?? 0) + 1);
  let open = 0;
  const waiting: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    while (open >= a.maxConnections) await new Promise<void>((r) => waiting.push(r));
    open++;
  };
  const free = (): void => {
    open--;
    waiting.shift()?.();
  };
  const clients: Promise<void>[] = [];
  for (let i = a.index; i < a.n; i += a.count) {
    const at = a.startAt + (a.rampMs * i) / a.n;
    clients.push(
      new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, at - Date.now()))).then(async () => {
        const t0 = performance.now();
        let r: Outcome = { error: 'not-run' };
        for (let attempt = 0; attempt < (a.warmup === true ? 10 : 1); attempt++) {
          await slot();
          r = await Promise.race([
            postForm(a.url, formOf(i), srcOf(i)),
            new Promise<{ error: string }>((resolve) => setTimeout(() => resolve({ error: 'deadline' }), Math.max(0, a.deadlineAt - Date.now())).unref()),
          ]);
          free();
          if (('status' in r && r.status === 200) || Date.now() >= a.deadlineAt) break;
        }
        const ms = performance.now() - t0;
        if ('error' in r) {
          err(r.error);
          failed.push(ms);
        } else if (r.status !== 200) {
          err(`http-${r.status}`);
          failed.push(ms);
        } else {
          const v = checkDocument(r.body, `u${i}`);
          if (v === 'ok') ok.push(ms);
          else {
            err(v);
            failed.push(ms);
          }
        }
      }),
    );
  }
  await Promise.all(clients);
  return { ok, failed, errors, finishAt: Date.now() };
}

if (require.main === module && process.argv[2] === '--one') {
  const one = JSON.parse(process.argv[3] ?? '{}') as OneShot;
  void postForm(one.url, one.body, one.src).then((r) => process.stdout.write(`STATUS ${'status' in r ? r.status : r.error}\n`, () => process.exit(0)));
} else if (require.main === module) {
  const a = JSON.parse(process.argv[2] ?? '{}') as TwoClientArgs;
  run(a).then(
    (r) => {
      // Exit once the line is written (a pipe write of megabytes may not complete at once).
      process.stdout.write(`RESULT ${JSON.stringify(r)}\n`, () => process.exit(0));
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
