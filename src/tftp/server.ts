/**
 * server.ts: TftpFace, the TFTP face the daemon runs: a worker thread for the sockets (thread.ts,
 * engine.ts) and, here in the main thread, what a request's answer needs: the store (a
 * connection of its own), the phones room (PhoneService), the bans, the event log, the device
 * caps and the sightings (src/phones/request.ts, the HTTP face's pipeline).
 *
 * Why a thread (issue 15): a transfer's timers and ACKs must not wait behind a main loop busy
 * with HTTP and password checks; only the decision on a new request (one round trip) does.
 * What crosses the boundary, all structured clones:
 *  - main → thread: the `tftp` section at start and each reload; the answer to each ask (a
 *    rendered file's bytes, moved rather than copied: its ArrayBuffer is transferred, after a
 *    copy when the Buffer shares a pooled one; or a static file's path, or an ERROR); counter
 *    requests; the main logger's level (a SharedArrayBuffer).
 *  - thread → main: each ask (key, file, client address, the address it reached; at most
 *    MAX_ASKS in flight, engine.ts), each log line (bounded in flight), where it serves,
 *    start/reload outcomes, the counters (every second when they changed, on request, at close).
 * A thread that dies is restarted after a back-off doubling from 0.5 s to 30 s; the 5th death
 * without a minute of service in between is fatal (PROVD_ERR_TFTP_WORKER: the daemon exits 3).
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { ProvError, errorMessage, type ErrorCode } from '../errors';
import { openSqliteStore } from '../store/sqlite';
import type { Store } from '../store/repository';
import { PhoneSightings } from '../store/sightings';
import type { BanList } from '../limits/bans';
import { makeBanList, type FaceBans } from '../limits/banstore';
import { fileSink, type EventSink } from '../limits/events';
import { DeviceQuota } from '../limits/quota';
import { RateLimiter } from '../limits/ratelimit';
import { loadPhonesDomain } from '../phones/domain';
import { PhoneService, type PhoneServiceConfig } from '../phones/service';
import type { PhoneRoom } from '../phones/request';
import type { PhonesConfig } from '../phones/config';
import type { BansConfig, DevicesConfig } from '../limits/config';
import { answerAsk } from './answer';
import { ErrorCode as TftpError } from './codec';
import type { TftpConfig } from './config';
import type { FileAnswer, FileAsk, Served, TftpEngineConfig } from './engine';
import type { ToThread, FromThread, ThreadData } from './thread';
import type { Face } from '../face';
import type { Logger, LogLevel } from '../log';

/** TftpFaceConfig is the configuration the face reads (the daemon passes the whole, a superset). */
export interface TftpFaceConfig {
  readonly tftp: TftpConfig;
  readonly http: { readonly port: number; readonly tls?: unknown; readonly bans: BansConfig; readonly eventLog?: string | undefined };
  readonly devices: DevicesConfig;
  readonly phones: PhonesConfig;
  readonly provisioning: PhoneServiceConfig['provisioning'];
  readonly stateDir: string;
  readonly log?: { readonly level: LogLevel };
}

/** TftpFaceOptions are the face's dependencies. */
export interface TftpFaceOptions {
  readonly config: TftpFaceConfig;
  readonly log: Logger;
  /** store: an opened store (tests); otherwise the face opens stateDir's. */
  readonly store?: Store;
  readonly checkPortFree?: boolean;
  readonly onFatal?: (err: ProvError) => void;
  /** restartBaseMs (tests) replaces RESTART_BASE_MS. */
  readonly restartBaseMs?: number;
}

const START_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 5_000;
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;
/** MAX_DEATHS: this many thread deaths without a stable spell in between is fatal. */
export const MAX_DEATHS = 5;
const LEVEL_POLL_MS = 250;
const SILENT = 0x7fffffff;

/** threadConfig is what goes to the thread: the tftp section only. */
export function threadConfig(c: TftpFaceConfig): TftpEngineConfig {
  return { tftp: c.tftp };
}

/** movable returns a Buffer whose ArrayBuffer is its own (safe to transfer), copying when it shares one. */
function movable(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer)) return b;
  const copy = Buffer.alloc(b.length);
  b.copy(copy);
  return copy;
}

/** TftpFace serves phone files over TFTP. */
export class TftpFace implements Face<TftpFaceConfig> {
  readonly name = 'tftp';
  private readonly log: Logger;
  private config: TftpFaceConfig;
  private store: Store | undefined;
  private readonly ownStore: boolean;
  private room: PhoneRoom | undefined;
  private bans: { readonly list: BanList; readonly signature: string } | undefined;
  private events: { readonly sink: EventSink; readonly path: string } | undefined;
  private sightings: PhoneSightings | undefined;
  private worker: Worker | undefined;
  private served: Served | undefined;
  private lastStats: Record<string, number> = {};
  private readonly counters = new Map<string, number>();
  private started = false;
  private closed = false;
  private serving = false;
  private servingSince = 0;
  private deaths = 0;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private levelTimer: NodeJS.Timeout | undefined;
  private readonly level = new Int32Array(new SharedArrayBuffer(8));
  private nextId = 1;
  private readonly pending = new Map<number, (m: FromThread | undefined) => void>();

