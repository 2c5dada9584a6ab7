/**
 * lookup.ts: the template lookup chain of file-based documents (phone files), shared by every
 * client kind.
 *
 * For file `F` of a device of model `M`, the first existing of
 *   custom/F.tpl, shipped/F.tpl, custom/M.tpl, shipped/M.tpl, custom/base.tpl, shipped/base.tpl
 * renders the document (wazo-provd's order, reference §1.8): `custom` is a site directory under
 * the configuration directory (it survives upgrades), `shipped` the installed vendor templates.
 * `{% include %}`, `{% extends %}`, `{% import %}` and `{% from %}` resolve every name the same
 * way (custom before shipped); `./x` and `../x` are relative to the including template's name.
 *
 * Names come partly from requests (a model from a User-Agent), so a name that is absolute or
 * walks out of the roots (`..`, a backslash, a control character) is refused before any file
 * is touched.
 *
 * Caching: nunjucks keeps the compiled templates; every lookup during a render (the chain and
 * each include/extends, once per name per render) compares the candidate files' stamps (mtime,
 * size, inode) with those the compiled template came from, and drops it when another file wins
 * now or the file changed. So a custom file added or edited on disk is used with no reconfigure
 * step, and `clear()` (a reload) forgets everything. A stamp is reused for `recheckMs` (1 s by
 * default; 0 stats at every render): measured on the 2-core lab VM (2026-11) with a 50-line
 * Yealink-like model template extending base.tpl and including one file, a stat costs 3-5 µs and
 * a render takes 8 of them: 57 µs per render with a stat at every render, 26 µs with the stamps
 * reused, 850 µs with no cache of sources (recompiled at each render). An edit that keeps the
 * size and lands within the file system's mtime tick is missed until the next change; editors
 * that save by rename (new inode) are always seen.
 *
 * Byte stability: the context is rebuilt with its object keys sorted (`stableContext`) and only
 * JSON-like values are accepted (no Date, no function: their text depends on the clock or the
 * locale), so the same inputs give the same bytes whatever order their keys were inserted in.
 */
import nunjucks from 'nunjucks';
import { statSync, readFileSync } from 'node:fs';
import { join, posix, resolve, sep } from 'node:path';
import { ProvError, errorMessage } from '../errors';
import { JsonShapeError, canonicalValue } from '../json';
import { NUNJUCKS_OPTIONS } from './templates';

/** TemplateRoot is one directory of the chain; `label` names it in results and errors. */
export interface TemplateRoot {
  readonly label: string;
  readonly dir: string;
}

/**
 * TemplateFiles is the file access the lookup needs (injectable: tests use an in-memory tree).
 * `stamp` returns an opaque text that changes whenever the file's content may have changed, or
 * undefined when there is no regular file at the path.
 */
export interface TemplateFiles {
  stamp(path: string): string | undefined;
  read(path: string): string;
}

/** diskFiles reads templates from the file system; the stamp is mtime (ns), size and inode. */
export const diskFiles: TemplateFiles = {
  stamp(path) {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return undefined;
    return `${st.mtimeNs}:${st.size}:${st.ino}`;
  },
  read(path) {
    return readFileSync(path, 'utf8');
  },
};

/** TemplateFile is where one template name was found. */
export interface TemplateFile {
  /** name is the template name, e.g. `00085D2EECFB.cfg.tpl`, `T46S.tpl`, `base.tpl`. */
  readonly name: string;
  /** root is the label of the root it came from (`custom`, `shipped`). */
  readonly root: string;
  /** path is the file on disk (or in the injected tree). */
  readonly path: string;
}

/** RenderedFile is a rendered document, the file that won the chain and every template it used. */
export interface RenderedFile {
  readonly text: string;
  readonly template: TemplateFile;
  /** used lists `root/name` of every template the render read (the winner first), without repeats. */
  readonly used: readonly string[];
}

