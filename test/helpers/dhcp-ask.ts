/**
 * dhcp-ask.ts (test helper script): `node dhcp-ask.js SERVER CLIENT_IP` sends the Jitsi
 * client's DHCPINFORM (ciaddr = CLIENT_IP) from CLIENT_IP:6768 to SERVER:6767 and prints
 * "URL <option 224>" from the DHCPACK, or "NOREPLY" after 3 s. Run inside a namespace.
 */
import { createSocket } from 'node:dgram';
import { decode } from '../../src/dhcp/codec';
import { jitsiInform } from './jitsi';

const [server, client] = process.argv.slice(2);
if (!server || !client) {
  process.stderr.write('usage: dhcp-ask SERVER CLIENT_IP\n');
  process.exit(64);
}
const quad = client.split('.').map(Number) as [number, number, number, number];
const sock = createSocket({ type: 'udp4', reuseAddr: true });
const timer = setTimeout(() => {
  process.stdout.write('NOREPLY\n');
  sock.close();
}, 3000);
sock.on('message', (m) => {
  const d = decode(m);
  if (!d.ok || d.message.xid !== 0x5eed) return;
  clearTimeout(timer);
  process.stdout.write(`URL ${d.message.options.get(224)?.toString('utf8') ?? ''}\n`);
  sock.close();
});
sock.bind(6768, client, () => {
  sock.send(jitsiInform({ xid: 0x5eed, ciaddr: quad, mac: [2, 0, 0, 0x5e, 0xed, 1] }), 6767, server);
});
