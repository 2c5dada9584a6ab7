/**
 * postgres.ts: the shared store: one PostgreSQL database for several nodes (`store.url`).
 *
 * The same repository interfaces as sqlite.ts (users, keys, devices, bans) and the same schema
 * (migrations.ts, the `pg` spelling of a step where SQLite's differs). node-postgres with one
 * bounded pool per process:
 * - a connection is opened within `connectTimeout`, a statement runs within `statementTimeout`
 *   (server-side statement_timeout, and a client-side query_timeout a second later);
 * - at most `maxWaiting` queries wait for a connection: beyond, a query is refused at once;
 * - a server that is down, slow or refusing connections makes a query fail with StoreBusyError
 *   ("retry later": the write-behind buffer keeps inventory writes, pruning and re-hashes are
 *   retried), counted in stats(); nothing waits longer than the timeouts, no queue grows without
 *   bound.
 * Writes of more than one row run in a transaction (key rotation, ban writes, batched inventory
 * writes). New-device grants per source are counted in `device_quota` (one row per source and
 * hour window, one atomic conditional upsert per grant: `quota`), so the per-source cap holds
 * across nodes. Migrations run in one transaction under an advisory lock, so several nodes starting
 * at once apply each step once. Opening fails with PROVD_ERR_STORE_UNREACHABLE when the server
 * cannot be reached (the daemon does not start), PROVD_ERR_STORE when the schema is newer.
 *
 * SIP desk phones (PhoneRepository): the phone room renders synchronously, so `phones: true`
 * serves them from a kept-in-memory view of the shared tables (phonemirror.ts; open.ts asks for
 * it). The HTTP, SIP and TFTP faces each open the configured store (open.ts), so each keeps its
 * own view.
 */
import { readFileSync } from 'node:fs';
import { Pool, type PoolClient, type QueryResultRow } from 'pg';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import { MAX_STORED_BANS } from './bans';
import { CONFIG_COLUMNS, DEVICE_COLUMNS, SIGHTING_COLUMNS, PhoneMirror, ckey, dkey, ukey, type PhoneTables, type RawRow } from './phonemirror';
import { toDevice, toToken, toUser, type DeviceRow, type TokenRow, type UserRow } from './rows';
import { StoreBusyError, type BanRepository, type DeviceObservation, type DeviceQuotaRepository, type DeviceRepository, type DeviceWrite, type KeyRepository, type PhoneRepository, type RememberedLoginRepository, type Store, type StoredBan, type StoredKey, type TokenRepository, type UserRepository } from './repository';
import { ProvError, errorMessage } from '../errors';

/** PostgresOptions: the `store` section's values (config.ts). */
export interface PostgresOptions {
  readonly url: string;
  readonly passwordFile?: string | undefined;
  readonly pool: { readonly max: number; readonly connectTimeout: number; readonly statementTimeout: number; readonly maxWaiting: number };
  /** upTo stops migrating at a level (tests). */
  readonly upTo?: number;
  /**
   * phones: serve SIP desk phones from a kept-in-memory view of the shared phone tables
   * (phonemirror.ts: loaded at open, re-read every 2 s, writes written through); without it
   * `phones` throws PROVD_ERR_STORE.
   */
  readonly phones?: boolean;
}

/** MIGRATION_LOCK is the advisory lock key the schema steps run under (any constant; "provd" in ASCII). */
const MIGRATION_LOCK = 0x70726f7664;

/** TABLES are the store's tables, in an order that copies (foreign-key free) cleanly. */
export const STORE_TABLES = ['users', 'devices', 'provisioning_keys', 'phone_configs', 'phone_devices', 'bans', 'remembered_logins', 'api_tokens'] as const;

