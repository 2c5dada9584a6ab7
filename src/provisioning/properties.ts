/**
 * properties.ts: a java.util.Properties-correct encoder (jitsi-client-contract.md §5.1, §5.3).
 *
 * The client reads the reply with Properties.load(InputStream), which decodes bytes as
 * ISO-8859-1, so the output is pure printable ASCII: every char outside 0x20-0x7E becomes a
 * \uXXXX escape of its UTF-16 code unit (supplementary chars become two escapes, a surrogate
 * pair), exactly as Properties.store does. Keys additionally escape the separators and comment
 * starters; values escape a leading space (trailing spaces are kept by load).
 */

/** PROPERTIES_CONTENT_TYPE is what the endpoint declares (the client ignores it, contract §5.1). */
export const PROPERTIES_CONTENT_TYPE = 'text/plain; charset=ISO-8859-1';

const HEX = '0123456789ABCDEF';

function unicodeEscape(code: number): string {
  return `\\u${HEX[(code >> 12) & 0xf]}${HEX[(code >> 8) & 0xf]}${HEX[(code >> 4) & 0xf]}${HEX[code & 0xf]}`;
}

/** KEY_PLAIN / VALUE_PLAIN match text that needs no escaping at all (the common case). */
const KEY_PLAIN = /^[\x22-\x7e]*$/;
const VALUE_PLAIN = /^(?:[\x21-\x7e][\x20-\x7e]*)?$/;
const SPECIAL = /[\\=:#!]/;
/** ESCAPABLE matches one char that needs an escape (a space is handled per position). */
const ESCAPABLE = /[^\x21-\x7e]|[\\=:#!]/g;

function escapeChar(ch: string): string {
  const c = ch.charCodeAt(0);
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
    case 0x3d: // =
    case 0x3a: // :
    case 0x23: // #
    case 0x21: // !
      // Needed in keys (they end a key, or start a comment at line start); Properties.store
      // escapes them in values too, and load accepts both.
      return `\\${ch}`;
    default:
      return c < 0x20 || c > 0x7e ? unicodeEscape(c) : ch;
  }
}

/**
 * escape applies Properties.store's saveConvert. In a key every space is escaped (a space ends
 * the key); in a value only a leading one (load would skip it), later ones stay as they are.
 */
function escape(s: string, isKey: boolean): string {
  if ((isKey ? KEY_PLAIN : VALUE_PLAIN).test(s) && !SPECIAL.test(s)) return s;
  return s.replace(ESCAPABLE, (ch, offset: number) => (ch === ' ' ? (isKey || offset === 0 ? '\\ ' : ' ') : escapeChar(ch)));
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
