/**
 * load.ts: read a YAML configuration file, validate it against the schema and freeze it.
 *
 * Every problem is reported, each with its key path and, where the YAML has one, its
 * line:column; unknown keys get a "did you mean" hint when a known key is close.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isScalar, type Document } from 'yaml';
import { dotted, keyPosition, valueAt, valuePosition, type PathKey } from '../yamlpos';
import type { z } from 'zod';
import { configSchema, type Config } from './schema';
import { ProvError, errorMessage } from '../errors';
import { deepFreeze } from '../readonly';
import { loadPhonesDomain } from '../phones/domain';

/** deepFreeze is re-exported for the modules that import it from here (it lives in src/readonly.ts). */
export { deepFreeze };

/** LoadOptions are the environment a config is resolved against (injectable for tests). */
export interface LoadOptions {
  /** env supplies STATE_DIRECTORY (set by systemd's StateDirectory=). */
  readonly env?: NodeJS.ProcessEnv;
  /** cwd resolves a relative stateDir. */
  readonly cwd?: string;
  /** baseDir resolves a relative phones.profilesDir / templatesDir: the config file's folder (default cwd). */
  readonly baseDir?: string;
  /** skipPhoneProfiles leaves the profiles unchecked (`phones profiles` loads and reports them itself). */
  readonly skipPhoneProfiles?: boolean;
}

/** Problem is one thing wrong with a configuration. */
export interface Problem {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly col?: number;
}

/** formatProblem renders a problem as "file:line:col: key.path: message". */
export function formatProblem(source: string, p: Problem): string {
  const where = p.line === undefined ? source : `${source}:${p.line}:${p.col ?? 1}`;
  return `${where}: ${p.path || '(top level)'}: ${p.message}`;
}

/** defaultConfig returns the embedded defaults: what `provisiond run` uses with no --config. */
export function defaultConfig(opts: LoadOptions = {}): Config {
  return finish(configSchema.parse({}), opts);
}

/**
 * loadConfigFile reads, parses and validates a configuration file; it throws a ProvError.
 *
 * A file with no setting at all (empty, blank or only comments) is refused: it would mean the
 * embedded defaults, which no one asks for by writing a file (`run` without --config gives them),
 * and on a reload it would silently drop every tenant and move stateDir. A truncated write, an
 * editor that saved nothing or a wrong path in a config-management template all look like this.
 */
export function loadConfigFile(path: string, opts: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ProvError('PROVD_ERR_CONFIG_READ', `cannot read configuration file ${path}: ${errorMessage(err)}`, { cause: err });
  }
  return parseText(text, path, { ...opts, baseDir: dirname(resolve(opts.cwd ?? process.cwd(), path)) }, true);
}

/** parseConfigText validates YAML text; `source` names it in messages. It throws a ProvError. Empty text is the embedded defaults. */
export function parseConfigText(text: string, source: string, opts: LoadOptions = {}): Config {
  return parseText(text, source, opts, false);
}

function parseText(text: string, source: string, opts: LoadOptions, refuseEmpty: boolean): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (refuseEmpty && doc.errors.length === 0 && (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null))) {
    throw new ProvError('PROVD_ERR_CONFIG_INVALID', `${source}: the configuration file is empty (no setting, only blank lines or comments); write '{}' to mean the embedded defaults`);
  }
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
      return `${where}: ${e.message.split('\n')[0] ?? e.message}`;
    });
    throw new ProvError('PROVD_ERR_CONFIG_YAML', `${source}: not valid YAML (${lines.length} problem${lines.length > 1 ? 's' : ''})`, { details: lines });
  }
  const data: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.flatMap((issue) => describeIssue(issue, data, doc, lc));
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    throw new ProvError(
      'PROVD_ERR_CONFIG_INVALID',
      `${source}: invalid configuration (${problems.length} problem${problems.length > 1 ? 's' : ''})`,
      { details: problems.map((p) => formatProblem(source, p)) },
    );
  }
  const config = finish(result.data, opts);
  // phones.enabled loads the vendor profiles now: each profile problem is a configuration problem.
  if (config.phones.enabled && opts.skipPhoneProfiles !== true) {
    const problems = loadPhonesDomain(config.phones).problems;
    if (problems.length > 0) {
      throw new ProvError('PROVD_ERR_CONFIG_INVALID', `${source}: invalid configuration (${problems.length} phone profile problem${problems.length > 1 ? 's' : ''})`, {
        details: problems.map((p) => `${p} (phones.profilesDir)`),
      });
    }
  }
  return config;
}