  constructor(private readonly opts: TftpFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.store = opts.store;
    this.ownStore = opts.store === undefined;
  }

  /** thread is the running worker thread (diagnostics and tests). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** port is the bound UDP port (tests ask for port 0). */
  get port(): number | undefined {
    return this.served?.port;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.store ??= openSqliteStore(this.config.stateDir, { check: false, busyTimeoutMs: 0 });
    const store = this.store;
    this.sightings = new PhoneSightings(store.phones, { log: this.log, setBusyTimeout: (ms) => store.setBusyTimeout?.(ms) });
    this.room = this.makeRoom(this.config);
    this.copyLevel();
    this.levelTimer = setInterval(() => this.copyLevel(), LEVEL_POLL_MS);
    this.levelTimer.unref();
    try {
      await this.spawn();
    } catch (err) {
      this.closed = true;
      this.stopTimers();
      this.release();
      throw err;
    }
  }

  async reload(config: TftpFaceConfig): Promise<void> {
    if (!this.started || this.closed) {
      this.config = config;
      return;
    }
    const room = this.makeRoom(config); // throws: keep the old state
    const w = this.worker;
    if (!w || !this.serving) throw new ProvError('PROVD_ERR_TFTP_WORKER', 'the TFTP thread is down (being restarted): reload refused, send SIGHUP again once it serves');
    const id = this.nextId++;
    const m = await this.request(w, { t: 'reload', id, config: threadConfig(config) }, id);
    if (m?.t === 'reload-error') throw new ProvError(asCode(m.code), m.message);
    if (m?.t !== 'reloaded') throw new ProvError('PROVD_ERR_TFTP_WORKER', 'the TFTP thread did not confirm the reload');
    this.room = room;
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      const killer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
      w.postMessage({ t: 'close' } satisfies ToThread);
      await exited;
      clearTimeout(killer);
    }
    this.release();
  }

  /** bans is the face's live bans, listed and lifted over the control socket (undefined before start). */
  banControl(): FaceBans | undefined {
    const list = this.bans?.list;
    return list ? { list: () => list.list(), lift: (match) => list.lift(match) } : undefined;
  }

  stats(): Record<string, number> {
    const out = { ...this.lastStats, ...Object.fromEntries(this.counters) };
    if (this.restarts > 0) out['thread-restarts'] = this.restarts;
    return out;
  }

  async fetchStats(): Promise<Record<string, number>> {
    const w = this.worker;
    if (!w) return this.stats();
    const id = this.nextId++;
    await this.request(w, { t: 'stats', id }, id);
    return this.stats();
  }

  private release(): void {
    this.sightings?.close();
    this.events?.sink.close();
    if (this.ownStore) this.store?.close();
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  /** makeRoom builds what answers need for a configuration (bans and event log carry over unless changed). */
  private makeRoom(config: TftpFaceConfig): PhoneRoom | undefined {
    const b = config.http.bans;
    const sig = JSON.stringify(b);
    if (this.bans?.signature !== sig) {
      const list = makeBanList(b, { face: 'tftp', log: this.log, repo: this.store?.bans, events: () => this.events?.sink, count: (n) => this.count(n), previous: this.bans?.list });
      this.bans = { list, signature: sig };
    }
    const path = config.http.eventLog ?? join(config.stateDir, 'security.log');
    if (this.events?.path !== path) {
      const sink = fileSink(path, {
        onWriteError: (err, first) => {
          this.count('event-log-write-errors');
          if (first) this.log.error({ code: 'PROVD_ERR_EVENT_LOG', path, err: errorMessage(err) }, 'security event log cannot be written (TFTP face)');
        },
      });
      this.events?.sink.close();
      this.events = { sink, path };
    } else {
      try {
        this.events.sink.reopen?.();
      } catch (err) {
        this.log.warn({ code: 'PROVD_ERR_EVENT_LOG', path, err: errorMessage(err) }, 'security event log not reopened');
      }
    }
    const store = this.store;
    if (!store || !config.phones.enabled) return undefined;
    const domain = loadPhonesDomain(config.phones);
    const service = new PhoneService(config, { phones: store.phones, users: store.users, keys: store.keys, domain });
    const phones = store.phones;
    const d = config.devices;
    const quota = new DeviceQuota({ perSourcePerHour: d.maxNewPerSourcePerHour, maxTotal: d.maxTotal }, { has: (mac) => phones.get(mac) !== undefined, count: () => phones.count() });
    // The per-source request limit is the thread's (tftp.rateLimit, before a request is even asked about).
    return { service, quota, limiter: new RateLimiter({ rate: 0, burst: 1 }), bans: this.bans.list, events: this.events.sink, sightings: this.sightings };
  }

  /** onAsk answers one request of the thread; it always answers (an ERROR when something failed). */
  private onAsk(w: Worker, id: number, ask: FileAsk): void {
    const reply = (answer: FileAnswer): void => {
      if (this.worker !== w) return;
      if (answer.kind === 'data') {
        const body = movable(answer.body);
        w.postMessage({ t: 'answer', id, answer: { kind: 'data', body } } satisfies ToThread, [body.buffer as ArrayBuffer]);
      } else {
        w.postMessage({ t: 'answer', id, answer } satisfies ToThread);
      }
    };
    const room = this.room;
    if (room === undefined) {
      this.count('phones:phones-disabled');
      reply({ kind: 'error', code: TftpError.FileNotFound, message: 'File not found', reason: 'phones-disabled' });
      return;
    }
    const t0 = performance.now();
    answerAsk(room, { phones: this.config.phones, httpPort: this.config.http.port, httpTls: this.config.http.tls !== undefined }, ask).then(
      ({ answer, note }) => {
        this.count(`phones:${note.outcome}`);
        if (note.notRecorded !== undefined) {
          const name = `phones-not-recorded:${note.notRecorded}`;
          const first = !this.counters.has(name);
          this.count(name);
          if (first) this.log.warn({ ip: ask.ip, reason: note.notRecorded }, 'device cap reached: new phones are not recorded (TFTP: File not found)');
        }
        const fields = { ip: ask.ip, file: ask.key === undefined ? ask.file : `<key>/${ask.file}`, outcome: note.outcome, tenant: note.tenant, device: note.device, ms: Math.round((performance.now() - t0) * 100) / 100, ...(note.problem !== undefined ? { err: note.problem } : {}) };
        // A refusal by the limits is counted, not logged (a flood must not flood the log); a busy store or a render error is.
        const limited = ['rate-limited', 'rate-limited-first', 'banned', 'attempts-in-flight'].includes(note.outcome);
        if (answer.kind === 'error' && answer.code === TftpError.NotDefined && !limited) this.log.warn(fields, 'TFTP phone file request');
        else this.log.debug(fields, 'TFTP phone file request');
        reply(answer);
      },
      (err: unknown) => {
        this.count('internal-error');
        this.log.error({ ip: ask.ip, err: errorMessage(err) }, 'TFTP phone file request failed');
        reply({ kind: 'error', code: TftpError.NotDefined, message: 'internal error', reason: 'internal-error' });
      },
    );
  }

  private copyLevel(): void {
    Atomics.store(this.level, 0, Number.isFinite(this.log.levelVal) ? this.log.levelVal : SILENT);
  }

  private stopTimers(): void {
    if (this.levelTimer) clearInterval(this.levelTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.levelTimer = undefined;
    this.restartTimer = undefined;
  }

  private onMessage(w: Worker, m: FromThread): void {
    switch (m.t) {
      case 'log':
        Atomics.add(this.level, 1, 1);
        this.log[m.level](m.fields, m.msg);
        return;
      case 'ask':
        this.onAsk(w, m.id, m.ask);
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

  private spawn(): Promise<void> {
    Atomics.store(this.level, 1, 0);
    const data: ThreadData = { level: this.level.buffer as SharedArrayBuffer, checkPortFree: this.opts.checkPortFree !== false };
    const w = new Worker(join(__dirname, 'thread.js'), { workerData: data, name: 'provisiond-tftp' });
    this.worker = w;
    this.serving = false;
    w.on('message', (m: FromThread) => {
      if (this.worker === w || m.t === 'log' || m.t === 'closed') this.onMessage(w, m);
    });
    w.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'TFTP thread failed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new ProvError('PROVD_ERR_TFTP_BIND', `the TFTP thread did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
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
      const onExit = (code: number): void => fail(new ProvError('PROVD_ERR_TFTP_WORKER', `the TFTP thread exited during startup (code ${code})`));
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

  private onDeath(code: number): void {
    if (this.serving && Date.now() - this.servingSince >= STABLE_MS) this.deaths = 0;
    this.serving = false;
    this.deaths++;
    const delay = Math.min(RESTART_MAX_MS, (this.opts.restartBaseMs ?? RESTART_BASE_MS) * 2 ** Math.min(this.deaths - 1, 16));
    this.log.error({ code, deaths: this.deaths, restartInMs: delay }, 'TFTP thread died');
    if (this.deaths === MAX_DEATHS) {
      const err = new ProvError('PROVD_ERR_TFTP_WORKER', `the TFTP thread died ${MAX_DEATHS} times without serving ${STABLE_MS / 1000} s in between: the TFTP face is unreliable`);
      this.log.fatal({ code: err.code, err: err.message }, 'TFTP face dead: exiting so that the service manager restarts the daemon');
      this.opts.onFatal?.(err);
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.spawn().then(
        () => {
          this.restarts++;
          this.log.info({ deaths: this.deaths, port: this.served?.port }, 'TFTP thread restarted');
        },
        (err: unknown) => {
          if (this.closed) return;
          this.log.error({ err: errorMessage(err) }, 'TFTP thread restart failed');
          this.onDeath(1);
        },
      );
    }, delay);
  }

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
