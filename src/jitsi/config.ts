/**
 * config.ts: the Jitsi document part of the `provisioning` configuration section: rules and the
 * Jitsi directives (allowPrefix, wipe, enforcePrefix), globally and per tenant.
 * src/config/provisioning.ts mounts it beside the identity part (src/identity/config.ts); every
 * key is documented in config/provisiond.example.yaml.
 *
 * Templates are compiled here, while the file loads, so a syntax error fails the load with the
 * file, the YAML line of the value and the line/column inside the template.
 */
import { z } from 'zod';
import { checkTemplate } from '../templates/templates';
import { globMatches } from './glob';
import type { DeepReadonly } from '../readonly';
import type { IdentityConfig, TenantAccessConfig } from '../identity/config';

/** DIRECTIVE_KEYS are the keys Jitsi handles itself; rules must use the directives instead. */
export const DIRECTIVE_KEYS = ['provisioning.ALLOW_PREFIX', 'provisioning.ENFORCE_PREFIX'] as const;

const priority = z.number().int('must be an integer').min(-1_000_000).max(1_000_000);

const template = z.string().superRefine((s, ctx) => {
  const problem = checkTemplate(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

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

/** tenantDocumentShape: a tenant's own rules and directives (mounted after its identity keys). */
export const tenantDocumentShape = {
  rules: z.array(rule).default([]),
  allowPrefix: prefixList.optional(),
  wipe: prefixList.optional(),
  enforcePrefix: prefixList.optional(),
};

/** documentShape: the section's global rules and directives (mounted after its identity keys, before tenants). */
export const documentShape = {
  allowPrefix: prefixList.default([]),
  wipe: prefixList.default([]),
  enforcePrefix: prefixList.default([]),
  rules: z.array(rule).default([]),
};

const tenantDocument = z.strictObject(tenantDocumentShape);
const document = z.strictObject(documentShape);

/** RuleConfig is one validated rule. */
export type RuleConfig = DeepReadonly<z.output<typeof rule>>;
/** TenantDocumentConfig is a validated tenant's Jitsi part. */
export type TenantDocumentConfig = DeepReadonly<z.output<typeof tenantDocument>>;
/** DocumentConfig is the section's validated global Jitsi part. */
export type DocumentConfig = DeepReadonly<z.output<typeof document>>;
/** JitsiConfig is what the Jitsi engine reads of the validated section (the whole section fits it). */
export type JitsiConfig = IdentityConfig &
  DocumentConfig & {
    readonly tenants: Readonly<Record<string, TenantAccessConfig & TenantDocumentConfig>>;
  };

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

/**
 * checkTenantDocument adds the cross-checks of one tenant's rules and directives (global and its
 * own) to the section's issues: every rule key must survive the tenant's ALLOW/ENFORCE prefixes
 * and must not equal a wipe prefix, and every wipe must be allowed.
 */
export function checkTenantDocument(p: z.output<typeof document>, dom: string, t: z.output<typeof tenantDocument>, ctx: z.RefinementCtx): void {
  const base = ['tenants', dom];
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