/** TemplateLookup renders files through the chain; create one per vendor (its two roots). */
export interface TemplateLookup {
  /** chain is the list of template names tried for file F of model M, in order. */
  chain(file: string, model: string | undefined): readonly string[];
  /** find returns the file that wins the chain now, or undefined when none exists. */
  find(file: string, model: string | undefined): TemplateFile | undefined;
  /** render renders file F of a device of model M; throws a PROVD_ERR_TEMPLATE ProvError. */
  render(file: string, model: string | undefined, context: Readonly<Record<string, unknown>>): RenderedFile;
  /** clear forgets every compiled template (on reload). */
  clear(): void;
}

/** BASE_TEMPLATE is the last name of every chain. */
export const BASE_TEMPLATE = 'base.tpl';

/**
 * checkTemplateName returns why a template name is refused, or undefined when it is safe:
 * relative, `/`-separated, no empty, `.` or `..` segment, no backslash or control character.
 */
export function checkTemplateName(name: string): string | undefined {
  if (name.length === 0) return 'empty template name';
  if (name.length > 255) return 'template name longer than 255 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(name)) return `template name ${JSON.stringify(name)} has a backslash or a control character`;
  if (name.startsWith('/')) return `template name ${JSON.stringify(name)} is absolute`;
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return `template name ${JSON.stringify(name)} leaves the template directories or has an empty segment`;
  }
  return undefined;
}

/** templateChain is the chain of names for file F of model M: F.tpl, M.tpl, base.tpl (without repeats). */
export function templateChain(file: string, model: string | undefined): readonly string[] {
  const names = [`${file}.tpl`];
  if (model !== undefined && model !== '') names.push(`${model}.tpl`);
  names.push(BASE_TEMPLATE);
  return [...new Set(names)];
}

/**
 * stableContext copies a JSON-like value with every object's keys sorted, so that iterating a
 * map in a template gives the same order whatever the insertion order was. Anything else than
 * string, finite number, boolean, null, undefined, array and plain object is refused.
 */
export function stableContext(value: unknown, path = 'context'): unknown {
  try {
    return canonicalValue(value, path, 'keep');
  } catch (err) {
    if (err instanceof JsonShapeError) throw new ProvError('PROVD_ERR_TEMPLATE', err.message);
    throw err;
  }
}

/** Located is where a name is found now, with the file's stamp. */
interface Located extends TemplateFile {
  readonly stamp: string;
}

/** GetTemplate is nunjucks's Environment.getTemplate as its compiled templates call it. */
type GetTemplate = (name: unknown, eagerCompile?: unknown, parentName?: unknown, ignoreMissing?: unknown, cb?: unknown) => unknown;

/** VENDOR_RE is a vendor (profile) name as it appears in a directory name. */
const VENDOR_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * vendorRoots gives a vendor's two roots: `custom` is `<customBase>/<vendor>` (a site directory
 * under the configuration directory, never touched by an upgrade), `shipped` the installed
 * profile's templates directory.
 */
export function vendorRoots(customBase: string, vendor: string, shippedDir: string): TemplateRoot[] {
  if (!VENDOR_RE.test(vendor)) throw new ProvError('PROVD_ERR_TEMPLATE', `vendor name ${JSON.stringify(vendor)} is not lowercase letters, digits, - and _`);
  return [
    { label: 'custom', dir: join(customBase, vendor) },
    { label: 'shipped', dir: shippedDir },
  ];
}

/** TemplateFilter is a nunjucks filter: the piped value, then the filter's arguments. */
export type TemplateFilter = (value: unknown, ...args: unknown[]) => unknown;

/**
 * numsort is the filter every lookup has: a map's `[key, value]` pairs with the keys made of
 * digits first, in numeric order (`2` before `10`, unlike `dictsort`), then the others in text
 * order; undefined or null gives no pair. Lines and keys are numbered maps (`sip_lines`, `funckeys`).
 */
