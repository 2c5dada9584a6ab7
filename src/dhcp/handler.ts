/**
 * handler.ts: the pure DHCP logic. A decoded request and the interface it arrived on go in;
 * a reply (bytes + destination) or a counted reason to ignore it comes out. No I/O here.
 *
 * provisiond allocates no addresses: it answers DHCPINFORM (RFC 2131 §3.4, §4.3.5) with the
 * provisioning URL in option 224 (jitsi-client-contract.md §2.5) and ignores every other
 * message type, so that it can never hand out a lease or disturb the site's real DHCP server.
 */
import { encode, readU8, Op, type DhcpMessage } from './codec';
import { Opt, MessageType } from './options';
import { formatIPv4, inCidr, type Cidr } from '../net/ipv4';
import { selectUrl, type UrlPlan, type UrlInterface } from '../urls/plan';

/** ServedInterface is an IPv4 interface the DHCP face answers on; its address is also the server identifier. */
export type ServedInterface = UrlInterface;

/** IgnoreReason is a stable counter name for a request that gets no reply. */
export type IgnoreReason = 'not-request' | 'no-message-type' | 'bad-option' | 'not-inform' | 'foreign-ciaddr' | 'foreign-giaddr' | 'relay-source';

/** Destination says where a reply goes. */
export interface Destination {
  readonly address: string;
  readonly port: number;
  /** broadcast is true for 255.255.255.255 on the receiving interface. */
  readonly broadcast: boolean;
}

/** HandleResult is the handler's answer: a reply to send, or a reason to stay silent. */
export type HandleResult =
  | { readonly kind: 'reply'; readonly packet: Buffer; readonly to: Destination }
  | { readonly kind: 'ignore'; readonly reason: IgnoreReason; readonly detail: string };

/** HandlerContext is everything the handler needs besides the request. */
export interface HandlerContext {
  readonly plan: UrlPlan;
  readonly iface: ServedInterface;
  /** serverPort is where a relay agent listens (the DHCP face's own port, RFC 2131 §4.1). */
  readonly serverPort: number;
  /** replyPort is the client's port (6768 for Jitsi). */
  readonly replyPort: number;
  /**
   * subnets are the networks this server answers for: every served interface's subnet plus
   * every dhcp.networks subnet. A ciaddr outside all of them is not answered (as ISC dhcpd
   * does): otherwise anyone could make us send datagrams to an arbitrary address.
   */
  readonly subnets: readonly Cidr[];
  /** links are the served interfaces' own subnets (on-link networks); a subset of `subnets`. */
  readonly links: readonly Cidr[];
  /** source is the datagram's IPv4 source address (uint32; 0 for 0.0.0.0). */
  readonly source: number;
}

const ACK = Buffer.from([MessageType.Ack]);

/** handle answers one decoded request. */
export function handle(req: DhcpMessage, ctx: HandlerContext): HandleResult {
  if (req.op !== Op.BootRequest) return { kind: 'ignore', reason: 'not-request', detail: `op ${req.op} is not BOOTREQUEST` };
  const type = readU8(req, Opt.MessageType);
  if (type.kind === 'absent') return { kind: 'ignore', reason: 'no-message-type', detail: 'no option 53 (a BOOTP request)' };
  if (type.kind === 'bad') return { kind: 'ignore', reason: 'bad-option', detail: type.reason };
  // Only INFORM is answered: DISCOVER/REQUEST would need a lease, which we never offer.
  if (type.value !== MessageType.Inform) return { kind: 'ignore', reason: 'not-inform', detail: `message type ${type.value}` };

  if (req.giaddr !== 0) {
    const refused = relayRefusal(req.giaddr, ctx);
    if (refused) return refused;
  }
  if (req.ciaddr !== 0 && !ctx.subnets.some((c) => inCidr(req.ciaddr, c))) {
    return { kind: 'ignore', reason: 'foreign-ciaddr', detail: `ciaddr ${formatIPv4(req.ciaddr)} is in no served or configured subnet` };
  }
  const { iface } = ctx;
  const url = selectUrl(ctx.plan, req.ciaddr, req.giaddr, iface);
  const serverId = Buffer.allocUnsafe(4);
  serverId.writeUInt32BE(iface.address >>> 0, 0);
  const options = new Map<number, Buffer>([
    [Opt.MessageType, ACK], // RFC 2131 §4.3.5: DHCPACK, no lease time, no yiaddr
    [Opt.ServerId, serverId], // RFC 2131 table 3: MUST in a DHCPACK
    [Opt.ProvisioningUrl, url], // plain bytes, no NUL (contract §2.4)
  ]);
  const relayInfo = req.options.get(Opt.RelayAgentInfo);
  if (relayInfo !== undefined && req.giaddr !== 0) options.set(Opt.RelayAgentInfo, relayInfo); // RFC 3046 §2.2: echo
  const reply: DhcpMessage = {
    op: Op.BootReply,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: req.ciaddr,
    yiaddr: 0,
    siaddr: 0,
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: EMPTY,
    file: EMPTY,
    options,
  };
  return { kind: 'reply', packet: encode(reply), to: destination(req, ctx) };
}

