/**
 * engine.ts: the DHCP face's sockets. decode → rate gate → handle → send; nothing else.
 * It runs where server.ts (DhcpFace) puts it: in a worker thread of its own (thread.ts), or on
 * the caller's event loop when a test injects a function (listInterfaces).
 *
 * Socket layout (Node's dgram has neither IP_PKTINFO nor SO_BINDTODEVICE):
 *  - one socket on 0.0.0.0:port receives broadcasts (the Jitsi client sends its INFORM to
 *    255.255.255.255:6767; a socket bound to an interface address never sees those);
 *  - one socket per served interface address, same port (SO_REUSEADDR), receives unicasts to
 *    that address and sends every reply for that interface, so a broadcast reply leaves
 *    through the interface the request came in on, with that interface's source address.
 * For a datagram that reached the wildcard socket, the receiving interface is inferred from
 * the source address, then ciaddr, then giaddr (the link the datagram came from is the link a
 * broadcast answer must leave through).
 *
 * Send path (issue 10, defect 1): a unicast to an address that does not answer ARP waits in
 * the kernel's neighbour queue, charged to the sending socket; once the socket's send buffer
 * is full, libuv keeps every further send in a user-space queue with no bound. So each socket
 * holds at most SEND_QUEUE_MAX waiting replies: beyond that a reply is dropped and counted
 * (`send-dropped:queue-full`), and the episode is logged once when it starts and once when it
 * ends. `acked` counts replies the kernel accepted (the send completed), `send-queued` those that
 * had to wait, `send-error` failed sends, `send-queue-max` the longest queue seen.
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { decode, type DhcpMessage } from './codec';
import { handle, type ServedInterface, type HandlerContext } from './handler';
import { buildUrlPlan, redactKeys, urlKeysOf, type UrlPlan, type UrlPlanInput } from '../urls/plan';
import { RateLimiter } from '../limits/ratelimit';
import { messageTypeName, Opt } from './options';
import { Op } from './codec';
import { Episode } from '../episode';
import { inCidr, formatIPv4, parseIPv4, type Cidr } from '../net/ipv4';
import { listHostInterfaces, selectInterfaces, type InterfaceLister } from '../net/interfaces';
import { udpPortHolders } from '../net/udpports';
import { ProvError, errorMessage } from '../errors';
import type { DhcpConfig } from './config';
import type { LogLevel } from '../log';

/** RECV_BUFFER asks the kernel for a 4 MiB receive buffer so bursts are not dropped (capped at rmem_max). */
const RECV_BUFFER = 4 << 20;
/** REFRESH_MS is how often interface addresses are re-read (hot-plug, DHCP-assigned addresses). */
const REFRESH_MS = 30_000;
/**
 * SEND_QUEUE_MAX bounds the replies waiting in one socket's user-space send queue. They only
 * wait when the kernel's send buffer is full, i.e. when replies are stuck (unresolved
 * neighbours); a short queue keeps a real client's ACK seconds, not minutes, behind them.
 */
export const SEND_QUEUE_MAX = 64;
/** QUEUE_QUIET_MS: a send-queue episode ends after this long without a dropped reply. */
const QUEUE_QUIET_MS = 5000;

/**
 * DhcpFaceConfig is the configuration the DHCP face reads: its own section and the inputs of
 * the URL choice (src/urls). The daemon passes the whole configuration, a structural superset.
 */
export interface DhcpFaceConfig extends UrlPlanInput {
  readonly dhcp: DhcpConfig;
  /** log.level: the daemon's level after a reload (the face's thread filters lines at it; see server.ts). */
  readonly log?: { readonly level: LogLevel };
}

/** LogFields are a log line's fields: plain data (they may cross a thread as a structured clone). */
export type LogFields = Record<string, unknown>;

/**
 * DhcpLog is the part of the logger the engine uses: a pino Logger, or thread.ts's stand-in that
 * posts each line to the main thread's logger.
 */
export interface DhcpLog {
  isLevelEnabled(level: 'debug'): boolean;
  debug(fields: LogFields, msg: string): void;
  info(fields: LogFields, msg: string): void;
  warn(fields: LogFields, msg: string): void;
  error(fields: LogFields, msg: string): void;
}

/** Served is where the engine serves: its port and interfaces (reported to the face on each (re)bind). */
export interface Served {
  readonly port: number;
  readonly interfaces: readonly ServedInterface[];
}

/** DhcpEngineOptions are the engine's dependencies. */
export interface DhcpEngineOptions {
  readonly config: DhcpFaceConfig;
  readonly log: DhcpLog;
  readonly listInterfaces?: InterfaceLister;
  /** checkPortFree turns "another process holds the port" into a startup error (default true). */
  readonly checkPortFree?: boolean;
  /** onBound is told each time the sockets are (re)bound: at start, on a reload or an interface change. */
  readonly onBound?: (served: Served) => void;
}

