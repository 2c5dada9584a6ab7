/**
 * activity-log.ts: the status page's memory of what the faces answered (issue 17, item 6).
 *
 * It watches the activity bus (src/activity.ts) and keeps, bounded:
 *  - per-minute counts by face, outcome and tenant for the last WINDOW_MINUTES minutes (a ring of
 *    minute buckets; each bucket holds at most MAX_KEYS_PER_MINUTE distinct (face, outcome,
 *    tenant) keys: beyond, a record is still counted under its face and outcome with no tenant,
 *    and a record whose face and outcome find no room either is counted in `dropped`);
 *  - the latest MAX_FAILURES failures (records with ok false), newest first.
 *
 * Nothing here is a secret: records never carry a password or a key (activity.ts). Tenant views
 * (a tenant token on the status page) filter by the record's tenant; a record with no tenant is
 * shown to all-tenant tokens only.
 */
import type { Activity, ActivityBus } from '../activity';

/** WINDOW_MINUTES is how far back the per-minute counts go. */
export const WINDOW_MINUTES = 60;
/** MAX_FAILURES is how many failures are kept. */
export const MAX_FAILURES = 100;
/** MAX_KEYS_PER_MINUTE bounds one minute's distinct (face, outcome, tenant) keys. */
export const MAX_KEYS_PER_MINUTE = 512;
/** MAX_FIELD: a record's text fields are cut to this many characters (they come from requests). */
const MAX_FIELD = 200;

const MINUTE_MS = 60_000;

/** Failure is one failed request as the page lists it. */
export interface Failure {
  readonly at: number;
  readonly face: string;
  readonly outcome: string;
  readonly status: number | undefined;
  readonly reason: string | undefined;
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly device: string | undefined;
  readonly ip: string | undefined;
}

/** SeriesCount is one (face, outcome) pair's count in one minute. */
export interface SeriesCount {
  readonly face: string;
  readonly outcome: string;
  readonly ok: boolean;
  readonly count: number;
}

/** MinuteCounts is one minute of the window: its start (ms) and its counts, largest first. */
export interface MinuteCounts {
  readonly minute: number;
  readonly counts: readonly SeriesCount[];
}

/** TenantView selects what a viewer may see: null = every tenant, a string = that tenant only. */
export type TenantView = string | null;

interface Bucket {
  /** minute: the bucket's minute number (ms / 60000). */
  minute: number;
  /** counts by `face\0outcome\0ok\0tenant`. */
  readonly counts: Map<string, number>;
}

/** ActivityLogOptions inject the clock (tests) and the bounds. */
export interface ActivityLogOptions {
  readonly now?: () => number;
  readonly maxFailures?: number;
  readonly maxKeysPerMinute?: number;
}

/** cut bounds a text field taken from a request. */
function cut(s: string | undefined): string | undefined {
  return s === undefined || s.length <= MAX_FIELD ? s : `${s.slice(0, MAX_FIELD)}…`;
}

/** ActivityLog keeps the bounded recent picture of the faces' answers. */
export class ActivityLog {
  private readonly now: () => number;
  private readonly maxFailures: number;
  private readonly maxKeys: number;
  private readonly buckets: (Bucket | undefined)[] = new Array<Bucket | undefined>(WINDOW_MINUTES).fill(undefined);
  /** failures: a ring; `next` is where the next one goes. */
  private readonly ring: (Failure | undefined)[];
  private next = 0;
  private droppedCount = 0;
  private recordedCount = 0;
  private last = -Infinity;

  constructor(opts: ActivityLogOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.maxFailures = Math.max(1, opts.maxFailures ?? MAX_FAILURES);
    this.maxKeys = Math.max(1, opts.maxKeysPerMinute ?? MAX_KEYS_PER_MINUTE);
    this.ring = new Array<Failure | undefined>(this.maxFailures).fill(undefined);
  }

  /** attach subscribes to a bus; the returned function unsubscribes. */
  attach(bus: ActivityBus): () => void {
    return bus.on((a) => this.record(a));
  }

