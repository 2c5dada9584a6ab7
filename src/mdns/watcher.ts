/**
 * watcher.ts: a passive listener on the mDNS port. It hears every multicast response on the
 * advertised links (beside the advertiser and any avahi-daemon: SO_REUSEADDR) so that a name
 * conflict can be reported with the other responder's address, which the advertiser library
 * does not expose. The only thing it sends is a query for our own instance's records, when the
 * face stands by behind another node advertising the same service (server.ts).
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { decodeDns, encodeQuery, type DnsMessage } from './wire';
import { errorMessage } from '../errors';

/** MDNS_PORT and MDNS_GROUP are RFC 6762 §3's port and IPv4 group. */
export const MDNS_PORT = 5353;
export const MDNS_GROUP = '224.0.0.251';

/** ResponseListener receives each decoded mDNS response and its source address. */
export type ResponseListener = (from: string, message: DnsMessage) => void;

/** Watcher is the passive listener; `join` follows the advertised interfaces' addresses. */
export class Watcher {
  private socket: Socket | undefined;
  private joined = new Set<string>();
  /** malformed counts datagrams that are not DNS messages. */
  malformed = 0;
  /** queries counts queries heard (skipped undecoded). */
  queries = 0;

  constructor(
    private readonly listener: ResponseListener,
    private readonly onError: (message: string) => void,
    private readonly port = MDNS_PORT,
  ) {}

  /** open binds the port; it rejects when the port cannot be bound. */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      const onBindError = (err: Error): void => {
        s.close();
        reject(err);
      };
      s.once('error', onBindError);
      s.bind({ port: this.port, address: '0.0.0.0' }, () => {
        s.off('error', onBindError);
        s.on('error', (err) => this.onError(errorMessage(err)));
        s.on('message', (buf, rinfo) => this.onMessage(buf, rinfo));
        this.socket = s;
        resolve();
      });
    });
  }

  /** join makes the socket a member of the mDNS group on exactly these interface addresses. */
  join(addresses: readonly string[]): void {
    const s = this.socket;
    if (!s) return;
    const want = new Set(addresses);
    for (const a of this.joined) {
      if (want.has(a)) continue;
      try {
        s.dropMembership(MDNS_GROUP, a);
      } catch {
        // the address is gone already, and its membership with it
      }
      this.joined.delete(a);
    }
    for (const a of want) {
      if (this.joined.has(a)) continue;
      try {
        s.addMembership(MDNS_GROUP, a);
        this.joined.add(a);
      } catch (err) {
        this.onError(`cannot join ${MDNS_GROUP} on ${a}: ${errorMessage(err)}`);
      }
    }
  }

  /**
   * query multicasts one QM query (RFC 6762 §5.2) for `name` on every joined interface, to the
   * port this watcher listens on (5353); a send error is reported, never thrown.
   */
  query(name: string, types: readonly number[]): void {
    const s = this.socket;
    if (!s) return;
    const msg = encodeQuery(name, types);
    for (const a of this.joined) {
      try {
        s.setMulticastInterface(a);
        s.setMulticastTTL(255);
        s.send(msg, this.port, MDNS_GROUP, (err) => {
          if (err) this.onError(`cannot send a query on ${a}: ${errorMessage(err)}`);
        });
      } catch (err) {
        this.onError(`cannot send a query on ${a}: ${errorMessage(err)}`);
      }
    }
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    this.joined.clear();
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  private onMessage(buf: Buffer, rinfo: RemoteInfo): void {
    // Queries (QR bit clear) cannot show a conflict: skip them before decoding. This handler
    // shares the event loop with the advertiser, which answers those queries.
    if (buf.length >= 12 && ((buf[2] ?? 0) & 0x80) === 0) {
      this.queries++;
      return;
    }
    const d = decodeDns(buf);
    if (!d.ok) {
      this.malformed++;
      return;
    }
    // RFC 6762 §18.3: ignore opcodes other than QUERY; only responses can show a conflict.
    if (!d.message.response || d.message.opcode !== 0) return;
    try {
      this.listener(rinfo.address, d.message);
    } catch (err) {
      this.onError(`response handler failed: ${errorMessage(err)}`);
    }
  }
}