/** redactUrl shows a URL without its password (logs, errors). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** readPassword reads the first line of store.passwordFile (undefined: none configured). */
function readPassword(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (err) {
    throw new ProvError('PROVD_ERR_STORE', `cannot read store.passwordFile ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * withPassword puts the password into the URL's user-info (node-postgres lets a URL's empty
 * password override a `password` option), keeping a unix-socket URL (`user@/db?host=…`) as it is.
 */
export function withPassword(url: string, password: string): string {
  const m = /^(postgres(?:ql)?:\/\/)(?:([^:@/?#]*)(?::[^@/?#]*)?@)?/.exec(url);
  if (!m) return url;
  return `${m[1] ?? ''}${m[2] ?? ''}:${encodeURIComponent(password)}@${url.slice(m[0].length)}`;
}

/** UNAVAILABLE_CODES are SQLSTATEs and socket errors meaning "the server cannot serve now": retried later, never a crash. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT', '57014', '57P01', '57P02', '57P03', '53300', '40001', '40P01']);

/** unavailable tells whether an error means the server is down, slow or overloaded (not a bad statement). */
function unavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  const m = errorMessage(err);
  return /timeout|Connection terminated|Client has encountered a connection error|connect ECONN/i.test(m);
}

/** PgStats are the counters the HTTP face shows (SIGUSR1, ctl stats). */
interface PgStats {
  queries: number;
  unavailable: number;
  refused: number;
  errors: number;
  idleErrors: number;
}

/** Db is the pool with the bounds and error mapping applied. */
class Db {
  readonly counters: PgStats = { queries: 0, unavailable: 0, refused: 0, errors: 0, idleErrors: 0 };

  constructor(
    readonly pool: Pool,
    private readonly maxWaiting: number,
    readonly location: string,
  ) {}

  /** admit refuses a query when too many already wait for a connection. */
  private admit(what: string): void {
    if (this.pool.waitingCount >= this.maxWaiting) {
      this.counters.refused++;
      throw new StoreBusyError(`the PostgreSQL store ${this.location} is saturated: ${this.pool.waitingCount} queries already wait for a connection (${what})`);
    }
    this.counters.queries++;
  }

  /** fail maps a driver error: unavailable → StoreBusyError (retry later), anything else as it is. */
  fail(what: string, err: unknown): never {
    if (err instanceof StoreBusyError || err instanceof ProvError) throw err;
    if (unavailable(err)) {
      this.counters.unavailable++;
      throw new StoreBusyError(`the PostgreSQL store ${this.location} is unavailable (${what}: ${errorMessage(err)})`, { cause: err });
    }
    this.counters.errors++;
    throw new ProvError('PROVD_ERR_STORE', `the PostgreSQL store ${this.location} refused ${what}: ${errorMessage(err)}`, { cause: err });
  }

  async q<R extends QueryResultRow>(what: string, sql: string, params: readonly unknown[] = []): Promise<{ rows: R[]; rowCount: number }> {
    this.admit(what);
    try {
      const r = await this.pool.query<R>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    } catch (err) {
      return this.fail(what, err);
    }
  }

  /** tx runs f in one transaction on one connection (rolled back when f throws). */
  async tx<T>(what: string, f: (c: PoolClient) => Promise<T>): Promise<T> {
    this.admit(what);
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      return this.fail(what, err);
    }
    let broken = false;
    // A connection that dies while checked out emits 'error' on the client: without a listener
    // that would be an uncaught exception (a server restarting under a transaction).
    const onError = (): void => {
      broken = true;
      this.counters.idleErrors++;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const out = await f(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection is gone: do not hand it out again
      }
      return this.fail(what, err);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }
}

/** QUOTA_WINDOW_MS is one device-quota window (an hour: devices.maxNewPerSourcePerHour). */
const QUOTA_WINDOW_MS = 3_600_000;

/** MAX_QUOTA_ROWS caps the device_quota rows kept (beyond, the oldest windows' go at a prune). */
export const MAX_QUOTA_ROWS = 100_000;

/**
 * TAKE_QUOTA grants one device to a source in its hour window ($1 source, $2 window start,
 * $3 limit, $4 the previous window's weight): one statement, so two nodes granting at once are
 * ordered by the row lock of ON CONFLICT and never both take the last grant. The insert (first
 * grant of the window) and the update both require this window's grants + 1 + the previous
 * window's weighted, rounded up, to stay within the limit; no row back means refused.
 */
const TAKE_QUOTA = `WITH prev AS (
    SELECT COALESCE(MAX(n), 0) AS p FROM device_quota WHERE source = $1 AND window_start = $2::bigint - ${QUOTA_WINDOW_MS}
  )
  INSERT INTO device_quota AS q (source, window_start, n)
    SELECT $1, $2::bigint, 1 FROM prev WHERE ceil(prev.p * $4::float8) + 1 <= $3::integer
  ON CONFLICT (source, window_start) DO UPDATE SET n = q.n + 1
    WHERE q.n + 1 + (SELECT ceil(prev.p * $4::float8) FROM prev) <= $3::integer
  RETURNING n`;

/** FORGET_REMEMBERED deletes one user's remembered verifications ($1 tenant, $2 lower-case name). */
const FORGET_REMEMBERED = 'DELETE FROM remembered_logins WHERE tenant = $1 AND name = $2';

const UPSERT_DEVICE = `INSERT INTO devices (key, uuid, hwaddr, ip, hostname, osname, arch, build, user_agent, username, tenant, first_seen, last_seen, last_outcome, requests, provisioned_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $12)
  ON CONFLICT (key) DO UPDATE SET
    uuid = COALESCE(excluded.uuid, devices.uuid), hwaddr = COALESCE(excluded.hwaddr, devices.hwaddr), ip = excluded.ip,
    hostname = COALESCE(excluded.hostname, devices.hostname), osname = COALESCE(excluded.osname, devices.osname),
    arch = COALESCE(excluded.arch, devices.arch), build = COALESCE(excluded.build, devices.build),
    user_agent = COALESCE(excluded.user_agent, devices.user_agent), username = COALESCE(excluded.username, devices.username),
    tenant = excluded.tenant, last_seen = excluded.last_seen, last_outcome = excluded.last_outcome, requests = devices.requests + excluded.requests,
    provisioned_at = COALESCE(devices.provisioned_at, excluded.provisioned_at)
  WHERE devices.tenant = excluded.tenant`;
const FAIL_DEVICE = 'UPDATE devices SET requests = requests + $1, failures = failures + $1, last_failure_at = $2, last_failure = $3 WHERE key = $4 AND tenant = $5';

/** deviceStatement is the statement and parameters of `count` observations of one device (as sqlite.ts). */
function deviceStatement(o: DeviceObservation, count: number): [string, unknown[]] {
  if (o.outcome.startsWith('200 ')) return [UPSERT_DEVICE, [o.key, o.uuid, o.hwaddr, o.ip, o.hostname, o.osname, o.arch, o.build, o.userAgent, o.username, o.tenant, o.at, o.outcome, count]];
  return [FAIL_DEVICE, [count, o.at, o.outcome, o.key, o.tenant]];
}

/** migratePostgres brings the database to `target` under the advisory lock; it returns the level. */
export async function migratePostgres(db: Db, target: number = SCHEMA_VERSION): Promise<number> {
  return db.tx('schema migration', async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS provisiond_schema (version INTEGER NOT NULL)');
    const r = await c.query<{ version: number }>('SELECT version FROM provisiond_schema');
    let level = r.rows[0]?.version ?? 0;
    if (r.rows.length === 0) await c.query('INSERT INTO provisiond_schema (version) VALUES (0)');
    if (level > SCHEMA_VERSION) {
      throw new ProvError('PROVD_ERR_STORE', `the PostgreSQL store ${db.location} is at schema version ${level}, newer than this provisiond (${SCHEMA_VERSION}); refusing to use it`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= level || m.version > target) continue;
      await c.query(m.pg ?? m.sql);
      await c.query('UPDATE provisiond_schema SET version = $1', [m.version]);
      level = m.version;
    }
    return level;
  });
}

/** connect makes the bounded pool (nothing is connected yet). */
function connect(opts: PostgresOptions): Db {
  const password = readPassword(opts.passwordFile);
  const p = opts.pool;
  const pool = new Pool({
    connectionString: password === undefined ? opts.url : withPassword(opts.url, password),
    max: p.max,
    connectionTimeoutMillis: Math.round(p.connectTimeout * 1000),
    idleTimeoutMillis: 30_000,
    statement_timeout: Math.round(p.statementTimeout * 1000),
    query_timeout: Math.round(p.statementTimeout * 1000) + 1000,
    application_name: 'provisiond',
    allowExitOnIdle: true,
  });
  const db = new Db(pool, p.maxWaiting, redactUrl(opts.url));
  // An idle connection the server drops (restart, failover) must not crash the process: counted.
  pool.on('error', () => {
    db.counters.idleErrors++;
  });
  return db;
}

/** openDb connects and migrates, or throws PROVD_ERR_STORE_UNREACHABLE naming the server and the reason. */
async function openDb(opts: PostgresOptions): Promise<{ db: Db; version: number }> {
  const db = connect(opts);
  try {
    return { db, version: await migratePostgres(db, opts.upTo) };
  } catch (err) {
    await db.pool.end().catch(() => undefined);
    if (err instanceof ProvError && /newer than this provisiond/.test(err.message)) throw err;
    throw new ProvError(
      'PROVD_ERR_STORE_UNREACHABLE',
      `cannot reach the PostgreSQL store ${db.location}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}; check store.url (host, port, database, user, sslmode), the password (store.passwordFile or $PGPASSWORD) and that the server accepts this host`,
      { cause: err },
    );
  }
}

const phoneUnavailable = (): never => {
  throw new ProvError('PROVD_ERR_STORE', 'SIP desk phones need the embedded SQLite store (store.url is PostgreSQL): leave store.url out to manage phones');
};
const noPhones: PhoneRepository = {
  getConfig: phoneUnavailable, listConfigs: phoneUnavailable, putConfig: phoneUnavailable, deleteConfig: phoneUnavailable,
  get: phoneUnavailable, getBySerial: phoneUnavailable, getByIp: phoneUnavailable, list: phoneUnavailable, count: phoneUnavailable,
  add: phoneUnavailable, update: phoneUnavailable, delete: phoneUnavailable, setProfile: phoneUnavailable, observe: phoneUnavailable, observeMany: phoneUnavailable,
};

/** openPostgresStore connects, migrates and returns the store (PROVD_ERR_STORE_UNREACHABLE when the server cannot be reached). */
export async function openPostgresStore(opts: PostgresOptions, banCap: number = MAX_STORED_BANS): Promise<Store> {
  const { db, version } = await openDb(opts);
  const now = (): string => new Date().toISOString();

  const users: UserRepository = {
    get: async (domain, name) => {
      const r = await db.q<UserRow>('user lookup', 'SELECT * FROM users WHERE domain = $1 AND name = $2', [domain, name.toLowerCase()]);
      const row = r.rows[0];
      return row ? toUser(row) : undefined;
    },
    getMany: async (keys) => {
      if (keys.length === 0) return [];
      const r = await db.q<UserRow>('user lookup', 'SELECT u.* FROM users u JOIN unnest($1::text[], $2::text[]) AS k(domain, name) ON u.domain = k.domain AND u.name = k.name', [keys.map((k) => k.domain), keys.map((k) => k.name.toLowerCase())]);
      return r.rows.map(toUser);
    },
    list: async (domain) =>
      (domain === undefined ? await db.q<UserRow>('user list', 'SELECT * FROM users ORDER BY domain, name') : await db.q<UserRow>('user list', 'SELECT * FROM users WHERE domain = $1 ORDER BY name', [domain])).rows.map(toUser),
    add: async (u) => {
      const t = now();
      const r = await db.q('user insert', 'INSERT INTO users (domain, name, password_hash, attributes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING', [u.domain, u.name.toLowerCase(), u.passwordHash, JSON.stringify(u.attributes ?? {}), t]);
      return r.rowCount === 1;
    },
    upsert: async (u) => {
      const t = now();
      await db.tx('user upsert', async (c) => {
        await c.query(
          `INSERT INTO users (domain, name, password_hash, attributes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
           ON CONFLICT (domain, name) DO UPDATE SET password_hash = excluded.password_hash, attributes = excluded.attributes, updated_at = excluded.updated_at`,
          [u.domain, u.name.toLowerCase(), u.passwordHash, JSON.stringify(u.attributes ?? {}), t],
        );
        await c.query(FORGET_REMEMBERED, [u.domain, u.name.toLowerCase()]);
      });
    },
    // A password write or a deletion drops the user's remembered verifications in the same
    // transaction (as sqlite.ts): no node can answer from a verifier of the old password.
    setPassword: async (domain, name, hash) =>
      db.tx('password update', async (c) => {
        const r = await c.query('UPDATE users SET password_hash = $1, updated_at = $2 WHERE domain = $3 AND name = $4', [hash, now(), domain, name.toLowerCase()]);
        await c.query(FORGET_REMEMBERED, [domain, name.toLowerCase()]);
        return r.rowCount === 1;
      }),
    setAttributes: async (domain, name, attributes) =>
      (await db.q('attributes update', 'UPDATE users SET attributes = $1, updated_at = $2 WHERE domain = $3 AND name = $4', [JSON.stringify(attributes), now(), domain, name.toLowerCase()])).rowCount === 1,
    remove: async (domain, name) =>
      db.tx('user removal', async (c) => {
        const r = await c.query('DELETE FROM users WHERE domain = $1 AND name = $2', [domain, name.toLowerCase()]);
        await c.query(FORGET_REMEMBERED, [domain, name.toLowerCase()]);
        return r.rowCount === 1;
      }),
  };

  const remembered: RememberedLoginRepository = {
    has: async (verifier, keyId, t) =>
      (await db.q('remembered login lookup', 'SELECT 1 FROM remembered_logins WHERE verifier = $1 AND key_id = $2 AND expires_at > $3', [verifier, keyId, Math.floor(t)])).rowCount > 0,
    hasMany: async (verifiers, keyId, t) => {
      if (verifiers.length === 0) return new Set<string>();
      const r = await db.q<{ verifier: string }>('remembered login lookup', 'SELECT verifier FROM remembered_logins WHERE verifier = ANY($1::text[]) AND key_id = $2 AND expires_at > $3', [verifiers, keyId, Math.floor(t)]);
      return new Set(r.rows.map((x) => x.verifier));
    },
    putMany: async (rows, t, cap) =>
      db.tx('remembered login write', async (c) => {
        await c.query('DELETE FROM remembered_logins WHERE expires_at <= $1', [Math.floor(t)]);
        let n = 0;
        for (const r of rows) {
          if (r.expiresAt <= t) continue;
          await c.query(
            `INSERT INTO remembered_logins (verifier, tenant, name, key_id, expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (verifier) DO UPDATE SET tenant = excluded.tenant, name = excluded.name, key_id = excluded.key_id, expires_at = excluded.expires_at`,
            [r.verifier, r.tenant, r.name.toLowerCase(), r.keyId, Math.floor(r.expiresAt)],
          );
          n++;
        }
        const total = Number((await c.query<{ n: string }>('SELECT COUNT(*) AS n FROM remembered_logins')).rows[0]?.n ?? 0);
        const limit = Math.max(0, Math.floor(cap));
        // Over the cap, the rows expiring first go, down to 90 % of it (as store/remembered.ts).
        if (total > limit) await c.query('DELETE FROM remembered_logins WHERE verifier IN (SELECT verifier FROM remembered_logins ORDER BY expires_at LIMIT $1)', [total - Math.floor(limit * 0.9)]);
        return n;
      }),
    forgetUser: async (tenant, name) => (await db.q('remembered login removal', FORGET_REMEMBERED, [tenant, name.toLowerCase()])).rowCount,
    purgeOtherKeys: async (keyId) => (await db.q('remembered login purge', 'DELETE FROM remembered_logins WHERE key_id <> $1', [keyId])).rowCount,
    clear: async () => (await db.q('remembered login purge', 'DELETE FROM remembered_logins')).rowCount,
    count: async () => Number((await db.q<{ n: string }>('remembered login count', 'SELECT COUNT(*) AS n FROM remembered_logins')).rows[0]?.n ?? 0),
  };

  const devices: DeviceRepository = {
    upsert: async (o) => {
      const [sql, params] = deviceStatement(o, 1);
      await db.q('device upsert', sql, params);
    },
    upsertMany: async (writes: readonly DeviceWrite[]) => {
      await db.tx('device upserts', async (c) => {
        for (const w of writes) {
          const [sql, params] = deviceStatement(w.obs, w.count);
          await c.query(sql, params);
        }
      });
    },
    get: async (key) => {
      const row = (await db.q<DeviceRow>('device lookup', 'SELECT * FROM devices WHERE key = $1', [key])).rows[0];
      return row ? toDevice(row) : undefined;
    },
    list: async () => (await db.q<DeviceRow>('device list', 'SELECT * FROM devices ORDER BY last_seen DESC, key')).rows.map(toDevice),
    count: async () => Number((await db.q<{ n: string }>('device count', 'SELECT COUNT(*) AS n FROM devices')).rows[0]?.n ?? 0),
    pruneUnprovisioned: async (before) => (await db.q('device pruning', 'DELETE FROM devices WHERE provisioned_at IS NULL AND first_seen < $1', [before])).rowCount,
    remove: async (key) => (await db.q('device removal', 'DELETE FROM devices WHERE key = $1', [key])).rowCount === 1,
  };

  const tokens: TokenRepository = {
    list: async () => (await db.q<TokenRow>('token list', 'SELECT * FROM api_tokens ORDER BY created_at, id')).rows.map(toToken),
    byHash: async (hash) => {
      const row = (await db.q<TokenRow>('token lookup', 'SELECT * FROM api_tokens WHERE hash = $1', [hash])).rows[0];
      return row ? toToken(row) : undefined;
    },
    add: async (t) => {
      await db.q('token write', 'INSERT INTO api_tokens (id, hash, name, tenant, scopes, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)', [t.id, t.hash, t.name, t.tenant, t.scopes.join(','), t.createdAt]);
    },
    revoke: async (id) => (await db.q('token revocation', 'DELETE FROM api_tokens WHERE id = $1', [id])).rowCount === 1,
    touch: async (id, at) => {
      await db.q('token use', 'UPDATE api_tokens SET last_used_at = $1 WHERE id = $2', [at, id]);
    },
  };

  const keys: KeyRepository = {
    list: async () =>
      (await db.q<{ tenant: string; hash: string; created_at: string; expires_at: string | null }>('key list', 'SELECT tenant, hash, created_at, expires_at FROM provisioning_keys ORDER BY tenant, created_at')).rows.map(
        (r): StoredKey => ({ tenant: r.tenant, hash: r.hash, createdAt: r.created_at, expiresAt: r.expires_at }),
      ),
    rotate: async (tenant, hash, at, graceUntil) => {
      await db.tx('key rotation', async (c) => {
        // Two nodes (or CLIs) rotating one tenant at once: one after the other.
        await c.query("SELECT pg_advisory_xact_lock(hashtext('provisiond key ' || $1))", [tenant]);
        await c.query('DELETE FROM provisioning_keys WHERE tenant = $1 AND expires_at IS NOT NULL', [tenant]);
        await c.query('UPDATE provisioning_keys SET expires_at = $1 WHERE tenant = $2 AND expires_at IS NULL', [graceUntil, tenant]);
        await c.query('INSERT INTO provisioning_keys (hash, tenant, created_at, expires_at) VALUES ($1, $2, $3, NULL)', [hash, tenant, at]);
      });
    },
  };

  const bans: BanRepository = {
    list: async (face, t) =>
      db.tx('ban list', async (c) => {
        await c.query('DELETE FROM bans WHERE until <= $1', [Math.floor(t)]);
        const r = await c.query<{ face: string; scope: string; subject: string; since: string; until: string; reason: string }>(
          'SELECT face, scope, subject, since, until, reason FROM bans WHERE face = $1 AND until > $2 ORDER BY since, subject',
          [face, Math.floor(t)],
        );
        return r.rows.map((b): StoredBan => ({ face: b.face, scope: b.scope === 'user' ? 'user' : 'ip', subject: b.subject, since: Number(b.since), until: Number(b.until), reason: b.reason }));
      }),
    put: async (b) => {
      await db.tx('ban write', async (c) => {
        await c.query('DELETE FROM bans WHERE until <= $1', [Date.now()]);
        await c.query(
          `INSERT INTO bans (face, scope, subject, since, until, reason) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (face, scope, subject) DO UPDATE SET since = excluded.since, until = excluded.until, reason = excluded.reason`,
          [b.face, b.scope, b.subject, Math.floor(b.since), Math.floor(b.until), b.reason],
        );
        const n = Number((await c.query<{ n: string }>('SELECT COUNT(*) AS n FROM bans WHERE face = $1', [b.face])).rows[0]?.n ?? 0);
        if (n > banCap) {
          // Over the cap, the bans ending first go, down to 90 % of it (as bans.ts).
          await c.query('DELETE FROM bans WHERE face = $1 AND (scope, subject) IN (SELECT scope, subject FROM bans WHERE face = $1 ORDER BY until LIMIT $2)', [b.face, n - Math.floor(banCap * 0.9)]);
        }
      });
    },
    remove: async (face, scope, subject) => (await db.q('ban removal', 'DELETE FROM bans WHERE face = $1 AND scope = $2 AND subject = $3', [face, scope, subject])).rowCount === 1,
  };

  const quota: DeviceQuotaRepository = {
    take: async (source, t, limit) => {
      if (limit <= 0) return false;
      const start = Math.floor(t / QUOTA_WINDOW_MS) * QUOTA_WINDOW_MS;
      const weight = 1 - (t - start) / QUOTA_WINDOW_MS;
      return (await db.q('device quota', TAKE_QUOTA, [source, start, Math.floor(limit), weight])).rowCount === 1;
    },
    prune: async (t) =>
      db.tx('device quota pruning', async (c) => {
        const start = Math.floor(t / QUOTA_WINDOW_MS) * QUOTA_WINDOW_MS;
        let n = (await c.query('DELETE FROM device_quota WHERE window_start < $1', [start - QUOTA_WINDOW_MS])).rowCount ?? 0;
        const total = Number((await c.query<{ n: string }>('SELECT COUNT(*) AS n FROM device_quota')).rows[0]?.n ?? 0);
        // Over the cap, the oldest windows' rows go, down to 90 % of it (as the bans).
        if (total > MAX_QUOTA_ROWS) {
          n += (await c.query('DELETE FROM device_quota WHERE (source, window_start) IN (SELECT source, window_start FROM device_quota ORDER BY window_start LIMIT $1)', [total - Math.floor(MAX_QUOTA_ROWS * 0.9)])).rowCount ?? 0;
        }
        return n;
      }),
  };

  // The users the phones name (their lines), not the whole directory.
  const NAMED_USERS = `FROM users u JOIN (SELECT DISTINCT tenant, lower(jsonb_array_elements_text(users::jsonb)) AS name FROM phone_devices) p ON u.domain = p.tenant AND u.name = p.name`;
  const phoneTables: PhoneTables = {
    // Versioned by the row's xmin (the transaction that wrote this version of it): the view
    // re-reads every 2 s, and sends only what changed since the versions it holds. One snapshot
    // (REPEATABLE READ) for the versions and the rows.
    read: async (known) =>
      db.tx('phone tables read', async (c) => {
        await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        const versions = new Map<string, string>();
        const changed = (k: string, v: string): boolean => {
          versions.set(k, v);
          return known?.get(k) !== v;
        };
        const cv = (await c.query<{ tenant: string; id: string; v: string }>('SELECT tenant, id, xmin::text AS v FROM phone_configs')).rows.filter((r) => changed(ckey(r.tenant, r.id), r.v));
        const dv = (await c.query<{ mac: string; v: string }>('SELECT mac, xmin::text AS v FROM phone_devices')).rows.filter((r) => changed(dkey(r.mac), r.v));
        const uv = (await c.query<{ domain: string; name: string; v: string }>(`SELECT DISTINCT u.domain, u.name, u.xmin::text AS v ${NAMED_USERS}`)).rows.filter((r) => changed(ukey(r.domain, r.name), r.v));
        return {
          configs:
            cv.length === 0
              ? []
              : (await c.query<RawRow>(`SELECT ${CONFIG_COLUMNS.join(', ')} FROM phone_configs WHERE (tenant, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [cv.map((r) => r.tenant), cv.map((r) => r.id)])).rows,
          devices: dv.length === 0 ? [] : (await c.query<RawRow>(`SELECT ${DEVICE_COLUMNS.join(', ')} FROM phone_devices WHERE mac = ANY($1::text[])`, [dv.map((r) => r.mac)])).rows,
          keys: (await c.query<{ tenant: string; hash: string; created_at: string; expires_at: string | null }>('SELECT tenant, hash, created_at, expires_at FROM provisioning_keys ORDER BY tenant, created_at')).rows.map(
            (r): StoredKey => ({ tenant: r.tenant, hash: r.hash, createdAt: r.created_at, expiresAt: r.expires_at }),
          ),
          users: uv.length === 0 ? [] : (await c.query<UserRow>('SELECT * FROM users WHERE (domain, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))', [uv.map((r) => r.domain), uv.map((r) => r.name)])).rows,
          versions,
        };
      }),
    write: async (puts, dels, seen) => {
      await db.tx('phone write', async (c) => {
        for (const r of seen) {
          await c.query(`UPDATE phone_devices SET ${SIGHTING_COLUMNS.map((col, i) => `${col} = $${i + 2}`).join(', ')} WHERE mac = $1`, [r['mac'], ...SIGHTING_COLUMNS.map((col) => r[col] ?? null)]);
        }
        for (const d of dels) {
          if (d.table === 'phone_configs') await c.query('DELETE FROM phone_configs WHERE tenant = $1 AND id = $2', [d.key['tenant'], d.key['id']]);
          else await c.query('DELETE FROM phone_devices WHERE mac = $1', [d.key['mac']]);
        }
        for (const p of puts) {
          const cols: readonly string[] = p.table === 'phone_configs' ? CONFIG_COLUMNS : DEVICE_COLUMNS;
          const pk = p.table === 'phone_configs' ? '(tenant, id)' : '(mac)';
          const set = cols.filter((col) => !(p.table === 'phone_configs' ? ['tenant', 'id'] : ['mac']).includes(col)).map((col) => `${col} = excluded.${col}`);
          if (p.table === 'phone_configs' && p.row['role'] !== 'none') {
            // One default/autoprov per tenant (a unique index): the view already moved the role here.
            await c.query("UPDATE phone_configs SET role = 'none' WHERE tenant = $1 AND role = $2 AND id <> $3", [p.row['tenant'], p.row['role'], p.row['id']]);
          }
          await c.query(
            `INSERT INTO ${p.table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT ${pk} DO UPDATE SET ${set.join(', ')}`,
            cols.map((col) => p.row[col] ?? null),
          );
        }
      });
    },
  };
  let mirror: PhoneMirror | undefined;
  if (opts.phones === true) {
    try {
      mirror = await PhoneMirror.open(phoneTables);
    } catch (err) {
      await db.pool.end().catch(() => undefined);
      throw err;
    }
  }

  let closed: Promise<void> | undefined;
  return {
    users,
    devices,
    keys,
    tokens,
    bans,
    remembered,
    quota,
    phones: mirror?.repo ?? noPhones,
    sync: mirror?.sync,
    backend: 'postgres',
    schemaVersion: version,
    location: db.location,
    stats: () => ({
      'store-pg-queries': db.counters.queries,
      'store-pg-unavailable': db.counters.unavailable,
      'store-pg-refused:saturated': db.counters.refused,
      'store-pg-errors': db.counters.errors,
      'store-pg-idle-errors': db.counters.idleErrors,
      'store-pg-connections': db.pool.totalCount,
      'store-pg-waiting': db.pool.waitingCount,
      ...(mirror ? { 'store-pg-phone-write-errors': mirror.stats.writeErrors, 'store-pg-phone-refresh-errors': mirror.stats.refreshErrors, 'store-pg-phone-refreshes': mirror.stats.refreshes } : {}),
    }),
    close: () => (closed ??= (mirror?.close() ?? Promise.resolve()).catch(() => undefined).then(() => db.pool.end().catch(() => undefined))),
  };
}

