/**
 * metrics.ts: the Prometheus metrics of this process (prom-client, on a registry of its own, never
 * the library's global one), served at GET /metrics on the admin listener.
 *
 * Two kinds of sources:
 *  - the activity bus (src/activity.ts): each answered HTTP request (Jitsi clients, phones)
 *    counts into provisiond_requests_total / provisiond_phone_requests_total and the latency and
 *    render histograms. These live in the main thread only: the UDP faces run in worker threads
 *    and emit nothing on this bus, and with http.workers > 1 the HTTP workers are processes of
 *    their own (their answers are not in the histograms; their counters are, through fetchStats).
 *  - the faces' counters (Daemon.fetchStats: the UDP faces' threads are asked at each scrape),
 *    kdfState(), the live bans and the store's inventory, read at scrape time.
 *
 * Counters never go down for the life of the process: a face's counters restart at zero when its
 * worker thread is restarted, when an HTTP worker process is re-forked or the pool replaced (a
 * reload changing http.workers), when its mDNS advertiser is replaced (a conflict, an interface
 * change), or when a reload replaces the face (http.workers crossing 1, a face disabled and
 * enabled again). Monotonic carries each counter across such a reset: a reset is seen as a value
 * below the last one read, and the daemon reads the faces' counters every OBSERVE_MS and before
 * each reload (observe), so at most the last OBSERVE_MS of counts before a thread's or worker's
 * death can be missed.
 *
 * Labels are bounded: face, outcome, status, event and reason words come from the code, vendor
 * from the loaded profiles; never a MAC, an address or a user. Each family keeps at most
 * MAX_SERIES label sets; beyond that, new ones count under outcome/event "other".
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { kdfState } from '../identity/kdf';
import { version } from '../version';
import type { Activity, ActivityBus } from '../activity';
import type { FaceHealth } from '../face';
import type { FaceBans } from '../limits/banstore';

/** OBSERVE_MS: how often the daemon hands the faces' counters to observe() between scrapes. */
export const OBSERVE_MS = 2000;

/** MAX_SERIES bounds the label sets of one family. */
export const MAX_SERIES = 1000;

/** MetricsSources are what the scrape reads. */
export interface MetricsSources {
  readonly bus: ActivityBus;
  /** faces: each running face's counters now (Daemon.fetchStats). */
  readonly faces: () => Promise<Record<string, Record<string, number>>>;
  /** health: each running face's state (for provisiond_face_up). */
  readonly health?: () => Record<string, FaceHealth>;
  /** bans: the running faces' live bans (Daemon.banControls). */
  readonly bans?: () => ReadonlyMap<string, FaceBans>;
  /** inventory: devices recorded in the store, by kind (jitsi, phone); undefined when unknown. */
  readonly inventory?: () => Promise<Record<string, number> | undefined>;
}

/**
 * Monotonic turns counters that may restart at zero into counters that never go down: when a
 * value is below the last one seen, the last one is added to the key's base.
 */
export class Monotonic {
  private readonly last = new Map<string, number>();
  private readonly base = new Map<string, number>();

  /** value is the never-decreasing total for `key`, given the source's current `v`. */
  value(key: string, v: number): number {
    const l = this.last.get(key);
    let b = this.base.get(key) ?? 0;
    if (l !== undefined && v < l) {
      b += l;
      this.base.set(key, b);
    }
    this.last.set(key, v);
    return b + v;
  }

  /** totals: every key's total now, including keys whose source no longer reports them (a face closed). */
  totals(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.last) out.set(k, (this.base.get(k) ?? 0) + v);
    return out;
  }
}

/** GAUGE_KEYS: face stats that are levels, not counts (exported as provisiond_face_state). */
const GAUGE_KEY = /(^|-)(pending|bound|send-queue|send-queue-max|transactions|asking|active|asks-in-flight|announced|conflicting|standingBy|kdf-runs-per-second|kdf-threads|connections|waiting)$|^(workers|phones-declared-problems)$/;
/** DROP_KEY: UDP face stats that are datagrams dropped or ignored (provisiond_packets_dropped_total). */
const DROP_KEY = /^(dropped|malformed|rate-limited|ignored|send-dropped|unknown-tid|duplicate-request)|^refused:rate-limited$|^malformedDatagrams$|^datagramsFromOtherLinks$/;
/** UDP_FACES: the faces whose stats are datagrams. */
const UDP_FACES = new Set(['dhcp', 'sip', 'tftp', 'mdns']);

