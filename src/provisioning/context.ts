/**
 * context.ts: the typed context every property template renders from.
 */
import type { Params } from './form';

/** UserContext is the authenticated user (null when the tenant allows anonymous requests). */
export interface UserContext {
  readonly name: string;
  readonly domain: string;
  /** id is name@domain. */
  readonly id: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** TenantContext is the tenant (domain) the request belongs to. */
export interface TenantContext {
  readonly domain: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** ClientContext is what the connection tells about the client. */
export interface ClientContext {
  readonly ip: string;
  readonly userAgent: string;
  /** product and version come from a `Jitsi/2.10.5550`-style User-Agent (contract §4.4). */
  readonly product: string | null;
  readonly version: string | null;
}

/** DeviceContext is the device identity taken from the request fields. */
export interface DeviceContext {
  /** key is what the inventory is keyed by: `uuid:<uuid>`, else `hwaddr:<mac>`, else null. */
  readonly key: string | null;
  readonly uuid: string | null;
  readonly hwaddr: string | null;
  readonly hostname: string | null;
  readonly osname: string | null;
  readonly arch: string | null;
  readonly build: string | null;
  readonly ipaddr: string | null;
}

/** RenderContext is the whole template context. */
export interface RenderContext {
  /** params holds every form field as sent (after one URL-decoding). */
  readonly params: Params;
  readonly user: UserContext | null;
  readonly tenant: TenantContext;
  readonly client: ClientContext;
  readonly device: DeviceContext;
}

/** parseUserAgent reads `Product/version` from the first token of a User-Agent. */
export function parseUserAgent(ua: string): { product: string | null; version: string | null } {
  const m = /^([A-Za-z][\w.-]*)\/(\S+)/.exec(ua.trim());
  return m ? { product: m[1] ?? null, version: m[2] ?? null } : { product: null, version: null };
}
