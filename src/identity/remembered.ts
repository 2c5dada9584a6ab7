/**
 * remembered.ts: password verifications remembered across restarts (issue 16).
 *
 * After a successful KDF check the daemon stores a verifier, HMAC-SHA256 under a server key of
 * (tenant, user, stored hash's fingerprint, password), with an expiry (`passwords.rememberFor`).
 * A later login with the same password against the same stored hash finds the row and skips the
 * KDF, in this process, a restarted one or another HTTP worker. A password change gives another
 * fingerprint (and the store drops the user's rows in the same transaction), a deleted user
 * drops them too, and rows carry the key's id: a changed key leaves them unusable (purged).
 *
 * The key lives apart from the database: `$CREDENTIALS_DIRECTORY/remember-key` when systemd
 * passes one (`LoadCredential=`), else `stateDir/remember.key` (0600, created on first use). It
 * is never written to the store and never logged. A stolen database alone reveals nothing; with
 * the key, a remembered user's password can be guessed at HMAC speed (README, "Security").
 *
 * Lookups are batched: one query at a time looks up every login waiting for it, so a burst
 * after a restart needs a few queries, not one per login (one each overflowed a PostgreSQL pool's
 * waiting room, and the refused lookups ran the KDF).
 *
 * Writes never delay an answer: verifiers wait in a bounded buffer (over it: dropped, counted)
 * and go to the store in one transaction per flush; a store locked by another process keeps
 * them for a later flush. A lookup that fails (locked store, any error) counts and falls through
 * to the KDF.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StoreBusyError, type RememberedLogin, type RememberedLoginRepository } from '../store/repository';
import { ProvError, errorMessage } from '../errors';
import { LookupBatcher } from './batch';
import type { Logger } from '../log';

/** KEY_FILE is the key's file name in stateDir; CREDENTIAL_NAME its name under $CREDENTIALS_DIRECTORY. */
export const KEY_FILE = 'remember.key';
export const CREDENTIAL_NAME = 'remember-key';
/** MIN_KEY_BYTES: a key file shorter than this is refused (it is used whole as the HMAC key). */
export const MIN_KEY_BYTES = 32;
/** MAX_PENDING: verifiers waiting to be written at most (beyond: dropped, counted). */
export const MAX_PENDING = 10_000;
/** LOOKUP_BATCH: verifiers looked up in one query at most; MAX_LOOKUPS_WAITING: lookups waiting for a query at most (beyond: the KDF, counted as a lookup error). */
const LOOKUP_BATCH = 500;
export const MAX_LOOKUPS_WAITING = 10_000;
/** FLUSH_MS: how long new verifiers wait to be written together; RETRY_MS after a locked store. */
const FLUSH_MS = 200;
const RETRY_MS = 1_000;
/** BATCH_MAX: verifiers written per transaction (500 take ~10 ms of the event loop; 10 000 took ~190 ms); the rest follow at once. */
const BATCH_MAX = 500;

/** RememberKey is the server key, its id (stored in each row) and where it came from. */
export interface RememberKey {
  readonly key: Buffer;
  readonly id: string;
  readonly source: string;
}

/** keyIdOf names a key without revealing it (an HMAC of a constant under the key). */
export function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update('provisiond remembered-login key id', 'utf8').digest('base64url').slice(0, 16);
}

function keyError(message: string, cause?: unknown): ProvError {
  return new ProvError('PROVD_ERR_REMEMBER_KEY', message, cause === undefined ? undefined : { cause });
}

/** readKeyFile reads a key file, refusing a short one and (checkMode) one that others may read. */
function readKeyFile(path: string, checkMode: boolean): RememberKey {
  let key: Buffer;
  try {
    if (checkMode) {
      const mode = statSync(path).mode & 0o777;
      if ((mode & 0o077) !== 0) throw keyError(`the remembered-login key ${path} has mode ${mode.toString(8).padStart(4, '0')}: others may read it; run 'chmod 600 ${path}'`);
    }
    key = readFileSync(path);
  } catch (err) {
    if (err instanceof ProvError) throw err;
    throw keyError(`cannot read the remembered-login key ${path}: ${errorMessage(err)}`, err);
  }
  if (key.length < MIN_KEY_BYTES) throw keyError(`the remembered-login key ${path} has ${key.length} bytes; at least ${MIN_KEY_BYTES} are needed (delete it and provisiond makes a new one)`);
  return { key, id: keyIdOf(key), source: path };
}

