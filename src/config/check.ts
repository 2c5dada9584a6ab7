/**
 * check.ts: what `provisiond check-config` checks beyond the schema.
 *
 * Two kinds of finding:
 * - warnings are about the host the check runs on, which may not be the one that will run the
 *   daemon: the TLS files (readable, a usable pair) and the interfaces named in dhcp/mdns/sip/tftp
 *   (present, with an IPv4 address). The daemon would refuse to start here.
 * - errors are the file's own fault: a template that uses a variable the render context does
 *   not have (it would fail every request it renders for, or render an empty value).
 */
import nunjucks from 'nunjucks';
import type { Config } from './schema';
import { readTls } from '../http/tls';
import { readAdminTls } from '../admin/tls';
import { errorMessage } from '../errors';
import { listHostInterfaces, type InterfaceLister } from '../net/interfaces';
import type { ClientContext, DeviceContext, RenderContext, TenantContext, UserContext } from '../templates/context';

/** hostWarnings lists the settings this host could not run with (files, interfaces). */
export function hostWarnings(config: Config, listInterfaces: InterfaceLister = listHostInterfaces): string[] {
  const out: string[] = [];
  if (config.http.enabled && config.http.tls !== undefined) {
    try {
      readTls(config.http.tls);
    } catch (err) {
      out.push(`http.tls: ${errorMessage(err)} (on this host the daemon would not start)`);
    }
  }
  if (config.admin.enabled && config.admin.tls !== undefined) {
    try {
      readAdminTls(config.admin.tls);
    } catch (err) {
      out.push(`admin.tls: ${errorMessage(err)} (on this host the admin listener would not serve: provisioning would, with PROVD_ERR_ADMIN_BIND logged)`);
    }
  }
  const host = listInterfaces();
  const known = [...new Set(host.map((h) => h.name))];
  const check = (path: string, names: readonly string[]): void => {
    for (const name of names) {
      if (host.some((h) => h.name === name)) continue;
      out.push(`${path}: interface '${name}' does not exist on this host or has no IPv4 address (here: ${known.join(', ') || 'none'}); on this host the daemon would not start`);
    }
  };
  if (config.dhcp.enabled) check('dhcp.interfaces', config.dhcp.interfaces);
  if (config.mdns.enabled) {
    if (config.mdns.interfaces !== undefined) check('mdns.interfaces', config.mdns.interfaces);
    else if (!config.dhcp.enabled) check('dhcp.interfaces (followed by mdns)', config.dhcp.interfaces);
  }
  if (config.sip.enabled) check('sip.interfaces', config.sip.interfaces);
  if (config.tftp.enabled) {
    check('tftp.interfaces', config.tftp.interfaces);
    if (!config.phones.enabled) out.push('tftp.enabled without phones.enabled: every TFTP request gets File not found');
  }
  return out;
}

/**
 * FIELDS are the members of the render context's fixed-shape roots (src/templates/context.ts);
 * `*` marks a map whose keys are free (params, attributes). The Record types make the compiler
 * fail here when the context gains or loses a field.
 */
const USER: Record<keyof UserContext, boolean> = { name: false, domain: false, id: false, attributes: true };
const TENANT: Record<keyof TenantContext, boolean> = { domain: false, attributes: true };
const CLIENT: Record<keyof ClientContext, boolean> = { ip: false, userAgent: false, product: false, version: false };
const DEVICE: Record<keyof DeviceContext, boolean> = { key: false, uuid: false, hwaddr: false, hostname: false, osname: false, arch: false, build: false, ipaddr: false };
const ROOTS: Record<keyof RenderContext, Record<string, boolean> | '*'> = { params: '*', user: USER, tenant: TENANT, client: CLIENT, device: DEVICE };
/** GLOBALS are the names nunjucks itself provides in a template. */
const GLOBALS = new Set(['range', 'cycler', 'joiner', 'loop', 'caller', 'super']);

/** AstNode is the little of a nunjucks parse tree this walk needs. */
interface AstNode {
  readonly typename: string;
  readonly fields: readonly string[];
  readonly value?: unknown;
  readonly [field: string]: unknown;
}

function isNode(x: unknown): x is AstNode {
  return typeof x === 'object' && x !== null && typeof (x as { typename?: unknown }).typename === 'string' && Array.isArray((x as { fields?: unknown }).fields);
}

function children(n: AstNode, skip: readonly string[] = []): AstNode[] {
  const out: AstNode[] = [];
  for (const f of n.fields) {
    if (skip.includes(f)) continue;
    const v = n[f];
    if (Array.isArray(v)) out.push(...v.filter(isNode));
    else if (isNode(v)) out.push(v);
  }
  return out;
}

/** symbolsIn lists the Symbol names of a binding target (a Symbol, an Array of them, a NodeList). */
function symbolsIn(n: unknown): string[] {
  if (!isNode(n)) return [];
  if (n.typename === 'Symbol') return [String(n.value)];
  if (n.typename === 'Pair') return symbolsIn(n['key']);
  return children(n).flatMap(symbolsIn);
}