const EMPTY = Buffer.alloc(0);

/**
 * relayRefusal decides whether a relayed request (giaddr set) may be answered; the answer goes
 * to giaddr:port, so giaddr must never be an address the requester chose freely:
 *  - giaddr must lie in a served interface's subnet or a dhcp.networks subnet (else anyone
 *    could reflect an ACK at an arbitrary host: `foreign-giaddr`);
 *  - a giaddr on a served link must be the datagram's source: a relay on our own link sends
 *    from that address, and any other on-link giaddr is a neighbour that did not ask (or an
 *    unused address whose ARP queue would hold the reply);
 *  - a remote giaddr (a dhcp.networks subnet) must come from the relay's upstream address:
 *    giaddr itself or an address in a served or configured subnet (a router on our link, or in
 *    a declared network). The reply is then routed to the relay through its gateway.
 * UDP sources can be forged; these rules stop a host that does not forge its address, and the
 * per-source limit and the bounded send queue (server.ts) bound what a forger can do.
 */
function relayRefusal(giaddr: number, ctx: HandlerContext): HandleResult | undefined {
  if (!ctx.subnets.some((c) => inCidr(giaddr, c))) {
    return { kind: 'ignore', reason: 'foreign-giaddr', detail: `giaddr ${formatIPv4(giaddr)} is in no served or configured subnet` };
  }
  if (ctx.source === giaddr) return undefined;
  const onLink = ctx.links.some((c) => inCidr(giaddr, c));
  if (!onLink && ctx.subnets.some((c) => inCidr(ctx.source, c))) return undefined;
  const why = onLink ? 'a giaddr on a served link must be the sender' : 'a remote relay must send from a served or configured subnet';
  return { kind: 'ignore', reason: 'relay-source', detail: `giaddr ${formatIPv4(giaddr)} from ${formatIPv4(ctx.source)}: ${why}` };
}

/**
 * destination says where the ACK goes:
 *  - relayed (giaddr set): to the relay agent's server port (RFC 2131 §4.1: "If the 'giaddr'
 *    field … is non-zero, the server sends any return messages to the 'DHCP server' port on
 *    the BOOTP relay agent"); the relay delivers it on the client's link;
 *  - else unicast to ciaddr:replyPort (RFC 2131 §4.3.5) only when ciaddr is the datagram's
 *    source address: the client then demonstrably owns that address and is reachable there;
 *  - else a broadcast to 255.255.255.255:replyPort on the receiving link. That covers a client
 *    with no address and a multi-homed Jitsi client whose INFORM for one address left through
 *    another interface (contract §2.3); its socket is bound to 0.0.0.0:6768, so it receives
 *    the broadcast (contract §2.5), and the xid tells it the answer is its own. A request whose
 *    ciaddr is not its source can no longer steer a unicast at a neighbour or an unused address.
 */
export function destination(req: DhcpMessage, ctx: HandlerContext): Destination {
  if (req.giaddr !== 0) return { address: formatIPv4(req.giaddr), port: ctx.serverPort, broadcast: false };
  if (req.ciaddr !== 0 && req.ciaddr === ctx.source) return { address: formatIPv4(req.ciaddr), port: ctx.replyPort, broadcast: false };
  return { address: '255.255.255.255', port: ctx.replyPort, broadcast: true };
}
