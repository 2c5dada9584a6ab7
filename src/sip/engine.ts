/**
 * engine.ts: the SIP face's sockets and transactions. decode → rate gate → classify → ask →
 * 200 + NOTIFY; nothing else. It runs in a worker thread of its own (thread.ts; server.ts is the
 * face), so a main loop saturated by HTTP never delays a phone's answer; the one thing it needs
 * from the main thread (who gets an answer, and the URL: the store) it asks by message,
 * bounded in flight.
 *
 * Socket layout (sip-phones.md §2.4; Node's dgram has neither IP_PKTINFO nor SO_BINDTODEVICE):
 *  - one socket bound to 224.0.1.75:port with SO_REUSEADDR, joined to the group on each served
 *    interface address: it receives only datagrams sent to the group, so a PBX on the same host
 *    (bound to 0.0.0.0:5060 or its address, with SO_REUSEADDR too) keeps receiving its unicast
 *    traffic. A PBX that bound without SO_REUSEADDR makes our bind fail: a startup error naming
 *    the holder (src/net/udpports.ts). The receiving interface is the served one whose subnet
 *    holds the source (PnP is same-link only, §2.4);
 *  - one socket per served interface address on `sip.replyPort` (0: a port the kernel picks):
 *    every answer leaves from it, and the phone's 200 to our NOTIFY comes back to it (our Via
 *    and Contact name it). Unicast requests reaching it are answered (OPTIONS 200, others
 *    405/481/489); multicast ones never get an error (§2: no error storm).
 *
 * Transactions: a SUBSCRIBE is keyed by Call-ID and From tag in a bounded table (MAX_ENTRIES)
 * whose entries expire ENTRY_TTL_MS after creation. A retransmission (or a new CSeq in the same
 * dialog) while the question is pending is dropped; once answered it gets the same 200 again
 * (same To-tag) and no second NOTIFY; once refused, nothing. The NOTIFY is retransmitted on
 * RFC 3261 §17.1.2.2's non-INVITE timers (T1 = 500 ms doubling up to T2 = 4 s; a provisional
 * response moves it to T2) until a final response, and given up at 64·T1 (Timer F).
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { decodeSip, encodeSip, newBranch, newTag, responseTarget, SIP_MCAST_GROUP, type SipResponse } from './codec';
import { classify, pnpNotify, pnpOk, type Endpoint, type LocalPlace, type PnpSubscribe } from './pnp';
import { RateLimiter } from '../limits/ratelimit';
import { Episode } from '../episode';
import { formatIPv4, inCidr, parseIPv4, type Cidr } from '../net/ipv4';
import { listHostInterfaces, selectInterfaces, type InterfaceLister } from '../net/interfaces';
import { udpPortHolders } from '../net/udpports';
import { ProvError, errorMessage } from '../errors';
import type { SipConfig } from './config';
import type { LogLevel } from '../log';

/** T1 / T2 are RFC 3261 §17.1.1.1's round-trip estimate and the non-INVITE retransmission cap. */
export const T1_MS = 500;
export const T2_MS = 4000;
/**
 * MAX_ENTRIES bounds the subscription table (about 600 bytes an entry once its NOTIFY is done:
 * some 20 MB when full); a new SUBSCRIBE beyond it is dropped and counted.
 */
export const MAX_ENTRIES = 32_768;
/** ENTRY_TTL_MS: an entry outlives its NOTIFY's whole retransmission (64·T1) plus the question. */
const ENTRY_TTL_MS = 64 * T1_MS + 8000;
/**
 * DONE_TTL_MS: once the phone answered the NOTIFY it has the 200 too (it sent the SUBSCRIBE's
 * retransmissions before): its entry is kept this long only, for a copy still in flight. So the
 * table holds a boot storm's phones for seconds, not for 40 s each.
 */
const DONE_TTL_MS = 8000;
/** ASK_IN_FLIGHT bounds the questions to the main thread awaiting an answer. */
export const ASK_IN_FLIGHT = 256;
/** ASK_TIMEOUT_MS: a question unanswered this long is given up (the phone retransmits). */
const ASK_TIMEOUT_MS = 3000;
/** SEND_QUEUE_MAX bounds the answers waiting in one socket's user-space send queue (see src/dhcp/engine.ts). */
export const SEND_QUEUE_MAX = 64;
/** RECV_BUFFER asks for a 1 MiB receive buffer (boot storms: a whole floor of phones at once). */
const RECV_BUFFER = 1 << 20;
/** REFRESH_MS: how often interface addresses are re-read. */
const REFRESH_MS = 30_000;
/** SWEEP_MS: how often expired entries are removed. */
const SWEEP_MS = 1000;

