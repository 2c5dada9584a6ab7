/**
 * daemon.ts: builds the faces from a configuration and runs their lifecycle.
 *
 * createDaemon() only builds; start() binds; close() drains and is idempotent; reload() applies
 * an already validated configuration atomically (a face that cannot apply it keeps the old one).
 * Nothing here reads files, parses arguments or exits the process: that is the CLI's job.
 */
import { DhcpFace } from './dhcp/server';
import { MdnsFace, type MdnsFaceOptions } from './mdns/server';
import { HttpFace } from './http/server';
import { HttpClusterFace } from './http/cluster';
import { SipFace } from './sip/server';
import { TftpFace } from './tftp/server';
import { AdminFace, type AdminPlugin } from './admin/server';
import { faceHealth, registerHealth, storeWritable, type ReadyReport } from './admin/health';
import { Metrics, OBSERVE_MS } from './metrics/metrics';
import { registerMetrics } from './metrics/routes';
import { activity } from './activity';
import { apiFrameworkErrors, recordTokenFailure, registerApi, type ApiDeps, type ApiPhones } from './admin/api';
import { TokenAuth } from './admin/tokens';
import { registerUi } from './status/ui';
import { ActivityLog } from './status/activity-log';
import { loadPhonesDomain, type PhonesDomain } from './phones/domain';
import { PhoneService, baseUrlFor } from './phones/service';
import { deviceAdminDeps } from './service/phones';
import { resyncPhone } from './service/resync';
import { openConfiguredStore } from './store/open';
import type { Store } from './store/repository';
import type { Config } from './config/schema';
import type { Face } from './face';
import type { FaceBans } from './limits/banstore';
import type { Logger } from './log';
import type { InterfaceLister } from './net/interfaces';
import { ProvError, errorMessage } from './errors';
import type { FastifyInstance } from 'fastify';

/** DaemonDeps are the daemon's injectable dependencies. */
export interface DaemonDeps {
  readonly log: Logger;
  readonly listInterfaces?: InterfaceLister;
  /** checkPortFree: see DhcpFaceOptions (tests that bind port 0 turn it off). */
  readonly checkPortFree?: boolean;
  /** mdns overrides the mDNS face's dependencies (tests). */
  readonly mdns?: Partial<Pick<MdnsFaceOptions, 'advertiser' | 'watcherPort' | 'systemHostname' | 'retryMs'>>;
  /** store: an opened store for the HTTP face (tests); by default it opens stateDir's. */
  readonly store?: Store;
  /**
   * onFatal is told when a face is down for good while the daemon runs (HTTP workers, or the
   * DHCP face's thread, that keep dying): the CLI then exits non-zero so that the service manager restarts the daemon.
   */
  readonly onFatal?: (err: ProvError) => void;
  /** adminPlugins are mounted on the admin listener after /metrics, /healthz, /readyz, the REST API and the status page. */
  readonly adminPlugins?: readonly AdminPlugin[];
  /** adminUi tunes the status page (tests: a shorter refresh); absent: its defaults. */
  readonly adminUi?: Parameters<typeof registerUi>[1]['options'];
}

/** Daemon is a built provisiond instance. */
export interface Daemon {
  readonly config: Config;
  /** faces are the running faces, by name. */
  readonly faces: ReadonlyMap<string, Face<Config>>;
  start(): Promise<void>;
  reload(config: Config): Promise<void>;
  close(): Promise<void>;
  stats(): Record<string, Record<string, number>>;
  /** fetchStats is stats() with each face's counters as of now (a face in a thread is asked). */
  fetchStats(): Promise<Record<string, Record<string, number>>>;
  /** banControls are the running faces' bans (HTTP, TFTP), by face name (`provisiond bans`). */
  banControls(): Map<string, FaceBans>;
  /** mountAdmin adds a plugin to the admin listener; call it before start (see AdminFace.mount). */
  mountAdmin(plugin: AdminPlugin): void;
  /** ready is /readyz's report: every face serves and the store is writable. */
  ready(): Promise<ReadyReport>;
  /** admin is the admin listener (metrics, health; the API and status page mount on it), when enabled. */
  readonly admin: AdminFace | undefined;
  /** metrics is the process's Prometheus registry (undefined until the admin listener is first built). */
  readonly metrics: Metrics | undefined;
}

