/**
 * profile.ts: one vendor profile (phones/profiles/<vendor>/profile.yaml) parsed, validated and
 * compiled. Pure: text in, a compiled profile or every problem (file, line, column) out.
 *
 * A profile is data, not code: how to recognise the vendor's requests (User-Agent regexes with
 * the named groups `model`, `version`, `mac`, `serial`; file-name patterns), its OUIs, its models,
 * its per-device and common files, which files carry SIP passwords, and its resync event.
 *
 * File-name patterns are literal text with placeholders, compiled to anchored regexes whose
 * every quantifier is bounded (linear time by construction):
 *   {mac} / {MAC}  12 hex digits; the case is the one the vendor requests and the one written on
 *                  output (matching accepts either case, sip-phones.md conventions)
 *   {model}        1-32 of [A-Za-z0-9_], the model name
 *   {hwid}         2 digits, a hardware id (Yealink y0000000000XX.cfg), mapped to a model
 *   {name}         1-64 of [A-Za-z0-9_.-], any other variable part (firmware part numbers)
 * User-Agent regexes are the admin's or the shipped profile's own: they are compiled at load
 * (a syntax error names file:line) and refused when a quantified group holds an unbounded
 * quantifier (`(a+)+`, the shape of catastrophic backtracking).
 */
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document } from 'yaml';
import { dotted, keyPosition, valueAt, valuePosition, type PathKey } from '../yamlpos';
import { z } from 'zod';

/** ProfileProblem is one thing wrong with a profile file: where, and what. */
export interface ProfileProblem {
  readonly file: string;
  readonly line?: number;
  readonly col?: number;
  /** path is the key path inside the file ('' for the file itself). */
  readonly path: string;
  readonly message: string;
}

/** formatProfileProblem renders a problem as "file:line:col: key.path: message". */
export function formatProfileProblem(p: ProfileProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** MacCase is the letter case of a MAC in a file name: what the phone requests and we emit. */
export type MacCase = 'lower' | 'upper';

/** FilePattern is a compiled file-name pattern. */
export interface FilePattern {
  /** source is the pattern as written, e.g. `{mac}.cfg`. */
  readonly source: string;
  readonly regex: RegExp;
  /** macCase is set when the pattern holds {mac} (lower) or {MAC} (upper). */
  readonly macCase: MacCase | undefined;
  /** modelPrefix is the literal text right before {model} (`spa` in `spa{model}.cfg`), used to find the model's name. */
  readonly modelPrefix: string | undefined;
}

/** ModelInfo is what a profile says about one model. */
export interface ModelInfo {
  /** hardwareId is the 2-digit id of Yealink's y0000000000XX.cfg common file. */
  readonly hardwareId?: string;
  /** lines is the number of SIP accounts the model has. */
  readonly lines?: number;
}

/** Profile is a loaded, compiled vendor profile. */
export interface Profile {
  readonly vendor: string;
  readonly family: string;
  /** source is the profile.yaml it was read from. */
  readonly source: string;
  readonly userAgents: readonly RegExp[];
  readonly macInPath: readonly FilePattern[];
  readonly commonFiles: readonly FilePattern[];
  readonly deviceFiles: readonly FilePattern[];
  /** sensitiveFiles are the sources of the device/macInPath patterns whose files carry SIP passwords. */
  readonly sensitiveFiles: ReadonlySet<string>;
  /** ouis are normalised `aa:bb:cc`. */
  readonly ouis: ReadonlySet<string>;
  /** models by name, in file order. */
  readonly models: ReadonlyMap<string, ModelInfo>;
  /** resyncEvent: the SIP event of a resync NOTIFY that should not reboot the phone (sip-phones.md §4.1). */
  readonly resyncEvent: string;
  /** rebootEvent: the event that makes the phone reboot (`devices sync --reboot`); resyncEvent when the profile names none. */
  readonly rebootEvent: string;
  /** resyncBody: the NOTIFY body some vendors expect (Cisco's `service-control`); none for the others. */
  readonly resyncBody?: ResyncBody | undefined;
  /** dhcp: how a site's DHCP server points this vendor at provisiond (`provisiond export dhcp`). */
  readonly dhcp: ProfileDhcp;
}

/** ResyncBody: the Content-Type and the body lines (joined with CRLF) of a resync and of a reboot NOTIFY. */
export interface ResyncBody {
  readonly contentType: string;
  readonly resync: readonly string[];
  readonly reboot: readonly string[];
}

/** DHCP_URL_OPTIONS are the DHCP options a profile may carry the provisioning URL in (sip-phones.md §1.2). */
export const DHCP_URL_OPTIONS = [66, 160, 114, 43] as const;

/** DhcpUrlOption is one of DHCP_URL_OPTIONS. */
export type DhcpUrlOption = (typeof DHCP_URL_OPTIONS)[number];

/** ProfileDhcp: the option 60 prefixes the vendor's phones send, and the options that carry the URL, in order. */
export interface ProfileDhcp {
  readonly vendorClasses: readonly string[];
  readonly options: readonly DhcpUrlOption[];
}

/** UA_GROUPS are the named groups a User-Agent regex may have. */
export const UA_GROUPS: ReadonlySet<string> = new Set(['model', 'version', 'mac', 'serial']);

const VENDOR_RE = /^[a-z][a-z0-9-]{0,31}$/;
const OUI_RE = /^[0-9a-fA-F]{2}([:-]?)[0-9a-fA-F]{2}\1[0-9a-fA-F]{2}$/;
const EVENT_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,31}(?:;[A-Za-z][A-Za-z0-9_.-]{0,31}=[A-Za-z0-9_.-]{1,32}){0,4}$/;
const MAX_PATTERNS = 64;
/** BODY_LINE: one line of a resync body, printable ASCII (no CR/LF: lines are joined with CRLF). */
const BODY_LINE = z.string().regex(/^[\x20-\x7e]{1,128}$/, '1-128 printable ASCII characters');
const MAX_REGEX = 512;

