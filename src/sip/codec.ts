/**
 * codec.ts: a pure, bounded SIP message codec (RFC 3261 §7, §20, §25 over UDP §18) and the
 * small header helpers the SIP face and resync share.
 *
 * decodeSip() never throws: every malformed datagram comes back as a typed SipDecodeError so that
 * the socket layer can count and drop it. It bounds the datagram size, the number of headers and
 * the length of each header line. Headers keep their wire order and their names as written; every
 * lookup is case-insensitive and knows the compact forms (`v` = Via, `f` = From, …). The body is
 * `Content-Length` bytes (RFC 3261 §18.3: a UDP datagram's extra bytes are discarded; without the
 * header the body runs to the end of the datagram).
 *
 * encodeSip() writes the start line, the headers in order and a computed Content-Length (an
 * existing one, in any form, is rewritten in place; otherwise one is appended).
 */
import { randomBytes } from 'node:crypto';

/** SIP_VERSION is the only protocol version spoken (RFC 3261 §7.1). */
export const SIP_VERSION = 'SIP/2.0';
/** SIP_MCAST_GROUP is IANA's "SIP" multicast group, sip.mcast.net (RFC 3261 §10.3). */
export const SIP_MCAST_GROUP = '224.0.1.75';
/** SIP_PORT is the default port of sip: URIs over UDP (RFC 3261 §19.1.2). */
export const SIP_PORT = 5060;
/** BRANCH_MAGIC starts every RFC 3261 branch (§8.1.1.7). */
export const BRANCH_MAGIC = 'z9hG4bK';

/** SipLimits bound what decodeSip() accepts. */
export interface SipLimits {
  /** maxBytes is the largest datagram accepted (a PnP SUBSCRIBE is about 600 bytes). */
  readonly maxBytes: number;
  /** maxHeaders is the largest number of header fields (after unfolding). */
  readonly maxHeaders: number;
  /** maxLineBytes is the longest start line or header field (after unfolding), in bytes. */
  readonly maxLineBytes: number;
}

/** DEFAULT_LIMITS: 8 KiB datagrams (RFC 3261 §18.1.1 expects UDP messages well under the MTU), 64 headers, 2 KiB lines. */
export const DEFAULT_LIMITS: SipLimits = Object.freeze({ maxBytes: 8192, maxHeaders: 64, maxLineBytes: 2048 });

/** SipHeader is one header field as it appears on the wire (name as written, value trimmed). */
export interface SipHeader {
  readonly name: string;
  readonly value: string;
}

/** SipRequest is a decoded request. */
export interface SipRequest {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
  readonly version: string;
  readonly headers: readonly SipHeader[];
  readonly body: Buffer;
}

/** SipResponse is a decoded response. */
export interface SipResponse {
  readonly kind: 'response';
  readonly version: string;
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly SipHeader[];
  readonly body: Buffer;
}

/** SipMessage is either. */
export type SipMessage = SipRequest | SipResponse;

/** SipDecodeErrorCode is a stable reason a datagram was dropped by the decoder (a counter name). */
export type SipDecodeErrorCode =
  | 'empty' // nothing but CRLF keep-alives (RFC 5626 §3.5.1) or no bytes at all
  | 'too-long'
  | 'bad-char' // NUL or another control byte in the start line or the headers
  | 'no-header-end' // no empty line after the headers
  | 'line-too-long'
  | 'too-many-headers'
  | 'bad-start-line'
  | 'bad-version'
  | 'bad-status'
  | 'bad-header'
  | 'bad-content-length'
  | 'truncated-body'
  | 'internal';

/** SipDecodeError describes why a datagram is not a usable SIP message. */
export interface SipDecodeError {
  readonly code: SipDecodeErrorCode;
  readonly detail: string;
}

/** SipDecodeResult is the value decodeSip() returns instead of throwing. */
export type SipDecodeResult = { readonly ok: true; readonly message: SipMessage } | { readonly ok: false; readonly error: SipDecodeError };

function fail(code: SipDecodeErrorCode, detail: string): SipDecodeResult {
  return { ok: false, error: { code, detail } };
}

