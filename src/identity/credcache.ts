/**
 * credcache.ts: a bounded, expiring memory of recently verified credentials.
 *
 * Every Jitsi start POSTs the password again; re-running scrypt for each would make a boot
 * storm CPU-bound. A successful verification is remembered under HMAC-SHA256(per-process random
 * key, tenant, user, password), so neither passwords nor plain hashes of them sit in memory,
 * together with a fingerprint of the stored hash it was checked against: a password change (in
 * this process or by the CLI writing the store) changes the fingerprint and the entry is dropped
 * on its next use. Entries expire after `ttlMs`; at most `maxEntries` are kept (least recently
 * used goes first). Only successes are cached.
 */
import { createHmac, randomBytes, createHash } from 'node:crypto';

/** CredentialCacheOptions size the cache; ttlMs 0 turns it off. */
export interface CredentialCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
}

interface Entry {
  readonly fingerprint: string;
  /** at: when it was verified (the ttl is applied on use, so a reload that shortens it applies at once). */
  readonly at: number;
}

/** fingerprintOf identifies a stored hash string without keeping it. */
export function fingerprintOf(storedHash: string): string {
  return createHash('sha256').update(storedHash, 'utf8').digest('base64');
}

/** CredentialCache remembers verified (tenant, user, password) triples. */
export class CredentialCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private opts: CredentialCacheOptions;
  hits = 0;
  misses = 0;

  constructor(opts: CredentialCacheOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** configure applies a reloaded ttl and size; entries beyond the size go (oldest first), 0 clears. */
  configure(opts: Omit<CredentialCacheOptions, 'now'>): void {
    this.opts = { ...this.opts, ttlMs: opts.ttlMs, maxEntries: opts.maxEntries };
    if (opts.ttlMs <= 0 || opts.maxEntries <= 0) {
      this.entries.clear();
      return;
    }
    while (this.entries.size > opts.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** cacheKey derives the lookup key; the NUL separators keep ("a","bc") apart from ("ab","c"). */
  cacheKey(tenant: string, user: string, password: string): string {
    return createHmac('sha256', this.key).update(`${tenant}\0${user}\0${password}`, 'utf8').digest('base64');
  }

  /** has is true when this key was verified against the same stored hash and has not expired. */
  has(key: string, fingerprint: string): boolean {
    if (this.opts.ttlMs <= 0) return false;
    const e = this.entries.get(key);
    if (e === undefined) {
      this.misses++;
      return false;
    }
    if (e.fingerprint !== fingerprint || e.at + this.opts.ttlMs <= this.now()) {
      this.entries.delete(key); // the password changed, or the entry is stale
      this.misses++;
      return false;
    }
    // LRU: move to the back of the insertion order.
    this.entries.delete(key);
    this.entries.set(key, e);
    this.hits++;
    return true;
  }

  /** remember records a successful verification. */
  remember(key: string, fingerprint: string): void {
    if (this.opts.ttlMs <= 0 || this.opts.maxEntries <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.opts.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { fingerprint, at: this.now() });
  }

  /** clear forgets everything (configuration reload). */
  clear(): void {
    this.entries.clear();
  }
}
