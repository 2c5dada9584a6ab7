/**
 * engine.ts: the TFTP face's sockets and timers. decode → handler → ask the main thread → one
 * Transfer (transfer.ts) per request on an ephemeral socket. It runs in the face's worker thread
 * (thread.ts); `ask` is the message round trip to the main thread (server.ts), which alone holds
 * the store, the templates, the bans and the event log.
 *
 * Sockets: one per served interface address on `tftp.port` (Node's dgram has no IP_PKTINFO: a
 * socket bound to the address tells which address a request reached), and per transfer one
 * socket bound to that same address and a port the kernel picks (the server's TID, RFC 1350 §4),
 * so the client's DATA come from the address it asked.
 *
 * Bounds: transfers running (`tftp.maxTransfers`, per source `tftp.maxTransfersPerSource`: ERROR
 * 0 "busy" beyond), requests per source (`tftp.rateLimit`), asks in flight to the main thread
 * (MAX_ASKS: beyond, the request is dropped, counted, and the client's retransmitted RRQ tries
 * again), an ask's wait (ASK_TIMEOUT_MS), a static file's read-ahead (READ_AHEAD_MAX per
 * transfer), and a transfer's life (its retries). Every drop and refusal is counted.
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { decode, encodeError, ErrorCode, type TftpOption } from './codec';
import { classify, type Asked } from './handler';
import { Transfer, negotiate, bufferSource, type BlockSource, type Step, type TransferLimits, DEFAULT_LIMITS } from './transfer';
import { RateLimiter } from '../limits/ratelimit';
import { formatIPv4 } from '../net/ipv4';
import { listHostInterfaces, selectInterfaces, type InterfaceLister } from '../net/interfaces';
import { udpPortHolders } from '../net/udpports';
import { ProvError, errorMessage } from '../errors';
import type { TftpConfig } from './config';

/** MAX_ASKS bounds the requests waiting for the main thread's answer. */
export const MAX_ASKS = 64;
/** ASK_TIMEOUT_MS: a request the main thread has not answered by then is dropped (the client retries). */
const ASK_TIMEOUT_MS = 10_000;
/** READ_AHEAD_MIN / READ_AHEAD_MAX bound a static transfer's read-ahead chunk (it holds two). */
const READ_AHEAD_MIN = 64 * 1024;
const READ_AHEAD_MAX = 4 * 1024 * 1024;
/** READ_AHEAD_TOTAL bounds the read-ahead of all transfers together: a chunk is at most this / (2 × tftp.maxTransfers) (one block at least). */
export const READ_AHEAD_TOTAL = 64 * 1024 * 1024;
/** REFRESH_MS: how often interface addresses are re-read (as the DHCP face does). */
const REFRESH_MS = 30_000;
/** RECV_BUFFER asks the kernel for a 2 MiB receive buffer on the request sockets. */
const RECV_BUFFER = 2 << 20;

/** TftpFaceConfig is what the engine reads. */
export interface TftpEngineConfig {
  readonly tftp: TftpConfig;
}

/** LogFields are a log line's fields: plain data (they cross the thread as a structured clone). */
export type LogFields = Record<string, unknown>;

/** TftpLog is the part of a logger the engine uses (thread.ts posts each line to the main thread). */
export interface TftpLog {
  isLevelEnabled(level: 'debug'): boolean;
  debug(fields: LogFields, msg: string): void;
  info(fields: LogFields, msg: string): void;
  warn(fields: LogFields, msg: string): void;
  error(fields: LogFields, msg: string): void;
}

/** FileAsk is what the engine asks the main thread: a file, for a client, at one of our addresses. */
export interface FileAsk {
  readonly key: string | undefined;
  readonly file: string;
  readonly ip: string;
  /** local: the address the request reached (the rendered file's base URL uses it). */
  readonly local: string;
}

/** FileAnswer is the main thread's answer: bytes in memory, a static file to stream, or an ERROR. */
export type FileAnswer =
  | { readonly kind: 'data'; readonly body: Buffer }
  | { readonly kind: 'static'; readonly path: string }
  | { readonly kind: 'error'; readonly code: number; readonly message: string; readonly reason: string };

/** Served is where the engine serves (reported on each bind). */
export interface Served {
  readonly port: number;
  readonly addresses: readonly string[];
}

