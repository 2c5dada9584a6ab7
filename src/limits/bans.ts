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
 *
 * Attempts in flight count too (issue 10): a password check takes tens of milliseconds, and 100
 * concurrent guesses used to all pass check() before the first failure was counted. admit()
 * reserves a place in the budget of the source and of the user for the time of the check; an
 * attempt that would exceed `maxRetry` together with the counted failures and the attempts in
 * flight waits (FIFO) until one ends, and is then banned or let through. The wait is bounded in
 * time (`waitMs`) and in size (`maxWaiting`): beyond either, the attempt is refused (429).
 */
import { addressInAny, type Cidr } from '../net/ipv4';

/** BanOptions configure a BanList (seconds; `now` is injectable for fake-clock tests). */
export interface BanOptions {
  readonly maxRetry: number;
  readonly findTime: number;
  readonly banTime: number;
  readonly trusted: readonly Cidr[];
  readonly now?: () => number;
  readonly maxEntries?: number;
  /** waitMs: how long an attempt waits for in-flight ones to end before 429 (10 s). */
  readonly waitMs?: number;
  /** maxWaiting: attempts waiting at once, all sources together (1024); beyond: 429. */
  readonly maxWaiting?: number;
  /** onBan / onLift are told of each new ban and each lifted one (the face keeps them in the store). */
  readonly onBan?: (ban: BanRecord) => void;
  readonly onLift?: (ban: BanRecord) => void;
  /**
   * refresh is called at each check (a shared store: it reads other nodes' bans, and drops those
   * lifted elsewhere, throttled, in the background). It returns the read under way, if any:
   * admit() lets a request a ban would refuse wait for it (bounded by the caller), so that a ban
   * lifted on another node stops refusing as soon as a read is due.
   */
  readonly refresh?: () => Promise<void> | undefined;
}

/** BanScope is what a ban refuses: a source address, or a user (`name@tenant`) from anywhere. */
export type BanScope = 'ip' | 'user';

/** BanRecord is one live ban, as `provisiond bans list` shows it and the store keeps it (ms since the epoch). */
export interface BanRecord {
  readonly scope: BanScope;
  readonly subject: string;
  readonly since: number;
  readonly until: number;
  readonly reason: string;
}

/** BanEvent is what a failure caused: a counted failure, and possibly a ban. */
export type BanEvent =
  | { readonly kind: 'failure'; readonly scope: 'ip' | 'user'; readonly subject: string; readonly count: number }
  | { readonly kind: 'ban'; readonly scope: 'ip' | 'user'; readonly subject: string; readonly until: number };

/** Admission is what admit() decided: go (call release() once the attempt is counted), banned, or busy. */
export type Admission =
  | { readonly kind: 'go'; release(): void }
  | { readonly kind: 'banned'; readonly verdict: BanVerdict & { readonly banned: true } }
  | { readonly kind: 'busy' };

/** DEFAULT_WAIT_MS / DEFAULT_MAX_WAITING bound the attempts waiting for their turn. */
const DEFAULT_WAIT_MS = 10_000;
const DEFAULT_MAX_WAITING = 1024;

/** BanVerdict says whether a request may proceed, and for how long it is refused if not. */
export type BanVerdict = { readonly banned: false } | { readonly banned: true; readonly scope: 'ip' | 'user'; readonly retryAfter: number };

/** NOT_BANNED is the shared verdict of a request that may proceed. */
const NOT_BANNED: BanVerdict = Object.freeze({ banned: false });

const DEFAULT_MAX_ENTRIES = 100_000;

/** BanList keeps the failure windows and the bans. */
export class BanList {
  private readonly failures = new Map<string, number[]>();
  private readonly bans = new Map<string, BanRecord>();
  /** pairs remembers (ip, user) failures already counted against the ip in this window. */
  private readonly pairs = new Map<string, number>();
  private readonly now: () => number;
  private readonly maxEntries: number;
  /** inflight counts attempts being checked, per `ip:` / `user:` subject and per (ip, user) pair. */
  private readonly inflight = new Map<string, number>();
  private readonly waiting = new Set<() => void>();
  private active = 0;

  constructor(private readonly opts: BanOptions) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** trusted tells whether an address is in trustedNetworks (never counted, never banned). */
  trusted(ip: string): boolean {
    return addressInAny(ip, this.opts.trusted);
  }

  /** check tells whether a request from `ip` (for `user`, when known) is refused. */
  check(ip: string, user: string | undefined): BanVerdict {
    if (this.opts.maxRetry === 0 || this.trusted(ip)) return NOT_BANNED;
    void this.opts.refresh?.();
    const t = this.now();
    // ip first, then user; written out (no per-request arrays: this runs on every request).
    return this.banOf('ip', ip, t) ?? (user === undefined ? undefined : this.banOf('user', user, t)) ?? NOT_BANNED;
  }

  /** banOf is the verdict of a live ban of one subject, undefined if none (an expired one is dropped). */
  private banOf(scope: 'ip' | 'user', subject: string, t: number): BanVerdict | undefined {
    if (this.bans.size === 0) return undefined;
    const id = `${scope}:${subject}`;
    const ban = this.bans.get(id);
    if (ban === undefined) return undefined;
    const until = ban.until;
    if (until > t) return { banned: true, scope, retryAfter: Math.max(1, Math.ceil((until - t) / 1000)) };
    this.bans.delete(id);
    return undefined;
  }

