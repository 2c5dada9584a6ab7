/**
 * ratelimit.ts: a per-source token bucket, bounded in memory, with an injectable clock.
 *
 * The table is kept in least-recently-used order (a Map re-inserts a key on every take): when
 * it is full, the bucket unused the longest is evicted, in O(1). Clearing the whole table
 * instead would hand every source, the one being refused included, a fresh burst as soon as
 * an attacker has shown maxKeys new keys (issue 10, defect 4).
 */

/** RateLimitOptions: `rate` tokens per second (0 disables), up to `burst` at once. */
export interface RateLimitOptions {
  readonly rate: number;
  readonly burst: number;
  /** maxKeys bounds the table; when it is full, the least recently used source is forgotten. */
  readonly maxKeys?: number;
}

interface Bucket {
  tokens: number;
  last: number;
  /** limited is true while the source is being refused (so "started" is logged once). */
  limited: boolean;
}

/** Verdict of one take(): allowed, or refused (and whether this is the first refusal of a run). */
export type Verdict = 'allow' | 'refuse' | 'refuse-first';

/** RateLimiter holds one bucket per source key. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.maxKeys = opts.maxKeys ?? 16384;
  }

  /** enabled is false when the rate is 0 (no limit). */
  get enabled(): boolean {
    return this.opts.rate > 0;
  }

  /** size is the number of tracked sources. */
  get size(): number {
    return this.buckets.size;
  }

  /** take spends one token of `key`'s bucket. */
  take(key: string): Verdict {
    if (this.opts.rate <= 0) return 'allow';
    const t = this.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.evictOldest();
      b = { tokens: this.opts.burst, last: t, limited: false };
    } else {
      this.buckets.delete(key); // re-inserted below: the Map's order is least recently used first
      b.tokens = Math.min(this.opts.burst, b.tokens + ((t - b.last) / 1000) * this.opts.rate);
      b.last = t;
      // A flood ends when the source has been quiet long enough to refill the whole bucket;
      // until then it is one episode, reported once however many tokens trickle back.
      if (b.tokens >= this.opts.burst) b.limited = false;
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'allow';
    }
    if (b.limited) return 'refuse';
    b.limited = true;
    return 'refuse-first';
  }

  /** evictOldest forgets the least recently used source (the first key in the Map's order). */
  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (oldest.done !== true) this.buckets.delete(oldest.value);
  }
}
