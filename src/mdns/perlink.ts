/**
 * perlink.ts: one TXT record per link on one ciao responder, and each link's packets kept on
 * that link. mDNS is link-local, so each link may be told its own URL (the one the DHCP face
 * serves there: a `site=` parameter, a per-network tenant key). ciao publishes one TXT record
 * for a service on every link, and a responder cannot hold two services of the same name; two
 * responders on one host each hear the other's packets and report a conflict on the shared host
 * name. So the one service keeps one TXT record inside ciao, and every packet ciao sends on a
 * link gets that link's TXT data for our instance name, just before it is encoded.
 *
 * Two send paths exist in ciao 1.3.12: `MDNSServer.send(packet, interface)` (announcements,
 * goodbyes, answers) encodes for one link; `sendOnAllNetworksForService` (probes, record
 * updates after `updateTxt`) encodes once and sends the same bytes on every link. The first is
 * wrapped (the TXT data swapped in, encoded, restored at once, so ciao's own state is
 * unchanged); the second is split into one `send` per link when the packet carries our TXT.
 *
 * The link filter (installed whatever the TXT records): Linux delivers a multicast datagram to
 * every socket joined to the group, whichever interface it arrived on (IP_MULTICAST_ALL), and
 * ciao keeps one socket per interface. So ciao's socket for link A also receives what arrived
 * on link B, our own announcement on B included (looped back; ciao only recognizes its own
 * packets on the link it sent them on). With a different TXT record on B, ciao took that copy
 * for another responder's conflicting TXT on A and probed again, forever: the service was
 * never "announced" when the daemon stopped, so ciao sent no goodbyes, and avahi kept the
 * entries (the per-link advertisement was reverted for that). A datagram received on link A
 * whose source address is in the subnet of another of our links (and not in A's) came from
 * that link: it is dropped before ciao reads it, and counted.
 *
 * ciao's internals are private API: checked at run time, like immediate.ts; when they are not
 * what this module expects, install returns undefined and the face refuses links with different
 * TXT records (PROVD_ERR_MDNS_URL) instead of advertising the wrong URL on one of them.
 */
import type { Responder } from '@homebridge/ciao';
import { parseIPv4 } from '../net/ipv4';

const TYPE_TXT = 16;
/** SEND_TIMEOUT_MS bounds one link's send in a split broadcast (ciao uses 200 ms for its own). */
const SEND_TIMEOUT_MS = 200;

/** norm is a name compared case-insensitively, with its trailing dot. */
function norm(name: string): string {
  return name.toLowerCase().replace(/\.$/, '') + '.';
}

interface TxtRecordLike {
  readonly name: string;
  readonly type: number;
  txt: Buffer[];
}

interface PacketLike {
  readonly answers: Map<string, TxtRecordLike>;
  readonly authorities: Map<string, TxtRecordLike>;
  readonly additionals: Map<string, TxtRecordLike>;
}

interface SendResultLike {
  readonly status: string;
  readonly interface: string;
  readonly reason?: Error;
}

interface ServiceLike {
  advertisesOnInterface(name: string): boolean;
}

interface InterfaceLike {
  readonly ipv4?: string;
  readonly ip4Netmask?: string;
}

interface ServerLike {
  send(packet: PacketLike, endpointOrInterface: string | { readonly interface: string }): Promise<SendResultLike>;
  sendOnAllNetworksForService(packet: PacketLike, service: ServiceLike): Promise<SendResultLike[]>;
  handleMessage(name: string, buffer: Buffer, rinfo: { readonly address: string }, family: string): void;
  getBoundInterfaceNames(): IterableIterator<string> | string[];
  readonly networkManager: { getInterface(name: string): InterfaceLike | undefined };
}

/** PerLinkTxt sets what each link's packets carry. */
export interface PerLinkTxt {
  /** set: for records named `fqdn` (case-insensitive), each interface's TXT strings; links not listed keep ciao's. */
  set(fqdn: string, byInterface: ReadonlyMap<string, readonly string[]>): void;
  /** fromOtherLinks counts datagrams dropped by the link filter. */
  readonly fromOtherLinks: number;
}

/** sameSubnet tells whether `address` is in the IPv4 subnet of an interface (false when unknown). */
function sameSubnet(address: string, iface: InterfaceLike | undefined): boolean {
  const a = parseIPv4(address);
  const own = iface?.ipv4 === undefined ? undefined : parseIPv4(iface.ipv4);
  const mask = iface?.ip4Netmask === undefined ? undefined : parseIPv4(iface.ip4Netmask);
  if (a === undefined || own === undefined || mask === undefined) return false;
  return ((a & mask) >>> 0) === ((own & mask) >>> 0);
}

