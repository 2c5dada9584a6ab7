/**
 * quota.ts: caps on new device records (issue 5): per client IP per hour and in total. A request
 * over a cap is still answered; its device is just not recorded (and counted), so nobody can fill
 * the inventory (wazo-provd §3.4: "no cap on the number of devices") while clients keep working.
 * Updates of known devices are never capped.
 *
 * The quota counts against a QuotaSource (`has`, `count`): the Jitsi clients' device records
 * (`deviceSource`) and the SIP phones' auto-created devices (the HTTP face adapts the phone
 * repository) each get their own DeviceQuota with the same `devices` caps.
 */
import type { DeviceQuotaRepository, DeviceRepository } from '../store/repository';
import { errorMessage } from '../errors';
import type { Logger } from '../log';

/** QuotaSource is what a quota counts against: whether a record exists, and how many there are. */
export interface QuotaSource {
  has(key: string): boolean;
  count(): number;
}

/** AsyncQuotaSource is a QuotaSource on an asynchronous repository (the Jitsi device inventory). */
export interface AsyncQuotaSource {
  has(key: string): Promise<boolean>;
  count(): Promise<number>;
}

/** deviceSource adapts the Jitsi device repository to an AsyncQuotaSource. */
export function deviceSource(devices: Pick<DeviceRepository, 'get' | 'count'>): AsyncQuotaSource {
  return { has: async (key) => (await devices.get(key)) !== undefined, count: () => devices.count() };
}

/** QuotaAdmission is what the faces call: a DeviceQuota over a synchronous or an asynchronous source. */
export interface QuotaAdmission {
  admit(key: string, ip: string): QuotaVerdict | Promise<QuotaVerdict>;
}

/** AsyncDeviceQuota is a DeviceQuota counting against an asynchronous source. */
export class AsyncDeviceQuota implements QuotaAdmission {
  private readonly quota: DeviceQuota;

  constructor(
    opts: DeviceQuotaOptions,
    private readonly devices: AsyncQuotaSource,
  ) {
    this.quota = new DeviceQuota(opts, { has: () => false, count: () => 0 });
  }

  async admit(key: string, ip: string): Promise<QuotaVerdict> {
    if (await this.devices.has(key)) return 'record';
    return this.quota.take(ip, this.quota.totalStale() ? await this.devices.count() : undefined);
  }
}

/** QuotaVerdict: record the device, or why not. */
export type QuotaVerdict = 'record' | 'over-source' | 'over-total';

/** DeviceQuotaOptions: limits, plus an injectable clock for tests. */
export interface DeviceQuotaOptions {
  readonly perSourcePerHour: number;
  readonly maxTotal: number;
  readonly now?: () => number;
  readonly maxSources?: number;
}

const HOUR_MS = 3_600_000;
/** TOTAL_REFRESH_MS: how long the cached total may be trusted before it is re-read (other processes insert too). */
const TOTAL_REFRESH_MS = 10_000;

/** DeviceQuota decides whether a request may create a device record. */
export class DeviceQuota {
  private readonly perSource = new Map<string, number[]>();
  private total = 0;
  private totalAt = -Infinity;
  private readonly now: () => number;