const PLACEHOLDERS: Readonly<Record<string, string>> = {
  mac: '(?<mac>[0-9A-Fa-f]{12})',
  MAC: '(?<mac>[0-9A-Fa-f]{12})',
  model: '(?<model>[A-Za-z0-9_]{1,32})',
  hwid: '(?<hwid>[0-9]{2})',
  name: '[A-Za-z0-9_.-]{1,64}',
};

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** compilePattern turns a file-name pattern into an anchored regex, or says why it cannot. */
export function compilePattern(source: string): FilePattern | string {
  if (source.length === 0 || source.length > 128) return 'a file pattern has 1 to 128 characters';
  if (/[/\\\s\0]/.test(source)) return 'a file pattern is a file name: no slash, backslash or space';
  let re = '^';
  let macCase: MacCase | undefined;
  let modelPrefix: string | undefined;
  const seen = new Set<string>();
  let literal = '';
  for (const part of source.split(/(\{[^{}]*\})/)) {
    const m = /^\{([^{}]*)\}$/.exec(part);
    if (!m) {
      if (/[{}]/.test(part)) return `unbalanced brace in '${source}'`;
      re += escapeRe(part);
      literal += part;
      continue;
    }
    const name = m[1] ?? '';
    const body = PLACEHOLDERS[name];
    if (body === undefined) return `unknown placeholder {${name}} (known: ${Object.keys(PLACEHOLDERS).map((k) => `{${k}}`).join(', ')})`;
    const group = name === 'MAC' ? 'mac' : name;
    if (group !== 'name' && seen.has(group)) return `{${name}} appears twice in '${source}'`;
    seen.add(group);
    if (group === 'mac') macCase = name === 'MAC' ? 'upper' : 'lower';
    if (group === 'model') modelPrefix = literal;
    re += body;
    literal = '';
  }
  return { source, regex: new RegExp(`${re}$`), macCase, modelPrefix };
}

