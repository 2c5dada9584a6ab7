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

/** escape applies Properties.store's saveConvert: `isKey` escapes every space and = : # !. */
function escape(s: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x5c: // backslash
        out += '\\\\';
        continue;
      case 0x09:
        out += '\\t';
        continue;
      case 0x0a:
        out += '\\n';
        continue;
      case 0x0d:
        out += '\\r';
        continue;
      case 0x0c:
        out += '\\f';
        continue;
      case 0x20: // a space ends a key, and a leading space of a value would be skipped by load
        out += isKey || i === 0 ? '\\ ' : ' ';
        continue;
      case 0x3d: // =
      case 0x3a: // :
      case 0x23: // #
      case 0x21: // !
        // Only needed in keys (they end a key, or start a comment at line start); Properties.store
        // escapes them in values too, and load accepts both, so values do the same for safety.
        out += `\\${String.fromCharCode(c)}`;
        continue;
      default:
        out += c < 0x20 || c > 0x7e ? unicodeEscape(c) : String.fromCharCode(c);
    }
  }
  return out;
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
