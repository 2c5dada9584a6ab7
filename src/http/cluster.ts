/**
 * cluster.ts: the HTTP face on several processes (http.workers > 1), for boot storms on
 * multi-core hosts. The daemon process keeps the other faces; node:cluster forks N workers
 * (worker.ts) that share the listening socket, each with its own engine, credential cache,
 * rate limiter and store connection (SQLite WAL allows that). Limits such as
 * http.rateLimit and maxPendingVerifications therefore apply per worker.
 *
 * Reload (SIGHUP) is relayed to every worker; a worker that cannot apply it keeps its old
 * configuration and the reload is reported as failed. A worker that dies is restarted (at most
 * MAX_RESTARTS per minute).
 */
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import { ProvError, type ErrorCode } from '../errors';
import { openSqliteStore } from '../store/sqlite';
import { Engine } from '../provisioning/engine';
import { startupWarnings } from './server';
import type { Config } from '../config/schema';
import type { Face } from '../face';
import type { Logger } from '../log';

/** ToWorker are the primary's messages. */
export type ToWorker = { t: 'start'; config: Config; worker: number } | { t: 'reload'; config: Config } | { t: 'close' };
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
const MAX_RESTARTS = 5;

interface Slot {
  readonly index: number;
  worker: Worker;
  stats: Record<string, number>;
}

/** HttpClusterFace runs the HTTP face in http.workers worker processes. */
export class HttpClusterFace implements Face {
  readonly name = 'http';
  private readonly slots: Slot[] = [];
  private config: Config;
  private closing = false;
  private restarts: number[] = [];
  private boundPort: number | undefined;
  private boundPlainPort: number | undefined;

  constructor(opts: { config: Config; log: Logger }) {
    this.config = opts.config;
    this.log = opts.log;
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
    const store = openSqliteStore(this.config.stateDir, { check: true });
    try {
      startupWarnings(this.config, new Engine(this.config.provisioning, { users: store.users, log: this.log }), store, this.log);
    } finally {
      store.close();
    }
    cluster.setupPrimary({ exec: join(__dirname, 'worker.js'), args: [] });
    try {
      for (let i = 0; i < this.config.http.workers; i++) this.slots.push(await this.spawn(i));
    } catch (err) {
      await this.close();
      throw err;
    }
    this.log.info({ workers: this.slots.length, port: this.boundPort, pids: this.slots.map((s) => s.worker.process.pid) }, 'HTTP workers serving');
  }

  private spawn(index: number): Promise<Slot> {
    const worker = cluster.fork({ PROVISIOND_HTTP_WORKER: String(index + 1) });
    const slot: Slot = { index, worker, stats: {} };
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'stats') slot.stats = m.stats;
    });
    worker.on('exit', (code, signal) => {
      if (this.closing || slot.worker !== worker) return;
      this.log.error({ worker: index + 1, code, signal }, 'HTTP worker died');
      const now = Date.now();
      this.restarts = this.restarts.filter((t) => now - t < 60_000);
      if (this.restarts.length >= MAX_RESTARTS) {
        this.log.fatal({ worker: index + 1 }, `HTTP worker restarted ${MAX_RESTARTS} times within a minute; not restarting it again`);
        return;
      }
      this.restarts.push(now);
      setTimeout(() => {
        if (this.closing) return;
        this.spawn(index).then(
          (fresh) => {
            this.slots[index] = fresh;
          },
          (err: unknown) => this.log.error({ worker: index + 1, err: String(err) }, 'HTTP worker restart failed'),
        );
      }, 1000).unref();
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        worker.kill();
        reject(new ProvError('PROVD_ERR_HTTP_BIND', `HTTP worker ${index + 1} did not start within ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      const onMessage = (m: FromWorker): void => {
        if (m.t === 'ready') {
          cleanup();
          this.boundPort = m.port;
          this.boundPlainPort = m.plainPort;
          resolve(slot);
        } else if (m.t === 'error') {
          cleanup();
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

  async reload(config: Config): Promise<void> {
    if (config.http.workers !== this.config.http.workers) {
      // A different pool size: replace the pool (a short gap in service).
      await this.close();
      this.closing = false;
      this.slots.length = 0;
      this.config = config;
      await this.start();
      return;
    }
    const results = await Promise.all(this.slots.map((s) => request(s.worker, { t: 'reload', config }, (m) => m.t === 'reloaded' || m.t === 'reload-error')));
    const failed = results.find((m): m is Extract<FromWorker, { t: 'reload-error' }> => m?.t === 'reload-error');
    if (failed) throw new ProvError(asCode(failed.code), failed.message);
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
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

  stats(): Record<string, number> {
    const out: Record<string, number> = { workers: this.slots.filter((s) => !s.worker.isDead()).length };
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