/**
 * fileNameFor writes a per-device file name in the vendor's letter case: `{mac}` lowercase, `{MAC}`
 * uppercase, `{model}` as given. Undefined when the pattern has a part that cannot be filled
 * (`{hwid}`, `{name}`, a missing or unfit model) or the MAC is not one.
 */
export function fileNameFor(pattern: FilePattern, mac: string, model?: string): string | undefined {
  const hex = mac.replace(/[:-]/g, '');
  if (!/^[0-9A-Fa-f]{12}$/.test(hex)) return undefined;
  let ok = true;
  const out = pattern.source.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
    if (name === 'mac') return hex.toLowerCase();
    if (name === 'MAC') return hex.toUpperCase();
    if (name === 'model' && model !== undefined && /^[A-Za-z0-9_]{1,32}$/.test(model)) return model;
    ok = false;
    return '';
  });
  return ok ? out : undefined;
}

/**
 * regexSafetyProblem returns why a regex source may backtrack catastrophically, or undefined: a
 * group that holds an unbounded quantifier (`*`, `+`, `{n,}`) and is itself repeated (`*`, `+`,
 * `{n,}`, `{n,m}` with m > 1). A heuristic, not a proof: input length is capped as well.
 */
export function regexSafetyProblem(src: string): string | undefined {
  const stack: boolean[] = []; // per open group: does it hold an unbounded quantifier?
  let inClass = false;
  let closedUnbounded = false; // the atom just closed was a group holding one
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
      closedUnbounded = false;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      closedUnbounded = false;
      continue;
    }
    if (c === '(') {
      stack.push(false);
      closedUnbounded = false;
      continue;
    }
    if (c === ')') {
      closedUnbounded = stack.pop() ?? false;
      if (closedUnbounded && stack.length > 0) stack[stack.length - 1] = true;
      continue;
    }
    let unbounded = false;
    let repeats = false;
    if (c === '*' || c === '+') {
      unbounded = repeats = true;
    } else if (c === '{') {
      const q = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
      if (q) {
        unbounded = q[2] !== undefined && q[3] === '';
        repeats = unbounded || (q[3] !== undefined && Number(q[3]) > 1);
        i += q[0].length - 1;
      }
    }
    if (repeats && closedUnbounded) return 'a repeated group holds an unbounded quantifier (nested quantifiers backtrack exponentially); bound the inner one';
    if (unbounded && stack.length > 0) stack[stack.length - 1] = true;
    if (c !== '?') closedUnbounded = false;
  }
  return undefined;
}

/** compileUserAgent compiles a User-Agent regex, or says why it cannot. */
export function compileUserAgent(src: string): RegExp | string {
  if (src.length === 0 || src.length > MAX_REGEX) return `a User-Agent regex has 1 to ${MAX_REGEX} characters`;
  let re: RegExp;
  try {
    re = new RegExp(src, 'u');
  } catch (err) {
    return `invalid regular expression: ${err instanceof Error ? err.message : String(err)}`;
  }
  const unsafe = regexSafetyProblem(src);
  if (unsafe !== undefined) return unsafe;
  for (const m of src.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)) {
    const name = m[1] ?? '';
    if (!UA_GROUPS.has(name)) return `unknown named group '${name}' (known: ${[...UA_GROUPS].join(', ')})`;
  }
  return re;
}

