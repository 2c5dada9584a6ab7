/**
 * server.ts: SipFace, the SIP Plug-and-Play face the daemon runs; the socket loop is engine.ts.
 *
 * Built on the DHCP face's isolation (src/dhcp/server.ts): the engine runs in a worker thread of
 * its own (thread.ts), so a main loop saturated by HTTP never delays a phone's 200 and NOTIFY.
 * This side hands the thread the configuration it reads (`sip` only) at start and on reload,
 * writes its log lines through the face's pino logger (in flight bounded by the thread), keeps
 * its counters (posted every second when they changed; fetchStats asks now), and answers its
 * questions: who gets a NOTIFY and with which URL needs the store and the profiles, so the
 * decision is PhoneService.pnpTarget (src/phones/pnp.ts) here, synchronous, on a store this face
 * opens in `stateDir` (or the daemon's, in tests). A decision with a URL is logged here with the
 * tenant's key redacted.
 *
 * A thread that dies is restarted on the running configuration after a back-off that doubles per
 * death (0.5 s up to 30 s); a reload while it is down is refused (PROVD_ERR_SIP_WORKER).
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { ProvError, errorMessage, type ErrorCode } from '../errors';
import { parseCidr, type Cidr } from '../net/ipv4';
import { baseUrlFor, PhoneService } from '../phones/service';
import { loadPhonesDomain } from '../phones/domain';
import { openSqliteStore } from '../store/sqlite';
import { redactKeys, urlKeysOf } from '../urls/plan';
import type { PhoneServiceConfig } from '../phones/service';
import type { Store } from '../store/repository';
import type { AskAnswer, AskQuery, Served, SipFaceConfig } from './engine';
import type { ToThread, FromThread, ThreadData } from './thread';
import type { Face } from '../face';
import type { Logger } from '../log';

/** SipFaceMainConfig is what the face reads in the main thread (the daemon passes the whole configuration). */
export interface SipFaceMainConfig extends SipFaceConfig, PhoneServiceConfig {
  readonly http: { readonly host: string; readonly port: number; readonly tls?: unknown };
  readonly stateDir: string;
}

/** SipFaceOptions are the face's dependencies. */
export interface SipFaceOptions {
  readonly config: SipFaceMainConfig;
  readonly log: Logger;
  /** store: an opened store (tests, or the daemon's); by default the face opens stateDir's. */
  readonly store?: Store;
  readonly checkPortFree?: boolean;
}

const START_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 5_000;
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;
const LEVEL_POLL_MS = 250;
const SILENT = 0x7fffffff;

/** threadConfig is the part of the configuration the thread reads. */
export function threadConfig(c: SipFaceConfig): SipFaceConfig {
  return { sip: c.sip, ...(c.log ? { log: { level: c.log.level } } : {}) };
}

interface Room {
  readonly service: PhoneService | undefined;
  readonly allowFrom: readonly Cidr[];
  readonly keys: readonly string[];
}

/** SipFace is the PnP responder: ua-profile SUBSCRIBE in, 200 and NOTIFY with the phone's URL out. */
export class SipFace implements Face<SipFaceMainConfig> {
  readonly name = 'sip';
  private readonly log: Logger;
  private config: SipFaceMainConfig;
  private room: Room;
  private store: Store | undefined;
  private worker: Worker | undefined;
  private served: Served | undefined;
  private lastStats: Record<string, number> = {};
  private readonly mainCounters = new Map<string, number>();
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

  constructor(private readonly opts: SipFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.store = opts.store;
    this.room = { service: undefined, allowFrom: [], keys: [] };
  }

  /** port is the group socket's UDP port. */
  get port(): number | undefined {
    return this.served?.port;
  }

  /** interfaces lists the served interfaces with their reply ports. */
  get interfaces(): Served['interfaces'] {
    return this.served?.interfaces ?? [];
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.room = this.buildRoom(this.config);
    this.copyLevel();
    this.levelTimer = setInterval(() => this.copyLevel(), LEVEL_POLL_MS);
    this.levelTimer.unref();
    try {
      await this.spawn();
    } catch (err) {
      this.stopTimers();
      this.closed = true;
      this.closeStore();
      throw err;
    }
  }

