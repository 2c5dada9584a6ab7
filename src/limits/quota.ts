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

/** deviceSource adapts the Jitsi device repository to a QuotaSource. */
export function deviceSource(devices: Pick<DeviceRepository, 'get' | 'count'>): QuotaSource {
  return { has: (key) => devices.get(key) !== undefined, count: () => devices.count() };
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
    const t = this.now();
    const recent = (this.perSource.get(ip) ?? []).filter((at) => t - at < HOUR_MS);
    if (recent.length >= this.opts.perSourcePerHour) {
      this.perSource.set(ip, recent);
      return 'over-source';
    }
    if (t - this.totalAt >= TOTAL_REFRESH_MS) {
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
