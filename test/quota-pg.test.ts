/**
 * quota-pg.test.ts: device quotas shared by every node (issue 16 item 3) on a real PostgreSQL
 * server (test/helpers/postgres.ts; skipped with a message where it cannot start): the store's
 * atomic per-source counter (two pools as two nodes, concurrent grants, hour windows, pruning),
 * SharedDeviceQuota's fall-over to the node's own count when the store fails or hangs, and two
 * daemons (the executable) on one database where one source creating devices alternately on both
 * gets devices.maxNewPerSourcePerHour records in all, not twice that.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPostgresStore } from '../src/store/postgres';
import type { DeviceQuotaRepository, Store } from '../src/store/repository';
import { SharedDeviceQuota, type AsyncQuotaSource } from '../src/limits/quota';
import { usePostgres, type PgSuite } from './helpers/postgres';
import { cliWithInput, startDaemon, type Running } from './helpers/daemon';

const POOL = { max: 4, connectTimeout: 3, statementTimeout: 5, maxWaiting: 100 };
const HOUR = 3_600_000;

const suite = usePostgres('q', POOL);
const freshDb = (): ReturnType<PgSuite['freshDb']> => suite.freshDb();

/** twoNodes opens two stores (two pools: two nodes) on one fresh database. */
async function twoNodes(): Promise<{ a: Store; b: Store; name: string }> {
  const opts = await freshDb();
  return { a: await openPostgresStore(opts), b: await openPostgresStore(opts), name: opts.name };
}

const quotaOf = (s: Store): DeviceQuotaRepository => {
  assert.ok(s.quota, 'a PostgreSQL store has a shared device quota');
  return s.quota;
};

