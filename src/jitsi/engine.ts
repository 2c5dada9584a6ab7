/**
 * engine.ts: one provisioning request in, one answer out: identity → credentials → rules →
 * templates → Jitsi directives → properties text. Used by the HTTP face and by
 * `provisiond render`, so the two cannot disagree. Everything a request touches lives in local
 * variables of provision(): nothing of one request can reach another (contract §8.1's leak).
 */
import type { Params } from './form';
import type { ClientContext, RenderContext, TenantContext, UserContext } from '../templates/context';
import { deviceOf, type DeviceContext } from '../devices/device';
import { identify, parseUserAgent } from '../devices/request';
import { compileRules, Resolver } from './rules';
import { escapeKey, escapeValue, type PropertyLine } from './properties';

const ALLOW_KEY = 'provisioning.ALLOW_PREFIX';
const ENFORCE_KEY = 'provisioning.ENFORCE_PREFIX';
import { describeTemplateError } from '../templates/templates';
import { Authenticator, UserDirectory, type AuthState, type UserRecord } from '../identity/auth';
import { CredentialCache } from '../identity/credcache';
import { ruleMayApplyTo, type JitsiConfig } from './config';
import { strategyOf, type AuthStrategy } from '../identity/config';
import type { KeyRepository, UserRepository } from '../store/repository';
import { KeyRing } from '../identity/keys';
import { inCidr, parseCidr, parseIPv4, type Cidr } from '../net/ipv4';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../log';

/** ProvisionRequest is one request, however it arrived. */
export interface ProvisionRequest {
  readonly params: Params;
  readonly ip: string;
  readonly userAgent: string;
  /** key is the URL's provisioning-key segment (`/<key>/jitsi`); undefined on the unkeyed paths. */
  readonly key?: string | undefined;
}

/** SECRET_FIELD is the request field that carries a tenant's shared secret. */
export const SECRET_FIELD = 'secret';

/**
 * NOT_FOUND is the one body of every key, secret and allowFrom refusal on a keyed path: a wrong
 * key and a right key of another tenant must be indistinguishable.
 */
export const NOT_FOUND = 'not found\n';

/** Outcome labels a result for logs, counters and the inventory. */
export type Outcome = 'ok' | 'bad-credentials' | 'credentials-required' | 'unknown-tenant' | 'bad-key' | 'key-required' | 'bad-secret' | 'not-allowed' | 'busy' | 'render-error';

/** FAILURE_OUTCOMES are the outcomes that count as a guess (brute-force bans). */
export const FAILURE_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>(['bad-credentials', 'bad-key', 'key-required', 'bad-secret', 'not-allowed']);

/** ProvisionResult is the engine's answer; `status` is the HTTP status. */
export interface ProvisionResult {
  readonly status: 200 | 400 | 401 | 404 | 429 | 500;
  readonly outcome: Outcome;
  /** body is the properties document (200) or a one-line explanation. */
  readonly body: string;
  readonly tenant: string | null;
  readonly user: string | null;
  readonly device: DeviceContext;
  readonly cached?: boolean;
  /** lines is the document as key/value pairs (200 only). */
  readonly lines?: readonly PropertyLine[];
  /** error is the internal cause of a 500 (logged, never sent). */
  readonly error?: string;
}

interface TenantPlan {
  readonly context: TenantContext;
  readonly strategy: AuthStrategy;
  readonly requireCredentials: boolean;
  readonly requireKey: boolean;
  /** secretHash is the SHA-256 of the tenant's shared secret. */
  readonly secretHash: Buffer | undefined;
  readonly allowFrom: readonly Cidr[];
  readonly resolver: Resolver;
  readonly allow: readonly string[];
  readonly wipe: readonly string[];
  readonly enforce: readonly string[];
}

/** EngineDeps: the store's users (absent for pure tests) and a logger. */
export interface EngineDeps {
  readonly users?: UserRepository;
  readonly keys?: KeyRepository;
  readonly now?: () => number;
  readonly log: Logger;
  /** auth: the previous engine's AuthState (reload keeps the credential cache and its counters). */
  readonly auth?: AuthState;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** allowed tells whether a client address (IPv4, or IPv4-mapped IPv6) is in one of the networks. */
function allowed(ip: string, nets: readonly Cidr[]): boolean {
  const v4 = parseIPv4(ip.startsWith('::ffff:') ? ip.slice(7) : ip);
  if (v4 === undefined) return false;
  return nets.some((n) => inCidr(v4, n));
}

/** Engine renders documents for one validated configuration. */
export class Engine {
  readonly auth: Authenticator;
  private readonly tenants = new Map<string, TenantPlan>();
  private readonly defaultDomain: string;
  /** keyRing resolves provisioning keys to tenants. */
  readonly keyRing: KeyRing;

