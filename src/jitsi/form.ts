/**
 * form.ts: the request parameters exactly as the Jitsi client sends them (contract §4.2, §4.3).
 *
 * The body is application/x-www-form-urlencoded UTF-8 (HttpClient's URLEncodedUtils: `+` for a
 * space, %XX for every other unsafe byte), with no charset in Content-Type. Parameter order is
 * URI order (2.10) or HashMap order (current Jitsi), so nothing here depends on it. A duplicated
 * name keeps its last value, which is what current Jitsi sends anyway. Values are decoded once:
 * the client does not decode the template URL, so `%20` in it arrives as `%2520` and must come
 * out as the three characters `%20`.
 */
import type { Params } from '../devices/request';

export type { Params };

/** FormLimits bound the work one request can cause. */
export interface FormLimits {
  /** maxParams is the most name=value pairs accepted. */
  readonly maxParams: number;
}

/** DEFAULT_FORM_LIMITS: Jitsi knows about 14 placeholders; 64 leaves room for custom fields. */
export const DEFAULT_FORM_LIMITS: FormLimits = { maxParams: 64 };

/** FormResult is the parsed form, or why it is malformed. */
export type FormResult = { readonly ok: true; readonly params: Params; readonly count: number } | { readonly ok: false; readonly error: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** decodeComponent decodes one form component (`+` = space, %XX = byte, UTF-8); undefined if malformed. */
export function decodeComponent(s: string): string | undefined {
  if (!s.includes('%') && !s.includes('+')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) {
      bytes.push(0x20);
    } else if (c === 0x25) {
      const hi = hexVal(s.charCodeAt(i + 1));
      const lo = hexVal(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      bytes.push((hi << 4) | lo);
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // A raw non-ASCII char (not what the client sends, but harmless): keep it as UTF-8.
      for (const b of Buffer.from(s[i] === undefined ? '' : String.fromCodePoint(s.codePointAt(i) ?? 0xfffd), 'utf8')) bytes.push(b);
      if ((s.codePointAt(i) ?? 0) > 0xffff) i++;
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** parseForm parses a urlencoded body or query string. */
export function parseForm(text: string, limits: FormLimits = DEFAULT_FORM_LIMITS): FormResult {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  if (text.length === 0) return { ok: true, params, count };
  const segments = text.split('&');
  if (segments.length > limits.maxParams * 2) return { ok: false, error: `more than ${limits.maxParams} parameters` };
  for (const seg of segments) {
    if (seg.length === 0) continue; // a&&b: nothing the client would send, ignored
    const eq = seg.indexOf('=');
    const name = decodeComponent(eq < 0 ? seg : seg.slice(0, eq));
    const value = decodeComponent(eq < 0 ? '' : seg.slice(eq + 1));
    if (name === undefined || value === undefined) return { ok: false, error: 'malformed percent-encoding or UTF-8 in the form' };
    count++;
    if (count > limits.maxParams) return { ok: false, error: `more than ${limits.maxParams} parameters` };
    params[name] = value;
  }
  return { ok: true, params, count };
}
