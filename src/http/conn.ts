/**
 * conn.ts: admission of TCP connections to the HTTP face, before any byte is parsed (and, with
 * TLS, before the handshake): a per-source cap (http.maxConnectionsPerSource) so that one LAN
 * host cannot hold every one of http.maxConnections slots, and a first-byte timeout
 * (http.firstByteTimeout) for connections that never send anything (Node closes a silent
 * connection never: headersTimeout only runs once a request has started).
 *
 * The source is the socket's peer address, never X-Forwarded-For; peers in http.trustedProxies
 * carry many clients and are not capped. Settings are read per connection, so a reload applies
 * them at once. Refusals are counted; a flood is logged once per source episode (episode.ts).
 */
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { Episode } from '../episode';
import type { Logger } from '../log';
import { unmapIPv4 } from '../net/ipv4';
import { isTrustedProxy, type ProxyList } from './peer';

/** ConnectionSettings are read from the current configuration at each new connection. */
export interface ConnectionSettings {
  /** perSource: connections one peer address may hold at once; 0 = no cap. */
  readonly perSource: number;
  /** firstByteMs: a connection that has sent no byte after this long is closed; 0 = never. */
  readonly firstByteMs: number;
  readonly proxies: ProxyList;
}

/** FLOOD_QUIET_MS: a source's flood episode ends after this long without a refusal. */
const FLOOD_QUIET_MS = 10_000;
/** MAX_EPISODES bounds the sources whose flood is tracked for logging (refusals are counted regardless). */
const MAX_EPISODES = 4096;

/** ConnectionGuard admits or refuses each new connection of the servers it is attached to. */
export class ConnectionGuard {
  private readonly open = new Map<string, number>();
  private readonly floods = new Map<string, Episode>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: () => ConnectionSettings,
    private readonly count: (name: string) => void,
    private readonly log: Logger,
  ) {}

  /** sources is how many distinct peers hold connections (tests, stats). */
  get sources(): number {
    return this.open.size;
  }

  /**
   * attach puts the guard in front of the server's own 'connection' listeners (HTTP parser or
   * TLS handshake), so a refused socket never reaches them.
   */
  attach(server: Server): void {
    const inner = server.listeners('connection') as ((s: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      if (!this.admit(socket)) return;
      for (const l of inner) l.call(server, socket);
    });
  }

  /** admit tracks an accepted socket, or destroys it and returns false. */
  admit(socket: Socket): boolean {
    const peer = socket.remoteAddress;
    if (peer === undefined) {
      // Reset before it was accepted: nothing to serve.
      this.count('connections-dropped:peer-gone');
      socket.destroy();
      return false;
    }
    const source = unmapIPv4(peer);
    const s = this.settings();
    const n = this.open.get(source) ?? 0;
    if (s.perSource > 0 && n >= s.perSource && !isTrustedProxy(s.proxies, source)) {
      this.count('connections-refused:per-source');
      this.flood(source, s.perSource);
      socket.destroy();
      return false;
    }
    this.open.set(source, n + 1);
    let timer: NodeJS.Timeout | undefined;
    if (s.firstByteMs > 0) {
      timer = setTimeout(() => {
        timer = undefined;
        if (socket.bytesRead > 0 || socket.destroyed) return;
        this.count('connections-closed:first-byte-timeout');
        socket.destroy();
      }, s.firstByteMs);
      timer.unref();
    }
    socket.once('close', () => {
      if (timer) clearTimeout(timer);
      const left = (this.open.get(source) ?? 1) - 1;
      if (left > 0) this.open.set(source, left);
      else this.open.delete(source);
    });
    return true;
  }

  /** close stops the flood bookkeeping (the face is closing). */
  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.floods.clear();
  }

  private flood(source: string, cap: number): void {
    let e = this.floods.get(source);
    if (!e) {
      if (this.floods.size >= MAX_EPISODES) return; // counted, not logged: the log stays bounded too
      e = new Episode(FLOOD_QUIET_MS);
      this.floods.set(source, e);
    }
    if (!e.hit()) return;
    this.log.warn(
      { ip: source, maxConnectionsPerSource: cap },
      'connections per source exceeded: further connections from this address are closed on arrival (one line per episode; counted as connections-refused:per-source)',
    );
    this.sweepTimer ??= setInterval(() => this.sweep(), FLOOD_QUIET_MS / 2);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    for (const [source, e] of this.floods) {
      const ended = e.check();
      if (ended === undefined) continue;
      this.floods.delete(source);
      this.log.info({ ip: source, refused: ended.events, ms: ended.ms }, 'connections per source no longer exceeded');
    }
    if (this.floods.size === 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }
}