/** FaceFamily says which family one face stat goes to. */
type FaceFamily = 'gauge' | 'received' | 'dropped' | 'cache-hits' | 'cache-misses' | 'kdf-verify' | 'kdf-burn' | 'event';

/** familyOf classifies a face's stat key. */
export function familyOf(face: string, key: string): FaceFamily {
  if (GAUGE_KEY.test(key)) return 'gauge';
  if (face === 'http') {
    if (key === 'cache-hits') return 'cache-hits';
    if (key === 'cache-misses') return 'cache-misses';
    if (key === 'kdf-runs') return 'kdf-verify';
    if (key === 'kdf-burns') return 'kdf-burn';
  }
  if (UDP_FACES.has(face)) {
    if (key === 'received' || key === 'queriesHeard') return 'received';
    if (DROP_KEY.test(key)) return 'dropped';
  }
  return 'event';
}

/** Bounded caps the label sets one family may create. */
class Bounded {
  private readonly seen = new Set<string>();
  /** admit: whether this label set may be used (seen before, or room for one more). */
  admit(key: string): boolean {
    if (this.seen.has(key)) return true;
    if (this.seen.size >= MAX_SERIES) return false;
    this.seen.add(key);
    return true;
  }
}

/** LATENCY_BUCKETS (seconds): a cached answer takes well under a millisecond, a KDF run ~50-100 ms, a queued one up to seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** RENDER_BUCKETS (seconds): one document's rendering. */
const RENDER_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

/** START_SECONDS: when this process started (Unix time). */
const START_SECONDS = Math.round((Date.now() - process.uptime() * 1000) / 10) / 100;

/** Metrics is this process's registry, fed by the bus and read from the sources at each scrape. */
export class Metrics {
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;
  private readonly mono = new Monotonic();
  private readonly faceStates = new Map<string, number>();
  private running: Promise<string> | undefined;
  private next: Promise<string> | undefined;
  private readonly requests: Counter<'face' | 'status' | 'outcome'>;
  private readonly requestsBound = new Bounded();
  private readonly phoneRequests: Counter<'vendor' | 'outcome'>;
  private readonly phoneBound = new Bounded();
  private readonly latency: Histogram<'face'>;
  private readonly render: Histogram<'face'>;
  private readonly eventsBound = new Bounded();
  private readonly requestChildren = new Map<string, Counter.Internal>();
  private readonly latencyChildren = new Map<string, Histogram.Internal<'face'>>();
  private readonly renderChildren = new Map<string, Histogram.Internal<'face'>>();
  private scrapeErrors = 0;