/** createDaemon builds the faces the configuration enables; it opens no socket. */
export function createDaemon(initial: Config, deps: DaemonDeps): Daemon {
  const log = deps.log;
  let config = initial;
  const faces = new Map<string, Face<Config>>();
  let closing: Promise<void> | undefined;
  let started = false;
  /** stateDirWarned is the new stateDir a reload was last refused to move to (one warning per value). */
  let stateDirWarned: string | undefined;

  const makeDhcp = (cfg: Config): DhcpFace =>
    new DhcpFace({
      config: cfg,
      log: log.child({ face: 'dhcp' }),
      ...(deps.listInterfaces ? { listInterfaces: deps.listInterfaces } : {}),
      ...(deps.checkPortFree === undefined ? {} : { checkPortFree: deps.checkPortFree }),
      ...(deps.onFatal ? { onFatal: deps.onFatal } : {}),
    });

  const makeMdns = (cfg: Config): MdnsFace =>
    new MdnsFace({
      ...deps.mdns,
      config: cfg,
      log: log.child({ face: 'mdns' }),
      ...(deps.listInterfaces ? { listInterfaces: deps.listInterfaces } : {}),
    });
  const makeHttp = (cfg: Config): Face<Config> =>
    cfg.http.workers > 1
      ? new HttpClusterFace({ config: cfg, log: log.child({ face: 'http' }), ...(deps.onFatal ? { onFatal: deps.onFatal } : {}) })
      : new HttpFace({ config: cfg, log: log.child({ face: 'http' }), ...(deps.store ? { store: deps.store } : {}) });

  const makeSip = (cfg: Config): SipFace =>
    new SipFace({
      config: cfg,
      log: log.child({ face: 'sip' }),
      ...(deps.store ? { store: deps.store } : {}),
      ...(deps.checkPortFree === undefined ? {} : { checkPortFree: deps.checkPortFree }),
      ...(deps.onFatal ? { onFatal: deps.onFatal } : {}),
    });
  const makeTftp = (cfg: Config): TftpFace =>
    new TftpFace({
      config: cfg,
      log: log.child({ face: 'tftp' }),
      ...(deps.store ? { store: deps.store } : {}),
      ...(deps.checkPortFree === undefined ? {} : { checkPortFree: deps.checkPortFree }),
      ...(deps.onFatal ? { onFatal: deps.onFatal } : {}),
    });

  const adminPlugins: AdminPlugin[] = [...(deps.adminPlugins ?? [])];
  let metrics: Metrics | undefined;
  let observer: NodeJS.Timeout | undefined;
  // The admin side's own store connection (inventory size, /readyz's write check), opened at its first use.
  let adminStore: Promise<Store> | undefined;
  const storeForAdmin = (): Promise<Store> => {
    if (deps.store) return Promise.resolve(deps.store);
    adminStore ??= openConfiguredStore(config.stateDir, config.store, { busyTimeoutMs: 0 });
    const opened = adminStore;
    opened.catch(() => {
      if (adminStore === opened) adminStore = undefined; // the next check tries again
    });
    return opened;
  };
  const inventory = async (): Promise<Record<string, number>> => {
    const store = await storeForAdmin();
    const out: Record<string, number> = { jitsi: await store.devices.count() };
    if (config.phones.enabled && store.backend !== 'postgres') out['phone'] = store.phones.count();
    return out;
  };
  const ready = async (): Promise<ReadyReport> => {
    const fh = faceHealth(faces, started);
    let store;
    try {
      store = await storeWritable(await storeForAdmin(), config.stateDir);
    } catch (err) {
      store = { ready: false, reason: `the store cannot be opened: ${errorMessage(err)}` };
    }
    return { ready: store.ready && Object.values(fh).every((h) => h.ready), faces: fh, store };
  };
  // The REST API (/api/v1/*) and the status page (/, /ui/*) on the admin listener. The store
  // is the HTTP face's own connection (the one the Jitsi and phone answers read: an API change
  // is seen at the next request, and no second writer of ours fights it); with HTTP workers
  // (no store in this process's HTTP face) or no HTTP face, the admin side's connection above.
  // Attached when the admin listener is first built: with admin.enabled false no watcher is on
  // the bus, and the provisioning path builds no activity record at all.
  const recent = new ActivityLog();
  let detachRecent: (() => void) | undefined;
  let fallbackStore: Store | undefined;
  const apiStore = (): Store => {
    const http = faces.get('http');
    const s = (http instanceof HttpFace ? http.openedStore() : undefined) ?? deps.store ?? fallbackStore;
    if (s === undefined) throw new ProvError('PROVD_ERR_STORE', 'the store is not open yet');
    return s;
  };
  const tokenAuths = new WeakMap<Store, TokenAuth>();
  const tokenAuth = (): TokenAuth => {
    const s = apiStore();
    let t = tokenAuths.get(s);
    if (t === undefined) {
      if (s.tokens === undefined) throw new ProvError('PROVD_ERR_STORE', 'this store keeps no API tokens');
      t = new TokenAuth(s.tokens);
      tokenAuths.set(s, t);
    }
    return t;
  };
  const httpFace = (): HttpFace | undefined => {
    const f = faces.get('http');
    return f instanceof HttpFace ? f : undefined;
  };
  let phonesFor: { config: Config; store: Store; domain: PhonesDomain; api: ApiPhones } | undefined;
  const phonesNow = (): { domain: PhonesDomain; api: ApiPhones } | undefined => {
    if (!config.phones.enabled) return undefined;
    const store = apiStore();
    if (phonesFor?.config !== config || phonesFor.store !== store) {
      const domain = loadPhonesDomain(config.phones);
      const service = new PhoneService(config, { phones: store.phones, users: store.sync?.users, keys: store.sync?.keys, domain });
      const place = { tls: config.http.tls !== undefined, address: ['0.0.0.0', '::'].includes(config.http.host) ? '127.0.0.1' : config.http.host, port: config.http.port };
      phonesFor = { config, store, domain, api: { admin: deviceAdminDeps(store, config.provisioning, domain, config.phones.devices), service, baseUrl: baseUrlFor(config.phones, place) } };
    }
    return phonesFor;
  };
  const apiDeps: ApiDeps = {
    get store() {
      return apiStore();
    },
    get tokens() {
      return tokenAuth();
    },
    provisioning: () => config.provisioning,
    bans: () => httpFace()?.banList(),
    banControls: () => daemon.banControls(),
    events: () => httpFace()?.eventSink(),
    log: log.child({ face: 'admin', part: 'api' }),
    count: (n) => admin?.count(n),
    phones: () => phonesNow()?.api,
    resync: (mac) => {
      const p = phonesNow();
      if (p === undefined) return Promise.reject(new ProvError('PROVD_ERR_RESYNC', 'phones are not enabled'));
      return resyncPhone(apiStore(), config, p.domain, mac, { reboot: false, ami: config.phones.resync.ami });
    },
  };
  const wireAdmin = async (app: FastifyInstance): Promise<void> => {
    // The admin side's connection (also /readyz's), for when no HTTP face of this process has a store; never fatal here.
    if (!deps.store) fallbackStore ??= await storeForAdmin().catch(() => undefined);
    await app.register(async (scope) => registerApi(scope, apiDeps));
    await app.register(async (scope) =>
      registerUi(scope, {
        verifyToken: (t) => tokenAuth().resolve(t),
        devices: { list: () => apiStore().devices.list() },
        bans: () => [...daemon.banControls()].map(([face, control]) => ({ face, control })),
        faces: () => Object.entries(faceHealth(faces, started)).map(([name, h]) => ({ name, state: h.ready ? 'serving' : `not serving: ${h.reason ?? 'unknown'}` })),
        recent,
        log: log.child({ face: 'admin', part: 'ui' }),
        onLoginFailure: (ip) => recordTokenFailure(apiDeps, ip, 'ui-bad-token'),
        count: (n) => admin?.count(n),
        ...(deps.adminUi ? { options: deps.adminUi } : {}),
      }),
    );
  };
  const makeAdmin = (cfg: Config): AdminFace => {
    detachRecent ??= recent.attach(activity);
    // One registry for the daemon's life: a reload that replaces the listener keeps the counters.
    metrics ??= new Metrics({
      bus: activity,
      faces: () => daemon.fetchStats(),
      health: () => faceHealth(faces, started),
      bans: () => daemon.banControls(),
      inventory,
    });
    const m = metrics;
    // Counters between scrapes, so that a reset (a thread's death, a face replaced) loses nothing
    // a scrape would have seen: stats() is the last copy each face holds (no thread is asked).
    observer ??= setInterval(() => m.observe(daemon.stats()), OBSERVE_MS);
    observer.unref();
    return new AdminFace({
      config: cfg,
      log: log.child({ face: 'admin' }),
      frameworkErrors: apiFrameworkErrors,
      plugins: [
        registerHealth(ready),
        registerMetrics(m),
        (app) => wireAdmin(app),
        async (app) => {
          for (const p of adminPlugins) await app.register(async (scope) => p(scope));
        },
      ],
    });
  };

  /**
   * makers lists the faces in start order: HTTP first (the URLs the other faces hand out point
   * at it), then DHCP, then mDNS, then SIP, then TFTP. `replace` says when a reload needs a new face object.
   */
  const makers: Record<string, { enabled: (c: Config) => boolean; make: (c: Config) => Face<Config>; replace?: (prev: Config, next: Config) => boolean }> = {
    http: { enabled: (c) => c.http.enabled, make: makeHttp, replace: (a, b) => a.http.workers > 1 !== b.http.workers > 1 },
    dhcp: { enabled: (c) => c.dhcp.enabled, make: makeDhcp },
    mdns: { enabled: (c) => c.mdns.enabled, make: makeMdns },
    sip: { enabled: (c) => c.sip.enabled, make: makeSip },
    tftp: { enabled: (c) => c.tftp.enabled, make: makeTftp },
  };

  for (const [name, m] of Object.entries(makers)) if (m.enabled(config)) faces.set(name, m.make(config));
  // The admin listener is held apart from the protocol faces (not in `faces`, stats() or the
  // started line): it never stops them, and a reload never waits on it or is refused by it.
  let admin: AdminFace | undefined = config.admin.enabled ? makeAdmin(config) : undefined;

  const daemon: Daemon = {
    get config() {
      return config;
    },
    faces,
    async start() {
      if (started) return;
      started = true;
      const done: Face<Config>[] = [];
      try {
        for (const face of faces.values()) {
          await face.start();
          done.push(face);
        }
      } catch (err) {
        await Promise.allSettled(done.map((f) => f.close()));
        throw err;
      }
      log.info({ faces: [...faces.keys()], stateDir: config.stateDir }, 'provisiond started');
      await admin?.start(); // never rejects (logged and retried)
    },
    async reload(asked) {
      // stateDir stays the one the daemon started with (the store and the security event log
      // are opened there) until a restart: the rest of the new configuration applies.
      let next = asked;
      if (asked.stateDir !== config.stateDir) {
        if (stateDirWarned !== asked.stateDir) {
          log.warn({ stateDir: config.stateDir, next: asked.stateDir }, 'stateDir changes take effect at the next restart: the store and the security event log stay where they are until then');
          stateDirWarned = asked.stateDir;
        }
        next = { ...asked, stateDir: config.stateDir };
      } else {
        stateDirWarned = undefined;
      }
      // Each face: reconfigure in place, or start/stop it when its `enabled` flips. If one face
      // cannot apply the new configuration, the faces already changed are put back, so the
      // daemon keeps serving one consistent configuration.
      metrics?.observe(daemon.stats()); // the counters of faces this reload may replace
      const prev = config;
      const undo: (() => Promise<void>)[] = [];
      try {
        for (const [name, m] of Object.entries(makers)) {
          let face = faces.get(name);
          // Undoing a close means building the face again on the previous configuration.
          const rebuild = async (): Promise<void> => {
            const again = m.make(prev);
            if (started) await again.start();
            faces.set(name, again);
          };
          if (face && m.enabled(next) && m.replace?.(prev, next)) {
            await face.close();
            faces.delete(name);
            undo.push(rebuild);
            face = undefined;
          }
          if (m.enabled(next) && face) {
            await face.reload(next);
            const f = face;
            undo.push(() => f.reload(prev));
          } else if (m.enabled(next) && !face) {
            const fresh = m.make(next);
            if (started) await fresh.start();
            faces.set(name, fresh);
            undo.push(async () => {
              await fresh.close();
              faces.delete(name);
            });
          } else if (!m.enabled(next) && face) {
            await face.close();
            faces.delete(name);
            undo.push(rebuild);
          }
        }
      } catch (err) {
        for (const step of undo.reverse()) {
          try {
            await step();
          } catch (e) {
            log.error({ err: errorMessage(e) }, 'could not restore a face after a failed reload');
          }
        }
        throw err;
      }
      if (next.log.level !== config.log.level) log.level = next.log.level;
      config = next;
      if (next.admin.enabled && !admin) {
        admin = makeAdmin(next);
        if (started) await admin.start();
      } else if (!next.admin.enabled && admin) {
        const a = admin;
        admin = undefined;
        await a.close();
      } else {
        await admin?.reload(next); // never rejects
      }
      log.info('configuration reloaded');
    },
    close() {
      closing ??= (async () => {
        const results = await Promise.allSettled([...faces.values(), ...(admin ? [admin] : [])].map((f) => f.close()));
        if (observer) clearInterval(observer);
        detachRecent?.();
        metrics?.close();
        if (adminStore) await adminStore.then((s) => s.close()).catch(() => undefined);
        for (const r of results) if (r.status === 'rejected') log.warn({ err: errorMessage(r.reason) }, 'a face did not close cleanly');
        log.info({ stats: daemon.stats() }, 'provisiond stopped');
      })();
      return closing;
    },
    stats() {
      return Object.fromEntries([...faces].map(([n, f]) => [n, f.stats()]));
    },
    banControls() {
      const out = new Map<string, FaceBans>();
      for (const [n, f] of faces) {
        const b = f.banControl?.();
        if (b) out.set(n, b);
      }
      return out;
    },
    mountAdmin(plugin) {
      adminPlugins.push(plugin);
    },
    ready,
    get admin() {
      return admin;
    },
    get metrics() {
      return metrics;
    },
    async fetchStats() {
      return Object.fromEntries(await Promise.all([...faces].map(async ([n, f]) => [n, f.fetchStats ? await f.fetchStats() : f.stats()] as const)));
    },
  };
  return daemon;
}