/** TftpEngineOptions are the engine's dependencies. */
export interface TftpEngineOptions {
  readonly config: TftpEngineConfig;
  readonly log: TftpLog;
  readonly ask: (a: FileAsk) => Promise<FileAnswer>;
  readonly listInterfaces?: InterfaceLister;
  readonly checkPortFree?: boolean;
  readonly onBound?: (served: Served) => void;
  /** now: the transfers' clock, ms (tests). */
  readonly now?: () => number;
}

/** Active is one request: being asked about, or transferring. */
interface Active {
  readonly ip: string;
  readonly port: number;
  readonly name: string;
  readonly started: number;
  size?: number;
  socket?: Socket;
  transfer?: Transfer;
  timer?: NodeJS.Timeout;
  file?: FileSource;
  ended: boolean;
}

/** FileSource streams a static file with bounded read-ahead (two block-aligned chunks). */
class FileSource implements BlockSource {
  private cur: { start: number; buf: Buffer } | undefined;
  private next: { start: number; buf: Buffer } | undefined;
  private reading: number | undefined;
  private closed = false;
  private readonly chunk: number;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    blksize: number,
    windowsize: number,
    maxTransfers: number,
    private readonly onReady: () => void,
    private readonly onError: (err: unknown) => void,
  ) {
    const want = Math.min(READ_AHEAD_MAX, Math.floor(READ_AHEAD_TOTAL / (2 * maxTransfers)), Math.max(READ_AHEAD_MIN, blksize * windowsize * 4));
    this.chunk = Math.max(1, Math.floor(want / blksize)) * blksize;
  }

  slice(start: number, end: number): Buffer | undefined {
    for (const c of [this.cur, this.next]) {
      if (c && start >= c.start && end <= c.start + c.buf.length) {
        if (c === this.next) {
          this.cur = this.next;
          this.next = undefined;
        }
        const cur = this.cur as { start: number; buf: Buffer };
        // Past the middle of the current chunk: read the next one ahead.
        if (this.next === undefined && end > cur.start + cur.buf.length / 2) this.read(cur.start + cur.buf.length, false);
        return c.buf.subarray(start - c.start, end - c.start);
      }
    }
    this.read(start, true);
    return undefined;
  }

  close(): void {
    this.closed = true;
    this.cur = undefined;
    this.next = undefined;
    void this.fh.close().catch(() => undefined);
  }

  private read(start: number, current: boolean): void {
    if (this.closed || start >= this.size || this.reading !== undefined) return;
    const len = Math.min(this.chunk, this.size - start);
    const buf = Buffer.allocUnsafe(len);
    this.reading = start;
    this.fh.read(buf, 0, len, start).then(
      ({ bytesRead }) => {
        this.reading = undefined;
        if (this.closed) return;
        if (bytesRead < len) {
          this.onError(new Error(`the file is shorter than when it was opened (${start + bytesRead} of ${this.size} bytes)`));
          return;
        }
        const c = { start, buf: buf.subarray(0, bytesRead) };
        if (current) {
          this.cur = c;
          this.next = undefined;
        } else {
          this.next = c;
        }
        this.onReady();
      },
      (err: unknown) => {
        this.reading = undefined;
        if (!this.closed) this.onError(err);
      },
    );
  }
}

