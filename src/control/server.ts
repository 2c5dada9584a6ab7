/**
 * server.ts: the daemon's control socket, a unix stream socket for `provisiond bans` and
 * `provisiond reload` (protocol.ts). Mode 0600, owned by the daemon's user: root and that user
 * only. Bounded: MAX_CONNECTIONS at once (more are answered `busy` and closed), a request line
 * at most MAX_REQUEST_BYTES, IDLE_MS of silence closes a connection (not while a request is
 * being handled: a reload may take seconds). Requests of one connection are handled in order.
 *
 * At start a socket file left by a dead daemon (nothing accepts on it) is replaced; one a
 * running daemon answers on, a path that is not a socket, or one that cannot be created is a
 * PROVD_ERR_CONTROL_BIND startup error. At close the socket file is removed.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { ProvError, errorMessage } from '../errors';
import type { Logger } from '../log';
import { MAX_REQUEST_BYTES, encodeAnswer, parseRequest, type Answer, type Request } from './protocol';

/** MAX_CONNECTIONS bounds the connections served at once. */
export const MAX_CONNECTIONS = 8;
/** IDLE_MS closes a connection that sends nothing for that long. */
export const IDLE_MS = 10_000;
/** MAX_PATH is the longest unix socket path Linux accepts (sun_path holds 108 bytes with the NUL). */
const MAX_PATH = 107;

/** ControlHandler answers one valid request. */
export type ControlHandler = (req: Request) => Promise<Answer>;

/** ControlServerOptions configure a ControlServer. */
export interface ControlServerOptions {
  readonly path: string;
  readonly log: Logger;
  readonly handle: ControlHandler;
  readonly maxConnections?: number;
  readonly idleMs?: number;
}

/** ControlServer is the listening control socket. */
export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly counters = new Map<string, number>();
  private closed = false;
  private ino: number | undefined;

  constructor(private readonly opts: ControlServerOptions) {}

  /** path is the socket's path. */
  get path(): string {
    return this.opts.path;
  }

  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  async start(): Promise<void> {
    const path = this.opts.path;
    if (Buffer.byteLength(path) > MAX_PATH) throw new ProvError('PROVD_ERR_CONTROL_BIND', `the control socket path ${path} is longer than ${MAX_PATH} bytes (a unix socket limit): use a shorter stateDir or run under systemd (RuntimeDirectory=)`);
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new ProvError('PROVD_ERR_CONTROL_BIND', `cannot create the control socket's directory ${dirname(path)}: ${errorMessage(err)}`, { cause: err });
    }
    await this.clearStale(path);
    const server = createServer((s) => this.onConnection(s));
    server.maxConnections = 1024; // the real bound is ours (answered `busy`); this one only stops a flood
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(new ProvError('PROVD_ERR_CONTROL_BIND', `cannot listen on the control socket ${path}: ${err.message}`, { cause: err }));
      server.once('error', onError);
      // The socket is created 0600 (umask for the bind, which happens synchronously in listen), then chmod'ed to be sure.
      const old = process.umask(0o177);
      try {
        server.listen({ path, exclusive: true }, () => {
          server.off('error', onError);
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
    try {
      chmodSync(path, 0o600);
      this.ino = lstatSync(path).ino;
    } catch (err) {
      server.close();
      throw new ProvError('PROVD_ERR_CONTROL_BIND', `cannot restrict the control socket ${path} to 0600: ${errorMessage(err)}`, { cause: err });
    }
    server.on('error', (err) => this.opts.log.error({ err: errorMessage(err), path }, 'control socket error'));
    this.server = server;
    this.opts.log.info({ path }, 'control socket listening');
  }

  /** clearStale removes a socket file nothing accepts on; a live one or a non-socket is refused. */
  private async clearStale(path: string): Promise<void> {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // nothing there
    }
    if (!st.isSocket()) throw new ProvError('PROVD_ERR_CONTROL_BIND', `${path} exists and is not a socket: refusing to replace it`);
    const alive = await new Promise<boolean>((resolve) => {
      const s = connect({ path });
      const timer = setTimeout(() => {
        s.destroy();
        resolve(true); // a listener that does not even refuse: leave it alone
      }, 1000);
      s.once('connect', () => {
        clearTimeout(timer);
        s.destroy();
        resolve(true);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(err.code !== 'ECONNREFUSED');
      });
    });
    if (alive) throw new ProvError('PROVD_ERR_CONTROL_BIND', `another provisiond is running: its control socket ${path} answers (stop it first)`);
    try {
      unlinkSync(path);
      this.opts.log.info({ path }, 'removed the control socket a stopped daemon left');
    } catch (err) {
      throw new ProvError('PROVD_ERR_CONTROL_BIND', `cannot remove the stale control socket ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private onConnection(s: Socket): void {
    if (this.closed || this.sockets.size >= (this.opts.maxConnections ?? MAX_CONNECTIONS)) {
      this.count('connections-refused');
      s.end(encodeAnswer({ ok: false, code: 'PROVD_ERR_CONTROL', reason: 'busy', error: 'too many control connections at once; try again' }));
      s.destroySoon();
      return;
    }
    this.count('connections');
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    const idle = this.opts.idleMs ?? IDLE_MS;
    s.setTimeout(idle, () => {
      this.count('timeouts');
      s.end(encodeAnswer({ ok: false, code: 'PROVD_ERR_CONTROL', reason: 'timeout', error: `no complete request within ${Math.round(idle / 1000)} s` }));
      s.destroySoon();
    });
    let buf: Buffer = Buffer.alloc(0);
    let queue = Promise.resolve();
    let over = false;
    s.on('data', (chunk: Buffer) => {
      if (over) return;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
        const line = buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
        buf = buf.subarray(nl + 1);
        if (line.trim().length === 0) continue;
        queue = queue.then(() => this.answer(s, line));
      }
      if (buf.length > MAX_REQUEST_BYTES) {
        over = true;
        this.bad('too-long', `a request is at most ${MAX_REQUEST_BYTES} bytes`);
        queue = queue.then(() => {
          s.end(encodeAnswer({ ok: false, code: 'PROVD_ERR_CONTROL', reason: 'too-long', error: `a request is at most ${MAX_REQUEST_BYTES} bytes` }));
          s.destroySoon();
        });
      }
    });
  }

  private bad(reason: string, error: string): void {
    this.count('bad-requests');
    this.count(`bad-requests:${reason}`);
    this.opts.log.warn({ reason, err: error }, 'control socket: bad request');
  }

  private async answer(s: Socket, line: string): Promise<void> {
    if (s.destroyed) return;
    const p = parseRequest(line);
    let a: Answer;
    if (!p.ok) {
      this.bad(p.reason, p.error);
      a = { ok: false, code: 'PROVD_ERR_CONTROL', reason: p.reason, error: p.error };
    } else {
      this.count(`requests:${p.request.cmd}`);
      s.setTimeout(0); // a reload may take longer than the idle timeout
      try {
        a = await this.opts.handle(p.request);
      } catch (err) {
        a = { ok: false, code: 'PROVD_ERR_INTERNAL', error: errorMessage(err) };
      }
      s.setTimeout(this.opts.idleMs ?? IDLE_MS);
    }
    if (!s.destroyed) s.write(encodeAnswer(a));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    // Node removes the file when the server closes; make sure, but never remove another daemon's socket.
    try {
      if (this.ino !== undefined && lstatSync(this.opts.path).ino === this.ino) unlinkSync(this.opts.path);
    } catch {
      // already gone
    }
  }
}
