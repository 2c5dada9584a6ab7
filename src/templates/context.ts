/**
 * context.ts: the typed context every property template renders from.
 */
import type { Params } from '../jitsi/form';

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
  readonly product: string | undefined;
  readonly version: string | undefined;
}

/** DeviceContext is the device identity taken from the request fields. */
export interface DeviceContext {
  /** key is what the inventory is keyed by: `uuid:<uuid>`, else `hwaddr:<mac>`. Absent fields are undefined, so `| default(...)` works. */
  readonly key: string | undefined;
  readonly uuid: string | undefined;
  readonly hwaddr: string | undefined;
  readonly hostname: string | undefined;
  readonly osname: string | undefined;
  readonly arch: string | undefined;
  readonly build: string | undefined;
  readonly ipaddr: string | undefined;
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
export function parseUserAgent(ua: string): { product: string | undefined; version: string | undefined } {
  const m = /^([A-Za-z][\w.-]*)\/(\S+)/.exec(ua.trim());
  return m ? { product: m[1], version: m[2] } : { product: undefined, version: undefined };
}
