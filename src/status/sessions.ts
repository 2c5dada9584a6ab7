/**
 * sessions.ts: the status page's login sessions (issue 17, item 6).
 *
 * A login with a good API token opens a session: a random 32-byte identifier in an HttpOnly,
 * SameSite=Strict cookie, and a random CSRF token that every form of the page carries. The table
 * keeps only the SHA-256 of each identifier (a copy of the table's memory opens no session), the
 * token's grant (tenant, scopes), the CSRF token and an absolute expiry; never the API token.
 * It is bounded: expired sessions are pruned when a new one is made, and beyond `max` the oldest
 * session ends (counted in `evicted`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Grant is what a token allows: a tenant (null: every tenant) and scopes (`read`, `write`, …). */
export interface Grant {
  readonly tenant: string | null;
  readonly scopes: readonly string[];
}

/** Session is one logged-in browser. */
export interface Session {
  readonly grant: Grant;
  readonly csrf: string;
  readonly created: number;
  readonly expires: number;
}

/** SessionOptions: bounds and the clock. */
export interface SessionOptions {
  /** ttlMs: how long a session lasts from login (8 hours). */
  readonly ttlMs?: number;
  /** max: sessions kept at once (256). */
  readonly max?: number;
  readonly now?: () => number;
}

export const DEFAULT_SESSION_TTL_MS = 8 * 3600_000;
export const DEFAULT_MAX_SESSIONS = 256;

/** newSecret is a random base64url secret of 32 bytes. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** sameSecret compares two secrets in constant time (for their length). */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || a.length === 0) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function idHash(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** SessionTable keeps the live sessions, bounded. */
export class SessionTable {
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;
  readonly ttlMs: number;
  private readonly max: number;
  private evictions = 0;

  constructor(opts: SessionOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ttlMs = Math.max(1000, opts.ttlMs ?? DEFAULT_SESSION_TTL_MS);
    this.max = Math.max(1, opts.max ?? DEFAULT_MAX_SESSIONS);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** evicted counts live sessions ended early because the table was full. */
  get evicted(): number {
    return this.evictions;
  }

  /** open makes a session for a grant; it returns the cookie value (the identifier) and the session. */
  open(grant: Grant): { id: string; session: Session } {
    const t = this.now();
    if (this.sessions.size >= this.max) {
      for (const [k, s] of this.sessions) if (s.expires <= t) this.sessions.delete(k);
    }
    while (this.sessions.size >= this.max) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
      this.evictions++;
    }
    const id = newSecret();
    const session: Session = { grant: { tenant: grant.tenant, scopes: [...grant.scopes] }, csrf: newSecret(), created: t, expires: t + this.ttlMs };
    this.sessions.set(idHash(id), session);
    return { id, session };
  }

  /** get is the live session of a cookie value (an expired one is ended). */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id.length === 0 || id.length > 128) return undefined;
    const k = idHash(id);
    const s = this.sessions.get(k);
    if (s === undefined) return undefined;
    if (s.expires <= this.now()) {
      this.sessions.delete(k);
      return undefined;
    }
    return s;
  }

  /** close ends a session; true when it was live. */
  close(id: string | undefined): boolean {
    if (id === undefined || id.length === 0 || id.length > 128) return false;
    return this.sessions.delete(idHash(id));
  }
}
