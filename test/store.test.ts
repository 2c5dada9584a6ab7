import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chownSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database, { type Db } from '../src/store/driver';
import { openSqliteStore, migrate, STORE_FILE } from '../src/store/sqlite';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/store/migrations';
import type { DeviceObservation } from '../src/store/repository';
import { ProvError } from '../src/errors';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'provisiond-store-'));
}

const obs = (over: Partial<DeviceObservation> = {}): DeviceObservation => ({
  key: 'uuid:u1',
  uuid: 'u1',
  hwaddr: '00:1a:2b:3c:4d:5e',
  ip: '192.0.2.1',
  hostname: 'pc1',
  osname: 'Linux',
  arch: 'amd64',
  build: '2.10.5550',
  userAgent: 'Jitsi/2.10.5550',
  username: 'alice@example.com',
  tenant: 'example.com',
  outcome: '200 ok',
  at: '2026-01-01T00:00:00.000Z',
  ...over,
});

/** seed writes rows that a database at `level` can hold, with raw SQL (as that version would have). */
function seed(db: Db, level: number): void {
  if (level >= 1) db.prepare("INSERT INTO users VALUES ('example.com', 'alice', 'plain:x', '{\"k\":\"v\"}', 't0', 't0')").run();
  if (level >= 2) {
    db.prepare(
      "INSERT INTO devices (key, uuid, hwaddr, ip, hostname, osname, arch, build, username, tenant, first_seen, last_seen, last_outcome) VALUES ('uuid:old', 'old', NULL, '192.0.2.9', NULL, 'Mac OS X', NULL, NULL, 'alice@example.com', 'example.com', 't1', 't1', '200 ok')",
    ).run();
  }
}

