/**
 * serve.ts: the answer to one phone file request (`GET /<key>/<file>`), as a pure-ish handler:
 * every dependency is injected (profiles, the phone repository, the users, the template lookup
 * per vendor, the clock, the tenant and its key already resolved by the caller). The HTTP face
 * routes it (src/http/server.ts) through PhoneService (service.ts).
 *
 * Pipeline (wazo-provd's identification, done safely):
 *   1. identify (User-Agent, path, source IP) → vendor, model, version, MAC, file kind;
 *      a MAC conflict (User-Agent vs path) → 404 and an event line.
 *   2. find the device: by MAC when the request carries one (and only then: a MAC-named file is
 *      never answered with another device's file), else by serial, else by IP unless `natMode`
 *      (many phones behind one address). A device of another tenant is not found.
 *   3. unknown device with a MAC → `autoprovision`: `off` 404; `known` only when `inventory`
 *      holds the MAC; `oui` only an OUI of a loaded profile; `all` any. An auto-created device
 *      is recorded (`createdBy: 'auto'`, the tenant's autoprov config) and gets an event line,
 *      unless `admit` (the device caps) refuses it: then a per-device file is 404 `not-admitted`
 *      (not a failure: the caps are the site's limit, not a sign of guessing), a common file is
 *      still served.
 *   4. per-device file (profile `deviceFiles` only; a `macInPath` name is never rendered: 404):
 *      rendered with the device's config (flattened, `withDefaults`) and its assigned users; a
 *      sensitive file on a tenant without a key, outside `passwordWindow` minutes after the
 *      device was added (by an admin), assigned or reset, is rendered with `secrets: false`
 *      (outcome `secrets-withheld`). Every sensitive file served or withheld → an event line.
 *      Common file: its own template (`commonTemplateFileFor`) rendered without secrets, or 404
 *      `unknown-common` (not a failure).
 *   5. ETag = quoted sha256 of the body; `If-None-Match` equal to it → 304.
 *
 * The caller records `observe` (ip, version, model of a known device) and writes `events`.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors';
import { phoneLine, type PhoneEvent } from '../limits/events';
import type { PhoneConfigRole, PhoneRepository, StoredPhone } from '../store/repository';
import type { TemplateLookup } from '../templates/lookup';
import type { PhoneConfig, RawMap } from './configs';
import { contextFor, type ContextServer, type ContextUser } from './context';
import { commonTemplateFileFor, templateFileFor } from './files';
import { identify, type Identification } from './identify';
import type { Profile } from './profile';

/** AutoprovMode is `phones.autoprovision`. */
export type AutoprovMode = 'off' | 'known' | 'oui' | 'all';

/** PhoneFileRequest is what the handler reads from an HTTP request. */
export interface PhoneFileRequest {
  /** path is the file part of the URL (the key segment already removed, or not: the last segment is the file). */
  readonly path: string;
  readonly userAgent?: string | undefined;
  readonly ip: string;
  readonly ifNoneMatch?: string | undefined;
}

/** ServeTenant is the tenant the caller resolved from the key (or the unkeyed `auth: none` tenant). */
export interface ServeTenant {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** urlKey is the provisioning key of the URL; absent: the tenant has no key (the password window applies). */
  readonly urlKey?: string | undefined;
}

/** ServeDeps are the injected dependencies. */
export interface ServeDeps {
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly phones: PhoneRepository;
  /** lookup is the template lookup of a vendor (created with PHONE_FILTERS). */
  readonly lookup: (vendor: string) => TemplateLookup | undefined;
  /** user gives an assigned user's name, domain and attributes; undefined: no such user (its line stays empty). */
  readonly user: (tenant: string, name: string) => ContextUser | undefined;
  readonly now: () => Date;
  readonly tenant: ServeTenant;
  readonly server: ContextServer;
  readonly autoprovision: AutoprovMode;
  /** natMode: many phones share an address; never find a device by IP. */
  readonly natMode?: boolean;
  /** passwordWindow in minutes; undefined: no window (secrets always served, wazo's behaviour). */
  readonly passwordWindow?: number | undefined;
  /** inventory says whether a MAC is in the site's inventory (`autoprovision: known`). */
  readonly inventory?: (mac: string) => boolean;
  /**
   * admit is consulted before an auto-created device is recorded (the `devices` caps: per source
   * per hour, in total); false: not recorded (outcome `not-admitted` for a per-device file).
   */
  readonly admit?: (mac: string, ip: string) => boolean;
}

/** ServeOutcome names what happened (logs, counters). */
export type ServeOutcome =
  | 'served'
  | 'secrets-withheld'
  | 'not-modified'
  | 'unknown-common'
  | 'unknown-file'
  | 'unidentified'
  | 'unknown-device'
  | 'mac-conflict'
  | 'render-error'
  | 'not-admitted';

