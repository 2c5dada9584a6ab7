/**
 * bans.ts: built-in brute-force bans, the same policy a fail2ban jail applies (issue 5).
 *
 * Failures (a wrong password, key or secret, a refused network) are counted in a sliding window
 * of `findTime` seconds, separately per source IP and per user name: after `maxRetry` failures
 * the source (or the user) is refused with 429 for `banTime` seconds. A user's failures count
 * against their source IP only once per window, so one user's typos behind a NAT ban that user,
 * not the whole site; a source guessing many user names is still banned by its IP. Addresses in
 * `trustedNetworks` are never counted nor banned. Memory is bounded: at most `maxEntries`
 * counters and bans are kept (the oldest go first).
 */
import { inCidr, parseIPv4, type Cidr } from '../net/ipv4';

/** BanOptions configure a BanList (seconds; `now` is injectable for fake-clock tests). */
export interface BanOptions {
  readonly maxRetry: number;
  readonly findTime: number;
  readonly banTime: number;
  readonly trusted: readonly Cidr[];
  readonly now?: () => number;
  readonly maxEntries?: number;
}

/** BanEvent is what a failure caused: a counted failure, and possibly a ban. */
export type BanEvent =
  | { readonly kind: 'failure'; readonly scope: 'ip' | 'user'; readonly subject: string; readonly count: number }
  | { readonly kind: 'ban'; readonly scope: 'ip' | 'user'; readonly subject: string; readonly until: number };

/** BanVerdict says whether a request may proceed, and for how long it is refused if not. */
export type BanVerdict = { readonly banned: false } | { readonly banned: true; readonly scope: 'ip' | 'user'; readonly retryAfter: number };

const DEFAULT_MAX_ENTRIES = 100_000;

/** clientV4 reads an IPv4 (or IPv4-mapped IPv6) client address. */
export function clientV4(ip: string): number | undefined {
  return parseIPv4(ip.startsWith('::ffff:') ? ip.slice(7) : ip);
}

/** BanList keeps the failure windows and the bans. */
export class BanList {
  private readonly failures = new Map<string, number[]>();
  private readonly bans = new Map<string, number>();
  /** pairs remembers (ip, user) failures already counted against the ip in this window. */
  private readonly pairs = new Map<string, number>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(private readonly opts: BanOptions) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** trusted tells whether an address is in trustedNetworks (never counted, never banned). */
  trusted(ip: string): boolean {
    const v4 = clientV4(ip);
    if (v4 === undefined) return false;
    return this.opts.trusted.some((n) => inCidr(v4, n));
  }

  /** check tells whether a request from `ip` (for `user`, when known) is refused. */
  check(ip: string, user: string | undefined): BanVerdict {
    if (this.opts.maxRetry === 0 || this.trusted(ip)) return { banned: false };
    const t = this.now();
    for (const [scope, subject] of [['ip', ip], ['user', user]] as const) {
      if (subject === undefined) continue;
      const until = this.bans.get(`${scope}:${subject}`);
      if (until === undefined) continue;
      if (until > t) return { banned: true, scope, retryAfter: Math.max(1, Math.ceil((until - t) / 1000)) };
      this.bans.delete(`${scope}:${subject}`);
    }
    return { banned: false };
  }

  /** fail records a failure from `ip` (for `user`, when the failure is about a user's password). */
  fail(ip: string, user: string | undefined): BanEvent[] {
    if (this.opts.maxRetry === 0 || this.trusted(ip)) return [];
    const t = this.now();
    const events: BanEvent[] = [];
    const windowMs = this.opts.findTime * 1000;
    let countIp = true;
    if (user !== undefined) {
      events.push(...this.count('user', user, t));
      const pair = `${ip}\0${user}`;
      const seen = this.pairs.get(pair);
      countIp = seen === undefined || t - seen >= windowMs;
      if (countIp) this.remember(this.pairs, pair, t);
    }
    if (countIp) events.push(...this.count('ip', ip, t));
    return events;
  }

  private count(scope: 'ip' | 'user', subject: string, t: number): BanEvent[] {
    const id = `${scope}:${subject}`;
    const windowMs = this.opts.findTime * 1000;
    const list = (this.failures.get(id) ?? []).filter((at) => t - at < windowMs);
    list.push(t);
    // Only the last maxRetry timestamps matter: the list stays bounded.
    while (list.length > this.opts.maxRetry) list.shift();
    const events: BanEvent[] = [{ kind: 'failure', scope, subject, count: list.length }];
    if (list.length >= this.opts.maxRetry) {
      const until = t + this.opts.banTime * 1000;
      this.remember(this.bans, id, until);
      this.failures.delete(id);
      events.push({ kind: 'ban', scope, subject, until });
    } else {
      this.remember(this.failures, id, list);
    }
    return events;
  }

  private remember<V>(m: Map<string, V>, k: string, v: V): void {
    m.delete(k);
    m.set(k, v);
    // Bounded: drop the oldest entries (Map keeps insertion order).
    for (let i = 0; m.size > this.maxEntries && i < 16; i++) {
      const first = m.keys().next();
      if (first.done === true) break;
      m.delete(first.value);
    }
  }
}
