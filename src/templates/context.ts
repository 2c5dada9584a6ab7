/**
 * context.ts: the typed context every property template renders from.
 */
import type { Params } from '../devices/request';
import type { DeviceContext } from '../devices/device';

export type { DeviceContext };

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

/** RenderContext is the whole template context. */
export interface RenderContext {
  /** params holds every form field as sent (after one URL-decoding). */
  readonly params: Params;
  readonly user: UserContext | null;
  readonly tenant: TenantContext;
  readonly client: ClientContext;
  readonly device: DeviceContext;
}
