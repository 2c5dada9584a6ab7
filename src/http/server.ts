/**
 * server.ts: the HTTP face: fastify listeners around handler.ts, TLS, reload and counters.
 *
 * Routes: POST /jitsi (the Jitsi client), GET /jitsi?… (manual tests, Openfire-style clients),
 * POST /jitsiprovs/ (drop-in path for JitsiProvS users), GET|POST /plugins/jitsiProvisioning/provision
 * (the Openfire plugin's path, `username`/`password`/`secret`: refusals are ours, not the plugin's
 * blanket 401). A trailing slash is accepted on each, without a redirect. With `phones.enabled`,
 * SIP desk phones' files (GET and HEAD): `/device/provisioning/<key>/<file>` (wazo-provd's URLs),
 * `/<key>/<file>` and, for an `auth: none` default tenant, `/<file>`; the Jitsi routes are static
 * and win over these. Bodies are taken raw and parsed by jitsi/form.ts, whatever the
 * Content-Type parameters say (Jitsi sends no charset). Nothing is compressed.
 *
 * Logging: fastify's own request logging is off, because URLs of GET requests carry passwords;
 * one line per request is written here with the path only (never the query) at debug level for
 * 200 and info level otherwise.
 */
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyReply } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readTls, type TlsMaterial } from './tls';
import { handleProvisioning, type HandlerDeps, type HttpAnswer, type HttpRequestInfo } from './handler';
import { Engine } from '../jitsi/engine';
import { RateLimiter } from '../limits/ratelimit';
import { openConfiguredStore } from '../store/open';
import type { StoreConfig } from '../store/config';
import { StoreBusyError, type Store } from '../store/repository';
import { DeviceWriteBehind } from '../store/writebehind';
import { PhoneSightings } from '../store/sightings';
import { ProvError, errorMessage } from '../errors';
import type { Face, FaceHealth } from '../face';
import type { Logger } from '../log';
import { join } from 'node:path';
import type { BanList } from '../limits/bans';
import { makeBanList, type FaceBans } from '../limits/banstore';
import { RememberedLogins, loadRememberKey, type RememberKey, type RememberOptions } from '../identity/remembered';
import { kdfEstimate, kdfState } from '../identity/kdf';
import { activity } from '../activity';
import { eventLogFor, type EventSink, type OpenEventLog } from '../limits/events';
import { DeviceQuota } from '../limits/quota';
import { Episode } from '../episode';
import { clientAddress, compileProxies, type ProxyList } from './peer';
import { ConnectionGuard } from './conn';
import type { HttpConfig } from './config';
import type { DevicesConfig } from '../limits/config';
import type { JitsiConfig } from '../jitsi/config';
import type { PhonesConfig } from '../phones/config';
import { loadPhonesDomain } from '../phones/domain';
import { PhoneService, baseUrlFor, syncDeclared } from '../phones/service';
import { answerStatic, openStatic } from '../phones/static';
import { classifyUpload, storeUpload, type UploadResult } from '../phones/uploads';
import { servePhoneRequest, STATIC_FALLBACK, type PhoneRoom } from '../phones/request';
import { AsyncDeviceQuota, SharedDeviceQuota, deviceSource } from '../limits/quota';

/** PATHS are the provisioning endpoints. */
export const PATHS = { jitsi: '/jitsi', jitsiprovs: '/jitsiprovs/', openfire: '/plugins/jitsiProvisioning/provision' } as const;
/** KEYED_PATHS are the same endpoints under a provisioning key (`/<key>/jitsi`). */
export const KEYED_PATHS = { jitsi: '/:key/jitsi', jitsiprovs: '/:key/jitsiprovs/' } as const;
/** PHONE_PATHS are the SIP phones' file routes (phones.enabled): wazo-provd's, keyed, unkeyed. */
export const PHONE_PATHS = { wazo: '/device/provisioning/:key/*', keyed: '/:key/*', unkeyed: '/*' } as const;
/** MAX_KEY_LENGTH: wazo-provd's keys are up to 255 characters (find-my-way's maxParamLength). */
const MAX_KEY_LENGTH = 256;

/**
 * HttpFaceConfig is the configuration the HTTP face reads: its own section, the provisioning
 * section its engine serves, the device caps and the state directory (the store, the event
 * log). The daemon passes the whole configuration, a structural superset.
 */
export interface HttpFaceConfig {
  readonly http: HttpConfig;
  readonly provisioning: JitsiConfig;
  readonly devices: DevicesConfig;
  readonly phones: PhonesConfig;
  readonly stateDir: string;
  /** store: PostgreSQL when store.url is set (absent: the SQLite file in stateDir). */
  readonly store?: StoreConfig;
}

/** HttpFaceOptions are the face's dependencies. */
export interface HttpFaceOptions {
  readonly config: HttpFaceConfig;
  readonly log: Logger;
  /** store: an opened store (tests); otherwise the face opens stateDir's SQLite file. */
  readonly store?: Store;
  /** warnings: false skips the startup warnings (HTTP workers: the primary logs them once). */
  readonly warnings?: boolean;
  /** checkStore: false skips the store's start-time integrity check (HTTP workers: the primary ran it). */
  readonly checkStore?: boolean;
  /**
   * syncDeclared: false leaves the YAML file's phones.configs/devices out of the store (HTTP
   * workers: the primary, which owns the store, seeds them at start and at each reload).
   */
  readonly syncDeclared?: boolean;
}

/** FaceDeps are the handler's dependencies plus the phones room (phones.enabled). */
interface FaceDeps extends HandlerDeps {
  readonly phones?: { readonly service: PhoneService; readonly quota: DeviceQuota | undefined };
}

/**
 * seedDeclared writes the YAML file's phones.configs/devices into the store (syncDeclared) and
 * logs every problem as a warning (PROVD_ERR_PHONE_STORE); it returns how many problems there
 * were. It never throws: a store busy with another process is one more problem (the next
 * reload tries again).
 */
export function seedDeclared(store: Store, config: Pick<HttpFaceConfig, 'phones' | 'provisioning'>, log: Logger): number {
  if (!config.phones.enabled || (config.phones.configs.length === 0 && config.phones.devices.length === 0)) return 0;
  try {
    const r = syncDeclared(store.phones, config.phones, config.provisioning.defaultDomain);
    for (const problem of r.problems) log.warn({ code: 'PROVD_ERR_PHONE_STORE', problem }, 'declared phone config or device not written to the store');
    if (r.configs + r.devices > 0) log.info({ configs: r.configs, devices: r.devices }, 'declared phone configs and devices written to the store');
    return r.problems.length;
  } catch (err) {
    log.warn({ code: 'PROVD_ERR_PHONE_STORE', err: errorMessage(err) }, 'declared phone configs and devices not written to the store (the next reload tries again)');
    return 1;
  }
}

interface Listeners {
  readonly main: FastifyInstance;
  readonly plain: FastifyInstance | undefined;
  /** place is where they listen (placeSignature): only a change of it needs new sockets. */
  readonly place: string;
}

/**
 * placeSignature is what needs new listening sockets when it changes: the address, the port and
 * whether the port speaks TLS. Everything else (bodyLimit, timeouts, maxConnections, the
 * per-source cap, trustedProxies, the certificate) is applied to the running listeners; backlog
 * can only change with a new listen(2), so it applies at the next one.
 */
