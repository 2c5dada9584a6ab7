/**
 * templates.ts: property values are nunjucks templates, compiled when the configuration loads.
 *
 * Autoescape is off (the output is a properties file, not HTML; the encoder does the escaping),
 * and an undefined value is an error rather than an empty string, so a typo shows up in
 * `provisiond render` instead of silently provisioning an empty password. Use
 * `{{ params.x | default('') }}` for fields a client may leave out.
 *
 * nunjucks has no sandbox: templates can run arbitrary code, so they come only from the
 * administrator's configuration file, never from requests or tenants' users.
 */
import nunjucks from 'nunjucks';
import type { RenderContext } from './context';

/** NUNJUCKS_OPTIONS is the one nunjucks configuration of every template environment (property values, phone files). */
export const NUNJUCKS_OPTIONS: Readonly<nunjucks.ConfigureOptions> = Object.freeze({ autoescape: false, throwOnUndefined: true, trimBlocks: false });

const env = new nunjucks.Environment(null, { ...NUNJUCKS_OPTIONS });

/** ContextPath is a lookup into the render context, e.g. `['tenant', 'attributes', 'sipDomain']`. */
export type ContextPath = readonly string[];

/** CompiledTemplate renders one property value. `literal` skips nunjucks for plain strings. */
export interface CompiledTemplate {
  readonly source: string;
  /**
   * reads are the context paths the output is a function of (a path covers everything under
   * it): two contexts that agree on them render the same text. Null when the template does
   * something this analysis does not follow (loops, calls, `set`, the `random` filter, ...):
   * its output is then never reused (src/jitsi/engine.ts's document cache).
   */
  readonly reads: readonly ContextPath[] | null;
  render(ctx: RenderContext): string;
}

/** TemplateProblem is a syntax error, with its position inside the template when nunjucks knows it. */
export interface TemplateProblem {
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/** describeTemplateError turns a nunjucks error into a one-line message and a position. */
export function describeTemplateError(err: unknown): TemplateProblem {
  const raw = err instanceof Error ? err.message : String(err);
  const pos = /\[Line (\d+), Column (\d+)\]/.exec(raw);
  const text = raw
    .replace(/^\([^)]*\)\s*(\[Line \d+, Column \d+\])?\s*/, '')
    .replace(/^Error: /, '')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .join(' ');
  return pos ? { message: text, line: Number(pos[1]), column: Number(pos[2]) } : { message: text };
}

/** formatTemplateProblem renders a problem for config errors. */
export function formatTemplateProblem(p: TemplateProblem): string {
  return p.line === undefined ? `template syntax error: ${p.message}` : `template syntax error at line ${p.line}, column ${p.column ?? 1} of the template: ${p.message}`;
}

/** CONTEXT_ROOTS are the top-level names of RenderContext. */
const CONTEXT_ROOTS: ReadonlySet<string> = new Set(['params', 'user', 'tenant', 'client', 'device']);
/**
 * SIMPLE_EXPR matches `{{ root.a.b }}` and `{{ root.a.b | default('text') }}`: a plain lookup,
 * optionally with a quoted default, and no other filter, call, index or whitespace control.
 */
