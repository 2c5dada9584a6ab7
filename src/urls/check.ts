/**
 * check.ts: what every URL handed to a client must satisfy, whichever face hands it out
 * (used by the dhcp and mdns sections' schemas).
 */

/**
 * clientUrlProblem checks what every URL handed to a client must satisfy (contract §2.4, §4.1):
 * no NUL or white space (kept verbatim by the client), an absolute http(s) URL with a host, and
 * no `${…}` placeholder in the host (resolved before substitution). `why` explains the scheme rule.
 */
export function clientUrlProblem(url: string, why: string): string | undefined {
  if (url.includes('\0')) return 'must not contain a NUL byte (the client keeps it in the URL)';
  if (/\s/.test(url)) return 'must not contain white space';
  const m = /^(https?):\/\/([^/?#]*)/i.exec(url);
  if (!m || (m[2] ?? '') === '') return `must be an absolute http:// or https:// URL${why}, got '${url}'`;
  if ((m[2] ?? '').includes('${')) return 'must not use ${…} placeholders in the host part: the client resolves the host before it substitutes them';
  try {
    new URL(url);
  } catch {
    return `is not a valid URL: '${url}'`;
  }
  return undefined;
}
