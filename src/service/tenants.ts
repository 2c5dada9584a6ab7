/**
 * tenants.ts (service): the configured tenants, read-only (they live in the configuration file):
 * name, authentication, attributes (secret-like values redacted without the secrets scope),
 * whether a urlKey is configured (never the key).
 */
import { strategyOf, type AuthStrategy } from '../identity/config';
import { shownAttributes } from '../identity/users';

/** TenantSection is the part of a tenant's configuration shown. */
export interface TenantSection {
  readonly auth?: AuthStrategy | undefined;
  readonly requireCredentials?: boolean | undefined;
  readonly urlKey?: string | undefined;
  readonly attributes?: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** TenantView is one tenant as shown. */
export interface TenantView {
  readonly name: string;
  readonly auth: AuthStrategy;
  readonly urlKey: boolean;
  readonly attributes: Readonly<Record<string, string>>;
}

/** tenantView shows a tenant. */
export function tenantView(name: string, t: TenantSection, secrets: boolean): TenantView {
  const attributes = Object.fromEntries(Object.entries(t.attributes ?? {}).map(([k, v]) => [k, String(v)]));
  return { name, auth: strategyOf(t), urlKey: t.urlKey !== undefined, attributes: secrets ? attributes : shownAttributes(attributes) };
}

/** listTenants shows the tenants a caller may see (null: every one), by name. */
export function listTenants(tenants: Readonly<Record<string, TenantSection>>, only: string | null, secrets: boolean): TenantView[] {
  return Object.keys(tenants)
    .filter((n) => only === null || n === only)
    .sort()
    .map((n) => tenantView(n, tenants[n] ?? {}, secrets));
}