/** bound lists every name the template binds itself ({% set %}, {% for %}, macros and their arguments). */
function bound(n: AstNode, into: Set<string>): void {
  switch (n.typename) {
    case 'Set':
      for (const s of symbolsIn({ typename: 'NodeList', fields: ['children'], children: n['targets'] })) into.add(s);
      break;
    case 'For':
    case 'AsyncEach':
    case 'AsyncAll':
      for (const s of symbolsIn(n['name'])) into.add(s);
      break;
    case 'Macro':
    case 'Caller':
      for (const s of [...symbolsIn(n['name']), ...symbolsIn(n['args'])]) into.add(s);
      break;
    case 'FromImport':
    case 'Import':
      for (const s of symbolsIn(n['target']).concat(symbolsIn(n['names']))) into.add(s);
      break;
  }
  for (const c of children(n)) bound(c, into);
}

/** uses reports each variable reference (root and member path) outside the binding positions. */
function uses(n: AstNode, report: (path: readonly string[]) => void): void {
  switch (n.typename) {
    case 'Symbol':
      report([String(n.value)]);
      return;
    case 'LookupVal': {
      const path: string[] = [];
      let cur: AstNode = n;
      const dynamic: AstNode[] = [];
      while (cur.typename === 'LookupVal') {
        const val = cur['val'];
        if (isNode(val) && val.typename === 'Literal' && typeof val.value === 'string') path.unshift(val.value);
        else {
          path.length = 0; // a computed member: only what comes before it can be checked
          if (isNode(val)) dynamic.push(val);
        }
        const target = cur['target'];
        if (!isNode(target)) return;
        cur = target;
      }
      for (const d of dynamic) uses(d, report);
      if (cur.typename === 'Symbol') report([String(cur.value), ...path]);
      else uses(cur, report);
      return;
    }
    case 'Filter':
    case 'FilterAsync':
      for (const c of children(n, ['name'])) uses(c, report);
      return;
    case 'Is':
      for (const c of children(n, ['right'])) uses(c, report);
      return;
    case 'Pair': // a dict literal's or a keyword argument's key is a name, not a variable
      for (const c of children(n, ['key'])) uses(c, report);
      return;
    case 'Set':
      for (const c of children(n, ['targets'])) uses(c, report);
      return;
    case 'For':
    case 'AsyncEach':
    case 'AsyncAll':
      for (const c of children(n, ['name'])) uses(c, report);
      return;
    case 'Macro':
    case 'Caller':
      for (const c of children(n, ['name', 'args'])) uses(c, report);
      for (const a of isNode(n['args']) ? children(n['args'] as AstNode) : []) if (a.typename === 'KeywordArgs') uses(a, report);
      return;
    default:
      for (const c of children(n)) uses(c, report);
  }
}

/** templateVariableProblems returns, for one template source, each variable it uses that the render context lacks. */
export function templateVariableProblems(source: string): string[] {
  if (!source.includes('{{') && !source.includes('{%')) return [];
  let ast: unknown;
  try {
    ast = (nunjucks as unknown as { parser: { parse(src: string): unknown } }).parser.parse(source);
  } catch {
    return []; // a syntax error is the schema's to report
  }
  if (!isNode(ast)) return [];
  const local = new Set<string>();
  bound(ast, local);
  const problems = new Set<string>();
  uses(ast, (path) => {
    const [root, field] = path;
    if (root === undefined || local.has(root) || GLOBALS.has(root)) return;
    const shape = (ROOTS as Record<string, Record<string, boolean> | '*'>)[root];
    if (shape === undefined) {
      problems.add(`uses '${root}', which is not a template variable (they are: ${Object.keys(ROOTS).join(', ')})`);
      return;
    }
    if (shape === '*' || field === undefined || Object.prototype.hasOwnProperty.call(shape, field)) return;
    problems.add(`uses '${root}.${field}', which ${root} does not have (${root} has: ${Object.keys(shape).join(', ')})`);
  });
  return [...problems];
}

/** templateErrors checks every property template of the configuration's rules. */
export function templateErrors(config: Config): string[] {
  const out: string[] = [];
  const rules = (prefix: string, list: Config['provisioning']['rules']): void => {
    list.forEach((r, i) => {
      for (const [key, v] of Object.entries(r.properties)) {
        const source = v === null ? null : typeof v === 'string' ? v : v.value;
        if (typeof source !== 'string') continue;
        for (const p of templateVariableProblems(source)) out.push(`${prefix}.rules[${i}].properties.${key}: the template ${p}`);
      }
    });
  };
  rules('provisioning', config.provisioning.rules);
  for (const [domain, t] of Object.entries(config.provisioning.tenants)) rules(`provisioning.tenants.${domain}`, t.rules);
  return out;
}
