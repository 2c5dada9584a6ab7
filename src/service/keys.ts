/**
 * keys.ts (service): a tenant's provisioning keys: rotate (the new key returned once, only its
 * hash stored) and list their metadata, for `provisiond key rotate|list` and the admin API. The
 * rotation rules are src/identity/rotation.ts's; keys and hashes, src/identity/keys.ts's.
 */
import { ProvError, errorMessage } from '../errors';
import { generateKey, hashKey } from '../identity/keys';
import { configuredUrlKeys, keyRows, rotateTenantKey, type KeyRow, type TenantUrlKeys, type UrlKeyWas } from '../identity/rotation';
import type { KeyRepository } from '../store/repository';

/** MAX_GRACE: a previous key stays valid at most 90 days. */
export const MAX_GRACE = 90 * 86_400;

/** Rotated is a rotation's outcome: the new key (shown once), until when the previous one opens, what the urlKey was. */
export interface Rotated {
  readonly tenant: string;
  readonly key: string;
  readonly createdAt: string;
  readonly previousValidUntil: string;
  readonly urlKeyWas: UrlKeyWas;
}

/** knownTenant is a configured tenant's section, or PROVD_ERR_KEY naming the configured ones. */
export function knownTenant<T>(tenants: Readonly<Record<string, T>>, tenant: string): T {
  const t = tenants[tenant];
  if (t === undefined) throw new ProvError('PROVD_ERR_KEY', `unknown tenant ${tenant} (configured: ${Object.keys(tenants).join(', ') || 'none'})`);
  return t;
}

/** rotateKey makes a new key for a configured tenant; the previous one stays valid `grace` seconds. */
export async function rotateKey(keys: KeyRepository, tenants: TenantUrlKeys, tenant: string, grace: number, now: Date = new Date()): Promise<Rotated> {
  const t = knownTenant(tenants, tenant);
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE) throw new ProvError('PROVD_ERR_USAGE', `--grace must be a whole number of seconds, 0 to ${MAX_GRACE}`);
  const key = generateKey();
  const at = now.toISOString();
  const until = new Date(now.getTime() + grace * 1000).toISOString();
  let urlKeyWas: UrlKeyWas;
  try {
    urlKeyWas = await rotateTenantKey(keys, tenant, t.urlKey, hashKey(key), at, until);
  } catch (err) {
    throw new ProvError('PROVD_ERR_KEY', `cannot store the key: ${errorMessage(err)}`, { cause: err });
  }
  return { tenant, key, createdAt: at, previousValidUntil: until, urlKeyWas };
}

/** listKeys lists the stored keys' metadata (one tenant's, or every tenant's), never a key or a hash. */
export async function listKeys(keys: KeyRepository, tenants: TenantUrlKeys, tenant: string | null, now: number = Date.now()): Promise<KeyRow[]> {
  const rows = keyRows(await keys.list(), configuredUrlKeys(tenants), now);
  return tenant === null ? rows : rows.filter((r) => r.tenant === tenant);
}