function placeSignature(c: HttpFaceConfig): string {
  const h = c.http;
  return JSON.stringify([h.host, h.port, h.tls !== undefined, h.tls !== undefined ? (h.plainPort ?? null) : null]);
}

/** CHECK_INTERVAL_MS: how often Node checks headersTimeout/requestTimeout (assignable at run time, the interval is not). */
const CHECK_INTERVAL_MS = 500;
/** MAX_DRAIN_MS bounds how long a moved-away listener waits for its in-flight requests. */
const MAX_DRAIN_MS = 30_000;

/** BodyError is a body that cannot be read: too large (413) or cut short (400). */
class BodyError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let seq = 0;
const reqPrefix = randomBytes(3).toString('hex');
/** nextRequestId makes short unique ids (process prefix + counter) for logs and 500 bodies. */
function nextRequestId(): string {
  seq = (seq + 1) % Number.MAX_SAFE_INTEGER;
  return `${reqPrefix}-${seq.toString(36)}`;
}

/** STATUS_KEYS: the `status:NNN` counter names, made once (not a new string per request). */
const STATUS_KEYS = new Map<number, string>();
function statusKey(status: number): string {
  let k = STATUS_KEYS.get(status);
  if (k === undefined) STATUS_KEYS.set(status, (k = `status:${status}`));
  return k;
}

/**
 * readDirect reads a request body whose Content-Length was checked against http.bodyLimit (Node's
 * parser stops at Content-Length); undefined when the request is cut short.
 */
function readDirect(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    // `on`, not `once` (no wrapper per listener); a second resolve is a no-op.
    req.on('data', (c: Buffer) => {
      if (first === undefined) first = c;
      else (chunks ??= [first]).push(c);
    });
    req.on('end', () => resolve(chunks !== undefined ? Buffer.concat(chunks) : (first ?? Buffer.alloc(0))));
    req.on('error', () => resolve(undefined));
    req.on('aborted', () => resolve(undefined));
  });
}

/** HttpFace serves the provisioning endpoints. */
export class HttpFace implements Face<HttpFaceConfig> {
  readonly name = 'http';
  private readonly log: Logger;
  private config: HttpFaceConfig;
  private store: Store | undefined;
  private readonly ownStore: boolean;
  private deps: FaceDeps | undefined;
  private listeners: Listeners | undefined;
  private closed = false;
  private readonly counters = new Map<string, number>();
  /** saturated is a run of 429s because the password checks (KDF queue) are full: logged once. */
  private readonly saturated = new Episode(5000);
  /** storeDown is a run of 503s because the store could not answer a login: logged once (onStoreDown). */
  private readonly storeDown = new Episode(5000);
  /** runs of refusals per (source, outcome), logged once each with a summary (onRefused). */
  private readonly runs = new Map<string, { readonly episode: Episode; readonly ip: string; readonly outcome: string; readonly status: number }>();
  private runsTimer: NodeJS.Timeout | undefined;
  private bans: { readonly list: BanList; readonly signature: string } | undefined;
  private events: OpenEventLog | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruneRetry: NodeJS.Timeout | undefined;
  /** remembered: password verifications remembered in the store (undefined: no store support or no usable key). */
  private remembered: RememberedLogins | undefined;
  /** inventory: the device writes, buffered while another process holds the store's lock. */
  private inventory: DeviceWriteBehind | undefined;
  /** sightings: the phones' sightings, buffered and written in batches. */
  private sightings: PhoneSightings | undefined;
  /** draining are listeners replaced by a move, finishing their in-flight requests. */
  private readonly draining = new Set<Listeners>();
  /** drainingApps: their answers close the connection (the listener is going away). */
  private readonly drainingApps = new WeakSet<FastifyInstance>();
  /** proxies is the compiled http.trustedProxies of the current configuration. */
  private proxies: ProxyList;
  /** guard admits connections: per-source cap and first-byte timeout, from the current configuration. */
  private readonly guard: ConnectionGuard;

  constructor(private readonly opts: HttpFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.proxies = compileProxies(opts.config.http.trustedProxies);
    this.guard = new ConnectionGuard(
      () => ({ perSource: this.config.http.maxConnectionsPerSource, firstByteMs: this.config.http.firstByteTimeout * 1000, proxies: this.proxies }),
      (name) => this.count(name),
      this.log,
    );
    this.store = opts.store;
    this.ownStore = opts.store === undefined;
  }

  /** port is the bound main port (HTTPS when tls is set). */
  get port(): number | undefined {
    return portOf(this.listeners?.main);
  }

  /** plainPort is the bound plain-HTTP port, when http.plainPort is set. */
  get plainPort(): number | undefined {
    return portOf(this.listeners?.plain);
  }

  /** app is the main fastify instance, for inject() in tests. */
  get app(): FastifyInstance | undefined {
    return this.listeners?.main;
  }

  /** engine is the current provisioning engine (tests). */
  get engine(): Engine | undefined {
    return this.deps?.engine;
  }

  async start(): Promise<void> {
    // busyTimeoutMs 0: a statement never waits for another process's lock on the event loop.
    this.store ??= await openConfiguredStore(this.config.stateDir, this.config.store, { check: this.opts.checkStore !== false, busyTimeoutMs: 0 });
    const store = this.store;
    this.inventory = new DeviceWriteBehind(store.devices, { log: this.log, setBusyTimeout: (ms) => store.setBusyTimeout?.(ms) });
    this.sightings = new PhoneSightings(store.phones, { log: this.log, setBusyTimeout: (ms) => store.setBusyTimeout?.(ms) });
    this.remembered = this.openRemembered(store);
    this.deps = await this.makeDeps(this.config);
    this.seed(this.config);
    this.warnings(this.config);
    this.listeners = await this.listen(this.config);
    await this.prune();
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  /**
   * prune deletes the device records never successfully provisioned whose first request is older
   * than devices.pruneAfter (junk an attacker or a misconfigured client created). It returns how
   * many went; it runs at start and every hour. When another process holds the store's lock it
   * is skipped, counted, and tried again a minute later (it never waits).
   */
  async prune(now: Date = new Date()): Promise<number> {
    const after = this.config.devices.pruneAfter;
    if (after === 0 || !this.store || this.closed) return 0;
    try {
      const n = await this.store.devices.pruneUnprovisioned(new Date(now.getTime() - after * 1000).toISOString());
      if (n > 0) {
        this.counters.set('devices-pruned', (this.counters.get('devices-pruned') ?? 0) + n);
        this.log.info({ pruned: n, pruneAfter: after }, 'pruned device records never successfully provisioned');
      }
      return n;
    } catch (err) {
      if (err instanceof StoreBusyError) {
        this.count('store-busy:prune');
        if (this.pruneRetry === undefined) {
          this.pruneRetry = setTimeout(() => {
            this.pruneRetry = undefined;
            void this.prune();
          }, PRUNE_RETRY_MS);
          this.pruneRetry.unref();
        }
        return 0;
      }
      this.log.error({ err: errorMessage(err) }, 'device pruning failed');
      return 0;
    }
  }

  async reload(config: HttpFaceConfig): Promise<void> {
    const deps = await this.makeDeps(config); // throws: keep the old state
    if (config.stateDir !== this.config.stateDir) this.log.warn({ stateDir: config.stateDir }, 'stateDir changes take effect at the next restart');
    const old = this.listeners;
    if (old && placeSignature(config) !== old.place) {
      this.listeners = await this.move(old, config); // throws: the old listeners still serve
    } else if (old) {
      // The same sockets: apply the settings to the running servers, nothing is closed.
      const m = config.http.tls ? readTls(config.http.tls) : undefined; // throws: keep the old state
      for (const app of [old.main, old.plain]) if (app) applyServerSettings(app, config);
      if (m && config.http.tls) {
        // SIGHUP re-reads the certificate (renewals) even when the paths did not change.
        (old.main.server as unknown as { setSecureContext(o: { cert: Buffer; key: Buffer }): void }).setSecureContext({ cert: m.cert, key: m.key });
        this.log.info({ cert: config.http.tls.cert }, 'TLS certificate re-read');
      }
      if (config.http.backlog !== this.config.http.backlog) {
        this.log.info({ backlog: config.http.backlog }, 'http.backlog applies when the listening socket is next opened (a restart, or a change of http.host, http.port or http.tls)');
      }
    }
    this.deps = deps;
    this.config = config;
    this.proxies = compileProxies(config.http.trustedProxies);
    this.seed(config);
    this.warnings(config);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.pruneRetry) clearTimeout(this.pruneRetry);
    this.saturated.stop();
    this.storeDown.stop();
    this.endRuns(true);
    this.guard.close();
    const l = this.listeners;
    this.listeners = undefined;
    await Promise.allSettled([...(l ? [closeListeners(l)] : []), ...[...this.draining].map((d) => closeListeners(d))]);
    this.draining.clear();
    this.events?.sink.close();
    await this.remembered?.close(); // the verifiers waiting to be written
    await this.inventory?.close(); // the buffered device writes, if a lock held them back
    this.sightings?.close();
    if (this.ownStore) await this.store?.close();
  }

