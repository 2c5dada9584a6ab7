/**
 * rotation.ts: provisioning key administration shared by every way of managing keys (the CLI
 * today, an admin API later): rotating a tenant's key in the store and listing the stored keys
 * beside the configured urlKeys. Functions here work on the key repository they are given; they
 * never print. The keys themselves (generation, hashing, the key ring) are in keys.ts.
 */
import type { KeyRepository, StoredKey } from '../store/repository';
import { hashKey } from './keys';

/** TenantUrlKeys is the part of a tenant's configuration that names its advertised key. */
export type TenantUrlKeys = Readonly<Record<string, { readonly urlKey?: string | undefined }>>;

/** configuredUrlKeys maps each tenant with a urlKey to it. */
export function configuredUrlKeys(tenants: TenantUrlKeys): Map<string, string> {
  const out = new Map<string, string>();
  for (const [tenant, t] of Object.entries(tenants)) if (t.urlKey !== undefined) out.set(tenant, t.urlKey);
  return out;
}

/** UrlKeyWas is what a tenant's configured urlKey was before a rotation. */
export type UrlKeyWas = 'none' | 'current' | 'previous' | 'not a key';

/**
 * rotateTenantKey makes `newHash` the tenant's current key; the current one stays valid until
 * `until`. A configured urlKey the store does not know yet is recorded first, so that it becomes
 * the previous key and is revoked when the grace period ends. It returns what the urlKey was.
 */
export async function rotateTenantKey(keys: KeyRepository, tenant: string, urlKey: string | undefined, newHash: string, atIso: string, until: string): Promise<UrlKeyWas> {
  let urlKeyWas: UrlKeyWas = 'none';
  if (urlKey !== undefined) {
    const h = hashKey(urlKey);
    const mine = (await keys.list()).filter((k) => k.tenant === tenant);
    const match = mine.find((k) => k.hash === h);
    if (mine.length === 0) await keys.rotate(tenant, h, atIso, atIso); // the urlKey was the tenant's key: record it
    urlKeyWas = mine.length === 0 || match?.expiresAt === null ? 'current' : match ? 'previous' : 'not a key';
  }
  await keys.rotate(tenant, newHash, atIso, until);
  return urlKeyWas;
}

/** KeyRow is one listed key: its metadata, never the key or its hash. */
export interface KeyRow {
  tenant: string;
  createdAt: string | null;
  validUntil: string | null;
  state: string;
  urlKey?: true;
}

/**
 * keyRows lists the stored keys' metadata; `urlKey` marks the one the configuration advertises,
 * and a configured urlKey the store does not hold is listed too. Sorted by tenant.
 */
export function keyRows(list: readonly StoredKey[], urlKeys: ReadonlyMap<string, string>, now: number): KeyRow[] {
  const urlHash = new Map([...urlKeys].map(([tenant, k]) => [tenant, hashKey(k)]));
  const rows: KeyRow[] = list.map((k) => ({
    tenant: k.tenant,
    createdAt: k.createdAt,
    validUntil: k.expiresAt,
    state: k.expiresAt === null ? 'current' : Date.parse(k.expiresAt) > now ? 'previous (grace)' : 'expired',
    ...(urlHash.get(k.tenant) === k.hash ? { urlKey: true as const } : {}),
  }));
  const managed = new Set(list.map((k) => k.tenant));
  for (const [tenant, h] of urlHash) {
    if (!managed.has(tenant)) rows.push({ tenant, createdAt: null, validUntil: null, state: 'current (configuration only)', urlKey: true });
    else if (!list.some((k) => k.tenant === tenant && k.hash === h)) rows.push({ tenant, createdAt: null, validUntil: null, state: 'refused (not a stored key)', urlKey: true });
  }
  rows.sort((a, b) => a.tenant.localeCompare(b.tenant));
  return rows;
}
