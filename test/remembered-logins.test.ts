/**
 * Issue 16 item 1: password verifications remembered in the store. The key file (mode, reuse,
 * systemd credential, refusals), the lookup order memory cache → store → KDF, the invalidations
 * (password change, deletion, key change, expiry, rememberFor 0), the bounds (table cap, write
 * buffer), a store that fails or never answers, and a wrong password against a remembered user.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/sqlite';
import Database, { type Db } from '../src/store/driver';
import { StoreBusyError, type RememberedLogin, type RememberedLoginRepository, type StoredUser, type UserRepository } from '../src/store/repository';
import { Authenticator, LAST_KNOWN_MAX, UserDirectory } from '../src/identity/auth';
import { CredentialCache } from '../src/identity/credcache';
import { LookupBatcher } from '../src/identity/batch';
import { hashPassword } from '../src/identity/passwords';
import { KEY_FILE, MAX_PENDING, RememberedLogins, loadRememberKey, type RememberKey } from '../src/identity/remembered';
import { parseConfigText } from '../src/config/load';
import { isProvError } from '../src/errors';
import { captureLog } from './helpers/log';

const silent = captureLog('info').log;
const DAY = 86_400_000;

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'provisiond-remember-'));
}

interface Lab {
  readonly dir: string;
  readonly store: ReturnType<typeof openSqliteStore>;
  readonly key: RememberKey;
  remembered: RememberedLogins;
  auth: Authenticator;
  clock: number;
  /** restart: a new process's view (fresh memory cache and Authenticator) on the same store. */
  restart(key?: RememberKey, opts?: { rememberForMs?: number; maxRows?: number; shared?: boolean }): Promise<void>;
  close(): void;
}

