/**
 * dhcp-fake.ts (test helper script): `node dhcp-fake.js URL` answers every DHCPINFORM on
 * 0.0.0.0:6767 (SO_REUSEADDR, so two of them can run side by side: a second DHCP server on the
 * link) with a DHCPACK carrying option 224 = URL, to ciaddr:6768. Prints "READY" once bound.
 * Started and stopped by PID by the test that runs it, inside a namespace it created.
 */
import dgram from 'node:dgram';
import { decode, encode } from '../../src/dhcp/codec';

const url = process.argv[2];
if (url === undefined) {
  process.stderr.write('usage: dhcp-fake URL\n');
  process.exit(2);
}
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
sock.on('message', (buf) => {
  const r = decode(buf);
  if (!r.ok) return;
  const m = r.message;
  m.op = 2;
  m.options = new Map([
    [53, Buffer.from([5])],
    [224, Buffer.from(url, 'utf8')],
  ]);
  const to = [m.ciaddr >>> 24, (m.ciaddr >>> 16) & 255, (m.ciaddr >>> 8) & 255, m.ciaddr & 255].join('.');
  sock.send(encode(m), 6768, to);
});
sock.bind(6767, '0.0.0.0', () => {
  sock.setBroadcast(true);
  process.stdout.write('READY\n');
});
setTimeout(() => process.exit(0), 60_000).unref();
