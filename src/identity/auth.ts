/**
 * auth.ts: who the user is, and whether the password is right.
 *
 * Users come from the configuration file (labs) and from the store (`provisiond user …`); a
 * name defined in both is the configuration's (a startup warning says so). Verification runs
 * scrypt off the event loop, at most `maxPending` at a time (beyond that: 'busy', answered 429),
 * with concurrent checks of the same credentials sharing one KDF run and a CredentialCache in
 * front. An unknown user costs the same KDF run as a known one, and so does a user with a weak
 * imported form (md5:, plain:), whose check alone would take microseconds and tell them apart.
 *
 * Unknown users share a quarter of the KDF slots (issue 10: guesses of random names from many
 * addresses used to fill the queue and starve real logins). Beyond that budget an unknown user's
 * answer costs no KDF run: it waits a duration drawn from the recent real KDF runs, so its
 * response time still looks like a known user's wrong password under the same load.
 *
 * The cache, the queue and the counters live in an AuthState that a reload hands to the next
 * configuration's Authenticator: cached entries stay valid (keyed by the stored hash's
 * fingerprint, so a changed password drops its entry on use) and the counters go on.
 *
 * Issue 16: behind the memory cache, a verification remembered in the store (remembered.ts)
 * answers without the KDF after a restart or in another worker. A login that needs the KDF is
 * admitted by deadline: it waits while the measured KDF rate (kdf.ts kdfEstimate) says it can be
 * answered within the client's timeout (`passwords.clientTimeout`), gets 'busy' (429) at once
 * when it cannot, and 'expired' when its time ran out while it waited (its KDF never runs).
 * `maxPendingVerifications` stays as the hard memory bound.
 */
import { parseHash, verifyPassword, burnVerification, upgradeNeeded, hashPassword, type ParsedHash } from './passwords';
import { CredentialCache, fingerprintOf } from './credcache';
import { LookupBatcher } from './batch';
import { KdfExpiredError, kdfEstimate, kdfRefused, type KdfEstimate } from './kdf';
import type { RememberedLogins } from './remembered';
import type { UsersConfig } from './config';
import { StoreBusyError, type StoredUser, type SyncUserRepository, type UserRepository } from '../store/repository';
import type { Logger } from '../log';
import { errorMessage } from '../errors';
import { randomInt } from 'node:crypto';

/** UserRecord is a user found in the config or the store. */
export interface UserRecord {
  readonly source: 'config' | 'store';
  readonly domain: string;
  readonly name: string;
  readonly passwordHash: string;
  readonly parsed: ParsedHash;
  /** fingerprint identifies passwordHash for the credential cache (computed once per record). */
  readonly fingerprint: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/**
 * Verdict of a verification: 'busy' could not be admitted in time (429 at once), 'expired' was
 * admitted but its time ran out while it waited (its KDF never ran). `cached` is true when no
 * KDF ran (memory cache or remembered verification); `remembered` when the store's answered.
 */
export type AuthVerdict =
  | { readonly kind: 'ok'; readonly user: UserRecord; readonly cached: boolean; readonly remembered?: boolean }
  | { readonly kind: 'bad' }
  | { readonly kind: 'busy' }
  | { readonly kind: 'expired' };

/** DEFAULT_CLIENT_TIMEOUT_MS: the Jitsi client's read timeout (contract §4.4). */
export const DEFAULT_CLIENT_TIMEOUT_MS = 10_000;
/** ANSWER_MARGIN_MS: taken off the client's timeout for rendering, writing and the event loop's lag. */
export const ANSWER_MARGIN_MS = 500;
/** UNMEASURED_DEPTH: before any KDF run has been measured, at most this many wait (the old fixed depth). */
export const UNMEASURED_DEPTH = 64;
/** UNKNOWN_BUDGET_BASE: unknown users hold a quarter of min(maxPending, this) KDF slots. */
const UNKNOWN_BUDGET_BASE = 64;

/** Flight is what a KDF check of one credential ends with (shared by concurrent identical checks). */
type Flight = 'good' | 'bad' | 'expired';

/** USER_BATCH: store users looked up in one query at most (a store with getMany); USER_LOOKUPS_WAITING: lookups waiting at most (beyond: StoreBusyError, 503). */
const USER_BATCH = 500;
const USER_LOOKUPS_WAITING = 10_000;

/** LAST_KNOWN_MAX: store users whose last-read record is kept (for cached logins while the store is down). */
export const LAST_KNOWN_MAX = 10_000;

/** UserDirectory finds users by (domain, case-insensitive name). */
export class UserDirectory {
  private readonly fromConfig = new Map<string, UserRecord>();
  /**
   * lastKnown: the store users' records as last read (most recent last, at most LAST_KNOWN_MAX):
   * while the store cannot answer, a login in the memory cache is answered from it (known()).
   */
  private readonly lastKnown = new Map<string, UserRecord>();
  /** batcher gathers the store's user lookups into batched queries (a store with getMany: PostgreSQL). */
  private readonly batcher: LookupBatcher<StoredUser> | undefined;

