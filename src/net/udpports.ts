/**
 * udpports.ts: is a UDP port already bound in this network namespace?
 *
 * The DHCP face binds with SO_REUSEADDR (it needs a wildcard socket plus one socket per
 * interface on the same port), so the kernel would let a second daemon share the port
 * silently. Reading /proc/net/udp{,6} first turns that into a clear startup error.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** udpPortHolders returns the local addresses bound to `port` (empty when /proc is unreadable). */
export function udpPortHolders(port: number, read: (path: string) => string = (p) => readFileSync(p, 'utf8'), owners = false): string[] {
  const found: string[] = [];
  const inodes: string[] = [];
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
      if (portHex !== undefined && parseInt(portHex, 16) === port) {
        found.push(`${file.endsWith('6') ? 'udp6' : 'udp'} ${addr ?? '?'}`);
        inodes.push(line.trim().split(/\s+/)[9] ?? '');
      }
    }
  }
  if (owners) {
    const names = socketOwners(new Set(inodes.filter((i) => /^[1-9][0-9]*$/.test(i))));
    return found.map((f, i) => {
      const who = names.get(inodes[i] ?? '');
      return who === undefined ? f : `${f} (${who})`;
    });
  }
  return found;
}

/** MAX_PROCS bounds the processes socketOwners looks at (it runs on a bind failure only). */
const MAX_PROCS = 4096;

/**
 * socketOwners maps socket inodes to `pid N name` by reading /proc/<pid>/fd (only what this
 * process may read: as root, every process; otherwise its own user's). Never throws.
 */
export function socketOwners(inodes: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  if (inodes.size === 0) return out;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).slice(0, MAX_PROCS);
  } catch {
    return out;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[([0-9]+)\]$/.exec(target);
      if (!m || !inodes.has(m[1] as string) || out.has(m[1] as string)) continue;
      let name = '?';
      try {
        name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        // gone meanwhile
      }
      out.set(m[1] as string, `pid ${pid} ${name}`);
    }
    if (out.size === inodes.size) break;
  }
  return out;
}