/** COMPACT maps each compact header name to its long form, lower case (RFC 3261 §7.3.3 and the RFCs cited). */
const COMPACT: ReadonlyMap<string, string> = new Map([
  ['a', 'accept-contact'], // RFC 3841
  ['b', 'referred-by'], // RFC 3892
  ['c', 'content-type'],
  ['d', 'request-disposition'], // RFC 3841
  ['e', 'content-encoding'],
  ['f', 'from'],
  ['i', 'call-id'],
  ['j', 'reject-contact'], // RFC 3841
  ['k', 'supported'],
  ['l', 'content-length'],
  ['m', 'contact'],
  ['n', 'identity-info'], // RFC 4474
  ['o', 'event'], // RFC 6665 §8.2.1
  ['r', 'refer-to'], // RFC 3515
  ['s', 'subject'],
  ['t', 'to'],
  ['u', 'allow-events'], // RFC 6665 §8.2.2
  ['v', 'via'],
  ['x', 'session-expires'], // RFC 4028
  ['y', 'identity'], // RFC 8224
]);

/**
 * LIST_HEADERS are the headers whose grammar is a comma-separated list (RFC 3261 §7.3.1: "multiple
 * header field rows with the same name may be present … if and only if the entire field-value is
 * defined to be a comma-separated list"). Others (User-Agent, Date, WWW-Authenticate, …) may
 * contain commas that separate nothing, so headerList() does not split them.
 */
const LIST_HEADERS: ReadonlySet<string> = new Set([
  'via', 'contact', 'route', 'record-route', 'accept', 'accept-encoding', 'accept-language', 'allow',
  'allow-events', 'supported', 'require', 'proxy-require', 'unsupported', 'content-encoding',
  'content-language', 'in-reply-to', 'alert-info', 'call-info', 'error-info', 'warning', 'path',
  'service-route', 'p-asserted-identity', 'accept-contact', 'reject-contact', 'request-disposition',
]);

/** headerKey returns a header name's case-insensitive key: lower case, compact forms expanded. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT.get(lower) ?? lower;
}

/** isListHeader tells whether a header's value is a comma-separated list (see LIST_HEADERS). */
export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(headerKey(name));
}

// RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const VERSION = /^SIP\/(\d{1,3})\.(\d{1,3})$/i;
const STATUS = /^[1-6]\d\d$/;
// Control bytes other than HT, CR, LF are not allowed in the message head (RFC 3261 §25.1 text grammar).
// eslint-disable-next-line no-control-regex
const BAD_CTL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** isToken tells whether s is an RFC 3261 token (a method name, a header name, a parameter name). */
export function isToken(s: string): boolean {
  return TOKEN.test(s);
}

/** headEnd finds the empty line ending the headers: [index of the first body byte, index where the head ends], or undefined. */
function headEnd(buf: Buffer, from: number): [number, number] | undefined {
  for (let i = from; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    // a LF line end is tolerated (RFC 3261 §7 asks for CRLF; some stacks send bare LF)
    if (buf[i + 1] === 0x0a) return [i + 2, i];
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return [i + 3, i];
  }
  return undefined;
}

/** decodeSip parses one UDP datagram as a SIP message; it never throws. */
export function decodeSip(buf: Buffer, limits: SipLimits = DEFAULT_LIMITS): SipDecodeResult {
  try {
    return decodeUnsafe(buf, limits);
  } catch (err) {
    return fail('internal', err instanceof Error ? err.message : String(err));
  }
}