  /**
   * store is the store's users; syncStore, the SQLite store's synchronous core, serves
   * lookupNow (the SIP phone room renders synchronously; it needs the embedded store).
   */
  constructor(
    cfg: UsersConfig,
    private readonly store: UserRepository | undefined,
    private readonly syncStore?: Pick<SyncUserRepository, 'get'> | undefined,
  ) {
    const s = store;
    if (s?.getMany !== undefined) {
      const getMany = s.getMany;
      this.batcher = new LookupBatcher<StoredUser>(
        async (ids) => {
          const keys = ids.map((id) => {
            const cut = id.indexOf('\0');
            return { domain: id.slice(0, cut), name: id.slice(cut + 1) };
          });
          return new Map((await getMany.call(s, keys)).map((u) => [`${u.domain}\0${u.name.toLowerCase()}`, u] as const));
        },
        USER_BATCH,
        USER_LOOKUPS_WAITING,
      );
    }
    for (const [domain, t] of Object.entries(cfg.tenants)) {
      for (const [name, u] of Object.entries(t.users)) {
        const parsed = parseHash(u.password);
        if (!parsed.ok) continue; // the schema rejected these already
        const rec: UserRecord = {
          source: 'config',
          domain,
          name: name.toLowerCase(),
          passwordHash: u.password,
          parsed: parsed.value,
          fingerprint: fingerprintOf(u.password),
          attributes: { ...u.attributes },
        };
        this.fromConfig.set(`${domain}\0${rec.name}`, rec);
      }
    }
  }

  /** configUsers lists the configuration's users. */
  configUsers(): UserRecord[] {
    return [...this.fromConfig.values()];
  }

  /** inConfig is true when the configuration defines this user. */
  inConfig(domain: string, name: string): boolean {
    return this.fromConfig.has(`${domain}\0${name.toLowerCase()}`);
  }

  async lookup(domain: string, name: string): Promise<UserRecord | undefined> {
    const low = name.toLowerCase();
    const id = `${domain}\0${low}`;
    const c = this.fromConfig.get(id);
    if (c) return c;
    if (this.store === undefined) return undefined;
    const rec = storeRecord(domain, this.batcher ? await this.batcher.lookup(id) : await this.store.get(domain, low));
    this.lastKnown.delete(id);
    if (rec !== undefined) {
      this.lastKnown.set(id, rec);
      if (this.lastKnown.size > LAST_KNOWN_MAX) {
        const oldest = this.lastKnown.keys().next().value;
        if (oldest !== undefined) this.lastKnown.delete(oldest);
      }
    }
    return rec;
  }

  /** known is a store user's record as last read (undefined: never read, gone, or pushed out). */
  known(domain: string, name: string): UserRecord | undefined {
    return this.lastKnown.get(`${domain}\0${name.toLowerCase()}`);
  }

