/**
 * config.ts: the identity part of the `provisioning` configuration section: tenants and how
 * they are reached (auth strategy, urlKey, secret, allowFrom), their users and password
 * handling. Every client kind shares it; src/config/provisioning.ts mounts it beside the Jitsi
 * document settings (src/jitsi/config.ts). Every key is documented in
 * config/provisiond.example.yaml.
 */
import { z } from 'zod';
import { parseHash } from './passwords';
import { KEY_PATTERN } from './keys';
import type { DeepReadonly } from '../readonly';
import { parseCidr } from '../net/ipv4';

/** scalar is an attribute value: numbers and booleans are kept as text. */
const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

const storedPassword = z.string().superRefine((s, ctx) => {
  const r = parseHash(s);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});

const userName = z.string().regex(/^[^\s@\x00-\x1f\x7f]+$/, 'must be a user name without spaces or @');

/** tenantDomain is a tenant's name: a lowercase domain. */
export const tenantDomain = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$/, 'must be a lowercase domain name, e.g. example.org');

const user = z.strictObject({
  password: storedPassword,
  attributes: z.record(z.string().min(1), scalar).default({}),
});

/** AUTH_STRATEGIES are the per-tenant authentication strategies (README "Security"). */
export const AUTH_STRATEGIES = ['none', 'credentials', 'url_key', 'url_key+credentials'] as const;
/** AuthStrategy is one of AUTH_STRATEGIES. */
export type AuthStrategy = (typeof AUTH_STRATEGIES)[number];

const cidr = z.string().superRefine((s, ctx) => {
  const r = parseCidr(s);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});

/** tenantAccessShape: a tenant's identity keys (the section mounts them first in each tenant). */
export const tenantAccessShape = {
  /**
   * auth: none | credentials | url_key | url_key+credentials. Unset: `none` (the lab default,
   * warned about when the HTTP face listens beyond loopback), or `credentials` when the older
   * requireCredentials is true.
   */
  auth: z.enum(AUTH_STRATEGIES).optional(),
  /** requireCredentials: the older spelling of auth credentials (true) / none (false). */
  requireCredentials: z.boolean().optional(),
  /** urlKey: the tenant's provisioning key in clear, for the DHCP/mDNS faces to advertise (also accepted). */
  urlKey: z.string().regex(KEY_PATTERN, 'must be 22-128 characters of A-Z a-z 0-9 _ - (provisiond key rotate makes one)').optional(),
  /** secret: a shared secret every request must carry in its `secret` field (any strategy). */
  secret: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
  /** allowFrom: client networks (CIDR) allowed to provision for this tenant; empty = any (any strategy). */
  allowFrom: z.array(cidr).default([]),
  attributes: z.record(z.string().min(1), scalar).default({}),
  users: z.record(userName, user).default({}),
};

const tenantAccess = z.strictObject(tenantAccessShape);

const passwords = z.strictObject({
  /** scryptCost is log2(N) for new hashes (existing hashes keep their own cost). */
  scryptCost: z.number().int().min(10).max(20).default(15),
  /** cacheTtl: seconds a verified credential is remembered; 0 turns the cache off. */
  cacheTtl: z.number().int().min(0).max(86_400).default(300),
  /** cacheSize: the most credentials remembered at once. */
  cacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
  /**
   * maxPendingVerifications: the hard memory bound on KDF runs queued at once (beyond it: 429).
   * Below it, admission is by deadline: a login waits while the observed KDF rate says it can be
   * answered within clientTimeout, and gets 429 at once when it cannot (issue 16).
   */
  maxPendingVerifications: z.number().int().min(1).max(100_000).default(10_000),
  /**
   * clientTimeout: seconds a client waits for its answer (the Jitsi client's read timeout is
   * 10 s, contract §4.4); a login that needs the KDF is admitted only if it can be answered
   * within it, and one whose time ran out while it waited is dropped before its KDF runs.
   */
  clientTimeout: z.number().min(1).max(300).default(10),
  /**
   * rememberFor: seconds a password verified by the KDF stays remembered in the store (an HMAC
   * under a key kept outside it), so that restarts and other workers skip the KDF; 0 turns it
   * off and deletes the remembered rows (README "Security" states the trade-off).
   */
  rememberFor: z.number().int().min(0).max(90 * 86_400).default(7 * 86_400),
  /** rememberSize: the most remembered verifications kept in the store (those expiring first go). */
  rememberSize: z.number().int().min(0).max(10_000_000).default(100_000),
  /**
   * kdfThreads: scrypt runs at once in one process; unset: the host's cores minus one (at least
   * one), so that the discovery faces keep a core under a storm of logins.
   */
  kdfThreads: z.number().int().min(1).max(64).optional(),
});

/** identityShape: the section's identity keys outside the tenants (mounted first, in this order). */
export const identityShape = {
  defaultDomain: tenantDomain.default('localdomain'),
  passwords: passwords.prefault({}),
  /** keyGracePeriod: seconds a tenant's previous provisioning key stays valid after a rotation. */
  keyGracePeriod: z.number().int().min(0).max(90 * 86_400).default(7 * 86_400),
  /** allowNoTenants lets a reload remove every tenant (refused otherwise: every request would get 404). */
  allowNoTenants: z.boolean().default(false),
};

const identitySection = z.strictObject({ ...identityShape, tenants: z.record(tenantDomain, tenantAccess).default({}) });

/** TenantAccessConfig is a validated tenant's identity part. */
export type TenantAccessConfig = DeepReadonly<z.output<typeof tenantAccess>>;
/** PasswordsConfig is the validated `passwords:` block. */
export type PasswordsConfig = DeepReadonly<z.output<typeof passwords>>;
/** IdentityConfig is what identity/ reads of the validated section (the whole section fits it). */
export type IdentityConfig = DeepReadonly<z.output<typeof identitySection>>;
/** UsersConfig is what the user directory reads: each tenant's users. */
export type UsersConfig = { readonly tenants: Readonly<Record<string, Pick<TenantAccessConfig, 'users'>>> };

/** checkTenantAccess adds the cross-checks of one tenant's identity keys to the section's issues. */
export function checkTenantAccess(dom: string, t: z.output<typeof tenantAccess>, ctx: z.RefinementCtx): void {
  const base = ['tenants', dom];
  if (t.auth !== undefined && t.requireCredentials !== undefined && t.requireCredentials !== t.auth.endsWith('credentials')) {
    ctx.addIssue({ code: 'custom', path: [...base, 'requireCredentials'], message: `contradicts auth: ${t.auth}; drop requireCredentials (auth replaces it)` });
  }
  // Case-insensitive user names: two spellings of one name would be ambiguous.
  const seen = new Map<string, string>();
  for (const name of Object.keys(t.users)) {
    const low = name.toLowerCase();
    const prev = seen.get(low);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [...base, 'users', name], message: `user names are case-insensitive: '${name}' duplicates '${prev}'` });
    seen.set(low, name);
  }
}

/** strategyOf is a tenant's effective strategy (auth, else the older requireCredentials; default none). */
export function strategyOf(t: { readonly auth?: AuthStrategy | undefined; readonly requireCredentials?: boolean | undefined }): AuthStrategy {
  if (t.auth !== undefined) return t.auth;
  return t.requireCredentials === true ? 'credentials' : 'none';
}
