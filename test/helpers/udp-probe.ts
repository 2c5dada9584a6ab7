/**
 * udp-probe.ts: a tiny UDP client run *inside* a network namespace by the interop tests
 * (`ip netns exec NS node dist/test/helpers/udp-probe.js '<json ProbeSpec>'`, or `@file` for a
 * spec too large for the command line).
 *
 * It binds (like the Jitsi client: 0.0.0.0:6768, SO_BROADCAST), sends the given datagrams in
 * order, and records every datagram it receives until one carries the awaited xid (plus a short
 * linger), stdin closes, or the hard timeout fires. It prints one JSON line when it is bound
 * ({"event":"ready"}) and one with the report when it is done ({"event":"done",…}). It never
 * interprets DHCP beyond reading the xid at offset 4 and op at offset 0: the test asserts.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { readFileSync } from 'node:fs';

/** ProbeSend is one datagram to send. */
export interface ProbeSend {
  readonly address: string;
  readonly port: number;
  readonly hex: string;
}

/** ProbeSpec is the probe's whole input (argv[2], JSON). */
export interface ProbeSpec {
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly broadcast: boolean;
  readonly sends: readonly ProbeSend[];
  /** awaitXid stops the probe once a BOOTREPLY (op 2) with this xid is received. */
  readonly awaitXid?: number;
  /** lingerMs keeps listening this long after the awaited reply (to catch duplicates). */
  readonly lingerMs?: number;
  /** timeoutMs is the hard stop. */
  readonly timeoutMs: number;
  /** stopOnStdinEnd stops the probe when its stdin closes (the test's "you can stop now"). */
  readonly stopOnStdinEnd?: boolean;
}

/** ProbeDatagram is one received datagram. */
export interface ProbeDatagram {
  readonly address: string;
  readonly port: number;
  readonly hex: string;
  readonly atMs: number;
}

/** ProbeReport is the probe's final output line. */
export interface ProbeReport {
  readonly event: 'done';
  readonly bound: string;
  readonly sent: number;
  readonly sendErrors: readonly string[];
  readonly received: readonly ProbeDatagram[];
  readonly reason: 'xid' | 'timeout' | 'stdin' | 'error';
  readonly error?: string;
}

const MAX_RECEIVED = 1000;

/** parseSpec reads the spec from argv: inline JSON, or `@path` for a spec too large for argv. */
function parseSpec(arg: string | undefined): ProbeSpec {
  if (arg === undefined) throw new Error('usage: udp-probe.js <json spec> | @<spec file>');
  const text = arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg;
  return JSON.parse(text) as ProbeSpec;
}

function main(): void {
  const spec = parseSpec(process.argv[2]);
  const started = Date.now();
  const received: ProbeDatagram[] = [];
  const sendErrors: string[] = [];
  let sent = 0;
  let finished = false;
  let bound = '';
  const sock = createSocket({ type: 'udp4', reuseAddr: false });

  const finish = (reason: ProbeReport['reason'], error?: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(hard);
    const report: ProbeReport = { event: 'done', bound, sent, sendErrors, received, reason, ...(error === undefined ? {} : { error }) };
    process.stdout.write(`${JSON.stringify(report)}\n`, () => {
      try {
        sock.close();
      } catch {
        // not bound
      }
      process.exit(0);
    });
  };
  const hard = setTimeout(() => finish('timeout'), spec.timeoutMs);

  sock.on('error', (err) => finish('error', err.message));
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (finished) return;
    if (received.length < MAX_RECEIVED) received.push({ address: rinfo.address, port: rinfo.port, hex: msg.toString('hex'), atMs: Date.now() - started });
    if (spec.awaitXid !== undefined && msg.length >= 8 && msg[0] === 2 && msg.readUInt32BE(4) === spec.awaitXid >>> 0) {
      setTimeout(() => finish('xid'), spec.lingerMs ?? 0);
    }
  });
  if (spec.stopOnStdinEnd) {
    process.stdin.on('end', () => finish('stdin'));
    process.stdin.resume();
  }
  sock.bind({ address: spec.bindAddress, port: spec.bindPort, exclusive: true }, () => {
    sock.setBroadcast(spec.broadcast);
    const a = sock.address();
    bound = `${a.address}:${a.port}`;
    process.stdout.write(`${JSON.stringify({ event: 'ready', bound })}\n`);
    const sendNext = (i: number): void => {
      const s = spec.sends[i];
      if (s === undefined || finished) return;
      sock.send(Buffer.from(s.hex, 'hex'), s.port, s.address, (err) => {
        if (err) sendErrors.push(`#${i} to ${s.address}:${s.port}: ${err.message}`);
        else sent++;
        sendNext(i + 1);
      });
    };
    sendNext(0);
  });
}

main();