export function numsort(value: unknown): [string, unknown][] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'object' || Array.isArray(value)) throw new ProvError('PROVD_ERR_TEMPLATE', 'numsort needs a map');
  const src = value as Record<string, unknown>;
  const num = (k: string): number | undefined => (/^[0-9]{1,15}$/.test(k) ? Number(k) : undefined);
  return Object.keys(src)
    .sort((a, b) => {
      const x = num(a);
      const y = num(b);
      if (x !== undefined && y !== undefined) return x - y || (a < b ? -1 : a > b ? 1 : 0);
      if (x !== undefined) return -1;
      if (y !== undefined) return 1;
      return a < b ? -1 : a > b ? 1 : 0;
    })
    .map((k) => [k, src[k]]);
}

/** LookupOptions tunes the freshness check; `now` is injectable for tests. */
export interface LookupOptions {
  /** filters adds nunjucks filters by name (a client kind's own, e.g. the phones' `tz`); `numsort` is always there. */
  readonly filters?: Readonly<Record<string, TemplateFilter>>;
  /** recheckMs is how long a file's stamp is trusted before it is read again (0: at every render). */
  readonly recheckMs?: number;
  readonly now?: () => number;
}

/** DEFAULT_RECHECK_MS is how soon a template edited on disk is used by default. */
export const DEFAULT_RECHECK_MS = 1000;

/** MAX_STAMPS bounds the stamp memo (a full memo is dropped, not grown). */
const MAX_STAMPS = 4096;

