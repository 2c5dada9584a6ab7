/**
 * resync.ts: `provisiond devices sync`: ask a phone to fetch its configuration now, with the
 * vendor's SIP NOTIFY (sip-phones.md §4) sent to the device's last known address.
 *
 * One NOTIFY per device is a non-INVITE client transaction over UDP (RFC 3261 §17.1.2): sent
 * from an ephemeral port of a socket connected to the phone (so that only the phone can answer,
 * and an ICMP port unreachable comes back as an error), retransmitted on Timer E (T1 = 500 ms,
 * doubling up to T2 = 4 s; every T2 once a provisional answer came) until a final answer or
 * Timer F (64·T1 = 32 s, or the caller's shorter deadline for the whole device). A `401`/`407`
 * is answered once, in a second transaction (CSeq + 1, a new branch), with the digest of the
 * device's line-1 SIP credentials (digest.ts: Cisco SPA challenges every resync). The result:
 * accepted (2xx), refused (the status and reason: 4xx-6xx, a second challenge, a challenge
 * without credentials), or unreachable (Timer F, an ICMP error, a send error).
 *
 * Pure halves (the request, the matching of an answer, the transaction's decisions) take their
 * clock, timers and datagram channel as parameters; `udpChannel` is the thin socket. Requests are
 * written and answers read with the SIP codec (codec.ts): an answer that does not decode, is not
 * a response, or belongs to no transaction of ours is ignored and counted.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { decodeSip, encodeSip, header, headerValues, newBranch, newCallId, newTag, parseCSeq, topVia, SIP_VERSION, type SipHeader, type SipResponse } from './codec';
import { authorization, parseChallenge, type DigestCredentials } from './digest';

/** T1, T2: RFC 3261 §17.1.2.2's timers (ms). Timer F is 64·T1. */
export const T1_MS = 500;
export const T2_MS = 4000;
export const TIMER_F_MS = 64 * T1_MS;

/** NotifyEvent is what the NOTIFY says: the Event header and, for some vendors, a body. */
export interface NotifyEvent {
  readonly event: string;
  readonly contentType?: string | undefined;
  /** body lines, joined with CRLF (Cisco's service-control `action=restart`, …). */
  readonly body?: readonly string[] | undefined;
}

/** ResyncProfile is what a vendor profile says about resync (src/phones/profile.ts). */
export interface ResyncProfile {
  readonly resyncEvent: string;
  readonly rebootEvent: string;
  readonly resyncBody?: { readonly contentType: string; readonly resync: readonly string[]; readonly reboot: readonly string[] } | undefined;
}

/** notifyEventOf picks the profile's resync (or reboot) event and body. */
export function notifyEventOf(p: ResyncProfile, reboot: boolean): NotifyEvent {
  const b = p.resyncBody;
  return {
    event: reboot ? p.rebootEvent : p.resyncEvent,
    ...(b === undefined ? {} : { contentType: b.contentType, body: reboot ? b.reboot : b.resync }),
  };
}

/** NotifyTarget is one phone to notify. */
export interface NotifyTarget {
  readonly address: string;
  readonly port: number;
  /** user is the Request-URI's user part (the line-1 username), when known. */
  readonly user?: string | undefined;
  readonly event: NotifyEvent;
  /** credentials answer a 401/407 (line 1's auth username and password). */
  readonly credentials?: DigestCredentials | undefined;
}

/** Place is an address and port (our socket's local side). */
export interface Place {
  readonly address: string;
  readonly port: number;
}

/** NotifyIds are the dialog identifiers of one device's NOTIFY (kept across the two transactions). */
export interface NotifyIds {
  readonly callId: string;
  readonly fromTag: string;
}

/** TransactionIds are one transaction's: its CSeq and Via branch (RFC 3261's magic cookie first). */
export interface TransactionIds {
  readonly cseq: number;
  readonly branch: string;
}

