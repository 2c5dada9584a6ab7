/**
 * engine.ts: one Jitsi provisioning request in, one answer out: access (identity/access.ts:
 * key, tenant, allowFrom, secret, credentials) → rules → templates → Jitsi directives →
 * properties text. Used by the HTTP face and by `provisiond render`, so the two cannot disagree.
 * Everything a request touches lives in local variables of provision(): nothing of one request
 * can reach another (contract §8.1's leak).
 */
import type { ClientContext, RenderContext, TenantContext, UserContext } from '../templates/context';
import { describeTemplateError } from '../templates/templates';
import { deviceOf, type DeviceContext } from '../devices/device';
import { identify, parseUserAgent, type Params } from '../devices/request';
import { TenantAccess, credentialsRequiredBody, type AccessDeps, type AccessRequest, type Outcome } from '../identity/access';
import type { Authenticator, UserRecord } from '../identity/auth';
import type { AuthStrategy } from '../identity/config';
import type { KeyRing } from '../identity/keys';
import { compileRules, Resolver } from './rules';
import { ruleMayApplyTo, type JitsiConfig } from './config';
import { escapeKey, escapeValue, type PropertyLine } from './properties';
import { DocumentCache, documentKey } from './doccache';

export { FAILURE_OUTCOMES, type Outcome } from '../identity/access';

const ALLOW_KEY = 'provisioning.ALLOW_PREFIX';
const ENFORCE_KEY = 'provisioning.ENFORCE_PREFIX';

/** ProvisionRequest is one request, however it arrived. */
export interface ProvisionRequest extends AccessRequest {
  readonly userAgent: string;
}

/** ProvisionResult is the engine's answer; `status` is the HTTP status. */
export interface ProvisionResult {
  readonly status: 200 | 400 | 401 | 404 | 429 | 500 | 503;
  readonly outcome: Outcome;
  /** body is the properties document (200) or a one-line explanation. */
  readonly body: string;
  readonly tenant: string | null;
  readonly user: string | null;
  readonly device: DeviceContext;
  readonly cached?: boolean;
  /** reused is true when the document came from the document cache (doccache.ts) instead of being rendered. */
  readonly reused?: boolean;
  /** lines is the document as key/value pairs (200 only). */
  readonly lines?: readonly PropertyLine[];
  /** askedTenant is the domain an unknown-tenant request named (logged). */
  readonly askedTenant?: string;
  /** error is the internal cause of a 500 (logged, never sent). */
  readonly error?: string;
  /** renderMs: how long the document took to render (absent when it came from the document cache). */
  readonly renderMs?: number;
}

/** DocumentPlan is what one tenant's documents are made of. */
interface DocumentPlan {
  readonly context: TenantContext;
  readonly resolver: Resolver;
  readonly allow: readonly string[];
  readonly wipe: readonly string[];
  readonly enforce: readonly string[];
}

/** EngineDeps: the store's users and keys (absent for pure tests) and a logger (see AccessDeps). */
export interface EngineDeps extends AccessDeps {
  /** documentCacheSize bounds the rendered-document cache (doccache.ts; default 4096, 0 = off). */
  readonly documentCacheSize?: number | undefined;
}

/** Engine renders documents for one validated configuration. */
export class Engine {
  /** access decides who may provision for which tenant. */
  readonly access: TenantAccess;
  private readonly documents = new Map<string, DocumentPlan>();
  /** rendered documents of this configuration (a reload makes a new Engine: it starts empty). */
  readonly documentCache: DocumentCache;

  constructor(cfg: JitsiConfig, deps: EngineDeps) {
    const global = compileRules(cfg.rules, 'provisioning.rules');
    for (const [domain, t] of Object.entries(cfg.tenants)) {
      const own = compileRules(t.rules, `tenants.${domain}.rules`);
      const applicable = global.filter((_, i) => {
        const r = cfg.rules[i];
        return r !== undefined && ruleMayApplyTo(r, domain);
      });
      this.documents.set(domain, {
        context: { domain, attributes: { ...t.attributes } },
        resolver: new Resolver([...applicable, ...own]),
        allow: t.allowPrefix ?? cfg.allowPrefix,
        wipe: [...new Set(t.wipe ?? cfg.wipe)],
        enforce: t.enforcePrefix ?? cfg.enforcePrefix,
      });
    }
    this.access = new TenantAccess(cfg, deps);
    this.documentCache = new DocumentCache(deps.documentCacheSize);
  }

  /** auth is the access check's authenticator (credential cache, KDF queue, counters). */
  get auth(): Authenticator {
    return this.access.auth;
  }

  /** keyRing resolves provisioning keys to tenants. */
  get keyRing(): KeyRing {
    return this.access.keyRing;
  }

  /** hasTenant tells whether a domain is configured. */
  hasTenant(domain: string): boolean {
    return this.access.hasTenant(domain);
  }

  /** userKeyOf is `name@domain` (lower-case) of a request carrying the credential pair, for per-user bans. */
  userKeyOf(params: Params): string | undefined {
    return this.access.userKeyOf(params);
  }

