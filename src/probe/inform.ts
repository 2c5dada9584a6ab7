/**
 * inform.ts: the pure DHCP half of `provisiond probe` (jitsi-client-contract.md §2.2, §2.4).
 * It builds the exact 300-byte DHCPINFORM the Jitsi client sends, with our codec, and reads a
 * reply the way the client does: the xid must match and option 224 must be present.
 */
import { encode, decode, emptyMessage, Op } from '../dhcp/codec';
import { Opt, MessageType } from '../dhcp/options';

/** buildInform returns the client's INFORM for one (interface address, MAC) pair. */
export function buildInform(xid: number, ciaddr: number, mac: Buffer | undefined): Buffer {
  const m = emptyMessage();
  m.op = Op.BootRequest;
  m.htype = 1;
  m.hlen = 6; // always 6, even without a MAC (contract §2.2)
  m.xid = xid >>> 0;
  m.ciaddr = ciaddr >>> 0;
  if (mac !== undefined) mac.copy(m.chaddr, 0, 0, Math.min(16, mac.length));
  // Insertion order is wire order: 53 first, then 55 = [224], nothing else.
  m.options.set(Opt.MessageType, Buffer.from([MessageType.Inform]));
  m.options.set(Opt.ParameterRequestList, Buffer.from([Opt.ProvisioningUrl]));
  return encode(m);
}

/** ReplyReading is what the client makes of one datagram on port 6768. */
export type ReplyReading =
  | { readonly kind: 'url'; readonly url: string; readonly messageType: number | undefined; readonly hasNul: boolean }
  | { readonly kind: 'other-xid' }
  | { readonly kind: 'no-option-224' }
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * readReply classifies a datagram. The client matches on the xid only (not op, type or chaddr);
 * a malformed datagram aborts the real client's whole discovery, so it is reported as such.
 */
export function readReply(buf: Buffer, xid: number): ReplyReading {
  const r = decode(buf);
  if (!r.ok) return { kind: 'malformed', reason: `${r.error.code}: ${r.error.detail}` };
  if (r.message.xid !== xid >>> 0) return { kind: 'other-xid' };
  const v = r.message.options.get(Opt.ProvisioningUrl);
  if (v === undefined) return { kind: 'no-option-224' };
  const t = r.message.options.get(Opt.MessageType);
  // Decoded as UTF-8 and not trimmed, as `new String(bytes)` does on Linux.
  const url = v.toString('utf8');
  return { kind: 'url', url, messageType: t !== undefined && t.length === 1 ? (t[0] as number) : undefined, hasNul: url.includes('\0') };
}

/** ipv4ToU32 parses a dotted quad (validated by the caller) into a uint32. */
export function ipv4ToU32(a: string): number {
  const p = a.split('.').map((x) => Number(x));
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
}

/** macBytes parses aa:bb:cc:dd:ee:ff; an all-zero or absent MAC gives undefined. */
export function macBytes(mac: string | undefined): Buffer | undefined {
  if (mac === undefined || !/^([0-9a-f]{2}:)+[0-9a-f]{2}$/i.test(mac)) return undefined;
  const b = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  return b.every((x) => x === 0) ? undefined : b;
}

/** retransmitGaps returns the client's two gaps before the 2nd and 3rd transmission: 1 s or 2 s each. */
export function retransmitGaps(random: () => number = Math.random): readonly [number, number] {
  const gap = (): number => (random() < 0.5 ? 1000 : 2000);
  return [gap(), gap()];
}
