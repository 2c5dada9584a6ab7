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

const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true, trimBlocks: false });

/** CompiledTemplate renders one property value. `literal` skips nunjucks for plain strings. */
export interface CompiledTemplate {
  readonly source: string;
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

/** compileTemplate compiles a value; it throws a TemplateProblem-carrying Error on a syntax error. */
export function compileTemplate(source: string, name = 'property'): { ok: true; template: CompiledTemplate } | { ok: false; problem: TemplateProblem } {
  if (!source.includes('{{') && !source.includes('{%') && !source.includes('{#')) {
    return { ok: true, template: { source, render: () => source } };
  }
  let t: nunjucks.Template;
  try {
    t = new nunjucks.Template(source, env, name, true);
  } catch (err) {
    return { ok: false, problem: describeTemplateError(err) };
  }
  return { ok: true, template: { source, render: (ctx) => t.render(ctx as unknown as object) } };
}

/** checkTemplate is compileTemplate for validation: undefined when fine, else the problem text. */
export function checkTemplate(source: string): string | undefined {
  const r = compileTemplate(source);
  return r.ok ? undefined : formatTemplateProblem(r.problem);
}