/**
 * fromAnotherLink: a datagram received on `name` from `address` that is not in name's subnet
 * but in the subnet of another interface the responder is bound to.
 */
export function fromAnotherLink(address: string, name: string, bound: readonly string[], lookup: (n: string) => InterfaceLike | undefined): boolean {
  if (sameSubnet(address, lookup(name))) return false;
  return bound.some((other) => other !== name && sameSubnet(address, lookup(other)));
}

function isServer(s: unknown): s is ServerLike {
  const o = s as Partial<Record<keyof ServerLike, unknown>> | undefined;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.send === 'function' &&
    typeof o.sendOnAllNetworksForService === 'function' &&
    typeof o.handleMessage === 'function' &&
    typeof o.getBoundInterfaceNames === 'function' &&
    typeof (o.networkManager as { getInterface?: unknown } | undefined)?.getInterface === 'function'
  );
}

/** installPerLinkTxt wraps the responder's sending and receiving once; undefined when ciao's internals differ. */
export function installPerLinkTxt(responder: Responder): PerLinkTxt | undefined {
  const server: unknown = (responder as unknown as { server?: unknown }).server;
  if (!isServer(server)) return undefined;
  const send = server.send.bind(server);
  const broadcast = server.sendOnAllNetworksForService.bind(server);
  const receive = server.handleMessage.bind(server);
  let name = '';
  let table = new Map<string, Buffer[]>();
  let fromOtherLinks = 0;

  const ourTxt = (packet: PacketLike): TxtRecordLike[] => {
    const out: TxtRecordLike[] = [];
    if (name === '' || !(packet.answers instanceof Map)) return out;
    for (const section of [packet.answers, packet.authorities, packet.additionals]) {
      if (!(section instanceof Map)) continue;
      for (const rec of section.values()) {
        if (rec.type === TYPE_TXT && typeof rec.name === 'string' && norm(rec.name) === name && Array.isArray(rec.txt)) out.push(rec);
      }
    }
    return out;
  };

  const wrappedSend = (packet: PacketLike, endpointOrInterface: string | { readonly interface: string }): Promise<SendResultLike> => {
    const iface = (typeof endpointOrInterface === 'string' ? endpointOrInterface : endpointOrInterface.interface).replace(/\/6$/, '');
    const txt = table.get(iface);
    const recs = txt ? ourTxt(packet) : [];
    if (!txt || recs.length === 0) return send(packet, endpointOrInterface);
    const old = recs.map((r) => r.txt);
    for (const r of recs) r.txt = txt;
    try {
      return send(packet, endpointOrInterface); // encodes synchronously
    } finally {
      recs.forEach((r, i) => (r.txt = old[i] ?? r.txt));
    }
  };

  const wrappedBroadcast = (packet: PacketLike, service: ServiceLike): Promise<SendResultLike[]> => {
    if (table.size === 0 || ourTxt(packet).length === 0) return broadcast(packet, service);
    const results: Promise<SendResultLike>[] = [];
    for (const link of [...server.getBoundInterfaceNames()]) {
      if (!service.advertisesOnInterface(link)) continue;
      let one: Promise<SendResultLike>;
      try {
        one = wrappedSend(packet, link);
      } catch (err) {
        // the link's socket went away between the listing and the send (ciao throws then)
        one = Promise.resolve({ status: 'rejected', interface: link, reason: err instanceof Error ? err : new Error(String(err)) });
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<SendResultLike>((resolve) => {
        timer = setTimeout(() => resolve({ status: 'timeout', interface: link }), SEND_TIMEOUT_MS);
        timer.unref();
      });
      results.push(Promise.race([one, timeout]).finally(() => clearTimeout(timer)));
    }
    return Promise.all(results);
  };

  const wrappedReceive = (link: string, buffer: Buffer, rinfo: { readonly address: string }, family: string): void => {
    if (family === 'IPv4') {
      const bound = [...server.getBoundInterfaceNames()].filter((n) => !n.endsWith('/6'));
      if (fromAnotherLink(rinfo.address, link, bound, (n) => server.networkManager.getInterface(n))) {
        fromOtherLinks++;
        return;
      }
    }
    receive(link, buffer, rinfo, family);
  };

  Object.defineProperty(server, 'send', { value: wrappedSend, configurable: true, writable: true });
  Object.defineProperty(server, 'sendOnAllNetworksForService', { value: wrappedBroadcast, configurable: true, writable: true });
  Object.defineProperty(server, 'handleMessage', { value: wrappedReceive, configurable: true, writable: true });
  return {
    set(fqdn, byInterface) {
      name = norm(fqdn);
      table = new Map([...byInterface].map(([k, v]) => [k, v.map((s) => Buffer.from(s, 'utf8'))]));
    },
    get fromOtherLinks() {
      return fromOtherLinks;
    },
  };
}
