/**
 * bench/status/run.ts: what the status page costs (issue 17, item 6).
 *
 *   flock /tmp/provisiond-bench.lock node dist/bench/status/run.js [DEVICES=10000] [REQUESTS=100]
 *
 * 1. The provisioning path's share: ns per `activity.emit` with no watcher and with the status
 *    page's ActivityLog watching (1 000 000 records over 12 (face, outcome) pairs and 20 tenants).
 * 2. The page: GET / (the whole dashboard), GET /ui/live (what each open page fetches every 5 s),
 *    and a search, signed in, over fastify inject, with DEVICES devices in a real SQLite store
 *    and a full hour of activity; REQUESTS requests each, p50/p99 and the answer's size. The
 *    inventory read is shared (2 s; 60 s while nothing is answered: ui.ts), so the first request
 *    of a window pays it: the table shows both (`cached` and `fresh read`), and the store's
 *    devices.list() alone (synchronous SQLite: it blocks the event loop for that long).
 *
 * Prints `# ` lines and a Markdown table. A timing, never a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import pino from 'pino';
import { ActivityBus } from '../../src/activity';
import { ActivityLog } from '../../src/status/activity-log';
import { registerUi } from '../../src/status/ui';
import { openSqliteStore } from '../../src/store/sqlite';
import type { DeviceWrite } from '../../src/store/repository';

const DEVICES = Number(process.argv[2] ?? 10_000);
const REQUESTS = Number(process.argv[3] ?? 100);
const EMITS = 1_000_000;

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const FACES = ['http', 'dhcp', 'tftp'] as const;
const OUTCOMES = ['provisioned', 'bad-credentials', 'banned', 'not-found'];

function emitCost(watch: boolean): number {
  const bus = new ActivityBus();
  const log = new ActivityLog();
  if (watch) log.attach(bus);
  else bus.on(() => undefined); // a watcher that does nothing: the bus's own cost
  const t0 = performance.now();
  const at = Date.now();
  for (let i = 0; i < EMITS; i++) {
    const outcome = OUTCOMES[i % 4] ?? 'provisioned';
    bus.emit({ face: FACES[i % 3] ?? 'http', outcome, ok: outcome === 'provisioned', status: 200, at, ip: '192.0.2.1', tenant: `t${i % 20}.example`, user: `u${i % 1000}@t${i % 20}.example`, device: `uuid:${i % 5000}` });
  }
  return ((performance.now() - t0) * 1e6) / EMITS;
}

async function main(): Promise<void> {
  console.log(`# status page bench: ${DEVICES} devices, ${REQUESTS} requests per row, node ${process.version}`);
  const bare = emitCost(false);
  const watched = emitCost(true);
  console.log(`# activity.emit: ${bare.toFixed(0)} ns with a no-op watcher, ${watched.toFixed(0)} ns with the ActivityLog watching (${EMITS} records)`);

  const dir = mkdtempSync(join(tmpdir(), 'provisiond-bench-status-'));
  const store = openSqliteStore(dir);
  try {
    const at = new Date().toISOString();
    const writes: DeviceWrite[] = Array.from({ length: DEVICES }, (_, i) => ({
      count: 1,
      obs: { key: `uuid:dev-${i}`, uuid: `dev-${i}`, hwaddr: null, ip: `10.0.${(i >> 8) & 255}.${i & 255}`, hostname: `host-${i}`, osname: 'Windows 10', arch: 'amd64', build: '2.10', userAgent: 'Jitsi', username: `user${i}`, tenant: `t${i % 20}.example`, outcome: '200 ok', at },
    }));
    if (store.devices.upsertMany) await store.devices.upsertMany(writes);
    else for (const w of writes) await store.devices.upsert(w.obs);
    let now = Date.now();
    const recent = new ActivityLog({ now: () => now });
    for (let m = 59; m >= 0; m--) for (let i = 0; i < 200; i++) recent.record({ face: FACES[i % 3] ?? 'http', outcome: OUTCOMES[i % 4] ?? 'provisioned', ok: i % 4 === 0, at: now - m * 60_000, tenant: `t${i % 20}.example`, user: `u${i}@x`, reason: 'bad-credentials', ip: '192.0.2.9' });
    const app = Fastify();
    await registerUi(app, {
      verifyToken: async () => ({ tenant: null, scopes: ['read', 'write'] }),
      devices: store.devices,
      bans: () => [],
      faces: () => [{ name: 'http', state: 'listening' }],
      recent,
      log: pino({ level: 'silent' }),
      options: { now: () => now },
    });
    await app.ready();
    const page = await app.inject({ method: 'GET', url: '/' });
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const loginCookie = /provd_login=([^;]*)/.exec(String(page.headers['set-cookie']))?.[1] ?? '';
    const login = await app.inject({ method: 'POST', url: '/ui/login', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `provd_login=${loginCookie}` }, payload: `token=x&csrf=${csrf}` });
    const cookie = `provd_session=${/provd_session=([^;]*)/.exec(String(login.headers['set-cookie']))?.[1] ?? ''}`;

    const rows: string[] = [];
    const listLat: number[] = [];
    for (let i = 0; i < Math.min(REQUESTS, 30); i++) {
      const t0 = performance.now();
      await store.devices.list();
      listLat.push(performance.now() - t0);
    }
    listLat.sort((a, b) => a - b);
    rows.push(`| the store's devices.list() alone (blocks the event loop: synchronous SQLite) | — | ${pct(listLat, 50).toFixed(1)} | ${pct(listLat, 99).toFixed(1)} | — |`);
    const run = async (label: string, url: string, fresh: boolean): Promise<void> => {
      const lat: number[] = [];
      let bytes = 0;
      for (let i = 0; i < REQUESTS; i++) {
        if (fresh) {
          // past the shared read, with a request answered since: every request reads the inventory
          now += 2000;
          recent.record({ face: 'http', outcome: 'provisioned', ok: true, at: now });
        }
        const t0 = performance.now();
        const r = await app.inject({ method: 'GET', url, headers: { cookie } });
        lat.push(performance.now() - t0);
        if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode}`);
        bytes = r.body.length;
      }
      lat.sort((a, b) => a - b);
      rows.push(`| ${label} | \`${url}\` | ${pct(lat, 50).toFixed(1)} | ${pct(lat, 99).toFixed(1)} | ${(bytes / 1024).toFixed(0)} |`);
    };
    await run('dashboard, fresh read', '/', true);
    await run('dashboard, cached', '/', false);
    await run('live part, fresh read', '/ui/live', true);
    await run('live part, cached', '/ui/live', false);
    await run('search, fresh read', '/ui/live?q=host-99', true);
    console.log('\n| what | request | p50 ms | p99 ms | KiB |\n|---|---|---|---|---|');
    for (const r of rows) console.log(r);
    await app.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