  constructor(
    private readonly opts: DeviceQuotaOptions,
    private readonly devices: QuotaSource,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** admit is called before recording device `key` seen from `ip`. */
  admit(key: string, ip: string): QuotaVerdict {
    if (this.devices.has(key)) return 'record';
    return this.take(ip, undefined);
  }

  /** totalStale: the cached total is old enough to be re-read. */
  totalStale(): boolean {
    return this.now() - this.totalAt >= TOTAL_REFRESH_MS;
  }

  /** take decides for a device not yet recorded; `total` is a fresh count read by the caller (asynchronous sources). */
  take(ip: string, total: number | undefined): QuotaVerdict {
    if (this.overSource(ip)) return 'over-source';
    if (this.overTotal(total)) return 'over-total';
    this.note(ip);
    return 'record';
  }

  /** overSource: `ip` was granted its hour's new devices (in this process). */
  overSource(ip: string): boolean {
    const t = this.now();
    const recent = this.perSource.get(ip);
    if (recent === undefined) return false;
    const live = recent.filter((at) => t - at < HOUR_MS);
    this.perSource.set(ip, live);
    return live.length >= this.opts.perSourcePerHour;
  }

  /** overTotal: the total cap is reached; `total` is a fresh count read by the caller (undefined: the cached one, re-read from the source when stale). */
  overTotal(total: number | undefined): boolean {
    const t = this.now();
    if (total !== undefined) {
      this.total = total;
      this.totalAt = t;
    } else if (t - this.totalAt >= TOTAL_REFRESH_MS) {
      this.total = this.devices.count();
      this.totalAt = t;
    }
    return this.total >= this.opts.maxTotal;
  }

  /** cachedTotal is the last total read plus the grants since. */
  cachedTotal(): number {
    return this.total;
  }

  /** note records a grant to `ip` (its hour's count, the total). */
  note(ip: string): void {
    const t = this.now();
    const recent = (this.perSource.get(ip) ?? []).filter((at) => t - at < HOUR_MS);
    recent.push(t);
    this.perSource.delete(ip);
    this.perSource.set(ip, recent);
    // Bounded: forget the least recently active sources first.
    for (let i = 0; this.perSource.size > (this.opts.maxSources ?? 100_000) && i < 16; i++) {
      const first = this.perSource.keys().next();
      if (first.done === true) break;
      this.perSource.delete(first.value);
    }
    this.total++;
  }
}

/** SHARED_QUOTA_WAIT_MS bounds how long a request waits for the shared count before the node's own count decides. */
export const SHARED_QUOTA_WAIT_MS = 250;

/** QUOTA_PRUNE_MS: how often (at most) a node prunes the shared quota rows of past windows. */
const QUOTA_PRUNE_MS = 60_000;

/** SharedQuotaWiring is what a SharedDeviceQuota reports to: the face's counters and log. */
export interface SharedQuotaWiring {
  readonly count: (name: string) => void;
  readonly log: Pick<Logger, 'warn' | 'info'>;
}

/** within settles with p's value, or undefined once `ms` have passed (p's late rejection is swallowed). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  p.catch(() => undefined);
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SharedDeviceQuota is the device quota on a shared store (PostgreSQL, issue 16): the per-source
 * grants are counted in the store (DeviceQuotaRepository: one row per source and hour window,
 * an atomic conditional upsert), so N nodes behind a load balancer grant a source its quota
 * once, not N times. The total cap counts the shared devices table (re-read every 10 s).
 *
 * Never blocking: when the store fails or does not answer within SHARED_QUOTA_WAIT_MS, the node's
 * own count decides (the grants it made, as on one node): the quota fails over to "per node",
 * not open and not closed, and the answer never waits longer. Counted `devices-quota-store-errors`,
 * logged once per episode (warn), and its end at info.
 */
export class SharedDeviceQuota implements QuotaAdmission {
  private readonly quota: DeviceQuota;
  private readonly now: () => number;
  private failing = false;
  private prunedAt = -Infinity;

  constructor(
    private readonly opts: DeviceQuotaOptions,
    private readonly devices: AsyncQuotaSource,
    private readonly shared: DeviceQuotaRepository,
    private readonly w: SharedQuotaWiring,
  ) {
    this.now = opts.now ?? Date.now;
    this.quota = new DeviceQuota(opts, { has: () => false, count: () => this.quota.cachedTotal() });
  }

  async admit(key: string, ip: string): Promise<QuotaVerdict> {
    if (await this.devices.has(key)) return 'record';
    let total: number | undefined;
    if (this.quota.totalStale()) {
      try {
        total = await this.devices.count();
      } catch (err) {
        this.failed('device count', err);
        total = this.quota.cachedTotal(); // tried again in 10 s
      }
    }
    if (this.quota.overTotal(total)) return 'over-total';
    const t = this.now();
    let granted: boolean | undefined;
    try {
      granted = await within(this.shared.take(ip, t, this.opts.perSourcePerHour), SHARED_QUOTA_WAIT_MS);
      if (granted === undefined) this.failed('device quota', new Error(`no answer within ${SHARED_QUOTA_WAIT_MS} ms`));
    } catch (err) {
      this.failed('device quota', err);
    }
    if (granted === undefined) {
      // The node's own count decides (fail over to per node).
      if (this.quota.overSource(ip)) return 'over-source';
      this.quota.note(ip);
      return 'record';
    }
    this.recovered();
    if (!granted) return 'over-source';
    this.quota.note(ip);
    if (t - this.prunedAt >= QUOTA_PRUNE_MS) {
      this.prunedAt = t;
      this.shared.prune(t).catch((err: unknown) => this.failed('device quota pruning', err));
    }
    return 'record';
  }

  private failed(what: string, err: unknown): void {
    this.w.count('devices-quota-store-errors');
    if (!this.failing) this.w.log.warn({ code: 'PROVD_ERR_STORE', what, err: errorMessage(err) }, 'the shared device quota could not be read: this node counts new devices on its own until the store answers');
    this.failing = true;
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.w.log.info({}, 'the shared device quota answers again');
  }
}
