/**
 * auth.ts: who the user is, and whether the password is right.
 *
 * Users come from the configuration file (labs) and from the store (`provisiond user …`); a
 * name defined in both is the configuration's (a startup warning says so). Verification runs
 * scrypt off the event loop, at most `maxPending` at a time (beyond that: 'busy', answered 429),
 * with concurrent checks of the same credentials sharing one KDF run and a CredentialCache in
 * front. An unknown user costs the same KDF run as a known one.
 */
import { parseHash, verifyPassword, burnVerification, upgradeNeeded, hashPassword, type ParsedHash } from './passwords';
import { CredentialCache, fingerprintOf } from './credcache';
import type { ProvisioningConfig } from './schema';
import { StoreBusyError, type UserRepository } from '../store/repository';
import type { Logger } from '../log';
import { errorMessage } from '../errors';

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

/** Verdict of a verification. */
export type AuthVerdict = { readonly kind: 'ok'; readonly user: UserRecord; readonly cached: boolean } | { readonly kind: 'bad' } | { readonly kind: 'busy' };

/** UserDirectory finds users by (domain, case-insensitive name). */
export class UserDirectory {
  private readonly fromConfig = new Map<string, UserRecord>();

  constructor(
    cfg: ProvisioningConfig,
    private readonly store: UserRepository | undefined,
  ) {
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

  lookup(domain: string, name: string): UserRecord | undefined {
    const low = name.toLowerCase();
    const c = this.fromConfig.get(`${domain}\0${low}`);
    if (c) return c;
    const s = this.store?.get(domain, low);
    if (!s) return undefined;
    const parsed = parseHash(s.passwordHash);
    if (!parsed.ok) return undefined;
    return { source: 'store', domain, name: s.name, passwordHash: s.passwordHash, parsed: parsed.value, fingerprint: fingerprintOf(s.passwordHash), attributes: s.attributes };
  }
}

/** AuthenticatorOptions tune the verifier. */
export interface AuthenticatorOptions {
  readonly maxPending: number;
  readonly scryptCost: number;
  readonly cache: CredentialCache;
  readonly log: Logger;
}

/** Authenticator verifies credentials with a cache and a bounded KDF queue. */
export class Authenticator {
  private pending = 0;
  private readonly inflight = new Map<string, Promise<boolean>>();
  kdfRuns = 0;
  /** rehashDeferred counts md5:/plain: upgrades skipped because the store was locked. */
  rehashDeferred = 0;

  constructor(
    readonly directory: UserDirectory,
    private readonly store: UserRepository | undefined,
    private readonly opts: AuthenticatorOptions,
  ) {}

  get cache(): CredentialCache {
    return this.opts.cache;
  }

  /** verify checks (domain, name, password). */
  async verify(domain: string, name: string, password: string): Promise<AuthVerdict> {
    const user = this.directory.lookup(domain, name);
    if (!user) {
      if (this.pending >= this.opts.maxPending) return { kind: 'busy' };
      this.pending++;
      try {
        await burnVerification(password, this.opts.scryptCost);
      } finally {
        this.pending--;
      }
      return { kind: 'bad' };
    }
    const cache = this.opts.cache;
    const key = cache.cacheKey(domain, user.name, password);
    const fp = user.fingerprint;
    if (cache.has(key, fp)) return { kind: 'ok', user, cached: true };
    const flightKey = `${key}\0${fp}`;
    let flight = this.inflight.get(flightKey);
    if (flight === undefined) {
      if (this.pending >= this.opts.maxPending) return { kind: 'busy' };
      this.pending++;
      this.kdfRuns++;
      flight = verifyPassword(password, user.parsed).finally(() => {
        this.pending--;
        this.inflight.delete(flightKey);
      });
      this.inflight.set(flightKey, flight);
      const good = await flight;
      if (good) {
        cache.remember(key, fp);
        if (user.source === 'store' && upgradeNeeded(user.parsed)) void this.upgrade(user, password);
      }
      return good ? { kind: 'ok', user, cached: false } : { kind: 'bad' };
    }
    return (await flight) ? { kind: 'ok', user, cached: false } : { kind: 'bad' };
  }

  /** upgrade re-hashes a store user's md5:/plain: password with scrypt after a good login. */
  private async upgrade(user: UserRecord, password: string): Promise<void> {
    try {
      const hash = await hashPassword(password, this.opts.scryptCost);
      const now = this.store?.get(user.domain, user.name);
      if (now && now.passwordHash === user.passwordHash && this.store?.setPassword(user.domain, user.name, hash)) {
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
