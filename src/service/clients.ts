/**
 * clients.ts (service): the Jitsi clients' inventory of one tenant (`provisiond devices list`
 * and the admin API): find with filters and paging, get, delete. The inventory is bounded by
 * the devices caps (src/limits/quota.ts), so filtering a listed copy is bounded too.
 */
import type { Device, DeviceRepository } from '../store/repository';
import { ProvError } from '../errors';

/** ClientFilter selects clients; every field is an exact match but `q` (a substring of key, user, hostname or hwaddr). */
export interface ClientFilter {
  readonly tenant?: string | undefined;
  readonly username?: string | undefined;
  readonly hwaddr?: string | undefined;
  readonly ip?: string | undefined;
  readonly q?: string | undefined;
  /** failed: true lists clients whose last request failed; false those whose last succeeded. */
  readonly failed?: boolean | undefined;
}

/** matchesClient tells whether a client passes a filter. */
export function matchesClient(d: Device, f: ClientFilter): boolean {
  if (f.tenant !== undefined && d.tenant !== f.tenant.toLowerCase()) return false;
  if (f.username !== undefined && (d.username ?? '').toLowerCase() !== f.username.toLowerCase()) return false;
  if (f.hwaddr !== undefined && (d.hwaddr ?? '').toLowerCase() !== f.hwaddr.toLowerCase()) return false;
  if (f.ip !== undefined && d.ip !== f.ip) return false;
  if (f.failed !== undefined && (d.lastFailureAt !== null && d.lastFailureAt >= d.lastSeen) !== f.failed) return false;
  if (f.q !== undefined) {
    const q = f.q.toLowerCase();
    if (![d.key, d.username, d.hostname, d.hwaddr].some((v) => v !== null && v.toLowerCase().includes(q))) return false;
  }
  return true;
}

/** findClients lists the clients a filter selects (most recently seen first). */
export async function findClients(devices: DeviceRepository, f: ClientFilter): Promise<Device[]> {
  return (await devices.list()).filter((d) => matchesClient(d, f));
}

/** getClient is one client of a tenant (undefined: none, or another tenant's). */
export async function getClient(devices: DeviceRepository, tenant: string, key: string): Promise<Device | undefined> {
  const d = await devices.get(key);
  return d !== undefined && d.tenant === tenant ? d : undefined;
}

/** deleteClient forgets one client of a tenant; false when there is none. */
export async function deleteClient(devices: DeviceRepository, tenant: string, key: string): Promise<boolean> {
  if ((await getClient(devices, tenant, key)) === undefined) return false;
  if (devices.remove === undefined) throw new ProvError('PROVD_ERR_STORE', 'this store cannot delete inventory records');
  return devices.remove(key);
}