/**
 * loadRememberKey returns the server key: systemd's credential when `CREDENTIALS_DIRECTORY`
 * holds `remember-key`, else stateDir/remember.key, created (0600, atomically: two processes
 * starting at once end up with the same key) when absent. It throws PROVD_ERR_REMEMBER_KEY.
 */
export function loadRememberKey(stateDir: string, env: NodeJS.ProcessEnv = process.env): RememberKey {
  const creds = env['CREDENTIALS_DIRECTORY'];
  if (creds !== undefined && creds !== '') {
    const p = join(creds, CREDENTIAL_NAME);
    let exists = false;
    try {
      exists = statSync(p).isFile();
    } catch {
      exists = false;
    }
    // systemd owns the credential directory and its modes; the file is read as given.
    if (exists) return readKeyFile(p, false);
  }
  const path = join(stateDir, KEY_FILE);
  try {
    return readKeyFile(path, true);
  } catch (err) {
    const cause = err instanceof ProvError ? (err as { cause?: unknown }).cause : err;
    if ((cause as { code?: unknown } | undefined)?.code !== 'ENOENT') throw err;
  }
  const tmp = join(stateDir, `.${KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600); // whatever the umask
    matchDirOwner(stateDir, tmp);
    try {
      linkSync(tmp, path); // never replaces: a key another process made first wins
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
  } catch (err) {
    throw keyError(`cannot create the remembered-login key ${path}: ${errorMessage(err)}`, err);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
  return readKeyFile(path, true);
}

/** matchDirOwner gives a file root made the owner of its directory (the CLI as root, the daemon as its user). */
function matchDirOwner(dir: string, file: string): void {
  if (process.getuid?.() !== 0) return;
  try {
    const st = statSync(dir);
    if (st.uid !== 0) chownSync(file, st.uid, st.gid);
  } catch {
    // best effort: a key the daemon cannot read is reported when it starts
  }
}

/** RememberOptions: how long a verification is remembered (ms; 0 = off) and the most rows kept. */
export interface RememberOptions {
  readonly rememberForMs: number;
  readonly maxRows: number;
  /**
   * shared: the store is shared with other nodes (PostgreSQL). Then this node never deletes rows
   * made with another key (another node's, if the nodes' keys differ) nor clears the table when
   * its own rememberFor is 0: its own configuration only decides what it uses and writes.
   */
  readonly shared?: boolean;
}

/** RememberedLogins looks up and writes remembered verifications for one process. */
export class RememberedLogins {
  /** hits: logins answered by a remembered verification; misses: lookups that found none. */
  hits = 0;
  misses = 0;
  /** lookupErrors: lookups that failed (locked store or other), each fell through to the KDF. */
  lookupErrors = 0;
  written = 0;
  /** dropped: verifiers not written because the buffer was full. */
  dropped = 0;
  writeErrors = 0;
  /** purged: rows deleted at start or reload (another key's, or every row when remembering is off). */
  purged = 0;
  private pending = new Map<string, RememberedLogin>();
  /**
   * lookups gathers the lookups into batched queries, one at a time (batch.ts): a burst of logins
   * after a restart costs a few queries instead of one each (one query each outgrew the
   * PostgreSQL pool's `maxWaiting` and those refused fell through to the KDF: the two-node
   * bench's finding). Over MAX_LOOKUPS_WAITING a lookup is refused: the KDF, counted.
   */
  private readonly lookups: LookupBatcher<true>;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private errorLogged = false;
  private opts: RememberOptions;

  constructor(
    private readonly repo: RememberedLoginRepository,
    private readonly key: RememberKey,
    opts: RememberOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.opts = opts;
    this.lookups = new LookupBatcher<true>(
      async (vs) => new Map([...(await this.repo.hasMany(vs, this.key.id, this.now()))].map((v) => [v, true] as const)),
      LOOKUP_BATCH,
      MAX_LOOKUPS_WAITING,
    );
  }

  /** keyId is the id of the key in use (tests). */
  get keyId(): string {
    return this.key.id;
  }

  get enabled(): boolean {
    return this.opts.rememberForMs > 0 && this.opts.maxRows > 0 && !this.closed;
  }

  /**
   * configure applies a (reloaded) rememberFor and size and purges what can no longer be used:
   * another key's rows and expired ones (the table trimmed to the size), or every row when
   * remembering is off. A locked store is logged; the
   * next start or reload purges.
   */
  async configure(opts: RememberOptions): Promise<void> {
    this.opts = opts;
    try {
      const n = opts.shared === true ? 0 : this.enabled ? await this.repo.purgeOtherKeys(this.key.id) : await this.repo.clear();
      this.purged += n;
      // Expired rows go, and a smaller rememberSize applies now rather than at the next write.
      if (this.enabled) await this.repo.putMany([], this.now(), this.opts.maxRows);
      if (n > 0) this.log.info({ rows: n, reason: this.enabled ? 'another key' : 'rememberFor is 0' }, 'remembered logins purged');
    } catch (err) {
      // Another process (an HTTP worker, the CLI) holding the lock is no fault: it is purged next time.
      const level = err instanceof StoreBusyError ? 'info' : 'warn';
      this.log[level]({ err: errorMessage(err) }, 'remembered logins not purged (the next start or reload retries)');
    }
  }

  /** verifier derives the stored value; NUL separators keep the fields apart. */
  verifier(tenant: string, name: string, password: string, fingerprint: string): string {
    return createHmac('sha256', this.key.key).update(`v1\0${tenant}\0${name.toLowerCase()}\0${fingerprint}\0${password}`, 'utf8').digest('base64');
  }

  /** check tells whether this password was verified against this stored hash and is still remembered; false on any error. */
  async check(tenant: string, name: string, password: string, fingerprint: string): Promise<boolean> {
    if (!this.enabled) return false;
    const v = this.verifier(tenant, name, password, fingerprint);
    if (this.pending.has(v)) {
      this.hits++;
      return true;
    }
    try {
      const found = (await this.lookups.lookup(v)) !== undefined;
      if (found) this.hits++;
      else this.misses++;
      return found;
    } catch (err) {
      this.lookupErrors++;
      if (!(err instanceof StoreBusyError) && !this.errorLogged) {
        this.errorLogged = true;
        this.log.warn({ err: errorMessage(err) }, 'remembered login lookup failed; logins use the KDF (logged once)');
      }
      return false;
    }
  }

  /** record queues a verified password's verifier for writing (never waits; over the buffer: dropped, counted). */
  record(tenant: string, name: string, password: string, fingerprint: string): void {
    if (!this.enabled) return;
    const v = this.verifier(tenant, name, password, fingerprint);
    if (!this.pending.has(v) && this.pending.size >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.pending.set(v, { verifier: v, tenant, name: name.toLowerCase(), keyId: this.key.id, expiresAt: this.now() + this.opts.rememberForMs });
    this.schedule(FLUSH_MS);
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
    this.timer.unref();
  }

  /** flush writes the oldest waiting verifiers, at most BATCH_MAX in one transaction (one flush at a time); more waiting are written next, without delay. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0) return;
    const batch: RememberedLogin[] = [];
    for (const [v, r] of this.pending) {
      if (batch.length >= BATCH_MAX) break;
      batch.push(r);
      this.pending.delete(v);
    }
    this.flushing = (async () => {
      try {
        this.written += await this.repo.putMany(batch, this.now(), this.opts.maxRows);
        if (this.pending.size > 0) this.schedule(0);
      } catch (err) {
        if (err instanceof StoreBusyError) {
          // Kept for a later flush (newer entries first, still bounded).
          for (const r of batch) if (!this.pending.has(r.verifier) && this.pending.size < MAX_PENDING) this.pending.set(r.verifier, r);
          this.schedule(RETRY_MS);
          return;
        }
        this.writeErrors++;
        if (!this.errorLogged) {
          this.errorLogged = true;
          this.log.warn({ err: errorMessage(err), rows: batch.length }, 'remembered logins not written; logins use the KDF (logged once)');
        }
      }
    })().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** close writes what waits (a locked store: what it can now) and stops; later records are ignored. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    for (let left = this.pending.size; left > 0; left -= BATCH_MAX) {
      const before = this.pending.size;
      await this.flush();
      if (this.pending.size >= before) break; // nothing written (locked, or an error): stop trying
    }
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** stats are the counters (names as in the HTTP face's README). */
  stats(): Record<string, number> {
    return {
      'remembered-hits': this.hits,
      'remembered-misses': this.misses,
      'remembered-written': this.written,
      'remembered-pending': this.pending.size,
      'remembered-dropped:buffer-full': this.dropped,
      'remembered-lookup-errors': this.lookupErrors,
      'remembered-write-errors': this.writeErrors,
      'remembered-purged': this.purged,
    };
  }
}
