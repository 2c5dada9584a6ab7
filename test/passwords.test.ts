import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, parseHash, verifyPassword } from '../src/identity/passwords';
import { defaultKdfThreads, kdfState, setKdfThreads, KDF_NICE } from '../src/identity/kdf';
import { TenantAccess } from '../src/identity/access';
import { CredentialCache, fingerprintOf } from '../src/identity/credcache';
import { Authenticator, UserDirectory } from '../src/identity/auth';
import { parseConfigText } from '../src/config/load';
import { openSqliteStore } from '../src/store/sqlite';
import { createLogger } from '../src/log';

const silent = createLogger('silent');

function ok<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

describe('stored password forms', () => {
  test('scrypt: hash then verify; wrong password fails; salts differ', async () => {
    const h = await hashPassword('s3cret é', 10);
    assert.match(h, /^\$scrypt\$ln=10,r=8,p=1\$/);
    assert.notEqual(h, await hashPassword('s3cret é', 10));
    const p = ok(parseHash(h));
    assert.equal(await verifyPassword('s3cret é', p), true);
    assert.equal(await verifyPassword('s3cret e', p), false);
    assert.equal(await verifyPassword('', p), false);
  });

  test('md5: and plain: (JitsiProvS imports)', async () => {
    const md5 = `md5:${createHash('md5').update('pw').digest('hex')}`;
    assert.equal(await verifyPassword('pw', ok(parseHash(md5))), true);
    assert.equal(await verifyPassword('pw ', ok(parseHash(md5))), false);
    assert.equal(await verifyPassword('p:w', ok(parseHash('plain:p:w'))), true);
    assert.equal(await verifyPassword('p:', ok(parseHash('plain:p:w'))), false);
  });

  test('malformed stored forms are rejected with a reason', () => {
    for (const bad of ['', 'secret', 'md5:xyz', '$scrypt$ln=3,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==', '$scrypt$ln=15$x$y']) {
      assert.equal(parseHash(bad).ok, false, bad);
    }
  });
});

describe('credential cache', () => {
  test('remembers a success until the TTL, keyed per (tenant, user, password)', () => {
    let now = 1000;
    const c = new CredentialCache({ ttlMs: 100, maxEntries: 10, now: () => now });
    const k = c.cacheKey('t', 'alice', 'pw');
    assert.notEqual(k, c.cacheKey('t', 'alice', 'pw2'));
    assert.notEqual(c.cacheKey('t', 'a', 'bc'), c.cacheKey('t', 'ab', 'c'));
    assert.equal(c.has(k, 'fp'), false);
    c.remember(k, 'fp');
    assert.equal(c.has(k, 'fp'), true);
    now += 100;
    assert.equal(c.has(k, 'fp'), false, 'expired');
    assert.equal(c.size, 0);
  });

  test('a different stored hash (password changed) drops the entry', () => {
    const c = new CredentialCache({ ttlMs: 60_000, maxEntries: 10 });
    const k = c.cacheKey('t', 'alice', 'pw');
    c.remember(k, fingerprintOf('old-hash'));
    assert.equal(c.has(k, fingerprintOf('new-hash')), false);
    assert.equal(c.has(k, fingerprintOf('old-hash')), false, 'dropped, not just skipped');
  });

  test('bounded: the least recently used entry goes first', () => {
    const c = new CredentialCache({ ttlMs: 60_000, maxEntries: 2 });
    c.remember('a', 'f');
    c.remember('b', 'f');
    assert.equal(c.has('a', 'f'), true); // a is now most recent
    c.remember('c', 'f');
    assert.equal(c.size, 2);
    assert.equal(c.has('b', 'f'), false);
    assert.equal(c.has('a', 'f'), true);
  });

  test('keys are HMACs under a per-process random key (no password in them)', () => {
    const a = new CredentialCache({ ttlMs: 1, maxEntries: 1 });
    const b = new CredentialCache({ ttlMs: 1, maxEntries: 1 });
    assert.notEqual(a.cacheKey('t', 'u', 'pw'), b.cacheKey('t', 'u', 'pw'));
    // A password long enough that a digest cannot contain it by chance (a two-letter one did, ~1 run in 100).
    const secret = 'Correct-Horse-Battery-Staple-42';
    assert.ok(!a.cacheKey('t', 'u', secret).includes(secret));
    assert.ok(!a.cacheKey('t', 'u', secret).includes('Horse'));
  });

  test('ttl 0 disables it', () => {
    const c = new CredentialCache({ ttlMs: 0, maxEntries: 10 });
    c.remember('a', 'f');
    assert.equal(c.has('a', 'f'), false);
  });
});

