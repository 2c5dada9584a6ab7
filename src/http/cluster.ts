/**
 * cluster.ts: the HTTP face on several processes (http.workers > 1), for boot storms on
 * multi-core hosts. The daemon process keeps the other faces; node:cluster forks N workers
 * (worker.ts) that share the listening socket, each with its own engine, credential cache,
 * rate limiter and store connection (SQLite WAL allows that). Limits such as
 * http.rateLimit and maxPendingVerifications therefore apply per worker.
 *
 * Reload (SIGHUP) is relayed to every worker; a worker that cannot apply it keeps its old
 * configuration and the reload is reported as failed, and so is a reload while a worker is down
 * (it would come back on the old configuration).
 *
 * A worker that dies is re-forked, always, after a back-off that doubles with each death of
 * that slot (RESTART_BASE_MS up to RESTART_MAX_MS; reset once a worker served STABLE_MS). If no
 * worker at all has served for NO_WORKER_EXIT_MS, the face is dead in a way a re-fork does not
 * fix (a crash at start, a resource the workers cannot get): `onFatal` is called with
 * PROVD_ERR_HTTP_WORKER and the daemon exits non-zero, so that the service manager restarts it
 * and the DHCP and mDNS faces stop advertising a URL nobody answers.
 */
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import { ProvError, type ErrorCode } from '../errors';
import { openSqliteStore } from '../store/sqlite';
import { openConfiguredStore } from '../store/open';
import { Engine } from '../jitsi/engine';
import { seedDeclared, startupWarnings, type HttpFaceConfig } from './server';
import type { Face, FaceHealth } from '../face';
import type { Logger, LogLevel } from '../log';

/** HttpClusterConfig is what the worker processes read: the HTTP face's configuration and the log level. */
export interface HttpClusterConfig extends HttpFaceConfig {
  readonly log: { readonly level: LogLevel };
}

/** ToWorker are the primary's messages. */
export type ToWorker = { t: 'start'; config: HttpClusterConfig; worker: number } | { t: 'reload'; config: HttpClusterConfig } | { t: 'close' };
/** FromWorker are a worker's messages. */
export type FromWorker =
  | { t: 'ready'; port: number; plainPort: number | undefined }
  | { t: 'error'; code: string; message: string }
  | { t: 'reloaded' }
  | { t: 'reload-error'; code: string; message: string }
  | { t: 'stats'; stats: Record<string, number> }
  | { t: 'closed' };

const START_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 5_000;
/** RESTART_BASE_MS / RESTART_MAX_MS: the first re-fork delay of a slot, doubled per death, capped. */
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
/** STABLE_MS: a worker that served this long resets its slot's back-off. */
const STABLE_MS = 60_000;
/** NO_WORKER_EXIT_MS: with no worker serving for this long, the face reports itself dead (onFatal). */
export const NO_WORKER_EXIT_MS = 15_000;

interface Slot {
  readonly index: number;
  worker: Worker;
  stats: Record<string, number>;
  /** ready: the current worker is serving. */
  ready: boolean;
  readyAt: number;
  /** deaths since the slot was last stable: the back-off exponent. */
  deaths: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/** HttpClusterFace runs the HTTP face in http.workers worker processes. */
export class HttpClusterFace implements Face<HttpClusterConfig> {
  readonly name = 'http';
  private readonly slots: Slot[] = [];
  private config: HttpClusterConfig;
  private closing = false;
  private boundPort: number | undefined;
  private boundPlainPort: number | undefined;
  private noWorkerTimer: NodeJS.Timeout | undefined;
  private readonly onFatal: ((err: ProvError) => void) | undefined;
  /** declaredProblems counts the declared phones the primary could not write (seedDeclared). */
  private declaredProblems = 0;

  constructor(opts: { config: HttpClusterConfig; log: Logger; onFatal?: (err: ProvError) => void }) {
    this.config = opts.config;
    this.log = opts.log;
    this.onFatal = opts.onFatal;
  }
  private readonly log: Logger;

  get port(): number | undefined {
    return this.boundPort;
  }

  get plainPort(): number | undefined {
    return this.boundPlainPort;
  }

