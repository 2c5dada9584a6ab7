/**
 * pnp.ts: the SIP Plug-and-Play ("ua-profile") responder's pure logic (sip-phones.md §2).
 *
 * classify() looks at one decoded message and says what the engine does with it: a ua-profile
 * SUBSCRIBE carrying a MAC becomes a question for the main thread (who gets an answer needs the
 * store: src/phones/pnp.ts), anything else is answered (only when it came by unicast) or dropped
 * with a counted reason; a multicast datagram never gets an error response (one SUBSCRIBE from a
 * hundred phones must not cause a hundred error answers from every listener on the segment).
 *
 * pnpOk() and pnpNotify() build the two messages of §2.2: the `200 OK` (Via/From/Call-ID/CSeq
 * echoed, a To-tag added, Expires 0, our Contact) and the `NOTIFY` in the same Call-ID
 * (`Event` echoed, `Subscription-State: terminated;reason=timeout`, `Content-Type:
 * application/url`, the URL as body). The NOTIFY takes the RFC 6665 dialog form (From = the
 * SUBSCRIBE's To with our tag, To = the SUBSCRIBE's From), or with `form: 'copy'` the From and To
 * of the SUBSCRIBE unchanged (§2.3: some responders do, and phones in their traces accept it).
 */
import {
  SIP_VERSION,
  buildResponse,
  formatHostPort,
  header,
  headerValues,
  missingHeaders,
  parseCSeq,
  parseHeaderParams,
  parseNameAddr,
  parseSipUri,
  responseTarget,
  topVia,
  unescapeUser,
  withParam,
  type SipHeader,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type Via,
} from './codec';

/** PNP_EVENT is the event package phones subscribe to (draft-ietf-sipping-config-framework, RFC 6080). */
export const PNP_EVENT = 'ua-profile';

/** Endpoint is an IPv4 address and a UDP port. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** PnpHints are the Event parameters: a hint only, never identity (Snom and Gigaset send OEM/OEM, §2.1). */
export interface PnpHints {
  readonly vendor: string | undefined;
  readonly model: string | undefined;
  readonly version: string | undefined;
  readonly profileType: string | undefined;
}

/** PnpSubscribe is a ua-profile SUBSCRIBE worth asking about. */
export interface PnpSubscribe {
  readonly req: SipRequest;
  /** mac is `aa:bb:cc:dd:ee:ff`, from the Request-URI, From or To user part (§2.1). */
  readonly mac: string;
  readonly hints: PnpHints;
  readonly via: Via;
  readonly callId: string;
  readonly cseq: number;
  /** fromTag is the SUBSCRIBE's From tag ('' when it has none). */
  readonly fromTag: string;
  /** key identifies the subscription for retransmission matching: Call-ID and From tag. */
  readonly key: string;
  readonly userAgent: string | undefined;
}

/** Classified is what the engine does with one decoded message. */
export type Classified =
  /** ask the main thread about this SUBSCRIBE (then answer 200 + NOTIFY, or nothing) */
  | { readonly kind: 'subscribe'; readonly sub: PnpSubscribe }
  /** a response: the engine matches it against its NOTIFY transactions */
  | { readonly kind: 'response'; readonly res: SipResponse; readonly branch: string | undefined; readonly callId: string | undefined }
  /** answer with this response (unicast requests only), counted under `reason` */
  | { readonly kind: 'reply'; readonly reason: string; readonly response: SipResponse; readonly to: Endpoint }
  /** drop, counted under `reason` (ignored:… or refused:…) */
  | { readonly kind: 'drop'; readonly reason: string; readonly detail?: string };

/** LocalPlace is where our answers come from: the interface address and the replying socket's port. */
export interface LocalPlace {
  readonly address: string;
  readonly port: number;
}

/** ALLOW lists the methods the face answers by unicast. */
const ALLOW = 'SUBSCRIBE, NOTIFY, OPTIONS';

