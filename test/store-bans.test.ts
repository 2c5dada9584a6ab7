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
