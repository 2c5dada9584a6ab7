/**
 * server.ts: DhcpFace, the DHCP face the daemon runs. The socket loop itself is engine.ts.
 *
 * Thread mode (the daemon's): the engine runs in a node:worker_threads Worker of its own
 * (thread.ts), with its own event loop, so a main loop saturated by the HTTP face or the KDF
 * queue never delays an ACK (issue 15: DHCP p50 rose to 1.37 s in a cold storm on one loop).
 * What crosses the boundary, all as structured clones:
 *  - main → thread: the configuration the face reads (dhcp, http.host/port/tls, the tenants'
 *    urlKeys: `threadConfig` below, not the whole configuration) at start and on each reload, and
 *    requests for the counters; the main logger's level, in a SharedArrayBuffer.
 *  - thread → main: each log line (level, fields, message), written here through the face's pino
 *    logger, so format, redaction, level and destination are the daemon's; where it serves (port,
 *    interfaces) after each (re)bind; start and reload outcomes (a ProvError's code and message,
 *    so a refused reload is refused here exactly as before and the daemon rolls back); the
 *    counters, every STATS_MS when they changed, on request (fetchStats, which SIGUSR1 uses) and at close.
 * A log line's timestamp is the time the main thread writes it (late when the main loop is busy).
 *
 * A thread that dies (an exception nothing caught, resource limits, terminate) is restarted on
 * the running configuration after a back-off that doubles per death (RESTART_BASE_MS up to
 * RESTART_MAX_MS; reset once a thread served STABLE_MS); at MAX_DEATHS deaths without such a
 * stable spell `onFatal` gets PROVD_ERR_DHCP_WORKER and the daemon exits non-zero so that the
 * service manager restarts it (src/http/cluster.ts does the same for HTTP workers). A reload
 * while the thread is down is refused (it would come back on the old configuration).
 *
 * In-process mode: a function cannot cross a thread, so when a test injects `listInterfaces` the
 * engine runs on the caller's event loop, as before issue 15.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { DhcpEngine, SEND_QUEUE_MAX, type DhcpFaceConfig, type Served } from './engine';
import { ProvError, errorMessage, type ErrorCode } from '../errors';
import type { ServedInterface } from './handler';
import type { ToThread, FromThread, ThreadData } from './thread';
import type { InterfaceLister } from '../net/interfaces';
import type { Face } from '../face';
import type { Logger } from '../log';

export { SEND_QUEUE_MAX, type DhcpFaceConfig };

/** DhcpFaceOptions are the face's dependencies. */
export interface DhcpFaceOptions {
  readonly config: DhcpFaceConfig;
  readonly log: Logger;
  /** listInterfaces (tests) replaces the host's interface list; it keeps the engine in-process. */
  readonly listInterfaces?: InterfaceLister;
  /** checkPortFree turns "another process holds the port" into a startup error (default true). */
  readonly checkPortFree?: boolean;
  /** onFatal is told when the thread keeps dying (PROVD_ERR_DHCP_WORKER); the CLI then exits non-zero. */
  readonly onFatal?: (err: ProvError) => void;
  /** restartBaseMs (tests) replaces RESTART_BASE_MS. */
  readonly restartBaseMs?: number;
}

/** START_TIMEOUT_MS bounds a thread's start, a reload and a counters request. */
const START_TIMEOUT_MS = 20_000;
/** CLOSE_TIMEOUT_MS: a thread that has not exited this long after `close` is terminated. */
const CLOSE_TIMEOUT_MS = 5_000;
/** RESTART_BASE_MS / RESTART_MAX_MS: the first restart delay, doubled per death, capped. */
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
/** STABLE_MS: a thread that served this long resets the back-off and the death count. */
const STABLE_MS = 60_000;
/** MAX_DEATHS: this many deaths without a stable spell in between is fatal (onFatal). */
export const MAX_DEATHS = 5;
/** LEVEL_POLL_MS: how often the main logger's level is copied for the thread (beside start and reload). */
const LEVEL_POLL_MS = 250;
/** LEVEL_HINT_MS: how long a reloaded log.level is shared before the logger has it (a reload the daemon undid). */
const LEVEL_HINT_MS = 2000;
/** SILENT is the shared level value for `silent` (pino's is Infinity, which an Int32 cannot hold). */
const SILENT = 0x7fffffff;

/** threadConfig is the part of the configuration the engine reads: what goes to the thread. */
export function threadConfig(c: DhcpFaceConfig): DhcpFaceConfig {
  const tenants = Object.fromEntries(Object.entries(c.provisioning?.tenants ?? {}).map(([name, t]) => [name, t.urlKey === undefined ? {} : { urlKey: t.urlKey }]));
  return {
    dhcp: c.dhcp,
    http: { host: c.http.host, port: c.http.port, ...(c.http.tls === undefined ? {} : { tls: true }) },
    provisioning: { tenants },
  };
}

