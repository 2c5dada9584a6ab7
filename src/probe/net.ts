/**
 * net.ts: the socket half of `provisiond probe`: the DHCP exchange on UDP 6768, the one-shot
 * mDNS query, the source-address trick for ${ipaddr}, the reverse lookup for ${hostname}, and
 * the HTTP POST (and the GETs of followed redirects). Every wait is bounded.
 */
import dgram from 'node:dgram';
import { lookup, lookupService } from 'node:dns/promises';
import { randomInt } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import tls from 'node:tls';
import { buildInform, readReply, retransmitGaps, ipv4ToU32, macBytes } from './inform';
import { encodeQuery, serviceName, collect, complete, assembleUrl, type Resolution } from './mdns';
import { decodeDns, RType } from '../mdns/wire';

/** ProbeAddress is one (interface, IPv4, MAC) the client sends from. */
export interface ProbeAddress {
  readonly ifname: string;
  readonly address: string;
  readonly mac: string | undefined;
}

export const DHCP_CLIENT_PORT = 6768;
export const DHCP_SERVER_PORT = 6767;
export const DHCP_TIMEOUT_MS = 10_000;
/** SECOND_SERVER_MS is how long the probe keeps listening after the first answer, for a second DHCP server. */
export const SECOND_SERVER_MS = 500;
export const MDNS_TIMEOUT_MS = 2000;

/** DhcpOutcome is the DHCP step's result. */
export type DhcpOutcome =
  | { readonly ok: true; readonly url: string; readonly from: string; readonly xid: number; readonly sent: number; readonly ignored: number; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly error: string; readonly xid: number; readonly sent: number; readonly ignored: number };

/**
 * dhcpDiscover binds 0.0.0.0:6768 (SO_BROADCAST), broadcasts one INFORM per address to
 * 255.255.255.255:6767 at t0 and after two 1-2 s gaps, and returns the first reply with the xid
 * and option 224. One xid per run, as the client. Gives up after timeoutMs overall. After the first
 * answer it listens SECOND_SERVER_MS more: another server answering the same INFORM is a warning
 * (the client takes whichever answer arrives first, so the URL it gets is a race).
 */
export function dhcpDiscover(addrs: readonly ProbeAddress[], timeoutMs = DHCP_TIMEOUT_MS): Promise<DhcpOutcome> {
  const xid = randomInt(0, 0x1_0000_0000) >>> 0;
  const informs = addrs.map((a) => buildInform(xid, ipv4ToU32(a.address), macBytes(a.mac)));
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    const timers: NodeJS.Timeout[] = [];
    let sent = 0;
    let ignored = 0;
    let done = false;
    let first: { url: string; from: string; warnings: string[] } | undefined;
    const others = new Map<string, string>();
    const finish = (o: DhcpOutcome): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      sock.close();
      resolve(o);
    };
    const send = (): void => {
      for (const m of informs) {
        sock.send(m, DHCP_SERVER_PORT, '255.255.255.255', (err) => {
          if (err) finish({ ok: false, error: `cannot send the INFORM: ${err.message}`, xid, sent, ignored });
        });
        sent++;
      }
    };
    sock.on('error', (err) => finish({ ok: false, error: `UDP ${DHCP_CLIENT_PORT}: ${err.message}`, xid, sent, ignored }));
    sock.on('message', (buf, rinfo) => {
      const r = readReply(buf, xid);
      if (r.kind === 'malformed' && first !== undefined) ignored++;
      else if (r.kind === 'malformed') {
        finish({ ok: false, error: `malformed datagram from ${rinfo.address}:${rinfo.port} (${r.reason}); the Jitsi client aborts DHCP discovery on it`, xid, sent, ignored });
      } else if (r.kind === 'url') {
        const from = `${rinfo.address}:${rinfo.port}`;
        if (first !== undefined) {
          // Another source, or the same one with another URL (two servers on one host); a repeat is not.
          const k = `${from} ${r.url}`;
          if ((from !== first.from || r.url !== first.url) && !others.has(k) && others.size < 8) others.set(k, r.url);
          return;
        }
        const warnings: string[] = [];
        if (r.hasNul) warnings.push('option 224 contains a NUL byte; the client keeps it in the URL');
        if (r.messageType !== 5) warnings.push(`reply is not a DHCPACK (option 53 = ${r.messageType ?? 'absent'}); the client does not check`);
        first = { url: r.url, from, warnings };
        // No more INFORMs; listen a little longer for a second server, then answer.
        for (const t of timers) clearTimeout(t);
        const f = first;
        timers.push(
          setTimeout(() => {
            for (const [k, u] of others) f.warnings.push(`a second DHCP server answered: ${k.slice(0, k.indexOf(' '))} with ${u === f.url ? 'the same URL' : JSON.stringify(u)}; the client takes whichever answer arrives first`);
            finish({ ok: true, url: f.url, from: f.from, xid, sent, ignored, warnings: f.warnings });
          }, SECOND_SERVER_MS),
        );
      } else ignored++;
    });
    sock.bind({ port: DHCP_CLIENT_PORT, address: '0.0.0.0', exclusive: true }, () => {
      sock.setBroadcast(true);
      if (informs.length === 0) {
        finish({ ok: false, error: 'no non-loopback IPv4 address to send from', xid, sent, ignored });
        return;
      }
      const [g1, g2] = retransmitGaps();
      send();
      timers.push(setTimeout(send, g1));
      timers.push(setTimeout(send, g1 + g2));
      timers.push(setTimeout(() => finish({ ok: false, error: `no answer with xid 0x${xid.toString(16).padStart(8, '0')} and option 224 within ${timeoutMs / 1000} s`, xid, sent, ignored }), timeoutMs));
    });
  });
}

