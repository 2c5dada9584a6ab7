/**
 * ratelimit.ts: a per-source token bucket, bounded in memory, with an injectable clock.
 */

/** RateLimitOptions: `rate` tokens per second (0 disables), up to `burst` at once. */
export interface RateLimitOptions {
  readonly rate: number;
  readonly burst: number;
  /** maxKeys bounds the table; idle sources are swept first when it fills. */
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
      if (this.buckets.size >= this.maxKeys) this.sweep(t);
      b = { tokens: this.opts.burst, last: t, limited: false };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.opts.burst, b.tokens + ((t - b.last) / 1000) * this.opts.rate);
      b.last = t;
      // A flood ends when the source has been quiet long enough to refill the whole bucket;
      // until then it is one episode, reported once however many tokens trickle back.
      if (b.tokens >= this.opts.burst) b.limited = false;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'allow';
    }
    if (b.limited) return 'refuse';
    b.limited = true;
    return 'refuse-first';
  }

  /** sweep drops buckets that have refilled (idle sources); if none has, it drops them all. */
  private sweep(t: number): void {
    const full = (this.opts.burst / this.opts.rate) * 1000;
    for (const [k, b] of this.buckets) if (t - b.last >= full) this.buckets.delete(k);
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}
