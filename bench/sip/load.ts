/**
 * load.ts: a boot storm of SIP PnP phones against provisiond's SIP face (bench/sip/run.sh runs
 * it in the phones' namespace).
 *
 *   node dist/bench/sip/load.js '{"ips":["10.68.0.10",...],"mode":"open","rate":200,"seconds":10}'
 *   node dist/bench/sip/load.js '{"ips":[...],"mode":"closed","window":64,"seconds":10}'
 *
 * Each phone is a fresh Grandstream MAC (OUI c0:74:ad, so `phones.autoprovision: oui` answers
 * it) with its own Call-ID, sent from one socket per source address (round robin) to
 * 224.0.1.75:5060 with IP_MULTICAST_IF set. It times SUBSCRIBE → 200 and SUBSCRIBE → NOTIFY,
 * checks that the NOTIFY's body is a URL ending in `/` (the Grandstream folder), answers the NOTIFY
 * with 200, and never retransmits a SUBSCRIBE (a lost one counts as lost at `timeoutMs`).
 * Open loop: `rate` SUBSCRIBEs a second; closed loop: `window` phones outstanding at once. It
 * prints one JSON line: sent, answered (NOTIFY received), lost, bad (wrong body), answers per
 * second over the run, and p50/p90/p99/max in ms of both delays over every phone (a lost one at
 * `timeoutMs`). Bounded: at most 60 s and 200 000 phones. Written without src/sip (a load
 * generator must not share the code under test).
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

interface Spec {
  readonly ips: readonly string[];
  readonly mode: 'open' | 'closed';
  readonly rate?: number;
  readonly window?: number;
  readonly seconds: number;
  readonly timeoutMs?: number;
  readonly group?: string;
  readonly port?: number;
  /** macBase makes MACs unique across runs against one daemon (its table keys on Call-ID anyway). */
  readonly macBase?: number;
}

interface Phone {
  readonly sentAt: number;
  okAt: number | undefined;
  notifyAt: number | undefined;
  bad: boolean;
}

