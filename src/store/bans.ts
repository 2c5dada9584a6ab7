/**
 * bans.ts: the SQLite side of BanRepository (table `bans`, migration 8): the brute-force bans
 * of the HTTP and TFTP faces, kept so that a restart does not lift them (issue 14).
 *
 * Bounded: every write deletes the expired rows and keeps at most MAX_STORED_BANS per face (over
 * it, the ones ending first go, down to 90 % of the cap at once). Times are integers (ms since the epoch) so expiry is one indexed compare.
 */
import type Database from 'better-sqlite3';
import type { StoredBan, SyncBanRepository } from './repository';
import type { Guard } from './phones';

/** MAX_STORED_BANS caps the rows kept per face (the BanList's own cap is larger; the store keeps the newest). */
export const MAX_STORED_BANS = 10_000;

interface BanRow {
  face: string;
  scope: string;
  subject: string;
  since: number;
  until: number;
  reason: string;
}

/** createBanRepository builds BanRepository on an opened, migrated connection. */
export function createBanRepository(db: Database.Database, guard: Guard, cap: number = MAX_STORED_BANS): SyncBanRepository {
  const expire = db.prepare('DELETE FROM bans WHERE until <= ?');
  const listFace = db.prepare<[string, number], BanRow>('SELECT face, scope, subject, since, until, reason FROM bans WHERE face = ? AND until > ? ORDER BY since, subject');
  const upsert = db.prepare('INSERT OR REPLACE INTO bans (face, scope, subject, since, until, reason) VALUES (@face, @scope, @subject, @since, @until, @reason)');
  const countFace = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM bans WHERE face = ?');
  // Over the cap, the bans ending first go, in one batch down to 90 % of the cap (amortised: a
  // ban at the cap costs a count, not a sort of the whole table).
  const trim = db.prepare(
    `DELETE FROM bans WHERE face = @face AND (scope, subject) IN
       (SELECT scope, subject FROM bans WHERE face = @face ORDER BY until LIMIT @excess)`,
  );
  const del = db.prepare('DELETE FROM bans WHERE face = ? AND scope = ? AND subject = ?');
  const put = db.transaction((b: StoredBan) => {
    expire.run(Date.now());
    upsert.run({ ...b, since: Math.floor(b.since), until: Math.floor(b.until) });
    const n = countFace.get(b.face)?.n ?? 0;
    if (n > cap) trim.run({ face: b.face, excess: n - Math.floor(cap * 0.9) });
  });
  return {
    list: (face, now) =>
      guard('ban list', () => {
        expire.run(now);
        return listFace.all(face, now);
      }).map((r): StoredBan => ({ face: r.face, scope: r.scope === 'user' ? 'user' : 'ip', subject: r.subject, since: r.since, until: r.until, reason: r.reason })),
    put: (b) => guard('ban write', () => put.immediate(b)),
    remove: (face, scope, subject) => guard('ban removal', () => del.run(face, scope, subject).changes === 1),
  };
}
