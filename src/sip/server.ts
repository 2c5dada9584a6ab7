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
 * The thread machinery the UDP faces share (log lines, counters, restarts with back-off, a reload
 * refused while the thread is down, PROVD_ERR_SIP_WORKER after MAX_DEATHS deaths) is
 * src/facethread/host.ts.
 */
import { join } from 'node:path';
import { errorMessage, type ProvError } from '../errors';
import { FaceThread } from '../facethread/host';
import { parseCidr, type Cidr } from '../net/ipv4';
import { baseUrlFor, PhoneService } from '../phones/service';
import { loadPhonesDomain } from '../phones/domain';
import { openConfiguredStore } from '../store/open';
import type { StoreConfig } from '../store/config';
import { redactKeys, urlKeysOf } from '../urls/plan';
import type { PhoneServiceConfig } from '../phones/service';
import type { Store } from '../store/repository';
import type { AskAnswer, AskQuery, Served, SipFaceConfig } from './engine';
import type { Face, FaceHealth } from '../face';
import type { Logger } from '../log';

/** SipFaceMainConfig is what the face reads in the main thread (the daemon passes the whole configuration). */
export interface SipFaceMainConfig extends SipFaceConfig, PhoneServiceConfig {
  readonly http: { readonly host: string; readonly port: number; readonly tls?: unknown };
  readonly stateDir: string;
  /** store: the configured store (PostgreSQL when store.url is set; absent: the SQLite file in stateDir). */
  readonly store?: StoreConfig;
}

/** SipFaceOptions are the face's dependencies. */
export interface SipFaceOptions {
  readonly config: SipFaceMainConfig;
  readonly log: Logger;
  /** store: an opened store (tests, or the daemon's); by default the face opens stateDir's. */
  readonly store?: Store;
  readonly checkPortFree?: boolean;
  /** onFatal is told when the thread keeps dying (PROVD_ERR_SIP_WORKER); the CLI then exits non-zero. */
  readonly onFatal?: (err: ProvError) => void;
}

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
  private readonly mainCounters = new Map<string, number>();
  private readonly host: FaceThread<SipFaceConfig, Served, AskQuery, AskAnswer>;

  constructor(private readonly opts: SipFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.store = opts.store;
    this.room = { service: undefined, allowFrom: [], keys: [] };
    this.host = new FaceThread<SipFaceConfig, Served, AskQuery, AskAnswer>({
      label: 'SIP',
      script: join(__dirname, 'thread.js'),
      threadName: 'provisiond-sip',
      workerCode: 'PROVD_ERR_SIP_WORKER',
      log: opts.log,
      checkPortFree: opts.checkPortFree !== false,
      ...(opts.onFatal ? { onFatal: opts.onFatal } : {}),
      onAsk: (query, reply) => reply(this.decide(query)),
    });
  }

  /** port is the group socket's UDP port. */
  get port(): number | undefined {
    return this.host.served?.port;
  }

  /** interfaces lists the served interfaces with their reply ports. */
  get interfaces(): Served['interfaces'] {
    return this.host.served?.interfaces ?? [];
  }

  private started = false;
  private closed = false;

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.openStore(this.config);
      this.room = this.buildRoom(this.config);
      await this.host.start(threadConfig(this.config));
    } catch (err) {
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
    await this.openStore(config);
    const room = this.buildRoom(config);
    await this.host.reload(threadConfig(config), config.log?.level);
    this.room.service?.clear();
    this.room = room;
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.host.close();
    this.closeStore();
  }

  /** health: the thread serves (not while it is restarted after a death). */
  health(): FaceHealth {
    return this.host.up ? { ready: true } : { ready: false, reason: 'the SIP thread is not serving (starting, restarting after a death, or closed)' };
  }

  stats(): Record<string, number> {
    return { ...this.host.stats(), ...Object.fromEntries(this.mainCounters) };
  }

  async fetchStats(): Promise<Record<string, number>> {
    await this.host.fetchStats();
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
    const store = this.store;
    if (!config.phones.enabled || store === undefined) return { service: undefined, allowFrom, keys: [] };
    const domain = loadPhonesDomain(config.phones);
    const service = new PhoneService(config, { phones: store.phones, users: store.sync?.users, keys: store.sync?.keys, domain });
    return { service, allowFrom, keys: urlKeysOf(config) };
  }

  /**
   * openStore opens the configured store the first time phones are enabled: the SQLite file in
   * stateDir, or PostgreSQL (store.url), whose phones are a kept-in-memory view of the shared
   * tables, so the room reads them synchronously like SQLite's. It stays open until the face
   * closes: a reload never moves it (stateDir and store.url take effect at a restart).
   */
  private async openStore(config: SipFaceMainConfig): Promise<void> {
    if (this.store !== undefined || !config.phones.enabled) return;
    this.store = await openConfiguredStore(config.stateDir, config.store, { check: false, busyTimeoutMs: 0 });
  }

  private closeStore(): void {
    if (this.opts.store === undefined) void this.store?.close();
    this.store = undefined;
  }
}