/** PhoneFileAnswer is the reply to send, the event lines to write and the sighting to record. */
export interface PhoneFileAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly outcome: ServeOutcome;
  /** failure: the request counts as a failure for the bans (a MAC conflict, an unknown device, a withheld file). */
  readonly failure: boolean;
  readonly events: readonly string[];
  readonly observe?: { readonly mac: string; readonly ip: string; readonly version?: string | undefined; readonly model?: string | undefined };
  /** vendor: the profile the request was identified as (absent: unidentified, or a MAC conflict). */
  readonly vendor?: string;
  /** created: the device was auto-created by this request. */
  readonly created?: boolean;
  readonly problem?: string;
}

const NO_STORE = { 'cache-control': 'no-store' };

/** CONTENT_TYPES maps a file extension to its content type. */
export const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ['cfg', 'text/plain; charset=utf-8'],
  ['boot', 'text/plain; charset=utf-8'],
  ['txt', 'text/plain; charset=utf-8'],
  ['xml', 'application/xml; charset=utf-8'],
  ['htm', 'text/html; charset=utf-8'],
  ['html', 'text/html; charset=utf-8'],
]);

/** contentTypeFor gives the content type of a file name by its extension (octet-stream when unknown). */
export function contentTypeFor(file: string): string {
  const dot = file.lastIndexOf('.');
  const ext = dot < 0 ? '' : file.slice(dot + 1).toLowerCase();
  return CONTENT_TYPES.get(ext) ?? 'application/octet-stream';
}

/** etagOf is the quoted sha256 (hex) of a body. */
export function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('hex')}"`;
}

/** inWindow: `now` is within `minutes` after the last admin action on the device (an auto-created device's addition does not count). */
export function inWindow(device: StoredPhone, now: Date, minutes: number): boolean {
  const starts = [device.createdBy === 'admin' ? device.addedAt : null, device.assignedAt, device.resetAt]
    .filter((s): s is string => s !== null)
    .map((s) => Date.parse(s))
    .filter((t) => Number.isFinite(t));
  if (starts.length === 0) return false;
  const t = now.getTime();
  const from = Math.max(...starts);
  return t >= from && t - from <= minutes * 60_000;
}

function empty(status: number, outcome: ServeOutcome, failure: boolean, events: string[], extra: Partial<PhoneFileAnswer> = {}): PhoneFileAnswer {
  return { status, headers: { ...NO_STORE }, body: Buffer.alloc(0), outcome, failure, events, ...extra };
}

/** tenantConfigs reads the tenant's configs and its default/autoprov ids. */
export function tenantConfigs(phones: PhoneRepository, tenant: string): { configs: Map<string, PhoneConfig>; roles: Map<PhoneConfigRole, string> } {
  const configs = new Map<string, PhoneConfig>();
  const roles = new Map<PhoneConfigRole, string>();
  for (const c of phones.listConfigs(tenant)) {
    configs.set(c.id, { id: c.id, parents: c.parents, raw: c.raw as RawMap });
    if (c.role !== 'none') roles.set(c.role, c.id);
  }
  return { configs, roles };
}

/** NO_CONFIG is the id of the empty config used when a tenant has no default config. */
const NO_CONFIG = '\u0000none';

function findDevice(deps: ServeDeps, id: Identification): StoredPhone | undefined {
  const tenant = deps.tenant.name;
  if (id.mac !== undefined) {
    const d = deps.phones.get(id.mac);
    return d !== undefined && d.tenant === tenant ? d : undefined;
  }
  if (id.serial !== undefined) {
    const ds = deps.phones.getBySerial(id.serial).filter((d) => d.tenant === tenant);
    if (ds.length === 1) return ds[0];
  }
  if (deps.natMode !== true && id.ip !== undefined) {
    const ds = deps.phones.getByIp(tenant, id.ip);
    if (ds.length === 1) return ds[0];
  }
  return undefined;
}

function mayCreate(deps: ServeDeps, mac: string): boolean {
  switch (deps.autoprovision) {
    case 'off':
      return false;
    case 'known':
      return deps.inventory?.(mac) === true;
    case 'oui': {
      const oui = mac.slice(0, 8);
      return [...deps.profiles.values()].some((p) => p.ouis.has(oui));
    }
    case 'all':
      return true;
  }
}