  constructor(cfg: JitsiConfig, deps: EngineDeps) {
    this.defaultDomain = cfg.defaultDomain;
    const configKeys = new Map<string, string>();
    for (const [domain, t] of Object.entries(cfg.tenants)) if (t.urlKey !== undefined) configKeys.set(domain, t.urlKey);
    this.keyRing = new KeyRing(configKeys, deps.keys, deps.now);
    const global = compileRules(cfg.rules, 'provisioning.rules');
    for (const [domain, t] of Object.entries(cfg.tenants)) {
      const own = compileRules(t.rules, `tenants.${domain}.rules`);
      const applicable = global.filter((_, i) => {
        const r = cfg.rules[i];
        return r !== undefined && ruleMayApplyTo(r, domain);
      });
      const strategy = strategyOf(t);
      this.tenants.set(domain, {
        context: { domain, attributes: { ...t.attributes } },
        strategy,
        requireCredentials: strategy === 'credentials' || strategy === 'url_key+credentials',
        requireKey: strategy === 'url_key' || strategy === 'url_key+credentials',
        secretHash: t.secret === undefined ? undefined : sha256(t.secret),
        allowFrom: t.allowFrom.map((c) => {
          const r = parseCidr(c);
          if (!r.ok) throw new Error(`unvalidated CIDR ${c}`); // the schema rejects these first
          return r.value;
        }),
        resolver: new Resolver([...applicable, ...own]),
        allow: t.allowPrefix ?? cfg.allowPrefix,
        wipe: [...new Set(t.wipe ?? cfg.wipe)],
        enforce: t.enforcePrefix ?? cfg.enforcePrefix,
      });
    }
    // A reload passes the previous AuthState: the cache (resized) and the counters carry over.
    const cacheOpts = { ttlMs: cfg.passwords.cacheTtl * 1000, maxEntries: cfg.passwords.cacheSize };
    deps.auth?.cache.configure(cacheOpts);
    this.auth = new Authenticator(new UserDirectory(cfg, deps.users), deps.users, {
      maxPending: cfg.passwords.maxPendingVerifications,
      scryptCost: cfg.passwords.scryptCost,
      ...(deps.auth ? { state: deps.auth } : { cache: new CredentialCache(cacheOpts) }),
      log: deps.log,
    });
  }

  /** hasTenant tells whether a domain is configured. */
  hasTenant(domain: string): boolean {
    return this.tenants.has(domain);
  }

  /** userKeyOf is `name@domain` (lower-case) of a request carrying the credential pair, for per-user bans. */
  userKeyOf(params: Params): string | undefined {
    const id = identify(params, this.defaultDomain);
    if (!id.hasPair || !id.name) return undefined;
    return `${id.name.toLowerCase()}@${id.domain}`;
  }

  /** strategyOf is a configured tenant's strategy (startup warnings, tests). */
  strategyOf(domain: string): AuthStrategy | undefined {
    return this.tenants.get(domain)?.strategy;
  }

  /** tenants lists the configured tenants. */
  tenantNames(): string[] {
    return [...this.tenants.keys()];
  }

  /** provision answers one request: the HTTP face's whole logic, minus HTTP. */
  async provision(req: ProvisionRequest): Promise<ProvisionResult> {
    const device = deviceOf(req.params);
    // The key, when the path has one, selects the tenant and scopes everything after it.
    let scope: string | undefined;
    if (req.key !== undefined) {
      scope = this.keyRing.tenantOf(req.key);
      if (scope === undefined || !this.tenants.has(scope)) return { device, tenant: null, user: null, status: 404, outcome: 'bad-key', body: NOT_FOUND };
    }
    const id = identify(req.params, scope ?? this.defaultDomain);
    // A key of tenant A never reaches tenant B: the same answer as a wrong key.
    if (scope !== undefined && id.domain !== scope) return { device, tenant: null, user: null, status: 404, outcome: 'bad-key', body: NOT_FOUND };
    const plan = this.tenants.get(id.domain);
    const unknown = `unknown tenant: ${id.domain}\n`;
    if (!plan) return { device, tenant: null, user: null, status: 404, outcome: 'unknown-tenant', body: unknown };
    // Refusals below are 404s, never 401/403 (contract §4.5/§6: those mean credentials only). On an
    // unkeyed path they read exactly like an unknown tenant, so a probe learns nothing.
    const refused = (outcome: Outcome): ProvisionResult => ({ device, tenant: null, user: null, status: 404, outcome, body: scope === undefined ? unknown : NOT_FOUND });
    if (plan.requireKey && scope === undefined) return refused('key-required');
    if (plan.allowFrom.length > 0 && !allowed(req.ip, plan.allowFrom)) return refused('not-allowed');
    if (plan.secretHash !== undefined) {
      const given = req.params[SECRET_FIELD];
      // Both sides are hashed to 32 bytes first: the comparison is constant-time whatever the length.
      if (given === undefined || !timingSafeEqual(sha256(given), plan.secretHash)) return refused('bad-secret');
    }
    const base = { device, tenant: id.domain, user: null };
    let user: UserRecord | null = null;
    let cached = false;
    if (id.hasPair) {
      // contract §4.5/§6: a 401 makes the client forget the pair and prompt again; only here.
      if (!id.name || id.password === undefined) return { ...base, status: 401, outcome: 'bad-credentials', body: 'authentication failed\n' };
      const v = await this.auth.verify(id.domain, id.name, id.password);
      if (v.kind === 'busy') return { ...base, status: 429, outcome: 'busy', body: 'too many password checks in progress; retry shortly\n' };
      if (v.kind === 'bad') return { ...base, status: 401, outcome: 'bad-credentials', body: 'authentication failed\n' };
      user = v.user;
      cached = v.cached;
    } else if (plan.requireCredentials) {
      // A 401 here would crash the client's flow (contract §4.5): say what the URL must carry.
      return {
        ...base,
        status: 400,
        outcome: 'credentials-required',
        body:
          `tenant ${id.domain} requires credentials: the provisioning URL must carry the parameters ` +
          `username=\${username}&password=\${password} (also accepted: user=, pass=)\n`,
      };
    }
    return this.renderFor(plan, user, req, device, cached);
  }

