/**
 * perlink.ts: one TXT record per link on one ciao responder. mDNS is link-local, so each link may
 * be told its own URL (the one the DHCP face serves there: a `site=` parameter, a per-network
 * tenant key). ciao publishes one TXT record for a service on every link, and a responder cannot
 * hold two services of the same name; two responders on one host each hear the other's packets
 * (Linux delivers multicast to every socket joined to the group) and report a conflict on the
 * shared host name. So the one service keeps one TXT record inside ciao, and every packet ciao
 * sends on a link gets that link's TXT data for our instance name, just before it is encoded
 * (MDNSServer.send encodes synchronously, then hands the bytes to that link's socket). The
 * record object is restored at once, so ciao's own state (known answers, tiebreaks) is unchanged.
 *
 * ciao's internals are private API: checked at run time, like immediate.ts; when they are not
 * what this module expects, install returns false and the face refuses links with different
 * TXT records (PROVD_ERR_MDNS_URL) instead of advertising the wrong URL on one of them.
 */
import type { Responder } from '@homebridge/ciao';

const TYPE_TXT = 16;

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

interface ServerLike {
  send(packet: PacketLike, endpointOrInterface: string | { readonly interface: string }): unknown;
}

/** PerLinkTxt sets what each link's packets carry. */
export interface PerLinkTxt {
  /** set: for records named `fqdn` (case-insensitive), each interface's TXT strings; links not listed keep ciao's. */
  set(fqdn: string, byInterface: ReadonlyMap<string, readonly string[]>): void;
}

/** installPerLinkTxt wraps the responder's sending once; undefined when ciao's internals differ. */
export function installPerLinkTxt(responder: Responder): PerLinkTxt | undefined {
  const server = (responder as unknown as { server?: Partial<ServerLike> }).server;
  if (!server || typeof server.send !== 'function') return undefined;
  const send = server.send.bind(server) as ServerLike['send'];
  let name = '';
  let table = new Map<string, Buffer[]>();
  const wrapped = (packet: PacketLike, endpointOrInterface: string | { readonly interface: string }): unknown => {
    const iface = (typeof endpointOrInterface === 'string' ? endpointOrInterface : endpointOrInterface.interface).replace(/\/6$/, '');
    const txt = table.get(iface);
    if (!txt || name === '' || !(packet.answers instanceof Map)) return send(packet, endpointOrInterface);
    const swapped: { rec: TxtRecordLike; old: Buffer[] }[] = [];
    for (const section of [packet.answers, packet.authorities, packet.additionals]) {
      for (const rec of section.values()) {
        if (rec.type === TYPE_TXT && typeof rec.name === 'string' && norm(rec.name) === name && Array.isArray(rec.txt)) {
          swapped.push({ rec, old: rec.txt });
          rec.txt = txt;
        }
      }
    }
    try {
      return send(packet, endpointOrInterface);
    } finally {
      for (const s of swapped) s.rec.txt = s.old;
    }
  };
  Object.defineProperty(server, 'send', { value: wrapped, configurable: true, writable: true });
  return {
    set(fqdn, byInterface) {
      name = norm(fqdn);
      table = new Map([...byInterface].map(([k, v]) => [k, v.map((s) => Buffer.from(s, 'utf8'))]));
    },
  };
}