async function lab(users: Record<string, string>): Promise<Lab> {
  const dir = tmp();
  const store = openSqliteStore(dir);
  for (const [name, pw] of Object.entries(users)) store.users.add({ domain: 't.example', name, passwordHash: await hashPassword(pw, 10) });
  const cfg = parseConfigText('provisioning:\n  passwords: {scryptCost: 10}\n  tenants:\n    t.example: {}\n', 'a.yaml');
  const key = loadRememberKey(dir, {});
  const l: Lab = {
    dir,
    store,
    key,
    clock: Date.now(),
    remembered: undefined as unknown as RememberedLogins,
    auth: undefined as unknown as Authenticator,
    async restart(k = key, opts = {}) {
      await l.remembered?.close();
      const repo = store.remembered;
      assert.ok(repo);
      l.remembered = new RememberedLogins(repo, k, { rememberForMs: opts.rememberForMs ?? 7 * DAY, maxRows: opts.maxRows ?? 1000 }, silent, () => l.clock);
      await l.remembered.configure({ rememberForMs: opts.rememberForMs ?? 7 * DAY, maxRows: opts.maxRows ?? 1000, shared: opts.shared ?? false });
      l.auth = new Authenticator(new UserDirectory(cfg.provisioning, store.users), store.users, { maxPending: 64, scryptCost: 10, cache: new CredentialCache({ ttlMs: 60_000, maxEntries: 100 }), log: silent });
      l.auth.state.remembered = l.remembered;
    },
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await l.restart();
  return l;
}

/** rows counts the remembered rows. */
async function rows(l: Lab): Promise<number> {
  return (await l.store.remembered?.count()) ?? -1;
}

/** sql runs one statement on a second connection to the store (as another process would). */
function sql<T>(dir: string, f: (db: Db) => T): T {
  const db = new Database(join(dir, 'provisiond.sqlite'));
  try {
    return f(db);
  } finally {
    db.close();
  }
}

/** countUser counts one user's remembered rows. */
function countUser(dir: string, name: string): number {
  return sql(dir, (db) => (db.prepare('SELECT COUNT(*) AS n FROM remembered_logins WHERE tenant = ? AND name = ?').get('t.example', name) as { n: number }).n);
}

describe('remembered logins: the key', () => {
  test('created 0600 in stateDir on first use, the same key the next time, never in the store', () => {
    const dir = tmp();
    try {
      const a = loadRememberKey(dir, {});
      const st = statSync(join(dir, KEY_FILE));
      assert.equal(st.mode & 0o777, 0o600);
      assert.ok(a.key.length >= 32);
      const b = loadRememberKey(dir, {});
      assert.equal(b.id, a.id);
      assert.ok(b.key.equals(a.key));
      const s = openSqliteStore(dir);
      s.close();
      const db = readFileSync(join(dir, 'provisiond.sqlite'));
      assert.equal(db.includes(a.key), false, 'the key is not in the database file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a key others may read, or a short one, is refused with PROVD_ERR_REMEMBER_KEY naming the file', () => {
    const dir = tmp();
    try {
      loadRememberKey(dir, {});
      const p = join(dir, KEY_FILE);
      chmodSync(p, 0o644);
      assert.throws(() => loadRememberKey(dir, {}), (e: unknown) => isProvError(e) && e.code === 'PROVD_ERR_REMEMBER_KEY' && /mode 0644.*chmod 600/.test(e.message) && e.message.includes(p));
      writeFileSync(p, 'short', { mode: 0o600 });
      chmodSync(p, 0o600);
      assert.throws(() => loadRememberKey(dir, {}), (e: unknown) => isProvError(e) && e.code === 'PROVD_ERR_REMEMBER_KEY' && /5 bytes; at least 32/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('$CREDENTIALS_DIRECTORY/remember-key (systemd LoadCredential=) is used when present; nothing is created in stateDir', () => {
    const dir = tmp();
    try {
      const creds = join(dir, 'creds');
      mkdirSync(creds);
      writeFileSync(join(creds, 'remember-key'), 'x'.repeat(48));
      const state = join(dir, 'state');
      const k = loadRememberKey(state, { CREDENTIALS_DIRECTORY: creds });
      assert.equal(k.source, join(creds, 'remember-key'));
      assert.equal(k.key.toString(), 'x'.repeat(48));
      assert.throws(() => statSync(join(state, KEY_FILE)));
      // Without the credential file: stateDir's key.
      const k2 = loadRememberKey(state, { CREDENTIALS_DIRECTORY: join(dir, 'nothing') });
      assert.equal(k2.source, join(state, KEY_FILE));
      assert.notEqual(k2.id, k.id);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remembered logins: lookup order and invalidation', () => {
  test('after a restart the same logins need no KDF run; a wrong password against a remembered user still fails', async () => {
    const l = await lab({ alice: 'a-pw', bob: 'b-pw' });
    try {
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal((await l.auth.verify('t.example', 'Bob', 'b-pw')).kind, 'ok');
      assert.equal(l.auth.kdfRuns, 2);
      await l.remembered.flush();
      assert.equal(await rows(l), 2);
      await l.restart();
      const a = await l.auth.verify('t.example', 'alice', 'a-pw');
      assert.equal(a.kind === 'ok' && a.remembered, true);
      assert.equal((await l.auth.verify('t.example', 'bob', 'b-pw')).kind, 'ok');
      assert.equal(l.auth.kdfRuns, 0, 'no KDF run after the restart');
      assert.equal(l.remembered.hits, 2);
      // The memory cache now holds them: the store is not asked again.
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal(l.remembered.hits, 2);
      assert.equal((await l.auth.verify('t.example', 'alice', 'A-pw')).kind, 'bad');
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw ')).kind, 'bad');
      assert.equal(l.auth.kdfRuns, 2, 'the wrong passwords each ran the KDF');
      // Another tenant's user of the same name and password is not the same verifier.
      assert.notEqual(l.remembered.verifier('t.example', 'alice', 'a-pw', 'fp'), l.remembered.verifier('u.example', 'alice', 'a-pw', 'fp'));
      assert.notEqual(l.remembered.verifier('t.example', 'alice', 'a-pw', 'fp'), l.remembered.verifier('t.example', 'alice', 'a-pw', 'fp2'));
    } finally {
      await l.remembered.close();
      l.close();
    }
  });

  test('a password change and a deletion (any store write path) drop the user\'s rows; the old password fails', async () => {
    const l = await lab({ alice: 'a-pw', bob: 'b-pw', carol: 'c-pw' });
    try {
      for (const [u, p] of [['alice', 'a-pw'], ['bob', 'b-pw'], ['carol', 'c-pw']] as const) assert.equal((await l.auth.verify('t.example', u, p)).kind, 'ok');
      await l.remembered.flush();
      assert.deepEqual([countUser(l.dir, 'alice'), countUser(l.dir, 'bob'), countUser(l.dir, 'carol')], [1, 1, 1]);
      l.store.users.setPassword('t.example', 'alice', await hashPassword('a-new', 10));
      l.store.users.remove('t.example', 'bob');
      l.store.users.upsert({ domain: 't.example', name: 'carol', passwordHash: await hashPassword('c-new', 10) });
      assert.deepEqual([countUser(l.dir, 'alice'), countUser(l.dir, 'bob'), countUser(l.dir, 'carol')], [0, 0, 0]);
      await l.restart();
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'bad');
      assert.equal((await l.auth.verify('t.example', 'bob', 'b-pw')).kind, 'bad');
      assert.equal((await l.auth.verify('t.example', 'carol', 'c-pw')).kind, 'bad');
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-new')).kind, 'ok');
      assert.equal(l.remembered.hits, 0);
    } finally {
      await l.remembered.close();
      l.close();
    }
  });

  test('a row left from an older hash (no store write dropped it) does not match: the fingerprint is in the verifier', async () => {
    const l = await lab({ alice: 'a-pw' });
    try {
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      await l.remembered.flush();
      // Another process rewrote the hash to the same password without going through users.*.
      const user = l.store.users.get('t.example', 'alice');
      assert.ok(user);
      const fresh = await hashPassword('a-pw', 10);
      sql(l.dir, (db) => db.prepare('UPDATE users SET password_hash = ? WHERE name = ?').run(fresh, 'alice'));
      assert.equal(countUser(l.dir, 'alice'), 1, 'the row is still there');
      await l.restart();
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal(l.remembered.hits, 0, 'not answered by the old row');
      assert.equal(l.auth.kdfRuns, 1);
    } finally {
      await l.remembered.close();
      l.close();
    }
  });

  test('a changed key makes old rows unusable and purges them at start', async () => {
    const l = await lab({ alice: 'a-pw' });
    try {
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      await l.remembered.flush();
      assert.equal(await rows(l), 1);
      const other: RememberKey = { key: Buffer.alloc(32, 7), id: 'other-key-id', source: 'test' };
      await l.restart(other);
      assert.equal(await rows(l), 0, 'purged');
      assert.equal(l.remembered.purged, 1);
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal(l.auth.kdfRuns, 1, 'the KDF ran again');
    } finally {
      await l.remembered.close();
      l.close();
    }
  });

  test('on a shared store (PostgreSQL) another key\'s rows and rememberFor 0 delete nothing: another node may use them', async () => {
    const l = await lab({ alice: 'a-pw' });
    try {
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      await l.remembered.flush();
      const other: RememberKey = { key: Buffer.alloc(32, 7), id: 'other-key-id', source: 'test' };
      await l.restart(other, { shared: true });
      assert.equal(await rows(l), 1, 'the first key\'s row is kept');
      assert.equal(l.remembered.purged, 0);
      await l.restart(l.key, { shared: true, rememberForMs: 0 });
      assert.equal(await rows(l), 1, 'rememberFor 0 on one node does not clear the shared table');
      await l.restart(l.key, { shared: true });
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal(l.auth.kdfRuns, 0, 'the first key\'s row answered');
    } finally {
      await l.remembered.close();
      l.close();
    }
  });

  test('expiry: a row past rememberFor is not used and is purged by the next write', async () => {
    const l = await lab({ alice: 'a-pw', bob: 'b-pw' });
    try {
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      await l.remembered.flush();
      l.clock += 7 * DAY + 1;
      await l.restart();
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal(l.auth.kdfRuns, 1, 'expired: the KDF ran');
      assert.equal(l.remembered.hits, 0);
      assert.equal((await l.auth.verify('t.example', 'bob', 'b-pw')).kind, 'ok');
      await l.remembered.flush();
      assert.equal(await rows(l), 2, 'alice renewed, bob added');
      l.clock += 7 * DAY + 1;
      await l.restart();
      await l.store.remembered?.putMany([], l.clock, 1000);
      assert.equal(await rows(l), 0, 'expired rows deleted');
    } finally {
      await l.remembered.close();
      l.close();
    }
  });

  test('rememberFor 0: nothing is looked up or written, and the rows are deleted', async () => {
    const l = await lab({ alice: 'a-pw' });
    try {
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      await l.remembered.flush();
      await l.restart(l.key, { rememberForMs: 0 });
      assert.equal(await rows(l), 0);
      assert.equal((await l.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      await l.remembered.flush();
      assert.equal(await rows(l), 0);
      assert.equal(l.remembered.hits + l.remembered.misses, 0);
    } finally {
      await l.remembered.close();
      l.close();
    }
  });

  test('the table is capped: beyond maxRows the rows expiring first go', async () => {
    const dir = tmp();
    const store = openSqliteStore(dir);
    try {
      const repo = store.remembered;
      assert.ok(repo);
      const now = Date.now();
      const batch: RememberedLogin[] = Array.from({ length: 50 }, (_, i) => ({ verifier: `v${i}`, tenant: 't', name: `u${i}`, keyId: 'k', expiresAt: now + 1000 + i }));
      assert.equal(await repo.putMany(batch, now, 40), 50);
      assert.equal(await repo.count(), 36, 'trimmed to 90 % of the cap');
      assert.equal(await repo.has('v0', 'k', now), false, 'the first to expire went');
      assert.equal(await repo.has('v49', 'k', now), true);
      assert.equal(await repo.has('v49', 'other', now), false, 'another key id never matches');
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remembered logins: a store that fails never delays or breaks a login', () => {
  function fakeRepo(behaviour: { has?: () => Promise<boolean>; putMany?: () => Promise<number> }): RememberedLoginRepository & { puts: number } {
    const has = behaviour.has ?? (async () => false);
    const r = {
      puts: 0,
      has,
      hasMany: async (vs: readonly string[]): Promise<ReadonlySet<string>> => ((await has()) ? new Set(vs) : new Set<string>()),
      putMany: async () => {
        r.puts++;
        return (behaviour.putMany ?? (async () => 0))();
      },
      forgetUser: async () => 0,
      purgeOtherKeys: async () => 0,
      clear: async () => 0,
      count: async () => 0,
    };
    return r;
  }

  async function authWith(repo: RememberedLoginRepository): Promise<{ auth: Authenticator; r: RememberedLogins; close: () => void }> {
    const dir = tmp();
    const store = openSqliteStore(dir);
    store.users.add({ domain: 't.example', name: 'alice', passwordHash: await hashPassword('a-pw', 10) });
    const cfg = parseConfigText('provisioning:\n  passwords: {scryptCost: 10}\n  tenants:\n    t.example: {}\n', 'a.yaml');
    const r = new RememberedLogins(repo, { key: Buffer.alloc(32, 1), id: 'k', source: 'test' }, { rememberForMs: DAY, maxRows: 100 }, silent);
    const auth = new Authenticator(new UserDirectory(cfg.provisioning, store.users), store.users, { maxPending: 64, scryptCost: 10, cache: new CredentialCache({ ttlMs: 0, maxEntries: 0 }), log: silent });
    auth.state.remembered = r;
    return { auth, r, close: () => { store.close(); rmSync(dir, { recursive: true, force: true }); } };
  }

  test('a locked store at lookup falls through to the KDF (counted); at write the batch is kept for later', async () => {
    let locked = true;
    const repo = fakeRepo({
      has: async () => {
        throw new StoreBusyError('locked');
      },
      putMany: async () => {
        if (locked) throw new StoreBusyError('locked');
        return 1;
      },
    });
    const s = await authWith(repo);
    try {
      assert.equal((await s.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal(s.r.lookupErrors, 1);
      assert.equal(s.auth.kdfRuns, 1);
      await s.r.flush();
      assert.equal(s.r.stats()['remembered-pending'], 1, 'kept while the store is locked');
      locked = false;
      await s.r.flush();
      assert.equal(s.r.written, 1);
      assert.equal(s.r.stats()['remembered-pending'], 0);
    } finally {
      await s.r.close();
      s.close();
    }
  });

  test('many waiting verifiers are written in transactions of at most 500, one after the other', async () => {
    const sizes: number[] = [];
    const repo = fakeRepo({});
    repo.putMany = async (rows) => {
      sizes.push(rows.length);
      return rows.length;
    };
    const s = await authWith(repo);
    try {
      for (let i = 0; i < 1200; i++) s.r.record('t.example', `u${i}`, 'pw', 'fp');
      for (let i = 0; i < 100 && s.r.written < 1200; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(sizes, [500, 500, 200]);
      assert.equal(s.r.stats()['remembered-pending'], 0);
    } finally {
      await s.r.close();
      s.close();
    }
  });

  test('a burst of lookups costs one query at a time of at most 500 verifiers, not one query each (the two-node bench\'s restarted node)', async () => {
    const queries: number[] = [];
    const repo = fakeRepo({});
    repo.hasMany = async (vs) => {
      queries.push(vs.length);
      await new Promise((r) => setTimeout(r, 5));
      // Every odd-numbered user was remembered.
      return new Set(vs.filter((v) => Number(v.split(':')[1]) % 2 === 1));
    };
    const s = await authWith(repo);
    // The verifier is the HMAC; this test's repository answers from a readable stand-in.
    s.r.verifier = (_t, name): string => `v:${name.slice(1)}`;
    try {
      const found = await Promise.all(Array.from({ length: 1200 }, (_, i) => s.r.check('t.example', `u${i}`, 'pw', 'fp')));
      assert.deepEqual(queries, [1, 500, 500, 199], 'the first lookup goes at once; the others wait for it and go together');
      assert.deepEqual(found, Array.from({ length: 1200 }, (_, i) => i % 2 === 1));
      assert.equal(s.r.hits, 600);
      assert.equal(s.r.misses, 600);
      assert.equal(s.r.lookupErrors, 0);
      // The same login twice at once: one verifier in the query, both answered.
      queries.length = 0;
      const twice = await Promise.all([s.r.check('t.example', 'u1', 'pw', 'fp'), s.r.check('t.example', 'u3', 'pw', 'fp'), s.r.check('t.example', 'u3', 'pw', 'fp')]);
      assert.deepEqual(twice, [true, true, true]);
      assert.deepEqual(queries, [1, 1]);
    } finally {
      s.close();
    }
  });

  test('a lookup query that fails answers every login waiting for it with the KDF (counted each)', async () => {
    const repo = fakeRepo({});
    repo.hasMany = async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new StoreBusyError('saturated');
    };
    const s = await authWith(repo);
    try {
      const found = await Promise.all(Array.from({ length: 30 }, (_, i) => s.r.check('t.example', `u${i}`, 'pw', 'fp')));
      assert.deepEqual(found, found.map(() => false));
      assert.equal(s.r.lookupErrors, 30);
    } finally {
      s.close();
    }
  });

  test('a write that never completes does not hold the answer; the write buffer is bounded (dropped, counted)', async () => {
    const repo = fakeRepo({ putMany: () => new Promise<number>(() => undefined) });
    const s = await authWith(repo);
    try {
      assert.equal((await s.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      await new Promise((r) => setTimeout(r, 300)); // past the flush delay: the write hangs
      assert.equal(repo.puts, 1);
      assert.equal((await s.auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok', 'the next login is answered meanwhile');
      for (let i = 0; i < MAX_PENDING + 5; i++) s.r.record('t.example', `u${i}`, 'pw', 'fp');
      assert.equal(s.r.stats()['remembered-pending'], MAX_PENDING);
      assert.ok(s.r.dropped >= 5, `dropped ${s.r.dropped}`);
    } finally {
      s.close();
    }
  });
});

describe('the store down during a login (identity/auth.ts)', () => {
  /** downStore is a user repository on a SQLite store whose reads fail (StoreBusyError) while `down` is set. */
  function downStore(store: ReturnType<typeof openSqliteStore>): { users: UserRepository; down: boolean; reads: number } {
    const s = {
      down: false,
      reads: 0,
      users: {
        ...store.users,
        get: async (domain: string, name: string): Promise<StoredUser | undefined> => {
          s.reads++;
          if (s.down) throw new StoreBusyError('the PostgreSQL store is unavailable (test)');
          return store.users.get(domain, name);
        },
      },
    };
    return s;
  }

  test('a login in the memory cache is answered from the last-read record; any other login throws StoreBusyError (the face answers 503)', async () => {
    const dir = tmp();
    const store = openSqliteStore(dir);
    try {
      await store.users.add({ domain: 't.example', name: 'alice', passwordHash: await hashPassword('a-pw', 10) });
      await store.users.add({ domain: 't.example', name: 'bob', passwordHash: await hashPassword('b-pw', 10) });
      const ds = downStore(store);
      const cfg = parseConfigText('provisioning:\n  passwords: {scryptCost: 10}\n  tenants:\n    t.example: {}\n', 'a.yaml');
      const auth = new Authenticator(new UserDirectory(cfg.provisioning, ds.users), ds.users, { maxPending: 8, scryptCost: 10, cache: new CredentialCache({ ttlMs: 60_000, maxEntries: 100 }), log: silent });
      assert.equal((await auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal(auth.kdfRuns, 1);
      ds.down = true;
      const v = await auth.verify('t.example', 'Alice', 'a-pw');
      assert.equal(v.kind, 'ok', 'cached: answered without the store');
      assert.equal(v.kind === 'ok' && v.cached, true);
      assert.equal(auth.state.storeDownCached, 1);
      await assert.rejects(auth.verify('t.example', 'alice', 'wrong'), StoreBusyError, 'a password not in the cache waits for the store');
      await assert.rejects(auth.verify('t.example', 'bob', 'b-pw'), StoreBusyError, 'a user never read waits for the store');
      await assert.rejects(auth.verify('t.example', 'nobody', 'x'), StoreBusyError, 'an unknown user reads the same as a known one');
      assert.equal(auth.kdfRuns, 1, 'no KDF ran while the store was down');
      ds.down = false;
      assert.equal((await auth.verify('t.example', 'bob', 'b-pw')).kind, 'ok');
      // A user the store no longer has is forgotten at the next read: not answered from the cache once the store fails again.
      await store.users.remove('t.example', 'alice');
      assert.equal((await auth.verify('t.example', 'alice', 'a-pw')).kind, 'bad');
      ds.down = true;
      await assert.rejects(auth.verify('t.example', 'alice', 'a-pw'), StoreBusyError);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`the last-read records are bounded (${LAST_KNOWN_MAX}, the oldest read goes first)`, async () => {
    const users: UserRepository = {
      get: async (domain: string, name: string): Promise<StoredUser> => ({ domain, name, passwordHash: 'plain:x', attributes: {}, createdAt: '', updatedAt: '' }),
      list: async () => [],
      add: async () => true,
      setPassword: async () => true,
      setAttributes: async () => true,
      upsert: async () => undefined,
      remove: async () => true,
    };
    const cfg = parseConfigText('provisioning:\n  tenants:\n    t.example: {}\n', 'a.yaml');
    const dir = new UserDirectory(cfg.provisioning, users);
    for (let i = 0; i <= LAST_KNOWN_MAX; i++) await dir.lookup('t.example', `u${i}`);
    await dir.lookup('t.example', 'u1'); // read again: the most recent
    await dir.lookup('t.example', 'extra');
    assert.equal(dir.known('t.example', 'u0'), undefined, 'the oldest went first');
    assert.equal(dir.known('t.example', 'u2'), undefined, 'then the next oldest');
    assert.equal(dir.known('t.example', 'u1')?.name, 'u1', 'a record read again is kept');
    assert.equal(dir.known('t.example', 'extra')?.name, 'extra');
    assert.equal(dir.known('t.example', `u${LAST_KNOWN_MAX}`)?.name, `u${LAST_KNOWN_MAX}`);
  });
});

describe('LookupBatcher (identity/batch.ts): the store users\' lookups of a burst', () => {
  test('one query at a time, at most maxBatch keys; beyond maxWaiting refused at once (StoreBusyError); a failed query fails its batch only', async () => {
    const sizes: number[] = [];
    let fail = false;
    const b = new LookupBatcher<string>(
      async (keys) => {
        sizes.push(keys.length);
        await new Promise((r) => setTimeout(r, 5));
        if (fail) throw new Error('query failed');
        return new Map(keys.filter((k) => k !== 'absent').map((k) => [k, `v-${k}`] as const));
      },
      3,
      5,
    );
    const first = b.lookup('k0');
    const rest = ['k1', 'k2', 'k3', 'k4', 'absent'].map((k) => b.lookup(k));
    await assert.rejects(b.lookup('k6'), StoreBusyError, 'the sixth waiting lookup is refused');
    const same = b.lookup('k1'); // a key already waiting joins it (no new place taken)
    assert.deepEqual(await Promise.all([first, ...rest, same]), ['v-k0', 'v-k1', 'v-k2', 'v-k3', 'v-k4', undefined, 'v-k1']);
    assert.deepEqual(sizes, [1, 3, 2]);
    fail = true;
    await assert.rejects(b.lookup('k7'), /query failed/);
    fail = false;
    assert.equal(await b.lookup('k8'), 'v-k8', 'the next batch is queried afresh');
  });
});
