/**
 * remembered.ts: the SQLite side of RememberedLoginRepository (table `remembered_logins`,
 * migration 9): password verifications remembered across restarts (issue 16; the verifier and
 * its key are made in src/identity/remembered.ts, never here).
 *
 * Bounded: every batch written deletes the expired rows and keeps at most `cap` (over it, the
 * rows expiring first go, down to 90 % of the cap at once, so a write at the cap costs a count,
 * not a sort of the whole table). The statements are synchronous point lookups and small
 * batches; the interface returns Promises so that a networked backend fits the same contract.
 */
import type Database from 'better-sqlite3';
import type { RememberedLogin, RememberedLoginRepository } from './repository';
import type { Guard } from './phones';

/** createRememberedLoginRepository builds RememberedLoginRepository on an opened, migrated connection. */
export function createRememberedLoginRepository(db: Database.Database, guard: Guard): RememberedLoginRepository {
  const has = db.prepare<[string, string, number], { n: number }>('SELECT 1 AS n FROM remembered_logins WHERE verifier = ? AND key_id = ? AND expires_at > ?');
  const put = db.prepare('INSERT OR REPLACE INTO remembered_logins (verifier, tenant, name, key_id, expires_at) VALUES (@verifier, @tenant, @name, @keyId, @expiresAt)');
  const expire = db.prepare('DELETE FROM remembered_logins WHERE expires_at <= ?');
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM remembered_logins');
  const trim = db.prepare('DELETE FROM remembered_logins WHERE verifier IN (SELECT verifier FROM remembered_logins ORDER BY expires_at LIMIT ?)');
  const forget = db.prepare('DELETE FROM remembered_logins WHERE tenant = ? AND name = ?');
  const otherKeys = db.prepare('DELETE FROM remembered_logins WHERE key_id <> ?');
  const clear = db.prepare('DELETE FROM remembered_logins');
  const putMany = db.transaction((rows: readonly RememberedLogin[], now: number, cap: number): number => {
    expire.run(now);
    let n = 0;
    for (const r of rows) {
      if (r.expiresAt <= now) continue;
      put.run({ verifier: r.verifier, tenant: r.tenant, name: r.name.toLowerCase(), keyId: r.keyId, expiresAt: Math.floor(r.expiresAt) });
      n++;
    }
    const total = count.get()?.n ?? 0;
    if (total > cap) trim.run(total - Math.floor(cap * 0.9));
    return n;
  });
  return {
    has: async (verifier, keyId, now) => guard('remembered login lookup', () => has.get(verifier, keyId, Math.floor(now)) !== undefined),
    hasMany: async (verifiers, keyId, now) =>
      guard('remembered login lookup', () => {
        const t = Math.floor(now);
        const found = new Set<string>();
        for (const v of verifiers) if (has.get(v, keyId, t) !== undefined) found.add(v);
        return found;
      }),
    putMany: async (rows, now, cap) => guard('remembered login write', () => putMany.immediate(rows, Math.floor(now), Math.max(0, Math.floor(cap)))),
    forgetUser: async (tenant, name) => guard('remembered login removal', () => forget.run(tenant, name.toLowerCase()).changes),
    purgeOtherKeys: async (keyId) => guard('remembered login purge', () => otherKeys.run(keyId).changes),
    clear: async () => guard('remembered login purge', () => clear.run().changes),
    count: async () => guard('remembered login count', () => count.get()?.n ?? 0),
  };
}
