/**
 * host.ts: the main-thread side of a UDP face that runs its engine in a worker thread of its own
 * (guest.ts is the thread's side). The DHCP, SIP and TFTP faces each hold one FaceThread and
 * keep only what is theirs (the configuration the thread reads, the answers to its questions,
 * their own counters).
 *
 * What crosses the boundary, all as structured clones: main → thread, the thread's configuration
 * at start and on each reload, answers to its asks, counter requests, close; the main logger's
 * level in a SharedArrayBuffer (copied every LEVEL_POLL_MS, and on reload the more verbose of it
 * and the reloaded `log.level` until the logger has that). Thread → main: each log line, written
 * here through the face's pino logger (format, `face` binding, redaction, destination unchanged;
 * the line's time is when it is written here); where it serves after each (re)bind; start and
 * reload outcomes (a ProvError's code and message, so a refused reload is refused here and the
 * daemon rolls back); the counters; asks.
 *
 * A thread that dies (an exception nothing caught, resource limits, terminate) is restarted on
 * the running configuration after a back-off that doubles per death (RESTART_BASE_MS up to
 * RESTART_MAX_MS; reset once a thread served STABLE_MS); at MAX_DEATHS deaths without such a
 * stable spell `onFatal` gets the face's worker error and the daemon exits non-zero so that the
 * service manager restarts it. A reload while the thread is down is refused.
 */
import { Worker } from 'node:worker_threads';
import { ProvError, errorMessage, type ErrorCode } from '../errors';
import type { FromThread, ThreadData, ToThread } from './guest';
import type { Logger } from '../log';

/** START_TIMEOUT_MS bounds a thread's start, a reload and a counters request. */
export const START_TIMEOUT_MS = 20_000;
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

/** HostOptions say what differs between faces. */
export interface HostOptions<S, Q = never, A = never> {
  /** label names the face in log lines and errors ('DHCP', 'SIP', 'TFTP'). */
  readonly label: string;
  /** script is the face's thread entry (its compiled thread.js). */
  readonly script: string;
  /** threadName names the worker (diagnostics). */
  readonly threadName: string;
  /** workerCode is the face's error when its thread dies, will not start or does not answer (PROVD_ERR_<FACE>_WORKER). */
  readonly workerCode: ErrorCode;
  /** startTimeoutCode is the error when a thread does not start in time (default workerCode). */
  readonly startTimeoutCode?: ErrorCode;
  readonly log: Logger;
  readonly checkPortFree: boolean;
  /** onFatal is told when the thread keeps dying; the CLI then exits non-zero. */
  readonly onFatal?: (err: ProvError) => void;
  /** restartBaseMs (tests) replaces RESTART_BASE_MS. */
  readonly restartBaseMs?: number;
  /**
   * onAsk gets each of the thread's questions and a reply function (at once or later); a reply for
   * a thread that has died since is dropped (its successor numbers its questions afresh).
   */
  readonly onAsk?: (query: Q, reply: (answer: A, transfer?: ArrayBuffer[]) => void) => void;
  /** onServed is told where the thread serves after each (re)bind (for the face's log lines). */
  readonly onServed?: (served: S) => void;
}

/** FaceThread runs one face's engine in a worker thread and restarts it when it dies. */
export class FaceThread<C, S, Q = never, A = never> {
  private worker: Worker | undefined;
  private config: C | undefined;
  private servedAt: S | undefined;
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
  private readonly pending = new Map<number, (m: FromThread<S, Q> | undefined) => void>();

  constructor(private readonly opts: HostOptions<S, Q, A>) {}

  /** thread is the running worker thread (diagnostics and tests). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** up: whether a thread serves now (false while one is restarted after a death, and once closed). */
  get up(): boolean {
    return !this.closed && this.worker !== undefined && this.serving;
  }

  /** served is where the thread serves (after its last bind). */
  get served(): S | undefined {
    return this.servedAt;
  }

  /** start spawns the thread on `config` and resolves once it serves; it rejects with the thread's ProvError. */
  async start(config: C): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.config = config;
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

  /**
   * reload hands the thread a new configuration and resolves once it applied it; it rejects
   * (and the thread keeps the old one) with the thread's ProvError, or when the thread is down.
   * logLevel is the reloaded configuration's `log.level`, shared until the logger has it.
   */
  async reload(config: C, logLevel?: string): Promise<void> {
    if (!this.started || this.closed) {
      this.config = config;
      return;
    }
    const w = this.worker;
    const label = this.opts.label;
    if (!w || !this.serving) throw new ProvError(this.opts.workerCode, `the ${label} thread is down (being restarted): reload refused, send SIGHUP again once it serves`);
    // The daemon sets the new log level right after its faces reload: let the thread post at the
    // more verbose of the two until the logger has it (or LEVEL_HINT_MS, for a reload undone).
    const hinted = logLevel === undefined ? undefined : this.opts.log.levels.values[logLevel];
    if (hinted !== undefined) {
      this.levelHint = { value: hinted, until: Date.now() + LEVEL_HINT_MS };
      this.copyLevel();
    }
    const id = this.nextId++;
    const m = await this.request(w, { t: 'reload', id, config }, id);
    if (m?.t === 'reload-error') throw new ProvError(asCode(m.code), m.message);
    if (m?.t !== 'reloaded') throw new ProvError(this.opts.workerCode, `the ${label} thread did not confirm the reload (it died, or did not answer within ${START_TIMEOUT_MS / 1000} s)`);
    this.config = config;
  }

