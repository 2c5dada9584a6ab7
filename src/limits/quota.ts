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
import type { DeviceRepository } from '../store/repository';

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
    const t = this.now();
    const recent = (this.perSource.get(ip) ?? []).filter((at) => t - at < HOUR_MS);
    if (recent.length >= this.opts.perSourcePerHour) {
      this.perSource.set(ip, recent);
      return 'over-source';
    }
    if (total !== undefined) {
      this.total = total;
      this.totalAt = t;
    } else if (t - this.totalAt >= TOTAL_REFRESH_MS) {
      this.total = this.devices.count();
      this.totalAt = t;
    }
    if (this.total >= this.opts.maxTotal) return 'over-total';
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
    return 'record';
  }
}
