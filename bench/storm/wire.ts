/**
 * wire.ts (bench/storm): the DHCP face's answer time as seen on the server's interface, not by
 * the clients. During a pass the bench runs Wireshark's `dumpcap` in the server namespace on the
 * link's server end (UDP 6767/6768 only, the first 96 bytes of each frame, classic pcap), then
 * pairs each client's first DHCPINFORM with the first DHCPACK carrying its xid: the time between
 * the two frames crossing the interface is the face's own latency (socket queue, thread, answer),
 * without the generators' scheduling on the shared cores. An INFORM never answered counts at the
 * timeout, like a client's.
 */
import { readFileSync } from 'node:fs';

/** WireTimes are the per-exchange latencies (ms) and the INFORMs never answered. */
export interface WireTimes {
  readonly ok: number[];
  readonly unanswered: number;
  readonly informs: number;
  readonly acks: number;
  readonly frames: number;
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;

/** pairExchanges reads a classic pcap file (Ethernet, µs timestamps, little or big endian) and pairs INFORMs with ACKs by xid. */
export function pairExchanges(file: string, serverPort: number, clientPort: number): WireTimes {
  const b = readFileSync(file);
  if (b.length < 24) return { ok: [], unanswered: 0, informs: 0, acks: 0, frames: 0 };
  const le = b.readUInt32LE(0) === PCAP_MAGIC_US;
  if (!le && b.readUInt32BE(0) !== PCAP_MAGIC_US) throw new Error(`${file}: not a classic µs pcap file`);
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`${file}: link type ${u32(20)}, not Ethernet`);
  const sent = new Map<number, number>();
  const answered = new Map<number, number>();
  let informs = 0;
  let acks = 0;
  let frames = 0;
  for (let off = 24; off + 16 <= b.length; ) {
    const ts = u32(off) * 1000 + u32(off + 4) / 1000;
    const incl = u32(off + 8);
    const f = off + 16;
    off = f + incl;
    if (off > b.length) break;
    frames++;
    if (incl < 14 + 20 + 8 + 8 || b.readUInt16BE(f + 12) !== 0x0800) continue;
    const ihl = (b[f + 14] ?? 0) & 0x0f;
    if (b[f + 14 + 9] !== 17) continue;
    const udp = f + 14 + ihl * 4;
    if (udp + 8 + 8 > f + incl) continue;
    const sport = b.readUInt16BE(udp);
    const dport = b.readUInt16BE(udp + 2);
    const op = b[udp + 8];
    const xid = b.readUInt32BE(udp + 8 + 4);
    if (dport === serverPort && op === 1) {
      informs++;
      if (!sent.has(xid)) sent.set(xid, ts);
    } else if (sport === serverPort && dport === clientPort && op === 2) {
      acks++;
      if (!answered.has(xid)) answered.set(xid, ts);
    }
  }
  const ok: number[] = [];
  let unanswered = 0;
  for (const [xid, t0] of sent) {
    const t1 = answered.get(xid);
    if (t1 === undefined || t1 < t0) unanswered++;
    else ok.push(t1 - t0);
  }
  return { ok, unanswered, informs, acks, frames };
}