/** SipFaceConfig is what the engine reads (the daemon passes the whole configuration). */
export interface SipFaceConfig {
  readonly sip: SipConfig;
  readonly log?: { readonly level: LogLevel };
}

/** LogFields are plain data (they cross a thread). */
export type LogFields = Record<string, unknown>;

/** SipLog is the part of a logger the engine uses. */
export interface SipLog {
  isLevelEnabled(level: 'debug'): boolean;
  debug(fields: LogFields, msg: string): void;
  info(fields: LogFields, msg: string): void;
  warn(fields: LogFields, msg: string): void;
  error(fields: LogFields, msg: string): void;
}

/** AskQuery is the question put to the main thread (src/phones/pnp.ts decides). */
export interface AskQuery {
  readonly mac: string;
  readonly ip: string;
  readonly vendorHint?: string | undefined;
  readonly modelHint?: string | undefined;
  /** iface is the receiving interface's address (the default base URL's host). */
  readonly iface: string;
  readonly userAgent?: string | undefined;
}

/** AskAnswer is the main thread's answer. */
export type AskAnswer = { readonly ok: true; readonly url: string; readonly vendor: string } | { readonly ok: false; readonly reason: string };

/** ServedInterface is one interface address the face serves. */
export interface ServedInterface {
  readonly name: string;
  readonly address: string;
  readonly cidr: Cidr;
}

/** Served is where the engine serves (reported on each bind). */
export interface Served {
  readonly port: number;
  readonly interfaces: readonly (ServedInterface & { readonly replyPort: number })[];
}

/** SipEngineOptions are the engine's dependencies. */
export interface SipEngineOptions {
  readonly config: SipFaceConfig;
  readonly log: SipLog;
  /** ask puts a question to the main thread; undefined = no answer (busy, timed out). */
  readonly ask: (q: AskQuery) => Promise<AskAnswer | undefined>;
  readonly listInterfaces?: InterfaceLister;
  readonly checkPortFree?: boolean;
  readonly onBound?: (served: Served) => void;
}

interface Tx {
  readonly iface: ServedInterface;
  readonly socket: Socket;
  readonly port: number;
}

interface Bound {
  readonly port: number;
  readonly group: Socket;
  readonly tx: Map<string, Tx>;
  readonly ifaces: readonly ServedInterface[];
  readonly signature: string;
}

interface Notify {
  readonly branch: string;
  readonly packet: Buffer;
  readonly to: Endpoint;
  readonly tx: Tx;
  readonly started: number;
  interval: number;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

interface Entry {
  readonly key: string;
  expires: number;
  state: 'asking' | 'answered' | 'refused';
  toTag: string;
  ok: Buffer | undefined;
  okCseq: number;
  notify: Notify | undefined;
}

/** SipEngine is the PnP responder's socket loop. */
export class SipEngine {
  private readonly log: SipLog;
  private readonly listInterfaces: InterfaceLister;
  private config: SipFaceConfig;
  private limiter: RateLimiter;
  private bound: Bound | undefined;
  private closed = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly notifies = new Map<string, { entry: Entry; notify: Notify }>();
  private asking = 0;
  private lastSweep = 0;
  private readonly counters = new Map<string, number>();
  private readonly queueFull = new Episode(5000);
  private readonly flood = new Episode(5000);

  constructor(private readonly opts: SipEngineOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.listInterfaces = opts.listInterfaces ?? listHostInterfaces;
    this.limiter = new RateLimiter(opts.config.sip.rateLimit);
  }

  /** port is the group socket's port. */
  get port(): number | undefined {
    return this.bound?.port;
  }