function decodeUnsafe(buf: Buffer, limits: SipLimits): SipDecodeResult {
  if (buf.length > limits.maxBytes) return fail('too-long', `${buf.length} bytes; at most ${limits.maxBytes} are accepted`);
  // RFC 3261 §7.5: CRLFs before the start line are ignored (and a bare CRLF pair is a keep-alive).
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  if (start >= buf.length) return fail('empty', `${buf.length} bytes of line ends and nothing else`);
  const end = headEnd(buf, start);
  if (end === undefined) return fail('no-header-end', 'no empty line ends the headers');
  const [bodyStart, headStop] = end;
  const head = buf.toString('utf8', start, headStop);
  if (BAD_CTL.test(head)) return fail('bad-char', 'a control byte in the start line or the headers');
  const physical = head.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const startLine = physical[0] ?? '';
  if (Buffer.byteLength(startLine) > limits.maxLineBytes) return fail('line-too-long', `start line over ${limits.maxLineBytes} bytes`);

  // Unfold (RFC 3261 §7.3.1): a line starting with SP/HT continues the previous header.
  const lines: string[] = [];
  for (let i = 1; i < physical.length; i++) {
    const l = physical[i] as string;
    if ((l.startsWith(' ') || l.startsWith('\t')) && lines.length > 0) {
      lines[lines.length - 1] = `${lines[lines.length - 1] as string} ${l.trim()}`;
    } else {
      if (lines.length >= limits.maxHeaders) return fail('too-many-headers', `more than ${limits.maxHeaders} header fields`);
      lines.push(l);
    }
    if (Buffer.byteLength(lines[lines.length - 1] ?? '') > limits.maxLineBytes) {
      return fail('line-too-long', `a header field over ${limits.maxLineBytes} bytes`);
    }
  }
  const headers: SipHeader[] = [];
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon <= 0) return fail('bad-header', `not a header field: ${JSON.stringify(l.slice(0, 40))}`);
    const name = l.slice(0, colon).trimEnd(); // RFC 3261 §7.3.1: whitespace allowed before the colon
    if (!isToken(name)) return fail('bad-header', `bad header name ${JSON.stringify(name.slice(0, 40))}`);
    headers.push({ name, value: l.slice(colon + 1).trim() });
  }

  // Body (RFC 3261 §18.3, §20.14).
  let length: number | undefined;
  for (const h of headers) {
    if (headerKey(h.name) !== 'content-length') continue;
    if (!/^\d{1,9}$/.test(h.value)) return fail('bad-content-length', `Content-Length ${JSON.stringify(h.value.slice(0, 20))}`);
    const n = Number(h.value);
    if (length !== undefined && length !== n) return fail('bad-content-length', `two Content-Length values, ${length} and ${n}`);
    length = n;
  }
  const available = buf.length - bodyStart;
  if (length !== undefined && length > available) return fail('truncated-body', `Content-Length ${length}, ${available} bytes follow the headers`);
  const body = Buffer.from(buf.subarray(bodyStart, bodyStart + (length ?? available)));

  const parts = startLine.split(' ');
  if (VERSION.test(parts[0] ?? '')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2)
    const version = (parts[0] as string).toUpperCase();
    if (version !== SIP_VERSION) return fail('bad-version', `version ${version}`);
    const status = parts[1] ?? '';
    if (!STATUS.test(status)) return fail('bad-status', `status ${JSON.stringify(status.slice(0, 10))}`);
    return { ok: true, message: { kind: 'response', version, status: Number(status), reason: parts.slice(2).join(' '), headers, body } };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1): exactly three parts.
  if (parts.length !== 3) return fail('bad-start-line', `not a request or status line: ${JSON.stringify(startLine.slice(0, 60))}`);
  const [method, uri, ver] = parts as [string, string, string];
  if (!isToken(method)) return fail('bad-start-line', `bad method ${JSON.stringify(method.slice(0, 20))}`);
  if (uri.length === 0 || !/^[A-Za-z][A-Za-z0-9+\-.]*:/.test(uri)) return fail('bad-start-line', `bad Request-URI ${JSON.stringify(uri.slice(0, 60))}`);
  if (!VERSION.test(ver)) return fail('bad-start-line', `bad version ${JSON.stringify(ver.slice(0, 20))}`);
  if (ver.toUpperCase() !== SIP_VERSION) return fail('bad-version', `version ${ver}`);
  return { ok: true, message: { kind: 'request', method, uri, version: SIP_VERSION, headers, body } };
}