  /** lookupNow is lookup without waiting: the configuration, then the SQLite store's core (if given). */
  lookupNow(domain: string, name: string): UserRecord | undefined {
    const low = name.toLowerCase();
    return this.fromConfig.get(`${domain}\0${low}`) ?? storeRecord(domain, this.syncStore?.get(domain, low));
  }
}

/** storeRecord makes a stored user a UserRecord (undefined for none or an unreadable hash). */
function storeRecord(domain: string, s: StoredUser | undefined): UserRecord | undefined {
  if (!s) return undefined;
  const parsed = parseHash(s.passwordHash);
  if (!parsed.ok) return undefined;
  return { source: 'store', domain, name: s.name, passwordHash: s.passwordHash, parsed: parsed.value, fingerprint: fingerprintOf(s.passwordHash), attributes: s.attributes };
}

/** DURATION_SAMPLES: how many recent KDF run times the unknown-user answer draws from. */
const DURATION_SAMPLES = 64;

/** AuthState outlives a configuration: the credential cache, the KDF queue and the counters. */
export class AuthState {
  /** pending counts KDF runs under way; pendingUnknown those of them for unknown users. */
  pending = 0;
  pendingUnknown = 0;
  readonly inflight = new Map<string, Promise<Flight>>();
  /** remembered: the store's remembered verifications (set by the face that owns a store; undefined: none). */
  remembered: RememberedLogins | undefined;
  /** refusedDeadline counts logins answered 'busy' because they could not be answered in time; expired those whose time ran out queued. */
  refusedDeadline = 0;
  refusedFull = 0;
  expired = 0;
  /** estimate is where admission reads the KDF's measured rate (kdf.ts; a test may replace it). */
  estimate: (ln: number) => ReturnType<typeof kdfEstimate> = kdfEstimate;
  /** kdfRuns counts verifications of known users; burns counts KDF runs spent on unknown or weak users. */
  kdfRuns = 0;
  burns = 0;
  /** mimics counts unknown-user answers that waited like a KDF run instead of running one. */
  mimics = 0;
  /** storeDownCached counts logins answered from the memory cache and the last-read record while the store could not answer. */
  storeDownCached = 0;
  /** warming is the warm-up run under way, if any (see Authenticator.warmUp). */
  warming: Promise<void> | undefined;
  private durations: number[] = [];
  private next = 0;
  /** cost is the scryptCost the samples were taken at (a reload that changes it starts afresh). */
  private cost: number | undefined;

  constructor(readonly cache: CredentialCache) {}

  /** useCost forgets the samples taken at another scryptCost. */
  useCost(cost: number): void {
    if (this.cost === cost) return;
    this.cost = cost;
    this.durations = [];
    this.next = 0;
  }

  /** sample records how long a KDF run took (ms), queueing included. */
  sample(ms: number): void {
    if (this.durations.length < DURATION_SAMPLES) this.durations.push(ms);
    else this.durations[this.next] = ms;
    this.next = (this.next + 1) % DURATION_SAMPLES;
  }

  /** typical draws one of the recent KDF run times; undefined before the first run. */
  typical(): number | undefined {
    if (this.durations.length === 0) return undefined;
    return this.durations[randomInt(this.durations.length)];
  }
}

/** AuthenticatorOptions tune the verifier. */
export interface AuthenticatorOptions {
  readonly maxPending: number;
  /** clientTimeoutMs: how long a client waits for its answer (default DEFAULT_CLIENT_TIMEOUT_MS). */
  readonly clientTimeoutMs?: number;
  readonly scryptCost: number;
  /** cache: used when no state is given (a fresh AuthState is made around it). */
  readonly cache?: CredentialCache;
  /** state: the previous configuration's AuthState (reload). */
  readonly state?: AuthState;
  readonly log: Logger;
}

/** Authenticator verifies credentials with a cache and a bounded KDF queue. */
export class Authenticator {
  readonly state: AuthState;
  /** rehashDeferred counts md5:/plain: upgrades skipped because the store was locked. */
  rehashDeferred = 0;

  constructor(
    readonly directory: UserDirectory,
    private readonly store: UserRepository | undefined,
    private readonly opts: AuthenticatorOptions,
  ) {
    this.state = opts.state ?? new AuthState(opts.cache ?? new CredentialCache({ ttlMs: 0, maxEntries: 0 }));
    this.state.useCost(opts.scryptCost);
  }

  /**
   * warmUp takes a first KDF time sample (one burnt run) so that an unknown user beyond the
   * budget can be answered with a realistic delay from the start (the HTTP face calls it).
   */
  async warmUp(): Promise<void> {
    const s = this.state;
    if (s.typical() !== undefined) return;
    // Single flight: the face's start and the unknown users beyond the budget share one run.
    s.warming ??= (async () => {
      const t0 = performance.now();
      await burnVerification('warm-up', this.opts.scryptCost);
      s.sample(performance.now() - t0);
    })().finally(() => (s.warming = undefined));
    await s.warming;
  }

