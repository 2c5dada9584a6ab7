/**
 * pnp.ts: who gets an answer to a SIP Plug-and-Play SUBSCRIBE, and which URL (sip-phones.md §2).
 *
 * The SIP face (src/sip/) reads the MAC from the SUBSCRIBE and asks this room; the decision
 * follows what the HTTP face would then do with the phone's requests, so that a URL is handed
 * out only to a phone that will be served:
 *  - the source must be in the face's allow-list (`sip.allowFrom`, when set) and in the tenant's
 *    `allowFrom` (when set: the HTTP face refuses the phone's fetches otherwise);
 *  - a phone recorded in the store (or declared in `phones.devices`) gets its own tenant's URL,
 *    whatever `phones.autoprovision` says (an admin recorded it);
 *  - an unknown MAC follows `phones.autoprovision`: `off` and `known` refuse it; `oui` needs a
 *    loaded profile listing its OUI; `all` takes the OUI's profile, else a profile named like the
 *    Event's `vendor` parameter (a hint only: Snom and Gigaset say `OEM`); the tenant is the
 *    face's (`sip.tenant`, default `provisioning.defaultDomain`);
 *  - the URL is `{phones.baseUrl or the receiving interface's HTTP URL}/{the tenant's urlKey}/…`
 *    (a tenant that needs a key and has no `urlKey` in the configuration is refused: a key is
 *    stored only as a hash); the body shape per vendor is §2.3's: a folder for Grandstream (the
 *    phone appends `cfg<mac>.xml`) and Yealink (its boot sequence starts from the server URL),
 *    the device's first per-device file for the others (Snom `<MAC>.xml` or
 *    `snom<model>-<MAC>.htm` when the model is known, Gigaset `<MAC>.xml`, Fanvil `<mac>.cfg`),
 *    the MAC substituted here ("Safest: substitute the MAC on the server").
 *
 * Pure over its inputs (the store is read through `phones.get`); nothing is written: the phone's
 * first fetch records it, as any phone's does.
 */
import { addressInAny, type Cidr } from '../net/ipv4';
import { strategyOf, type IdentityConfig } from '../identity/config';
import type { PhoneRepository } from '../store/repository';
import type { AutoprovMode } from './serve';
import type { Profile } from './profile';
import { fileNameFor } from './profile';

/** PNP_FOLDER_VENDORS take a folder URL in the NOTIFY (§2.3: Grandstream "must be a path ending in a slash"). */
export const PNP_FOLDER_VENDORS: ReadonlySet<string> = new Set(['grandstream', 'yealink']);

/** PnpQuery is what the SIP face knows of a phone asking. */
export interface PnpQuery {
  /** mac is `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /** ip is the SUBSCRIBE's source address. */
  readonly ip: string;
  /** vendorHint / modelHint are the Event parameters, a hint only. */
  readonly vendorHint?: string | undefined;
  readonly modelHint?: string | undefined;
  /** baseUrl is where the phone will fetch from (phones.baseUrl, or the receiving interface's HTTP URL), ending in `/`. */
  readonly baseUrl: string;
}

/** PnpRefusal says why a phone gets no answer (a counter name: `refused:<reason>`). */
export type PnpRefusal = 'not-allowed' | 'tenant-not-allowed' | 'unknown-device' | 'unknown-vendor' | 'unknown-tenant' | 'no-url-key' | 'no-file';

/** PnpDecision is pnpTarget's answer. */
export type PnpDecision =
  | { readonly ok: true; readonly url: string; readonly vendor: string; readonly tenant: string; readonly known: boolean }
  | { readonly ok: false; readonly reason: PnpRefusal; readonly vendor?: string; readonly tenant?: string };

/** PnpDeps are the inputs of the decision. */
export interface PnpDeps {
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly phones: Pick<PhoneRepository, 'get'>;
  /** declared are phones.devices by MAC: their profile, tenant and model (seeded into the store by the HTTP face). */
  readonly declared: ReadonlyMap<string, { readonly profile: string; readonly tenant: string; readonly model?: string | undefined }>;
  readonly autoprovision: AutoprovMode;
  readonly provisioning: Pick<IdentityConfig, 'tenants' | 'defaultDomain'>;
  /** tenantAllow are each tenant's allowFrom networks (empty: any). */
  readonly tenantAllow: ReadonlyMap<string, readonly Cidr[]>;
  /** tenant answers unknown phones (sip.tenant, default provisioning.defaultDomain). */
  readonly tenant: string;
  /** allowFrom is the SIP face's allow-list (empty: any source). */
  readonly allowFrom: readonly Cidr[];
}

