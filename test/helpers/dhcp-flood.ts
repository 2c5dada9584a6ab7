/**
 * dhcp-flood.ts (test helper script): an attacker for the DHCP-jam tests of issue 10, run
 * inside a namespace: `node dhcp-flood.js '<json FloodSpec>'`.
 *
 * It binds one UDP socket per source address and, for `durationMs`, sends `packets` Jitsi-style
 * DHCPINFORMs (contract §2.2 layout, written out here, not through src/dhcp) to server:port,
 * round-robin over the sources, each with a random chaddr and xid. ciaddr is the sending
 * address ('source') or the next address of a list (e.g. unused addresses of the served
 * subnet); giaddr is 0, the sending address ('source') or a fixed address. Sends are paced in
 * 10 ms slices and every send is bounded by the run's duration. It prints one JSON line:
 * {"event":"done","sent":N,"errors":N,"ms":N}.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

/** FloodSpec is the attacker's whole input (argv[2], JSON). */
export interface FloodSpec {
  readonly sources: readonly string[];
  readonly server: string;
  readonly port: number;
  readonly packets: number;
  readonly durationMs: number;
  readonly ciaddr: 'source' | readonly string[];
  readonly giaddr?: 'source' | string;
}

function quad(a: string): number[] {
  return a.split('.').map((p) => Number(p));
}

function inform(ciaddr: string, giaddr: string | undefined): Buffer {
  const b = Buffer.alloc(300);
  b.set([1, 1, 6, 0], 0); // BOOTREQUEST, Ethernet, hlen 6, hops 0
  randomBytes(4).copy(b, 4); // xid
  b.set(quad(ciaddr), 12);
  if (giaddr !== undefined) b.set(quad(giaddr), 24);
  const mac = randomBytes(6);
  mac[0] = ((mac[0] ?? 0) & 0xfc) | 0x02; // locally administered unicast
  mac.copy(b, 28);
  b.set([0x63, 0x82, 0x53, 0x63, 0x35, 0x01, 0x08, 0x37, 0x01, 0xe0, 0xff], 236);
  return b;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as FloodSpec;
  const sockets: Socket[] = [];
  for (const a of spec.sources) {
    const s = createSocket('udp4');
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.bind(0, a, () => resolve()));
    sockets.push(s);
  }
  const t0 = Date.now();
  let sent = 0;
  let errors = 0;
  let next = 0;
  const slices = Math.max(1, Math.ceil(spec.durationMs / 10));
  for (let slice = 0; slice < slices && next < spec.packets; slice++) {
    const due = Math.min(spec.packets, Math.ceil(((slice + 1) * spec.packets) / slices));
    const pending: Promise<void>[] = [];
    for (; next < due; next++) {
      const i = next % sockets.length;
      const s = sockets[i] as Socket;
      const src = spec.sources[i] as string;
      const ciaddr = spec.ciaddr === 'source' ? src : (spec.ciaddr[next % spec.ciaddr.length] as string);
      const giaddr = spec.giaddr === 'source' ? src : spec.giaddr;
      pending.push(
        new Promise((resolve) =>
          s.send(inform(ciaddr, giaddr), spec.port, spec.server, (err) => {
            if (err) errors++;
            else sent++;
            resolve();
          }),
        ),
      );
    }
    await Promise.all(pending);
    const wait = t0 + (slice + 1) * 10 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (Date.now() - t0 > spec.durationMs + 5000) break; // bounded in time whatever happens
  }
  for (const s of sockets) s.close();
  process.stdout.write(`${JSON.stringify({ event: 'done', sent, errors, ms: Date.now() - t0 })}\n`);
}

void main();