  /** openedStore is the store the face answers from (undefined before start): the admin API and status page share it. */
  openedStore(): Store | undefined {
    return this.store;
  }

  /** banList is the face's BanList: the admin API counts its token failures into it (undefined before start). */
  banList(): BanList | undefined {
    return this.bans?.list;
  }

  /** eventSink is the face's security event log (the admin API writes its token failures there; undefined before start). */
  eventSink(): EventSink | undefined {
    return this.events?.sink;
  }

  /** bans is the face's live bans, listed and lifted over the control socket (undefined before start). */
  banControl(): FaceBans | undefined {
    const list = this.bans?.list;
    return list ? { list: () => list.list(), lift: (match) => list.lift(match) } : undefined;
  }

  /** health: its listeners listen. */
  health(): FaceHealth {
    const l = this.listeners;
    const ok = l !== undefined && l.main.server.listening && (l.plain === undefined || l.plain.server.listening);
    return ok ? { ready: true } : { ready: false, reason: 'the HTTP face is not listening' };
  }

  stats(): Record<string, number> {
    const out = Object.fromEntries(this.counters);
    const a = this.deps?.engine.auth;
    if (a) {
      out['cache-hits'] = a.cache.hits;
      out['cache-misses'] = a.cache.misses;
      out['kdf-runs'] = a.kdfRuns;
      out['kdf-burns'] = a.burns;
      out['kdf-mimics'] = a.state.mimics;
      if (a.rehashDeferred > 0) out['rehash-deferred:store-busy'] = a.rehashDeferred;
      out['kdf-refused:deadline'] = a.state.refusedDeadline;
      out['kdf-refused:full'] = a.state.refusedFull;
      out['kdf-expired'] = a.state.expired;
      const pool = kdfState();
      out['kdf-busy-ms'] = Math.round(pool.busyMs);
      out['kdf-missed-ms'] = Math.round(pool.missedMs);
      out['kdf-threads'] = pool.limit;
      const est = kdfEstimate(this.config.provisioning.passwords.scryptCost);
      if (est !== undefined) out['kdf-runs-per-second'] = Math.round(est.runsPerSecond * 10) / 10;
    }
    if (this.remembered) Object.assign(out, this.remembered.stats());
    if (this.inventory) Object.assign(out, this.inventory.stats());
    if (this.store?.stats) Object.assign(out, this.store.stats());
    if (this.sightings && this.config.phones.enabled) Object.assign(out, this.sightings.stats());
    return out;
  }

  /** logRequest writes the request's log line: the path only, never the query or the body. */
  private logRequest(info: HttpRequestInfo, url: string, q: number, a: HttpAnswer, t0: number): void {
    const fields = {
      reqId: info.requestId,
      ip: info.ip,
      method: info.method,
      // The key is a secret: the logged path shows where it was, never what it was.
      path: loggedPath(url, q, info.key !== undefined),
      status: a.status,
      outcome: a.outcome,
      tenant: a.result?.tenant ?? a.result?.askedTenant ?? undefined,
      // A refused attempt names the user it claimed to be (name@domain; never the password).
      user: a.result?.user ?? a.claimedUser ?? undefined,
      device: a.result?.device.key ?? undefined,
      ms: Math.round((performance.now() - t0) * 100) / 100,
    };
    // Each ban at warn in the main log (the event log has fail2ban's line): who, which tenant, until when.
    for (const b of a.bans ?? []) {
      this.log.warn(
        { ip: info.ip, scope: b.scope, subject: b.subject, user: fields.user, tenant: fields.tenant, until: new Date(b.until).toISOString(), banTime: this.config.http.bans.banTime },
        b.scope === 'ip' ? 'address banned after repeated failed attempts' : 'user banned after repeated failed attempts',
      );
    }
    if (a.notRecorded !== undefined) {
      const first = (this.counters.get(`devices-not-recorded:${a.notRecorded}`) ?? 0) === 0;
      this.count(`devices-not-recorded:${a.notRecorded}`);
      // Once per reason (SIGUSR1 shows the counters): a flood must not flood the log too.
      if (first) this.log.warn({ ...fields, reason: a.notRecorded }, 'device cap reached: new devices are answered but not recorded');
    }
    if (a.inventoryError !== undefined) {
      this.count('inventory-error');
      this.log.error({ ...fields, err: a.inventoryError }, 'device inventory not updated');
    }
    if (a.status === 500) this.log.error({ ...fields, err: a.result?.error }, 'provisioning request failed');
    else if (a.status === 200) this.log.debug(fields, 'provisioning request');
    else if (a.outcome === 'banned') this.log.debug(fields, 'provisioning request'); // the ban itself is logged once (event log)
    else if (a.outcome === 'busy') this.onSaturated(fields);
    else if (a.outcome === 'store-unavailable') this.onStoreDown(fields);
    else if (a.outcome !== 'rate-limited') this.onRefused(info.ip, a, fields); // one line per flood: rate-limited-first
  }

  /**
   * onRefused logs a refusal (400, 401, 404...) once per run of the same outcome from the same
   * source, and a summary with the count when the run ends (5 s quiet, or close): attackers do not
   * set the log volume (issue 10). At most MAX_RUNS sources are tracked; beyond, they share one run.
   */
  private onRefused(ip: string, a: Pick<HttpAnswer, 'status' | 'outcome'>, fields: Record<string, unknown>, msg = 'provisioning request'): void {
    let key = `${ip}\0${a.outcome}`;
    if (!this.runs.has(key) && this.runs.size >= MAX_RUNS) key = `*\0${a.outcome}`;
    let run = this.runs.get(key);
    if (run === undefined) {
      run = { episode: new Episode(RUN_QUIET_MS), ip: key.startsWith('*\0') ? 'many' : ip, outcome: a.outcome, status: a.status };
      this.runs.set(key, run);
    }
    if (run.episode.hit()) this.log.info(fields, msg);
    else this.log.debug(fields, msg);
    if (this.runsTimer === undefined) {
      this.runsTimer = setInterval(() => this.endRuns(false), RUN_CHECK_MS);
      this.runsTimer.unref();
    }
  }