  /** strategyOf is a configured tenant's strategy (startup warnings, tests). */
  strategyOf(domain: string): AuthStrategy | undefined {
    return this.access.strategyOf(domain);
  }

  /** tenants lists the configured tenants. */
  tenantNames(): string[] {
    return this.access.tenantNames();
  }

  /** provision answers one request: the HTTP face's whole logic, minus HTTP. */
  async provision(req: ProvisionRequest): Promise<ProvisionResult> {
    const device = deviceOf(req.params);
    const a = await this.access.authorize(req);
    if (!a.ok) return { device, tenant: a.tenant, user: null, status: a.status, outcome: a.outcome, body: a.body, ...(a.askedTenant === undefined ? {} : { askedTenant: a.askedTenant }) };
    const plan = this.documents.get(a.tenant);
    // Access and documents are built from the same tenants: a granted tenant always has a plan.
    if (!plan) throw new Error(`no document plan for tenant ${a.tenant}`);
    return this.renderFor(plan, a.user, req, device, a.cached, true);
  }

  /**
   * renderAs renders what `user` (or an anonymous client of `domain`) would receive, without a
   * password: the `provisiond render` command. Undefined when the tenant or user is unknown.
   */
  async renderAs(req: ProvisionRequest, who: { domain?: string; name?: string }): Promise<{ result?: ProvisionResult; error?: string }> {
    const id = identify(req.params, this.access.defaultDomain);
    const domain = who.domain ?? id.domain;
    const plan = this.documents.get(domain);
    if (!plan) return { error: `unknown tenant: ${domain} (configured: ${[...this.documents.keys()].join(', ') || 'none'})` };
    let user: UserRecord | null = null;
    if (who.name === undefined && this.access.requiresCredentials(domain)) {
      // What the endpoint answers a request without a credential pair (not the 500 an anonymous render could give).
      return { result: { device: deviceOf(req.params), tenant: domain, user: null, cached: false, status: 400, outcome: 'credentials-required', body: credentialsRequiredBody(domain) } };
    }
    if (who.name !== undefined) {
      user = (await this.auth.directory.lookup(domain, who.name)) ?? null;
      if (user === null) return { error: `no user ${who.name}@${domain} in the configuration or the store` };
    }
    return { result: this.renderFor(plan, user, req, deviceOf(req.params), false, false) };
  }

  /** renderFor renders (or, with reuse, takes from the document cache) the document of one granted request. */
  private renderFor(plan: DocumentPlan, rec: UserRecord | null, req: ProvisionRequest, device: DeviceContext, cached: boolean, reuse: boolean): ProvisionResult {
    const ua = parseUserAgent(req.userAgent);
    const client: ClientContext = { ip: req.ip, userAgent: req.userAgent, product: ua.product, version: ua.version };
    const user: UserContext | null = rec === null ? null : { name: rec.name, domain: rec.domain, id: `${rec.name}@${rec.domain}`, attributes: rec.attributes };
    const ctx: RenderContext = { params: req.params, user, tenant: plan.context, client, device };
    const base = { device, tenant: plan.context.domain, user: user?.id ?? null, cached };
    const resolution = plan.resolver.resolution(ctx);
    const key = reuse && this.documentCache.maxEntries > 0 ? documentKey(plan.context.domain, rec, req.key, resolution, ctx) : undefined;
    if (key !== undefined) {
      const hit = this.documentCache.get(key);
      // Spelled out, not spread: a spread copy is a slow, allocating path on every hit.
      if (hit !== undefined) return { device, tenant: base.tenant, user: base.user, cached, status: 200, outcome: 'ok', body: hit.body, lines: hit.lines, reused: true };
    }
    // A key is never emitted twice, by construction: the schema keeps rule keys apart from the
    // directive keys and the wipe prefixes, the wipe list is de-duplicated, and the resolver
    // returns one winner per key (contract §5.1: a repeated key would collapse).
    const r0 = performance.now();
    const lines: PropertyLine[] = [];
    let body = '';
    const emit = (key: string, escapedKey: string, value: string): void => {
      lines.push({ key, value });
      body += `${escapedKey}=${escapeValue(value)}\n`;
    };
    // contract §5.2/§5.3: ALLOW first, wipes next, content, ENFORCE last.
    if (plan.allow.length > 0) emit(ALLOW_KEY, ALLOW_KEY, plan.allow.join('|'));
    for (const w of plan.wipe) emit(w, escapeKey(w), '${null}');
    for (const w of resolution.winners) {
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
    if (key !== undefined) this.documentCache.set(key, { body, lines });
    return { device, tenant: base.tenant, user: base.user, cached, status: 200, outcome: 'ok', body, lines, renderMs: performance.now() - r0 };
  }

  /** plaintextConfigUsers lists config users whose password is `plain:` (the startup warning). */
  plaintextConfigUsers(): string[] {
    return this.access.plaintextConfigUsers();
  }

  /** weakConfigUsers lists config users whose password is md5:/plain: (for the startup warning). */
  weakConfigUsers(): string[] {
    return this.access.weakConfigUsers();
  }
}