interface Bound {
  readonly port: number;
  readonly wildcard: Socket;
  /** tx maps an interface address (uint32) to its socket. */
  readonly tx: Map<number, Socket>;
  readonly ifaces: readonly ServedInterface[];
  /** links are the served interfaces' own subnets (the handler's on-link networks). */
  readonly links: readonly Cidr[];
  readonly signature: string;
}

/** answerableSubnets lists the served interfaces' subnets and the configured networks. */
function answerableSubnets(ifaces: readonly ServedInterface[], plan: UrlPlan): Cidr[] {
  return [...ifaces.map((i) => i.cidr), ...plan.networks.map((n) => n.cidr)];
}

interface State {
  readonly plan: UrlPlan;
  readonly limiter: RateLimiter;
  /** relayLimiter is the per-source bucket of requests otherwise limited per client (relayed, or from 0.0.0.0). */
  readonly relayLimiter: RateLimiter;
  readonly replyPort: number;
  readonly config: DhcpFaceConfig;
}

/** DhcpEngine is the DHCP responder's socket loop: DHCPINFORM in, DHCPACK with option 224 out. */
export class DhcpEngine {
  private readonly log: DhcpLog;
  private readonly listInterfaces: InterfaceLister;
  private state: State;
  private bound: Bound | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private subnetMemo: { b: Bound | undefined; st: State; subnets: readonly Cidr[] } | undefined;
  private readonly counters = new Map<string, number>();
  private readonly queueFull = new Episode(QUEUE_QUIET_MS);
  private readonly onSent = (err: Error | null): void => {
    if (err) {
      this.count('send-error');
      if (this.log.isLevelEnabled('debug')) this.log.debug({ err: errorMessage(err) }, 'reply not sent');
    } else {
      this.count('acked'); // the kernel took it: a completed send, not a queued one
    }
  };

  constructor(private readonly opts: DhcpEngineOptions) {
    this.log = opts.log;
    this.listInterfaces = opts.listInterfaces ?? listHostInterfaces;
    this.state = makeState(opts.config);
  }

  /** port is the bound UDP port (useful when the config asked for port 0 in tests). */
  get port(): number | undefined {
    return this.bound?.port;
  }

  /** interfaces lists the served interfaces, for logs and tests. */
  get interfaces(): readonly ServedInterface[] {
    return this.bound?.ifaces ?? [];
  }

  async start(): Promise<void> {
    const cfg = this.state.config.dhcp;
    if (this.opts.checkPortFree !== false && cfg.port !== 0) {
      const holders = udpPortHolders(cfg.port);
      if (holders.length > 0) {
        throw new ProvError('PROVD_ERR_DHCP_BIND', `dhcp.port ${cfg.port}/udp is already in use by another socket (${holders.join(', ')})`);
      }
    }
    this.bound = await this.bind(this.state.config);
    this.opts.onBound?.({ port: this.bound.port, interfaces: this.bound.ifaces });
    this.logServing();
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.refreshTimer.unref();
  }

  async reload(config: DhcpFaceConfig): Promise<void> {
    const next = makeState(config);
    const want = this.resolveInterfaces(config);
    const sig = signature(config.dhcp.port, want);
    if (this.bound && sig !== this.bound.signature) {
      const fresh = await this.bind(config, want); // throws: old sockets and state stay in place
      const old = this.bound;
      this.bound = fresh;
      this.opts.onBound?.({ port: fresh.port, interfaces: fresh.ifaces });
      await closeBound(old);
    }
    this.state = next;
    this.logServing();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.queueFull.stop();
    const b = this.bound;
    this.bound = undefined;
    if (b) await closeBound(b);
  }