  /** close stops the thread (terminated after CLOSE_TIMEOUT_MS); calling it twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    const w = this.worker;
    this.worker = undefined;
    this.servedAt = undefined;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const killer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
    w.postMessage({ t: 'close' } satisfies ToThread<C, A>);
    await exited;
    clearTimeout(killer);
  }

  /** stats are the thread's last counters, and `thread-restarts` once it was restarted. */
  stats(): Record<string, number> {
    return this.restarts > 0 ? { ...this.lastStats, 'thread-restarts': this.restarts } : { ...this.lastStats };
  }

  /** fetchStats asks the thread for its counters now (stats() may be a second old). */
  async fetchStats(): Promise<Record<string, number>> {
    const w = this.worker;
    if (!w) return this.stats();
    const id = this.nextId++;
    await this.request(w, { t: 'stats', id }, id);
    return this.stats();
  }

  /** copyLevel shares the main logger's current level (or a more verbose reload's, see reload) with the thread. */
  private copyLevel(): void {
    const log = this.opts.log;
    let v = Number.isFinite(log.levelVal) ? log.levelVal : SILENT;
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

  /** onMessage handles every message of the current thread `w`. */
  private onMessage(w: Worker, m: FromThread<S, Q>): void {
    switch (m.t) {
      case 'log':
        Atomics.add(this.level, 1, 1);
        this.opts.log[m.level](m.fields, m.msg);
        return;
      case 'ask': {
        const id = m.id;
        this.opts.onAsk?.(m.query, (answer, transfer) => {
          if (this.worker === w) w.postMessage({ t: 'answer', id, answer } satisfies ToThread<C, A>, transfer);
        });
        return;
      }
      case 'bound':
        this.servedAt = m.served;
        this.opts.onServed?.(m.served);
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
    const { label, workerCode } = this.opts;
    Atomics.store(this.level, 1, 0); // a new thread counts its lines from zero
    const data: ThreadData = { level: this.level.buffer as SharedArrayBuffer, checkPortFree: this.opts.checkPortFree };
    const w = new Worker(this.opts.script, { workerData: data, name: this.opts.threadName });
    this.worker = w;
    this.serving = false;
    w.on('message', (m: FromThread<S, Q>) => {
      if (this.worker === w || m.t === 'log' || m.t === 'closed') this.onMessage(w, m);
    });
    w.on('error', (err) => this.opts.log.error({ err: errorMessage(err) }, `${label} thread failed`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new ProvError(this.opts.startTimeoutCode ?? workerCode, `the ${label} thread did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const fail = (err: ProvError): void => {
        cleanup();
        if (this.worker === w) this.worker = undefined;
        void w.terminate();
        reject(err);
      };
      const onMessage = (m: FromThread<S, Q>): void => {
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
      const onExit = (code: number): void => fail(new ProvError(workerCode, `the ${label} thread exited during startup (code ${code})`));
      const cleanup = (): void => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
      };
      w.on('message', onMessage);
      w.once('exit', onExit);
      w.postMessage({ t: 'start', config: this.config as C } satisfies ToThread<C, A>);
    });
  }

  /** onDeath restarts a dead thread after the back-off; too many deaths in a row are fatal. */
  private onDeath(code: number): void {
    const { label, log } = this.opts;
    if (this.serving && Date.now() - this.servingSince >= STABLE_MS) this.deaths = 0;
    this.serving = false;
    this.deaths++;
    const base = this.opts.restartBaseMs ?? RESTART_BASE_MS;
    const delay = Math.min(RESTART_MAX_MS, base * 2 ** Math.min(this.deaths - 1, 16));
    log.error({ code, deaths: this.deaths, restartInMs: delay }, `${label} thread died`);
    if (this.deaths === MAX_DEATHS) {
      const err = new ProvError(this.opts.workerCode, `the ${label} thread died ${MAX_DEATHS} times without serving ${STABLE_MS / 1000} s in between (see the '${label} thread died' lines): the ${label} face is unreliable`);
      log.fatal({ code: err.code, err: err.message }, `${label} face dead: exiting so that the service manager restarts the daemon`);
      this.opts.onFatal?.(err);
    }
    // Not unref'd: with the other faces off, this timer is what keeps the daemon alive until the restart.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.spawn().then(
        () => {
          this.restarts++;
          const port = (this.servedAt as { readonly port?: unknown } | undefined)?.port;
          log.info({ deaths: this.deaths, ...(typeof port === 'number' ? { port } : {}) }, `${label} thread restarted`);
        },
        (err: unknown) => {
          if (this.closed) return;
          log.error({ err: errorMessage(err) }, `${label} thread restart failed`);
          this.onDeath(1);
        },
      );
    }, delay);
  }

  /** request posts a message and waits (bounded) for the answer carrying `id`; undefined on timeout or exit. */
  private request(w: Worker, msg: ToThread<C, A>, id: number): Promise<FromThread<S, Q> | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), START_TIMEOUT_MS);
      const done = (m: FromThread<S, Q> | undefined): void => {
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