/** hostPart writes an address for a SIP URI or Via (IPv6 in brackets). */
export function hostPart(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/** SAFE_USER: a username we put unescaped into the Request-URI and To (RFC 3261 §25.1 unreserved and user-unreserved, no `;?/`). */
const SAFE_USER = /^[A-Za-z0-9\-_.!~*'()&=+$,%]{1,64}$/;

/** requestUri is `sip:<user>@<address>:<port>` (no user when it is unknown or not URI-safe). */
export function requestUri(t: Pick<NotifyTarget, 'address' | 'port' | 'user'>): string {
  const user = t.user !== undefined && SAFE_USER.test(t.user) ? `${t.user}@` : '';
  return `sip:${user}${hostPart(t.address)}:${t.port}`;
}

/** newIds draws a Call-ID and From tag. */
export function newIds(local: Place): NotifyIds {
  return { callId: newCallId(hostPart(local.address)), fromTag: newTag() };
}

/**
 * buildNotify writes the NOTIFY (sip-phones.md §4.3's shape): Request-URI and To name the phone
 * (its line-1 user when known), From is provisiond with our tag, `Subscription-State:
 * terminated` (RFC 6665 requires it; phones accept it), the vendor's Event and body, and the
 * answer to a challenge when there is one.
 */
export function buildNotify(t: NotifyTarget, local: Place, ids: NotifyIds, tx: TransactionIds, opts: { readonly userAgent: string; readonly auth?: { readonly header: 'Authorization' | 'Proxy-Authorization'; readonly value: string } }): Buffer {
  const uri = requestUri(t);
  const body = t.event.body === undefined ? Buffer.alloc(0) : Buffer.from(`${t.event.body.join('\r\n')}\r\n`, 'utf8');
  const here = `${hostPart(local.address)}:${local.port}`;
  const headers: SipHeader[] = [
    { name: 'Via', value: `SIP/2.0/UDP ${here};branch=${tx.branch};rport` },
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: `<sip:provisiond@${hostPart(local.address)}>;tag=${ids.fromTag}` },
    { name: 'To', value: `<${uri.replace(/:\d+$/, '')}>` },
    { name: 'Call-ID', value: ids.callId },
    { name: 'CSeq', value: `${tx.cseq} NOTIFY` },
    { name: 'Contact', value: `<sip:provisiond@${here}>` },
    { name: 'Event', value: t.event.event },
    { name: 'Subscription-State', value: 'terminated' },
    { name: 'User-Agent', value: opts.userAgent },
  ];
  if (opts.auth !== undefined) headers.push({ name: opts.auth.header, value: opts.auth.value });
  if (body.length > 0) headers.push({ name: 'Content-Type', value: t.event.contentType ?? 'text/plain' });
  return encodeSip({ kind: 'request', method: 'NOTIFY', uri, version: SIP_VERSION, headers, body });
}

/** readAnswer decodes a datagram as a SIP response; undefined for anything else (counted by the caller). */
export function readAnswer(datagram: Buffer): SipResponse | undefined {
  const r = decodeSip(datagram);
  return r.ok && r.message.kind === 'response' ? r.message : undefined;
}

/**
 * matches: RFC 3261 §17.1.3: an answer belongs to a client transaction when its top Via's branch
 * is the request's and its CSeq method is the request's (the CSeq number and Call-ID as well).
 */
export function matches(a: SipResponse, ids: NotifyIds, tx: TransactionIds): boolean {
  const cseq = parseCSeq(header(a, 'cseq') ?? '');
  return topVia(a)?.branch === tx.branch && cseq !== undefined && cseq.method.toUpperCase() === 'NOTIFY' && cseq.seq === tx.cseq && header(a, 'call-id') === ids.callId;
}

/** NotifyStats are what one device's exchange took. */
export interface NotifyStats {
  /** sent counts datagrams sent (first sends and retransmissions, both transactions). */
  readonly sent: number;
  /** ignored counts datagrams that were not an answer to us (not a SIP response the codec accepts, or another transaction's). */
  readonly ignored: number;
  readonly ms: number;
}

/** NotifyResult is one device's outcome. */
export type NotifyResult =
  | ({ readonly outcome: 'accepted'; readonly status: number; readonly reason: string; readonly authenticated: boolean } & NotifyStats)
  | ({ readonly outcome: 'refused'; readonly status: number; readonly reason: string; readonly detail?: string } & NotifyStats)
  | ({ readonly outcome: 'unreachable'; readonly detail: string } & NotifyStats);

/** Timers are setTimeout/clearTimeout (tests drive a fake clock). */
export interface Timers {
  set(f: () => void, ms: number): unknown;
  clear(handle: unknown): void;
  now(): number;
}

/** realTimers are Node's. */
export const realTimers: Timers = {
  set: (f, ms) => setTimeout(f, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
};

/** ChannelEvents are what a datagram channel reports. */
export interface ChannelEvents {
  message(datagram: Buffer): void;
  /** error: an ICMP error reported on the connected socket, or a failed send. */
  error(err: Error & { code?: string }): void;
}

/** Channel is a datagram channel to one phone. */
export interface Channel {
  readonly local: Place;
  send(datagram: Buffer): void;
  close(): void;
}

/** OpenChannel opens a channel to the target; it rejects when it cannot (bad address, no route). */
export type OpenChannel = (target: Place, events: ChannelEvents) => Promise<Channel>;

/** NotifyOptions tune one device's exchange. */
export interface NotifyOptions {
  readonly open?: OpenChannel;
  readonly timers?: Timers;
  /** deadlineMs bounds the device's whole exchange (default and maximum: Timer F, 32 s). */
  readonly deadlineMs?: number;
  readonly userAgent: string;
  readonly t1Ms?: number;
  readonly t2Ms?: number;
}

/**
 * sendNotify runs one device's NOTIFY (and at most one authenticated retry) and resolves with its
 * outcome; it never rejects and closes its channel on every path.
 */
export function sendNotify(target: NotifyTarget, o: NotifyOptions): Promise<NotifyResult> {
  const timers = o.timers ?? realTimers;
  const open = o.open ?? udpChannel;
  const t1 = o.t1Ms ?? T1_MS;
  const t2 = o.t2Ms ?? T2_MS;
  const deadline = Math.min(o.deadlineMs ?? 64 * t1, 64 * t1);
  const started = timers.now();
  let sent = 0;
  let ignored = 0;
  return new Promise<NotifyResult>((resolve) => {
    let channel: Channel | undefined;
    let done = false;
    let timerE: unknown;
    let timerF: unknown;
    let ids: NotifyIds | undefined;
    let tx: TransactionIds | undefined;
    let request: Buffer | undefined;
    let interval = t1;
    let proceeding = false;
    let authenticated = false;
    const stats = (): NotifyStats => ({ sent, ignored, ms: Math.round(timers.now() - started) });
    const finish = (r: NotifyResult): void => {
      if (done) return;
      done = true;
      if (timerE !== undefined) timers.clear(timerE);
      if (timerF !== undefined) timers.clear(timerF);
      try {
        channel?.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    const transmit = (): void => {
      if (done || channel === undefined || request === undefined) return;
      sent++;
      channel.send(request);
    };
    const onE = (): void => {
      if (done) return;
      transmit();
      interval = proceeding ? t2 : Math.min(interval * 2, t2);
      timerE = timers.set(onE, interval);
    };
    const startTransaction = (auth?: { header: 'Authorization' | 'Proxy-Authorization'; value: string }): void => {
      if (channel === undefined || ids === undefined || tx === undefined) return;
      request = buildNotify(target, channel.local, ids, tx, { userAgent: o.userAgent, ...(auth === undefined ? {} : { auth }) });
      interval = t1;
      proceeding = false;
      if (timerE !== undefined) timers.clear(timerE);
      transmit();
      timerE = timers.set(onE, interval);
    };
    const onAnswer = (a: SipResponse): void => {
      if (ids === undefined || tx === undefined || !matches(a, ids, tx)) {
        ignored++;
        return;
      }
      if (a.status >= 100 && a.status < 200) {
        // RFC 3261 §17.1.2.2: Proceeding; retransmit every T2 until the final answer.
        if (!proceeding) {
          proceeding = true;
          interval = t2;
        }
        return;
      }
      if (a.status >= 200 && a.status < 300) return finish({ outcome: 'accepted', status: a.status, reason: a.reason, authenticated, ...stats() });
      if ((a.status === 401 || a.status === 407) && !authenticated) {
        const which = a.status === 401 ? 'www-authenticate' : 'proxy-authenticate';
        if (target.credentials === undefined) return finish({ outcome: 'refused', status: a.status, reason: a.reason, detail: 'challenged, and the device has no line-1 SIP credentials to answer with', ...stats() });
        const challenges = headerValues(a, which);
        let why = `no ${which === 'www-authenticate' ? 'WWW-Authenticate' : 'Proxy-Authenticate'} header`;
        for (const h of challenges) {
          const c = parseChallenge(h);
          if (!c.ok) {
            why = c.reason;
            continue;
          }
          authenticated = true;
          const uri = requestUri(target);
          tx = { cseq: tx.cseq + 1, branch: newBranch() };
          startTransaction({ header: a.status === 401 ? 'Authorization' : 'Proxy-Authorization', value: authorization(c.challenge, target.credentials, { method: 'NOTIFY', uri }) });
          return;
        }
        return finish({ outcome: 'refused', status: a.status, reason: a.reason, detail: `the challenge cannot be answered: ${why}`, ...stats() });
      }
      const detail = a.status === 401 || a.status === 407 ? 'the line-1 credentials were refused' : undefined;
      return finish({ outcome: 'refused', status: a.status, reason: a.reason, ...(detail === undefined ? {} : { detail }), ...stats() });
    };
    const events: ChannelEvents = {
      message: (d) => {
        if (done) return;
        const a = readAnswer(d);
        if (a === undefined) {
          ignored++;
          return;
        }
        onAnswer(a);
      },
      error: (err) => {
        const code = err.code ?? 'error';
        finish({ outcome: 'unreachable', detail: code === 'ECONNREFUSED' ? 'ICMP port unreachable (nothing listens on that port)' : `${code}: ${err.message}`, ...stats() });
      },
    };
    timerF = timers.set(() => finish({ outcome: 'unreachable', detail: `no final answer within ${(deadline / 1000).toFixed(1)} s (Timer F)`, ...stats() }), deadline);
    open({ address: target.address, port: target.port }, events).then(
      (c) => {
        if (done) {
          c.close();
          return;
        }
        channel = c;
        ids = newIds(c.local);
        tx = { cseq: 1, branch: newBranch() };
        startTransaction();
      },
      (err: unknown) => {
        const e = err as Error & { code?: string };
        finish({ outcome: 'unreachable', detail: `cannot open a socket toward ${hostPart(target.address)}:${target.port}: ${e.code ?? ''} ${e.message ?? String(err)}`.replace(/\s+/g, ' '), ...stats() });
      },
    );
  });
}

/**
 * udpChannel opens a UDP socket on an ephemeral port, connected to the phone: the kernel then
 * delivers only the phone's datagrams and reports its ICMP errors (ECONNREFUSED on a closed
 * port). Send errors are reported through `events.error`.
 */
export const udpChannel: OpenChannel = (target, events) =>
  new Promise<Channel>((resolve, reject) => {
    const family = isIP(target.address);
    if (family === 0) {
      reject(Object.assign(new Error(`${target.address} is not an IP address`), { code: 'EINVAL' }));
      return;
    }
    const socket: Socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    let opened = false;
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      socket.close();
    };
    socket.on('error', (err: Error & { code?: string }) => {
      if (!opened) {
        close();
        reject(err);
        return;
      }
      events.error(err);
    });
    socket.on('message', (msg) => events.message(msg));
    socket.bind(0, () => {
      socket.connect(target.port, target.address, (err?: Error) => {
        if (err) {
          close();
          reject(err);
          return;
        }
        opened = true;
        const a = socket.address();
        resolve({
          local: { address: a.address, port: a.port },
          send: (d) => {
            if (closed) return;
            socket.send(d, (e) => {
              if (e && !closed) events.error(e as Error & { code?: string });
            });
          },
          close,
        });
      });
    });
  });

/** mapBounded runs f over items with at most `limit` running at once, keeping the order of the results. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await f(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
