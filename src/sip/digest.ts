/**
 * digest.ts: the client side of HTTP Digest authentication as SIP uses it (RFC 3261 §22.4 on
 * RFC 2617, with RFC 7616's algorithms): parse a `WWW-Authenticate` / `Proxy-Authenticate`
 * challenge, and compute the `Authorization` / `Proxy-Authorization` value answering it.
 *
 * Pure and bounded: a header value over MAX_HEADER characters, more than MAX_PARAMS parameters
 * or a parameter over MAX_VALUE characters is refused with a reason, never thrown. Resync
 * (resync.ts) answers one 401/407 of a phone (Cisco SPA challenges every resync NOTIFY) with the
 * line-1 SIP credentials of the device.
 *
 * Supported: algorithms MD5, MD5-sess, SHA-256, SHA-256-sess (RFC 7616 §3.3); `qop=auth` when the
 * challenge offers it (RFC 2617 §3.2.2, the only qop that has no body hash), else the RFC 2069
 * form without qop. `auth-int` alone, or an unknown algorithm, is refused.
 */
import { createHash, randomBytes } from 'node:crypto';

/** MAX_HEADER bounds a challenge header value (characters). */
export const MAX_HEADER = 4096;
/** MAX_PARAMS bounds the parameters of one challenge. */
const MAX_PARAMS = 32;
/** MAX_VALUE bounds one parameter value (characters). */
const MAX_VALUE = 1024;

/** DigestAlgorithm is an algorithm we can answer. */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

const ALGORITHMS: ReadonlyMap<string, DigestAlgorithm> = new Map([
  ['md5', 'MD5'],
  ['md5-sess', 'MD5-sess'],
  ['sha-256', 'SHA-256'],
  ['sha-256-sess', 'SHA-256-sess'],
]);

/** DigestChallenge is a parsed `Digest` challenge. */
export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque?: string | undefined;
  /** algorithm as the server named it (MD5 when absent, RFC 2617 §3.2.1). */
  readonly algorithm: DigestAlgorithm;
  /** algorithmToken is the algorithm exactly as sent (echoed in the answer). */
  readonly algorithmToken?: string | undefined;
  /** qop lists the qop-options offered (lowercase); empty: RFC 2069 form. */
  readonly qop: readonly string[];
  readonly stale: boolean;
}

/** ChallengeResult is a challenge, or why the header cannot be answered. */
export type ChallengeResult = { readonly ok: true; readonly challenge: DigestChallenge } | { readonly ok: false; readonly reason: string };

/** DigestCredentials are a SIP line's credentials. */
export interface DigestCredentials {
  /** username is the authentication name (the line's auth_username, else its username). */
  readonly username: string;
  readonly password: string;
}

/** DigestRequest is what the answer covers: the method and the Request-URI. */
export interface DigestRequest {
  readonly method: string;
  readonly uri: string;
}

/** DigestAnswerOptions: the client nonce and nonce count (tests fix them; defaults: random, 1). */
export interface DigestAnswerOptions {
  readonly cnonce?: string;
  readonly nc?: number;
}

/**
 * splitParams reads `name=value, name="quoted, value", …` (RFC 7235 auth-param list) into pairs,
 * names lowercased; undefined on a syntax error.
 */