  /** recorded counts the records taken in; dropped those a full minute bucket or a stale time refused. */
  get recorded(): number {
    return this.recordedCount;
  }
  get dropped(): number {
    return this.droppedCount;
  }

  /** lastAt is when the latest record was taken in (this clock; -Infinity before any). */
  get lastAt(): number {
    return this.last;
  }

  /**
   * record takes one answered request. Its time is the record's `at`, never later than now (a
   * record from a clock ahead is counted in the current minute); one older than the window is
   * dropped (counted).
   */
  record(a: Activity): void {
    const t = this.now();
    this.last = t;
    const at = Number.isFinite(a.at) ? Math.min(a.at, t) : t;
    const minute = Math.floor(at / MINUTE_MS);
    if (minute <= Math.floor(t / MINUTE_MS) - WINDOW_MINUTES) {
      this.droppedCount++;
      return;
    }
    this.recordedCount++;
    this.count(minute, a);
    if (!a.ok) {
      this.ring[this.next] = {
        at,
        face: a.face,
        outcome: cut(a.outcome) ?? '',
        status: a.status,
        reason: cut(a.reason),
        tenant: cut(a.tenant),
        user: cut(a.user),
        device: cut(a.device),
        ip: cut(a.ip),
      };
      this.next = (this.next + 1) % this.maxFailures;
    }
  }

  private count(minute: number, a: Activity): void {
    const slot = ((minute % WINDOW_MINUTES) + WINDOW_MINUTES) % WINDOW_MINUTES;
    let b = this.buckets[slot];
    if (b === undefined || b.minute !== minute) {
      b = { minute, counts: new Map() };
      this.buckets[slot] = b;
    }
    const base = `${a.face}\0${cut(a.outcome) ?? ''}\0${a.ok ? 1 : 0}\0`;
    const key = `${base}${cut(a.tenant) ?? ''}`;
    const have = b.counts.get(key);
    if (have !== undefined) b.counts.set(key, have + 1);
    else if (b.counts.size < this.maxKeys) b.counts.set(key, 1);
    else {
      const anon = b.counts.get(base);
      if (anon !== undefined) b.counts.set(base, anon + 1);
      else this.droppedCount++;
    }
  }

  /**
   * minutes is the window, oldest first: WINDOW_MINUTES entries ending with the current minute,
   * each with its (face, outcome) counts for the view (a tenant's view counts only its records).
   */
  minutes(view: TenantView = null): MinuteCounts[] {
    const current = Math.floor(this.now() / MINUTE_MS);
    const out: MinuteCounts[] = [];
    for (let m = current - WINDOW_MINUTES + 1; m <= current; m++) {
      const b = this.buckets[((m % WINDOW_MINUTES) + WINDOW_MINUTES) % WINDOW_MINUTES];
      const sums = new Map<string, SeriesCount>();
      if (b !== undefined && b.minute === m) {
        for (const [key, n] of b.counts) {
          const [face = '', outcome = '', ok = '0', tenant = ''] = key.split('\0');
          if (view !== null && tenant !== view) continue;
          const k = `${face}\0${outcome}\0${ok}`;
          const prev = sums.get(k);
          sums.set(k, { face, outcome, ok: ok === '1', count: (prev?.count ?? 0) + n });
        }
      }
      out.push({ minute: m * MINUTE_MS, counts: [...sums.values()].sort((x, y) => y.count - x.count || x.face.localeCompare(y.face) || x.outcome.localeCompare(y.outcome)) });
    }
    return out;
  }

  /** failures is the latest failures for the view, newest first (at most `limit`). */
  failures(view: TenantView = null, limit = this.maxFailures): Failure[] {
    const out: Failure[] = [];
    for (let i = 1; i <= this.maxFailures && out.length < limit; i++) {
      const f = this.ring[(this.next - i + this.maxFailures) % this.maxFailures];
      if (f === undefined) break;
      if (view === null || f.tenant === view) out.push(f);
    }
    return out;
  }
}
