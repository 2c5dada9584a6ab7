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
 * The thread machinery the UDP faces share (log lines, counters, restarts after a back-off
 * doubling from 0.5 s to 30 s, the 5th death without a minute of service in between fatal:
 * PROVD_ERR_TFTP_WORKER, the daemon exits 3) is src/facethread/host.ts.
 */
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { errorMessage, type ProvError } from '../errors';
import { FaceThread, MAX_DEATHS } from '../facethread/host';
import { openConfiguredStore } from '../store/open';
import type { StoreConfig } from '../store/config';
import type { Store } from '../store/repository';
import { PhoneSightings } from '../store/sightings';
import type { BanList } from '../limits/bans';
import { makeBanList, type FaceBans } from '../limits/banstore';
import { eventLogFor, type OpenEventLog } from '../limits/events';
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
import type { Face, FaceHealth } from '../face';
import type { Logger, LogLevel } from '../log';

/** TftpFaceConfig is the configuration the face reads (the daemon passes the whole, a superset). */
export interface TftpFaceConfig {
  readonly tftp: TftpConfig;
  readonly http: { readonly port: number; readonly tls?: unknown; readonly bans: BansConfig; readonly eventLog?: string | undefined };
  readonly devices: DevicesConfig;
  readonly phones: PhonesConfig;
  readonly provisioning: PhoneServiceConfig['provisioning'];
  readonly stateDir: string;
  /** store: the configured store (PostgreSQL when store.url is set; absent: the SQLite file in stateDir). */
  readonly store?: StoreConfig;
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

export { MAX_DEATHS };

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
  private events: OpenEventLog | undefined;
  private sightings: PhoneSightings | undefined;
  private readonly counters = new Map<string, number>();
  private started = false;
  private closed = false;
  private readonly host: FaceThread<TftpEngineConfig, Served, FileAsk, FileAnswer>;

  constructor(private readonly opts: TftpFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.store = opts.store;
    this.ownStore = opts.store === undefined;
    this.host = new FaceThread<TftpEngineConfig, Served, FileAsk, FileAnswer>({
      label: 'TFTP',
      script: join(__dirname, 'thread.js'),
      threadName: 'provisiond-tftp',
      workerCode: 'PROVD_ERR_TFTP_WORKER',
      startTimeoutCode: 'PROVD_ERR_TFTP_BIND',
      log: opts.log,
      checkPortFree: opts.checkPortFree !== false,
      ...(opts.onFatal ? { onFatal: opts.onFatal } : {}),
      ...(opts.restartBaseMs === undefined ? {} : { restartBaseMs: opts.restartBaseMs }),
      onAsk: (ask, reply) => this.onAsk(ask, reply),
    });
  }

  /** thread is the running worker thread (diagnostics and tests). */
  get thread(): Worker | undefined {
    return this.host.thread;
  }

  /** port is the bound UDP port (tests ask for port 0). */
  get port(): number | undefined {
    return this.host.served?.port;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // PostgreSQL (store.url): the phones are a kept-in-memory view of the shared tables, read synchronously like SQLite's.
    try {
      this.store ??= await openConfiguredStore(this.config.stateDir, this.config.store, { check: false, busyTimeoutMs: 0 });
    } catch (err) {
      this.closed = true;
      throw err;
    }
    const store = this.store;
    this.sightings = new PhoneSightings(store.phones, { log: this.log, setBusyTimeout: (ms) => store.setBusyTimeout?.(ms) });
    this.room = await this.makeRoom(this.config);
    try {
      await this.host.start(threadConfig(this.config));
    } catch (err) {
      this.closed = true;
      this.release();
      throw err;
    }
  }

  async reload(config: TftpFaceConfig): Promise<void> {
    if (!this.started || this.closed) {
      this.config = config;
      return;
    }
    const room = await this.makeRoom(config); // throws: keep the old state
    await this.host.reload(threadConfig(config), config.log?.level);
    this.room = room;
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.host.close();
    this.release();
  }

  /** bans is the face's live bans, listed and lifted over the control socket (undefined before start). */
  banControl(): FaceBans | undefined {
    const list = this.bans?.list;
    return list ? { list: () => list.list(), lift: (match) => list.lift(match) } : undefined;
  }

  /** health: the thread serves (not while it is restarted after a death). */
  health(): FaceHealth {
    return this.host.up ? { ready: true } : { ready: false, reason: 'the TFTP thread is not serving (starting, restarting after a death, or closed)' };
  }

  stats(): Record<string, number> {
    return { ...this.host.stats(), ...Object.fromEntries(this.counters) };
  }

  async fetchStats(): Promise<Record<string, number>> {
    await this.host.fetchStats();
    return this.stats();
  }

  private release(): void {
    this.sightings?.close();
    this.events?.sink.close();
    if (this.ownStore) void this.store?.close();
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  /** makeRoom builds what answers need for a configuration (bans and event log carry over unless changed). */
  private async makeRoom(config: TftpFaceConfig): Promise<PhoneRoom | undefined> {
    const b = config.http.bans;
    const sig = JSON.stringify(b);
    if (this.bans?.signature !== sig) {
      const list = await makeBanList(b, { face: 'tftp', log: this.log, repo: this.store?.bans, events: () => this.events?.sink, count: (n) => this.count(n), previous: this.bans?.list });
      this.bans = { list, signature: sig };
    }
    this.events = eventLogFor(this.events, config.http.eventLog ?? join(config.stateDir, 'security.log'), { face: 'tftp', log: this.log, count: (n) => this.count(n) });
    const store = this.store;
    if (!store || !config.phones.enabled) return undefined;
    const domain = loadPhonesDomain(config.phones);
    const service = new PhoneService(config, { phones: store.phones, users: store.sync?.users, keys: store.sync?.keys, domain });
    const phones = store.phones;
    const d = config.devices;
    const quota = new DeviceQuota({ perSourcePerHour: d.maxNewPerSourcePerHour, maxTotal: d.maxTotal }, { has: (mac) => phones.get(mac) !== undefined, count: () => phones.count() });
    // The per-source request limit is the thread's (tftp.rateLimit, before a request is even asked about).
    return { service, quota, limiter: new RateLimiter({ rate: 0, burst: 1 }), bans: this.bans.list, events: this.events.sink, sightings: this.sightings };
  }

  /** onAsk answers one request of the thread; it always answers (an ERROR when something failed). */
  private onAsk(ask: FileAsk, post: (answer: FileAnswer, transfer?: ArrayBuffer[]) => void): void {
    const reply = (answer: FileAnswer): void => {
      if (answer.kind !== 'data') return post(answer);
      const body = movable(answer.body);
      post({ kind: 'data', body }, [body.buffer as ArrayBuffer]);
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
}
