/**
 * rows.ts: the users and devices tables' row shapes and their mapping to the repository's types,
 * one for both backends (sqlite.ts, postgres.ts: the same schema, column for column).
 */
import type { Device, StoredToken, StoredUser, TokenScope } from './repository';

/** UserRow is a row of `users`. */
export interface UserRow {
  domain: string;
  name: string;
  password_hash: string;
  attributes: string;
  created_at: string;
  updated_at: string;
}

/** DeviceRow is a row of `devices` (PostgreSQL may hand the counters back as text: see toDevice). */
export interface DeviceRow {
  key: string;
  uuid: string | null;
  hwaddr: string | null;
  ip: string;
  hostname: string | null;
  osname: string | null;
  arch: string | null;
  build: string | null;
  user_agent: string | null;
  username: string | null;
  tenant: string;
  first_seen: string;
  last_seen: string;
  last_outcome: string;
  requests: number;
  failures: number;
  last_failure_at: string | null;
  last_failure: string | null;
}

/** parseAttributes reads a user's attributes column (a JSON object of strings; anything else: none). */
export function parseAttributes(json: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(json);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
    return out;
  } catch {
    return {};
  }
}

export function toUser(r: UserRow): StoredUser {
  return { domain: r.domain, name: r.name, passwordHash: r.password_hash, attributes: parseAttributes(r.attributes), createdAt: r.created_at, updatedAt: r.updated_at };
}

export function toDevice(r: DeviceRow): Device {
  return {
    key: r.key,
    uuid: r.uuid,
    hwaddr: r.hwaddr,
    ip: r.ip,
    hostname: r.hostname,
    osname: r.osname,
    arch: r.arch,
    build: r.build,
    userAgent: r.user_agent,
    username: r.username,
    tenant: r.tenant,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    lastOutcome: r.last_outcome,
    requests: Number(r.requests),
    failures: Number(r.failures),
    lastFailureAt: r.last_failure_at,
    lastFailure: r.last_failure,
  };
}

/** TokenRow is an api_tokens row as both backends return it. */
export interface TokenRow {
  id: string;
  hash: string;
  name: string;
  tenant: string | null;
  scopes: string;
  created_at: string;
  last_used_at: string | null;
}

/** toToken reads an api_tokens row (an unknown scope word is dropped, never widened). */
export function toToken(r: TokenRow): StoredToken {
  const scopes = r.scopes.split(',').filter((x): x is TokenScope => x === 'read' || x === 'write' || x === 'secrets');
  return { id: r.id, hash: r.hash, name: r.name, tenant: r.tenant, scopes, createdAt: r.created_at, lastUsedAt: r.last_used_at };
}
