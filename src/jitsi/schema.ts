/**
 * schema.ts: the `provisioning` section of the configuration (tenants, users, rules, Jitsi
 * directives, password handling). src/config/schema.ts mounts it; every key is documented in
 * config/provisiond.example.yaml.
 *
 * Templates are compiled here, while the file loads, so a syntax error fails the load with the
 * file, the YAML line of the value and the line/column inside the template.
 */
import { z } from 'zod';
import { checkTemplate } from '../templates/templates';
import { parseHash } from '../identity/passwords';
import { globMatches } from './glob';
import type { DeepReadonly } from '../readonly';
import { parseCidr } from '../net/ipv4';
import { KEY_PATTERN } from '../identity/keys';

/** DIRECTIVE_KEYS are the keys Jitsi handles itself; rules must use the directives instead. */
export const DIRECTIVE_KEYS = ['provisioning.ALLOW_PREFIX', 'provisioning.ENFORCE_PREFIX'] as const;

const priority = z.number().int('must be an integer').min(-1_000_000).max(1_000_000);

const template = z.string().superRefine((s, ctx) => {
  const problem = checkTemplate(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

/** A property value: a template string (numbers/booleans are written as text), null = leave the key out. */
const propertyValue = z.union([
  template,
  z.number().transform((v) => String(v)),
  z.boolean().transform((v) => String(v)),
  z.null(),
  z.strictObject({
    value: z.union([template, z.number().transform((v) => String(v)), z.boolean().transform((v) => String(v)), z.null()]),
    priority: priority.default(10),
  }),
]);

const propertyKey = z
  .string()
  .min(1, 'must not be empty')
  .refine((k) => k.trim().length > 0, { message: 'must not be blank (Jitsi skips blank keys)' })
  .refine((k) => !(DIRECTIVE_KEYS as readonly string[]).includes(k), { message: 'is a Jitsi directive: use allowPrefix / enforcePrefix instead' });

const matcher = z.union([z.string(), z.array(z.string()).min(1, 'must list at least one pattern')]);

/** A subject: `default` (matches every request) or field → glob pattern(s), all of which must match. */
const subject = z.union([
  z.literal('default'),
  z.record(z.string().min(1), matcher).refine((r) => Object.keys(r).length > 0, { message: "must name at least one field (or be 'default')" }),
]);

const rule = z.strictObject({
  /** name labels the rule in error messages (default: its position, e.g. rules[2]). */
  name: z.string().optional(),
  subject,
  priority: priority.default(10),
  properties: z.record(propertyKey, propertyValue),
});

const prefix = z
  .string()
  .min(1, 'must not be empty (an empty prefix matches everything)')
  .refine((p) => !p.includes('|'), { message: "must not contain '|' (Jitsi splits the list on it)" })
  .refine((p) => !/[\r\n]/.test(p), { message: 'must not contain a line break' });
const prefixList = z.array(prefix);

const storedPassword = z.string().superRefine((s, ctx) => {
  const r = parseHash(s);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});

const userName = z.string().regex(/^[^\s@\x00-\x1f\x7f]+$/, 'must be a user name without spaces or @');
const domain = z
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

const tenant = z.strictObject({
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
  rules: z.array(rule).default([]),
  allowPrefix: prefixList.optional(),
  wipe: prefixList.optional(),
  enforcePrefix: prefixList.optional(),
});

const passwords = z.strictObject({
  /** scryptCost is log2(N) for new hashes (existing hashes keep their own cost). */
  scryptCost: z.number().int().min(10).max(20).default(15),
  /** cacheTtl: seconds a verified credential is remembered; 0 turns the cache off. */
  cacheTtl: z.number().int().min(0).max(86_400).default(300),
  /** cacheSize: the most credentials remembered at once. */
  cacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
  /** maxPendingVerifications: KDF runs queued at once; beyond it requests get 429. */
  maxPendingVerifications: z.number().int().min(1).max(100_000).default(64),
});

/** RuleConfig is one validated rule. */
export type RuleConfig = DeepReadonly<z.output<typeof rule>>;

/** provisioningSchema is the `provisioning:` section. */
export const provisioningSchema = z
  .strictObject({
    defaultDomain: domain.default('localdomain'),
    passwords: passwords.prefault({}),
    /** keyGracePeriod: seconds a tenant's previous provisioning key stays valid after a rotation. */
    keyGracePeriod: z.number().int().min(0).max(90 * 86_400).default(7 * 86_400),
    /** allowNoTenants lets a reload remove every tenant (refused otherwise: every request would get 404). */
    allowNoTenants: z.boolean().default(false),
    allowPrefix: prefixList.default([]),
    wipe: prefixList.default([]),
    enforcePrefix: prefixList.default([]),
    rules: z.array(rule).default([]),
    tenants: z.record(domain, tenant).default({}),
  })
  .superRefine((p, ctx) => {
    for (const [dom, t] of Object.entries(p.tenants)) {
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
      const allow = t.allowPrefix ?? p.allowPrefix;
      const wipe = t.wipe ?? p.wipe;
      const enforce = t.enforcePrefix ?? p.enforcePrefix;
      const covered = (list: readonly string[], key: string): boolean => list.length === 0 || list.some((x) => key.startsWith(x));
      const check = (rules: readonly RuleConfig[], where: (string | number)[]): void => {
        rules.forEach((r, i) => {
          if (!ruleMayApplyTo(r, dom)) return;
          for (const key of Object.keys(r.properties)) {
            const path = [...where, i, 'properties', key];
            if (!covered(allow, key)) ctx.addIssue({ code: 'custom', path, message: `is not covered by allowPrefix of tenant ${dom} (${allow.join('|')}): Jitsi would ignore it` });
            else if (!key.startsWith('${system}.') && !covered(enforce, key)) ctx.addIssue({ code: 'custom', path, message: `is not covered by enforcePrefix of tenant ${dom} (${enforce.join('|')}): Jitsi would delete it again` });
            if (wipe.includes(key)) ctx.addIssue({ code: 'custom', path, message: `equals a wipe prefix of tenant ${dom}: Jitsi keeps one line per key, so the wipe would never happen; wipe a shorter prefix` });
          }
        });
      };
      check(p.rules, ['rules']);
      check(t.rules, [...base, 'rules']);
      wipe.forEach((w, i) => {
        if (!covered(allow, w)) ctx.addIssue({ code: 'custom', path: t.wipe ? [...base, 'wipe', i] : ['wipe', i], message: `is not covered by allowPrefix of tenant ${dom}: Jitsi would ignore the wipe` });
      });
    }
  });

/** strategyOf is a tenant's effective strategy (auth, else the older requireCredentials; default none). */
export function strategyOf(t: { readonly auth?: AuthStrategy | undefined; readonly requireCredentials?: boolean | undefined }): AuthStrategy {
  if (t.auth !== undefined) return t.auth;
  return t.requireCredentials === true ? 'credentials' : 'none';
}

/** ProvisioningConfig is the validated section. */
export type ProvisioningConfig = DeepReadonly<z.output<typeof provisioningSchema>>;

/** ruleMayApplyTo is false when a rule's subject names a tenant that cannot be `domain`. */
export function ruleMayApplyTo(r: RuleConfig, domain: string): boolean {
  if (r.subject === 'default') return true;
  for (const field of ['tenant', 'domain']) {
    const m = r.subject[field];
    if (m === undefined) continue;
    const pats = typeof m === 'string' ? [m] : m;
    if (!pats.some((pat) => globMatches(pat, domain))) return false;
  }
  return true;
}