/** MdnsOutcome is the Bonjour step's result. */
export type MdnsOutcome =
  | { readonly ok: true; readonly url: string; readonly type: '_https._tcp' | '_http._tcp'; readonly from: string; readonly resolution: Resolution }
  | { readonly ok: false; readonly error: string };

/** resolveOne queries SRV/TXT/A of one service name (legacy unicast query) for up to timeoutMs. */
function resolveOne(type: '_https._tcp' | '_http._tcp', iface: string | undefined, timeoutMs: number): Promise<{ r: Resolution; from: string } | undefined> {
  const name = serviceName(type);
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    const id = randomInt(1, 0x10000);
    let res: Resolution = { port: undefined, target: undefined, txt: undefined, ipv4: [] };
    let from = '';
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    const finish = (v: { r: Resolution; from: string } | undefined): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      sock.close();
      resolve(v);
    };
    const query = (): void => {
      const qs = [
        { name, type: RType.SRV },
        { name, type: RType.TXT },
      ];
      if (res.target !== undefined && res.ipv4.length === 0) qs.push({ name: res.target, type: RType.A });
      sock.send(encodeQuery(id, qs), 5353, '224.0.0.251');
    };
    sock.on('error', () => finish(undefined));
    sock.on('message', (buf, rinfo) => {
      const d = decodeDns(buf);
      if (!d.ok || !d.message.response) return;
      const before = res.target;
      res = collect(d.message.records, name, res);
      if (res.port !== undefined && from === '') from = rinfo.address;
      if (complete(res)) finish({ r: res, from });
      else if (before === undefined && res.target !== undefined) query(); // ask for the A record
    });
    sock.bind({ port: 0, address: '0.0.0.0' }, () => {
      if (iface !== undefined) sock.setMulticastInterface(iface);
      sock.setMulticastTTL(255);
      query();
      // JmDNS re-asks while it waits (10 rounds of 200 ms); a few repeats are enough here.
      for (const at of [250, 750, 1500]) timers.push(setTimeout(query, at));
      timers.push(setTimeout(() => finish(undefined), timeoutMs));
    });
  });
}

/** mdnsDiscover resolves "Provisioning URL" over _https._tcp then _http._tcp, 2 s each. */
export async function mdnsDiscover(ifaceAddress: string | undefined, timeoutMs = MDNS_TIMEOUT_MS): Promise<MdnsOutcome> {
  for (const type of ['_https._tcp', '_http._tcp'] as const) {
    const got = await resolveOne(type, ifaceAddress, timeoutMs);
    if (got === undefined) continue;
    const url = assembleUrl(type === '_https._tcp' ? 'https' : 'http', got.r);
    if (url !== undefined) return { ok: true, url, type, from: got.from, resolution: got.r };
  }
  return { ok: false, error: `no complete answer (SRV, TXT and A) for "${serviceName('_https._tcp')}" nor "${serviceName('_http._tcp')}" within ${timeoutMs / 1000} s each` };
}

