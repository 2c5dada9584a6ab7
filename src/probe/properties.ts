/**
 * properties.ts: a java.util.Properties.load parser (jitsi-client-contract.md §5.1) and the
 * client's ALLOW_PREFIX / ENFORCE_PREFIX rules (§5.2), for `provisiond probe`.
 */

/** ParsedProperties is the reply in the client's order: first position, last value. */
export type ParsedProperties = { readonly ok: true; readonly entries: readonly (readonly [string, string])[] } | { readonly ok: false; readonly error: string };

const WS = new Set([' ', '\t', '\f']);

/** logicalLines splits latin-1 text into Properties logical lines (continuations joined). */
function logicalLines(text: string): string[] {
  const phys = text.split(/\r\n|\r|\n/);
  const out: string[] = [];
  let cur: string | undefined;
  for (const raw of phys) {
    let line = raw;
    let i = 0;
    while (i < line.length && WS.has(line[i] as string)) i++;
    line = line.slice(i);
    if (cur === undefined) {
      if (line.length === 0 || line[0] === '#' || line[0] === '!') continue;
    }
    let bs = 0;
    for (let j = line.length - 1; j >= 0 && line[j] === '\\'; j--) bs++;
    const joined = (cur ?? '') + (bs % 2 === 1 ? line.slice(0, -1) : line);
    if (bs % 2 === 1) cur = joined;
    else {
      out.push(joined);
      cur = undefined;
    }
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

class BadEscape extends Error {}

/** unescape applies the Properties escapes; a malformed \uXXXX throws (the client does too). */
function unescape(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++i];
    if (n === undefined) break;
    if (n === 'u') {
      const hex = s.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new BadEscape(`malformed \\uxxxx encoding near "${s.slice(Math.max(0, i - 1), i + 5)}"`);
      out += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else out += ({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[n] ?? n;
  }
  return out;
}

/** splitKey finds the end of the key (first unescaped =, : or whitespace) and the value start. */
function splitKey(line: string): [string, string] {
  let i = 0;
  for (; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '=' || c === ':' || WS.has(c)) break;
  }
  const key = line.slice(0, i);
  let j = i;
  while (j < line.length && WS.has(line[j] as string)) j++;
  if (j < line.length && (line[j] === '=' || line[j] === ':')) j++;
  while (j < line.length && WS.has(line[j] as string)) j++;
  return [key, line.slice(j)];
}

/** parseProperties parses bytes as ISO-8859-1 the way Properties.load(InputStream) does. */
export function parseProperties(body: Buffer): ParsedProperties {
  const map = new Map<string, string>();
  try {
    for (const line of logicalLines(body.toString('latin1'))) {
      const [k, v] = splitKey(line);
      map.set(unescape(k), unescape(v));
    }
  } catch (err) {
    if (err instanceof BadEscape) return { ok: false, error: err.message };
    throw err;
  }
  return { ok: true, entries: [...map.entries()] };
}

/** Dropped is a reply key the client would not keep, and why. */
export interface Dropped {
  readonly key: string;
  readonly reason: 'ALLOW_PREFIX' | 'ENFORCE_PREFIX';
}

/** Applied summarises what the client does with the reply. */
export interface Applied {
  /** properties counts entries that are not blank keys nor the two prefix directives. */
  readonly properties: number;
  readonly dropped: readonly Dropped[];
}

const ALLOW = 'provisioning.ALLOW_PREFIX';

/** javaSplitBar is Java's value.split("\\|"): trailing empty strings are dropped ("" stays [""]). */
export function javaSplitBar(value: string): string[] {
  const parts = value.split('|');
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 1 && parts[0] === '' && value.length > 0) return [];
  return parts;
}
const ENFORCE = 'provisioning.ENFORCE_PREFIX';

/**
 * applyPrefixes walks the entries in order: ALLOW_PREFIX appends to the allow list (affecting
 * later entries only); an entry not starting with an allowed prefix is skipped; ENFORCE_PREFIX
 * removes every property already set that starts with none of its prefixes.
 */
export function applyPrefixes(entries: readonly (readonly [string, string])[]): Applied {
  const allowed: string[] = [];
  const kept: string[] = [];
  const dropped: Dropped[] = [];
  let properties = 0;
  for (const [key, value] of entries) {
    if (key.trim().length === 0) continue;
    if (key === ALLOW) {
      allowed.push(...javaSplitBar(value));
      continue;
    }
    if (key === ENFORCE) {
      const prefixes = javaSplitBar(value);
      for (let i = kept.length - 1; i >= 0; i--) {
        const k = kept[i] as string;
        if (!prefixes.some((p) => k.startsWith(p))) {
          dropped.push({ key: k, reason: 'ENFORCE_PREFIX' });
          kept.splice(i, 1);
        }
      }
      continue;
    }
    properties++;
    if (allowed.length > 0 && !allowed.some((p) => key.startsWith(p))) {
      dropped.push({ key, reason: 'ALLOW_PREFIX' });
      continue;
    }
    kept.push(key);
  }
  return { properties, dropped };
}
