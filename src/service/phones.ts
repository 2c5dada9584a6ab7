/**
 * phones.ts (service): a tenant's SIP phone devices: find with filters and paging, get. Adding,
 * changing and deleting are src/phones/admin.ts's (shared with `provisiond devices add|set|del`);
 * this file scopes them by tenant: another tenant's phone is "not there".
 */
import { UserDirectory } from '../identity/auth';
import type { UsersConfig } from '../identity/config';
import type { DeviceAdminDeps } from '../phones/admin';
import type { PhonesDomain } from '../phones/domain';
import { normalizeMacLoose } from '../phones/service';
import type { PhoneFilter, PhoneRepository, StoredPhone, Store } from '../store/repository';

/** PhonePage is one page of a tenant's phones and how many the filter selects. */
export interface PhonePage {
  readonly items: readonly StoredPhone[];
  readonly total: number;
}

/** findPhones lists the phones a filter selects, a page at a time (tenant, MAC order). */
export function findPhones(phones: PhoneRepository, filter: PhoneFilter): PhonePage {
  const rest: Omit<PhoneFilter, 'limit' | 'offset'> = {
    ...(filter.tenant !== undefined ? { tenant: filter.tenant } : {}),
    ...(filter.profile !== undefined ? { profile: filter.profile } : {}),
    ...(filter.model !== undefined ? { model: filter.model } : {}),
    ...(filter.config !== undefined ? { config: filter.config } : {}),
  };
  return { items: phones.list(filter), total: phones.count(rest) };
}

/** getPhone is one phone of a tenant (undefined: none, not a MAC, or another tenant's). */
export function getPhone(phones: PhoneRepository, tenant: string, macIn: string): StoredPhone | undefined {
  const mac = normalizeMacLoose(macIn);
  if (mac === undefined) return undefined;
  const p = phones.get(mac);
  return p !== undefined && p.tenant === tenant ? p : undefined;
}

/**
 * deviceAdminDeps builds what src/phones/admin.ts needs from an opened store: the loaded
 * profiles, the configured tenants, who their users are (configuration file, then the store),
 * and the MACs the configuration file declares (`provisiond devices …` and the admin API).
 */
export function deviceAdminDeps(store: Store, provisioning: UsersConfig & { readonly defaultDomain: string }, domain: PhonesDomain, declared: readonly { readonly mac: string }[]): DeviceAdminDeps {
  const dir = new UserDirectory(provisioning, undefined, store.sync?.users);
  return {
    phones: store.phones,
    profiles: new Map([...domain.profiles].map(([v, l]) => [v, l.profile])),
    tenants: new Set(Object.keys(provisioning.tenants)),
    defaultTenant: provisioning.defaultDomain,
    userExists: (tenant, name) => dir.lookupNow(tenant, name) !== undefined,
    declared: new Set(declared.flatMap((d) => normalizeMacLoose(d.mac) ?? [])),
  };
}