/** sourceAddressToward returns the local IPv4 a UDP socket connected to host would use (${ipaddr}). */
export async function sourceAddressToward(host: string): Promise<{ ip: string; address: string } | undefined> {
  const h = host.replace(/^\[|\]$/g, '');
  let ip: string;
  try {
    ip = (await lookup(h, { family: 4 })).address;
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.on('error', () => {
      s.close();
      resolve(undefined);
    });
    s.connect(9, ip, () => {
      const a = s.address().address;
      s.close();
      resolve({ ip, address: a });
    });
  });
}

/**
 * hostNameOf is `${hostname}` as the client computes it off Windows: `InetAddress.getHostName()`
 * of its address, a reverse lookup through the system resolver (getnameinfo: /etc/hosts, DNS, …)
 * that yields the address itself when nothing answers (contract §4.1). Bounded by `timeoutMs`.
 */
export async function hostNameOf(address: string, timeoutMs = 5000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(address), timeoutMs)));
  try {
    return await Promise.race([lookupService(address, 0).then((r) => r.hostname || address, () => address), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** HttpOutcome is the fetch result. */
export type HttpOutcome =
  | { readonly ok: true; readonly status: number; readonly body: Buffer; readonly contentType: string | null; readonly location: string | null }
  | { readonly ok: false; readonly error: string };

/** TlsOptions are how the probe trusts an HTTPS server (the client would ask its user instead). */
export interface TlsOptions {
  /** ca: PEM certificates trusted in addition to the system's (--ca FILE). */
  readonly ca?: Buffer;
  /** insecure: accept any certificate, as a user who answers "Trust" does (--insecure). */
  readonly insecure?: boolean;
}

/** MAX_BODY bounds the document the probe reads. */
const MAX_BODY = 16 << 20;
/** TOTAL_MS bounds one request as a whole; timeoutMs bounds each wait (the client's 10 s socket timeout). */
const TOTAL_MS = 30_000;

const CERT_CODES = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REVOKED']);

/** describeError turns a socket or TLS error into one line; certificate problems say what the client does. */
export function describeError(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const msg = err instanceof Error ? err.message : String(err);
  if (CERT_CODES.has(code)) {
    return `TLS certificate not trusted (${code}: ${msg}); the Jitsi client would ask its user whether to trust it (a Bonjour URL carries the IP, so the certificate needs an IP SAN); --ca FILE trusts your CA, --insecure accepts any certificate`;
  }
  return code !== '' && !msg.includes(code) ? `${msg} (${code})` : msg;
}

/**
 * request sends the client's POST (exact Content-Type, a Jitsi User-Agent) or, with body
 * undefined, the GET of a followed redirect. Each wait is bounded by timeoutMs and the whole
 * request by 30 s; a body over 16 MiB is an error; redirects are left to the caller.
 */
export function request(target: string, body: string | undefined, userAgent: string, tlsOptions: TlsOptions = {}, timeoutMs = 10_000): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return resolve({ ok: false, error: `not a URL: ${JSON.stringify(target)}` });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return resolve({ ok: false, error: `unsupported scheme ${url.protocol}` });
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
    const headers: Record<string, string | number> = { 'user-agent': userAgent };
    if (payload !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = payload.length;
    }
    const opts = { method: payload === undefined ? 'GET' : 'POST', headers, agent: false as const };
    let settled = false;
    const done = (o: HttpOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(total);
      resolve(o);
    };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          req.destroy();
          done({ ok: false, error: `the response is larger than ${MAX_BODY >> 20} MiB` });
        } else chunks.push(c);
      });
      res.on('end', () => {
        const h = (k: string): string | null => {
          const v = res.headers[k];
          return typeof v === 'string' ? v : null;
        };
        done({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks), contentType: h('content-type'), location: h('location') });
      });
      res.on('error', (err) => done({ ok: false, error: describeError(err) }));
    };
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { ...opts, ...(tlsOptions.ca === undefined ? {} : { ca: [...tls.rootCertificates, tlsOptions.ca.toString('utf8')] }), rejectUnauthorized: tlsOptions.insecure !== true }, onResponse)
        : httpRequest(url, opts, onResponse);
    const total = setTimeout(() => {
      req.destroy();
      done({ ok: false, error: `no complete answer within ${TOTAL_MS / 1000} s` });
    }, TOTAL_MS);
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      done({ ok: false, error: `timed out: nothing received for ${timeoutMs / 1000} s` });
    });
    req.on('error', (err) => done({ ok: false, error: describeError(err) }));
    req.end(payload);
  });
}