  /**
   * renderAs renders what `user` (or an anonymous client of `domain`) would receive, without a
   * password: the `provisiond render` command. Undefined when the tenant or user is unknown.
   */
  renderAs(req: ProvisionRequest, who: { domain?: string; name?: string }): { result?: ProvisionResult; error?: string } {
    const id = identify(req.params, this.defaultDomain);
    const domain = who.domain ?? id.domain;
    const plan = this.tenants.get(domain);
    if (!plan) return { error: `unknown tenant: ${domain} (configured: ${[...this.tenants.keys()].join(', ') || 'none'})` };
    let user: UserRecord | null = null;
    if (who.name !== undefined) {
      user = this.auth.directory.lookup(domain, who.name) ?? null;
      if (user === null) return { error: `no user ${who.name}@${domain} in the configuration or the store` };
    }
    return { result: this.renderFor(plan, user, req, deviceOf(req.params), false) };
  }

  private renderFor(plan: TenantPlan, rec: UserRecord | null, req: ProvisionRequest, device: DeviceContext, cached: boolean): ProvisionResult {
    const ua = parseUserAgent(req.userAgent);
    const client: ClientContext = { ip: req.ip, userAgent: req.userAgent, product: ua.product, version: ua.version };
    const user: UserContext | null = rec === null ? null : { name: rec.name, domain: rec.domain, id: `${rec.name}@${rec.domain}`, attributes: rec.attributes };
    const ctx: RenderContext = { params: req.params, user, tenant: plan.context, client, device };
    const base = { device, tenant: plan.context.domain, user: user?.id ?? null, cached };
    // A key is never emitted twice, by construction: the schema keeps rule keys apart from the
    // directive keys and the wipe prefixes, the wipe list is de-duplicated, and the resolver
    // returns one winner per key (contract §5.1: a repeated key would collapse).
    const lines: PropertyLine[] = [];
    let body = '';
    const emit = (key: string, escapedKey: string, value: string): void => {
      lines.push({ key, value });
      body += `${escapedKey}=${escapeValue(value)}\n`;
    };
    // contract §5.2/§5.3: ALLOW first, wipes next, content, ENFORCE last.
    if (plan.allow.length > 0) emit(ALLOW_KEY, ALLOW_KEY, plan.allow.join('|'));
    for (const w of plan.wipe) emit(w, escapeKey(w), '${null}');
    for (const w of plan.resolver.winners(ctx)) {
      if (w.template === null) continue;
      let value: string;
      try {
        value = w.template.render(ctx);
      } catch (err) {
        return { ...base, status: 500, outcome: 'render-error', body: 'internal error\n', error: `rule ${w.rule}, key ${w.key}: ${describeTemplateError(err).message}` };
      }
      emit(w.key, w.escapedKey, value);
    }
    if (plan.enforce.length > 0) emit(ENFORCE_KEY, ENFORCE_KEY, plan.enforce.join('|'));
    return { ...base, status: 200, outcome: 'ok', body, lines };
  }

  /** plaintextConfigUsers lists config users whose password is `plain:` (the startup warning). */
  plaintextConfigUsers(): string[] {
    return this.auth.directory
      .configUsers()
      .filter((u) => u.parsed.form === 'plain')
      .map((u) => `${u.name}@${u.domain}`);
  }

  /** weakPasswords lists config users whose password is md5:/plain: (for the startup warning). */
  weakConfigUsers(): string[] {
    return this.auth.directory
      .configUsers()
      .filter((u) => u.parsed.form !== 'scrypt')
      .map((u) => `${u.name}@${u.domain}`);
  }
}