describe('authenticator: KDF off the event loop, single flight, bounded queue, upgrades', () => {
  async function setup(maxPending = 8): Promise<{ auth: Authenticator; dir: string; close: () => void; store: ReturnType<typeof openSqliteStore> }> {
    const h = await hashPassword('alice-pw', 10);
    const cfg = parseConfigText(`provisioning:\n  passwords: {scryptCost: 10, maxPendingVerifications: ${maxPending}}\n  tenants:\n    t.example:\n      users:\n        alice: {password: "${h}"}\n`, 'a.yaml');
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-auth-'));
    const store = openSqliteStore(dir);
    const cache = new CredentialCache({ ttlMs: 60_000, maxEntries: 100 });
    const auth = new Authenticator(new UserDirectory(cfg.provisioning, store.users), store.users, { maxPending, scryptCost: 10, cache, log: silent });
    return { auth, dir, store, close: () => { store.close(); rmSync(dir, { recursive: true, force: true }); } };
  }

  test('concurrent checks of the same credentials share one KDF run; the next is cached', async () => {
    const s = await setup();
    try {
      const rs = await Promise.all(Array.from({ length: 5 }, () => s.auth.verify('t.example', 'Alice', 'alice-pw')));
      assert.ok(rs.every((r) => r.kind === 'ok'));
      assert.equal(s.auth.kdfRuns, 1);
      const again = await s.auth.verify('t.example', 'alice', 'alice-pw');
      assert.equal(again.kind === 'ok' && again.cached, true);
      assert.equal((await s.auth.verify('t.example', 'alice', 'wrong')).kind, 'bad');
      assert.equal((await s.auth.verify('t.example', 'nobody', 'x')).kind, 'bad');
    } finally {
      s.close();
    }
  });

  test('beyond maxPendingVerifications the answer is busy (429), not an unbounded queue', async () => {
    const s = await setup(2);
    try {
      const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => s.auth.verify('t.example', 'alice', `guess-${i}`)));
      assert.equal(rs.filter((r) => r.kind === 'busy').length, 4);
      assert.equal(rs.filter((r) => r.kind === 'bad').length, 2);
    } finally {
      s.close();
    }
  });

  test('a store password change drops the cached credential (CLI writes, daemon notices)', async () => {
    const s = await setup();
    try {
      await s.store.users.add({ domain: 't.example', name: 'bob', passwordHash: await hashPassword('old', 10) });
      assert.equal((await s.auth.verify('t.example', 'bob', 'old')).kind, 'ok');
      assert.equal((await s.auth.verify('t.example', 'bob', 'old')).kind === 'ok', true);
      await s.store.users.setPassword('t.example', 'bob', await hashPassword('new', 10));
      assert.equal((await s.auth.verify('t.example', 'bob', 'old')).kind, 'bad');
      assert.equal((await s.auth.verify('t.example', 'bob', 'new')).kind, 'ok');
    } finally {
      s.close();
    }
  });

  test('a store user with an md5: password is re-hashed with scrypt after a good login', async () => {
    const s = await setup();
    try {
      await s.store.users.add({ domain: 't.example', name: 'carol', passwordHash: `md5:${createHash('md5').update('c-pw').digest('hex')}` });
      assert.equal((await s.auth.verify('t.example', 'carol', 'c-pw')).kind, 'ok');
      for (let i = 0; i < 100 && !((await s.store.users.get('t.example', 'carol'))?.passwordHash.startsWith('$scrypt$') ?? false); i++) await new Promise((r) => setTimeout(r, 20));
      const h = (await s.store.users.get('t.example', 'carol'))?.passwordHash ?? '';
      assert.match(h, /^\$scrypt\$ln=10,/);
      assert.equal((await s.auth.verify('t.example', 'carol', 'c-pw')).kind, 'ok');
      assert.equal((await s.auth.verify('t.example', 'carol', 'nope')).kind, 'bad');
    } finally {
      s.close();
    }
  });

  test('the event loop keeps turning while scrypt runs', async () => {
    const s = await setup();
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const h = await hashPassword('x', 14); // ~16 MiB, tens of ms: long enough to see ticks
      await verifyPassword('x', ok(parseHash(h)));
      clearInterval(timer);
      assert.ok(ticks >= 3, `only ${ticks} timer ticks during two scrypt runs`);
    } finally {
      s.close();
    }
  });
});