  /**
   * admit reserves a place for one attempt from `ip` (for `user`, when it carries a user name) in
   * the maxRetry budget, counting the failures of the window and the attempts in flight. When the
   * budget is taken by attempts in flight, it waits for one to end (bounded); see the file comment.
   */
  async admit(ip: string, user: string | undefined): Promise<Admission> {
    // Trusted sources (or bans off) are never counted nor banned: nothing to reserve or wait for.
    if (this.opts.maxRetry === 0 || this.trusted(ip)) return { kind: 'go', release: () => undefined };
    const deadline = this.now() + (this.opts.waitMs ?? DEFAULT_WAIT_MS);
    for (;;) {
      let v = this.check(ip, user);
      if (v.banned && this.opts.refresh) {
        // A shared store's read that is due (or under way) may end this ban: wait for it.
        const read = this.opts.refresh();
        if (read !== undefined) {
          await read;
          v = this.check(ip, user);
        }
      }
      if (v.banned) return { kind: 'banned', verdict: v };
      const r = this.reserve(ip, user);
      if (r) return { kind: 'go', release: r };
      const left = deadline - this.now();
      if (left <= 0 || this.waiting.size >= (this.opts.maxWaiting ?? DEFAULT_MAX_WAITING)) return { kind: 'busy' };
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiting.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        timer.unref();
        this.waiting.add(wake);
      });
    }
  }

  /** inFlight is how many attempts are being checked (tests, counters). */
  get inFlight(): number {
    return this.active;
  }

  /** reserve takes a place for (ip, user) when the budget allows it; the returned function gives it back. */
  private reserve(ip: string, user: string | undefined): (() => void) | undefined {
    const t = this.now();
    const windowMs = this.opts.findTime * 1000;
    const ipId = `ip:${ip}`;
    const userId = user === undefined ? undefined : `user:${user}`;
    const pair = user === undefined ? undefined : `pair:${ip}\0${user}`;
    // Against the ip, a user's failures count once per window: so does one in-flight attempt per pair.
    let ipCost = 1;
    if (pair !== undefined) {
      const seen = this.pairs.get(`${ip}\0${user}`);
      const pairCounted = seen !== undefined && t - seen < windowMs;
      if (pairCounted || (this.inflight.get(pair) ?? 0) > 0) ipCost = 0;
    }
    const fits = (id: string, cost: number): boolean => cost === 0 || this.recent(id, t) + (this.inflight.get(id) ?? 0) + cost <= this.opts.maxRetry;
    if (!fits(ipId, ipCost) || (userId !== undefined && !fits(userId, 1))) return undefined;
    const taken: [string, number][] = [[ipId, ipCost]];
    if (userId !== undefined && pair !== undefined) taken.push([userId, 1], [pair, 1]);
    for (const [id, n] of taken) if (n > 0) this.inflight.set(id, (this.inflight.get(id) ?? 0) + n);
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      for (const [id, n] of taken) {
        if (n === 0) continue;
        const left = (this.inflight.get(id) ?? 0) - n;
        if (left > 0) this.inflight.set(id, left);
        else this.inflight.delete(id);
      }
      // Wake every waiting attempt (oldest first): each checks its own budget again.
      if (this.waiting.size > 0) for (const wake of [...this.waiting]) wake();
    };
  }

  /** recent counts the failures of `id` within the window. */
  private recent(id: string, t: number): number {
    const windowMs = this.opts.findTime * 1000;
    const list = this.failures.get(id);
    if (list === undefined) return 0;
    let n = 0;
    for (const at of list) if (t - at < windowMs) n++;
    return n;
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
      const ban: BanRecord = { scope, subject, since: t, until, reason: `${list.length} failures within ${this.opts.findTime} s` };
      this.remember(this.bans, id, ban);
      this.failures.delete(id);
      this.opts.onBan?.(ban);
      events.push({ kind: 'ban', scope, subject, until });
    } else {
      this.remember(this.failures, id, list);
    }
    return events;
  }

  /** list returns the live bans, oldest first (expired ones are dropped on the way). */
  list(): BanRecord[] {
    const t = this.now();
    const out: BanRecord[] = [];
    for (const [id, ban] of this.bans) {
      if (ban.until > t) out.push(ban);
      else this.bans.delete(id);
    }
    return out;
  }

  /**
   * lift ends the bans that `match` selects at once (and forgets their subjects' failure counts,
   * so the next failure does not ban again); it returns the bans lifted.
   */
  lift(match: (ban: BanRecord) => boolean): BanRecord[] {
    const lifted: BanRecord[] = [];
    for (const ban of this.list()) {
      if (!match(ban)) continue;
      const id = `${ban.scope}:${ban.subject}`;
      this.bans.delete(id);
      this.failures.delete(id);
      lifted.push(ban);
      this.opts.onLift?.(ban);
    }
    return lifted;
  }

  /**
   * forget drops bans ended elsewhere (lifted on another node sharing the store), without
   * onLift (the row is already gone), forgetting their subjects' failure counts as lift() does;
   * it returns the bans it dropped.
   */
  forget(bans: readonly BanRecord[]): BanRecord[] {
    const out: BanRecord[] = [];
    for (const ban of bans) {
      const id = `${ban.scope}:${ban.subject}`;
      if (!this.bans.delete(id)) continue;
      this.failures.delete(id);
      out.push(ban);
    }
    return out;
  }

  /** restore puts back bans kept elsewhere (the store, or the list a reload replaces); expired ones are skipped. */
  restore(bans: readonly BanRecord[]): number {
    const t = this.now();
    let n = 0;
    for (const ban of bans) {
      if (ban.until <= t || this.opts.maxRetry === 0) continue;
      this.remember(this.bans, `${ban.scope}:${ban.subject}`, ban);
      n++;
    }
    return n;
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