  /**
   * logRefusedHttp logs a refusal fastify answers itself (unknown path, body too large, malformed
   * request): the path only (never the query or the body), once per run from one source like the
   * provisioning refusals.
   */
  private logRefusedHttp(request: FastifyRequest, status: number, outcome: string): void {
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const path = (q < 0 ? url : url.slice(0, q)).slice(0, 200);
    const fields = { reqId: String(request.id), ip: request.ip, method: request.method, path, status, outcome };
    this.onRefused(request.ip, { status, outcome }, fields, 'HTTP request refused');
  }

  /** endRuns writes the summary of every run that has been quiet (or of all of them: close). */
  private endRuns(all: boolean): void {
    for (const [key, run] of this.runs) {
      const ended = all ? run.episode.flush() : run.episode.check();
      if (ended === undefined) continue;
      this.runs.delete(key);
      if (ended.events > 1) {
        this.log.info({ ip: run.ip, status: run.status, outcome: run.outcome, requests: ended.events, ms: ended.ms }, 'provisioning requests refused (summary of a run from one source; the first was logged)');
      }
    }
    if (this.runs.size === 0 && this.runsTimer !== undefined) {
      clearInterval(this.runsTimer);
      this.runsTimer = undefined;
    }
  }

  /**
   * dropDeadline closes the connection of a request whose client timeout ran out while its
   * password check waited (the check never ran). Closing is what the Jitsi client handles best:
   * its retry handler re-sends a request whose connection closed without an answer (up to 3
   * times, contract §4.4), where a 429 or 503 ends its provisioning; our deadline is half a
   * second before its own timeout, so the retry comes while it still listens.
   */
  private dropDeadline(info: HttpRequestInfo, socket: { destroy(): void } | undefined): void {
    this.count('dropped:deadline-passed');
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reqId: info.requestId, ip: info.ip, outcome: 'deadline-passed' }, 'password check not run: the client timeout ran out while it waited; connection closed');
    socket?.destroy();
  }

  /**
   * onStoreDown counts a login answered 503 because the store could not answer, and logs the
   * first of an episode at error (PROVD_ERR_STORE_UNREACHABLE) and, after 5 s without one, a
   * summary: a store down under a storm is one line, not one per login.
   */
  private onStoreDown(fields: Record<string, unknown>): void {
    this.count('store-unavailable:login');
    if (!this.storeDown.hit()) {
      this.log.debug(fields, 'provisioning request');
      return;
    }
    this.log.error(
      { ...fields, code: 'PROVD_ERR_STORE_UNREACHABLE', store: this.store?.location },
      'the store cannot answer: logins that need it are answered 503 with Retry-After (logins in the memory cache still 200); one line per episode, each counted as store-unavailable:login',
    );
    this.storeDown.watch((ended) => this.log.info({ refused: ended.events, ms: ended.ms }, 'no login refused for the store for 5 s'));
  }

  /** onSaturated logs the first 429 of a KDF-saturation episode and, once it is over, a summary. */
  private onSaturated(fields: Record<string, unknown>): void {
    if (!this.saturated.hit()) {
      this.log.debug(fields, 'provisioning request');
      return;
    }
    const p = this.config.provisioning.passwords;
    this.log.warn(
      { ...fields, clientTimeout: p.clientTimeout, maxPendingVerifications: p.maxPendingVerifications, kdfRunsPerSecond: kdfEstimate(p.scryptCost)?.runsPerSecond },
      'password checks saturated: logins the measured KDF rate cannot answer within passwords.clientTimeout are answered 429 until the queue drains (one line per episode; each counted as status:429)',
    );
    this.saturated.watch((ended) => this.log.info({ refused: ended.events, ms: ended.ms }, 'password checks no longer saturated'));
  }

  /** readBody reads a request body up to the current http.bodyLimit (413 beyond, before reading it when Content-Length says so). */
  private readBody(request: FastifyRequest, payload: NodeJS.ReadableStream, done: (err: Error | null, body?: Buffer) => void): void {
    // A phone's PUT (Polycom's logs and overrides) has its own cap; every other body http.bodyLimit.
    const limit = request.method === 'PUT' ? this.config.phones.maxUploadBytes : this.config.http.bodyLimit;
    if (Number(request.headers['content-length']) > limit) {
      done(new BodyError(413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'request body too large'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err: Error | null, body?: Buffer): void => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
      done(err, body);
    };
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      size += b.length;
      if (size > limit) finish(new BodyError(413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'request body too large'));
      else chunks.push(b);
    };
    const onEnd = (): void => finish(null, Buffer.concat(chunks, size));
    const onError = (err: Error): void => finish(new BodyError(400, 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', `request body cut short: ${err.message}`));
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  }

  /**
   * peer is the request's client address, from the current http.trustedProxies (a reload applies
   * it without re-listening); undefined when the socket is already gone (the client closed it, or
   * the parser refused what followed a pipelined request): nobody can read an answer, the
   * request is dropped quietly, counted.
   */
  private peer(request: FastifyRequest, reply: FastifyReply): string | undefined {
    const socket = request.raw.socket as { readonly remoteAddress?: string; readonly destroyed?: boolean; destroy(): void } | undefined;
    const ip = socket?.destroyed === true ? undefined : clientAddress(socket?.remoteAddress, request.headers['x-forwarded-for'], this.proxies);
    if (ip === undefined) {
      this.count('dropped:peer-gone');
      reply.hijack();
      socket?.destroy();
    }
    return ip;
  }

  /** notFound is the 404 of a path that is no endpoint; its body names the endpoints. */
  private notFound(reply: FastifyReply, request?: FastifyRequest): void {
    this.count('status:404');
    if (request) this.logRefusedHttp(request, 404, 'unknown-path');
    const phones = this.deps?.phones !== undefined ? `, and phone files at GET /device/provisioning/<key>/<file>, GET /<key>/<file> and (auth: none default tenant) GET /<file>` : '';
    void reply.code(404).header('content-type', 'text/plain; charset=utf-8').send(`not found; the provisioning endpoints are POST ${PATHS.jitsi}, GET ${PATHS.jitsi}, POST ${PATHS.jitsiprovs} and GET|POST ${PATHS.openfire}${phones}\n`);
  }

  /**
   * servePhone answers a phone file request (issue 12 §5): the same rate limiter and ban
   * admission as the Jitsi endpoints first, then the tenant (by key, or the `auth: none` default
   * tenant unkeyed; any refusal is the same empty 404, a wrong key counts into the bans), then
   * PhoneService.answer. Failures go to the bans and the event log, the phone's sighting to the
   * store (a busy store is counted, never thrown).
   */
  private async servePhone(route: keyof typeof PHONE_PATHS, request: FastifyRequest, reply: FastifyReply, tls: boolean): Promise<void> {
    const t0 = performance.now();
    const deps = this.deps;
    if (!deps) throw new Error('HTTP face has no configuration');
    const room = deps.phones;
    if (room === undefined) return this.notFound(reply, request);
    const ip = this.peer(request, reply);
    if (ip === undefined) return;
    const params = request.params as { key?: string; '*'?: string };
    const key = route === 'unkeyed' ? undefined : params.key;
    const file = params['*'] ?? '';
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const path = route === 'wazo' ? `/device/provisioning/<key>/${file}` : route === 'keyed' ? `/<key>/${file}` : q < 0 ? url : url.slice(0, q);
    const fields = (status: number, outcome: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      reqId: String(request.id),
      ip,
      method: request.method,
      path,
      status,
      outcome,
      ...extra,
      ms: Math.round((performance.now() - t0) * 100) / 100,
    });
    let vendor: string | undefined;
    const send = (status: number, outcome: string, headers: Readonly<Record<string, string>>, body: Buffer | string | NodeJS.ReadableStream, extra: Record<string, unknown> = {}): void => {
      this.count(`status:${status}`);
      this.count(`phones:${outcome}`);
      if (activity.watched) {
        const tenant = typeof extra['tenant'] === 'string' ? extra['tenant'] : undefined;
        activity.emit({ face: 'phones', outcome, ok: status === 200 || status === 304, status, at: Date.now(), ms: performance.now() - t0, ip, tenant, vendor, reason: status < 400 ? undefined : outcome });
      }
      const f = fields(status, outcome, extra);
      if (status === 200 || status === 304 || outcome === 'banned') this.log.debug(f, 'phone file request');
      else if (status === 500) this.log.error(f, 'phone file request failed');
      else if (outcome !== 'rate-limited' && outcome !== 'rate-limited-first') this.onRefused(ip, { status, outcome }, f, 'phone file request');
      void reply.code(status).headers(headers).send(body);
    };
    const text = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

    const socket = request.raw.socket;
    const baseUrl = baseUrlFor(this.config.phones, { tls, address: socket.localAddress ?? this.config.http.host, port: socket.localPort ?? 0 });
    const ifNoneMatch = request.headers['if-none-match'];
    const phoneRoom: PhoneRoom = { service: room.service, quota: room.quota, limiter: deps.limiter, bans: deps.bans, events: deps.events, sightings: this.sightings, now: deps.now };
    const r = await servePhoneRequest<UploadResult>(
      phoneRoom,
      {
        key,
        file,
        ip,
        userAgent: request.headers['user-agent'],
        ifNoneMatch: Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch,
        baseUrl,
      },
      request.method === 'PUT' ? (t) => this.phoneUpload(room.service, t.name, file, request.body) : undefined,
    );
    if (r.kind === 'limited') {
      const message = r.outcome === 'banned' ? 'too many failed attempts; retry later\n' : r.outcome === 'attempts-in-flight' ? 'too many attempts in progress for this address or user; retry shortly\n' : 'too many requests from this address; retry shortly\n';
      return send(429, r.outcome, { ...text, 'retry-after': String(r.retryAfter) }, message);
    }
    if (r.kind === 'busy') return send(503, 'store-busy', { ...text, 'retry-after': '1' }, 'busy; retry shortly\n');
    if (r.kind === 'own') {
      const upload = r.result;
      return send(upload.status, `upload-${upload.reason}`, { 'cache-control': 'no-store' }, Buffer.alloc(0), { tenant: r.tenant, ...(upload.error !== undefined ? { err: upload.error } : {}) });
    }
    if (r.kind === 'refused') return send(404, r.outcome, { 'cache-control': 'no-store' }, Buffer.alloc(0), { tenant: undefined });
    const a = r.answer;
    vendor = a.vendor;
    const tenant = r.tenant;
    const outcome = a.outcome;
    if (r.notRecorded !== undefined) {
      const name = `phones-not-recorded:${r.notRecorded}`;
      const first = (this.counters.get(name) ?? 0) === 0;
      this.count(name);
      // Once per reason (SIGUSR1 shows the counters): a flood must not flood the log too.
      if (first) this.log.warn({ ...fields(404, outcome), reason: r.notRecorded }, 'device cap reached: new phones are not recorded (404)');
    }
    if (a.status === 404 && STATIC_FALLBACK.has(a.outcome)) {
      // Not a rendered file: a static file of the vendor's files/ folders (firmware, ringtones).
      const h = request.headers;
      const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);
      const st = answerStatic(
        { file, method: request.method === 'HEAD' ? 'HEAD' : 'GET', ifNoneMatch: one(h['if-none-match']), ifModifiedSince: one(h['if-modified-since']), range: one(h['range']), ifRange: one(h['if-range']) },
        room.service.staticDirs(a.vendor),
      );
      if (st !== undefined) {
        const stream = st.body === undefined ? undefined : openStatic(st.body);
        if (st.body === undefined || stream !== undefined) return send(st.status, 'static', st.headers, stream ?? Buffer.alloc(0), { tenant });
      }
    }
    return send(a.status, outcome, a.headers, a.body, { tenant, device: a.observe?.mac, ...(a.problem !== undefined ? { err: a.problem } : {}) });
  }

  /**
   * phoneUpload takes a phone's PUT (Polycom's `<mac>-app.log`, `-boot.log`, `-phone.cfg`, ...):
   * a name that is no upload of a loaded profile is 404; an upload of a phone that is not
   * recorded in the tenant (the MAC is the requester's claim) is answered 204 and dropped,
   * counted; otherwise phones.uploads decides (discard, or store under stateDir/uploads/<mac>/).
   */
  private async phoneUpload(service: PhoneService, tenant: string, file: string, body: unknown): Promise<UploadResult> {
    const target = classifyUpload(file, service.profiles);
    if (target === undefined) return { status: 404, stored: false, reason: 'not-an-upload' };
    const device = this.store?.phones.get(target.mac);
    if (device === undefined || device.tenant !== tenant) return { status: 204, stored: false, reason: 'unknown-device' };
    const buf = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
    const mode = this.config.phones.uploads;
    return storeUpload(this.config.stateDir, target.mac, target.file, buf, { mode, maxBytes: this.config.phones.maxUploadBytes });
  }

  /** seed writes the declared phones into the store, in the process that owns it (not in HTTP workers). */
  private seed(config: HttpFaceConfig): void {
    if (this.opts.syncDeclared === false || !this.store) return;
    const problems = seedDeclared(this.store, config, this.log);
    if (problems > 0) this.counters.set('phones-declared-problems', (this.counters.get('phones-declared-problems') ?? 0) + problems);
  }

  /**
   * openRemembered loads the remembered-login key (PROVD_ERR_REMEMBER_KEY: logged at error,
   * logins then use the KDF alone) for a store that keeps remembered logins.
   */
  private openRemembered(store: Store): RememberedLogins | undefined {
    if (store.remembered === undefined) return undefined;
    const opts = rememberOptions(this.config, store);
    let key: RememberKey;
    try {
      key = loadRememberKey(this.config.stateDir);
    } catch (err) {
      if (opts.rememberForMs > 0) this.log.error({ code: 'PROVD_ERR_REMEMBER_KEY', err: errorMessage(err) }, 'remembered logins are off: logins are checked by the KDF alone');
      return undefined;
    }
    this.log.debug({ key: key.source, keyId: key.id }, 'remembered-login key loaded');
    return new RememberedLogins(store.remembered, key, opts, this.log);
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  private async makeDeps(config: HttpFaceConfig): Promise<FaceDeps> {
    // The previous engine's AuthState (credential cache, KDF queue, counters) carries over a reload.
    const prevAuth = this.deps?.engine.auth.state;
    const engine = new Engine(config.provisioning, { users: this.store?.users, keys: this.store?.keys, log: this.log, ...(prevAuth ? { auth: prevAuth } : {}) });
    void engine.auth.warmUp().catch(() => undefined);
    const limiter = new RateLimiter({ rate: config.http.rateLimit.rate, burst: config.http.rateLimit.burst });
    // Bans and the event log survive a reload unless their settings change.
    const b = config.http.bans;
    const sig = JSON.stringify(b);
    if (this.bans?.signature !== sig) {
      const list = await makeBanList(b, { face: 'http', log: this.log, repo: this.store?.bans, shared: this.store?.backend === 'postgres', events: () => this.events?.sink, count: (n) => this.count(n), previous: this.bans?.list });
      this.bans = { list, signature: sig };
    }
    // A new path opens the file (throws PROVD_ERR_EVENT_LOG: the reload, or start, is refused); the same one is reopened.
    this.events = eventLogFor(this.events, config.http.eventLog ?? join(config.stateDir, 'security.log'), { face: 'http', log: this.log, count: (n) => this.count(n) });
    const d = config.devices;
    const devices = this.inventory ?? this.store?.devices;
    const caps = { perSourcePerHour: d.maxNewPerSourcePerHour, maxTotal: d.maxTotal };
    // On a shared store (PostgreSQL) the per-source grants are counted in the store: the cap holds across nodes.
    const shared = this.store?.quota;
    const quota = devices
      ? shared
        ? new SharedDeviceQuota(caps, deviceSource(devices), shared, { count: (n) => this.count(n), log: this.log })
        : new AsyncDeviceQuota(caps, deviceSource(devices))
      : undefined;
    const phones = this.store && config.phones.enabled ? this.phonesRoom(config, this.store, caps) : undefined;
    if (this.remembered) {
      // One RememberedLogins per process, shared by every configuration's Authenticator.
      engine.auth.state.remembered = this.remembered;
      void this.remembered.configure(rememberOptions(config, this.store));
    }
    return { engine, devices, limiter, bans: this.bans.list, events: this.events.sink, ...(quota ? { quota } : {}), ...(phones ? { phones } : {}) };
  }

  /**
   * phonesRoom builds the phones room of a configuration: the profiles (their problems were
   * refused at config load), the service, and the device caps on auto-created phones (a quota of
   * their own, over the phone records).
   */
  private phonesRoom(config: HttpFaceConfig, store: Store, caps: { perSourcePerHour: number; maxTotal: number }): NonNullable<FaceDeps['phones']> {
    const domain = loadPhonesDomain(config.phones);
    const service = new PhoneService(config, { phones: store.phones, users: store.sync?.users, keys: store.sync?.keys, domain });
    const phones = store.phones;
    const quota = new DeviceQuota(caps, { has: (mac) => phones.get(mac) !== undefined, count: () => phones.count() });
    return { service, quota };
  }

  private warnings(config: HttpFaceConfig): void {
    if (this.opts.warnings === false || !this.deps) return;
    void startupWarnings(config, this.deps.engine, this.store, this.log).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'startup checks of the store failed'));
  }

  /**
   * move opens listeners at the new place, then lets the old ones finish their in-flight
   * requests (no new connections; idle keep-alive ones closed; answers close theirs) and closes
   * them. When the new place overlaps the old (the same port on another host, TLS switched on
   * the same port), the old ones stop accepting first: a short gap for new connections only.
   */
  private async move(old: Listeners, config: HttpFaceConfig): Promise<Listeners> {
    const h = config.http;
    const oldPorts = [portOf(old.main), portOf(old.plain)].filter((p): p is number => p !== undefined);
    const overlap = [h.port, h.tls ? h.plainPort : undefined].some((p) => p !== undefined && p !== 0 && oldPorts.includes(p));
    let fresh: Listeners;
    if (!overlap) {
      fresh = await this.listen(config);
    } else {
      stopAccepting(old);
      try {
        fresh = await this.listen(config);
      } catch (err) {
        // Back on the previous place, with new sockets; the old ones still finish their requests.
        this.drain(old);
        this.listeners = await this.listen(this.config);
        throw err;
      }
    }
    this.drain(old);
    this.log.info({ host: h.host, port: portOf(fresh.main), plainPort: portOf(fresh.plain) }, 'HTTP face moved: the previous listener finishes its in-flight requests and closes');
    return fresh;
  }

  /** drain lets a replaced listener finish its in-flight requests (bounded), then closes it. */
  private drain(l: Listeners): void {
    this.draining.add(l);
    this.drainingApps.add(l.main);
    if (l.plain) this.drainingApps.add(l.plain);
    const idle = Promise.all(stopAccepting(l));
    const limit = Math.min(this.config.http.requestTimeout * 1000, MAX_DRAIN_MS);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => {
      timer = setTimeout(r, limit);
      timer.unref();
    });
    void Promise.race([idle, deadline]).then(async () => {
      if (timer) clearTimeout(timer);
      await closeListeners(l); // whatever is left after the deadline is cut
      this.draining.delete(l);
    });
  }

  private async listen(config: HttpFaceConfig): Promise<Listeners> {
    const h = config.http;
    const tls = h.tls ? readTls(h.tls) : undefined;
    const main = this.buildApp(config, tls);
    const plain = tls && h.plainPort !== undefined ? this.buildApp(config, undefined) : undefined;
    try {
      await main.listen({ host: h.host, port: h.port, backlog: h.backlog });
      if (plain && h.plainPort !== undefined) await plain.listen({ host: h.host, port: h.plainPort, backlog: h.backlog });
    } catch (err) {
      await main.close().catch(() => undefined);
      if (plain) await plain.close().catch(() => undefined);
      throw new ProvError('PROVD_ERR_HTTP_BIND', `cannot listen on ${h.host}:${errorMessage(err).includes(String(h.plainPort)) ? h.plainPort : h.port}/tcp: ${errorMessage(err)}`, { cause: err });
    }
    const l: Listeners = { main, plain, place: placeSignature(config) };
    this.log.info({ host: h.host, port: portOf(main), tls: tls !== undefined, plainPort: portOf(plain), paths: Object.values(PATHS) }, 'HTTP face serving');
    return l;
  }

  /** buildApp makes one fastify instance with the provisioning routes. */
  buildApp(config: HttpFaceConfig, tls: TlsMaterial | undefined): FastifyInstance {
    const h = config.http;
    // Slow clients (slowloris): Node closes a connection whose headers (or whole request) take
    // longer than these, checking every connectionsCheckingInterval.
    // A reload assigns new values to the running server (applyServerSettings).
    const timeouts = {
      headersTimeout: h.headersTimeout * 1000,
      requestTimeout: h.requestTimeout * 1000,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    };
    const app = Fastify({
      // X-Forwarded-For is honoured only when the connection comes from http.trustedProxies;
      // otherwise the socket's peer address is the client (bans, allowFrom, rate limits, inventory).
      // peer.ts decides that per request from the current configuration, not fastify.
      trustProxy: false,
      ...(tls ? { https: { cert: tls.cert, key: tls.key, ...timeouts } } : { http: timeouts }),
      requestTimeout: h.requestTimeout * 1000,
      // The body parser below enforces the current http.bodyLimit; this is only the schema's ceiling.
      bodyLimit: 1 << 20,
      logger: false,
      genReqId: nextRequestId,
      requestIdHeader: false,
      routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_KEY_LENGTH },
      return503OnClosing: true,
      forceCloseConnections: true,
      connectionTimeout: 30_000,
      keepAliveTimeout: 10_000,
    }) as unknown as FastifyInstance;
    applyServerSettings(app, config); // maxConnections: beyond it, new connections are closed on arrival
    this.guard.attach(app.server); // per-source cap and first-byte timeout, before any parsing (or TLS)
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (request, payload, done) => this.readBody(request, payload, done));
    // While a moved-away listener drains, each answer closes its connection.
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (this.drainingApps.has(app)) reply.header('connection', 'close');
      done(null, payload);
    });
    const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const t0 = performance.now();
      const deps = this.deps;
      if (!deps) throw new Error('HTTP face has no configuration');
      const ip = this.peer(request, reply);
      if (ip === undefined) return;
      const url = request.raw.url ?? '';
      const q = url.indexOf('?');
      const info: HttpRequestInfo = {
        method: request.method,
        contentType: request.headers['content-type'],
        body: Buffer.isBuffer(request.body) ? request.body : undefined,
        query: q < 0 ? '' : url.slice(q + 1),
        ip,
        userAgent: request.headers['user-agent'] ?? '',
        requestId: String(request.id),
        key: (request.params as { key?: string } | undefined)?.key,
        receivedAt: t0,
      };
      const a = await handleProvisioning(info, deps);
      if (a.outcome === 'deadline-passed') {
        reply.hijack();
        this.dropDeadline(info, request.raw.socket);
        return;
      }
      this.count(statusKey(a.status));
      if (a.result?.cached === true) this.count('auth-cached');
      if (a.result?.reused === true) this.count('document-reused');
      if (a.status !== 200 || a.inventoryError !== undefined || a.notRecorded !== undefined || this.log.isLevelEnabled('debug')) this.logRequest(info, url, q, a, t0);
      if (activity.watched) emitJitsi(info, a, t0);
      void reply.code(a.status).headers(a.headers).send(a.body);
    };
    app.post(PATHS.jitsi, serve);
    app.get(PATHS.jitsi, serve);
    app.post(PATHS.jitsiprovs, serve);
    // The Openfire plugin's servlet reads its fields from the query or the form body (doGet calls doPost).
    app.get(PATHS.openfire, serve);
    app.post(PATHS.openfire, serve);
    app.post(KEYED_PATHS.jitsi, serve);
    app.get(KEYED_PATHS.jitsi, serve);
    app.post(KEYED_PATHS.jitsiprovs, serve);
    // SIP phones (phones.enabled, checked per request: a reload switches them on or off on the
    // running listeners). GET only; fastify answers HEAD with GET's headers and no body.
    // The handler returns the reply: fastify then waits for a streamed body (a static file) instead
    // of ending the answer when the promise resolves.
    const phone = (route: keyof typeof PHONE_PATHS) => async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      await this.servePhone(route, request, reply, tls !== undefined);
      return reply;
    };
    for (const route of ['wazo', 'keyed', 'unkeyed'] as const) {
      app.get(PHONE_PATHS[route], phone(route));
      // PUT: Polycom's log and override uploads (phones.uploads); any other name is 404.
      app.put(PHONE_PATHS[route], phone(route));
    }
    app.setNotFoundHandler((request, reply) => this.notFound(reply, request));
    app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
      const status = error.statusCode ?? 500;
      if (status === 413) {
        this.count('status:413');
        this.logRefusedHttp(request, 413, 'body-too-large');
        void reply.code(413).header('content-type', 'text/plain; charset=utf-8').send(`request body larger than ${this.config.http.bodyLimit} bytes\n`);
        return;
      }
      if (status >= 400 && status < 500) {
        this.count('status:400');
        this.logRefusedHttp(request, 400, 'malformed');
        void reply.code(400).header('content-type', 'text/plain; charset=utf-8').send(`malformed request (${error.code ?? 'bad request'})\n`);
        return;
      }
      this.count('status:500');
      this.log.error({ reqId: String(request.id), err: error.message, code: error.code }, 'HTTP request failed');
      void reply.code(500).header('content-type', 'text/plain; charset=utf-8').send(`internal error (request id ${String(request.id)})\n`);
    });
    this.bypass(app);
    return app;
  }

  /**
   * bypass answers POST /jitsi (the Jitsi client's request, with or without a query) on the HTTP
   * server's 'request' event, before fastify sees it (issue 15: fastify's request and reply
   * objects, routing, hooks and content-type parser were the largest share of the allocation
   * per request after our own code). It is the same handler with the same answer, headers,
   * counters and log lines. Every other request goes to fastify unchanged, and so does this one
   * when its body is chunked or over http.bodyLimit (fastify's 413), while the face closes
   * (fastify's 503) or while a moved-away listener drains (fastify's `connection: close`).
   */
  private bypass(app: FastifyInstance): void {
    const server = app.server as unknown as { listeners(e: 'request'): unknown[]; removeAllListeners(e: 'request'): void; on(e: 'request', l: (req: IncomingMessage, res: ServerResponse) => void): void };
    const listeners = server.listeners('request');
    const first = listeners[0];
    if (listeners.length !== 1 || typeof first !== 'function') return; // not the fastify we know: leave it alone
    const viaFastify = first as (req: IncomingMessage, res: ServerResponse) => void;
    server.removeAllListeners('request');
    server.on('request', (req, res) => {
      if (this.direct(app, req)) void this.serveDirect(app, req, res);
      else viaFastify(req, res);
    });
  }

  /** direct tells whether bypass answers this request itself. */
  private direct(app: FastifyInstance, req: IncomingMessage): boolean {
    if (req.method !== 'POST' || this.closed || this.deps === undefined || this.drainingApps.has(app)) return false;
    const url = req.url ?? '';
    if (url !== PATHS.jitsi && !url.startsWith(`${PATHS.jitsi}?`)) return false;
    const len = req.headers['content-length'];
    if (len === undefined || len === '' || req.headers['transfer-encoding'] !== undefined) return false;
    const n = Number(len);
    return Number.isSafeInteger(n) && n >= 0 && n <= this.config.http.bodyLimit;
  }

  /** serveDirect is `serve` (buildApp) on Node's own request and response. */
  private async serveDirect(app: FastifyInstance, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const requestId = nextRequestId();
    const text = 'text/plain; charset=utf-8';
    try {
      const deps = this.deps;
      if (!deps) throw new Error('HTTP face has no configuration');
      const body = await readDirect(req);
      if (body === undefined) {
        // cut short (as readBody's 400): the client is usually gone
        this.count('status:400');
        const b = 'malformed request (FST_ERR_CTP_INVALID_CONTENT_LENGTH)\n';
        res.writeHead(400, ['content-type', text, 'content-length', String(b.length)]).end(b);
        return;
      }
      const socket = req.socket;
      const ip = socket.destroyed ? undefined : clientAddress(socket.remoteAddress, req.headers['x-forwarded-for'], this.proxies);
      if (ip === undefined) {
        this.count('dropped:peer-gone');
        socket.destroy();
        return;
      }
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const info: HttpRequestInfo = {
        method: 'POST',
        contentType: req.headers['content-type'],
        body,
        query: q < 0 ? '' : url.slice(q + 1),
        ip,
        userAgent: req.headers['user-agent'] ?? '',
        requestId,
        key: undefined,
        receivedAt: t0,
      };
      const a = await handleProvisioning(info, deps);
      if (a.outcome === 'deadline-passed') {
        this.dropDeadline(info, socket);
        return;
      }
      this.count(statusKey(a.status));
      this.count('direct');
      if (a.result?.cached === true) this.count('auth-cached');
      if (a.result?.reused === true) this.count('document-reused');
      if (a.status !== 200 || a.inventoryError !== undefined || a.notRecorded !== undefined || this.log.isLevelEnabled('debug')) this.logRequest(info, url, q, a, t0);
      if (activity.watched) emitJitsi(info, a, t0);
      const head: string[] = [];
      for (const k in a.headers) head.push(k, a.headers[k] ?? '');
      head.push('content-length', String(Buffer.byteLength(a.body)));
      // A listener that started draining while this request was read closes its connection (the onSend hook's rule).
      if (this.drainingApps.has(app)) head.push('connection', 'close');
      res.writeHead(a.status, head).end(a.body);
    } catch (err) {
      this.count('status:500');
      this.log.error({ reqId: requestId, err: errorMessage(err) }, 'HTTP request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const b = `internal error (request id ${requestId})\n`;
      res.writeHead(500, ['content-type', text, 'content-length', String(Buffer.byteLength(b))]).end(b);
    }
  }
}

