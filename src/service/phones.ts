/**
 * phones.ts (service): a tenant's SIP phone devices: find with filters and paging, get. Adding,
 * changing and deleting are src/phones/admin.ts's (shared with `provisiond devices add|set|del`);
 * this file scopes them by tenant: another tenant's phone is "not there".
 */
import type { PhoneFilter, PhoneRepository, StoredPhone } from '../store/repository';
import { normalizeMacLoose } from '../phones/service';

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