/** DhcpFace is the DHCP responder: DHCPINFORM in, DHCPACK with option 224 out. */
export class DhcpFace implements Face<DhcpFaceConfig> {
  readonly name = 'dhcp';
  private readonly log: Logger;
  /** engine is set in in-process mode only. */
  private readonly engine: DhcpEngine | undefined;
  private config: DhcpFaceConfig;
  private worker: Worker | undefined;
  private served: Served | undefined;
  private lastStats: Record<string, number> = {};
  private started = false;
  private closed = false;
  private serving = false;
  private servingSince = 0;
  private deaths = 0;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private levelTimer: NodeJS.Timeout | undefined;
  /** level: [0] the main logger's level value, [1] the thread's log lines written here so far (the thread bounds what is in flight). */
  private readonly level = new Int32Array(new SharedArrayBuffer(8));
  private levelHint: { readonly value: number; readonly until: number } | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (m: FromThread | undefined) => void>();

  constructor(private readonly opts: DhcpFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    if (opts.listInterfaces) {
      this.engine = new DhcpEngine({
        config: opts.config,
        log: opts.log,
        listInterfaces: opts.listInterfaces,
        ...(opts.checkPortFree === undefined ? {} : { checkPortFree: opts.checkPortFree }),
      });
    }
  }

  /** inThread says whether the sockets run in a worker thread (false: in-process, tests). */
  get inThread(): boolean {
    return this.engine === undefined;
  }

  /** thread is the running worker thread (thread mode; for diagnostics and tests). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** port is the bound UDP port (useful when the config asked for port 0 in tests). */
  get port(): number | undefined {
    return this.engine ? this.engine.port : this.served?.port;
  }

  /** interfaces lists the served interfaces, for logs and tests. */
  get interfaces(): readonly ServedInterface[] {
    return this.engine ? this.engine.interfaces : (this.served?.interfaces ?? []);
  }

  async start(): Promise<void> {
    if (this.engine) return this.engine.start();
    if (this.started) return;
    this.started = true;
    this.copyLevel();
    this.levelTimer = setInterval(() => this.copyLevel(), LEVEL_POLL_MS);
    this.levelTimer.unref();
    try {
      await this.spawn();
    } catch (err) {
      this.stopTimers();
      this.closed = true;
      throw err;
    }
  }

