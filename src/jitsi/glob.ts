/**
 * glob.ts: the patterns rule subjects use: `*` any run of characters, `?` one character,
 * everything else literal, compared case-insensitively (MAC addresses, OS names, user names).
 */

const cache = new Map<string, RegExp>();
const MAX_CACHE = 4096;

/** globToRegExp compiles a pattern. */
export function globToRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (re) return re;
  let src = '';
  for (const ch of pattern) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`, 'isu');
  if (cache.size < MAX_CACHE) cache.set(pattern, re);
  return re;
}

/** globMatches tests a value against one pattern. */
export function globMatches(pattern: string, value: string): boolean {
  return globToRegExp(pattern).test(value);
}