/** rememberOptions is the passwords section's remembering, in RememberedLogins' units. */
function rememberOptions(config: HttpFaceConfig, store: Store | undefined): RememberOptions {
  const p = config.provisioning.passwords;
  return { rememberForMs: p.rememberFor * 1000, maxRows: p.rememberSize, shared: store?.backend === 'postgres' };
}

/** startupWarnings logs what an operator should fix: weak passwords, enforcePrefix gaps, no tenants. */
export async function startupWarnings(config: HttpFaceConfig, engine: Engine, store: Store | undefined, log: Logger): Promise<void> {
  const p = config.provisioning;
  const weak = engine.weakConfigUsers();
  const weakStore = (await store?.users.list())?.filter((u) => !u.passwordHash.startsWith('$scrypt$')) ?? [];
  if (weak.length + weakStore.length > 0) {
    log.warn(
      { config: weak, store: weakStore.map((u) => `${u.name}@${u.domain}`) },
      `${weak.length + weakStore.length} user(s) have md5: or plain: passwords (JitsiProvS imports); store users are re-hashed with scrypt at their next login, replace the configuration's with the output of 'provisiond hash-password'`,
    );
  }
  const plain = engine.plaintextConfigUsers();
  if (plain.length > 0) {
    log.warn({ users: plain }, `${plain.length} configuration user(s) have a plaintext password (plain:...) in the configuration file: anyone who can read it has them; replace each with the output of 'provisiond hash-password'`);
  }
  for (const [domain, t] of Object.entries(p.tenants)) {
    const enforce = t.enforcePrefix ?? p.enforcePrefix;
    if (enforce.length > 0 && !enforce.some((e) => 'net.java.sip.communicator.plugin.provisioning.URL'.startsWith(e))) {
      log.warn({ tenant: domain, enforcePrefix: enforce }, 'enforcePrefix does not cover net.java.sip.communicator.plugin.provisioning.*: clients will forget their provisioning URL and UUID');
    }
  }
  if (Object.keys(p.tenants).length === 0) log.warn('no provisioning.tenants configured: every provisioning request gets 404');
  if (!isLoopback(config.http.host)) {
    for (const domain of engine.tenantNames()) {
      if (engine.strategyOf(domain) === 'none') {
        log.warn({ tenant: domain, host: config.http.host }, "tenant uses auth: none (lab mode) while the HTTP face listens beyond loopback: anyone who can reach it gets this tenant's documents; set auth: url_key+credentials (README, Security)");
      }
    }
  }
}