  stats(): Record<string, number> {
    const b = this.bound;
    const queued = b ? [b.wildcard, ...b.tx.values()].reduce((n, s) => n + sendQueueCount(s), 0) : 0;
    return { ...Object.fromEntries(this.counters), 'send-queue': queued, 'send-queue-bound': SEND_QUEUE_MAX };
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  private logServing(): void {
    const b = this.bound;
    if (!b) return;
    this.log.info(
      {
        port: b.port,
        replyPort: this.state.replyPort,
        interfaces: b.ifaces.map((i) => `${i.name}=${formatIPv4(i.address)}/${i.cidr.prefix}`),
        // A URL may carry a tenant's provisioning key (dhcp.networks[].tenant): never log it.
        urls: Object.fromEntries(b.ifaces.map((i) => [i.name, redactKeys(urlFor(this.state, i), urlKeysOf(this.state.config))])),
      },
      'DHCP face serving',
    );
  }

  private resolveInterfaces(config: DhcpFaceConfig): ServedInterface[] {
    const sel = selectInterfaces(config.dhcp.interfaces, this.listInterfaces());
    if (!sel.ok) throw new ProvError('PROVD_ERR_DHCP_INTERFACE', `dhcp.interfaces: ${sel.error}`);
    if (sel.warning) this.log.warn({}, sel.warning);
    return sel.interfaces.map((h) => ({ name: h.name, address: h.address, cidr: h.cidr }));
  }

  private async bind(config: DhcpFaceConfig, ifaces = this.resolveInterfaces(config)): Promise<Bound> {
    const sockets: Socket[] = [];
    try {
      const wildcard = await this.open(null, '0.0.0.0', config.dhcp.port, sockets);
      const port = wildcard.address().port;
      const tx = new Map<number, Socket>();
      for (const iface of ifaces) {
        if (tx.has(iface.address)) continue;
        tx.set(iface.address, await this.open(iface, formatIPv4(iface.address), port, sockets));
      }
      return { port, wildcard, tx, ifaces, links: ifaces.map((i) => i.cidr), signature: signature(config.dhcp.port, ifaces) };
    } catch (err) {
      await Promise.all(sockets.map((s) => closeSocket(s)));
      if (err instanceof ProvError) throw err;
      throw new ProvError('PROVD_ERR_DHCP_BIND', `cannot bind dhcp.port ${config.dhcp.port}/udp: ${errorMessage(err)}`, { cause: err });
    }
  }

  private open(iface: ServedInterface | null, address: string, port: number, sockets: Socket[]): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: RECV_BUFFER });
      sockets.push(s);
      const onBindError = (err: Error): void => reject(new ProvError('PROVD_ERR_DHCP_BIND', `cannot bind ${address}:${port}/udp: ${errorMessage(err)}`, { cause: err }));
      s.once('error', onBindError);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', onBindError);
        s.on('error', (err) => {
          this.count('socket-error');
          this.log.warn({ err: errorMessage(err), address }, 'DHCP socket error');
        });
        s.setBroadcast(true);
        s.on('message', (msg, rinfo) => this.onMessage(iface, msg, rinfo));
        resolve(s);
      });
    });
  }

  /** onMessage is the whole receive path; nothing thrown here can reach the socket. */
  private onMessage(via: ServedInterface | null, buf: Buffer, rinfo: RemoteInfo): void {
    this.count('received');
    try {
      const d = decode(buf);
      if (!d.ok) {
        this.count(`malformed:${d.error.code}`);
        if (this.log.isLevelEnabled('debug')) this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, bytes: buf.length, reason: d.error.code, detail: d.error.detail }, 'malformed datagram dropped');
        return;
      }
      const m = d.message;
      const st = this.state;
      if (m.op !== Op.BootRequest) {
        this.count('ignored:not-request'); // a reply (another server's, or our own relayed back) costs no token
        return;
      }
      // Relayed clients, and clients with no address yet, share a source address: key them by
      // hardware address so that one of them flooding cannot silence the others...
      const perClient = m.giaddr !== 0 || rinfo.address === '0.0.0.0';
      const verdict = st.limiter.take(perClient ? `hw:${m.chaddr.toString('hex', 0, 16)}` : rinfo.address);
      if (verdict !== 'allow') {
        this.count('rate-limited');
        if (verdict === 'refuse-first') this.log.warn({ from: rinfo.address }, 'DHCP flood from one source: rate-limiting it');
        return;
      }
      // ...and, since a chaddr costs nothing to invent, by source address as well, with a bucket
      // sized for a relay agent forwarding many clients (dhcp.relayRateLimit).
      if (perClient) {
        const v = st.relayLimiter.take(rinfo.address);
        if (v !== 'allow') {
          this.count('rate-limited:relay');
          if (v === 'refuse-first') this.log.warn({ from: rinfo.address }, 'DHCP flood through one relay (or from 0.0.0.0): rate-limiting it');
          return;
        }
      }
      const source = parseIPv4(rinfo.address) ?? 0;
      const targets = via ? [via] : this.inferInterfaces(m, source);
      if (targets.length === 0) {
        this.count('ignored:not-served');
        if (this.log.isLevelEnabled('debug')) this.log.debug({ from: rinfo.address }, 'request for an interface that is not served');
        return;
      }
      for (const iface of targets) this.answer(m, iface, st, rinfo, source);
    } catch (err) {
      this.count('internal-error');
      this.log.error({ err: errorMessage(err), from: rinfo.address }, 'DHCP request failed');
    }
  }

  private answer(m: DhcpMessage, iface: ServedInterface, st: State, rinfo: RemoteInfo, source: number): void {
    const b = this.bound;
    const ctx: HandlerContext = {
      plan: st.plan,
      iface,
      serverPort: b?.port ?? 0,
      replyPort: st.replyPort,
      subnets: this.subnets(b, st),
      links: b?.links ?? [],
      source,
    };
    const r = handle(m, ctx);
    if (r.kind === 'ignore') {
      this.count(r.reason === 'not-inform' ? `ignored:${messageTypeName(m.options.get(Opt.MessageType)?.[0] ?? 0)}` : `ignored:${r.reason}`);
      if (this.log.isLevelEnabled('debug')) this.log.debug({ from: rinfo.address, reason: r.reason, detail: r.detail }, 'request ignored');
      return;
    }
    const sock = b?.tx.get(iface.address) ?? b?.wildcard;
    if (!sock) return;
    const waiting = sendQueueCount(sock);
    if (waiting >= SEND_QUEUE_MAX) {
      this.count('send-dropped:queue-full');
      this.onQueueFull(iface, waiting);
      return;
    }
    if (waiting > 0) this.count('send-queued');
    if (waiting + 1 > (this.counters.get('send-queue-max') ?? 0)) this.counters.set('send-queue-max', waiting + 1);
    sock.send(r.packet, r.to.port, r.to.address, this.onSent);
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ from: rinfo.address, xid: m.xid.toString(16), to: `${r.to.address}:${r.to.port}`, iface: iface.name }, 'DHCPINFORM answered');
    }
  }

  /** onQueueFull logs the first dropped reply of an episode and, once it is over, a summary. */
  private onQueueFull(iface: ServedInterface, waiting: number): void {
    if (!this.queueFull.hit()) return;
    this.log.warn(
      { iface: iface.name, waiting, bound: SEND_QUEUE_MAX },
      'DHCP replies dropped: send queue full (replies wait for the kernel, e.g. unicasts to addresses that answer no ARP); one line per episode, each drop counted as send-dropped:queue-full',
    );
    this.queueFull.watch((ended) => this.log.info({ dropped: ended.events, ms: ended.ms }, 'DHCP send queue drained: replies flow again'));
  }

  private inferInterfaces(m: DhcpMessage, source: number): readonly ServedInterface[] {
    const ifaces = this.bound?.ifaces ?? [];
    if (ifaces.length <= 1) return ifaces;
    for (const probe of [source, m.ciaddr, m.giaddr]) {
      if (!probe) continue;
      const hit = ifaces.find((i) => inCidr(probe, i.cidr));
      if (hit) return [hit];
    }
    // A client with no address on a multi-homed host: answer on every served link;
    // only the requester matches the xid.
    return m.ciaddr === 0 && m.giaddr === 0 ? ifaces : [];
  }

  /** subnets memoises answerableSubnets for the current sockets and state (both swap atomically). */
  private subnets(b: Bound | undefined, st: State): readonly Cidr[] {
    const memo = this.subnetMemo;
    if (memo && memo.b === b && memo.st === st) return memo.subnets;
    const subnets = b ? answerableSubnets(b.ifaces, st.plan) : [];
    this.subnetMemo = { b, st, subnets };
    return subnets;
  }

  private async refresh(): Promise<void> {
    if (this.closed || !this.bound) return;
    try {
      const want = this.resolveInterfaces(this.state.config);
      if (signature(this.state.config.dhcp.port, want) === this.bound.signature) return;
      this.log.info({}, 'interface addresses changed; rebinding the DHCP face');
      await this.reload(this.state.config);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'interface refresh failed; still serving the previous interfaces');
    }
  }
}

function makeState(config: DhcpFaceConfig): State {
  return {
    plan: buildUrlPlan(config),
    limiter: new RateLimiter(config.dhcp.rateLimit),
    relayLimiter: new RateLimiter(config.dhcp.relayRateLimit),
    replyPort: config.dhcp.replyPort,
    config,
  };
}

function urlFor(st: State, iface: ServedInterface): string {
  return (st.plan.networks.find((n) => inCidr(iface.address, n.cidr))?.url ?? st.plan.url ?? st.plan.defaultUrl(iface.address)).toString('utf8');
}

/** sendQueueCount is how many replies wait in a socket's user-space queue (0 once it is closed). */
function sendQueueCount(s: Socket): number {
  try {
    return s.getSendQueueCount();
  } catch {
    return 0; // not bound or already closed
  }
}

function signature(port: number, ifaces: readonly ServedInterface[]): string {
  return `${port}|${ifaces.map((i) => `${i.name}=${i.address}/${i.cidr.prefix}`).join(',')}`;
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

async function closeBound(b: Bound): Promise<void> {
  await Promise.all([b.wildcard, ...b.tx.values()].map((s) => closeSocket(s)));
}
