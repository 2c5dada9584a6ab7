/**
 * access.ts: may this request provision for a tenant, and as which user? The checks every
 * client kind goes through before any document is rendered: the provisioning key of a keyed
 * path (`/<key>/…`), the tenant named by the user or domain field, the tenant's allowFrom
 * networks, its shared secret and its auth strategy, then the credentials (identity/auth.ts).
 * A document engine (src/jitsi/engine.ts today) calls TenantAccess.authorize and renders only
 * on success.
 *
 * Refusals before the credentials are 404s, never 401/403 (contract §4.5/§6: those mean
 * credentials only); on an unkeyed path they read exactly like an unknown tenant, so a probe
 * learns nothing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Authenticator, UserDirectory, type AuthState, type UserRecord } from './auth';
import { CredentialCache } from './credcache';
import { defaultKdfThreads, setKdfThreads } from './kdf';
import { KeyRing } from './keys';
import { strategyOf, type AuthStrategy, type IdentityConfig } from './config';
import { identify, type Params } from '../devices/request';
import { StoreBusyError, type KeyRepository, type UserRepository } from '../store/repository';
import { addressInAny, parseCidr, type Cidr } from '../net/ipv4';
import type { Logger } from '../log';

/** SECRET_FIELD is the request field that carries a tenant's shared secret. */
export const SECRET_FIELD = 'secret';

/**
 * NOT_FOUND is the one body of every key, secret and allowFrom refusal on a keyed path: a wrong
 * key and a right key of another tenant must be indistinguishable.
 */
export const NOT_FOUND = 'not found\n';

/** STORE_UNAVAILABLE is the body of a 503 'store-unavailable'. */
export const STORE_UNAVAILABLE = 'the user store cannot be reached; retry later\n';

/** AccessFailure labels why access was refused. */
export type AccessFailure = 'bad-credentials' | 'credentials-required' | 'unknown-tenant' | 'bad-key' | 'key-required' | 'bad-secret' | 'not-allowed' | 'busy' | 'deadline-passed' | 'store-unavailable';

/** Outcome labels a result for logs, counters and the inventory: ok, an access failure, or a render error. */
export type Outcome = 'ok' | AccessFailure | 'render-error';

/** FAILURE_OUTCOMES are the outcomes that count as a guess (brute-force bans). */
export const FAILURE_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>(['bad-credentials', 'bad-key', 'key-required', 'bad-secret', 'not-allowed']);

/** AccessRequest is what access looks at in a request, however it arrived. */
export interface AccessRequest {
  readonly params: Params;
  readonly ip: string;
  /** key is the URL's provisioning-key segment (`/<key>/…`); undefined on the unkeyed paths. */
  readonly key?: string | undefined;
  /** receivedAt: when the request arrived (performance.now() time); the client's timeout runs from then (default: when the check starts). */
  readonly receivedAt?: number | undefined;
}

/** Granted: the request may provision for `tenant`, as `user` (null: anonymous). */
export interface Granted {
  readonly ok: true;
  readonly tenant: string;
  readonly user: UserRecord | null;
  /** cached: the credentials were found in the credential cache. */
  readonly cached: boolean;
}

/** Refused: why not, with the HTTP status and the one-line body to answer. */
export interface Refused {
  readonly ok: false;
  /** 503 with outcome store-unavailable: the store could not answer (Retry-After). 503 with outcome deadline-passed: the client's time ran out while its password check waited (the HTTP face closes the connection instead). */
  readonly status: 400 | 401 | 404 | 429 | 503;
  readonly outcome: AccessFailure;
  readonly body: string;
  /** tenant is set once the tenant is known and reachable (credential failures), else null. */
  readonly tenant: string | null;
  /** askedTenant is the domain an unknown-tenant request named (for the log line; at most 100 characters). */
  readonly askedTenant?: string;
}

/** AccessResult is authorize's answer. */
export type AccessResult = Granted | Refused;

/** TenantGate is how one tenant may be reached. */
interface TenantGate {
  readonly strategy: AuthStrategy;
  readonly requireCredentials: boolean;
  readonly requireKey: boolean;
  /** secretHash is the SHA-256 of the tenant's shared secret. */
  readonly secretHash: Buffer | undefined;
  readonly allowFrom: readonly Cidr[];
}

