/**
 * Issue 16 item 2: deadline-aware admission of password checks. A login that needs the KDF waits
 * while the pool's measured rate says it can be answered within the client's timeout, gets
 * 'busy' (429) at once when it cannot, and leaves the queue unrun ('expired'; the HTTP face
 * closes the connection) when its time runs out while it waits. Cached and remembered logins
 * never wait behind KDF work. Assertions are on counts and order, never on durations.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openSqliteStore } from '../src/store/sqlite';
import { Authenticator, UserDirectory, ANSWER_MARGIN_MS, DEFAULT_CLIENT_TIMEOUT_MS } from '../src/identity/auth';
import { CredentialCache } from '../src/identity/credcache';
import { hashPassword } from '../src/identity/passwords';
import { KdfExpiredError, kdfEstimate, kdfState, runScrypt, setKdfThreads } from '../src/identity/kdf';
import { RememberedLogins, loadRememberKey } from '../src/identity/remembered';
import { parseConfigText } from '../src/config/load';
import { captureLog } from './helpers/log';
import { startFace } from './helpers/prov';

const silent = captureLog('info').log;

/** blockers occupies the KDF gate with `n` long runs (ln 16: 64 MiB, 150 ms or more each) and resolves when all ended. */
function blockers(n: number): { done: Promise<void>; settled: () => boolean } {
  let over = false;
  const done = Promise.all(Array.from({ length: n }, () => runScrypt('block', randomBytes(16), 16, 8, 1, 32))).then(() => {
    over = true;
  });
  return { done, settled: () => over };
}

/** receivedWithLeft is the receipt time of a request (default client timeout) whose answer is due in `ms`. */
function receivedWithLeft(ms: number): number {
  return performance.now() - (DEFAULT_CLIENT_TIMEOUT_MS - ANSWER_MARGIN_MS - ms);
}

interface Setup {
  readonly auth: Authenticator;
  close(): void;
}

