/**
 * rtt.ts: DHCPINFORM → DHCPACK round-trip times at a fixed, gentle rate, for a DHCP face that
 * shares its host with other load (bench/dhcp/under-load.sh: the HTTP face saturated by wrk).
 *
 *   node dist/bench/dhcp/rtt.js SERVER PORT REPLY_PORT RATE SECONDS [TIMEOUT_MS]
 *
 * Sends the Jitsi client's 300-byte INFORM (a new xid each, ciaddr = 127.0.0.1 so the ACK is a
 * unicast to REPLY_PORT) RATE times a second for SECONDS, and prints one JSON line: sent,
 * answered, lost, and p50/p99/max in ms over every INFORM, a lost one counted at TIMEOUT_MS
 * (default 2000). Loopback only.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

function inform(xid: number): Buffer {
  const b = Buffer.alloc(300);
  b.set([1, 1, 6, 0]);
  b.writeUInt32BE(xid >>> 0, 4);
  b.set([127, 0, 0, 1], 12); // ciaddr
  b.set([2, 0, 0, 0xd7, (xid >> 8) & 0xff, xid & 0xff], 28); // chaddr
  b.set([0x63, 0x82, 0x53, 0x63, 0x35, 0x01, 0x08, 0x37, 0x01, 0xe0, 0xff], 236);
  return b;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const [server = '127.0.0.1', portArg, replyArg, rateArg = '50', secondsArg = '10', timeoutArg = '2000'] = process.argv.slice(2);
  const port = Number(portArg);
  const replyPort = Number(replyArg);
  const rate = Math.min(Number(rateArg), 1000);
  const seconds = Math.min(Number(secondsArg), 60);
  const timeoutMs = Number(timeoutArg);
  if (!(port > 0 && replyPort > 0 && rate > 0 && seconds > 0 && timeoutMs > 0)) throw new Error('usage: rtt.js SERVER PORT REPLY_PORT RATE SECONDS [TIMEOUT_MS]');
  const sock = createSocket({ type: 'udp4', reuseAddr: true });
  sock.bind(replyPort, '127.0.0.1');
  await once(sock, 'listening');
  const sentAt = new Map<number, bigint>();
  const rtts: number[] = [];
  sock.on('message', (m) => {
    const at = process.hrtime.bigint();
    if (m.length < 8 || m[0] !== 2) return;
    const xid = m.readUInt32BE(4);
    const t0 = sentAt.get(xid);
    if (t0 === undefined) return;
    sentAt.delete(xid);
    rtts.push(Number(at - t0) / 1e6);
  });
  const total = Math.round(rate * seconds);
  const base = (Date.now() & 0xffff) << 16;
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    const due = start + BigInt(Math.round((i * 1e9) / rate));
    const now = process.hrtime.bigint();
    if (due > now) await new Promise((r) => setTimeout(r, Number(due - now) / 1e6));
    const xid = (base + i) >>> 0;
    sentAt.set(xid, process.hrtime.bigint());
    sock.send(inform(xid), port, server);
  }
  await new Promise((r) => setTimeout(r, timeoutMs));
  sock.close();
  const lost = sentAt.size;
  const all = [...rtts.map((r) => Math.min(r, timeoutMs)), ...Array.from({ length: lost }, () => timeoutMs)].sort((a, b) => a - b);
  const r2 = (n: number): number => Math.round(n * 100) / 100;
  process.stdout.write(
    `${JSON.stringify({ sent: total, answered: rtts.length, lost, p50_ms: r2(percentile(all, 50)), p99_ms: r2(percentile(all, 99)), max_ms: r2(all[all.length - 1] ?? Number.NaN) })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