/** MAX_RUNS bounds the tracked runs of refusals; RUN_QUIET_MS ends one; RUN_CHECK_MS: how often that is checked. */
const MAX_RUNS = 4096;
const RUN_QUIET_MS = 5000;
const RUN_CHECK_MS = 1000;

/** PRUNE_INTERVAL_MS: how often never-provisioned device records are pruned. */
const PRUNE_INTERVAL_MS = 3_600_000;
/** PRUNE_RETRY_MS: when pruning found the store locked, the next try. */
const PRUNE_RETRY_MS = 60_000;

/** loggedPath is the request path without the query, with a key segment replaced by `<key>`. */
function loggedPath(url: string, q: number, keyed: boolean): string {
  const p = q < 0 ? url : url.slice(0, q);
  if (!keyed) return p;
  const i = p.indexOf('/', 1);
  return `/<key>${i < 0 ? '' : p.slice(i)}`;
}

/** isLoopback tells whether a listen address is loopback-only. */
export function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.');
}

function portOf(app: FastifyInstance | undefined): number | undefined {
  const a = app?.server.address();
  return a !== null && a !== undefined && typeof a === 'object' ? (a as AddressInfo).port : undefined;
}

/** applyServerSettings puts the configuration's limits on a (possibly running) server. */
function applyServerSettings(app: FastifyInstance, config: HttpFaceConfig): void {
  const h = config.http;
  const s = app.server as FastifyInstance['server'] & { headersTimeout: number; requestTimeout: number };
  s.headersTimeout = h.headersTimeout * 1000;
  s.requestTimeout = h.requestTimeout * 1000;
  s.maxConnections = h.maxConnections;
}

