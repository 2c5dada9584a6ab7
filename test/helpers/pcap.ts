/**
 * pcap.ts (test helper): wrap UDP payloads in Ethernet/IPv4/UDP frames inside a classic pcap
 * file, so an independent decoder (tshark) can read what our codec writes.
 */

/** UdpFrame is one datagram to put in the capture. */
export interface UdpFrame {
  readonly src: readonly [number, number, number, number];
  readonly dst: readonly [number, number, number, number];
  readonly sport: number;
  readonly dport: number;
  readonly payload: Buffer;
}

function ipChecksum(h: Buffer): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += h.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function frame(f: UdpFrame): Buffer {
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(f.sport, 0);
  udp.writeUInt16BE(f.dport, 2);
  udp.writeUInt16BE(8 + f.payload.length, 4); // checksum 0 = none (allowed over IPv4)
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + f.payload.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set(f.src, 12);
  ip.set(f.dst, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  const eth = Buffer.alloc(14);
  eth.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
  eth.set([0x02, 0, 0, 0, 0, 1], 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, udp, f.payload]);
}

/** pcapFile returns a little-endian pcap (link type Ethernet) holding the frames. */
export function pcapFile(frames: readonly UdpFrame[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const parts: Buffer[] = [header];
  frames.forEach((f, i) => {
    const data = frame(f);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(data.length, 8);
    rec.writeUInt32LE(data.length, 12);
    parts.push(rec, data);
  });
  return Buffer.concat(parts);
}