  constructor(private readonly sources: MetricsSources) {
    const r = this.registry;
    const self = this;
    // The standard process_* families, written here: prom-client's default collectors also add
    // nodejs_active_*_total gauges, which promtool's lint refuses (a gauge named _total).
    new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch in seconds.', registers: [r] }).set(START_SECONDS);
    new Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', registers: [r], collect() { this.set(process.memoryUsage.rss()); } });
    new Counter({
      name: 'process_cpu_seconds_total',
      help: 'Total user and system CPU time spent in seconds.',
      registers: [r],
      collect() {
        const u = process.cpuUsage();
        this.reset();
        this.inc((u.user + u.system) / 1e6);
      },
    });
    new Gauge({ name: 'provisiond_build_info', help: 'Always 1; the labels name the provisiond and Node.js versions.', labelNames: ['version', 'node'], registers: [r] }).set({ version, node: process.version }, 1);
    this.requests = new Counter({ name: 'provisiond_requests_total', help: 'Requests answered by the HTTP face in this process (face http: Jitsi clients; phones: SIP phone files), by status and outcome.', labelNames: ['face', 'status', 'outcome'], registers: [r] });
    this.phoneRequests = new Counter({ name: 'provisiond_phone_requests_total', help: 'Phone file requests answered, by the vendor profile that identified the phone (unknown: none) and outcome.', labelNames: ['vendor', 'outcome'], registers: [r] });
    this.latency = new Histogram({ name: 'provisiond_request_duration_seconds', help: 'Time from a request\'s arrival to its answer (main process only).', labelNames: ['face'], buckets: LATENCY_BUCKETS, registers: [r] });
    this.render = new Histogram({ name: 'provisiond_render_duration_seconds', help: 'Time spent rendering a document (Jitsi documents not taken from the document cache).', labelNames: ['face'], buckets: RENDER_BUCKETS, registers: [r] });

    const faceCounter = (name: string, help: string, labelNames: string[], families: readonly FaceFamily[], label: (face: string, key: string) => Record<string, string>): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          for (const [k, v] of self.mono.totals()) {
            const [face = '', key = ''] = k.split('\u0000');
            if (families.includes(familyOf(face, key))) this.inc(label(face, key), v);
          }
        },
      });
    };
    faceCounter('provisiond_packets_received_total', 'Datagrams received by a UDP face (mDNS: queries heard).', ['face'], ['received'], (face) => ({ face }));
    faceCounter('provisiond_packets_dropped_total', 'Datagrams a UDP face dropped or ignored, by reason (malformed, rate-limited, not served, a full queue, ...).', ['face', 'reason'], ['dropped'], (face, key) => ({ face, reason: key }));
    faceCounter('provisiond_credential_cache_hits_total', 'Logins answered from the credential cache (no KDF run).', [], ['cache-hits'], () => ({}));
    faceCounter('provisiond_credential_cache_misses_total', 'Logins not in the credential cache.', [], ['cache-misses'], () => ({}));
    faceCounter('provisiond_kdf_runs_total', 'Password KDF (scrypt) runs by kind: verify (a known user) or burn (an unknown or weak user, run to keep timing uniform).', ['kind'], ['kdf-verify', 'kdf-burn'], (_face, key) => ({ kind: key === 'kdf-runs' ? 'verify' : 'burn' }));
    new Counter({
      name: 'provisiond_face_events_total',
      help: 'Every other counter of each face (the SIGUSR1 log line\'s), by face and event name.',
      labelNames: ['face', 'event'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, v] of self.mono.totals()) {
          const [face = '', key = ''] = k.split('\u0000');
          if (familyOf(face, key) !== 'event') continue;
          this.inc({ face, event: self.eventsBound.admit(k) ? key : 'other' }, v);
        }
      },
    });
    new Gauge({
      name: 'provisiond_face_state',
      help: 'Levels each face reports (queues, transactions in progress, mDNS announced or standing by, ...), by face and name.',
      labelNames: ['face', 'name'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, v] of self.faceStates) {
          const [face = '', name = ''] = k.split('\u0000');
          this.set({ face, name }, v);
        }
      },
    });
    new Gauge({
      name: 'provisiond_face_up',
      help: '1 when the face serves now (listening, its thread alive, its interfaces addressed), else 0: what /readyz checks.',
      labelNames: ['face'],
      registers: [r],
      collect() {
        this.reset();
        for (const [face, h] of Object.entries(sources.health?.() ?? {})) this.set({ face }, h.ready ? 1 : 0);
      },
    });
    const kdf = (name: string, help: string, pick: (s: ReturnType<typeof kdfState>) => number): void => {
      new Gauge({ name, help, registers: [r], collect() { this.set(pick(kdfState())); } });
    };
    kdf('provisiond_kdf_queue_depth', 'Password KDF runs waiting for a free slot (main process).', (s) => s.waiting);
    kdf('provisiond_kdf_running', 'Password KDF runs in progress (main process).', (s) => s.running);
    kdf('provisiond_kdf_slots', 'Password KDF runs allowed at once (main process).', (s) => s.limit);
    new Counter({ name: 'provisiond_kdf_completed_total', help: 'Password KDF runs completed (main process).', registers: [r], collect() { this.reset(); this.inc(kdfState().completed); } });
    new Counter({ name: 'provisiond_kdf_expired_total', help: 'Password KDF runs dropped because their request\'s deadline passed while they waited (main process).', registers: [r], collect() { this.reset(); this.inc(kdfState().expired); } });
    new Gauge({
      name: 'provisiond_bans_active',
      help: 'Live brute-force bans, by face and scope (ip, user).',
      labelNames: ['face', 'scope'],
      registers: [r],
      collect() {
        this.reset();
        for (const [face, b] of sources.bans?.() ?? new Map<string, FaceBans>()) {
          const by = new Map<string, number>();
          for (const ban of b.list()) by.set(ban.scope, (by.get(ban.scope) ?? 0) + 1);
          for (const scope of ['ip', 'user']) this.set({ face, scope }, by.get(scope) ?? 0);
          for (const [scope, n] of by) if (scope !== 'ip' && scope !== 'user') this.set({ face, scope }, n);
        }
      },
    });
    new Gauge({
      name: 'provisiond_inventory_devices',
      help: 'Devices recorded in the store, by kind (jitsi: Jitsi clients; phone: SIP phones).',
      labelNames: ['kind'],
      registers: [r],
      async collect() {
        this.reset();
        let inv: Record<string, number> | undefined;
        try {
          inv = await sources.inventory?.();
        } catch {
          self.scrapeErrors++;
        }
        for (const [kind, n] of Object.entries(inv ?? {})) this.set({ kind }, n);
      },
    });
    new Counter({ name: 'provisiond_scrape_errors_total', help: 'Sources a scrape could not read (a face that did not answer, a busy store): the rest of the scrape is served.', registers: [r], collect() { this.reset(); this.inc(self.scrapeErrors); } });

    this.unsubscribe = sources.bus.on((a) => this.onActivity(a));
  }

  /** onActivity counts one answered request (the label children are looked up once per label set). */
  private onActivity(a: Activity): void {
    const key = `${a.face}\u0000${a.status ?? 'none'}\u0000${a.outcome}`;
    let child = this.requestChildren.get(key);
    if (child === undefined) {
      const status = a.status === undefined ? 'none' : String(a.status);
      const outcome = this.requestsBound.admit(key) ? a.outcome : 'other';
      child = this.requests.labels({ face: a.face, status, outcome });
      if (outcome !== 'other') this.requestChildren.set(key, child);
    }
    child.inc();
    if (a.face === 'phones') {
      const vendor = a.vendor ?? 'unknown';
      if (this.phoneBound.admit(`${vendor}\u0000${a.outcome}`)) this.phoneRequests.inc({ vendor, outcome: a.outcome });
      else this.phoneRequests.inc({ vendor: 'other', outcome: 'other' });
    }
    if (a.ms !== undefined) this.histogramChild(this.latency, this.latencyChildren, a.face).observe(a.ms / 1000);
    if (a.renderMs !== undefined) this.histogramChild(this.render, this.renderChildren, a.face).observe(a.renderMs / 1000);
  }

  private histogramChild(h: Histogram<'face'>, children: Map<string, Histogram.Internal<'face'>>, face: string): Histogram.Internal<'face'> {
    let c = children.get(face);
    if (c === undefined) children.set(face, (c = h.labels({ face })));
    return c;
  }

  /** refresh reads the faces' counters into the monotonic totals and the levels. */
  private async refresh(): Promise<void> {
    let faces: Record<string, Record<string, number>>;
    try {
      faces = await this.sources.faces();
    } catch {
      this.scrapeErrors++;
      return;
    }
    this.faceStates.clear();
    this.observe(faces, true);
  }

  /**
   * observe takes the faces' counters between scrapes (the daemon calls it every few seconds and
   * before a reload), so that what was counted before a reset is carried even when no scrape
   * came in between. `levels` also records the gauges (a scrape's reading).
   */
  observe(faces: Record<string, Record<string, number>>, levels = false): void {
    for (const [face, stats] of Object.entries(faces)) {
      for (const [key, v] of Object.entries(stats)) {
        if (!Number.isFinite(v)) continue;
        const k = `${face}\u0000${key}`;
        if (familyOf(face, key) !== 'gauge') this.mono.value(k, v);
        else if (levels) this.faceStates.set(k, v);
      }
    }
  }

  /**
   * scrape renders the exposition text. Scrapes never overlap (the collectors reset and refill)
   * and never queue up: while one runs, every caller shares the single next one.
   */
  scrape(): Promise<string> {
    if (this.running === undefined) {
      this.running = (async () => {
        await this.refresh();
        return this.registry.metrics();
      })().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.scrape();
      });
    return this.next;
  }

  /** contentType is the exposition format's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** close stops listening to the bus. */
  close(): void {
    this.unsubscribe();
  }
}