const MAX_PHONES = 200_000;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function headerOf(text: string, name: string, compact: string): string | undefined {
  const re = new RegExp(`^(?:${name}|${compact})[ \\t]*:[ \\t]*(.*)$`, 'im');
  return re.exec(text)?.[1]?.trim();
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const seconds = Math.min(Math.max(spec.seconds, 1), 60);
  const timeoutMs = spec.timeoutMs ?? 3000;
  const group = spec.group ?? '224.0.1.75';
  const port = spec.port ?? 5060;
  if (spec.ips.length === 0) throw new Error('ips: at least one source address');
  const sockets: { sock: Socket; ip: string; port: number }[] = [];
  const phones = new Map<string, Phone>();
  /** pending: Call-IDs sent and not yet answered (the closed loop's window). */
  const pending = new Set<string>();
  const started = performance.now();
  for (const ip of spec.ips) {
    const sock = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    sock.bind(0, ip);
    await once(sock, 'listening');
    sock.setMulticastInterface(ip);
    sock.setMulticastTTL(1);
    const entry = { sock, ip, port: sock.address().port };
    sockets.push(entry);
    sock.on('message', (msg, rinfo) => {
      const text = msg.toString('latin1');
      const callId = headerOf(text, 'Call-ID', 'i');
      const p = callId === undefined ? undefined : phones.get(callId);
      if (!p) return;
      const now = performance.now();
      if (text.startsWith('SIP/2.0 200')) {
        p.okAt ??= now;
        return;
      }
      if (!text.startsWith('NOTIFY ')) return;
      if (p.notifyAt === undefined) {
        p.notifyAt = now;
        pending.delete(callId as string);
        const body = text.slice(text.indexOf('\r\n\r\n') + 4);
        if (!/^https?:\/\/\S+\/$/.test(body)) p.bad = true;
      }
      // The phone's 200 to the NOTIFY (RFC 3261 §8.2.6), so the face stops retransmitting.
      const via = headerOf(text, 'Via', 'v') ?? '';
      const lines = [
        'SIP/2.0 200 OK',
        `Via: ${via.replace(/;rport(?=;|$)/, `;rport=${rinfo.port}`)};received=${rinfo.address}`,
        `From: ${headerOf(text, 'From', 'f') ?? ''}`,
        `To: ${headerOf(text, 'To', 't') ?? ''};tag=ld`,
        `Call-ID: ${callId ?? ''}`,
        `CSeq: ${headerOf(text, 'CSeq', 'cseq') ?? ''}`,
        'Content-Length: 0',
        '',
        '',
      ];
      entry.sock.send(Buffer.from(lines.join('\r\n')), rinfo.port, rinfo.address);
    });
  }

  let n = 0;
  const base = spec.macBase ?? Math.floor(Math.random() * 0x100000) * 0x10;
  const sendOne = (): void => {
    if (n >= MAX_PHONES) return;
    const s = sockets[n % sockets.length];
    if (!s) return;
    const mac = `C074AD${((base + n) & 0xffffff).toString(16).toUpperCase().padStart(6, '0')}`;
    const callId = `ld-${base}-${n}@${s.ip}`;
    n++;
    const text = [
      `SUBSCRIBE sip:MAC%3A${mac}@224.0.1.75 SIP/2.0`,
      `Via: SIP/2.0/UDP ${s.ip}:${s.port};branch=z9hG4bK-ld-${n};rport`,
      `From: <sip:MAC%3A${mac}@224.0.1.75>;tag=ld${n}`,
      `To: <sip:MAC%3A${mac}@224.0.1.75>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 SUBSCRIBE',
      `Contact: <sip:${s.ip}:${s.port}>`,
      'Max-Forwards: 70',
      'User-Agent: Grandstream GRP2614 1.0.5.15',
      'Expires: 0',
      'Event: ua-profile;profile-type="device";vendor="Grandstream";model="GRP2614";version="1.0.5.15"',
      'Accept: application/url',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    phones.set(callId, { sentAt: performance.now(), okAt: undefined, notifyAt: undefined, bad: false });
    pending.add(callId);
    s.sock.send(Buffer.from(text), port, group);
  };

  const endAt = started + seconds * 1000;
  if (spec.mode === 'open') {
    const rate = Math.min(Math.max(spec.rate ?? 100, 1), 20_000);
    // Paced in 10 ms ticks, catching up on the schedule (open loop: no waiting for answers).
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const now = performance.now();
        const due = Math.min(Math.floor(((now - started) / 1000) * rate), Math.floor(seconds * rate));
        while (n < due) sendOne();
        if (now >= endAt) {
          clearInterval(tick);
          resolve();
        }
      }, 10);
    });
  } else {
    const window = Math.min(Math.max(spec.window ?? 16, 1), 1024);
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const now = performance.now();
        for (const id of pending) if (now - (phones.get(id)?.sentAt ?? 0) >= timeoutMs) pending.delete(id); // lost: frees its slot
        if (now < endAt) while (pending.size < window && n < MAX_PHONES) sendOne();
        else {
          clearInterval(tick);
          resolve();
        }
      }, 1);
    });
  }
  const sendEnd = performance.now();
  // Wait for the stragglers (bounded by timeoutMs).
  const waitUntil = performance.now() + timeoutMs;
  while (performance.now() < waitUntil && pending.size > 0) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const s of sockets) s.sock.close();

  const all = [...phones.values()];
  const answered = all.filter((p) => p.notifyAt !== undefined && p.notifyAt - p.sentAt <= timeoutMs);
  const lastNotify = answered.reduce((m, p) => Math.max(m, p.notifyAt as number), 0);
  const notifyMs = all.map((p) => (p.notifyAt === undefined ? timeoutMs : Math.min(p.notifyAt - p.sentAt, timeoutMs))).sort((a, b) => a - b);
  const okMs = all.map((p) => (p.okAt === undefined ? timeoutMs : Math.min(p.okAt - p.sentAt, timeoutMs))).sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 100) / 100;
  const stats = (v: readonly number[]): Record<string, number> => ({ p50: r(percentile(v, 50)), p90: r(percentile(v, 90)), p99: r(percentile(v, 99)), max: r(v[v.length - 1] ?? Number.NaN) });
  process.stdout.write(
    `${JSON.stringify({
      mode: spec.mode,
      rate: spec.rate,
      window: spec.window,
      sources: sockets.length,
      seconds: r((sendEnd - started) / 1000),
      sent: all.length,
      answered: answered.length,
      lost: all.length - answered.length,
      bad: all.filter((p) => p.bad).length,
      answersPerSecond: r(answered.length / (((answered.length > 0 ? lastNotify : sendEnd) - started) / 1000)),
      notifyMs: stats(notifyMs),
      okMs: stats(okMs),
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
