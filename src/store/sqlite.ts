/**
 * sqlite.ts: the embedded store: one SQLite file in stateDir (better-sqlite3, WAL).
 *
 * better-sqlite3 is synchronous; every statement here is a point lookup or a single-row write
 * on an indexed key, a few microseconds each, so it runs on the event loop. What could take
 * longer is waiting for another process's lock: the daemon opens the store with no busy timeout
 * (busyTimeoutMs: 0), gets StoreBusyError at once, and retries later (writebehind.ts). WAL lets
 * its reads go on while another process writes.
 */
import Database, { type Db } from './driver';
import { mkdirSync, statSync, chownSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import { createPhoneRepository } from './phones';
import { createBanRepository } from './bans';
import { createRememberedLoginRepository } from './remembered';
import { toDevice, toToken, toUser, type DeviceRow, type TokenRow, type UserRow } from './rows';
import { StoreBusyError, type Async, type DeviceObservation, type DeviceWrite, type PhoneRepository, type Store, type StoredKey, type SyncBanRepository, type SyncDeviceRepository, type SyncKeyRepository, type SyncTokenRepository, type SyncUserRepository } from './repository';
import { ProvError, errorMessage } from '../errors';

/** STORE_FILE is the database file name inside stateDir. */
export const STORE_FILE = 'provisiond.sqlite';

/** OpenOptions: `upTo` stops migrating at a level (tests build every earlier version with it). */
export interface OpenOptions {
  readonly upTo?: number;
  readonly readonly?: boolean;
  /**
   * check runs `PRAGMA quick_check` before anything else (the daemon, at start): a store
   * corrupted past its header is refused with PROVD_ERR_STORE instead of failing request after
   * request. Linear in the file's size: about 0.15 s for 100 000 devices (a 45 MB file).
   */
  readonly check?: boolean;
  /**
   * busyTimeoutMs: how long a statement waits for another process's lock once the store is open
   * (default 5000: the CLI). The daemon passes 0: better-sqlite3 is synchronous, so any wait would
   * freeze its event loop (DHCP included); it gets StoreBusyError at once and retries later.
   * Opening and migrating always wait up to 5 s (at start, before any face serves).
   */
  readonly busyTimeoutMs?: number;
}

/** isBusy tells whether an SQLite error is another connection's lock (SQLITE_BUSY*, SQLITE_LOCKED*). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** guard runs a statement, turning a lock held elsewhere into StoreBusyError. */
function guard<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (isBusy(err)) throw new StoreBusyError(`the store is locked by another process (${what})`, { cause: err });
    throw err;
  }
}

/** QUICK_CHECK_ERRORS bounds the problems quick_check collects (the first one is reported). */
const QUICK_CHECK_ERRORS = 10;

/** checkIntegrity throws PROVD_ERR_STORE, naming the file and what to do, when quick_check fails. */
export function checkIntegrity(db: Db, location: string): void {
  let problem: string | undefined;
  try {
    const rows = db.pragma(`quick_check(${QUICK_CHECK_ERRORS})`) as { quick_check: string }[];
    const bad = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
    if (bad.length > 0) problem = oneLine(bad[0] ?? '') + (bad.length > 1 ? ` (+${bad.length - 1} more)` : '');
  } catch (err) {
    problem = oneLine(errorMessage(err)); // e.g. "database disk image is malformed"
  }
  if (problem === undefined) return;
  throw new ProvError(
    'PROVD_ERR_STORE',
    `the store ${location} failed its integrity check (${problem}): it is corrupt; ` +
      `stop provisiond, move the file aside (with its -wal and -shm files) and restore it from a backup, or salvage it with ` +
      `'sqlite3 ${location} .recover | sqlite3 new.sqlite'; without a store file provisiond starts with an empty one`,
  );
}

/** oneLine makes a quick_check report one short line. */
function oneLine(s: string): string {
  const t = s.replace(/\*\*\* in database \w+ \*\*\*/g, '').replace(/\s+/g, ' ').trim();
  return t.length > 160 ? `${t.slice(0, 160)}…` : t;
}

