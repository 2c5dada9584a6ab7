/**
 * bench/admin/run.ts: the admin API's cost, in one process as in the daemon (an HTTP face and
 * the API on its own fastify, sharing the store), on loopback:
 *   1. provisioning alone: POST /jitsi (a tenant without credentials: no KDF) at concurrency C;
 *   2. the API alone: GET /api/v1/tenants/T/users?limit=50 (token lookup, store read, JSON);
 *   3. both at once: the provisioning rate while the API is driven at the same concurrency,
 *      i.e. what an integrator's polling takes from provisioning (the same run, the same box).
 * Usage: flock /tmp/provisiond-bench.lock node dist/bench/admin/run.js [--seconds S] [--concurrency C]
 * It prints requests/s and p50/p99 latency per phase; figures in BENCHMARKS.md ("Admin API").
 */
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { registerApi } from '../../src/admin/api';
import { TokenAuth, createToken } from '../../src/admin/tokens';
import { createLogger } from '../../src/log';
import { hashPassword, startFace } from '../../test/helpers/prov';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? NaN : Number(process.argv[i + 1]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const SECONDS = arg('seconds', 5);
const CONCURRENCY = arg('concurrency', 8);

const yaml = `http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}
dhcp: {enabled: false}
mdns: {enabled: false}
provisioning:
  defaultDomain: a.example
  passwords: {scryptCost: 10}
  tenants:
    a.example:
      requireCredentials: false
      rules: [{subject: default, properties: {net.java.sip.communicator.impl.gui.HELLO: "hello {{ params.uuid }}"}}]
`;

interface Phase {
  readonly n: number;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

/** drive runs `concurrency` closed loops of `one` until `until`; it returns the rate and latencies. */
async function drive(one: (i: number) => Promise<boolean>, until: number, concurrency: number): Promise<Phase> {
  const lat: number[] = [];
  let errors = 0;
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const s = performance.now();
        if (!(await one(i++))) errors++;
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0) * 100) / 100;
  return { n: lat.length, rate: Math.round(lat.length / secs), p50: q(0.5), p99: q(0.99), errors };
}

async function main(): Promise<void> {
  const f = await startFace(yaml, { level: 'info' });
  const repo = f.store.tokens;
  if (repo === undefined) throw new Error('no token repository');
  const hash = await hashPassword('pw', 10);
  for (let u = 0; u < 50; u++) await f.store.users.add({ domain: 'a.example', name: `user${u}`, passwordHash: hash, attributes: { extension: String(1000 + u) } });
  const { token } = await createToken(repo, { tenant: 'a.example', scopes: ['read'] });
  const app = Fastify();
  await registerApi(app, {
    store: f.store,
    provisioning: () => f.config.provisioning,
    tokens: new TokenAuth(repo),
    bans: () => f.face.banList(),
    banControls: () => new Map(),
    events: () => f.face.eventSink(),
    log: createLogger('silent'),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const api = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/api/v1/tenants/a.example/users?limit=50`;
  const prov = `${f.url}/jitsi`;
  const provision = async (i: number): Promise<boolean> => {
    const r = await fetch(prov, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `uuid=bench-${i % 500}` });
    await r.arrayBuffer();
    return r.status === 200;
  };
  const list = async (): Promise<boolean> => {
    const r = await fetch(api, { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    return r.status === 200;
  };
  try {
    await drive(provision, performance.now() + 1000, CONCURRENCY); // warm-up
    await drive(list, performance.now() + 1000, CONCURRENCY);
    const alone = await drive(provision, performance.now() + SECONDS * 1000, CONCURRENCY);
    const apiAlone = await drive(list, performance.now() + SECONDS * 1000, CONCURRENCY);
    const until = performance.now() + SECONDS * 1000;
    const [withApi, apiBeside] = await Promise.all([drive(provision, until, CONCURRENCY), drive(list, until, CONCURRENCY)]);
    const row = (name: string, p: Phase): string => `| ${name} | ${p.n} | ${p.rate} | ${p.p50} | ${p.p99} | ${p.errors} |`;
    process.stdout.write(`node ${process.version}, ${SECONDS} s a phase, concurrency ${CONCURRENCY} per load\n\n`);
    process.stdout.write('| phase | requests | req/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- | --- |\n');
    process.stdout.write(`${row('POST /jitsi alone', alone)}\n${row('GET /api/v1/…/users?limit=50 alone', apiAlone)}\n${row('POST /jitsi, API loaded beside', withApi)}\n${row('GET …/users, provisioning beside', apiBeside)}\n`);
  } finally {
    await app.close();
    await f.close();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench/admin: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
