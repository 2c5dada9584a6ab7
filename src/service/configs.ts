/**
 * configs.ts (service): a tenant's SIP phone configs (wazo-provd's configs, scoped by tenant):
 * list, get, put (insert or replace, checked), delete, and the flattened view (the effective raw
 * config after inheritance, src/phones/configs.ts's flatten). SIP passwords and other values
 * whose key is named like a secret are redacted unless the caller may see secrets.
 */
import { ProvError } from '../errors';
import { SECRET_NAME_RE } from '../identity/users';
import { checkRaw, flatten, type PhoneConfig, type RawMap, type RawValue } from '../phones/configs';
import type { PhoneConfigRole, PhoneJsonMap, PhoneRepository, StoredPhoneConfig } from '../store/repository';

/** ConfigView is a config as shown. */
export interface ConfigView {
  readonly id: string;
  readonly tenant: string;
  readonly parents: readonly string[];
  readonly role: PhoneConfigRole;
  readonly raw: RawMap;
  readonly updatedAt: string;
}

/** redactRaw replaces, at any depth, the values of keys named like secrets with `[redacted]`. */
export function redactRaw(raw: RawMap): RawMap {
  const walk = (v: RawValue): RawValue => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return (v as readonly RawValue[]).map(walk);
    const out: Record<string, RawValue> = {};
    for (const [k, x] of Object.entries(v as RawMap)) out[k] = SECRET_NAME_RE.test(k) && x !== null && typeof x !== 'object' ? '[redacted]' : walk(x);
    return out;
  };
  return walk(raw) as RawMap;
}

/** configView shows a stored config. */
export function configView(c: StoredPhoneConfig, secrets: boolean): ConfigView {
  return { id: c.id, tenant: c.tenant, parents: c.parents, role: c.role, raw: secrets ? c.raw : redactRaw(c.raw), updatedAt: c.updatedAt };
}

/** ConfigInput is what a put writes. */
export interface ConfigInput {
  readonly parents?: readonly string[] | undefined;
  readonly raw?: PhoneJsonMap | undefined;
  readonly role?: PhoneConfigRole | undefined;
}

/** putConfig inserts or replaces a config of a tenant after checking its raw config (unknown keys, values). */
export function putConfig(phones: PhoneRepository, tenant: string, id: string, c: ConfigInput): StoredPhoneConfig {
  const problems = checkRaw(`config ${id}`, (c.raw ?? {}) as RawMap);
  if (problems.length > 0) throw new ProvError('PROVD_ERR_PHONE_STORE', `config ${id} is refused: ${problems.length} problem(s)`, { details: problems });
  return phones.putConfig({ tenant, id, parents: c.parents ?? [], raw: c.raw ?? {}, role: c.role ?? 'none' });
}

/** flattenedConfig is the effective raw config of a tenant's config, and the order it was merged in. */
export function flattenedConfig(phones: PhoneRepository, tenant: string, id: string): { readonly raw: RawMap; readonly order: readonly string[] } | undefined {
  if (phones.getConfig(tenant, id) === undefined) return undefined;
  const map = new Map<string, PhoneConfig>(phones.listConfigs(tenant).map((c) => [c.id, { id: c.id, parents: c.parents, raw: c.raw }]));
  const r = flatten(map, id);
  if (!r.ok) throw new ProvError('PROVD_ERR_PHONE_STORE', `config ${id} cannot be flattened`, { details: r.problems });
  return { raw: r.raw, order: r.order };
}