/** migrate brings a database to `target`, one transaction per step; it returns the new level. */
export function migrate(db: Db, target: number = SCHEMA_VERSION): number {
  const current = (): number => Number(db.pragma('user_version', { simple: true }));
  let level = current();
  if (level > SCHEMA_VERSION) {
    throw new ProvError('PROVD_ERR_STORE', `the store is at schema version ${level}, newer than this provisiond (${SCHEMA_VERSION}); refusing to use it`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= level || m.version > target) continue;
    // IMMEDIATE takes the write lock first, and the level is re-read under it, so two processes
    // opening a fresh store at once (HTTP workers, the CLI) cannot both apply a step.
    db.transaction(() => {
      if (current() >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    level = current();
  }
  return level;
}

/** openSqliteStore opens (creating and migrating) the store in `stateDir`. */
export function openSqliteStore(stateDir: string, opts: OpenOptions = {}): Store {
  const location = join(stateDir, STORE_FILE);
  let db: Db;
  try {
    // The store holds password hashes and key hashes: 0700 directory, 0600 files (SQLite gives
    // the -wal and -shm files the database file's mode).
    if (!opts.readonly) mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    db = new Database(location, opts.readonly ? { readonly: true, fileMustExist: true } : {});
    if (!opts.readonly) restrictMode(location);
  } catch (err) {
    throw new ProvError('PROVD_ERR_STORE', `cannot open the store ${location}: ${errorMessage(err)}`, { cause: err });
  }
  let version: number;
  try {
    db.pragma('busy_timeout = 5000'); // the CLI and the daemon share the file
    if (opts.check === true) checkIntegrity(db, location);
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable across crashes of the process
      version = migrate(db, opts.upTo);
    } else {
      version = Number(db.pragma('user_version', { simple: true }));
    }
  } catch (err) {
    db.close();
    if (err instanceof ProvError) throw err;
    throw new ProvError('PROVD_ERR_STORE', `cannot prepare the store ${location}: ${errorMessage(err)}`, { cause: err });
  }
  if (!opts.readonly) matchOwner(stateDir, location);
  if (opts.busyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs))}`);
  if (version < SCHEMA_VERSION) {
    // Only tests stop early; they use migrate() on the raw file and need no repositories.
    return {
      users: promised(unavailableUsers), bans: promised(unavailableBans), devices: promised(unavailableDevices), keys: promised(unavailableKeys), phones: unavailablePhones,
      backend: 'sqlite', schemaVersion: version, location,
      close: () => {
        db.close();
        return Promise.resolve();
      },
    };
  }

  const getUser = db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE domain = ? AND name = ?');
  const listUsers = db.prepare<[], UserRow>('SELECT * FROM users ORDER BY domain, name');
  const listUsersIn = db.prepare<[string], UserRow>('SELECT * FROM users WHERE domain = ? ORDER BY name');
  const addUser = db.prepare('INSERT OR IGNORE INTO users (domain, name, password_hash, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
  const upsertUser = db.prepare(
    `INSERT INTO users (domain, name, password_hash, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (domain, name) DO UPDATE SET password_hash = excluded.password_hash, attributes = excluded.attributes, updated_at = excluded.updated_at`,
  );
  const setPw = db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE domain = ? AND name = ?');
  const setAttrs = db.prepare('UPDATE users SET attributes = ?, updated_at = ? WHERE domain = ? AND name = ?');
  const delUser = db.prepare('DELETE FROM users WHERE domain = ? AND name = ?');
  // Any write of a user's password, and a deletion, drops the user's remembered verifications in
  // the same transaction (issue 16): every path (CLI, import, re-hash, admin API) goes through here.
  const forgetRemembered = db.prepare('DELETE FROM remembered_logins WHERE tenant = ? AND name = ?');
  const withForget = <A extends unknown[], R>(f: (...a: A) => R, domain: (...a: A) => [string, string]) =>
    db.transaction((...a: A): R => {
      const r = f(...a);
      forgetRemembered.run(...domain(...a));
      return r;
    });
  const setPwTx = withForget((hash: string, t: string, domain: string, name: string) => setPw.run(hash, t, domain, name).changes === 1, (_h, _t, domain, name) => [domain, name]);
  const upsertUserTx = withForget((domain: string, name: string, hash: string, attrs: string, t: string) => upsertUser.run(domain, name, hash, attrs, t, t), (domain, name) => [domain, name]);
  const delUserTx = withForget((domain: string, name: string) => delUser.run(domain, name).changes === 1, (domain, name) => [domain, name]);
  const upsertDevice = db.prepare(
    `INSERT INTO devices (key, uuid, hwaddr, ip, hostname, osname, arch, build, user_agent, username, tenant, first_seen, last_seen, last_outcome, requests, provisioned_at)
     VALUES (@key, @uuid, @hwaddr, @ip, @hostname, @osname, @arch, @build, @userAgent, @username, @tenant, @at, @at, @outcome, @count, @provisionedAt)
     ON CONFLICT (key) DO UPDATE SET
       uuid = COALESCE(excluded.uuid, uuid), hwaddr = COALESCE(excluded.hwaddr, hwaddr), ip = excluded.ip,
       hostname = COALESCE(excluded.hostname, hostname), osname = COALESCE(excluded.osname, osname),
       arch = COALESCE(excluded.arch, arch), build = COALESCE(excluded.build, build),
       user_agent = COALESCE(excluded.user_agent, user_agent), username = COALESCE(excluded.username, username),
       tenant = excluded.tenant, last_seen = excluded.last_seen, last_outcome = excluded.last_outcome, requests = requests + excluded.requests,
       provisioned_at = COALESCE(provisioned_at, excluded.provisioned_at)
     WHERE devices.tenant = excluded.tenant`,
  );
  // A failed request: counters and the last failure of a known device of the same tenant, nothing else.
  const failDevice = db.prepare(
    `UPDATE devices SET requests = requests + @count, failures = failures + @count, last_failure_at = @at, last_failure = @outcome
     WHERE key = @key AND tenant = @tenant`,
  );
  const writeDevice = (o: DeviceObservation, count: number): void => {
    if (o.outcome.startsWith('200 ')) upsertDevice.run({ ...o, count, provisionedAt: o.at });
    else failDevice.run({ key: o.key, tenant: o.tenant, at: o.at, outcome: o.outcome, count });
  };
  const writeDevices = db.transaction((writes: readonly DeviceWrite[]) => {
    for (const w of writes) writeDevice(w.obs, w.count);
  });
  const countDevices = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM devices');
  const pruneDevices = db.prepare('DELETE FROM devices WHERE provisioned_at IS NULL AND first_seen < ?');
  const getDevice = db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE key = ?');
  const listDevices = db.prepare<[], DeviceRow>('SELECT * FROM devices ORDER BY last_seen DESC, key');

  const listKeys = db.prepare<[], { tenant: string; hash: string; created_at: string; expires_at: string | null }>('SELECT tenant, hash, created_at, expires_at FROM provisioning_keys ORDER BY tenant, created_at');
  const dropOldKeys = db.prepare('DELETE FROM provisioning_keys WHERE tenant = ? AND expires_at IS NOT NULL');
  const retireKey = db.prepare('UPDATE provisioning_keys SET expires_at = ? WHERE tenant = ? AND expires_at IS NULL');
  const addKey = db.prepare('INSERT INTO provisioning_keys (hash, tenant, created_at, expires_at) VALUES (?, ?, ?, NULL)');
  const rotateKey = db.transaction((tenant: string, hash: string, at: string, graceUntil: string) => {
    dropOldKeys.run(tenant);
    retireKey.run(graceUntil, tenant);
    addKey.run(hash, tenant, at);
  });

  const listTokens = db.prepare<[], TokenRow>('SELECT * FROM api_tokens ORDER BY created_at, id');
  const tokenByHash = db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE hash = ?');
  const addToken = db.prepare('INSERT INTO api_tokens (id, hash, name, tenant, scopes, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, NULL)');
  const delToken = db.prepare('DELETE FROM api_tokens WHERE id = ?');
  const touchToken = db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
  const delDevice = db.prepare('DELETE FROM devices WHERE key = ?');

  const now = (): string => new Date().toISOString();
  const users: SyncUserRepository = {
    get: (domain, name) => {
      const r = guard('user lookup', () => getUser.get(domain, name.toLowerCase()));
      return r ? toUser(r) : undefined;
    },
    list: (domain) => (domain === undefined ? listUsers.all() : listUsersIn.all(domain)).map(toUser),
    add: (u) => {
      const t = now();
      return addUser.run(u.domain, u.name.toLowerCase(), u.passwordHash, JSON.stringify(u.attributes ?? {}), t, t).changes === 1;
    },
    upsert: (u) => {
      const t = now();
      upsertUserTx(u.domain, u.name.toLowerCase(), u.passwordHash, JSON.stringify(u.attributes ?? {}), t);
    },
    setPassword: (domain, name, hash) => guard('password update', () => setPwTx(hash, now(), domain, name.toLowerCase())),
    setAttributes: (domain, name, attributes) => guard('attributes update', () => setAttrs.run(JSON.stringify(attributes), now(), domain, name.toLowerCase()).changes === 1),
    remove: (domain, name) => delUserTx(domain, name.toLowerCase()),
  };
  const devices: SyncDeviceRepository = {
    upsert: (o) => guard('device upsert', () => writeDevice(o, 1)),
    upsertMany: (writes) => guard('device upserts', () => writeDevices.immediate(writes)),
    get: (key) => {
      const r = guard('device lookup', () => getDevice.get(key));
      return r ? toDevice(r) : undefined;
    },
    list: () => guard('device list', () => listDevices.all()).map(toDevice),
    count: () => guard('device count', () => countDevices.get()?.n ?? 0),
    pruneUnprovisioned: (before) => guard('device pruning', () => pruneDevices.run(before).changes),
    remove: (key) => guard('device removal', () => delDevice.run(key).changes === 1),
  };
  const tokens: SyncTokenRepository = {
    list: () => guard('token list', () => listTokens.all()).map(toToken),
    byHash: (hash) => {
      const r = guard('token lookup', () => tokenByHash.get(hash));
      return r ? toToken(r) : undefined;
    },
    add: (t) => {
      guard('token write', () => addToken.run(t.id, t.hash, t.name, t.tenant, t.scopes.join(','), t.createdAt));
    },
    revoke: (id) => guard('token revocation', () => delToken.run(id).changes === 1),
    touch: (id, at) => {
      guard('token use', () => touchToken.run(at, id));
    },
  };
  const keys: SyncKeyRepository = {
    // WAL: a writer never blocks this read; a lock no reader can pass (exclusive locking mode)
    // cannot be taken while the daemon has the file open, so key lookups never wait either.
    list: () => guard('key list', () => listKeys.all()).map((r): StoredKey => ({ tenant: r.tenant, hash: r.hash, createdAt: r.created_at, expiresAt: r.expires_at })),
    rotate: (tenant, hash, at, graceUntil) => {
      rotateKey.immediate(tenant, hash, at, graceUntil);
    },
  };
  const phones = createPhoneRepository(db, guard);
  const bans = createBanRepository(db, guard);
  const remembered = createRememberedLoginRepository(db, guard);
  let closed = false;
  return {
    users: promised(users),
    bans: promised(bans),
    devices: promised(devices),
    keys: promised(keys),
    tokens: promised(tokens),
    phones,
    remembered,
    sync: { users, keys },
    backend: 'sqlite',
    schemaVersion: version,
    location,
    setBusyTimeout: (ms) => {
      if (!closed) db.pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
    },
    close: () => {
      if (!closed) {
        closed = true;
        db.close();
      }
      return Promise.resolve();
    },
  };
}

/** restrictMode makes a store file 0600 when this process owns it (best effort). */
function restrictMode(file: string): void {
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0 && (process.getuid === undefined || st.uid === process.getuid() || process.getuid() === 0)) chmodSync(file, 0o600);
  } catch {
    // best effort: a file we cannot chmod is reported when it cannot be used
  }
}

/**
 * matchOwner gives the database files the owner of stateDir when root opened them: the CLI
 * (run as root) must not leave a root-owned -wal or -shm file that the daemon, running as its
 * own (systemd DynamicUser) user, can no longer write.
 */
function matchOwner(stateDir: string, location: string): void {
  if (process.getuid?.() !== 0) return;
  try {
    const dir = statSync(stateDir);
    if (dir.uid === 0) return;
    for (const f of [location, `${location}-wal`, `${location}-shm`]) {
      if (existsSync(f) && statSync(f).uid !== dir.uid) chownSync(f, dir.uid, dir.gid);
    }
  } catch {
    // best effort: the daemon reports a store it cannot write
  }
}

const unavailable = (): never => {
  throw new ProvError('PROVD_ERR_STORE', 'the store is not migrated to the current schema');
};
const unavailableUsers: SyncUserRepository = { get: unavailable, list: unavailable, add: unavailable, upsert: unavailable, setPassword: unavailable, setAttributes: unavailable, remove: unavailable };
const unavailableDevices: SyncDeviceRepository = { upsert: unavailable, upsertMany: unavailable, get: unavailable, list: unavailable, count: unavailable, pruneUnprovisioned: unavailable };
const unavailableBans: SyncBanRepository = { list: unavailable, put: unavailable, remove: unavailable };
const unavailableKeys: SyncKeyRepository = { list: unavailable, rotate: unavailable };
const unavailablePhones: PhoneRepository = {
  getConfig: unavailable, listConfigs: unavailable, putConfig: unavailable, deleteConfig: unavailable,
  get: unavailable, getBySerial: unavailable, getByIp: unavailable, list: unavailable, count: unavailable,
  add: unavailable, update: unavailable, delete: unavailable, setProfile: unavailable, observe: unavailable, observeMany: unavailable,
};

/**
 * promised wraps a synchronous repository in its asynchronous contract (repository.ts, Async):
 * each call runs at once, as before, and its result or error (StoreBusyError included) is a
 * settled promise, so the daemon still never waits for another process's lock.
 */
export function promised<T extends object>(sync: T): Async<T> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(sync)) {
    if (typeof f !== 'function') continue;
    out[name] = (...args: unknown[]): Promise<unknown> => {
      try {
        return Promise.resolve((f as (...a: unknown[]) => unknown).apply(sync, args));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
  }
  return out as Async<T>;
}