const SIMPLE_EXPR = /\{\{ *([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?: *\| *default\((?:'([^'\\{}%#]*)'|"([^"\\{}%#]*)")\))? *\}\}/g;

/** Lookup is one `{{ … }}` of a simple template: a path and an optional default text. */
interface Lookup {
  readonly path: readonly string[];
  readonly fallback: string | undefined;
}

type Part = string | Lookup;

/**
 * simpleParts splits a template made only of literal text and `{{ a.b.c }}` lookups rooted in
 * the render context; undefined when it uses anything else (filters, tags, comments, ...).
 */
function simpleParts(source: string): Part[] | undefined {
  const parts: Part[] = [];
  let last = 0;
  for (const m of source.matchAll(SIMPLE_EXPR)) {
    const path = (m[1] ?? '').split('.');
    if (!CONTEXT_ROOTS.has(path[0] ?? '')) return undefined;
    parts.push(source.slice(last, m.index));
    parts.push({ path, fallback: m[2] ?? m[3] });
    last = (m.index ?? 0) + m[0].length;
  }
  const tail = source.slice(last);
  if (tail.includes('{{') || tail.includes('{%') || tail.includes('{#') || parts.some((p) => typeof p === 'string' && (p.includes('{{') || p.includes('{%') || p.includes('{#')))) return undefined;
  parts.push(tail);
  return parts;
}

/**
 * fastRender renders simple parts the way nunjucks would for primitive values (a string, number
 * or boolean is output as String(v); `default('x')` replaces only undefined, as nunjucks's
 * default filter does); for anything else it returns undefined and the caller lets nunjucks
 * render, so the result (or the error) is always nunjucks's own. It exists because a
 * boot storm renders thousands of documents a second and nunjucks allocates a context per render.
 */
function fastRender(parts: readonly Part[], ctx: RenderContext): string | undefined {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    let v: unknown = ctx;
    for (const k of p.path) {
      if (v === null || v === undefined) {
        v = undefined; // nunjucks's member lookup on a missing parent yields undefined
        break;
      }
      if (typeof v !== 'object') return undefined;
      if (Object.prototype.hasOwnProperty.call(v, k)) v = (v as Record<string, unknown>)[k];
      else if (k in v) return undefined; // inherited (e.g. a method): nunjucks's business
      else v = undefined;
    }
    if (v === undefined && p.fallback !== undefined) v = p.fallback;
    if (typeof v === 'string') out += v;
    else if (typeof v === 'number' || typeof v === 'boolean') out += String(v);
    else return undefined;
  }
  return out;
}

/** AstNode is the part of a nunjucks parse tree readsOf looks at. */
interface AstNode {
  readonly typename: string;
  readonly fields: readonly string[];
  readonly value?: unknown;
  readonly [field: string]: unknown;
}

const nunjucksParser = (nunjucks as unknown as { parser: { parse(src: string, extensions?: unknown[], opts?: unknown): AstNode } }).parser;

/**
 * PURE_NODES are the node types whose value depends only on their children: output, literals,
 * lookups, filters, operators, `if` and inline if. Anything else (for, set, macro, call,
 * include, ...) makes readsOf give up.
 */
const PURE_NODES: ReadonlySet<string> = new Set([
  'Root', 'NodeList', 'Output', 'TemplateData', 'Literal', 'Symbol', 'LookupVal', 'Group', 'Filter', 'KeywordArgs', 'Dict', 'Pair', 'Array',
  'Add', 'Sub', 'Mul', 'Div', 'FloorDiv', 'Mod', 'Pow', 'Neg', 'Pos', 'Concat', 'Compare', 'CompareOperand', 'Or', 'And', 'Not', 'In', 'InlineIf', 'If',
]);
/** IMPURE_FILTERS give a different output for the same input. */
const IMPURE_FILTERS: ReadonlySet<string> = new Set(['random']);

function isNode(v: unknown): v is AstNode {
  return typeof v === 'object' && v !== null && typeof (v as { typename?: unknown }).typename === 'string';
}

/** literalPath is `root.a.b` (a symbol, then literal keys), undefined for anything else. */
function literalPath(n: AstNode): string[] | undefined {
  if (n.typename === 'Symbol') return typeof n.value === 'string' ? [n.value] : undefined;
  if (n.typename !== 'LookupVal' || !isNode(n.target) || !isNode(n.val) || n.val.typename !== 'Literal') return undefined;
  const key = n.val.value;
  if (typeof key !== 'string' && typeof key !== 'number') return undefined;
  const base = literalPath(n.target);
  return base === undefined ? undefined : [...base, String(key)];
}

/** resolvePath follows `root.a.b` in the render context (own properties only). */
function resolvePath(ctx: RenderContext, path: readonly string[]): unknown {
  let v: unknown = ctx;
  for (const k of path) {
    if (v === null || v === undefined || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** firstUndefinedOutput is the first `{{ a.b.c }}` (a plain lookup output as is) that is undefined or null in ctx. */
function firstUndefinedOutput(source: string, ctx: RenderContext): string | undefined {
  let root: AstNode;
  try {
    root = nunjucksParser.parse(source, [], { autoescape: false, trimBlocks: false });
  } catch {
    return undefined;
  }
  const visit = (n: AstNode, depth: number): string | undefined => {
    if (depth > 200) return undefined;
    if (n.typename === 'Output' && Array.isArray(n.children)) {
      for (const c of n.children as unknown[]) {
        if (!isNode(c)) continue;
        const path = literalPath(c);
        if (path !== undefined) {
          const v = resolvePath(ctx, path);
          if (v === undefined || v === null) return path.join('.');
        }
      }
    }
    for (const f of n.fields) {
      const v = n[f];
      const kids = isNode(v) ? [v] : Array.isArray(v) ? (v as unknown[]).filter(isNode) : [];
      for (const k of kids) {
        const hit = visit(k, depth + 1);
        if (hit !== undefined) return hit;
      }
    }
    return undefined;
  };
  return visit(root, 0);
}

/**
 * nameUndefinedOutput turns nunjucks's "attempted to output null or undefined value" into an
 * error naming the variable (`tenant.attributes.sipServr is undefined`), so an operator sees
 * which attribute or parameter is missing; other errors pass unchanged.
 */
function nameUndefinedOutput(err: unknown, source: string, ctx: RenderContext): unknown {
  const msg = err instanceof Error ? err.message : String(err);
  if (!msg.includes('attempted to output null or undefined value')) return err;
  const path = firstUndefinedOutput(source, ctx);
  if (path === undefined) return err;
  const what = resolvePath(ctx, path.split('.')) === null ? 'null' : 'undefined';
  return new Error(`${path} is ${what} (a missing attribute or parameter? give it a value, or write {{ ${path} | default('') }})`, { cause: err });
}

/**
 * readsOf lists the context paths a template's output depends on, from nunjucks's own parse
 * tree; null when it uses a construct outside PURE_NODES or an impure filter. A symbol that is
 * not a context root reads nothing (with throwOnUndefined it is an error, never a document).
 */
export function readsOf(source: string): ContextPath[] | null {
  let root: AstNode;
  try {
    root = nunjucksParser.parse(source, [], { autoescape: false, trimBlocks: false });
  } catch {
    return null;
  }
  const reads: ContextPath[] = [];
  const walk = (n: AstNode): boolean => {
    if (!PURE_NODES.has(n.typename)) return false;
    const path = literalPath(n);
    if (path !== undefined) {
      if (CONTEXT_ROOTS.has(path[0] ?? '')) reads.push(path);
      return true;
    }
    if (n.typename === 'Filter') {
      const name = isNode(n.name) ? n.name.value : undefined;
      if (typeof name !== 'string' || IMPURE_FILTERS.has(name)) return false;
      return isNode(n.args) ? walk(n.args) : true;
    }
    for (const f of n.fields) {
      const v = n[f];
      if (isNode(v)) {
        if (!walk(v)) return false;
      } else if (Array.isArray(v)) {
        for (const c of v as unknown[]) if (isNode(c) && !walk(c)) return false;
      }
    }
    return true;
  };
  return walk(root) ? reads : null;
}

/** compileTemplate compiles a value; a syntax error comes back as a TemplateProblem. */
export function compileTemplate(source: string, name = 'property'): { ok: true; template: CompiledTemplate } | { ok: false; problem: TemplateProblem } {
  if (!source.includes('{{') && !source.includes('{%') && !source.includes('{#')) {
    return { ok: true, template: { source, reads: [], render: () => source } };
  }
  let t: nunjucks.Template;
  try {
    t = new nunjucks.Template(source, env, name, true);
  } catch (err) {
    return { ok: false, problem: describeTemplateError(err) };
  }
  const slow = (ctx: RenderContext): string => {
    try {
      return t.render(ctx as unknown as object);
    } catch (err) {
      throw nameUndefinedOutput(err, source, ctx);
    }
  };
  const parts = simpleParts(source);
  if (parts === undefined) return { ok: true, template: { source, reads: readsOf(source), render: slow } };
  const reads = parts.flatMap((p) => (typeof p === 'string' ? [] : [p.path]));
  return { ok: true, template: { source, reads, render: (ctx) => fastRender(parts, ctx) ?? slow(ctx) } };
}

/** checkTemplate is compileTemplate for validation: undefined when fine, else the problem text. */
export function checkTemplate(source: string): string | undefined {
  const r = compileTemplate(source);
  return r.ok ? undefined : formatTemplateProblem(r.problem);
}
