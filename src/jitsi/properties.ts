/**
 * properties.ts: a java.util.Properties-correct encoder (jitsi-client-contract.md §5.1, §5.3).
 *
 * The client reads the reply with Properties.load(InputStream), which decodes bytes as
 * ISO-8859-1, so the output is pure printable ASCII: every char outside 0x20-0x7E becomes a
 * \uXXXX escape of its UTF-16 code unit (supplementary chars become two escapes, a surrogate
 * pair), as Properties.store does. Keys additionally escape the separators and comment
 * starters; values escape a leading space (trailing spaces are kept by load).
 */

/** PROPERTIES_CONTENT_TYPE is what the endpoint declares (the client ignores it, contract §5.1). */
export const PROPERTIES_CONTENT_TYPE = 'text/plain; charset=ISO-8859-1';

const HEX = '0123456789ABCDEF';

function unicodeEscape(code: number): string {
  return `\\u${HEX[(code >> 12) & 0xf]}${HEX[(code >> 8) & 0xf]}${HEX[(code >> 4) & 0xf]}${HEX[code & 0xf]}`;
}

/** escapeChar is the escape of one char that needs one (constants except for \uXXXX). */
function escapeChar(c: number): string {
  switch (c) {
    case 0x5c: // backslash
      return '\\\\';
    case 0x09:
      return '\\t';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x0c:
      return '\\f';
    case 0x20:
      return '\\ ';
    case 0x3d:
      return '\\=';
    case 0x3a:
      return '\\:';
    case 0x23:
      return '\\#';
    case 0x21:
      return '\\!';
    default:
      return unicodeEscape(c);
  }
}

/**
 * escape applies the rules of contract §5.3 in one pass, copying the unchanged runs between
 * escapes (most values have none or one, so this allocates little on the hot path).
 * Keys: `\`, every space, `=`, `:`, `#`, `!` (they end a key or start a comment).
 * Values: `\` and a leading space only (load skips leading white space of a value, and takes
 * everything after the key's separator literally, so `=`, `:`, `#`, `!` need no escape there).
 * Both: \t \n \r \f, and \uXXXX for every other char outside 0x20-0x7E.
 */
function escape(s: string, isKey: boolean): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x20 && c < 0x7f) {
      if (c !== 0x5c && (!isKey || (c !== 0x3d && c !== 0x3a && c !== 0x23 && c !== 0x21))) continue;
    } else if (c === 0x20 && !isKey && i > 0) continue;
    out += s.slice(last, i);
    out += escapeChar(c);
    last = i + 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

/** escapeKey escapes a property key. */
export function escapeKey(key: string): string {
  return escape(key, true);
}

/** escapeValue escapes a property value. */
export function escapeValue(value: string): string {
  return escape(value, false);
}

/** PropertyLine is one key/value pair of the reply, in output order. */
export interface PropertyLine {
  readonly key: string;
  readonly value: string;
}

/** encodeProperties renders `key=value\n` lines; the result is ASCII only. */
export function encodeProperties(lines: readonly PropertyLine[]): string {
  let out = '';
  for (const l of lines) out += `${escapeKey(l.key)}=${escapeValue(l.value)}\n`;
  return out;
}