  async start(): Promise<void> {
    const cfg = this.config.sip;
    this.bound = await this.bind(this.config);
    this.opts.onBound?.(this.served(this.bound));
    this.logServing();
    if (this.opts.checkPortFree !== false && cfg.port !== 0) {
      // Sharing the port (both sides with SO_REUSEADDR) is the design; say with whom.
      const others = udpPortHolders(this.bound.port).filter((h) => !h.includes(groupHex()));
      if (others.length > 0) this.log.info({ port: this.bound.port, sharedWith: others }, 'SIP port shared with other sockets (a PBX?): they keep their unicast traffic, the group socket gets 224.0.1.75 only');
    }
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.refreshTimer.unref();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  async reload(config: SipFaceConfig): Promise<void> {
    const want = this.resolveInterfaces(config);
    const sig = signature(config.sip, want);
    if (this.bound && sig !== this.bound.signature) {
      const fresh = await this.bind(config, want);
      const old = this.bound;
      this.bound = fresh;
      this.opts.onBound?.(this.served(fresh));
      await closeBound(old);
    }
    this.config = config;
    this.limiter = new RateLimiter(config.sip.rateLimit);
    this.logServing();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.queueFull.stop();
    this.flood.stop();
    for (const { notify } of this.notifies.values()) this.stopNotify(notify);
    this.notifies.clear();
    this.entries.clear();
    const b = this.bound;
    this.bound = undefined;
    if (b) await closeBound(b);
  }

  stats(): Record<string, number> {
    return { ...Object.fromEntries(this.counters), transactions: this.entries.size, 'transactions-bound': MAX_ENTRIES, asking: this.asking };
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  private served(b: Bound): Served {
    return { port: b.port, interfaces: b.ifaces.map((i) => ({ ...i, replyPort: b.tx.get(i.address)?.port ?? 0 })) };
  }

  private logServing(): void {
    const b = this.bound;
    if (!b) return;
    this.log.info(
      { group: SIP_MCAST_GROUP, port: b.port, interfaces: b.ifaces.map((i) => `${i.name}=${i.address}/${i.cidr.prefix} reply port ${b.tx.get(i.address)?.port ?? '?'}`) },
      'SIP face serving (PnP ua-profile responder)',
    );
  }

  private resolveInterfaces(config: SipFaceConfig): ServedInterface[] {
    const sel = selectInterfaces(config.sip.interfaces, this.listInterfaces());
    if (!sel.ok) throw new ProvError('PROVD_ERR_SIP_INTERFACE', `sip.interfaces: ${sel.error}`);
    if (sel.warning) this.log.warn({}, sel.warning);
    const seen = new Set<string>();
    const out: ServedInterface[] = [];
    for (const h of sel.interfaces) {
      const address = formatIPv4(h.address);
      if (seen.has(address)) continue;
      seen.add(address);
      out.push({ name: h.name, address, cidr: h.cidr });
    }
    return out;
  }

  private async bind(config: SipFaceConfig, ifaces = this.resolveInterfaces(config)): Promise<Bound> {
    const sockets: Socket[] = [];
    const sip = config.sip;
    try {
      const group = await this.open(SIP_MCAST_GROUP, sip.port, true, sockets, (m, r) => this.onMessage(m, r, true, undefined));
      const port = group.address().port;
      const joined = new Set<string>();
      for (const i of ifaces) {
        // One membership per interface: a second address of the same interface would be a
        // second join of the same link (EADDRINUSE).
        if (joined.has(i.name)) continue;
        joined.add(i.name);
        try {
          group.addMembership(SIP_MCAST_GROUP, i.address);
        } catch (err) {
          throw new ProvError('PROVD_ERR_SIP_BIND', `cannot join ${SIP_MCAST_GROUP} on ${i.name} (${i.address}): ${errorMessage(err)} (no multicast on the interface?)`, { cause: err });
        }
      }
      const tx = new Map<string, Tx>();
      for (const i of ifaces) {
        let self: Tx | undefined;
        const s = await this.open(i.address, sip.replyPort, false, sockets, (m, r) => this.onMessage(m, r, false, self));
        self = { iface: i, socket: s, port: s.address().port };
        tx.set(i.address, self);
      }
      return { port, group, tx, ifaces, signature: signature(sip, ifaces) };
    } catch (err) {
      await Promise.all(sockets.map((s) => closeSocket(s)));
      if (err instanceof ProvError) throw err;
      throw new ProvError('PROVD_ERR_SIP_BIND', `cannot bind the SIP face: ${errorMessage(err)}`, { cause: err });
    }
  }

  private open(address: string, port: number, reuse: boolean, sockets: Socket[], onMessage: (m: Buffer, r: RemoteInfo) => void): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4', reuseAddr: reuse, recvBufferSize: RECV_BUFFER });
      sockets.push(s);
      const onBindError = (err: Error): void => {
        const holders = port === 0 ? [] : udpPortHolders(port, undefined, true);
        const who = holders.length > 0 ? `; held by ${holders.join(', ')}` : '';
        const hint = reuse ? ' (a process bound it without SO_REUSEADDR: the PnP face can share the port only with sockets that allow reuse)' : '';
        reject(new ProvError('PROVD_ERR_SIP_BIND', `cannot bind ${address}:${port}/udp: ${errorMessage(err)}${who}${hint}`, { cause: err }));
      };
      s.once('error', onBindError);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', onBindError);
        s.on('error', (err) => {
          this.count('socket-error');
          this.log.warn({ err: errorMessage(err), address }, 'SIP socket error');
        });
        s.on('message', onMessage);
        resolve(s);
      });
    });
  }

  /** txFor is the reply socket of the served interface holding `ip`. */
  private txFor(ip: string): Tx | undefined {
    const b = this.bound;
    if (!b) return undefined;
    const a = parseIPv4(ip);
    if (a === undefined) return undefined;
    const iface = b.ifaces.find((i) => inCidr(a, i.cidr));
    return iface ? b.tx.get(iface.address) : undefined;
  }

  /** onMessage is the whole receive path; nothing thrown here reaches the socket. */
  private onMessage(buf: Buffer, rinfo: RemoteInfo, multicast: boolean, arrived: Tx | undefined): void {
    this.count('received');
    try {
      const src: Endpoint = { address: rinfo.address, port: rinfo.port };
      const verdict = this.limiter.take(rinfo.address);
      if (verdict !== 'allow') {
        this.count('rate-limited');
        if (this.flood.hit()) {
          this.log.warn({ from: rinfo.address }, 'SIP flood from one source: rate-limiting it (one line per episode, each datagram counted as rate-limited)');
          this.flood.watch((e) => this.log.info({ dropped: e.events, ms: e.ms }, 'SIP flood over'));
        }
        return;
      }
      const d = decodeSip(buf);
      if (!d.ok) {
        this.count(`malformed:${d.error.code}`);
        if (this.log.isLevelEnabled('debug')) this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, bytes: buf.length, reason: d.error.code, detail: d.error.detail }, 'malformed SIP datagram dropped');
        return;
      }
      const tx = arrived ?? this.txFor(rinfo.address);
      const c = classify(d.message, src, multicast, newTag());
      switch (c.kind) {
        case 'drop':
          this.count(c.reason);
          if (this.log.isLevelEnabled('debug')) this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, reason: c.reason, detail: c.detail }, 'SIP datagram dropped');
          return;
        case 'reply':
          if (!tx) {
            this.count('ignored:not-served');
            return;
          }
          this.count(c.reason);
          this.send(tx, encodeSip(c.response), c.to);
          return;
        case 'response':
          this.onResponse(c.res, c.branch);
          return;
        case 'subscribe':
          if (!tx) {
            this.count('ignored:not-served');
            if (this.log.isLevelEnabled('debug')) this.log.debug({ from: rinfo.address }, 'PnP SUBSCRIBE from outside every served subnet');
            return;
          }
          this.onSubscribe(c.sub, src, tx);
          return;
      }
    } catch (err) {
      this.count('internal-error');
      this.log.error({ err: errorMessage(err), from: rinfo.address }, 'SIP datagram failed');
    }
  }

  private onSubscribe(sub: PnpSubscribe, src: Endpoint, tx: Tx): void {
    const now = performance.now();
    const have = this.entries.get(sub.key);
    if (have !== undefined && have.expires > now) {
      if (have.state === 'asking') this.count('retransmit:pending');
      else if (have.state === 'refused') this.count('retransmit:refused');
      else {
        this.count('retransmit:subscribe');
        // The same 200 again (a new CSeq gets its own, with the same To-tag); never a second NOTIFY.
        const ok = have.okCseq === sub.cseq && have.ok ? have.ok : encodeSip(pnpOk(sub, src, have.toTag, this.local(tx)));
        this.send(tx, ok, this.okTarget(sub, src));
      }
      return;
    }
    if (have !== undefined) this.drop(have);
    if (this.entries.size >= MAX_ENTRIES) {
      if (now - this.lastSweep >= 100) this.sweep(); // at most 10 full passes a second under a flood
      if (this.entries.size >= MAX_ENTRIES) {
        this.count('dropped:table-full');
        return;
      }
    }
    if (this.asking >= ASK_IN_FLIGHT) {
      this.count('dropped:ask-busy');
      return;
    }
    const entry: Entry = { key: sub.key, expires: now + ENTRY_TTL_MS, state: 'asking', toTag: '', ok: undefined, okCseq: sub.cseq, notify: undefined };
    this.entries.set(sub.key, entry);
    this.asking++;
    this.count('asked');
    const q: AskQuery = { mac: sub.mac, ip: src.address, vendorHint: sub.hints.vendor, modelHint: sub.hints.model, iface: tx.iface.address, userAgent: sub.userAgent };
    // `asking` counts questions until their answer arrives, late ones included: the main
    // thread's message queue never holds more than ASK_IN_FLIGHT of ours. The phone, though,
    // is given up on after ASK_TIMEOUT_MS (its retransmission asks again once one is free).
    let settled = false;
    const timer = setTimeout(() => finish(undefined, 'ask-timeout'), ASK_TIMEOUT_MS);
    const finish = (a: AskAnswer | undefined, failure?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (this.closed || this.entries.get(sub.key) !== entry) return;
      if (a === undefined) {
        this.count(failure ?? 'ask-failed');
        this.entries.delete(sub.key); // the phone retransmits: ask again then
        return;
      }
      if (!a.ok) {
        entry.state = 'refused';
        this.count(`refused:${a.reason}`);
        this.log.info({ mac: sub.mac, from: `${src.address}:${src.port}`, reason: a.reason, vendorHint: sub.hints.vendor }, 'PnP SUBSCRIBE refused: no answer sent');
        return;
      }
      this.answer(sub, src, tx, entry, a);
    };
    const answered = (a: AskAnswer | undefined): void => {
      this.asking--;
      finish(a);
    };
    this.opts.ask(q).then(answered, () => answered(undefined));
  }

  private okTarget(sub: PnpSubscribe, src: Endpoint): Endpoint {
    // RFC 3581 §4 / RFC 3261 §18.2.2: rport → the source port, else the Via's sent-by port.
    return responseTarget(sub.via, src);
  }

  private local(tx: Tx): LocalPlace {
    return { address: tx.iface.address, port: tx.port };
  }

  private answer(sub: PnpSubscribe, src: Endpoint, tx: Tx, entry: Entry, a: { url: string; vendor: string }): void {
    entry.state = 'answered';
    entry.toTag = newTag();
    const ok = encodeSip(pnpOk(sub, src, entry.toTag, this.local(tx)));
    entry.ok = ok;
    entry.okCseq = sub.cseq;
    this.send(tx, ok, this.okTarget(sub, src));
    this.count('ok-sent');
    const branch = newBranch();
    // §2.2 step 3: the NOTIFY goes to the datagram's source address and port (Grandstream: 5080).
    const packet = encodeSip(pnpNotify(sub, src, a.url, { toTag: entry.toTag, branch, form: this.config.sip.notifyForm }, this.local(tx)));
    const notify: Notify = { branch, packet, to: src, tx, started: performance.now(), interval: T1_MS, timer: undefined, done: false };
    entry.notify = notify;
    this.notifies.set(branch, { entry, notify });
    this.send(tx, packet, src);
    this.count('notify-sent');
    this.count('answered');
    // The main thread logged the decision at info (PnP URL handed out); one line per phone is enough.
    if (this.log.isLevelEnabled('debug')) this.log.debug({ mac: sub.mac, from: `${src.address}:${src.port}`, vendor: a.vendor }, 'PnP SUBSCRIBE answered: 200 and NOTIFY sent');
    this.armNotify(notify);
  }

  private armNotify(n: Notify): void {
    n.timer = setTimeout(() => {
      n.timer = undefined;
      if (n.done || this.closed) return;
      if (performance.now() - n.started >= 64 * T1_MS) {
        // RFC 3261 §17.1.2.2 Timer F: the transaction times out.
        n.done = true;
        this.notifies.delete(n.branch);
        this.count('notify-timeout');
        this.log.info({ to: `${n.to.address}:${n.to.port}` }, 'PnP NOTIFY never acknowledged (64·T1): given up');
        return;
      }
      this.send(n.tx, n.packet, n.to);
      this.count('notify-retransmit');
      n.interval = Math.min(n.interval * 2, T2_MS);
      this.armNotify(n);
    }, n.interval);
    n.timer.unref();
  }

  private stopNotify(n: Notify): void {
    n.done = true;
    if (n.timer) clearTimeout(n.timer);
    n.timer = undefined;
    this.notifies.delete(n.branch);
  }

  private onResponse(res: SipResponse, branch: string | undefined): void {
    const hit = branch === undefined ? undefined : this.notifies.get(branch);
    if (!hit) {
      this.count('ignored:stray-response');
      return;
    }
    const n = hit.notify;
    if (res.status < 200) {
      // RFC 3261 §17.1.2.2: after a provisional response, retransmit at T2.
      this.count('notify-provisional');
      n.interval = T2_MS;
      return;
    }
    this.stopNotify(n);
    hit.entry.notify = undefined; // its packet is no longer needed
    hit.entry.expires = Math.min(hit.entry.expires, performance.now() + DONE_TTL_MS);
    if (res.status < 300) this.count('notify-acked');
    else {
      this.count('notify-refused');
      this.log.info({ to: `${n.to.address}:${n.to.port}`, status: res.status, reason: res.reason.slice(0, 64) }, 'PnP NOTIFY refused by the phone');
    }
  }

  private drop(e: Entry): void {
    if (e.notify) this.stopNotify(e.notify);
    this.entries.delete(e.key);
  }

  /** sweep removes expired entries (a full pass: an answered entry expires early, see DONE_TTL_MS). */
  private sweep(): void {
    const now = performance.now();
    this.lastSweep = now;
    for (const e of this.entries.values()) if (e.expires <= now) this.drop(e);
  }

  private send(tx: Tx, packet: Buffer, to: Endpoint): void {
    const waiting = sendQueueCount(tx.socket);
    if (waiting >= SEND_QUEUE_MAX) {
      this.count('send-dropped:queue-full');
      if (this.queueFull.hit()) {
        this.log.warn({ iface: tx.iface.name, waiting }, 'SIP answers dropped: send queue full (one line per episode, counted as send-dropped:queue-full)');
        this.queueFull.watch((e) => this.log.info({ dropped: e.events, ms: e.ms }, 'SIP send queue drained'));
      }
      return;
    }
    tx.socket.send(packet, to.port, to.address, (err) => {
      if (err) {
        this.count('send-error');
        if (this.log.isLevelEnabled('debug')) this.log.debug({ err: errorMessage(err), to: `${to.address}:${to.port}` }, 'SIP answer not sent');
      }
    });
  }

  private async refresh(): Promise<void> {
    if (this.closed || !this.bound) return;
    try {
      const want = this.resolveInterfaces(this.config);
      if (signature(this.config.sip, want) === this.bound.signature) return;
      this.log.info({}, 'interface addresses changed; rebinding the SIP face');
      await this.reload(this.config);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'interface refresh failed; still serving the previous interfaces');
    }
  }
}

/** groupHex is 224.0.1.75 as /proc/net/udp writes a local address (little-endian hex). */
function groupHex(): string {
  return '4B0100E0';
}

function signature(sip: SipConfig, ifaces: readonly ServedInterface[]): string {
  return `${sip.port}|${sip.replyPort}|${ifaces.map((i) => `${i.name}=${i.address}/${i.cidr.prefix}`).join(',')}`;
}

function sendQueueCount(s: Socket): number {
  try {
    return s.getSendQueueCount();
  } catch {
    return 0;
  }
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

async function closeBound(b: Bound): Promise<void> {
  await Promise.all([b.group, ...[...b.tx.values()].map((t) => t.socket)].map((s) => closeSocket(s)));
}
