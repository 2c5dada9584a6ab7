/**
 * request.ts: the pure request half of `provisiond probe` (jitsi-client-contract.md §4.1-§4.3):
 * placeholder substitution in the client's order, the query moved into a form body, and
 * HttpClient URLEncodedUtils encoding.
 */

/** HostValues are the values the client would substitute (from this host, or the options). */
export interface HostValues {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homeLocation: string;
  readonly homeName: string;
  readonly uuid: string;
  readonly osname: string;
  readonly arch: string;
  readonly resx: string;
  readonly resy: string;
  readonly build: string;
  readonly locale: string;
  readonly ipaddr: string;
  readonly hostname: string;
  /** hwaddr is lowercase colon-separated; undefined leaves ${hwaddr} literally (as the client). */
  readonly hwaddr: string | undefined;
}

/** substitute replaces the placeholders of contract §4.1 in order (not ${username}/${password}). */
export function substitute(url: string, v: HostValues): string {
  let u = url.replace(/\$\{env\.([^}]*)}/g, (m, name: string) => v.env[name] ?? m);
  // ${system.NAME}: Java system properties do not exist here; left literally, as when unset.
  const pairs: readonly (readonly [string, string | undefined])[] = [
    ['${home.location}', v.homeLocation],
    ['${home.name}', v.homeName],
    ['${uuid}', v.uuid],
    ['${osname}', v.osname],
    ['${arch}', v.arch],
    ['${resx}', v.resx],
    ['${resy}', v.resy],
    ['${build}', v.build],
    ['${locale}', v.locale],
    ['${ipaddr}', v.ipaddr],
    ['${hostname}', v.hostname],
    ['${hwaddr}', v.hwaddr],
  ];
  for (const [k, val] of pairs) if (val !== undefined) u = u.split(k).join(val);
  return u;
}

/** placeholders lists the distinct ${...} names in a URL template (for the report). */
export function placeholders(url: string): string[] {
  const out = new Set<string>();
  for (const m of url.matchAll(/\$\{([^}]*)}/g)) out.add(m[1] ?? '');
  return [...out];
}

/** PostPlan is the request the client sends: the target without its query, and the form pairs. */
export interface PostPlan {
  readonly target: string;
  readonly params: readonly (readonly [string, string])[];
  /** credentials says the client would prompt: a ${username} and a ${password} param, both empty. */
  readonly credentials: boolean;
}

/**
 * planPost splits the URL at the first `?` (contract §4.2): Java split("&") drops trailing empty
 * segments, each segment splits at its first `=`, values stay raw. The first of ${username} or
 * ${password} in a value is replaced by "" and remembered (§4.3); if both exist and are empty,
 * the prompt fills them with `user`/`password`.
 */
export function planPost(url: string, user: string | undefined, password: string | undefined): PostPlan {
  const q = url.indexOf('?');
  if (q < 0) return { target: url, params: [], credentials: false };
  const target = url.slice(0, q);
  const segs = q + 1 === url.length ? [] : url.slice(q + 1).split('&');
  while (segs.length > 0 && segs[segs.length - 1] === '') segs.pop();
  const params: [string, string][] = [];
  let userIx = -1;
  let passIx = -1;
  for (const s of segs) {
    const eq = s.indexOf('=');
    const name = eq < 0 ? s : s.slice(0, eq);
    let value = eq < 0 ? '' : s.slice(eq + 1);
    if (value.includes('${username}')) {
      value = value.split('${username}').join('');
      userIx = params.length;
    } else if (value.includes('${password}')) {
      value = value.split('${password}').join('');
      passIx = params.length;
    }
    params.push([name, value]);
  }
  const u = params[userIx];
  const p = params[passIx];
  const credentials = u !== undefined && p !== undefined && u[1] === '' && p[1] === '';
  if (credentials && u !== undefined && p !== undefined) {
    u[1] = user ?? '';
    p[1] = password ?? '';
  }
  return { target, params, credentials };
}

const SAFE = /[A-Za-z0-9_.*-]/;

/** formEncode encodes one component like URLEncodedUtils (UTF-8, `+` for space, %XX upper-case). */
export function formEncode(s: string): string {
  let out = '';
  for (const ch of s) {
    if (SAFE.test(ch)) out += ch;
    else if (ch === ' ') out += '+';
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** formBody joins the pairs in URI order (Jitsi 2.10's order). */
export function formBody(params: readonly (readonly [string, string])[]): string {
  return params.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&');
}

/** javaOsName maps node's os.type() to Java's os.name for the common systems. */
export function javaOsName(type: string, release: string): string {
  if (type === 'Darwin') return 'Mac OS X';
  if (type === 'Windows_NT') return release.startsWith('10.0.2') ? 'Windows 11' : 'Windows 10';
  return type;
}

/** javaArch maps node's process.arch to Java's os.arch. */
export function javaArch(arch: string): string {
  return ({ x64: 'amd64', ia32: 'x86', arm64: 'aarch64', arm: 'arm' } as Record<string, string>)[arch] ?? arch;
}

/** MAX_REDIRECTS is the client's HttpClient limit (jitsi-client-contract.md §4.4). */
export const MAX_REDIRECTS = 10;

/** RedirectDecision is what the client does with one 3xx answer. */
export type RedirectDecision =
  | { readonly follow: true; readonly url: string; readonly note?: string }
  | { readonly follow: false; readonly reason: string };

/**
 * nextRedirect decides, as the Jitsi client does (contract §4.5), what a 3xx answer to hop
 * number `hop` (1 = the POST's answer) leads to: 303 is followed as a GET by both client
 * generations; 301/302 as a GET by 2.10–2.11 only (manually, so Location must be absolute);
 * 307/308 never; a Location with `${` makes 2.10 fail; at most MAX_REDIRECTS hops.
 */
export function nextRedirect(status: number, location: string | null, base: string, hop: number): RedirectDecision {
  if (status === 307 || status === 308) return { follow: false, reason: `HTTP ${status}: the client does not follow 307/308` };
  if (status !== 301 && status !== 302 && status !== 303) return { follow: false, reason: `HTTP ${status} is not a redirect the client follows` };
  if (location === null || location === '') return { follow: false, reason: `HTTP ${status} without a Location header` };
  if (hop > MAX_REDIRECTS) return { follow: false, reason: `more than ${MAX_REDIRECTS} redirects` };
  if (location.includes('${')) return { follow: false, reason: `HTTP ${status} to a Location with a placeholder (${location}): the 2.10 client re-substitutes it but discards the result, so provisioning fails` };
  let absolute: boolean;
  let url: string;
  try {
    absolute = /^[a-z][a-z0-9+.-]*:/i.test(location);
    url = new URL(location, base).toString();
  } catch {
    return { follow: false, reason: `HTTP ${status} to an invalid Location ${JSON.stringify(location)}` };
  }
  if (status === 303) return { follow: true, url };
  if (!absolute) return { follow: false, reason: `HTTP ${status} to a relative Location (${location}): the 2.10 client needs an absolute URL, current builds do not follow ${status} after a POST` };
  return { follow: true, url, note: `HTTP ${status}: followed as GET by the 2.10–2.11 client; current builds do not follow ${status} after a POST (use 303)` };
}
