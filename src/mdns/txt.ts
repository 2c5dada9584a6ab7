/**
 * txt.ts: the pure mapping between a provisioning URL and the DNS-SD records a Jitsi client
 * turns back into that URL (jitsi-client-contract.md §3.1, §3.2). No I/O here.
 *
 * The client resolves `Provisioning URL.<type>.local.` and builds
 *   <application>://<A record IP>:<SRV port>  + path   (or path alone when it holds "://")
 *   + "?" + k=v&k2=v2 …                               (every other TXT string, in TXT order)
 * so a URL is carried as `path=<everything before the ?>` first, then one TXT string per query
 * parameter, verbatim (the client neither decodes nor escapes them).
 */

/** INSTANCE_NAME is the one instance name the client resolves (contract §3.1: exact, case and space). */
export const INSTANCE_NAME = 'Provisioning URL';

/** MAX_TXT_STRING_BYTES: RFC 6763 §6.1, one length byte per TXT string. */
export const MAX_TXT_STRING_BYTES = 255;

/** MAX_TXT_RECORD_BYTES: RFC 6763 §6.2, a TXT record SHOULD stay under 1300 bytes (one packet). */
export const MAX_TXT_RECORD_BYTES = 1300;

/** SERVICE_TYPES are the two types the client resolves, https first (contract §3.1). */
export const SERVICE_TYPES = ['_https._tcp', '_http._tcp'] as const;

/** ServiceType is a DNS-SD service type the client resolves. */
export type ServiceType = (typeof SERVICE_TYPES)[number];

/** Origin is what the client builds the URL's start from: the type's application, the A record, the SRV port. */
export interface Origin {
  readonly scheme: 'http' | 'https';
  /** host is the IPv4 literal of the A record the client receives on that link. */
  readonly host: string;
  readonly port: number;
}

/** TxtResult is a derivation outcome: the TXT strings, or the reason the URL cannot be carried. */
export type TxtResult = { readonly ok: true; readonly txt: readonly string[] } | { readonly ok: false; readonly error: string };

/** schemeOf returns the application of a service type: "_https._tcp" → "https" (contract §3.1). */
export function schemeOf(type: ServiceType): 'http' | 'https' {
  return type === '_https._tcp' ? 'https' : 'http';
}

/** serviceTypeFor picks the type: the configured one, else https when the HTTP face serves TLS. */
export function serviceTypeFor(configured: ServiceType | undefined, httpTls: boolean): ServiceType {
  return configured ?? (httpTls ? '_https._tcp' : '_http._tcp');
}

/**
 * deriveTxt turns a URL into the TXT strings that make the client rebuild exactly that URL.
 *
 * With an `origin`, a URL that starts with exactly `<scheme>://<host>:<port>/` keeps only its path
 * (the client puts the IP and port back); otherwise, and always without an origin (mdns.url),
 * everything before the `?` goes into `path` whole. The query is split at `&` into one string
 * per parameter. A URL without a query reaches the client with a bare "?" appended, which the
 * client ignores (contract §3.2).
 */
export function deriveTxt(url: string, origin?: Origin): TxtResult {
  if (url.includes('#')) return { ok: false, error: "has a '#' fragment, which the client would keep inside the last parameter" };
  const q = url.indexOf('?');
  const base = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const prefix = origin ? `${origin.scheme}://${origin.host}:${origin.port}` : undefined;
  // Relative only when the client's own prefix is textually identical: it always writes the
  // port, so `http://h/x` must stay absolute to come back as `http://h/x`.
  const path = prefix !== undefined && base.startsWith(`${prefix}/`) ? base.slice(prefix.length) : base;
  const txt: string[] = [`path=${path}`];
  const seen = new Set<string>(['path']);
  if (query !== '') {
    const parts = query.split('&');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      const problem = paramProblem(part, seen);
      if (problem) return { ok: false, error: `query parameter ${i + 1} ('${part}') ${problem}` };
      seen.add(keyOf(part).toLowerCase());
      txt.push(part);
    }
  }
  let total = 0;
  for (const s of txt) {
    const bytes = Buffer.byteLength(s, 'utf8');
    if (bytes > MAX_TXT_STRING_BYTES) {
      return { ok: false, error: `gives the TXT string '${s.slice(0, 40)}…' of ${bytes} bytes; a TXT string holds at most ${MAX_TXT_STRING_BYTES} (RFC 6763 §6.1)` };
    }
    total += 1 + bytes;
  }
  if (total > MAX_TXT_RECORD_BYTES) {
    return { ok: false, error: `gives a TXT record of ${total} bytes; keep it under ${MAX_TXT_RECORD_BYTES} (RFC 6763 §6.2)` };
  }
  return { ok: true, txt };
}

