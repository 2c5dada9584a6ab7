/**
 * alloc.ts: what one cached POST /jitsi costs in-process: µs and bytes allocated per request.
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 dist/bench/http/alloc.js [N] [CONNS] [LAYERS]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/http/alloc.js 20000 50 loopback  # where the time goes
 *
 * It writes bench/http/setup.ts's configuration (the users alice, bob, carol; the same rules and
 * directives as bench/http/run.sh), starts the HTTP face on 127.0.0.1:0 in this process, warms
 * the credential cache, then measures three layers with the anchor's body
 * (`username=alice&password=secret1&os=Linux`):
 *   engine    Engine.provision() alone (access, rules, templates, encoder)
 *   inject    fastify's inject(): routing, the body parser, handler, reply (no socket)
 *   loopback  CONNS keep-alive connections on the loopback, one request in flight on each, from a
 *             minimal client in this process (a fixed request Buffer; replies are only counted)
 *   floor     the same client against a bare node:http server in this process answering the
 *             same document bytes and headers: what Node's HTTP and the loopback cost alone
 * Bytes per request are the growth of V8's used heap over a window with no garbage collection
 * (the young generation is made large enough with the flags above; a window that saw a GC says
 * so and is not used). Run it on a quiet box; it is seconds of load, not a throughput bench.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { parseConfigText } from '../../src/config/load';
import { HttpFace } from '../../src/http/server';
import { parseForm } from '../../src/jitsi/form';
import { createLogger } from '../../src/log';
import { openSqliteStore } from '../../src/store/sqlite';

const BODY = 'username=alice&password=secret1&os=Linux';

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const gc = (globalThis as { gc?: () => void }).gc;

interface Sample {
  readonly layer: string;
  readonly n: number;
  readonly usPerReq: number;
  readonly bytesPerReq: number | undefined;
}

/** window runs fn(n) after a full GC and reports µs/request and heap growth/request. */
async function window(layer: string, n: number, fn: (n: number) => Promise<void>): Promise<Sample> {
  gc?.();
  // The observer hears of GCs (ours included) asynchronously: let it catch up before counting.
  await new Promise((r) => setTimeout(r, 20));
  const g0 = gcs;
  const h0 = getHeapStatistics().used_heap_size;
  const t0 = performance.now();
  await fn(n);
  const t1 = performance.now();
  const h1 = getHeapStatistics().used_heap_size;
  await new Promise((r) => setTimeout(r, 20));
  const clean = gcs === g0 && gc !== undefined;
  return { layer, n, usPerReq: ((t1 - t0) * 1000) / n, bytesPerReq: clean ? (h1 - h0) / n : undefined };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 3000);
  const conns = Number(process.argv[3] ?? 50);
  const layers = (process.argv[4] ?? 'engine,inject,loopback,floor').split(',');
  if (!(n > 0 && n <= 1_000_000 && conns > 0 && conns <= 1000)) throw new Error('usage: alloc.js [N <= 1e6] [CONNS <= 1000]');
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-alloc-'));
  try {
    const yamlPath = join(dir, 'bench.yaml');
    execFileSync(process.execPath, [join(__dirname, 'setup.js'), yamlPath, dir, '0', '0', '300', '1']);
    const config = parseConfigText(readFileSync(yamlPath, 'utf8'), yamlPath);
    const store = openSqliteStore(dir);
    const face = new HttpFace({ config, log: createLogger('info', { write: () => undefined }), store });
    await face.start();
    const engine = face.engine;
    const app = face.app;
    const port = face.port;
    if (!engine || !app || port === undefined) throw new Error('face did not start');
    const params = parseForm(BODY);
    if (!params.ok) throw new Error('form');
    const first = await engine.provision({ params: params.params, ip: '127.0.0.1', userAgent: 'wrk', key: undefined });
    if (first.status !== 200) throw new Error(`engine answered ${first.status}: ${first.body}`);

    const engineRun = async (k: number): Promise<void> => {
      for (let i = 0; i < k; i++) {
        const f = parseForm(BODY);
        if (!f.ok) throw new Error('form');
        const r = await engine.provision({ params: f.params, ip: '127.0.0.1', userAgent: 'wrk', key: undefined });
        if (r.status !== 200) throw new Error(`status ${r.status}`);
      }
    };
    const injectRun = async (k: number): Promise<void> => {
      for (let i = 0; i < k; i++) {
        const r = await app.inject({ method: 'POST', url: '/jitsi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: BODY });
        if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
      }
    };
    const request = Buffer.from(`POST /jitsi HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
    const open = (p: number): Promise<Socket[]> =>
      Promise.all(
        Array.from({ length: conns }, () => new Promise<Socket>((res, rej) => {
          const s = connect(p, '127.0.0.1', () => res(s));
          s.once('error', rej);
          s.setNoDelay(true);
        })),
      );
    const doc = first.body;
    const bare = createServer((req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => res.writeHead(200, ['content-type', 'text/plain; charset=ISO-8859-1', 'cache-control', 'no-store', 'content-length', String(doc.length)]).end(doc));
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    const faceSockets = await open(port);
    const bareSockets = await open((bare.address() as AddressInfo).port);
    let sockets = faceSockets;
    // One reply = one `HTTP/1.1 ` status line; the document fits one segment on the loopback, so
    // counting reply chunks that start with it is enough here (checked: every reply is a 200).
    const loopRun = async (k: number): Promise<void> => {
      let sent = 0;
      let done = 0;
      await new Promise<void>((resolve, reject) => {
        for (const s of sockets) {
          s.removeAllListeners('data');
          s.on('data', (chunk: Buffer) => {
            if (chunk[0] !== 0x48) return;
            if (chunk[9] !== 0x32) return reject(new Error(`reply ${chunk.subarray(0, 12).toString('latin1')}`));
            done++;
            if (done === k) resolve();
            else if (sent < k) {
              sent++;
              s.write(request);
            }
          });
        }
        for (const s of sockets) {
          if (sent >= k) break;
          sent++;
          s.write(request);
        }
      });
    };

    const out: Sample[] = [];
    for (const [layer, fn] of [['engine', engineRun], ['inject', injectRun], ['loopback', loopRun], ['floor', loopRun]] as const) {
      if (!layers.includes(layer)) continue;
      sockets = layer === 'floor' ? bareSockets : faceSockets;
      await fn(Math.min(n, 2000)); // warm-up (JIT)
      out.push(await window(layer, n, fn));
    }
    for (const s of [...faceSockets, ...bareSockets]) s.destroy();
    bare.close();
    await face.close();
    store.close();
    process.stdout.write(`node ${process.version}, N=${n}, ${conns} connections (loopback), body ${JSON.stringify(BODY)}, document ${first.body.length} bytes\n`);
    process.stdout.write('| layer | µs/request | bytes allocated/request |\n|---|---|---|\n');
    for (const s of out) {
      const bytes = s.bytesPerReq === undefined ? (gc === undefined ? 'n/a (run with --expose-gc)' : 'n/a (a GC ran; raise --min-semi-space-size or lower N)') : String(Math.round(s.bytesPerReq));
      process.stdout.write(`| ${s.layer} | ${s.usPerReq.toFixed(1)} | ${bytes} |\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