/** encodeSip serialises a request or a response, with Content-Length set to the body's length. */
export function encodeSip(msg: SipMessage): Buffer {
  const startLine = msg.kind === 'request' ? `${msg.method} ${msg.uri} ${msg.version}` : `${msg.version} ${msg.status} ${msg.reason}`;
  const lines = [startLine];
  let sawLength = false;
  for (const h of msg.headers) {
    if (headerKey(h.name) === 'content-length') {
      if (sawLength) continue; // one Content-Length only
      sawLength = true;
      lines.push(`${h.name}: ${msg.body.length}`);
    } else {
      lines.push(`${h.name}: ${h.value}`);
    }
  }
  if (!sawLength) lines.push(`Content-Length: ${msg.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return msg.body.length === 0 ? head : Buffer.concat([head, msg.body]);
}

// ---------------------------------------------------------------------------------------------
// Header access

/** headerValues returns the values of every field named `name` (any case, either form), in order. */
export function headerValues(msg: { readonly headers: readonly SipHeader[] }, name: string): string[] {
  const key = headerKey(name);
  return msg.headers.filter((h) => headerKey(h.name) === key).map((h) => h.value);
}

/** header returns the first value of `name`, or undefined. */
export function header(msg: { readonly headers: readonly SipHeader[] }, name: string): string | undefined {
  const key = headerKey(name);
  return msg.headers.find((h) => headerKey(h.name) === key)?.value;
}

/**
 * headerList returns every element of a list header (Via, Contact, Accept, …) across all its
 * fields, split at the commas outside quotes and angle brackets. A header that is not a list
 * (see LIST_HEADERS) comes back one element per field, unsplit.
 */
export function headerList(msg: { readonly headers: readonly SipHeader[] }, name: string): string[] {
  const values = headerValues(msg, name);
  if (!isListHeader(name)) return values;
  return values.flatMap((v) => splitOutside(v, ',')).filter((v) => v.length > 0);
}

/** splitOutside splits s at `sep` where it is not inside a quoted string or angle brackets; parts are trimmed. */
export function splitOutside(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (quoted) {
      cur += ch;
      if (ch === '\\' && i + 1 < s.length) cur += s[++i] as string;
      else if (ch === '"') quoted = false;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
    else if (ch === sep && !angle) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** Params maps parameter names (lower case) to values; a parameter without `=` maps to null. */
export type Params = ReadonlyMap<string, string | null>;

/** unquote removes the quotes of a quoted-string and its backslash escapes (RFC 3261 §25.1); other values are returned as they are. */
export function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  return v;
}

/**
 * parseParams reads `;name=value;flag` parameters (the leading `;` optional). Names are lower-cased,
 * quoted values are unquoted; the first occurrence of a name wins.
 */
export function parseParams(s: string): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const part of splitOutside(s, ';')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name.length === 0 || out.has(name)) continue;
    out.set(name, eq < 0 ? null : unquote(part.slice(eq + 1).trim()));
  }
  return out;
}

/** formatParams writes parameters back as `;a=b;c`, quoting values that are not tokens (nor host-like). */
export function formatParams(params: Params): string {
  let s = '';
  for (const [k, v] of params) {
    if (v === null) s += `;${k}`;
    else s += `;${k}=${isToken(v) || /^[A-Za-z0-9.:[\]\-]+$/.test(v) ? v : `"${v.replace(/(["\\])/g, '\\$1')}"`}`;
  }
  return s;
}

/** HeaderWithParams is a header value split into its head and its parameters (Event, Subscription-State, Content-Type, …). */
export interface HeaderWithParams {
  readonly value: string;
  readonly params: Map<string, string | null>;
}

/** parseHeaderParams splits `value;p=1;q` into the value and its parameters. */
export function parseHeaderParams(s: string): HeaderWithParams {
  const parts = splitOutside(s, ';');
  return { value: parts[0] ?? '', params: parseParams(parts.slice(1).join(';')) };
}

// ---------------------------------------------------------------------------------------------
// URIs and name-addr

/** SipUri is a parsed sip:/sips: URI (RFC 3261 §19.1.1). */
export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  /** user is the user part as written (still %-escaped), undefined when there is none. */
  readonly user: string | undefined;
  readonly password: string | undefined;
  /**
   * userinfo is everything before the `@` as written (user and password): a phone that writes
   * `sip:MAC:805ec0112233@…` unescaped (RFC 3261 reads that as user `MAC`, password the MAC)
   * still has its whole user part here.
   */
  readonly userinfo: string | undefined;
  /** host is a name, an IPv4 address or an IPv6 reference without its brackets. */
  readonly host: string;
  readonly port: number | undefined;
  readonly params: Map<string, string | null>;
  /** headers is the `?…` part, as written, undefined when absent. */
  readonly headers: string | undefined;
}

/** unescapeUser decodes %-escapes of a user part; a malformed escape is left as it is. */
export function unescapeUser(user: string): string {
  return user.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** parseSipUri parses a sip:/sips: URI; undefined when it is not one. Never throws. */
export function parseSipUri(s: string): SipUri | undefined {
  const m = /^(sips?):(.*)$/i.exec(s.trim());
  if (!m) return undefined;
  const scheme = (m[1] as string).toLowerCase() as 'sip' | 'sips';
  let rest = m[2] as string;
  let headers: string | undefined;
  const q = rest.indexOf('?');
  if (q >= 0) {
    headers = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  let user: string | undefined;
  let password: string | undefined;
  let userinfo: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    password = colon < 0 ? undefined : userinfo.slice(colon + 1);
    if (user.length === 0) return undefined;
  }
  const semi = rest.indexOf(';');
  const hostport = semi < 0 ? rest : rest.slice(0, semi);
  const params = parseParams(semi < 0 ? '' : rest.slice(semi + 1));
  const hp = parseHostPort(hostport);
  if (!hp) return undefined;
  return { scheme, user, password, userinfo, host: hp.host, port: hp.port, params, headers };
}

/** parseHostPort reads `host`, `host:port`, `[v6]` or `[v6]:port`; undefined when malformed. */
export function parseHostPort(s: string): { host: string; port: number | undefined } | undefined {
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    host = s.slice(1, close);
    const after = s.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(':')) return undefined;
      portText = after.slice(1);
    }
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    portText = colon < 0 ? undefined : s.slice(colon + 1);
  }
  if (host.length === 0 || !/^[A-Za-z0-9.\-:_]+$/.test(host)) return undefined;
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { host, port };
}

/** formatHostPort writes host[:port], bracketing IPv6 addresses. */
export function formatHostPort(host: string, port?: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}

/** NameAddr is a From/To/Contact value: optional display name, the URI as written, the header parameters. */
export interface NameAddr {
  readonly display: string | undefined;
  readonly uri: string;
  readonly params: Map<string, string | null>;
}

/**
 * parseNameAddr parses `"Name" <uri>;tag=x`, `<uri>;tag=x` or a bare `uri;tag=x` (RFC 3261 §20.10:
 * in the bare form the parameters after the URI are header parameters). undefined when malformed.
 */
export function parseNameAddr(s: string): NameAddr | undefined {
  const v = s.trim();
  const lt = indexOutsideQuotes(v, '<');
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) return undefined;
    const disp = v.slice(0, lt).trim();
    const uri = v.slice(lt + 1, gt).trim();
    if (uri.length === 0) return undefined;
    const rest = v.slice(gt + 1).trim();
    if (rest.length > 0 && !rest.startsWith(';')) return undefined;
    return { display: disp.length > 0 ? unquote(disp) : undefined, uri, params: parseParams(rest) };
  }
  if (v.includes('"') || v.length === 0) return undefined;
  const semi = v.indexOf(';');
  const uri = semi < 0 ? v : v.slice(0, semi);
  if (!/^[A-Za-z][A-Za-z0-9+\-.]*:\S+$/.test(uri)) return undefined;
  return { display: undefined, uri, params: parseParams(semi < 0 ? '' : v.slice(semi + 1)) };
}

function indexOutsideQuotes(s: string, ch: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ch) return i;
  }
  return -1;
}

/** formatNameAddr writes a name-addr, always with angle brackets (safe for URIs with parameters). */
export function formatNameAddr(na: { display?: string | undefined; uri: string; params?: Params }): string {
  const disp = na.display !== undefined && na.display.length > 0 ? `"${na.display.replace(/(["\\])/g, '\\$1')}" ` : '';
  return `${disp}<${na.uri}>${na.params ? formatParams(na.params) : ''}`;
}