  get cache(): CredentialCache {
    return this.state.cache;
  }

  get kdfRuns(): number {
    return this.state.kdfRuns;
  }

  get burns(): number {
    return this.state.burns;
  }

  /**
   * unknownBudget: the KDF slots unknown users may hold at once (a quarter of maxPending, at
   * most a quarter of UNKNOWN_BUDGET_BASE: the deadline admission lets the queue grow long, and
   * guesses must not fill it; at least one).
   */
  get unknownBudget(): number {
    return Math.max(1, Math.floor(Math.min(this.opts.maxPending, UNKNOWN_BUDGET_BASE) / 4));
  }

  /** deadlineOf is when the answer to a request received at `receivedAt` (performance.now() time) must be ready. */
  deadlineOf(receivedAt: number | undefined): number {
    return (receivedAt ?? performance.now()) + (this.opts.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS) - ANSWER_MARGIN_MS;
  }

  /** admit tells whether a KDF run of cost `ln` queued now can finish by `deadline` (and the queue has room); refusals are counted. */
  private admit(ln: number, deadline: number): boolean {
    const s = this.state;
    if (s.pending >= this.opts.maxPending) {
      s.refusedFull++;
      kdfRefused(ln, deadline);
      return false;
    }
    const est = s.estimate(ln);
    const ok = est === undefined ? s.pending < UNMEASURED_DEPTH : fits(est, deadline);
    if (!ok) {
      s.refusedDeadline++;
      kdfRefused(ln, deadline);
    }
    return ok;
  }