/** createTemplateLookup builds a lookup over roots in priority order (custom first) and a file reader. */
export function createTemplateLookup(roots: readonly TemplateRoot[], files: TemplateFiles = diskFiles, options: LookupOptions = {}): TemplateLookup {
  for (const r of roots) {
    // The label is the first segment of the paths nunjucks knows templates by (see resolve()).
    if (r.label === '' || r.label.includes('/')) throw new ProvError('PROVD_ERR_TEMPLATE', `template root label ${JSON.stringify(r.label)} is empty or has a /`);
  }
  const absRoots = roots.map((r) => ({ label: r.label, dir: r.dir }));
  const recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
  const now = options.now ?? Date.now;
  /** stamps caches each path's stamp with the time it was read. */
  const stamps = new Map<string, { stamp: string | undefined; at: number }>();

  function stampOf(path: string): string | undefined {
    if (recheckMs <= 0) return files.stamp(path);
    const t = now();
    const memo = stamps.get(path);
    if (memo !== undefined && t - memo.at < recheckMs && t >= memo.at) return memo.stamp;
    const stamp = files.stamp(path);
    // Names partly come from requests (models, MACs): keep the memo bounded.
    if (stamps.size >= MAX_STAMPS) stamps.clear();
    stamps.set(path, { stamp, at: t });
    return stamp;
  }
  /** loaded maps a template name to the file nunjucks compiled it from. */
  const loaded = new Map<string, Located>();
  /** checked maps the names already checked during the current render to where they are served from; used, the order they came in. */
  let checked = new Map<string, Located | undefined>();
  let used: string[] = [];

  function pathIn(dir: string, name: string): string {
    const full = join(dir, ...name.split('/'));
    // Belt and braces after checkTemplateName: the joined path must stay inside the root.
    const root = resolve(dir);
    if (!resolve(full).startsWith(root.endsWith(sep) ? root : root + sep)) throw new ProvError('PROVD_ERR_TEMPLATE', `template name ${JSON.stringify(name)} leaves ${dir}`);
    return full;
  }

  function locate(name: string): Located | undefined {
    const why = checkTemplateName(name);
    if (why !== undefined) throw new ProvError('PROVD_ERR_TEMPLATE', why);
    for (const r of absRoots) {
      const path = pathIn(r.dir, name);
      const stamp = stampOf(path);
      if (stamp !== undefined) return { name, root: r.label, path, stamp };
    }
    return undefined;
  }

  const loader = {
    cache: {} as Record<string, unknown>,
    isRelative(name: string): boolean {
      return name.startsWith('./') || name.startsWith('../');
    },
    /** resolve makes `./x` relative to the including template's name (its path is `root/name`). */
    resolve(from: string, to: string): string {
      const fromName = from.slice(from.indexOf('/') + 1);
      const joined = posix.normalize(posix.join(posix.dirname(fromName), to));
      return joined;
    },
    getSource(name: string): nunjucks.LoaderSource | null {
      const found = locate(name);
      if (found === undefined) return null;
      const src = files.read(found.path);
      loaded.set(name, found);
      // path is `root/name`: nunjucks shows it in its errors, and resolve() reads the name back.
      return { src, path: `${found.root}/${name}`, noCache: false };
    },
  };

  const env = new nunjucks.Environment(loader as unknown as nunjucks.ILoader, { ...NUNJUCKS_OPTIONS });
  env.addFilter('numsort', numsort);
  for (const [name, filter] of Object.entries(options.filters ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) env.addFilter(name, filter);

  /**
   * refresh drops the compiled template of `name` when its winning file changed (checked once per
   * render) and returns where the name is served from now.
   */
  function refresh(name: string, now?: Located): Located | undefined {
    if (checked.has(name)) return checked.get(name);
    const before = loaded.get(name);
    const current = now ?? locate(name);
    checked.set(name, current);
    if (before !== undefined && (current === undefined || current.path !== before.path || current.stamp !== before.stamp)) {
      loaded.delete(name);
      delete loader.cache[name];
    }
    return current;
  }

  // Every lookup passes through env.getTemplate: the chain's winner here, and include, extends,
  // import and from in nunjucks's compiled code. Wrapping it on this instance (and dropping
  // entries of loader.cache, where nunjucks 3 keeps compiled templates by name) relies on
  // nunjucks internals; the lookup tests fail if a nunjucks release changes them.
  const original = (env.getTemplate as unknown as GetTemplate).bind(env);
  const wrapped: GetTemplate = (name, eagerCompile, parentName, ignoreMissing, cb) => {
    if (typeof name === 'string') {
      const key = typeof parentName === 'string' && loader.isRelative(name) ? loader.resolve(parentName, name) : name;
      const at = refresh(key);
      const label = at === undefined ? key : `${at.root}/${key}`;
      if (!used.includes(label)) used.push(label);
    }
    return original(name, eagerCompile, parentName, ignoreMissing, cb);
  };
  (env as unknown as { getTemplate: GetTemplate }).getTemplate = wrapped;

  function find(file: string, model: string | undefined): Located | undefined {
    for (const name of templateChain(file, model)) {
      const at = locate(name);
      if (at !== undefined) return at;
    }
    return undefined;
  }

  return {
    chain: templateChain,
    find(file, model) {
      const at = find(file, model);
      return at === undefined ? undefined : { name: at.name, root: at.root, path: at.path };
    },
    render(file, model, context) {
      const at = find(file, model);
      if (at === undefined) {
        const tried = templateChain(file, model).flatMap((n) => absRoots.map((r) => `${r.label}/${n}`));
        throw new ProvError('PROVD_ERR_TEMPLATE', `no template for ${file}${model === undefined ? '' : ` (model ${model})`}: tried ${tried.join(', ')}`);
      }
      const ctx = stableContext(context) as object;
      checked = new Map();
      used = [];
      refresh(at.name, at);
      try {
        const tmpl = env.getTemplate(at.name, true);
        const text = tmpl.render(ctx);
        const winner = loaded.get(at.name) ?? at;
        return { text, template: { name: winner.name, root: winner.root, path: winner.path }, used: [...used] };
      } catch (err) {
        if (err instanceof ProvError) throw err;
        throw new ProvError('PROVD_ERR_TEMPLATE', `${file}: ${errorMessage(err).replace(/\s*\n\s*/g, ' ')}`, { cause: err });
      } finally {
        checked = new Map();
      }
    },
    clear() {
      loaded.clear();
      stamps.clear();
      loader.cache = {};
    },
  };
}