/** AccessDeps: the store's users and keys (absent for pure tests) and a logger. */
export interface AccessDeps {
  readonly users?: UserRepository | undefined;
  readonly keys?: KeyRepository | undefined;
  readonly now?: (() => number) | undefined;
  readonly log: Logger;
  /** auth: the previous configuration's AuthState (reload keeps the credential cache and its counters). */
  readonly auth?: AuthState | undefined;
}

/** unknownTenant is the 404 text of an unknown (or refused, on an unkeyed path) tenant. */
function unknownTenant(domain: string): string {
  return `unknown tenant: ${domain}\n`;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** TenantAccess decides access for one validated configuration. */
export class TenantAccess {
  readonly auth: Authenticator;
  /** keyRing resolves provisioning keys to tenants. */
  readonly keyRing: KeyRing;
  readonly defaultDomain: string;
  private readonly gates = new Map<string, TenantGate>();

  constructor(cfg: IdentityConfig, deps: AccessDeps) {
    this.defaultDomain = cfg.defaultDomain;
    const configKeys = new Map<string, string>();
    for (const [domain, t] of Object.entries(cfg.tenants)) if (t.urlKey !== undefined) configKeys.set(domain, t.urlKey);
    this.keyRing = new KeyRing(configKeys, deps.keys, deps.now);
    for (const [domain, t] of Object.entries(cfg.tenants)) {
      const strategy = strategyOf(t);
      this.gates.set(domain, {
        strategy,
        requireCredentials: strategy === 'credentials' || strategy === 'url_key+credentials',
        requireKey: strategy === 'url_key' || strategy === 'url_key+credentials',
        secretHash: t.secret === undefined ? undefined : sha256(t.secret),
        allowFrom: t.allowFrom.map((c) => {
          const r = parseCidr(c);
          if (!r.ok) throw new Error(`unvalidated CIDR ${c}`); // the schema rejects these first
          return r.value;
        }),
      });
    }
    setKdfThreads(cfg.passwords.kdfThreads ?? defaultKdfThreads());
    // A reload passes the previous AuthState: the cache (resized) and the counters carry over.
    const cacheOpts = { ttlMs: cfg.passwords.cacheTtl * 1000, maxEntries: cfg.passwords.cacheSize };
    deps.auth?.cache.configure(cacheOpts);
    this.auth = new Authenticator(new UserDirectory(cfg, deps.users), deps.users, {
      maxPending: cfg.passwords.maxPendingVerifications,
      clientTimeoutMs: cfg.passwords.clientTimeout * 1000,
      scryptCost: cfg.passwords.scryptCost,
      ...(deps.auth ? { state: deps.auth } : { cache: new CredentialCache(cacheOpts) }),
      log: deps.log,
    });
  }

  /** hasTenant tells whether a domain is configured. */
  hasTenant(domain: string): boolean {
    return this.gates.has(domain);
  }

  /** strategyOf is a configured tenant's strategy (startup warnings, tests). */
  strategyOf(domain: string): AuthStrategy | undefined {
    return this.gates.get(domain)?.strategy;
  }

  /** tenantNames lists the configured tenants. */
  tenantNames(): string[] {
    return [...this.gates.keys()];
  }

  /** userKeyOf is `name@domain` (lower-case) of a request carrying the credential pair, for per-user bans. */
  userKeyOf(params: Params): string | undefined {
    const id = identify(params, this.defaultDomain);
    if (!id.hasPair || !id.name) return undefined;
    return `${id.name.toLowerCase()}@${id.domain}`;
  }

  /**
   * authorize runs every access check of one request, in order, and verifies its credentials. A
   * store that cannot answer (down, saturated, locked) is a 503 'store-unavailable': retry later,
   * never a 500 (a login in the memory cache is still answered: identity/auth.ts).
   */
  async authorize(req: AccessRequest): Promise<AccessResult> {
    try {
      return await this.check(req);
    } catch (err) {
      if (!(err instanceof StoreBusyError)) throw err;
      return { ok: false, tenant: null, status: 503, outcome: 'store-unavailable', body: STORE_UNAVAILABLE };
    }
  }

  private async check(req: AccessRequest): Promise<AccessResult> {
    // The key, when the path has one, selects the tenant and scopes everything after it.
    let scope: string | undefined;
    if (req.key !== undefined) {
      scope = await this.keyRing.tenantOf(req.key);
      if (scope === undefined || !this.gates.has(scope)) return { ok: false, tenant: null, status: 404, outcome: 'bad-key', body: NOT_FOUND };
    }
    const id = identify(req.params, scope ?? this.defaultDomain);
    // A key of tenant A never reaches tenant B: the same answer as a wrong key.
    if (scope !== undefined && id.domain !== scope) return { ok: false, tenant: null, status: 404, outcome: 'bad-key', body: NOT_FOUND };
    const gate = this.gates.get(id.domain);
    if (!gate) return { ok: false, tenant: null, status: 404, outcome: 'unknown-tenant', body: unknownTenant(id.domain), askedTenant: id.domain.slice(0, 100) };
    // Refusals below are 404s, never 401/403 (contract §4.5/§6: those mean credentials only). On an
    // unkeyed path they read exactly like an unknown tenant, so a probe learns nothing.
    // (The refusal and its text are built only when refusing: this runs on every request.)
    const refused = (outcome: AccessFailure): Refused => ({ ok: false, tenant: null, status: 404, outcome, body: scope === undefined ? unknownTenant(id.domain) : NOT_FOUND });
    if (gate.requireKey && scope === undefined) return refused('key-required');
    if (gate.allowFrom.length > 0 && !addressInAny(req.ip, gate.allowFrom)) return refused('not-allowed');
    if (gate.secretHash !== undefined) {
      const given = req.params[SECRET_FIELD];
      // Both sides are hashed to 32 bytes first: the comparison is constant-time whatever the length.
      if (given === undefined || !timingSafeEqual(sha256(given), gate.secretHash)) return refused('bad-secret');
    }
    const tenant = id.domain;
    if (id.hasPair) {
      // contract §4.5/§6: a 401 makes the client forget the pair and prompt again; only here.
      if (!id.name || id.password === undefined) return { ok: false, tenant, status: 401, outcome: 'bad-credentials', body: 'authentication failed\n' };
      const v = await this.auth.verify(id.domain, id.name, id.password, req.receivedAt);
      if (v.kind === 'busy') return { ok: false, tenant, status: 429, outcome: 'busy', body: 'too many password checks in progress; retry shortly\n' };
      if (v.kind === 'expired') return { ok: false, tenant, status: 503, outcome: 'deadline-passed', body: 'the password check could not be done in time; retry\n' };
      if (v.kind === 'bad') return { ok: false, tenant, status: 401, outcome: 'bad-credentials', body: 'authentication failed\n' };
      return { ok: true, tenant, user: v.user, cached: v.cached };
    }
    if (gate.requireCredentials) {
      // A 401 here would crash the client's flow (contract §4.5): say what the URL must carry.
      return { ok: false, tenant, status: 400, outcome: 'credentials-required', body: credentialsRequiredBody(id.domain) };
    }
    return { ok: true, tenant, user: null, cached: false };
  }

  /** requiresCredentials tells whether a configured tenant answers a request without a credential pair with 400. */
  requiresCredentials(domain: string): boolean {
    return this.gates.get(domain)?.requireCredentials === true;
  }

  /** plaintextConfigUsers lists config users whose password is `plain:` (the startup warning). */
  plaintextConfigUsers(): string[] {
    return this.auth.directory
      .configUsers()
      .filter((u) => u.parsed.form === 'plain')
      .map((u) => `${u.name}@${u.domain}`);
  }

  /** weakConfigUsers lists config users whose password is md5:/plain: (for the startup warning). */
  weakConfigUsers(): string[] {
    return this.auth.directory
      .configUsers()
      .filter((u) => u.parsed.form !== 'scrypt')
      .map((u) => `${u.name}@${u.domain}`);
  }
}

/** credentialsRequiredBody is the 400 answer of a tenant that requires credentials to a request without them. */
export function credentialsRequiredBody(domain: string): string {
  return `tenant ${domain} requires credentials: the provisioning URL must carry the parameters username=\${username}&password=\${password} (also accepted: user=, pass=)\n`;
}
