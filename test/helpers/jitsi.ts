/**
 * jitsi.ts: test fixtures that reproduce the Jitsi desktop client's DHCP bytes exactly
 * (jitsi-client-contract.md §2.2), written out by hand rather than through our codec.
 */

/** JitsiInformFields are the per-interface values of the client's INFORM. */
export interface JitsiInformFields {
  readonly xid: number;
  readonly ciaddr: readonly [number, number, number, number];
  readonly mac: readonly number[];
}

/** jitsiInform builds the exact 300-byte DHCPINFORM the Jitsi client broadcasts. */
export function jitsiInform(f: JitsiInformFields): Buffer {
  const b = Buffer.alloc(300); // dhcp4java pads to 236 + 64
  b[0] = 0x01; // op BOOTREQUEST
  b[1] = 0x01; // htype ethernet
  b[2] = 0x06; // hlen, always 6
  b[3] = 0x00; // hops
  b.writeInt32BE(f.xid | 0, 4); // a signed Java int, big-endian
  // secs = 0, flags = 0 (broadcast bit not set)
  b.set(f.ciaddr, 12); // ciaddr = the interface's address
  // yiaddr, siaddr, giaddr = 0
  b.set(f.mac.slice(0, 16), 28); // chaddr: MAC + zero fill
  // sname, file: zero
  b.set([0x63, 0x82, 0x53, 0x63], 236); // magic cookie
  b.set([0x35, 0x01, 0x08], 240); // option 53 = DHCPINFORM
  b.set([0x37, 0x01, 0xe0], 243); // option 55 = [224]
  b[246] = 0xff; // END, then 53 bytes of zero padding
  return b;
}

/** SAMPLE is the INFORM used across tests: xid 0xdeadbeef from 192.168.1.23, MAC 00:1a:2b:3c:4d:5e. */
export const SAMPLE = {
  xid: 0xdeadbeef | 0,
  ciaddr: [192, 168, 1, 23] as const,
  mac: [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e],
};

/** SAMPLE_HEX is SAMPLE's INFORM as literal hex (a second, independent statement of the bytes). */
export const SAMPLE_HEX =
  '01010600deadbeef00000000c0a80117000000000000000000000000001a2b3c4d5e00000000000000000000' +
  '00'.repeat(64 + 128) +
  '63825363' +
  '350108' +
  '3701e0' +
  'ff' +
  '00'.repeat(53);