/** TftpEngine serves read requests; see the file comment. */
export class TftpEngine {
  private readonly log: TftpLog;
  private readonly listInterfaces: InterfaceLister;
  private config: TftpEngineConfig;
  private limiter: RateLimiter;
  private limits: TransferLimits;
  private sockets: Socket[] = [];
  private port: number | undefined;
  private signature = '';
  /** active: by client address:port, every request being asked about or transferred. */
  private readonly active = new Map<string, Active>();
  private readonly perSource = new Map<string, number>();
  private asks = 0;
  private closed = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly counters = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: TftpEngineOptions) {
    this.log = opts.log;
    this.listInterfaces = opts.listInterfaces ?? listHostInterfaces;
    this.config = opts.config;
    this.limiter = new RateLimiter(opts.config.tftp.rateLimit);
    this.limits = limitsOf(opts.config.tftp);
    this.now = opts.now ?? ((): number => performance.now());
  }

  get boundPort(): number | undefined {
    return this.port;
  }

  async start(): Promise<void> {
    const cfg = this.config.tftp;
    if (this.opts.checkPortFree !== false && cfg.port !== 0) {
      const holders = udpPortHolders(cfg.port);
      if (holders.length > 0) throw new ProvError('PROVD_ERR_TFTP_BIND', `tftp.port ${cfg.port}/udp is already in use by another socket (${holders.join(', ')})`);
    }
    await this.bind(this.config);
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.refreshTimer.unref();
  }

  /** refresh rebinds when the served interfaces' addresses changed (hot-plug, DHCP-assigned addresses). */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    try {
      const addrs = this.addresses(this.config);
      if (`${this.config.tftp.port}|${addrs.join(',')}` === this.signature) return;
      this.log.info({}, 'interface addresses changed; rebinding the TFTP face');
      await this.reload(this.config);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'interface refresh failed; still serving the previous addresses');
    }
  }

  async reload(config: TftpEngineConfig): Promise<void> {
    const addrs = this.addresses(config);
    const sig = `${config.tftp.port}|${addrs.join(',')}`;
    if (sig !== this.signature) {
      const old = this.sockets;
      await this.bind(config, addrs); // throws: the old sockets still serve
      await Promise.all(old.map(closeSocket));
    }
    this.config = config;
    this.limiter = new RateLimiter(config.tftp.rateLimit);
    this.limits = limitsOf(config.tftp);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    for (const a of [...this.active.values()]) {
      if (a.transfer && a.socket) this.apply(a, a.transfer.abort('source-error', 'the face is closing', 'server shutting down'));
      this.end(a, 'closed');
    }
    await Promise.all(this.sockets.map(closeSocket));
    this.sockets = [];
  }

  stats(): Record<string, number> {
    return { ...Object.fromEntries(this.counters), active: this.active.size, 'asks-in-flight': this.asks };
  }

  private count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  private addresses(config: TftpEngineConfig): string[] {
    const sel = selectInterfaces(config.tftp.interfaces, this.listInterfaces());
    if (!sel.ok) throw new ProvError('PROVD_ERR_TFTP_INTERFACE', `tftp.interfaces: ${sel.error}`);
    if (sel.warning) this.log.warn({}, sel.warning);
    return [...new Set(sel.interfaces.map((h) => formatIPv4(h.address)))];
  }

  private async bind(config: TftpEngineConfig, addrs = this.addresses(config)): Promise<void> {
    const opened: Socket[] = [];
    let port = config.tftp.port;
    try {
      for (const address of addrs) {
        const s = await this.open(address, port);
        opened.push(s);
        port = s.address().port; // port 0 (tests): every address on the port the first got
      }
    } catch (err) {
      await Promise.all(opened.map(closeSocket));
      if (err instanceof ProvError) throw err;
      throw new ProvError('PROVD_ERR_TFTP_BIND', `cannot bind tftp.port ${config.tftp.port}/udp: ${errorMessage(err)}`, { cause: err });
    }
    this.sockets = opened;
    this.port = port;
    this.signature = `${config.tftp.port}|${addrs.join(',')}`;
    this.opts.onBound?.({ port, addresses: addrs });
    this.log.info({ port, addresses: addrs }, 'TFTP face serving');
  }

  private open(address: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      // reuseAddr: a rebind (reload, new addresses) binds the new sockets before closing the old ones, as the DHCP face does.
      const s = createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: RECV_BUFFER });
      const onBindError = (err: Error): void => {
        closeSocket(s).catch(() => undefined);
        reject(new ProvError('PROVD_ERR_TFTP_BIND', `cannot bind ${address}:${port}/udp: ${errorMessage(err)}`, { cause: err }));
      };
      s.once('error', onBindError);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', onBindError);
        s.on('error', (err) => {
          this.count('socket-error');
          this.log.warn({ err: errorMessage(err), address }, 'TFTP socket error');
        });
        s.on('message', (msg, rinfo) => this.onRequest(s, address, msg, rinfo));
        resolve(s);
      });
    });
  }

  /** onRequest is the request sockets' receive path; nothing thrown here reaches the socket. */
  private onRequest(s: Socket, local: string, buf: Buffer, rinfo: RemoteInfo): void {
    this.count('received');
    try {
      const d = decode(buf);
      if (!d.ok) {
        this.count(`malformed:${d.error.code}`);
        if (this.log.isLevelEnabled('debug')) this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, bytes: buf.length, reason: d.error.code, detail: d.error.detail }, 'malformed datagram dropped');
        return;
      }
      const p = d.packet;
      if (p.op !== 'rrq' && p.op !== 'wrq') {
        this.count(`ignored:${p.op}`); // DATA/ACK/ERROR/OACK belong on a transfer's own port
        return;
      }
      const id = `${rinfo.address}:${rinfo.port}`;
      const running = this.active.get(id);
      if (running) {
        // The client resent its request (our first answer was slow or lost): one transfer only.
        this.count('duplicate-request');
        return;
      }
      const verdict = this.limiter.take(rinfo.address);
      if (verdict !== 'allow') {
        this.count('refused:rate-limited');
        if (verdict === 'refuse-first') this.log.warn({ from: rinfo.address }, 'TFTP request flood from one source: rate-limiting it');
        return; // no answer: an ERROR per datagram would answer the flood
      }
      const c = classify(p);
      // A refused name is logged by its last segment only: the path may carry a provisioning key.
      if (c.kind === 'refuse') return this.refuse(s, rinfo, c.code, c.message, c.reason, p.filename.split(/[/\\]/).pop() ?? '');
      const cfg = this.config.tftp;
      if (this.active.size >= cfg.maxTransfers) return this.refuse(s, rinfo, ErrorCode.NotDefined, 'server busy; retry later', 'busy', c.logName);
      if ((this.perSource.get(rinfo.address) ?? 0) >= cfg.maxTransfersPerSource) return this.refuse(s, rinfo, ErrorCode.NotDefined, 'too many transfers from this address; retry later', 'busy-source', c.logName);
      if (this.asks >= MAX_ASKS) {
        this.count('dropped:asks-full');
        return;
      }
      this.count('requests');
      this.startRequest(id, local, rinfo, c, p.options);
    } catch (err) {
      this.count('internal-error');
      this.log.error({ err: errorMessage(err), from: rinfo.address }, 'TFTP request failed');
    }
  }

  private refuse(s: Socket, rinfo: RemoteInfo, code: number, message: string, reason: string, name: string): void {
    this.count(`refused:${reason}`);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, file: name.slice(0, 100), reason }, 'TFTP request refused');
    s.send(encodeError(code, message), rinfo.port, rinfo.address);
  }

  private startRequest(id: string, local: string, rinfo: RemoteInfo, c: Asked, options: readonly TftpOption[]): void {
    const a: Active = { ip: rinfo.address, port: rinfo.port, name: c.logName, started: this.now(), ended: false };
    this.active.set(id, a);
    this.perSource.set(a.ip, (this.perSource.get(a.ip) ?? 0) + 1);
    this.asks++;
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      this.asks--;
      this.count('dropped:ask-timeout');
      this.end(a, 'ask-timeout');
    }, ASK_TIMEOUT_MS);
    this.opts.ask({ key: c.key, file: c.file, ip: a.ip, local }).then(
      (answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.asks--;
        if (this.closed || a.ended) return;
        void this.begin(a, local, answer, options).catch((err: unknown) => {
          this.count('internal-error');
          this.log.error({ err: errorMessage(err), from: a.ip }, 'TFTP transfer failed to start');
          this.end(a, 'internal-error');
        });
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.asks--;
        this.count('ask-error');
        this.log.error({ err: errorMessage(err), from: a.ip }, 'TFTP request: the main thread failed to answer');
        this.end(a, 'ask-error');
      },
    );
  }

  /** begin opens the transfer's socket and source, then sends the OACK or the first window. */
  private async begin(a: Active, local: string, answer: FileAnswer, options: readonly TftpOption[]): Promise<void> {
    const socket = await this.openTransferSocket(local);
    a.socket = socket;
    if (this.closed || a.ended) {
      this.end(a, 'closed');
      return;
    }
    if (answer.kind === 'error') {
      this.count(`refused:${answer.reason}`);
      if (this.log.isLevelEnabled('debug')) this.log.debug({ from: `${a.ip}:${a.port}`, file: a.name, reason: answer.reason }, 'TFTP request refused');
      socket.send(encodeError(answer.code, answer.message), a.port, a.ip, () => this.end(a, 'refused'));
      return;
    }
    let source: BlockSource;
    let size: number;
    if (answer.kind === 'data') {
      source = bufferSource(answer.body);
      size = answer.body.length;
    } else {
      let fh: FileHandle;
      try {
        fh = await open(answer.path, constants.O_RDONLY | constants.O_NOFOLLOW);
        size = (await fh.stat()).size;
      } catch (err) {
        this.count('refused:open-error');
        this.log.warn({ err: errorMessage(err), file: a.name }, 'TFTP static file cannot be opened');
        socket.send(encodeError(ErrorCode.FileNotFound, 'File not found'), a.port, a.ip, () => this.end(a, 'refused'));
        return;
      }
      if (a.ended || this.closed) {
        void fh.close();
        return;
      }
      const n0 = negotiate(options, size, this.limits);
      const fsrc = new FileSource(
        fh,
        size,
        n0.blksize,
        n0.windowsize,
        this.config.tftp.maxTransfers,
        () => {
          if (a.transfer && !a.ended) this.apply(a, a.transfer.resume(this.now()));
        },
        (err) => {
          this.log.warn({ err: errorMessage(err), file: a.name }, 'TFTP static file read failed');
          if (a.transfer && !a.ended) this.apply(a, a.transfer.abort('source-error', errorMessage(err), 'file read error'));
        },
      );
      a.file = fsrc;
      source = fsrc;
    }
    a.size = size;
    const n = negotiate(options, size, this.limits);
    const t = new Transfer(source, n, this.limits);
    a.transfer = t;
    this.count('transfers');
    socket.on('message', (msg, rinfo) => this.onTransferPacket(a, msg, rinfo));
    this.apply(a, t.start(this.now()));
  }

  private openTransferSocket(local: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4' });
      s.once('error', reject);
      s.bind({ address: local, port: 0, exclusive: true }, () => {
        s.off('error', reject);
        s.on('error', (err) => {
          this.count('socket-error');
          this.log.warn({ err: errorMessage(err) }, 'TFTP transfer socket error');
        });
        resolve(s);
      });
    });
  }

  private onTransferPacket(a: Active, buf: Buffer, rinfo: RemoteInfo): void {
    try {
      if (rinfo.address !== a.ip || rinfo.port !== a.port) {
        // RFC 1350 §4: a packet from another TID gets ERROR 5 and does not disturb the transfer.
        this.count('unknown-tid');
        a.socket?.send(encodeError(ErrorCode.UnknownTid, 'unknown transfer ID'), rinfo.port, rinfo.address);
        return;
      }
      const d = decode(buf);
      if (!d.ok) {
        this.count(`malformed:${d.error.code}`);
        return;
      }
      if (a.transfer) this.apply(a, a.transfer.packet(d.packet, this.now()));
    } catch (err) {
      this.count('internal-error');
      this.log.error({ err: errorMessage(err), from: a.ip }, 'TFTP transfer packet failed');
      this.end(a, 'internal-error');
    }
  }

  /** apply sends a step's packets, re-arms its timer and ends the transfer when it says so. */
  private apply(a: Active, step: Step): void {
    const s = a.socket;
    if (!s || a.ended) return;
    for (const c of step.counted) this.count(`transfer:${c}`);
    const last = step.send.length - 1;
    step.send.forEach((pkt, i) => {
      // The socket closes once the last packet of an ending transfer has left (a close would cancel it).
      if (step.end && i === last) s.send(pkt, a.port, a.ip, () => this.end(a, 'ended'));
      else s.send(pkt, a.port, a.ip);
      if (pkt.readUInt16BE(0) === 3) this.count('data-sent');
    });
    if (a.timer) clearTimeout(a.timer);
    a.timer = undefined;
    if (step.end) {
      const t = a.transfer;
      const fields = { ip: a.ip, file: a.name, reason: step.end.reason, detail: step.end.detail, size: a.size, blksize: t?.blksize, windowsize: t?.windowsize, ms: Math.round(this.now() - a.started) };
      this.count(`transfers:${step.end.reason}`);
      if (step.end.reason === 'complete') this.log.debug(fields, 'TFTP transfer');
      else this.log.info(fields, 'TFTP transfer ended early');
      if (step.send.length === 0) this.end(a, step.end.reason);
      a.ended = true;
      return;
    }
    if (step.deadline !== undefined) {
      const t = a.transfer;
      a.timer = setTimeout(() => {
        if (t && !a.ended) this.apply(a, t.tick(this.now()));
      }, Math.max(0, step.deadline - this.now()));
    }
  }

  /** end forgets a request: its timer, its socket, its file, its slots. */
  private end(a: Active, _why: string): void {
    const id = `${a.ip}:${a.port}`;
    if (this.active.get(id) !== a) return;
    a.ended = true;
    this.active.delete(id);
    const n = (this.perSource.get(a.ip) ?? 1) - 1;
    if (n <= 0) this.perSource.delete(a.ip);
    else this.perSource.set(a.ip, n);
    if (a.timer) clearTimeout(a.timer);
    a.file?.close();
    if (a.socket) void closeSocket(a.socket);
  }
}

function limitsOf(c: TftpConfig): TransferLimits {
  return { ...DEFAULT_LIMITS, maxBlksize: c.maxBlockSize, maxWindowsize: c.maxWindowSize, retries: c.retries };
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