/** vendorByOui is the first loaded profile (in vendor order) listing the MAC's OUI. */
export function vendorByOui(profiles: ReadonlyMap<string, Profile>, mac: string): string | undefined {
  const oui = mac.slice(0, 8);
  return [...profiles.keys()].sort().find((v) => profiles.get(v)?.ouis.has(oui) === true);
}

/** vendorByHint is the loaded profile named like the hint (case-insensitive), never for `OEM`. */
function vendorByHint(profiles: ReadonlyMap<string, Profile>, hint: string | undefined): string | undefined {
  if (hint === undefined) return undefined;
  const h = hint.trim().toLowerCase();
  if (h.length === 0 || h === 'oem') return undefined;
  return [...profiles.keys()].find((v) => v.toLowerCase() === h);
}

/** pnpFile is what goes after `{base}{key}/` in the NOTIFY: '' (a folder) or the device's first nameable per-device file. */
export function pnpFile(profile: Profile, mac: string, model: string | undefined): string | undefined {
  if (PNP_FOLDER_VENDORS.has(profile.vendor)) return '';
  for (const p of profile.deviceFiles) {
    const f = fileNameFor(p, mac, model);
    if (f !== undefined) return f;
  }
  return undefined;
}

/** pnpTarget decides whether a PnP SUBSCRIBE gets a NOTIFY, and with which URL; see the file comment. */
export function pnpTarget(q: PnpQuery, deps: PnpDeps): PnpDecision {
  if (deps.allowFrom.length > 0 && !addressInAny(q.ip, deps.allowFrom)) return { ok: false, reason: 'not-allowed' };
  const stored = deps.phones.get(q.mac);
  const declared = deps.declared.get(q.mac);
  let vendor: string | undefined;
  let tenant: string;
  let model: string | undefined;
  let known = true;
  if (stored !== undefined) {
    vendor = stored.profile;
    tenant = stored.tenant;
    model = stored.model ?? undefined;
  } else if (declared !== undefined) {
    vendor = declared.profile;
    tenant = declared.tenant;
    model = declared.model;
  } else {
    known = false;
    tenant = deps.tenant;
    if (deps.autoprovision === 'off' || deps.autoprovision === 'known') return { ok: false, reason: 'unknown-device', tenant };
    vendor = vendorByOui(deps.profiles, q.mac) ?? (deps.autoprovision === 'all' ? vendorByHint(deps.profiles, q.vendorHint) : undefined);
    if (vendor === undefined) return { ok: false, reason: 'unknown-vendor', tenant };
  }
  const profile = deps.profiles.get(vendor);
  if (profile === undefined) return { ok: false, reason: 'unknown-vendor', vendor, tenant };
  const t = deps.provisioning.tenants[tenant];
  if (t === undefined) return { ok: false, reason: 'unknown-tenant', vendor, tenant };
  const nets = deps.tenantAllow.get(tenant) ?? [];
  if (nets.length > 0 && !addressInAny(q.ip, nets)) return { ok: false, reason: 'tenant-not-allowed', vendor, tenant };
  // The URL must reach the tenant: its key, or the unkeyed paths of an `auth: none` default tenant.
  let prefix: string;
  if (t.urlKey !== undefined) prefix = `${encodeURIComponent(t.urlKey)}/`;
  else if (tenant === deps.provisioning.defaultDomain && strategyOf(t) === 'none') prefix = '';
  else return { ok: false, reason: 'no-url-key', vendor, tenant };
  const file = pnpFile(profile, q.mac, model);
  if (file === undefined) return { ok: false, reason: 'no-file', vendor, tenant };
  const base = q.baseUrl.endsWith('/') ? q.baseUrl : `${q.baseUrl}/`;
  return { ok: true, url: `${base}${prefix}${file}`, vendor, tenant, known };
}