/** checked wraps a compile step as a zod string check, so that its problems come with the schema's, all at once. */
const checked = (check: (s: string) => string | undefined) =>
  z.string().superRefine((s, ctx) => {
    const problem = check(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const macProblem = (needMac: boolean) => (src: string): string | undefined => {
  const r = compilePattern(src);
  if (typeof r === 'string') return r;
  if (needMac && r.macCase === undefined) return `a per-device file name holds {mac} or {MAC}: '${src}'`;
  if (!needMac && r.macCase !== undefined) return `a common file name holds no MAC (list it under deviceFiles or macInPath): '${src}'`;
  return undefined;
};

const patternList = (needMac: boolean) => z.array(checked(macProblem(needMac))).max(MAX_PATTERNS).default([]);

/** profileSchema is the shape of profile.yaml (unknown keys are refused). */
export const profileSchema = z.strictObject({
  /** vendor is the profile's name: lowercase, the same as its folder. */
  vendor: z.string().regex(VENDOR_RE, 'lowercase letters, digits and dashes, starting with a letter (the folder name)'),
  /** family is a human description (e.g. "Yealink T2x/T4x/T5x"). */
  family: z.string().min(1).max(128),
  userAgents: z
    .array(
      checked((src) => {
        const r = compileUserAgent(src);
        return typeof r === 'string' ? r : undefined;
      }),
    )
    .max(MAX_PATTERNS)
    .default([]),
  macInPath: patternList(true),
  commonFiles: patternList(false),
  deviceFiles: patternList(true),
  sensitiveFiles: z.array(z.string()).max(MAX_PATTERNS).default([]),
  ouis: z.array(z.string().regex(OUI_RE, 'an OUI is 3 bytes: aa:bb:cc, aa-bb-cc or aabbcc')).max(256).default([]),
  models: z
    .record(
      z.string().min(1).max(64),
      z
        .strictObject({
          hardwareId: z.string().regex(/^[0-9]{2}$/, 'two digits').optional(),
          lines: z.number().int().min(1).max(64).optional(),
        })
        .nullable()
        .transform((v) => v ?? {}),
    )
    .default({}),
  resyncEvent: z.string().regex(EVENT_RE, "a SIP event such as 'check-sync' or 'check-sync;reboot=false'"),
  /** rebootEvent: the event of `devices sync --reboot` (default: resyncEvent). */
  rebootEvent: z.string().regex(EVENT_RE, "a SIP event such as 'check-sync;reboot=true' or 'reboot_now'").optional(),
  /** resyncBody: Cisco's service-control body (`action=restart` / `action=reset` lines). */
  resyncBody: z
    .strictObject({
      contentType: z.string().regex(/^[a-z]{1,32}\/[a-z0-9.+-]{1,64}$/, "a media type such as 'text/plain'"),
      resync: z.array(BODY_LINE).min(1).max(16),
      reboot: z.array(BODY_LINE).min(1).max(16),
    })
    .optional(),
  /** dhcp: option 60 prefixes (vendorClasses) and the URL options (66, 160, 114, 43; default [66]). */
  dhcp: z
    .strictObject({
      vendorClasses: z.array(z.string().regex(/^[\x20-\x7e]{1,64}$/, '1-64 printable ASCII characters').refine((v) => !/["\\']/.test(v), 'no quotes or backslashes')).max(16).default([]),
      options: z
        .array(z.literal(DHCP_URL_OPTIONS, { error: `one of ${DHCP_URL_OPTIONS.join(', ')}` }))
        .min(1)
        .max(4)
        .refine((l) => new Set(l).size === l.length, 'an option is listed twice')
        .default([66]),
    })
    .default({ vendorClasses: [], options: [66] }),
});


/** parseProfile validates and compiles profile.yaml text; `file` names it in problems. */
export function parseProfile(text: string, file: string): { profile?: Profile; problems: ProfileProblem[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e): ProfileProblem => {
      const pos = e.linePos?.[0];
      return { file, path: '', message: `not valid YAML: ${e.message.split('\n')[0] ?? e.message}`, ...(pos ? { line: pos.line, col: pos.col } : {}) };
    });
    return { problems };
  }
  let data: unknown;
  try {
    data = doc.toJS() ?? {};
  } catch (err) {
    // yaml refuses alias bombs ("Excessive alias count") by throwing: a problem like any other.
    return { problems: [{ file, path: '', message: `not valid YAML: ${err instanceof Error ? err.message : String(err)}` }] };
  }
  const result = profileSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.flatMap((issue) => describeIssue(issue, file, data, doc, lc));
    for (const [path, message] of crossProblems(data)) problems.push({ file, path: dotted(path), message, ...valuePosition(doc, lc, path) });
    return { problems: sortProblems(problems) };
  }
  const d = result.data;
  const problems: ProfileProblem[] = [];
  const at = (path: PathKey[], message: string): void => {
    problems.push({ file, path: dotted(path), message, ...valuePosition(doc, lc, path) });
  };
  for (const [path, message] of crossProblems(data)) at(path, message);
  // The schema has compiled every regex and pattern once already: these cannot fail.
  const userAgents = d.userAgents.map((src) => compileUserAgent(src) as RegExp);
  const compileList = (list: readonly string[]): FilePattern[] => list.map((src) => compilePattern(src) as FilePattern);
  const macInPath = compileList(d.macInPath);
  const commonFiles = compileList(d.commonFiles);
  const deviceFiles = compileList(d.deviceFiles);
  // File order (a shared hardwareId names the first model listed); a plain object would put '300' before 'D120'.
  const modelsNode = doc.get('models', true);
  const order = isMap(modelsNode) ? modelsNode.items.flatMap((it) => (isPair(it) && isScalar(it.key) ? [String(it.key.value)] : [])) : [];
  const models = new Map<string, ModelInfo>();
  for (const name of [...order, ...Object.keys(d.models)]) {
    const info = d.models[name];
    if (info !== undefined && !models.has(name)) models.set(name, info);
  }
  if (problems.length > 0) return { problems: sortProblems(problems) };
  const ouis = new Set(d.ouis.map((o) => o.toLowerCase().replace(/[:-]/g, '').replace(/(..)(?!$)/g, '$1:')));
  return {
    profile: {
      vendor: d.vendor,
      family: d.family,
      source: file,
      userAgents,
      macInPath,
      commonFiles,
      deviceFiles,
      sensitiveFiles: new Set(d.sensitiveFiles),
      ouis,
      models,
      resyncEvent: d.resyncEvent,
      rebootEvent: d.rebootEvent ?? d.resyncEvent,
      ...(d.resyncBody === undefined ? {} : { resyncBody: d.resyncBody }),
      dhcp: { vendorClasses: d.dhcp.vendorClasses, options: d.dhcp.options },
    },
    problems: [],
  };
}

/** crossProblems checks what links two keys (read defensively: it also runs when the schema failed, so that every problem shows at once). */
function crossProblems(data: unknown): [PathKey[], string][] {
  const out: [PathKey[], string][] = [];
  const d = (data !== null && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const perDevice = new Set([...strings(d['deviceFiles']), ...strings(d['macInPath'])]);
  const sensitive = d['sensitiveFiles'];
  if (Array.isArray(sensitive)) {
    sensitive.forEach((src: unknown, i) => {
      if (typeof src === 'string' && !perDevice.has(src)) out.push([['sensitiveFiles', i], `'${src}' is not one of this profile's deviceFiles or macInPath patterns`]);
    });
  }
  const models = d['models'] !== null && typeof d['models'] === 'object' ? Object.values(d['models'] as Record<string, unknown>) : [];
  const hasHwidModel = models.some((m) => m !== null && typeof m === 'object' && 'hardwareId' in m);
  if (strings(d['commonFiles']).some((p) => p.includes('{hwid}')) && !hasHwidModel) out.push([['models'], 'a common file uses {hwid} but no model declares a hardwareId']);
  return out;
}

function sortProblems(problems: ProfileProblem[]): ProfileProblem[] {
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

function describeIssue(issue: z.core.$ZodIssue, file: string, data: unknown, doc: Document, lc: LineCounter): ProfileProblem[] {
  const path = issue.path as PathKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ file, path: dotted([...path, key]), message: `unknown key '${key}'`, ...keyPosition(doc, lc, path, key) }));
  }
  let message = issue.message;
  if (issue.code === 'invalid_type' && valueAt(data, path) === undefined) message = `is required (${issue.message})`;
  return [{ file, path: dotted(path), message, ...valuePosition(doc, lc, path) }];
}