/** closedOf: per server, resolves once a stopped server has no connection left. */
const closedOf = new WeakMap<object, Promise<void>>();

/**
 * stopAccepting closes the listening sockets (no new connections) and the idle keep-alive
 * connections; it returns promises that resolve once each server has no connection left.
 */
function stopAccepting(l: Listeners): Promise<void>[] {
  return [l.main, l.plain].flatMap((app) => {
    if (!app) return [];
    const s = app.server;
    let closed = closedOf.get(s);
    if (!closed) {
      closed = s.listening ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve(); // Node >= 19 also closes idle connections
      closedOf.set(s, closed);
    }
    return [closed];
  });
}

async function closeListeners(l: Listeners): Promise<void> {
  await Promise.allSettled([l.main.close(), ...(l.plain ? [l.plain.close()] : [])]);
}

/** emitJitsi tells this process's watchers (metrics, status page) what a Jitsi request was answered. */
function emitJitsi(info: HttpRequestInfo, a: HttpAnswer, t0: number): void {
  const r = a.result;
  activity.emit({
    face: 'http',
    outcome: a.outcome,
    ok: a.status === 200,
    status: a.status,
    at: Date.now(),
    ms: performance.now() - t0,
    ip: info.ip,
    tenant: r?.tenant ?? r?.askedTenant ?? undefined,
    user: r?.user ?? a.claimedUser ?? undefined,
    device: r?.device.key ?? undefined,
    reason: a.status === 200 ? undefined : a.outcome,
    renderMs: r?.renderMs,
  });
}