/** TableRows is one table's rows to copy (column names as in the schema). */
export interface TableRows {
  readonly table: (typeof STORE_TABLES)[number];
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
}

/** COPY_BATCH: rows per INSERT when copying a store. */
const COPY_BATCH = 500;

/**
 * importInto copies tables into a PostgreSQL store (migrated first) in one transaction, and only
 * into an empty one: a target holding any row is refused (PROVD_ERR_STORE, the counts named), so
 * a second run changes nothing. It returns the rows copied per table.
 */
export async function importInto(opts: PostgresOptions, tables: readonly TableRows[]): Promise<Record<string, number>> {
  const { db } = await openDb(opts);
  try {
    return await db.tx('store copy', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const held: string[] = [];
      for (const t of STORE_TABLES) {
        const n = Number((await c.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0]?.n ?? 0);
        if (n > 0) held.push(`${n} ${t}`);
      }
      if (held.length > 0) {
        throw new ProvError('PROVD_ERR_STORE', `the PostgreSQL store ${db.location} is not empty (${held.join(', ')}): store migrate copies into an empty database only, and copied nothing; use a new database, or empty this one`);
      }
      const copied: Record<string, number> = {};
      for (const t of tables) {
        if (!(STORE_TABLES as readonly string[]).includes(t.table) || t.columns.some((col) => !/^[a-z_]+$/.test(col))) throw new ProvError('PROVD_ERR_STORE', `cannot copy table ${t.table}`);
        for (let i = 0; i < t.rows.length; i += COPY_BATCH) {
          const batch = t.rows.slice(i, i + COPY_BATCH);
          const params: unknown[] = [];
          const values = batch.map((row) => `(${row.map((v) => `$${params.push(v)}`).join(', ')})`);
          await c.query(`INSERT INTO ${t.table} (${t.columns.join(', ')}) VALUES ${values.join(', ')}`, params);
        }
        copied[t.table] = t.rows.length;
      }
      return copied;
    });
  } finally {
    await db.pool.end().catch(() => undefined);
  }
}