/** withParam returns a header value (name-addr or Via) with parameter `name` set to `value` (added or replaced). */
export function withParam(value: string, name: string, paramValue: string | null): string {
  const gt = value.lastIndexOf('>');
  const head = gt >= 0 ? value.slice(0, gt + 1) : (splitOutside(value, ';')[0] ?? '');
  const tail = gt >= 0 ? value.slice(gt + 1) : value.slice(head.length);
  const params = new Map(parseParamsKeepCase(tail));
  let replaced = false;
  for (const k of params.keys()) {
    if (k.toLowerCase() === name.toLowerCase()) {
      params.set(k, paramValue);
      replaced = true;
    }
  }
  if (!replaced) params.set(name, paramValue);
  let s = head;
  for (const [k, v] of params) s += v === null ? `;${k}` : `;${k}=${v}`;
  return s;
}

/** parseParamsKeepCase is parseParams keeping names and values exactly as written (for rewriting). */
function parseParamsKeepCase(s: string): [string, string | null][] {
  const out: [string, string | null][] = [];
  for (const part of splitOutside(s, ';')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    out.push(eq < 0 ? [part.trim(), null] : [part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Via

/** Via is one parsed Via element (RFC 3261 §20.42). */
export interface Via {
  /** transport is upper case: UDP, TCP, TLS, SCTP, WS, … */
  readonly transport: string;
  readonly host: string;
  readonly port: number | undefined;
  readonly params: Map<string, string | null>;
  readonly branch: string | undefined;
  /** received is the `received=` address, undefined when absent. */
  readonly received: string | undefined;
  /** rport is absent (undefined), requested without a value (null, RFC 3581 §3), or a port number. */
  readonly rport: number | null | undefined;
}

/** parseVia parses one Via element (`SIP/2.0/UDP host:port;branch=…`); undefined when malformed. */
export function parseVia(s: string): Via | undefined {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+(.+)$/i.exec(s.trim());
  if (!m) return undefined;
  const rest = (m[2] as string).trim();
  const semi = rest.indexOf(';');
  const hp = parseHostPort((semi < 0 ? rest : rest.slice(0, semi)).replace(/\s+/g, ''));
  if (!hp) return undefined;
  const params = parseParams(semi < 0 ? '' : rest.slice(semi + 1));
  const rp = params.get('rport');
  let rport: number | null | undefined;
  if (rp === undefined) rport = undefined;
  else if (rp === null || rp === '') rport = null;
  else if (/^\d{1,5}$/.test(rp) && Number(rp) >= 1 && Number(rp) <= 65535) rport = Number(rp);
  else return undefined;
  return {
    transport: (m[1] as string).toUpperCase(),
    host: hp.host,
    port: hp.port,
    params,
    branch: params.get('branch') ?? undefined,
    received: params.get('received') ?? undefined,
    rport,
  };
}

/** topVia returns the first Via element of a message (the one its sender added), undefined when absent or malformed. */
export function topVia(msg: { readonly headers: readonly SipHeader[] }): Via | undefined {
  const first = headerList(msg, 'via')[0];
  return first === undefined ? undefined : parseVia(first);
}

/** topViaValue returns the first Via element as written. */
export function topViaValue(msg: { readonly headers: readonly SipHeader[] }): string | undefined {
  return headerList(msg, 'via')[0];
}

/**
 * stampVia adds what a server adds to the top Via of a request it received over UDP:
 * `received=<source address>` when the sent-by host is not that address (RFC 3261 §18.2.1, always
 * when rport was asked for, RFC 3581 §4), and `rport=<source port>` when rport was asked for.
 */
export function stampVia(viaValue: string, source: { address: string; port: number }): string {
  const via = parseVia(viaValue);
  if (!via) return viaValue;
  let out = viaValue;
  if (via.rport !== undefined) {
    out = withParam(out, 'rport', String(source.port));
    out = withParam(out, 'received', source.address);
  } else if (via.host !== source.address) {
    out = withParam(out, 'received', source.address);
  }
  return out;
}

/**
 * responseTarget is where a response to a UDP request goes (RFC 3261 §18.2.2, RFC 3581 §4): the
 * source address (what `received` records); the source port when the top Via asked for rport,
 * else the Via's sent-by port (default 5060).
 */
export function responseTarget(via: Via, source: { address: string; port: number }): { address: string; port: number } {
  return { address: source.address, port: via.rport !== undefined ? source.port : via.port ?? SIP_PORT };
}

// ---------------------------------------------------------------------------------------------
// CSeq, identifiers

/** CSeq is a parsed CSeq header (RFC 3261 §20.16). */
export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

/** parseCSeq parses `20000 SUBSCRIBE`; undefined when malformed (the number is below 2^31, §8.1.1.5). */
export function parseCSeq(s: string): CSeq | undefined {
  const m = /^(\d{1,10})\s+(\S+)$/.exec(s.trim());
  if (!m) return undefined;
  const seq = Number(m[1]);
  if (seq >= 2 ** 31 || !isToken(m[2] as string)) return undefined;
  return { seq, method: m[2] as string };
}

/** RandomSource returns n random bytes (node:crypto's randomBytes by default; tests pass a fixed one). */
export type RandomSource = (n: number) => Buffer;

/** newTag returns a From/To tag (RFC 3261 §19.3: at least 32 bits of randomness): `pd-` + 16 hex digits. */
export function newTag(rand: RandomSource = randomBytes): string {
  return `pd-${rand(8).toString('hex')}`;
}

/** newBranch returns a Via branch starting with the magic cookie (RFC 3261 §8.1.1.7). */
export function newBranch(rand: RandomSource = randomBytes): string {
  return `${BRANCH_MAGIC}-pd-${rand(8).toString('hex')}`;
}

/** newCallId returns a Call-ID (RFC 3261 §8.1.1.4): 16 random hex digits `@host`. */
export function newCallId(host: string, rand: RandomSource = randomBytes): string {
  return `${rand(8).toString('hex')}@${host}`;
}

// ---------------------------------------------------------------------------------------------
// Building responses

/** MANDATORY_REQUEST_HEADERS must be in every request (RFC 3261 §8.1.1; Max-Forwards is tolerated missing, as most UAs do). */
export const MANDATORY_REQUEST_HEADERS = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

/** missingHeaders returns the mandatory headers a request lacks, or holds malformed (empty when it is usable). */
export function missingHeaders(req: SipRequest): string[] {
  const missing: string[] = [];
  for (const h of MANDATORY_REQUEST_HEADERS) {
    const v = header(req, h);
    if (v === undefined || v.length === 0) missing.push(h);
  }
  if (!missing.includes('via') && topVia(req) === undefined) missing.push('via (malformed)');
  const cseq = header(req, 'cseq');
  if (cseq !== undefined && cseq.length > 0 && parseCSeq(cseq) === undefined) missing.push('cseq (malformed)');
  for (const h of ['from', 'to'] as const) {
    const v = header(req, h);
    if (v !== undefined && v.length > 0 && parseNameAddr(v) === undefined) missing.push(`${h} (malformed)`);
  }
  return missing;
}

/** ResponseOptions are what buildResponse adds to the copied headers. */
export interface ResponseOptions {
  /** toTag is added to To when the request's To has no tag (RFC 3261 §8.2.6.2). */
  readonly toTag?: string;
  /** source stamps the top Via with received/rport (stampVia). */
  readonly source?: { address: string; port: number };
  /** headers are appended after the copied ones (Contact, Expires, …). */
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
}

/**
 * buildResponse makes a response to `req` (RFC 3261 §8.2.6.2): every Via in order (the top one
 * stamped with the source), From, To (with toTag when it has none), Call-ID and CSeq copied, then
 * options.headers. Headers use their long names.
 */
export function buildResponse(req: SipRequest, status: number, reason: string, options: ResponseOptions = {}): SipResponse {
  const vias = headerList(req, 'via');
  const headers: SipHeader[] = vias.map((v, i) => ({ name: 'Via', value: i === 0 && options.source ? stampVia(v, options.source) : v }));
  const from = header(req, 'from');
  if (from !== undefined) headers.push({ name: 'From', value: from });
  const to = header(req, 'to');
  if (to !== undefined) {
    const na = parseNameAddr(to);
    headers.push({ name: 'To', value: options.toTag !== undefined && na && !na.params.has('tag') ? withParam(to, 'tag', options.toTag) : to });
  }
  for (const name of ['Call-ID', 'CSeq']) {
    const v = header(req, name);
    if (v !== undefined) headers.push({ name, value: v });
  }
  headers.push(...(options.headers ?? []));
  return { kind: 'response', version: SIP_VERSION, status, reason, headers, body: options.body ?? Buffer.alloc(0) };
}