  async reload(config: DhcpFaceConfig): Promise<void> {
    if (this.engine) return this.engine.reload(config);
    if (!this.started || this.closed) {
      this.config = config;
      return;
    }
    const w = this.worker;
    if (!w || !this.serving) {
      throw new ProvError('PROVD_ERR_DHCP_WORKER', 'the DHCP thread is down (being restarted): reload refused, send SIGHUP again once it serves');
    }
    // The daemon sets the new log level right after its faces reload: let the thread post at the
    // more verbose of the two until the logger has it (or LEVEL_HINT_MS, for a reload undone).
    const hint = config.log?.level;
    const hinted = hint === undefined ? undefined : this.log.levels.values[hint];
    if (hinted !== undefined) {
      this.levelHint = { value: hinted, until: Date.now() + LEVEL_HINT_MS };
      this.copyLevel();
    }
    const id = this.nextId++;
    const m = await this.request(w, { t: 'reload', id, config: threadConfig(config) }, id);
    if (m?.t === 'reload-error') throw new ProvError(asCode(m.code), m.message);
    if (m?.t !== 'reloaded') throw new ProvError('PROVD_ERR_DHCP_WORKER', `the DHCP thread did not confirm the reload (it died, or did not answer within ${START_TIMEOUT_MS / 1000} s)`);
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.engine) return this.engine.close();
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    const w = this.worker;
    this.worker = undefined;
    this.served = undefined;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const killer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
    w.postMessage({ t: 'close' } satisfies ToThread);
    await exited;
    clearTimeout(killer);
  }

  stats(): Record<string, number> {
    if (this.engine) return this.engine.stats();
    return this.restarts > 0 ? { ...this.lastStats, 'thread-restarts': this.restarts } : { ...this.lastStats };
  }

  /** fetchStats asks the thread for its counters now (stats() may be up to STATS_MS old). */
  async fetchStats(): Promise<Record<string, number>> {
    const w = this.worker;
    if (this.engine || !w) return this.stats();
    const id = this.nextId++;
    await this.request(w, { t: 'stats', id }, id);
    return this.stats();
  }

  /** copyLevel shares the main logger's current level (or a more verbose reload's, see reload) with the thread. */
  private copyLevel(): void {
    let v = Number.isFinite(this.log.levelVal) ? this.log.levelVal : SILENT;
    const h = this.levelHint;
    if (h) {
      if (v === h.value || Date.now() >= h.until) this.levelHint = undefined;
      else v = Math.min(v, h.value);
    }
    Atomics.store(this.level, 0, v);
  }

  private stopTimers(): void {
    if (this.levelTimer) clearInterval(this.levelTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.levelTimer = undefined;
    this.restartTimer = undefined;
  }

  /** onMessage handles every message of the current thread. */
  private onMessage(m: FromThread): void {
    switch (m.t) {
      case 'log':
        Atomics.add(this.level, 1, 1);
        this.log[m.level](m.fields, m.msg);
        return;
      case 'bound':
        this.served = m.served;
        return;
      case 'stats':
      case 'closed':
        this.lastStats = m.stats;
        break;
      default:
        break;
    }
    if ((m.t === 'stats' || m.t === 'reloaded' || m.t === 'reload-error') && m.id !== undefined) {
      const answer = this.pending.get(m.id);
      this.pending.delete(m.id);
      answer?.(m);
    }
  }

  /** spawn starts a thread on the running configuration and resolves once it serves. */
  private spawn(): Promise<void> {
    Atomics.store(this.level, 1, 0); // a new thread counts its lines from zero
    const data: ThreadData = { level: this.level.buffer as SharedArrayBuffer, checkPortFree: this.opts.checkPortFree !== false };
    const w = new Worker(join(__dirname, 'thread.js'), { workerData: data, name: 'provisiond-dhcp' });
    this.worker = w;
    this.serving = false;
    w.on('message', (m: FromThread) => {
      if (this.worker === w || m.t === 'log' || m.t === 'closed') this.onMessage(m);
    });
    w.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'DHCP thread failed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new ProvError('PROVD_ERR_DHCP_BIND', `the DHCP thread did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const fail = (err: ProvError): void => {
        cleanup();
        if (this.worker === w) this.worker = undefined;
        void w.terminate();
        reject(err);
      };
      const onMessage = (m: FromThread): void => {
        if (m.t === 'ready') {
          cleanup();
          this.serving = true;
          this.servingSince = Date.now();
          w.on('exit', (code) => {
            if (this.worker !== w) return;
            this.worker = undefined;
            for (const answer of this.pending.values()) answer(undefined);
            this.pending.clear();
            if (!this.closed) this.onDeath(code);
          });
          resolve();
        } else if (m.t === 'start-error') {
          fail(new ProvError(asCode(m.code), m.message));
        }
      };
      const onExit = (code: number): void => fail(new ProvError('PROVD_ERR_DHCP_WORKER', `the DHCP thread exited during startup (code ${code})`));
      const cleanup = (): void => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
      };
      w.on('message', onMessage);
      w.once('exit', onExit);
      w.postMessage({ t: 'start', config: threadConfig(this.config) } satisfies ToThread);
    });
  }

  /** onDeath restarts a dead thread after the back-off; too many deaths in a row are fatal. */
  private onDeath(code: number): void {
    if (this.serving && Date.now() - this.servingSince >= STABLE_MS) this.deaths = 0;
    this.serving = false;
    this.deaths++;
    const base = this.opts.restartBaseMs ?? RESTART_BASE_MS;
    const delay = Math.min(RESTART_MAX_MS, base * 2 ** Math.min(this.deaths - 1, 16));
    this.log.error({ code, deaths: this.deaths, restartInMs: delay }, 'DHCP thread died');
    if (this.deaths === MAX_DEATHS) {
      const err = new ProvError('PROVD_ERR_DHCP_WORKER', `the DHCP thread died ${MAX_DEATHS} times without serving ${STABLE_MS / 1000} s in between (see the 'DHCP thread died' lines): the DHCP face is unreliable`);
      this.log.fatal({ code: err.code, err: err.message }, 'DHCP face dead: exiting so that the service manager restarts the daemon');
      this.opts.onFatal?.(err);
    }
    // Not unref'd: with the other faces off, this timer is what keeps the daemon alive until the restart.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.spawn().then(
        () => {
          this.restarts++;
          this.log.info({ deaths: this.deaths, port: this.served?.port }, 'DHCP thread restarted');
        },
        (err: unknown) => {
          if (this.closed) return;
          this.log.error({ err: errorMessage(err) }, 'DHCP thread restart failed');
          this.onDeath(1);
        },
      );
    }, delay);
  }

  /** request posts a message and waits (bounded) for the answer carrying `id`; undefined on timeout or exit. */
  private request(w: Worker, msg: ToThread, id: number): Promise<FromThread | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), START_TIMEOUT_MS);
      const done = (m: FromThread | undefined): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(m);
      };
      this.pending.set(id, done);
      w.postMessage(msg);
    });
  }
}

function asCode(code: string): ErrorCode {
  return code.startsWith('PROVD_ERR_') ? (code as ErrorCode) : 'PROVD_ERR_INTERNAL';
}