const MAC_USER = /^MAC[:=]?((?:[0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2})$/i;
const BARE_MAC = /^(?:[0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$/;

/**
 * macFromUser reads a MAC from a SIP user part in every encoding of §2.1 (`MAC%3a<hex>`,
 * `MAC%3A<hex>`, `MAC:<hex>`, `MAC<hex>`, `MAC=<hex>`, hex in either case, `:`/`-` separators
 * tolerated) and a bare 12-digit MAC. Returns `aa:bb:cc:dd:ee:ff`, or undefined (no MAC, the
 * all-zero MAC, a group address).
 */
export function macFromUser(user: string | undefined): string | undefined {
  if (user === undefined || user.length > 64) return undefined;
  const u = unescapeUser(user);
  const m = MAC_USER.exec(u);
  const raw = m ? (m[1] as string) : BARE_MAC.test(u) ? u : undefined;
  if (raw === undefined) return undefined;
  const hex = raw.replace(/[:-]/g, '').toLowerCase();
  if (hex.length !== 12 || /^0{12}$/.test(hex)) return undefined;
  if ((parseInt(hex.slice(0, 2), 16) & 1) === 1) return undefined; // a multicast MAC names no phone
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/** macOf takes the MAC from the Request-URI's user part, then From's, then To's (§2.1). */
export function macOf(req: SipRequest): string | undefined {
  const candidates = [req.uri, parseNameAddr(header(req, 'from') ?? '')?.uri, parseNameAddr(header(req, 'to') ?? '')?.uri];
  for (const c of candidates) {
    if (c === undefined) continue;
    const mac = macFromUser(parseSipUri(c)?.userinfo);
    if (mac !== undefined) return mac;
  }
  return undefined;
}

/** hintsOf reads the Event parameters (§2.1: vendor, model, version, profile-type). */
export function hintsOf(event: string): PnpHints {
  const p = parseHeaderParams(event).params;
  const get = (k: string): string | undefined => {
    const v = p.get(k);
    return v === null || v === undefined || v.length === 0 ? undefined : v.slice(0, 64);
  };
  return { vendor: get('vendor'), model: get('model'), version: get('version'), profileType: get('profile-type') };
}

/**
 * classify decides what one decoded message gets. `multicast` says it reached the group socket
 * (then nothing but a PnP SUBSCRIBE is answered), `source` is the datagram's source, `toTag` the
 * tag a direct response adds to To (RFC 3261 §8.2.6.2).
 */
export function classify(msg: SipMessage, source: Endpoint, multicast: boolean, toTag: string): Classified {
  if (msg.kind === 'response') {
    return { kind: 'response', res: msg, branch: topVia(msg)?.branch, callId: header(msg, 'call-id') };
  }
  const req = msg;
  const missing = missingHeaders(req);
  if (missing.length > 0) return { kind: 'drop', reason: 'malformed:missing-header', detail: missing.join(', ') };
  const via = topVia(req) as Via; // missingHeaders checked it
  if (via.transport !== 'UDP') return { kind: 'drop', reason: 'ignored:transport', detail: via.transport };
  const cseq = parseCSeq(header(req, 'cseq') ?? '');
  if (cseq === undefined) return { kind: 'drop', reason: 'malformed:missing-header', detail: 'cseq' };
  // RFC 3261 §8.2.2.1/§17.2.3: the CSeq method must be the request's.
  if (cseq.method !== req.method) return { kind: 'drop', reason: 'malformed:cseq-method', detail: `${cseq.method} in a ${req.method}` };
  const to = responseTarget(via, source);
  const reply = (status: number, reason: string, counted: string, headers: SipHeader[] = []): Classified =>
    multicast
      ? { kind: 'drop', reason: counted }
      : { kind: 'reply', reason: counted, response: buildResponse(req, status, reason, { toTag, source, headers }), to };

  switch (req.method) {
    case 'SUBSCRIBE':
      break;
    case 'ACK':
      return { kind: 'drop', reason: 'ignored:ACK' }; // never answered (RFC 3261 §17.2.1)
    case 'OPTIONS':
      return reply(200, 'OK', 'answered:OPTIONS', [
        { name: 'Allow', value: ALLOW },
        { name: 'Accept', value: 'application/url' },
        { name: 'Allow-Events', value: PNP_EVENT },
      ]);
    case 'NOTIFY':
      // We send NOTIFYs, nobody sends us one: no subscription exists (RFC 6665 §4.1.3).
      return reply(481, 'Subscription Does Not Exist', 'refused:NOTIFY');
    default:
      return reply(405, 'Method Not Allowed', `ignored:method`, [{ name: 'Allow', value: ALLOW }]);
  }

  const events = headerValues(req, 'event');
  const event = events[0];
  if (event === undefined || parseHeaderParams(event).value.toLowerCase() !== PNP_EVENT) {
    // RFC 6665 §4.2.1.1: an unknown event package is 489 Bad Event.
    return reply(489, 'Bad Event', 'ignored:event', [{ name: 'Allow-Events', value: PNP_EVENT }]);
  }
  const mac = macOf(req);
  if (mac === undefined) return { kind: 'drop', reason: 'ignored:no-mac', detail: req.uri.slice(0, 80) };
  const callId = header(req, 'call-id') as string;
  const fromTag = parseNameAddr(header(req, 'from') ?? '')?.params.get('tag') ?? '';
  return {
    kind: 'subscribe',
    sub: {
      req,
      mac,
      hints: hintsOf(event),
      via,
      callId,
      cseq: cseq.seq,
      fromTag,
      key: `${callId}\n${fromTag}`,
      userAgent: header(req, 'user-agent')?.slice(0, 128),
    },
  };
}

/** contactOf is our Contact: `<sip:address:port>`. */
export function contactOf(local: LocalPlace): string {
  return `<sip:${formatHostPort(local.address, local.port)}>`;
}

/** pnpOk builds the 200 OK to a ua-profile SUBSCRIBE (§2.2 step 2; RFC 6665 §4.2.1.1: Expires 0 ends it at once). */
export function pnpOk(sub: PnpSubscribe, source: Endpoint, toTag: string, local: LocalPlace): SipResponse {
  return buildResponse(sub.req, 200, 'OK', {
    toTag,
    source,
    headers: [
      { name: 'Contact', value: contactOf(local) },
      { name: 'Expires', value: '0' },
    ],
  });
}

/** NotifyIds are the fresh identifiers of one NOTIFY, and its From/To form (`dialog` by default). */
export interface NotifyIds {
  readonly toTag: string;
  readonly branch: string;
  readonly form?: 'dialog' | 'copy';
}

/**
 * pnpNotify builds the NOTIFY carrying `url` (§2.2 step 3): sent to the SUBSCRIBE's source
 * address and port (Grandstream sends from 5080), its Request-URI the SUBSCRIBE's Contact
 * when that is a sip: URI, else the source.
 */
export function pnpNotify(sub: PnpSubscribe, source: Endpoint, url: string, ids: NotifyIds, local: LocalPlace): SipRequest {
  const req = sub.req;
  const contact = parseNameAddr(header(req, 'contact') ?? '')?.uri;
  const target = contact !== undefined && parseSipUri(contact) !== undefined ? contact : `sip:${formatHostPort(source.address, source.port)}`;
  const to = header(req, 'to') ?? '';
  const from = header(req, 'from') ?? '';
  const headers: SipHeader[] = [
    { name: 'Via', value: `SIP/2.0/UDP ${formatHostPort(local.address, local.port)};branch=${ids.branch};rport` },
    { name: 'Max-Forwards', value: '70' },
    // RFC 6665 dialog form, or §2.3's unswapped copy (sip.notifyForm: copy)
    { name: 'From', value: ids.form === 'copy' ? from : withParam(to, 'tag', ids.toTag) },
    { name: 'To', value: ids.form === 'copy' ? to : from },
    { name: 'Call-ID', value: sub.callId },
    { name: 'CSeq', value: '1 NOTIFY' },
    { name: 'Contact', value: contactOf(local) },
    { name: 'Event', value: header(req, 'event') ?? PNP_EVENT },
    { name: 'Subscription-State', value: 'terminated;reason=timeout' },
    { name: 'Content-Type', value: 'application/url' },
  ];
  return { kind: 'request', method: 'NOTIFY', uri: target, version: SIP_VERSION, headers, body: Buffer.from(url, 'utf8') };
}