  async reload(config: SipFaceMainConfig): Promise<void> {
    if (!this.started || this.closed) {
      this.config = config;
      return;
    }
    const w = this.worker;
    if (!w || !this.serving) throw new ProvError('PROVD_ERR_SIP_WORKER', 'the SIP thread is down (being restarted): reload refused, send SIGHUP again once it serves');
    const room = this.buildRoom(config);
    const id = this.nextId++;
    const m = await this.request(w, { t: 'reload', id, config: threadConfig(config) }, id);
    if (m?.t === 'reload-error') throw new ProvError(asCode(m.code), m.message);
    if (m?.t !== 'reloaded') throw new ProvError('PROVD_ERR_SIP_WORKER', `the SIP thread did not confirm the reload within ${START_TIMEOUT_MS / 1000} s`);
    this.room.service?.clear();
    this.room = room;
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    const w = this.worker;
    this.worker = undefined;
    this.served = undefined;
    if (w) {
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      const killer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
      w.postMessage({ t: 'close' } satisfies ToThread);
      await exited;
      clearTimeout(killer);
    }
    this.closeStore();
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.lastStats, ...Object.fromEntries(this.mainCounters) };
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

  /** decide answers the thread's question (PhoneService.pnpTarget); never throws. */
  decide(q: AskQuery): AskAnswer {
    try {
      const room = this.room;
      if (room.service === undefined) return { ok: false, reason: 'phones-disabled' };
      const http = this.config.http;
      const wildcard = http.host === '0.0.0.0' || http.host === '::' || http.host === '';
      const baseUrl = baseUrlFor(this.config.phones, { tls: http.tls !== undefined && http.tls !== null, address: wildcard ? q.iface : http.host, port: http.port });
      const d = room.service.pnpTarget({ mac: q.mac, ip: q.ip, vendorHint: q.vendorHint, modelHint: q.modelHint, baseUrl }, { tenant: this.config.sip.tenant, allowFrom: room.allowFrom });
      if (!d.ok) return { ok: false, reason: d.reason };
      this.log.info({ mac: q.mac, ip: q.ip, vendor: d.vendor, tenant: d.tenant, known: d.known, url: redactKeys(d.url, room.keys) }, 'PnP URL handed out');
      return { ok: true, url: d.url, vendor: d.vendor };
    } catch (err) {
      this.mainCounters.set('decide-error', (this.mainCounters.get('decide-error') ?? 0) + 1);
      this.log.error({ err: errorMessage(err), mac: q.mac }, 'PnP decision failed');
      return { ok: false, reason: 'internal-error' };
    }
  }

  private buildRoom(config: SipFaceMainConfig): Room {
    const allowFrom = config.sip.allowFrom.flatMap((c) => {
      const r = parseCidr(c);
      return r.ok ? [r.value] : [];
    });
    if (!config.phones.enabled) return { service: undefined, allowFrom, keys: [] };
    this.store ??= openSqliteStore(config.stateDir, { check: false, busyTimeoutMs: 0 });
    const domain = loadPhonesDomain(config.phones);
    const service = new PhoneService(config, { phones: this.store.phones, users: this.store.users, keys: this.store.keys, domain });
    return { service, allowFrom, keys: urlKeysOf(config) };
  }

  private closeStore(): void {
    if (this.opts.store === undefined) this.store?.close();
    this.store = undefined;
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
        w.postMessage({ t: 'answer', id: m.id, answer: this.decide(m.query) } satisfies ToThread);
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
    const w = new Worker(join(__dirname, 'thread.js'), { workerData: data, name: 'provisiond-sip' });
    this.worker = w;
    this.serving = false;
    w.on('message', (m: FromThread) => {
      if (this.worker === w || m.t === 'log' || m.t === 'closed') this.onMessage(w, m);
    });
    w.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'SIP thread failed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new ProvError('PROVD_ERR_SIP_WORKER', `the SIP thread did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
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
      const onExit = (code: number): void => fail(new ProvError('PROVD_ERR_SIP_WORKER', `the SIP thread exited during startup (code ${code})`));
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
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.min(this.deaths - 1, 16));
    this.log.error({ code, deaths: this.deaths, restartInMs: delay }, 'SIP thread died');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.spawn().then(
        () => {
          this.restarts++;
          this.log.info({ deaths: this.deaths }, 'SIP thread restarted');
        },
        (err: unknown) => {
          if (this.closed) return;
          this.log.error({ err: errorMessage(err) }, 'SIP thread restart failed');
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