/** answerPhoneFile answers one phone file request; see the file comment. It never throws. */
export function answerPhoneFile(req: PhoneFileRequest, deps: ServeDeps): PhoneFileAnswer {
  const events: string[] = [];
  const now = deps.now();
  const tenant = deps.tenant.name;
  const line = (event: PhoneEvent, mac: string | undefined): void => {
    events.push(phoneLine(now, req.ip, event, mac, tenant));
  };

  const id = identify({ userAgent: req.userAgent, path: req.path, ip: req.ip }, deps.profiles, (mac) => {
    const d = deps.phones.get(mac);
    return d !== undefined && d.tenant === tenant ? d.profile : undefined;
  });
  if (id === undefined) return empty(404, 'unidentified', false, events);
  const profile = deps.profiles.get(id.vendor);
  if (profile === undefined) return empty(404, 'unidentified', false, events);

  if (id.macConflict !== undefined) {
    line('mac-conflict', id.mac);
    return empty(404, 'mac-conflict', true, events);
  }

  // The tenant's configs, read once per request and only when needed.
  let tc: ReturnType<typeof tenantConfigs> | undefined;
  const configsOf = (): ReturnType<typeof tenantConfigs> => (tc ??= tenantConfigs(deps.phones, tenant));

  let device = findDevice(deps, id);
  let created = false;
  let notAdmitted = false;
  const creatable = device === undefined && id.mac !== undefined && deps.phones.get(id.mac) === undefined && mayCreate(deps, id.mac);
  if (creatable && id.mac !== undefined && deps.admit !== undefined && !deps.admit(id.mac, req.ip)) notAdmitted = true;
  if (creatable && !notAdmitted && id.mac !== undefined) {
    const { roles } = configsOf();
    try {
      device = deps.phones.add(
        { mac: id.mac, tenant, profile: id.vendor, model: id.model ?? null, version: id.version ?? null, serial: id.serial ?? null, ip: id.ip ?? null, config: roles.get('autoprov') ?? null, createdBy: 'auto' },
        now.toISOString(),
      );
      created = true;
      line('device-created', id.mac);
    } catch {
      device = undefined;
    }
  }

  const observe = device !== undefined && id.ip !== undefined ? { mac: device.mac, ip: id.ip, version: id.version, model: id.model } : undefined;
  const extra: Partial<PhoneFileAnswer> = { vendor: id.vendor, ...(observe === undefined ? {} : { observe }), ...(created ? { created } : {}) };

  if (id.kind === 'unknown' || id.pattern === undefined) return empty(404, 'unknown-file', false, events, extra);

  const lookup = deps.lookup(id.vendor);
  if (lookup === undefined) return empty(404, 'unknown-file', false, events, extra);
  const { configs, roles } = configsOf();
  const configId = (d: StoredPhone | undefined): string => {
    const c = d?.config ?? roles.get('default');
    if (c !== undefined) return c;
    configs.set(NO_CONFIG, { id: NO_CONFIG, parents: [], raw: {} });
    return NO_CONFIG;
  };

  let file: string;
  let model: string | undefined;
  let text: string;
  let outcome: ServeOutcome = 'served';
  try {
    if (id.kind === 'common') {
      const pattern = profile.commonFiles.find((p) => p.source === id.pattern);
      const name = pattern === undefined ? undefined : commonTemplateFileFor(lookup, pattern, id.file);
      if (name === undefined) return empty(404, 'unknown-common', false, events, extra);
      const ctx = contextFor(configs, { device: { mac: device?.mac ?? '00:00:00:00:00:00', config: configId(undefined), vendor: id.vendor }, users: [], tenant: deps.tenant, server: deps.server }, {}, { secrets: false });
      if (!ctx.ok) return empty(500, 'render-error', false, events, { ...extra, problem: ctx.problems.join('; ') });
      text = lookup.render(name, undefined, ctx.context).text;
    } else {
      const pattern = profile.deviceFiles.find((p) => p.source === id.pattern);
      if (pattern === undefined) return empty(404, 'unknown-file', false, events, extra);
      if (device === undefined && notAdmitted) return empty(404, 'not-admitted', false, events, extra);
      if (device === undefined || device.profile !== id.vendor) {
        // No device, or the device is recorded under another vendor: never render another vendor's file for it.
        if (id.sensitive) line('sensitive-refused', id.mac);
        return empty(404, 'unknown-device', true, events, extra);
      }
      model = device.model ?? id.model;
      let secrets = true;
      if (id.sensitive && (deps.tenant.urlKey === undefined || deps.tenant.urlKey === '') && deps.passwordWindow !== undefined) {
        secrets = inWindow(device, now, deps.passwordWindow);
      }
      const users = device.users.map((n) => deps.user(tenant, n) ?? null);
      const info = model === undefined ? undefined : profile.models.get(model);
      const ctx = contextFor(
        configs,
        {
          device: { mac: device.mac, model, vendor: id.vendor, ip: id.ip, version: device.version ?? id.version, config: configId(device), options: device.options as RawMap, lines: info?.lines },
          users,
          tenant: deps.tenant,
          server: deps.server,
        },
        {},
        { secrets },
      );
      if (!ctx.ok) return empty(500, 'render-error', false, events, { ...extra, problem: ctx.problems.join('; ') });
      text = lookup.render(templateFileFor(lookup, pattern, id.file), model, ctx.context).text;
      if (id.sensitive) {
        outcome = secrets ? 'served' : 'secrets-withheld';
        line(secrets ? 'sensitive-served' : 'secrets-withheld', device.mac);
      }
    }
    file = id.file;
  } catch (err) {
    return empty(500, 'render-error', false, events, { ...extra, problem: errorMessage(err) });
  }

  const body = Buffer.from(text, 'utf8');
  const etag = etagOf(body);
  const headers = { ...NO_STORE, etag };
  const failure = outcome === 'secrets-withheld';
  if (req.ifNoneMatch !== undefined && req.ifNoneMatch.split(',').some((t) => t.trim() === etag)) {
    return { status: 304, headers, body: Buffer.alloc(0), outcome: 'not-modified', failure, events, ...extra };
  }
  return { status: 200, headers: { ...headers, 'content-type': contentTypeFor(file) }, body, outcome, failure, events, ...extra };
}