function finish(data: z.output<typeof configSchema>, opts: LoadOptions): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  // phones.profilesDir, templatesDir and a stateDir written in the file: relative to the
  // configuration file's folder (not to wherever the command runs). The default stays ./state.
  const base = opts.baseDir ?? cwd;
  const stateDir = data.stateDir !== undefined ? resolve(base, data.stateDir) : resolve(cwd, env['STATE_DIRECTORY']?.split(':')[0] ?? 'state');
  const at = (p: string | undefined): string | undefined => (p === undefined || isAbsolute(p) ? p : resolve(base, p));
  const phones = { ...data.phones, profilesDir: at(data.phones.profilesDir), templatesDir: at(data.phones.templatesDir) };
  if (phones.profilesDir === undefined) delete phones.profilesDir;
  if (phones.templatesDir === undefined) delete phones.templatesDir;
  // store.passwordFile: a relative name is a systemd credential ($CREDENTIALS_DIRECTORY) when there is one.
  const credentials = env['CREDENTIALS_DIRECTORY'];
  const pw = data.store.passwordFile;
  const store = pw === undefined || isAbsolute(pw) ? data.store : { ...data.store, passwordFile: credentials !== undefined && credentials !== '' ? resolve(credentials, pw) : resolve(base, pw) };
  return deepFreeze({ ...data, phones, store, stateDir });
}

/**
 * reloadRefusal says why a reload from `prev` to `next` must not be applied, or undefined when it
 * may: a reload that removes every tenant (each provisioning request would get 404) is refused
 * unless the new file sets provisioning.allowNoTenants. Starting with no tenant stays allowed.
 */
export function reloadRefusal(prev: Config, next: Config): string | undefined {
  const before = Object.keys(prev.provisioning.tenants);
  if (before.length === 0 || Object.keys(next.provisioning.tenants).length > 0 || next.provisioning.allowNoTenants) return undefined;
  return `the new configuration removes every tenant (${before.join(', ')}): every provisioning request would get 404; set provisioning.allowNoTenants: true to mean it`;
}


function describeIssue(issue: z.core.$ZodIssue, data: unknown, doc: Document, lc: LineCounter): Problem[] {
  const path = issue.path as PathKey[];
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(path);
    return issue.keys.map((key) => {
      const hint = suggest(key, known);
      const pos = keyPosition(doc, lc, path, key);
      return {
        path: dotted([...path, key]),
        message: `unknown key '${key}'${hint ? `; did you mean '${hint}'?` : known.length ? ` (known keys here: ${known.join(', ')})` : ''}`,
        ...pos,
      };
    });
  }
  const pos = valuePosition(doc, lc, path);
  let message = issue.message;
  if (issue.code === 'invalid_type' && valueAt(data, path) === undefined) message = `is required (${issue.message})`;
  if (issue.code === 'invalid_key' && issue.issues.length > 0) message = `invalid key: ${issue.issues.map((i) => i.message).join('; ')}`;
  return [{ path: dotted(path), message, ...pos }];
}






/** knownKeysAt lists the keys the schema allows in the object at `path`. */
function knownKeysAt(path: readonly PathKey[]): string[] {
  let s: unknown = configSchema;
  const unwrap = (x: unknown): unknown => {
    // Peel defaults, optionals and refinements until an object or array schema shows.
    for (let i = 0; i < 10; i++) {
      const def = (x as { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown } } })._zod?.def;
      if (!def) return x;
      if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') x = def.innerType;
      else if (def.type === 'pipe') x = def.in;
      else return x;
    }
    return x;
  };
  for (const p of path) {
    s = unwrap(s);
    const def = (s as { _zod: { def: { type: string; shape?: Record<string, unknown>; element?: unknown } } })._zod.def;
    if (typeof p === 'number' && def.type === 'array') s = def.element;
    else if (def.type === 'object' && def.shape && typeof p === 'string') s = def.shape[p];
    else return [];
  }
  const def = (unwrap(s) as { _zod?: { def?: { type?: string; shape?: Record<string, unknown> } } })._zod?.def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** suggest returns the known key closest to `key`, if it is close enough to be a typo. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const limit = key.length <= 3 ? 1 : key.length <= 8 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

/** editDistance is the optimal-string-alignment distance (a swap of two letters costs 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push(new Array<number>(b.length + 1).fill(0));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 0; i <= a.length; i++) (d[i] as number[])[0] = i;
  for (let j = 0; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}