function splitParams(s: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  let i = 0;
  const n = s.length;
  const skipWs = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\r' || s[i] === '\n')) i++;
  };
  while (i < n) {
    skipWs();
    if (i < n && s[i] === ',') {
      i++;
      continue;
    }
    if (i >= n) break;
    const nameStart = i;
    while (i < n && /[A-Za-z0-9_.!%*+`'~-]/.test(s[i] ?? '')) i++;
    const name = s.slice(nameStart, i).toLowerCase();
    if (name.length === 0 || name.length > 64) return undefined;
    skipWs();
    if (s[i] !== '=') return undefined;
    i++;
    skipWs();
    let value = '';
    if (s[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = s[i];
        if (c === '\\' && i + 1 < n) {
          value += s[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
        if (value.length > MAX_VALUE) return undefined;
      }
      if (!closed) return undefined;
    } else {
      const start = i;
      while (i < n && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
      value = s.slice(start, i);
      if (value.length === 0) return undefined;
    }
    if (value.length > MAX_VALUE) return undefined;
    out.push([name, value]);
    if (out.length > MAX_PARAMS) return undefined;
    skipWs();
    if (i < n && s[i] !== ',') return undefined;
  }
  return out;
}

/**
 * parseChallenge reads one `WWW-Authenticate` / `Proxy-Authenticate` header value (SIP sends one
 * challenge per header; several headers are tried in order by the caller). It never throws.
 */
export function parseChallenge(header: string): ChallengeResult {
  if (header.length > MAX_HEADER) return { ok: false, reason: `challenge longer than ${MAX_HEADER} characters` };
  const m = /^\s*([A-Za-z][A-Za-z0-9-]*)\s+([\s\S]*)$/.exec(header);
  if (!m) return { ok: false, reason: 'not a challenge (scheme and parameters)' };
  const scheme = m[1] ?? '';
  if (scheme.toLowerCase() !== 'digest') return { ok: false, reason: `scheme ${scheme} is not Digest` };
  const pairs = splitParams(m[2] ?? '');
  if (pairs === undefined) return { ok: false, reason: 'malformed Digest parameters' };
  const p = new Map<string, string>();
  for (const [k, v] of pairs) {
    if (p.has(k)) return { ok: false, reason: `parameter ${k} given twice` };
    p.set(k, v);
  }
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined) return { ok: false, reason: 'no realm' };
  if (nonce === undefined || nonce.length === 0) return { ok: false, reason: 'no nonce' };
  const algorithmToken = p.get('algorithm');
  const algorithm = ALGORITHMS.get((algorithmToken ?? 'MD5').toLowerCase());
  if (algorithm === undefined) return { ok: false, reason: `algorithm ${algorithmToken ?? ''} is not supported (MD5, MD5-sess, SHA-256, SHA-256-sess)` };
  const qopRaw = p.get('qop');
  const qop = qopRaw === undefined ? [] : qopRaw.split(',').map((q) => q.trim().toLowerCase()).filter((q) => q.length > 0);
  if (qopRaw !== undefined && !qop.includes('auth')) return { ok: false, reason: `qop ${qopRaw} offers no 'auth' (auth-int is not supported)` };
  return {
    ok: true,
    challenge: {
      realm,
      nonce,
      opaque: p.get('opaque'),
      algorithm,
      algorithmToken,
      qop,
      stale: (p.get('stale') ?? '').toLowerCase() === 'true',
    },
  };
}

function hash(alg: DigestAlgorithm, s: string): string {
  return createHash(alg.startsWith('SHA-256') ? 'sha256' : 'md5')
    .update(s, 'utf8')
    .digest('hex');
}

/**
 * digestResponse computes the `response` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1): with qop,
 * KD(H(A1), nonce:nc:cnonce:qop:H(A2)); without, KD(H(A1), nonce:H(A2)) (RFC 2069). A1 of a
 * `-sess` algorithm is H(user:realm:pass):nonce:cnonce, so it needs `cnonce` even without qop.
 */
export function digestResponse(
  c: Pick<DigestChallenge, 'realm' | 'nonce' | 'algorithm'>,
  cred: DigestCredentials,
  req: DigestRequest,
  q: { readonly cnonce?: string; readonly nc?: string } = {},
): string {
  let ha1 = hash(c.algorithm, `${cred.username}:${c.realm}:${cred.password}`);
  if (c.algorithm.endsWith('-sess')) ha1 = hash(c.algorithm, `${ha1}:${c.nonce}:${q.cnonce ?? ''}`);
  const ha2 = hash(c.algorithm, `${req.method}:${req.uri}`);
  return q.nc === undefined ? hash(c.algorithm, `${ha1}:${c.nonce}:${ha2}`) : hash(c.algorithm, `${ha1}:${c.nonce}:${q.nc}:${q.cnonce ?? ''}:auth:${ha2}`);
}

/**
 * quote writes a quoted-string (RFC 3261 §25.1), escaping `"` and `\`; control characters are
 * dropped so that a hostile realm or nonce can never end the header line (header injection).
 */
function quote(s: string): string {
  return `"${s.replace(/[\x00-\x1f\x7f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

/**
 * authorization builds the `Authorization` / `Proxy-Authorization` header value answering a
 * challenge. With qop the client nonce is random (or `opts.cnonce`) and nc is 00000001 (or
 * `opts.nc`); a `-sess` algorithm sends its cnonce even without qop (RFC 2617 §3.2.2.2).
 */
export function authorization(c: DigestChallenge, cred: DigestCredentials, req: DigestRequest, opts: DigestAnswerOptions = {}): string {
  const useQop = c.qop.includes('auth');
  const sess = c.algorithm.endsWith('-sess');
  const cnonce = opts.cnonce ?? randomBytes(12).toString('hex');
  const nc = (opts.nc ?? 1).toString(16).padStart(8, '0');
  const response = digestResponse(c, cred, req, { ...(useQop || sess ? { cnonce } : {}), ...(useQop ? { nc } : {}) });
  const parts = [`username=${quote(cred.username)}`, `realm=${quote(c.realm)}`, `nonce=${quote(c.nonce)}`, `uri=${quote(req.uri)}`, `response=${quote(response)}`];
  if (c.algorithmToken !== undefined) parts.push(`algorithm=${c.algorithmToken}`);
  if (useQop || sess) parts.push(`cnonce=${quote(cnonce)}`);
  if (c.opaque !== undefined) parts.push(`opaque=${quote(c.opaque)}`);
  if (useQop) parts.push('qop=auth', `nc=${nc}`);
  return `Digest ${parts.join(', ')}`;
}