async function setup(users: number, opts: { clientTimeoutMs?: number; maxPending?: number; ln?: number; cacheTtlMs?: number } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-admit-'));
  const store = openSqliteStore(dir);
  const h = await hashPassword('pw', opts.ln ?? 10);
  for (let i = 0; i < users; i++) store.users.add({ domain: 't.example', name: `u${i}`, passwordHash: h });
  const cfg = parseConfigText('provisioning:\n  passwords: {scryptCost: 10}\n  tenants:\n    t.example: {}\n', 'a.yaml');
  const auth = new Authenticator(new UserDirectory(cfg.provisioning, store.users), store.users, {
    maxPending: opts.maxPending ?? 10_000,
    ...(opts.clientTimeoutMs === undefined ? {} : { clientTimeoutMs: opts.clientTimeoutMs }),
    scryptCost: opts.ln ?? 10,
    cache: new CredentialCache({ ttlMs: opts.cacheTtlMs ?? 60_000, maxEntries: 10_000 }),
    log: silent,
  });
  await auth.warmUp();
  return { auth, close: () => { store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

describe('deadline-aware admission', () => {
  before(() => setKdfThreads(1));
  after(() => setKdfThreads(2));

  test('the gate measures its runs: an estimate (rate, finish time) exists after one run, and grows with the queue', async () => {
    await runScrypt('x', randomBytes(16), 10, 8, 1, 32);
    const idle = kdfEstimate(10);
    assert.ok(idle !== undefined && idle.runsPerSecond > 0 && idle.finishMs > 0);
    assert.equal(idle.idle, true, 'nothing runs: a run admitted now starts at once');
    const b = blockers(2);
    const busy = kdfEstimate(10);
    assert.ok(busy !== undefined && busy.idle !== true && busy.finishMs > idle.finishMs * 10, `queued behind two ln=16 runs: ${busy?.finishMs} vs idle ${idle.finishMs}`);
    await b.done;
  });

  test('a queued run whose deadline comes first leaves the queue without running (KdfExpiredError, counted)', async () => {
    const b = blockers(3);
    const before = kdfState();
    const late = runScrypt('late', randomBytes(16), 10, 8, 1, 32, performance.now() + 50);
    await assert.rejects(late, KdfExpiredError);
    const mid = kdfState();
    assert.equal(mid.expired, before.expired + 1);
    assert.equal(b.settled(), false, 'it left while the blockers still ran');
    await b.done;
    assert.equal(kdfState().completed, before.completed + 3, 'only the blockers ran');
  });

  test('the gate checks its own admission: a refusal while the pool stays busy past its deadline misses nothing; a pessimistic one beside a free thread is counted', async () => {
    // It runs before any test that refuses a login: an earlier refusal's deadline still open
    // would rightly count the idle thread after the blockers as missed.
    const s = await setup(2);
    try {
      // Busy: two ln=16 blockers hold the only thread (one runs, one waits) for far longer than
      // the refused login's remaining 100 ms: no capacity it could have used was left free.
      s.auth.state.estimate = () => ({ finishMs: 60_000, runMs: 10, runsPerSecond: 100 });
      const b = blockers(2);
      const m0 = kdfState().missedMs;
      const receivedAt = receivedWithLeft(100);
      assert.equal((await s.auth.verify('t.example', 'u0', 'pw', receivedAt)).kind, 'busy');
      assert.equal(b.settled(), false, 'refused while the blockers ran');
      await b.done;
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(kdfState().missedMs, m0, 'the pool was busy until the refused login could no longer be answered');
      // Free: the same (wrong) estimate refuses a login although the thread is idle; every
      // millisecond the thread then stays free is capacity that login could have used.
      s.auth.state.estimate = () => ({ finishMs: 60_000, runMs: 10, runsPerSecond: 100, idle: false });
      assert.equal(kdfState().running, 0);
      const t0 = performance.now();
      assert.equal((await s.auth.verify('t.example', 'u1', 'pw')).kind, 'busy');
      await new Promise((r) => setTimeout(r, 50));
      const missed = kdfState().missedMs - m0;
      const elapsed = performance.now() - t0;
      assert.ok(missed > 0 && missed <= elapsed * kdfState().limit, `missed ${missed} ms in ${elapsed} ms`);
      // A run started now takes the thread: the count stops growing while it runs.
      s.auth.state.estimate = kdfEstimate;
      const during = blockers(1);
      const m1 = kdfState().missedMs;
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(b.settled() && !during.settled(), true);
      assert.equal(kdfState().missedMs, m1, 'no free thread, nothing missed');
      await during.done;
      assert.ok(kdfState().busyMs > 0);
    } finally {
      s.close();
    }
  });

  test('100 logins at once with a generous timeout all wait and succeed (no fixed 64-deep refusal)', async () => {
    const s = await setup(100);
    try {
      const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => s.auth.verify('t.example', `u${i}`, 'pw')));
      assert.deepEqual(
        rs.map((r) => r.kind).filter((k) => k !== 'ok'),
        [],
      );
      assert.equal(s.auth.kdfRuns, 100);
      assert.equal(s.auth.state.refusedDeadline, 0);
    } finally {
      s.close();
    }
  });

  test('beyond what the measured rate answers within the timeout: busy at once, without a KDF run; the admitted ones succeed', async () => {
    // The rate is the one admission reads (state.estimate), fixed here at 100 ms a run so that the
    // split does not depend on this box's load: with a 10 s client timeout (9.5 s for the KDF) the
    // checks queued behind the 95th cannot finish in time. The runs themselves are ln=10 (~1 ms).
    const s = await setup(200, { ln: 10, clientTimeoutMs: 10_000 });
    try {
      s.auth.state.estimate = () => ({ finishMs: (s.auth.state.pending + 1) * 100, runMs: 100, runsPerSecond: 10 });
      const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => s.auth.verify('t.example', `u${i}`, 'pw')));
      const ok = rs.filter((r) => r.kind === 'ok').length;
      const busy = rs.filter((r) => r.kind === 'busy').length;
      const expired = rs.filter((r) => r.kind === 'expired').length;
      assert.equal(ok + busy + expired, 200);
      assert.equal(expired, 0, 'an admitted ~1 ms check never outlives 9.5 s');
      assert.ok(ok >= 90 && ok <= 100, `about 95 admitted (9.5 s / 100 ms): ok ${ok}, busy ${busy}`);
      assert.equal(busy, 200 - ok, 'the rest were refused at once');
      assert.equal(s.auth.state.refusedDeadline, busy);
      assert.equal(s.auth.kdfRuns, ok, 'a refused login ran no KDF');
    } finally {
      s.close();
    }
  });

  test('an admitted check whose time runs out while it waits is expired, never run; joiners of the same check share the verdict', async () => {
    const s = await setup(2);
    try {
      // The estimate is made optimistic so that the check is admitted; the blockers then outlast its deadline.
      s.auth.state.estimate = () => ({ finishMs: 1, runMs: 1, runsPerSecond: 1000 });
      const b = blockers(3);
      const before = kdfState().completed;
      const receivedAt = receivedWithLeft(100);
      const [v1, v2] = await Promise.all([s.auth.verify('t.example', 'u0', 'pw', receivedAt), s.auth.verify('t.example', 'u0', 'pw', receivedAt)]);
      assert.equal(v1.kind, 'expired');
      assert.equal(v2.kind, 'expired');
      assert.equal(s.auth.state.expired, 1);
      assert.equal(s.auth.kdfRuns, 0, 'not counted as a KDF run');
      assert.equal(b.settled(), false);
      await b.done;
      assert.equal(kdfState().completed, before + 3, 'its KDF never ran');
      assert.equal(s.auth.state.pending, 0);
      // The same credentials later: admitted and verified.
      s.auth.state.estimate = kdfEstimate;
      assert.equal((await s.auth.verify('t.example', 'u0', 'pw')).kind, 'ok');
    } finally {
      s.close();
    }
  });

  test('an unknown user faces the same deadline refusal as a known one (a 429 tells nothing)', async () => {
    const s = await setup(1);
    try {
      s.auth.state.estimate = () => ({ finishMs: 60_000, runMs: 10, runsPerSecond: 100 });
      assert.equal((await s.auth.verify('t.example', 'u0', 'pw')).kind, 'busy');
      assert.equal((await s.auth.verify('t.example', 'nobody', 'pw')).kind, 'busy');
      assert.equal(s.auth.state.refusedDeadline, 2);
      assert.equal(s.auth.kdfRuns + s.auth.burns, 0);
    } finally {
      s.close();
    }
  });

  test('a free pool admits even when the measured run time says it is too slow (a starved sample never locks logins out)', async () => {
    const s = await setup(1);
    try {
      // One run measured while the host was starved: 60 s. With a thread free, the check runs
      // (and measures again); queued behind work, the same estimate refuses at once.
      s.auth.state.estimate = () => ({ finishMs: 60_000, runMs: 60_000, runsPerSecond: 0.02, idle: true });
      assert.equal((await s.auth.verify('t.example', 'u0', 'pw')).kind, 'ok');
      assert.equal((await s.auth.verify('t.example', 'nobody', 'pw')).kind, 'bad');
      assert.equal(s.auth.state.refusedDeadline, 0);
      s.auth.state.estimate = () => ({ finishMs: 60_000, runMs: 60_000, runsPerSecond: 0.02, idle: false });
      assert.equal((await s.auth.verify('t.example', 'u0', 'other')).kind, 'busy');
      assert.equal(s.auth.state.refusedDeadline, 1);
    } finally {
      s.close();
    }
  });

  test('cached and remembered logins are answered while the KDF queue is full', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-admit-'));
    const store = openSqliteStore(dir);
    try {
      store.users.add({ domain: 't.example', name: 'alice', passwordHash: await hashPassword('a-pw', 10) });
      store.users.add({ domain: 't.example', name: 'bob', passwordHash: await hashPassword('b-pw', 10) });
      const cfg = parseConfigText('provisioning:\n  passwords: {scryptCost: 10}\n  tenants:\n    t.example: {}\n', 'a.yaml');
      const repo = store.remembered;
      assert.ok(repo);
      const remembered = new RememberedLogins(repo, loadRememberKey(dir, {}), { rememberForMs: 86_400_000, maxRows: 100 }, silent);
      const cache = new CredentialCache({ ttlMs: 60_000, maxEntries: 100 });
      const auth = new Authenticator(new UserDirectory(cfg.provisioning, store.users), store.users, { maxPending: 10_000, scryptCost: 10, cache, log: silent });
      auth.state.remembered = remembered;
      assert.equal((await auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok');
      assert.equal((await auth.verify('t.example', 'bob', 'b-pw')).kind, 'ok');
      await remembered.flush();
      cache.clear();
      assert.equal((await auth.verify('t.example', 'alice', 'a-pw')).kind, 'ok'); // remembered → cached in memory again
      const b = blockers(3);
      const queued = Array.from({ length: 5 }, (_, i) => auth.verify('t.example', 'alice', `guess${i}`));
      const cached = await auth.verify('t.example', 'alice', 'a-pw');
      const fromStore = await auth.verify('t.example', 'bob', 'b-pw');
      assert.equal(cached.kind === 'ok' && cached.cached, true);
      assert.equal(fromStore.kind === 'ok' && fromStore.remembered, true);
      assert.equal(b.settled(), false, 'answered while the KDF queue was still busy');
      await b.done;
      // The guesses either waited (bad), could not be answered in time behind the blockers (busy),
      // or were admitted and then outlived by the blockers on a starved box (expired, never run):
      // never 'ok', and none of them held up the two answers above.
      for (const v of await Promise.all(queued)) assert.ok(v.kind === 'bad' || v.kind === 'busy' || v.kind === 'expired', v.kind);
      await remembered.close();
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('HTTP: a request whose time ran out while its check waited gets its connection closed (counted); the next one is answered', async () => {
    const f = await startFace(
      'http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\n' +
        `provisioning:\n  defaultDomain: t.example\n  passwords: {scryptCost: 10, clientTimeout: 1, kdfThreads: 1}\n  tenants:\n    t.example:\n      auth: credentials\n      users:\n        alice: {password: "${await hashPassword('a-pw', 10)}"}\n`,
    );
    try {
      const auth = f.face.engine?.auth;
      assert.ok(auth);
      await auth.warmUp();
      auth.state.estimate = () => ({ finishMs: 1, runMs: 1, runsPerSecond: 1000 });
      const b = blockers(6); // longer than the 0.5 s the 1 s client timeout leaves
      const outcome = await new Promise<string>((resolve) => {
        const body = 'username=alice&password=a-pw';
        const req = request(
          { host: '127.0.0.1', port: f.face.port, path: '/jitsi', method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length } },
          (res) => resolve(`status ${res.statusCode}`),
        );
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end(body);
      });
      assert.equal(outcome, 'ECONNRESET', 'closed without an answer (the Jitsi client re-sends)');
      await b.done;
      const st = f.face.stats();
      assert.equal(st['dropped:deadline-passed'], 1, JSON.stringify(st));
      assert.equal(st['kdf-expired'], 1);
      assert.ok(st['kdf-busy-ms'] !== undefined && st['kdf-busy-ms'] > 0, "the pool's thread time is reported");
      assert.equal(typeof st['kdf-missed-ms'], 'number');
      auth.state.estimate = kdfEstimate;
      const ok = await f.face.app?.inject({ method: 'POST', url: '/jitsi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=alice&password=a-pw' });
      assert.equal(ok?.statusCode, 200);
    } finally {
      await f.close();
    }
  });
});