describe('store migrations', () => {
  test('versions are 1..N without gaps', async () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  for (let from = 0; from < SCHEMA_VERSION; from++) {
    test(`from version ${from}${from === 0 ? ' (empty file)' : ''} to ${SCHEMA_VERSION}, keeping the data`, async () => {
      const dir = tmp();
      try {
        const raw = new Database(join(dir, STORE_FILE));
        assert.equal(migrate(raw, from), from);
        seed(raw, from);
        raw.close();
        const s = openSqliteStore(dir);
        assert.equal(s.schemaVersion, SCHEMA_VERSION);
        if (from >= 1) assert.deepEqual((await s.users.get('example.com', 'alice'))?.attributes, { k: 'v' });
        if (from >= 2) {
          const d = (await s.devices.get('uuid:old'));
          assert.equal(d?.osname, 'Mac OS X');
          assert.equal(d?.requests, 1);
          assert.equal(d?.userAgent, null);
          assert.equal(d?.failures, 0, 'version 6: no failure counted yet');
          // version 5: a device that got a 200 before the migration counts as provisioned (never pruned).
          assert.equal((await s.devices.pruneUnprovisioned('9999-01-01T00:00:00.000Z')), 0);
          assert.ok((await s.devices.get('uuid:old')));
        }
        await s.devices.upsert(obs());
        assert.equal((await s.devices.get('uuid:u1'))?.userAgent, 'Jitsi/2.10.5550');
        assert.deepEqual((await s.keys.list()), [], 'version 4: the key table exists and starts empty');
        await s.keys.rotate('example.com', 'ab'.repeat(32), 't2', 't3');
        assert.equal((await s.keys.list())[0]?.expiresAt, null);
        assert.deepEqual([s.phones.list(), s.phones.listConfigs()], [[], []], 'version 7: the phone tables exist and start empty');
        s.phones.add({ mac: '80:5E:C0:00:00:01', tenant: 'example.com', profile: 'yealink' }, 't4');
        assert.equal(s.phones.get('805ec0000001')?.addedAt, 't4');
        s.close();
        // Opening again is a no-op.
        const again = openSqliteStore(dir);
        assert.equal(again.schemaVersion, SCHEMA_VERSION);
        again.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('a store from a newer provisiond is refused', async () => {
    const dir = tmp();
    try {
      const raw = new Database(join(dir, STORE_FILE));
      raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      raw.close();
      assert.throws(() => openSqliteStore(dir), (e: ProvError) => e.code === 'PROVD_ERR_STORE' && /newer/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('WAL journal mode', async () => {
    const dir = tmp();
    try {
      openSqliteStore(dir).close();
      const raw = new Database(join(dir, STORE_FILE));
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      raw.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('run as root (the CLI), the store files keep the owner of stateDir (the daemon user)', { skip: process.getuid?.() === 0 ? false : 'needs root' }, async () => {
    const dir = tmp();
    try {
      chownSync(dir, 65534, 65534);
      openSqliteStore(dir).close();
      assert.equal(statSync(join(dir, STORE_FILE)).uid, 65534);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unusable stateDir is a PROVD_ERR_STORE', async () => {
    const dir = tmp();
    try {
      writeFileSync(join(dir, 'file'), '');
      assert.throws(() => openSqliteStore(join(dir, 'file', 'state')), (e: ProvError) => e.code === 'PROVD_ERR_STORE' && /cannot open the store/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('repositories', () => {
  test('users: add, case-insensitive get, set password, list, remove', async () => {
    const dir = tmp();
    const s = openSqliteStore(dir);
    try {
      assert.equal((await s.users.add({ domain: 'example.com', name: 'Alice', passwordHash: 'plain:a', attributes: { x: '1' } })), true);
      assert.equal((await s.users.add({ domain: 'example.com', name: 'alice', passwordHash: 'plain:b' })), false);
      assert.equal((await s.users.get('example.com', 'ALICE'))?.passwordHash, 'plain:a');
      assert.equal((await s.users.setPassword('example.com', 'alice', 'plain:c')), true);
      assert.equal((await s.users.setPassword('example.com', 'nobody', 'plain:c')), false);
      await s.users.upsert({ domain: 'other.org', name: 'bob', passwordHash: 'plain:d' });
      assert.deepEqual((await s.users.list()).map((u) => `${u.name}@${u.domain}`), ['alice@example.com', 'bob@other.org']);
      assert.deepEqual((await s.users.list('other.org')).map((u) => u.name), ['bob']);
      assert.equal((await s.users.remove('example.com', 'alice')), true);
      assert.equal((await s.users.remove('example.com', 'alice')), false);
    } finally {
      s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('devices: upsert is idempotent, keeps first seen, counts requests, keeps known fields', async () => {
    const dir = tmp();
    const s = openSqliteStore(dir);
    try {
      await s.devices.upsert(obs());
      (await s.devices.upsert(obs({ at: '2026-01-02T00:00:00.000Z', hostname: null, ip: '192.0.2.2' })));
      const d = (await s.devices.get('uuid:u1'));
      assert.equal(d?.firstSeen, '2026-01-01T00:00:00.000Z');
      assert.equal(d?.lastSeen, '2026-01-02T00:00:00.000Z');
      assert.equal(d?.hostname, 'pc1');
      assert.equal(d?.ip, '192.0.2.2');
      assert.equal(d?.lastOutcome, '200 ok');
      assert.equal(d?.requests, 2);
      assert.equal(d?.failures, 0);
      await s.devices.upsert(obs({ key: 'hwaddr:00:1a:2b:3c:4d:5f', uuid: null, hwaddr: '00:1a:2b:3c:4d:5f' }));
      assert.equal((await s.devices.list()).length, 2);
    } finally {
      s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('devices: a failed request only counts against a known record of its tenant, never creates one (defect 14)', async () => {
    const dir = tmp();
    const s = openSqliteStore(dir);
    try {
      await s.devices.upsert(obs());
      const evil = { ip: '192.0.2.66', hostname: 'evil', osname: 'EvilOS', build: '6.6.6', userAgent: 'Evil/1', username: 'bob@example.com' };
      await s.devices.upsert(obs({ ...evil, outcome: '401 bad-credentials', at: '2026-01-03T00:00:00.000Z' }));
      (await s.devices.upsert(obs({ ...evil, outcome: '400 credentials-required', at: '2026-01-04T00:00:00.000Z' })));
      await s.devices.upsert(obs({ ...evil, tenant: 'other.org', outcome: '401 bad-credentials', at: '2026-01-05T00:00:00.000Z' }));
      const d = (await s.devices.get('uuid:u1'));
      assert.deepEqual(
        [d?.ip, d?.hostname, d?.osname, d?.build, d?.userAgent, d?.username, d?.lastSeen, d?.lastOutcome],
        ['192.0.2.1', 'pc1', 'Linux', '2.10.5550', 'Jitsi/2.10.5550', 'alice@example.com', '2026-01-01T00:00:00.000Z', '200 ok'],
      );
      assert.deepEqual([d?.requests, d?.failures, d?.lastFailureAt, d?.lastFailure], [3, 2, '2026-01-04T00:00:00.000Z', '400 credentials-required'], 'another tenant\'s failure is not counted');
      await s.devices.upsert(obs({ key: 'uuid:nobody', uuid: 'nobody', outcome: '401 bad-credentials' }));
      assert.equal((await s.devices.get('uuid:nobody')), undefined);
      // Coalesced writes (the write-behind buffer): one transaction, each counted `count` times.
      s.devices.upsertMany?.([
        { obs: obs({ key: 'uuid:u2', uuid: 'u2', at: '2026-01-06T00:00:00.000Z' }), count: 3 },
        { obs: obs({ key: 'uuid:u2', uuid: 'u2', outcome: '401 bad-credentials', at: '2026-01-07T00:00:00.000Z' }), count: 2 },
      ]);
      assert.deepEqual([(await s.devices.get('uuid:u2'))?.requests, (await s.devices.get('uuid:u2'))?.failures], [5, 2]);
    } finally {
      s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
