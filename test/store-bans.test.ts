/**
 * Issue 14, item 6: the store's ban table (migration 8) is bounded and drops expired bans; a
 * face's BanList built from it (limits/banstore.ts) restores live bans, writes new ones and
 * removes lifted ones, with an unban line in the event log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from '../src/store/driver'; // better-sqlite3 12 or 13, whichever this Node line loads
import { migrate, promised } from '../src/store/sqlite';
import { createBanRepository } from '../src/store/bans';
import { makeBanList } from '../src/limits/banstore';
import { createLogger } from '../src/log';

const guard = <T>(_what: string, f: () => T): T => f();

function repo(cap?: number) {
  const db = new Database(':memory:');
  migrate(db);
  return { db, bans: createBanRepository(db, guard, cap) };
}

test('put keeps at most cap bans per face (those ending first go) and drops expired ones', () => {
  const { db, bans } = repo(3);
  const now = Date.now();
  for (let i = 0; i < 5; i++) bans.put({ face: 'http', scope: 'ip', subject: `192.0.2.${i}`, since: now, until: now + 1000 * (i + 1), reason: 'r' });
  bans.put({ face: 'tftp', scope: 'ip', subject: '192.0.2.9', since: now, until: now + 500, reason: 'r' });
  assert.deepEqual(bans.list('http', now).map((b) => b.subject), ['192.0.2.2', '192.0.2.3', '192.0.2.4']);
  assert.deepEqual(bans.list('tftp', now).map((b) => b.subject), ['192.0.2.9'], 'the cap is per face');
  assert.deepEqual(bans.list('tftp', now + 600), [], 'expired: not listed');
  assert.equal((db.prepare("SELECT COUNT(*) AS n FROM bans WHERE face = 'tftp'").get() as { n: number }).n, 0, 'and deleted');
  assert.equal(bans.remove('http', 'ip', '192.0.2.3'), true);
  assert.equal(bans.remove('http', 'ip', '192.0.2.3'), false);
  db.close();
});

test('makeBanList: a ban is stored, restored by a new list, lifted from the store with an unban line', async () => {
  const { db, bans } = repo();
  let t = Date.parse('2030-01-01T00:00:00Z');
  const now = (): number => t;
  const lines: string[] = [];
  const sink = { write: (l: string) => void lines.push(l), close: () => undefined };
  const counters = new Map<string, number>();
  const wiring = { face: 'http', log: createLogger('silent'), repo: promised(bans), events: () => sink, count: (n: string) => void counters.set(n, (counters.get(n) ?? 0) + 1), now };
  const cfg = { maxRetry: 2, findTime: 60, banTime: 600, trustedNetworks: [] };
  const a = await makeBanList(cfg, wiring);
  a.fail('192.0.2.7', undefined);
  a.fail('192.0.2.7', undefined);
  assert.equal(a.check('192.0.2.7', undefined).banned, true);
  // A restart: a new list reads it back.
  t += 10_000;
  const b = await makeBanList(cfg, wiring);
  const v = b.check('192.0.2.7', undefined);
  assert.ok(v.banned && v.retryAfter === 590, 'restored with its own end');
  assert.deepEqual(b.list().map((x) => [x.scope, x.subject, x.reason]), [['ip', '192.0.2.7', '2 failures within 60 s']]);
  // A reload that changes http.bans carries the live bans over (not read again from the store).
  const c = await makeBanList({ ...cfg, maxRetry: 5 }, { ...wiring, previous: b });
  assert.equal(c.check('192.0.2.7', undefined).banned, true);
  assert.equal(c.lift((x) => x.subject === '192.0.2.7').length, 1);
  assert.equal(c.check('192.0.2.7', undefined).banned, false, 'lifted at once');
  assert.deepEqual(bans.list('http', t), [], 'and removed from the store');
  assert.match(lines.at(-1) ?? '', /provisiond\[security\]: unban scope=ip subject=192\.0\.2\.7 reason=lifted$/);
  assert.equal(counters.get('bans-lifted'), 1);
  // Expired while the daemon was down: not restored.
  c.fail('192.0.2.8', undefined);
  c.fail('192.0.2.8', undefined);
  c.fail('192.0.2.8', undefined);
  c.fail('192.0.2.8', undefined);
  c.fail('192.0.2.8', undefined);
  assert.equal(bans.list('http', t).length, 1);
  t += 601_000;
  assert.deepEqual((await makeBanList(cfg, wiring)).list(), []);
  db.close();
});

test('makeBanList on a shared store: a ban lifted on another node ends here too; a ban whose write failed is kept and written again', async () => {
  const { db, bans } = repo();
  const p = promised(bans);
  let down = false;
  // One store, two nodes; `down` makes the writes fail as a store that went away does.
  const store = { ...p, put: (b: Parameters<typeof p.put>[0]) => (down ? Promise.reject(new Error('store down')) : p.put(b)) };
  let t = Date.parse('2030-01-01T00:00:00Z');
  const now = (): number => t;
  const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
  const node = async (name: string) => {
    const lines: string[] = [];
    const counters = new Map<string, number>();
    const sink = { write: (l: string) => void lines.push(l), close: () => undefined };
    const list = await makeBanList(
      { maxRetry: 2, findTime: 60, banTime: 600, trustedNetworks: [] },
      { face: 'http', log: createLogger('silent'), repo: store, shared: true, events: () => sink, count: (n: string) => void counters.set(n, (counters.get(n) ?? 0) + 1), now },
    );
    return { name, list, lines, counters };
  };
  const a = await node('a');
  const b = await node('b');
  const admitted = async (n: { list: Awaited<ReturnType<typeof makeBanList>> }, ip: string): Promise<string> => {
    const r = await n.list.admit(ip, undefined);
    if (r.kind === 'go') r.release();
    return r.kind;
  };
  // A bans; B reads the row at its next due read (the refused request waits for that read).
  a.list.fail('192.0.2.7', undefined);
  a.list.fail('192.0.2.7', undefined);
  await flush();
  assert.equal(bans.list('http', t).length, 1, 'written');
  t += 1001;
  assert.equal(await admitted(b, '192.0.2.7'), 'go', 'a request no ban refuses here starts the due read but never waits for it');
  await flush();
  assert.equal(await admitted(b, '192.0.2.7'), 'banned', 'node B holds node A\'s ban once read');
  // Lifted on A (the administrator's `bans lift`): the row goes; B drops its copy at its next read.
  assert.equal(a.list.lift((x) => x.subject === '192.0.2.7').length, 1);
  await flush();
  assert.deepEqual(bans.list('http', t), []);
  assert.equal(await admitted(b, '192.0.2.7'), 'banned', 'B\'s last read was less than a second ago: still banned there');
  t += 1001;
  assert.equal(await admitted(b, '192.0.2.7'), 'go', 'the next request after a due read is served');
  assert.deepEqual(b.list.list(), []);
  assert.equal(b.counters.get('bans-lifted-elsewhere'), 1);
  assert.match(b.lines.at(-1) ?? '', /unban scope=ip subject=192\.0\.2\.7 reason=lifted-elsewhere$/);
  assert.equal(b.counters.get('bans-lifted'), undefined, 'not counted as lifted by this node\'s administrator');
  // A ban made while the store is down: never written, so never taken for lifted elsewhere.
  down = true;
  a.list.fail('192.0.2.9', undefined);
  a.list.fail('192.0.2.9', undefined);
  await flush();
  assert.equal(a.counters.get('bans-store-errors'), 1);
  t += 1001;
  assert.equal(await admitted(a, '192.0.2.9'), 'banned', 'kept although its row is missing (the write failed)');
  await flush();
  down = false;
  t += 1001;
  assert.equal(await admitted(a, '192.0.2.9'), 'banned');
  await flush();
  assert.deepEqual(bans.list('http', t).map((x) => x.subject), ['192.0.2.9'], 'written again once the store is back');
  t += 1001;
  assert.equal(await admitted(b, '192.0.2.9'), 'go');
  await flush();
  assert.equal(await admitted(b, '192.0.2.9'), 'banned', 'and so held on node B');
  // B's administrator lifts it now: A drops it at its next due read.
  assert.equal(b.list.lift((x) => x.subject === '192.0.2.9').length, 1);
  await flush();
  t += 1001;
  assert.equal(await admitted(a, '192.0.2.9'), 'go');
  db.close();
});
