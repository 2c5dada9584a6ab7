/**
 * net.ts: the socket half of `provisiond probe`: the DHCP exchange on UDP 6768, the one-shot
 * mDNS query, the source-address trick for ${ipaddr}, the reverse lookup for ${hostname}, and
 * the HTTP POST (and the GETs of followed redirects). Every wait is bounded.
 */
import dgram from 'node:dgram';
import { lookup, lookupService } from 'node:dns/promises';
import { randomInt } from 'node:crypto';
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
export const MDNS_TIMEOUT_MS = 2000;

/** DhcpOutcome is the DHCP step's result. */
export type DhcpOutcome =
  | { readonly ok: true; readonly url: string; readonly from: string; readonly xid: number; readonly sent: number; readonly ignored: number; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly error: string; readonly xid: number; readonly sent: number; readonly ignored: number };

/**
 * dhcpDiscover binds 0.0.0.0:6768 (SO_BROADCAST), broadcasts one INFORM per address to
 * 255.255.255.255:6767 at t0 and after two 1-2 s gaps, and returns the first reply with the xid
 * and option 224. One xid per run, as the client. Gives up after timeoutMs overall.
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
      if (r.kind === 'malformed') {
        finish({ ok: false, error: `malformed datagram from ${rinfo.address}:${rinfo.port} (${r.reason}); the Jitsi client aborts DHCP discovery on it`, xid, sent, ignored });
      } else if (r.kind === 'url') {
        const warnings: string[] = [];
        if (r.hasNul) warnings.push('option 224 contains a NUL byte; the client keeps it in the URL');
        if (r.messageType !== 5) warnings.push(`reply is not a DHCPACK (option 53 = ${r.messageType ?? 'absent'}); the client does not check`);
        finish({ ok: true, url: r.url, from: `${rinfo.address}:${rinfo.port}`, xid, sent, ignored, warnings });
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

/**
 * request sends the client's POST (exact Content-Type, a Jitsi User-Agent) or, with body
 * undefined, the GET of a followed redirect; 10 s timeout; redirects are left to the caller.
 */
export async function request(target: string, body: string | undefined, userAgent: string, timeoutMs = 10_000): Promise<HttpOutcome> {
  try {
    const r = await fetch(target, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? { 'user-agent': userAgent } : { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent },
      ...(body === undefined ? {} : { body: Buffer.from(body, 'utf8') }),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const buf = Buffer.from(await r.arrayBuffer());
    return { ok: true, status: r.status, body: buf, contentType: r.headers.get('content-type'), location: r.headers.get('location') };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return { ok: false, error: `${err instanceof Error ? err.message : String(err)}${cause}` };
  }
}
