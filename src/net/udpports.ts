/**
 * udpports.ts: is a UDP port already bound in this network namespace?
 *
 * The DHCP face binds with SO_REUSEADDR (it needs a wildcard socket plus one socket per
 * interface on the same port), so the kernel would let a second daemon share the port
 * silently. Reading /proc/net/udp{,6} first turns that into a clear startup error.
 */
import { readFileSync } from 'node:fs';

/** udpPortHolders returns the local addresses bound to `port` (empty when /proc is unreadable). */
export function udpPortHolders(port: number, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = read(file);
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (!local) continue;
      const [addr, portHex] = local.split(':');
      if (portHex !== undefined && parseInt(portHex, 16) === port) found.push(`${file.endsWith('6') ? 'udp6' : 'udp'} ${addr ?? '?'}`);
    }
  }
  return found;
}