function keyOf(part: string): string {
  const eq = part.indexOf('=');
  return eq < 0 ? part : part.slice(0, eq);
}

/** paramProblem says why one query parameter cannot be one TXT string, or returns undefined. */
function paramProblem(part: string, seen: ReadonlySet<string>): string | undefined {
  // A zero-length TXT string makes the client drop every property (contract §3.2).
  if (part === '') return "is empty (an '&&' or a trailing '&'); an empty TXT string clears every property on the client";
  const eq = part.indexOf('=');
  if (eq < 0) return "has no '='; the client would read it as '=true' (contract §3.2)";
  const key = part.slice(0, eq);
  if (key === '') return "has an empty key (RFC 6763 §6.4: a string starting with '=' is ignored)";
  // RFC 6763 §6.4: keys are printable US-ASCII except '='.
  if (!/^[\x20-\x3c\x3e-\x7e]+$/.test(key)) return 'has a key with characters outside printable US-ASCII (RFC 6763 §6.4)';
  const lower = key.toLowerCase();
  if (lower === 'path') return "is named 'path', which is the TXT key of the URL's path";
  if (seen.has(lower)) return `repeats the key '${key}' (TXT keys are case-insensitive and unique, RFC 6763 §6.4)`;
  // The advertiser takes the TXT as a JavaScript object, which would move an array-index key
  // to the front and change the parameter order the client sees.
  if (/^(0|[1-9][0-9]{0,8})$/.test(key)) return `has the all-digit key '${key}', which the advertiser cannot keep in place`;
  return undefined;
}

/**
 * txtProperties reads TXT strings as JmDNS does: `k=v`, a bare key gives "true", a zero-length
 * string clears everything read so far and stops; order is kept, a repeated key keeps its
 * first position and takes the last value (LinkedHashMap).
 */
export function txtProperties(strings: readonly string[]): Map<string, string> {
  const props = new Map<string, string>();
  for (const s of strings) {
    if (s.length === 0) {
      props.clear();
      break;
    }
    const eq = s.indexOf('=');
    if (eq === 0) continue; // no key
    if (eq < 0) props.set(s, 'true');
    else props.set(s.slice(0, eq), s.slice(eq + 1));
  }
  return props;
}

/**
 * assembleClientUrl rebuilds the URL the way the Jitsi client does with JmDNS 3.6.1
 * (contract §3.1, §3.2), from the origin and the TXT strings in TXT order: `path` (a full URL
 * if it contains `://`, else appended with a leading `/`), then every other key as `k=v` joined
 * by `&` after a `?`, unescaped, with the client's trailing-`&`/`?` quirks. It is the inverse of
 * deriveTxt (logs, tests) and what `provisiond probe` fetches.
 */
export function assembleClientUrl(origin: Origin, txt: readonly string[]): string {
  const props = txtProperties(txt);
  let url = `${origin.scheme}://${origin.host}:${origin.port}`;
  const path = props.get('path');
  if (path !== undefined) url = path.includes('://') ? path : url + (path.startsWith('/') ? path : `/${path}`);
  const keys = [...props.keys()];
  if (keys.length > 0) url += '?';
  keys.forEach((k, i) => {
    if (k === 'path') return;
    url += `${k}=${props.get(k) ?? ''}`;
    if (i + 1 < keys.length) url += '&';
  });
  return url;
}