/** gate is the KDF gate's part of kdfState. */
function gate(): { limit: number; running: number; waiting: number } {
  const s = kdfState();
  return { limit: s.limit, running: s.running, waiting: s.waiting };
}

/** threadNices reads every thread's nice value of this process from /proc (field 19 of stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((t) => {
    const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('the KDF gate: at most kdfThreads scrypt runs at once', () => {
  test('scrypt runs on threads of lowered priority (nice 10, per thread), the event loop keeps its own', { skip: process.platform !== 'linux' && 'per-thread priorities are Linux only' }, async () => {
    const before = kdfState().limit;
    try {
      setKdfThreads(2);
      await Promise.all([hashPassword('x', 10), hashPassword('y', 10)]);
      assert.equal(kdfState().nice, KDF_NICE);
      assert.equal(kdfState().threads, 2);
      // Seen from /proc, not from our own report: two threads at nice 10, this one unchanged.
      const nices = threadNices();
      assert.equal(nices.filter((n) => n === KDF_NICE).length, 2, `thread nices: ${nices.join(' ')}`);
      assert.equal(getPriority(), 0);
      const h = await hashPassword('right', 10);
      const parsed = parseHash(h);
      assert.ok(parsed.ok);
      assert.equal(await verifyPassword('right', parsed.value), true);
      assert.equal(await verifyPassword('wrong', parsed.value), false);
    } finally {
      setKdfThreads(before);
    }
  });

  test('with 1, three hashes run one after the other (the others wait in order); raising the limit starts the waiting ones', async () => {
    const before = kdfState().limit;
    try {
      setKdfThreads(1);
      const runs = [hashPassword('a', 10), hashPassword('b', 10), hashPassword('c', 10)];
      assert.deepEqual(gate(), { limit: 1, running: 1, waiting: 2 });
      setKdfThreads(3);
      assert.deepEqual(gate(), { limit: 3, running: 3, waiting: 0 });
      await Promise.all(runs);
      assert.deepEqual(gate(), { limit: 3, running: 0, waiting: 0 });
      setKdfThreads(1);
      const again = [hashPassword('d', 10), hashPassword('e', 10)];
      assert.equal(kdfState().waiting, 1);
      const hashes = await Promise.all(again);
      assert.ok(hashes.every((h) => parseHash(h).ok));
      assert.deepEqual(gate(), { limit: 1, running: 0, waiting: 0 });
      assert.ok(kdfState().threads <= 1, `threads beyond the limit end once idle (${kdfState().threads})`);
    } finally {
      setKdfThreads(before);
    }
  });

  test('the default leaves one core to the discovery faces (cores - 1, at least 1); the configuration sets it', () => {
    assert.equal(defaultKdfThreads(), Math.max(1, availableParallelism() - 1));
    const before = kdfState().limit;
    try {
      void new TenantAccess(parseConfigText('provisioning:\n  passwords: {kdfThreads: 5}\n  tenants:\n    t.example: {}\n', 't.yaml').provisioning, { log: createLogger('silent') });
      assert.equal(kdfState().limit, 5);
    } finally {
      setKdfThreads(before);
    }
  });
});