  async start(): Promise<void> {
    // Check and migrate the store and log the warnings once, before any worker opens it.
    const store = await openConfiguredStore(this.config.stateDir, this.config.store, { check: true });
    try {
      await startupWarnings(this.config, new Engine(this.config.provisioning, { users: store.users, log: this.log }), store, this.log);
      // The primary owns the store: it seeds the declared phones (the workers do not).
      this.declaredProblems += seedDeclared(store, this.config, this.log);
    } finally {
      await store.close();
    }
    cluster.setupPrimary({ exec: join(__dirname, 'worker.js'), args: [] });
    try {
      for (let i = 0; i < this.config.http.workers; i++) {
        const slot: Slot = { index: i, worker: undefined as unknown as Worker, stats: {}, ready: false, readyAt: 0, deaths: 0, restartTimer: undefined };
        this.slots.push(slot);
        await this.spawn(slot);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.log.info({ workers: this.slots.length, port: this.boundPort, pids: this.slots.map((s) => s.worker.process.pid) }, 'HTTP workers serving');
  }

  /** spawn forks the slot's worker and resolves once it serves; a worker that fails to start is killed (and re-forked later). */
  private spawn(slot: Slot): Promise<void> {
    const index = slot.index;
    const worker = cluster.fork({ PROVISIOND_HTTP_WORKER: String(index + 1) });
    slot.worker = worker;
    slot.ready = false;
    slot.stats = {};
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'stats') slot.stats = m.stats;
    });
    worker.on('exit', (code, signal) => {
      if (this.closing || slot.worker !== worker) return;
      this.onDeath(slot, code, signal);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        worker.kill('SIGKILL');
        reject(new ProvError('PROVD_ERR_HTTP_BIND', `HTTP worker ${index + 1} did not start within ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      const onMessage = (m: FromWorker): void => {
        if (m.t === 'ready') {
          cleanup();
          this.boundPort = m.port;
          this.boundPlainPort = m.plainPort;
          slot.ready = true;
          slot.readyAt = Date.now();
          if (this.noWorkerTimer) clearTimeout(this.noWorkerTimer);
          this.noWorkerTimer = undefined;
          resolve();
        } else if (m.t === 'error') {
          cleanup();
          worker.kill('SIGKILL'); // it has no face: its exit re-forks the slot (or start() gives up)
          reject(new ProvError(asCode(m.code), m.message));
        }
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new ProvError('PROVD_ERR_INTERNAL', `HTTP worker ${index + 1} exited during startup (code ${String(code)})`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      worker.send({ t: 'start', config: this.config, worker: index + 1 } satisfies ToWorker);
    });
  }

  /** onDeath re-forks a dead worker after its slot's back-off, and watches for a pool with no worker at all. */
  private onDeath(slot: Slot, code: number | null, signal: string | null): void {
    const now = Date.now();
    if (slot.ready && now - slot.readyAt >= STABLE_MS) slot.deaths = 0;
    slot.ready = false;
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.min(slot.deaths, 16));
    slot.deaths++;
    this.log.error({ worker: slot.index + 1, code, signal, restartInMs: delay, alive: this.slots.filter((s) => s.ready).length }, 'HTTP worker died');
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    // Not unref'd: with the other faces off, this timer is what keeps the daemon alive until the re-fork.
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.closing) return;
      this.spawn(slot).then(
        () => this.log.info({ worker: slot.index + 1, workerPid: slot.worker.process.pid, deaths: slot.deaths }, 'HTTP worker restarted'),
        (err: unknown) => {
          if (!this.closing) this.log.error({ worker: slot.index + 1, err: String(err) }, 'HTTP worker restart failed');
        },
      );
    }, delay);
    if (!this.slots.some((s) => s.ready) && !this.noWorkerTimer) {
      this.noWorkerTimer = setTimeout(() => {
        this.noWorkerTimer = undefined;
        if (this.closing || this.slots.some((s) => s.ready)) return;
        const err = new ProvError('PROVD_ERR_HTTP_WORKER', `no HTTP worker has served for ${NO_WORKER_EXIT_MS / 1000} s (each keeps dying; see the 'HTTP worker died' lines): the HTTP face is down`);
        this.log.fatal({ code: err.code, err: err.message }, 'HTTP face dead: exiting so that the service manager restarts the daemon');
        this.onFatal?.(err);
      }, NO_WORKER_EXIT_MS);
    }
  }

  async reload(config: HttpClusterConfig): Promise<void> {
    if (config === this.config) return; // the daemon putting back what this face already runs
    if (config.http.workers !== this.config.http.workers) {
      // A different pool size: replace the pool (a short gap in service).
      await this.close();
      this.closing = false;
      this.slots.length = 0;
      this.config = config;
      await this.start();
      return;
    }
    // A worker that is down would come back on the previous configuration: refuse, retry later.
    const down = this.slots.filter((s) => !s.ready).map((s) => s.index + 1);
    if (down.length > 0) {
      throw new ProvError('PROVD_ERR_HTTP_WORKER', `HTTP worker ${down.join(', ')} is down (being re-forked): reload refused, send SIGHUP again once it serves`);
    }
    this.seed(config);
    const results = await Promise.all(this.slots.map((s) => request(s.worker, { t: 'reload', config }, (m) => m.t === 'reloaded' || m.t === 'reload-error')));
    const bad = results.findIndex((m) => m?.t !== 'reloaded');
    if (bad >= 0) {
      // Put the workers that applied it back on the running configuration (best effort), then fail.
      await Promise.all(this.slots.map((s, i) => (results[i]?.t === 'reloaded' ? request(s.worker, { t: 'reload', config: this.config }, (m) => m.t === 'reloaded' || m.t === 'reload-error') : undefined)));
      const m = results[bad];
      if (m?.t === 'reload-error') throw new ProvError(asCode(m.code), m.message);
      throw new ProvError('PROVD_ERR_HTTP_WORKER', `HTTP worker ${bad + 1} did not confirm the reload (it died, or did not answer within ${START_TIMEOUT_MS / 1000} s)`);
    }
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.noWorkerTimer) clearTimeout(this.noWorkerTimer);
    this.noWorkerTimer = undefined;
    for (const s of this.slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.worker.isDead()) return;
        const exited = new Promise<void>((resolve) => s.worker.once('exit', () => resolve()));
        await request(s.worker, { t: 'close' }, (m) => m.t === 'closed');
        const t = setTimeout(() => s.worker.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
        await exited;
        clearTimeout(t);
      }),
    );
  }

  /** seed writes the declared phones of a reloaded configuration into the store (a short-lived connection of the primary's). */
  private seed(config: HttpClusterConfig): void {
    if (!config.phones.enabled) return;
    if (config.store?.url !== undefined) {
      // The shared store (PostgreSQL): opened asynchronously, closed after its writes went through.
      void openConfiguredStore(config.stateDir, config.store)
        .then(async (store) => {
          try {
            this.declaredProblems += seedDeclared(store, config, this.log);
          } finally {
            await store.close();
          }
        })
        .catch((err: unknown) => {
          this.declaredProblems++;
          this.log.warn({ code: 'PROVD_ERR_PHONE_STORE', err: String(err) }, 'declared phone configs and devices not written to the store (the next reload tries again)');
        });
      return;
    }
    try {
      const store = openSqliteStore(config.stateDir, { check: false });
      try {
        this.declaredProblems += seedDeclared(store, config, this.log);
      } finally {
        void store.close();
      }
    } catch (err) {
      this.declaredProblems++;
      this.log.warn({ code: 'PROVD_ERR_PHONE_STORE', err: String(err) }, 'declared phone configs and devices not written to the store (the next reload tries again)');
    }
  }

  /** health: every worker process serves (not while one is restarted). */
  health(): FaceHealth {
    const down = this.slots.filter((s) => !s.ready).length;
    return this.slots.length > 0 && down === 0 ? { ready: true } : { ready: false, reason: `${down} of ${this.slots.length} HTTP worker(s) not serving` };
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = { workers: this.slots.filter((s) => s.ready && !s.worker.isDead()).length };
    if (this.declaredProblems > 0) out['phones-declared-problems'] = this.declaredProblems;
    for (const s of this.slots) for (const [k, v] of Object.entries(s.stats)) out[k] = (out[k] ?? 0) + v;
    return out;
  }
}

function asCode(code: string): ErrorCode {
  return code.startsWith('PROVD_ERR_') ? (code as ErrorCode) : 'PROVD_ERR_INTERNAL';
}

/** request sends a message and waits (bounded) for the matching answer; undefined on timeout or exit. */
function request(w: Worker, msg: ToWorker, match: (m: FromWorker) => boolean): Promise<FromWorker | undefined> {
  return new Promise((resolve) => {
    if (w.isDead()) return resolve(undefined);
    const timer = setTimeout(() => done(undefined), START_TIMEOUT_MS);
    const onMessage = (m: FromWorker): void => {
      if (match(m)) done(m);
    };
    const onExit = (): void => done(undefined);
    const done = (m: FromWorker | undefined): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('exit', onExit);
      resolve(m);
    };
    w.on('message', onMessage);
    w.once('exit', onExit);
    try {
      w.send(msg);
    } catch {
      done(undefined);
    }
  });
}
