/**
 * load.ts: a bounded TFTP load client for bench/tftp/run.sh (the same client for both servers).
 *
 *   node dist/bench/tftp/load.js --host H --port P --dir DIR --files a,b,c | --list FILE
 *        [--concurrency C] [--seconds S] [--count N] [--sources N] [--blksize B] [--windowsize W]
 *
 * C workers, each running one transfer at a time (a RRQ from a socket of its own, from source
 * address 127.1.<n>.<m>: --sources addresses in turn, so per-source limits see many clients),
 * for S seconds or N transfers in all, whichever ends first. Every body is compared byte for
 * byte with DIR/<file> (a mismatch is an error). A transfer with no packet for 1 s resends its
 * last packet, at most 5 times, then counts as a timeout. Prints one JSON line: transfers,
 * errors, timeouts, bytes, seconds, transfers/s, MB/s, p50/p99/max ms.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encodeAck, encodeRequest, type TftpOption } from '../../src/tftp/codec';

interface Args {
  host: string;
  port: number;
  dir: string;
  files: string[];
  concurrency: number;
  seconds: number;
  count: number;
  sources: number;
  blksize: number | undefined;
  windowsize: number | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { host: '127.0.0.1', port: 69, dir: '.', files: [], concurrency: 16, seconds: 10, count: Number.MAX_SAFE_INTEGER, sources: 64, blksize: undefined, windowsize: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1] ?? '';
    switch (k) {
      case '--host': a.host = v; break;
      case '--port': a.port = Number(v); break;
      case '--dir': a.dir = v; break;
      case '--files': a.files = v.split(','); break;
      case '--list': a.files = readFileSync(v, 'utf8').split('\n').filter((l) => l.length > 0); break;
      case '--concurrency': a.concurrency = Math.min(1000, Number(v)); break;
      case '--seconds': a.seconds = Math.min(60, Number(v)); break;
      case '--count': a.count = Number(v); break;
      case '--sources': a.sources = Math.max(1, Math.min(60_000, Number(v))); break;
      case '--blksize': a.blksize = Number(v); break;
      case '--windowsize': a.windowsize = Number(v); break;
      default: throw new Error(`unknown argument ${String(k)}`);
    }
  }
  if (a.files.length === 0) throw new Error('no files (--files or --list)');
  return a;
}

type Outcome = 'ok' | 'error' | 'timeout';

/** fetch runs one transfer and resolves with its outcome and bytes. */
function fetch(a: Args, file: string, source: string, want: Buffer): Promise<{ outcome: Outcome; bytes: number; why?: string }> {
  return new Promise((resolve) => {
    const s: Socket = createSocket('udp4');
    const options: TftpOption[] = [];
    if (a.blksize !== undefined) options.push({ name: 'blksize', value: String(a.blksize) });
    if (a.windowsize !== undefined) options.push({ name: 'windowsize', value: String(a.windowsize) });
    let blksize = 512;
    let window = 1;
    let server: { address: string; port: number } | undefined;
    let expected = 1;
    let inWindow = 0;
    const parts: Buffer[] = [];
    let last = encodeRequest('rrq', file, 'octet', options);
    let lastTo = { address: a.host, port: a.port };
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (outcome: Outcome, why?: string): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      s.close();
      const body = Buffer.concat(parts);
      const mismatch = outcome === 'ok' && !body.equals(want);
      resolve({ outcome: mismatch ? 'error' : outcome, bytes: body.length, ...(mismatch ? { why: `${file}: ${body.length} bytes, not the ${want.length} on disk` } : why !== undefined ? { why } : {}) });
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (++tries > 5) return finish('timeout', `${file}: no answer`);
        s.send(last, lastTo.port, lastTo.address);
        arm();
      }, 1000);
    };
    const send = (b: Buffer, then?: () => void): void => {
      last = b;
      lastTo = server ?? lastTo;
      s.send(b, lastTo.port, lastTo.address, then);
    };
    s.on('error', (err) => finish('error', err.message));
    s.on('message', (msg, rinfo) => {
      if (server === undefined) server = { address: rinfo.address, port: rinfo.port };
      else if (rinfo.port !== server.port) return;
      const d = decode(msg);
      if (!d.ok) return finish('error', `malformed: ${d.error.code}`);
      const p = d.packet;
      tries = 0;
      if (p.op === 'error') return finish('error', `ERROR ${p.code} ${p.message}`);
      if (p.op === 'oack') {
        for (const o of p.options) {
          if (o.name === 'blksize') blksize = Number(o.value);
          if (o.name === 'windowsize') window = Number(o.value);
        }
        send(encodeAck(0));
        arm();
        return;
      }
      if (p.op !== 'data') return;
      if (p.block === (expected & 0xffff)) {
        parts.push(Buffer.from(p.data));
        const end = p.data.length < blksize;
        inWindow++;
        expected++;
        if (end) {
          // The socket closes once the last ACK has left (a close would cancel it).
          if (timer) clearTimeout(timer);
          send(encodeAck(p.block), () => finish('ok'));
          return;
        }
        if (inWindow >= window) {
          inWindow = 0;
          send(encodeAck(p.block));
        }
      } else {
        // Out of order (a gap): acknowledge what we hold, the server restarts after it.
        inWindow = 0;
        send(encodeAck((expected - 1) & 0xffff));
      }
      arm();
    });
    s.bind({ address: source, port: 0 }, () => {
      send(last);
      arm();
    });
  });
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const want = new Map(a.files.map((f) => [f, readFileSync(join(a.dir, f))]));
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let timeouts = 0;
  let bytes = 0;
  let started = 0;
  let next = 0;
  const t0 = performance.now();
  const end = t0 + a.seconds * 1000;
  const worker = async (w: number): Promise<void> => {
    let k = 0;
    while (performance.now() < end && started < a.count) {
      started++;
      const file = a.files[next++ % a.files.length] as string;
      const n = (w + k++ * a.concurrency) % a.sources;
      const source = `127.1.${Math.floor(n / 250)}.${(n % 250) + 1}`;
      const t = performance.now();
      const r = await fetch(a, file, source, want.get(file) as Buffer);
      if (r.outcome === 'ok') {
        lat.push(performance.now() - t);
        bytes += r.bytes;
      } else {
        if (r.outcome === 'timeout') timeouts++;
        else errors++;
        firstError ??= r.why;
      }
    }
  };
  await Promise.all(Array.from({ length: a.concurrency }, (_, w) => worker(w)));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  const q = (p: number): number => Math.round((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN) * 100) / 100;
  console.log(JSON.stringify({ transfers: lat.length, errors, timeouts, bytes, seconds: Math.round(secs * 100) / 100, tps: Math.round(lat.length / secs), mbps: Math.round((bytes / secs / 1e6) * 100) / 100, p50: q(0.5), p99: q(0.99), max: q(1), ...(firstError !== undefined ? { firstError } : {}) }));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