  /**
   * verify checks (domain, name, password). `receivedAt` (performance.now() time) is when the
   * request arrived: the client's timeout runs from then (default: now).
   */
  async verify(domain: string, name: string, password: string, receivedAt?: number): Promise<AuthVerdict> {
    const s = this.state;
    const deadline = this.deadlineOf(receivedAt);
    let user: UserRecord | undefined;
    try {
      user = await this.directory.lookup(domain, name);
    } catch (err) {
      // The store cannot answer: a login in the memory cache is answered from the user's record
      // as last read (the cache's own staleness: a password changed meanwhile on another node is
      // seen when the store is back); any other login throws (the HTTP face answers 503).
      const known = err instanceof StoreBusyError ? this.directory.known(domain, name) : undefined;
      if (known === undefined || !s.cache.has(s.cache.cacheKey(domain, known.name, password), known.fingerprint)) throw err;
      s.storeDownCached++;
      return { kind: 'ok', user: known, cached: true };
    }
    if (!user) {
      if (s.pending >= this.opts.maxPending) {
        s.refusedFull++;
        return { kind: 'busy' };
      }
      // The same deadline a known user's check would face: a 429 never tells the two apart.
      const est = s.estimate(this.opts.scryptCost);
      if (est !== undefined && !fits(est, deadline)) {
        s.refusedDeadline++;
        return { kind: 'busy' };
      }
      if (s.pendingUnknown >= this.unknownBudget) {
        // Beyond the budget even before the first KDF time is known: wait for the warm-up's
        // sample rather than let a flood of unknown names take every KDF slot (then real
        // users' logins were answered 429 until the queue drained).
        s.mimics++;
        if (s.typical() === undefined) await this.warmUp().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, s.typical() ?? 0));
        return { kind: 'bad' };
      }
      s.pending++;
      s.pendingUnknown++;
      s.burns++;
      const t0 = performance.now();
      let expired = false;
      try {
        await burnVerification(password, this.opts.scryptCost, deadline);
      } catch (err) {
        if (!(err instanceof KdfExpiredError)) throw err;
        expired = true;
        s.expired++;
      } finally {
        s.pending--;
        s.pendingUnknown--;
        if (!expired) s.sample(performance.now() - t0);
      }
      return expired ? { kind: 'expired' } : { kind: 'bad' };
    }
    const cache = s.cache;
    const key = cache.cacheKey(domain, user.name, password);
    const fp = user.fingerprint;
    if (cache.has(key, fp)) return { kind: 'ok', user, cached: true };
    const flightKey = `${key}\0${fp}`;
    let flight = s.inflight.get(flightKey);
    if (flight === undefined) {
      // Remembered in the store (a restart, another worker): no KDF, and remembered in memory too.
      const remembered = s.remembered;
      if (remembered !== undefined && user.parsed.form === 'scrypt' && (await remembered.check(domain, user.name, password, fp))) {
        cache.remember(key, fp);
        return { kind: 'ok', user, cached: true, remembered: true };
      }
      // The lookup awaited: an identical check may have started meanwhile.
      flight = s.inflight.get(flightKey);
    }
    if (flight === undefined) {
      const ln = user.parsed.form === 'scrypt' ? user.parsed.ln : this.opts.scryptCost;
      if (!this.admit(ln, deadline)) return { kind: 'busy' };
      s.pending++;
      const t0 = performance.now();
      const f: Promise<Flight> = this.check(password, user.parsed, deadline).then(
        (good): Flight => (good ? 'good' : 'bad'),
        (err: unknown): Flight => {
          if (err instanceof KdfExpiredError) return 'expired';
          throw err;
        },
      );
      flight = f.then((outcome) => {
        // kdfRuns counts the checks that ran: an expired one never did.
        if (outcome === 'expired') s.expired++;
        else {
          s.kdfRuns++;
          s.sample(performance.now() - t0);
        }
        return outcome;
      }).finally(() => {
        s.pending--;
        s.inflight.delete(flightKey);
      });
      s.inflight.set(flightKey, flight);
      const outcome = await flight;
      if (outcome === 'good') {
        cache.remember(key, fp);
        if (user.source === 'store' && upgradeNeeded(user.parsed)) void this.upgrade(user, password);
        else if (user.parsed.form === 'scrypt') s.remembered?.record(domain, user.name, password, fp);
      }
      return verdictOf(outcome, user);
    }
    return verdictOf(await flight, user);
  }

  /** check verifies a password; a weak form also burns a KDF run with the configured cost (timing). */
  private async check(password: string, parsed: ParsedHash, deadline: number): Promise<boolean> {
    if (!upgradeNeeded(parsed)) return verifyPassword(password, parsed, deadline);
    this.state.burns++;
    const [good] = await Promise.all([verifyPassword(password, parsed), burnVerification(password, this.opts.scryptCost, deadline)]);
    return good;
  }

  /** upgrade re-hashes a store user's md5:/plain: password with scrypt after a good login. */
  private async upgrade(user: UserRecord, password: string): Promise<void> {
    try {
      const hash = await hashPassword(password, this.opts.scryptCost);
      const now = await this.store?.get(user.domain, user.name);
      if (now && now.passwordHash === user.passwordHash && (await this.store?.setPassword(user.domain, user.name, hash)) === true) {
        this.opts.log.info({ user: `${user.name}@${user.domain}`, from: user.parsed.form }, 'password re-hashed with scrypt');
      }
    } catch (err) {
      if (err instanceof StoreBusyError) {
        // Never waited for: another process holds the store's lock; the next uncached login retries.
        this.rehashDeferred++;
        this.opts.log.info({ user: `${user.name}@${user.domain}` }, 'password re-hash deferred: the store is locked by another process; retried at the next login');
        return;
      }
      this.opts.log.warn({ user: `${user.name}@${user.domain}`, err: errorMessage(err) }, 'password re-hash failed');
    }
  }
}

/**
 * fits tells whether a run admitted now can answer by `deadline`. A free pool always admits: the
 * run starts at once, nothing better waits for the thread, and it measures the rate afresh (a
 * run time measured while the host was starved would otherwise refuse every login, with no run
 * left to correct it).
 */
function fits(est: KdfEstimate, deadline: number): boolean {
  return est.idle === true || performance.now() + est.finishMs <= deadline;
}

/** verdictOf turns a KDF check's outcome into the verdict. */
function verdictOf(outcome: Flight, user: UserRecord): AuthVerdict {
  if (outcome === 'good') return { kind: 'ok', user, cached: false };
  return outcome === 'bad' ? { kind: 'bad' } : { kind: 'expired' };
}