describe('the shared device quota in PostgreSQL', () => {
  test('two nodes taking alternately for one source: the limit holds across both; another source has its own', async (t) => {
    if (suite.skip !== false) return t.skip(suite.skip);
    const { a, b } = await twoNodes();
    try {
      const t0 = Date.UTC(2026, 0, 1, 10, 0, 0);
      const got: boolean[] = [];
      for (let i = 0; i < 8; i++) got.push(await quotaOf(i % 2 === 0 ? a : b).take('192.0.2.7', t0 + i * 1000, 4));
      assert.deepEqual(got, [true, true, true, true, false, false, false, false]);
      assert.equal(await quotaOf(b).take('192.0.2.8', t0, 4), true, 'another source is counted apart');
      assert.equal(await quotaOf(a).take('192.0.2.9', t0, 0), false, 'a limit of 0 grants nothing');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('concurrent grants on two nodes never exceed the limit', async (t) => {
    if (suite.skip !== false) return t.skip(suite.skip);
    const { a, b } = await twoNodes();
    try {
      const t0 = Date.UTC(2026, 0, 1, 10, 30, 0);
      const all = await Promise.all(Array.from({ length: 24 }, (_, i) => quotaOf(i % 2 === 0 ? a : b).take('198.51.100.1', t0, 5)));
      assert.equal(all.filter((x) => x).length, 5);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('hour windows: the previous window counts by the share of it still within the hour (rounded up); pruning drops older windows', async (t) => {
    if (suite.skip !== false) return t.skip(suite.skip);
    const { a, b, name } = await twoNodes();
    try {
      const w0 = Date.UTC(2026, 0, 1, 10, 0, 0);
      for (let i = 0; i < 4; i++) assert.equal(await quotaOf(a).take('203.0.113.5', w0 + 50 * 60_000, 4), true);
      assert.equal(await quotaOf(b).take('203.0.113.5', w0 + 59 * 60_000, 4), false);
      // Just after the window turned: the previous 4 still weigh 4 (ceil(4 × 0.99…)).
      assert.equal(await quotaOf(b).take('203.0.113.5', w0 + HOUR + 1000, 4), false);
      // Half-way through the next window: ceil(4 × 0.5) = 2, so 2 more.
      const mid = w0 + HOUR + 30 * 60_000;
      assert.deepEqual([await quotaOf(a).take('203.0.113.5', mid, 4), await quotaOf(b).take('203.0.113.5', mid, 4), await quotaOf(a).take('203.0.113.5', mid, 4)], [true, true, false]);
      // Two windows on, nothing of the first counts.
      assert.equal(await quotaOf(b).take('203.0.113.5', w0 + 2 * HOUR + 1000, 4), true);
      const rows = async (): Promise<number> => Number((await suite.server?.sql(name, 'SELECT COUNT(*) AS n FROM device_quota'))?.[0]?.['n']);
      assert.equal(await rows(), 3);
      assert.equal(await quotaOf(a).prune(w0 + 2 * HOUR + 1000), 1, 'the window before the previous one is pruned');
      assert.equal(await rows(), 2);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

/** fakeDevices is an AsyncQuotaSource of a fixed set. */
const fakeDevices = (keys: Set<string>): AsyncQuotaSource => ({ has: async (k) => keys.has(k), count: async () => keys.size });

describe('SharedDeviceQuota', () => {
  test('a failing store: the node counts on its own (the per-source cap still holds here), counted, logged once, and its end logged', async () => {
    const counters = new Map<string, number>();
    const logs: string[] = [];
    let fail = true;
    let taken = 0;
    const repo: DeviceQuotaRepository = {
      take: async () => {
        if (fail) throw new Error('connection refused');
        taken++;
        return true;
      },
      prune: async () => 0,
    };
    const q = new SharedDeviceQuota({ perSourcePerHour: 2, maxTotal: 100 }, fakeDevices(new Set(['known'])), repo, {
      count: (n) => counters.set(n, (counters.get(n) ?? 0) + 1),
      log: { warn: (_o: object, m: string) => logs.push(`warn ${m}`), info: (_o: object, m: string) => logs.push(`info ${m}`) } as unknown as SharedDeviceQuotaLog,
    });
    assert.equal(await q.admit('known', '192.0.2.1'), 'record', 'a known device needs no grant');
    assert.deepEqual([await q.admit('k1', '192.0.2.1'), await q.admit('k2', '192.0.2.1'), await q.admit('k3', '192.0.2.1')], ['record', 'record', 'over-source']);
    assert.equal(counters.get('devices-quota-store-errors'), 3);
    assert.equal(logs.filter((l) => l.startsWith('warn')).length, 1);
    fail = false;
    assert.equal(await q.admit('k4', '192.0.2.2'), 'record');
    assert.equal(taken, 1);
    assert.deepEqual(logs.map((l) => l.split(' ')[0]), ['warn', 'info']);
  });

  test('a store that never answers: the request is decided by the node own count, never left waiting', async () => {
    const counters = new Map<string, number>();
    const repo: DeviceQuotaRepository = { take: () => new Promise<boolean>(() => undefined), prune: async () => 0 };
    const q = new SharedDeviceQuota({ perSourcePerHour: 1, maxTotal: 100 }, fakeDevices(new Set()), repo, {
      count: (n) => counters.set(n, (counters.get(n) ?? 0) + 1),
      log: { warn: () => undefined, info: () => undefined } as unknown as SharedDeviceQuotaLog,
    });
    assert.equal(await q.admit('k1', '192.0.2.1'), 'record');
    assert.equal(await q.admit('k2', '192.0.2.1'), 'over-source');
    assert.equal(counters.get('devices-quota-store-errors'), 2);
  });

  test('the store refusing a grant is over-source; the total cap is the shared count', async () => {
    const repo: DeviceQuotaRepository = { take: async () => false, prune: async () => 0 };
    const wiring = { count: () => undefined, log: { warn: () => undefined, info: () => undefined } as unknown as SharedDeviceQuotaLog };
    assert.equal(await new SharedDeviceQuota({ perSourcePerHour: 5, maxTotal: 100 }, fakeDevices(new Set()), repo, wiring).admit('k', '192.0.2.1'), 'over-source');
    const full = new Set(['a', 'b']);
    assert.equal(await new SharedDeviceQuota({ perSourcePerHour: 5, maxTotal: 2 }, fakeDevices(full), { take: async () => true, prune: async () => 0 }, wiring).admit('k', '192.0.2.1'), 'over-total');
  });
});

type SharedDeviceQuotaLog = ConstructorParameters<typeof SharedDeviceQuota>[3]['log'];

/** conf writes a daemon configuration on `url` (HTTP on a free port, no DHCP/mDNS) with a per-source cap. */
function conf(name: string, url: string, perSource: number): string {
  const file = join(suite.tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `stateDir: ${join(suite.tmp, `${name}-state`)}\nhttp: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\n` +
      `store: {url: '${url}'}\ndevices: {maxNewPerSourcePerHour: ${perSource}}\n` +
      'provisioning:\n  passwords: {scryptCost: 10}\n  tenants:\n    a.example:\n      auth: credentials\n      rules: [{subject: default, properties: {k.user: "{{ user.id }}"}}]\n',
  );
  return file;
}

async function serve(cfg: string): Promise<{ d: Running; port: number }> {
  const d = startDaemon(['run', '--config', cfg]);
  try {
    const serving = await d.waitForLog('HTTP face serving', 30_000);
    return { d, port: Number(serving['port']) };
  } catch (err) {
    d.child.kill('SIGKILL');
    throw new Error(`${String(err)}\n${d.stdout()}\n${d.stderr()}`);
  }
}

describe('two daemons on one PostgreSQL', () => {
  test('one source creating devices alternately on both nodes gets maxNewPerSourcePerHour records in all', async (t) => {
    if (suite.skip !== false) return t.skip(suite.skip);
    const { url, name } = await freshDb();
    const cfgA = conf('node-a', url, 4);
    const a = await serve(cfgA);
    const b = await serve(conf('node-b', url, 4));
    try {
      const add = await cliWithInput(['user', 'add', 'alice@a.example', '--password-stdin', '--config', cfgA], 'alice pw\n');
      assert.equal(add.code, 0, add.stderr);
      for (let i = 0; i < 10; i++) {
        const port = i % 2 === 0 ? a.port : b.port;
        const r = await fetch(`http://127.0.0.1:${port}/jitsi`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' },
          body: `username=alice%40a.example&password=alice+pw&uuid=quota-dev-${i}&os=Linux`,
        });
        assert.equal(r.status, 200, 'over the cap a device is still answered');
        await r.text();
      }
    } finally {
      a.d.child.kill('SIGTERM');
      b.d.child.kill('SIGTERM');
      await Promise.all([a.d.exited, b.d.exited]); // the buffered device writes are flushed
    }
    const devices = await suite.server?.sql(name, "SELECT key FROM devices WHERE key LIKE 'uuid:quota-dev-%' ORDER BY key");
    assert.equal(devices?.length, 4, `recorded: ${JSON.stringify(devices)}`);
    const rows = await suite.server?.sql(name, 'SELECT source, n FROM device_quota');
    assert.deepEqual(rows?.map((r) => [r['source'], r['n']]), [['127.0.0.1', 4]]);
  });
});
