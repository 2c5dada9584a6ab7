/**
 * bench/store/run.ts: what a login's store work costs on each backend: the repository calls the
 * HTTP face makes per POST (a user lookup, the key list of a keyed path, a device lookup for the
 * device cap, a device upsert), on the embedded SQLite store and on a PostgreSQL server this
 * bench starts (test/helpers/postgres.ts: a temporary directory, unix socket, fsync off: the
 * figures are the driver's and the round trips', not a disk's).
 *
 *   flock /tmp/provisiond-bench.lock node dist/bench/store/run.js [N=5000] [CONCURRENCY=16] [PHONES=5000]
 *
 * quota.take: the shared device quota (PostgreSQL). Also: the phone view's write-through and load
 * of PHONES phones (argv[4], default 5000).
 * For each backend and call: N calls one after the other (latency p50/p99) and N calls with
 * CONCURRENCY in flight (calls/s). Prints `# ` lines and a Markdown table. A timing, never a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteStore } from '../../src/store/sqlite';
import { openPostgresStore } from '../../src/store/postgres';
import type { DeviceObservation, Store } from '../../src/store/repository';
import { startPostgres } from '../../test/helpers/postgres';
import { PHONE_REFRESH_MS } from '../../src/store/phonemirror';

const N = Number(process.argv[2] ?? 5000);
const CONC = Number(process.argv[3] ?? 16);

const obs = (i: number): DeviceObservation => ({
  key: `uuid:dev-${i % 2000}`,
  uuid: `dev-${i % 2000}`,
  hwaddr: null,
  ip: '192.0.2.1',
  hostname: `host-${i % 2000}`,
  osname: 'Linux',
  arch: 'amd64',
  build: '2.10.5550',
  userAgent: 'Jitsi/2.10.5550',
  username: `user${i % 2000}`,
  tenant: 'a.example',
  outcome: '200 ok',
  at: new Date().toISOString(),
});

type Call = (s: Store, i: number) => Promise<unknown>;
const CALLS: readonly [string, Call][] = [
  ['users.get', (s, i) => s.users.get('a.example', `user${i % 2000}`)],
  ['keys.list', (s) => s.keys.list()],
  ['devices.get', (s, i) => s.devices.get(`uuid:dev-${i % 2000}`)],
  ['devices.upsert', (s, i) => s.devices.upsert(obs(i))],
  // The shared device quota's grant (PostgreSQL only): one conditional upsert per new device.
  ['quota.take', (s, i) => s.quota?.take(`198.51.100.${i % 250}`, Date.now(), 1_000_000) ?? Promise.resolve(true)],
];

/** PHONES: how many phones the phone view's load is measured with (PostgreSQL). */
const PHONES = Number(process.argv[4] ?? 5000);

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function measure(s: Store, call: Call): Promise<{ p50: number; p99: number; perSec: number }> {
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await call(s, i);
    lat.push(performance.now() - t0);
  }
  lat.sort((a, b) => a - b);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      for (let i = next++; i < N; i = next++) await call(s, i);
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSec: N / secs };
}

async function seed(s: Store): Promise<void> {
  for (let i = 0; i < 2000; i++) await s.users.add({ domain: 'a.example', name: `user${i}`, passwordHash: '$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA' });
  await s.keys.rotate('a.example', 'ab'.repeat(32), new Date().toISOString(), new Date().toISOString());
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-store-bench-'));
  const pg = await startPostgres();
  if (typeof pg === 'string') {
    process.stderr.write(`# PostgreSQL not measured: ${pg}\n`);
  }
  const rows: string[] = [];
  try {
    const backends: [string, () => Promise<Store>][] = [['sqlite', () => Promise.resolve(openSqliteStore(dir, { busyTimeoutMs: 0 }))]];
    if (typeof pg !== 'string') {
      const url = await pg.createDb('bench');
      backends.push(['postgres', () => openPostgresStore({ url, pool: { max: 10, connectTimeout: 5, statementTimeout: 5, maxWaiting: 1000 } })]);
      // The phone view (phonemirror.ts): PHONES phones written through one store, then a store
      // opened with the view (a node starting: the whole load) and one 2-second re-read's worth.
      const pool = { max: 10, connectTimeout: 5, statementTimeout: 30, maxWaiting: 1000 };
      const w = await openPostgresStore({ url, pool, phones: true });
      for (let i = 0; i < PHONES; i++) {
        const hex = i.toString(16).padStart(6, '0');
        w.phones.add({ mac: `00:15:65:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`, tenant: 'a.example', profile: 'yealink', users: [`user${i % 2000}`] });
      }
      const tw = performance.now();
      await w.close(); // the write-through of the adds
      const writeMs = performance.now() - tw;
      const t0 = performance.now();
      const r = await openPostgresStore({ url, pool, phones: true });
      const loadMs = performance.now() - t0;
      const n = r.phones.count();
      // Its re-reads (every PHONE_REFRESH_MS, nothing changing): this process's CPU and the
      // event loop's longest stall over 5 of them (the HTTP face answers on that loop).
      let lag = 0;
      let last = performance.now();
      const tick = setInterval(() => {
        const now = performance.now();
        lag = Math.max(lag, now - last - 5);
        last = now;
      }, 5);
      const cpu0 = process.cpuUsage();
      await new Promise((res) => setTimeout(res, 5 * PHONE_REFRESH_MS + 500));
      const cpu = process.cpuUsage(cpu0);
      clearInterval(tick);
      const refreshes = r.stats?.()['store-pg-phone-refreshes'] ?? 0;
      await r.close();
      process.stdout.write(`# postgres phone view: ${n} phones; write-through of ${PHONES} adds ${writeMs.toFixed(0)} ms; a store opened with the view (load) ${loadMs.toFixed(0)} ms\n`);
      process.stdout.write(`# postgres phone view re-reads, nothing changed: ${((cpu.user + cpu.system) / 1000 / 5).toFixed(0)} ms of CPU per re-read (${refreshes} re-reads counted), longest event-loop stall ${lag.toFixed(0)} ms\n`);
    }
    process.stdout.write(`# ${N} calls each; concurrency ${CONC}; node ${process.version}\n`);
    for (const [name, open] of backends) {
      const s = await open();
      try {
        await seed(s);
        for (const [label, call] of CALLS) {
          if (label === 'quota.take' && s.quota === undefined) continue;
          const r = await measure(s, call);
          process.stdout.write(`# ${name} ${label}: p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ${Math.round(r.perSec)} calls/s at ${CONC} in flight\n`);
          rows.push(`| ${name} | ${label} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${Math.round(r.perSec)} |`);
        }
      } finally {
        await s.close();
      }
    }
  } finally {
    if (typeof pg !== 'string') pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\n| backend | call | p50 ms (one at a time) | p99 ms | calls/s (${CONC} in flight) |\n|---|---|---|---|---|\n${rows.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
