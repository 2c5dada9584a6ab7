/**
 * rules.ts: JitsiProvS's priority model, made explicit (issue: "Rules").
 *
 * A rule has a subject (`default`, or fields that must all match), a subject priority and
 * properties, each with an optional property priority. Among the rules whose subject matches,
 * each key goes to the smallest (subject priority, property priority); on a tie the rule
 * declared first wins (global rules before the tenant's). Keys come out in the order they first
 * appear in the matching rules. A winning value of null leaves the key out.
 */
import { compileTemplate, type CompiledTemplate, type ContextPath } from '../templates/templates';
import { globToRegExp } from './glob';
import { escapeKey } from './properties';
import type { RuleConfig } from './config';
import type { RenderContext } from '../templates/context';
import { DEVICE_FIELDS, normalizeMac, type DeviceContext } from '../devices/device';

/** CompiledProperty is one property of a rule. */
export interface CompiledProperty {
  readonly key: string;
  /** escapedKey is the key as the encoder writes it (keys are static: escaped once). */
  readonly escapedKey: string;
  readonly priority: number;
  /** template is null for "leave the key out". */
  readonly template: CompiledTemplate | null;
}

/** Matcher tests one field. */
interface Matcher {
  readonly field: string;
  readonly patterns: readonly RegExp[];
}

/** CompiledRule is a rule ready to match and render. */
export interface CompiledRule {
  readonly name: string;
  readonly priority: number;
  /** matchers is empty for `default`. */
  readonly matchers: readonly Matcher[];
  readonly properties: readonly CompiledProperty[];
}

/** compileRules compiles validated rules; `label` prefixes unnamed rules (e.g. `rules[2]`). */
export function compileRules(rules: readonly RuleConfig[], label: string): CompiledRule[] {
  return rules.map((r, i) => {
    const matchers: Matcher[] =
      r.subject === 'default'
        ? []
        : Object.entries(r.subject).map(([field, m]) => {
            const list = typeof m === 'string' ? [m] : m;
            return { field, patterns: list.map((p) => globToRegExp(field === 'hwaddr' ? normalizeMac(p) : p)) };
          });
    const properties: CompiledProperty[] = Object.entries(r.properties).map(([key, v]) => {
      const value = v !== null && typeof v === 'object' ? v.value : v;
      const priority = v !== null && typeof v === 'object' ? v.priority : 10;
      const escapedKey = escapeKey(key);
      if (value === null) return { key, escapedKey, priority, template: null };
      const t = compileTemplate(value, `${r.name ?? `${label}[${i}]`}: ${key}`);
      if (!t.ok) throw new Error(`template of ${key} does not compile: ${t.problem.message}`); // the schema checked it
      return { key, escapedKey, priority, template: t.template };
    });
    return { name: r.name ?? `${label}[${i}]`, priority: r.priority, matchers, properties };
  });
}

/** fieldValue is what a subject field is matched against (undefined: the field is absent). */
function fieldValue(field: string, ctx: RenderContext): string | undefined {
  switch (field) {
    case 'username':
    case 'user':
      return ctx.user?.name;
    case 'tenant':
    case 'domain':
      return ctx.tenant.domain;
    default:
      if (DEVICE_FIELDS.has(field)) return ctx.device[field as keyof DeviceContext];
      return ctx.params[field];
  }
}

/** ruleMatches is true when every field of the subject matches one of its patterns. */
export function ruleMatches(rule: CompiledRule, ctx: RenderContext): boolean {
  for (const m of rule.matchers) {
    if (m.field === 'username' || m.field === 'user') {
      // `alice` matches the name; `alice@example.org` matches the full id.
      const u = ctx.user;
      if (u === null) return false;
      if (!m.patterns.some((p) => p.test(p.source.includes('@') ? u.id : u.name))) return false;
      continue;
    }
    const v = fieldValue(m.field, ctx);
    if (v === undefined || !m.patterns.some((p) => p.test(v))) return false;
  }
  return true;
}

/** Winner is the chosen property for one key, with where it came from (for --explain). */
export interface Winner {
  readonly key: string;
  readonly escapedKey: string;
  readonly rule: string;
  readonly subjectPriority: number;
  readonly propertyPriority: number;
  readonly template: CompiledTemplate | null;
}

/** resolveMatched picks one property per key among the given (matching) rules, in first-appearance order. */
export function resolveMatched(matched: readonly CompiledRule[]): Winner[] {
  const best = new Map<string, Winner>();
  for (const r of matched) {
    for (const p of r.properties) {
      const cur = best.get(p.key);
      // strict < keeps the first-declared on ties; Map keeps first-appearance order
      if (cur === undefined || r.priority < cur.subjectPriority || (r.priority === cur.subjectPriority && p.priority < cur.propertyPriority)) {
        best.set(p.key, { key: p.key, escapedKey: p.escapedKey, rule: r.name, subjectPriority: r.priority, propertyPriority: p.priority, template: p.template });
      }
    }
  }
  return [...best.values()];
}

/** resolve picks one property per key among the rules that match `ctx`. */
export function resolve(rules: readonly CompiledRule[], ctx: RenderContext): Winner[] {
  return resolveMatched(rules.filter((r) => ruleMatches(r, ctx)));
}

/** MAX_PLANS bounds the memo of resolutions per set of matching rules. */
const MAX_PLANS = 1024;

/**
 * Resolution is what one set of matching rules resolves to: its winners, and what their
 * templates read (null when a template's reads are unknown: the document is not reused).
 */
export interface Resolution {
  /** id names the set of matching rules (one char per rule, in order): equal ids, equal winners. */
  readonly id: string;
  readonly winners: readonly Winner[];
  readonly reads: readonly ContextPath[] | null;
}

/** readsOfWinners merges the winners' template reads (deduplicated), or null if one is unknown. */
function readsOfWinners(winners: readonly Winner[]): ContextPath[] | null {
  const seen = new Map<string, ContextPath>();
  for (const w of winners) {
    if (w.template === null) continue;
    if (w.template.reads === null) return null;
    for (const p of w.template.reads) seen.set(p.join('.'), p);
  }
  return [...seen.values()];
}

/**
 * Resolver memoizes resolve(): the winners depend only on which rules match, so each distinct
 * set of matching rules is resolved once (a boot storm renders the same few sets thousands of
 * times). The memo is bounded; past MAX_PLANS sets it resolves without remembering.
 */
export class Resolver {
  private readonly memo = new Map<string, Resolution>();

  constructor(readonly rules: readonly CompiledRule[]) {}

  winners(ctx: RenderContext): readonly Winner[] {
    return this.resolution(ctx).winners;
  }

  /** resolution is the memoized resolution of the rules that match ctx. */
  resolution(ctx: RenderContext): Resolution {
    let key = '';
    for (let i = 0; i < this.rules.length; i++) key += ruleMatches(this.rules[i] as CompiledRule, ctx) ? '1' : '0';
    let r = this.memo.get(key);
    if (r === undefined) {
      const winners = resolveMatched(this.rules.filter((_, i) => key[i] === '1'));
      r = { id: key, winners, reads: readsOfWinners(winners) };
      if (this.memo.size < MAX_PLANS) this.memo.set(key, r);
    }
    return r;
  }
}
