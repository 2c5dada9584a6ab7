/**
 * peer.ts: who the client of an HTTP request is.
 *
 * The socket's peer address is the client, except when the peer is one of http.trustedProxies:
 * then X-Forwarded-For is read from the right and the right-most address that is not a trusted
 * proxy is the client. This is evaluated per request from the current configuration (a reload
 * changes it without re-listening), instead of fastify's construction-time `trustProxy`.
 */
import { BlockList, isIP } from 'node:net';
import { unmapIPv4 } from '../net/ipv4';

/** ProxyList is a compiled http.trustedProxies; undefined when it is empty. */
export type ProxyList = BlockList | undefined;

/** compileProxies builds the matcher of http.trustedProxies (entries are validated by the schema). */
export function compileProxies(proxies: readonly string[]): ProxyList {
  if (proxies.length === 0) return undefined;
  const list = new BlockList();
  for (const p of proxies) {
    const [addr = '', bits] = p.split('/');
    const a = unmapIPv4(addr);
    const family = isIP(a) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(a, family);
    else list.addSubnet(a, Number(bits), family);
  }
  return list;
}

/** isTrustedProxy tells whether an address is in the compiled list. */
export function isTrustedProxy(list: ProxyList, ip: string): boolean {
  if (list === undefined) return false;
  const a = unmapIPv4(ip);
  const v = isIP(a);
  return v !== 0 && list.check(a, v === 6 ? 'ipv6' : 'ipv4');
}

/**
 * clientAddress is the request's client: `peer` (the socket's remote address; undefined once the
 * socket is gone, and then so is the answer), or, from a trusted proxy, the right-most untrusted
 * X-Forwarded-For entry. An entry that is not an IP address stops the walk at the proxy before it.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, list: ProxyList): string | undefined {
  if (peer === undefined || peer === '') return undefined;
  if (list === undefined || forwardedFor === undefined || !isTrustedProxy(list, peer)) return peer;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = (hops[i] ?? '').trim();
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!isTrustedProxy(list, hop)) return hop;
  }
  return client;
}
