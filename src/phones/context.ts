/**
 * context.ts: the template context of one phone file (issue 12 §3), built from the device, its
 * flattened config, its assigned users, its tenant and the server. Pure: no I/O, no clock.
 *
 * The context is wazo-provd's raw_config (reference §1.4: `sip_lines`, `funckeys`,
 * `http_base_url`, `ntp_*`, `timezone`, `vlan_*`, `syslog_*`, `admin_*`, `user_*`, `locale`,
 * `X_*`, …) so that a wazo user's templates port unchanged, plus:
 * - wazo's generic computed keys: `XX_server_url` and `XX_server_url_without_scheme` (from
 *   `http_base_url`, no trailing `/`), `XX_options` (the device's options), `XX_sip_lines` (the
 *   lines padded with `null` up to the model's line count when it is known); the legacy `ip` and
 *   `http_port` derived from `http_base_url` when the config does not set them;
 * - our own: `device` (mac, mac_hex, model, vendor, ip, version, config), `tenant` (name,
 *   attributes, keyed: whether the tenant has a URL key; never the key itself), `users` (the
 *   assigned users in line order, each with its `line` number) and `user` (line 1's user).
 *
 * Lines from users: the device's users are assigned in line order (the first user is line "1").
 * A user's line overrides the config's line of the same number for the credentials only
 * (CREDENTIAL_KEYS): those five fields all come from the user (a field the user lacks is left
 * out, so a config's credentials never mix with a user's), the server fields (proxy_ip,
 * registrar_ip, ports, dtmf_mode, …) stay the config's. The user attributes (USER_ATTRIBUTES):
 *   `sip_username` → username (default: the user's name), `sip_auth_username` → auth_username
 *   (default: the username, wazo's default), `sip_password` → password, `display_name` →
 *   display_name, `number` → number.
 * wazo's defaults (configs.ts withDefaults) are applied after the users' lines (so a raw config
 * already passed through withDefaults gives the same result).
 *
 * `http_base_url`: the config's value if it sets one, otherwise the server's, without a trailing
 * `/`; the tenant's URL key is appended as its last path segment, as wazo does
 * (`{base}/{key}`): `https://h:8667/<key>`, `https://h/device/provisioning/<key>` (the HTTP
 * face serves both `/<key>/<file>` and `/device/provisioning/<key>/<file>`).
 *
 * `secrets: false` (outside the per-device provisioning window, issue 12 §2) gives the same
 * context with every secret removed at any depth: every key named `password` or ending in
 * `_password` (SIP line passwords, `admin_password`, `user_password`, the users' `sip_password`
 * attribute) and `sip_local_key` (isSecretKey).
 *
 * Every map of the result has its keys sorted, so its JSON (and a render) is byte-stable
 * whatever order the inputs were built in.
 */
import { flatten, withDefaults, type PhoneConfigs, type RawMap, type RawValue } from './configs';

/** ContextDevice is what the context needs of a device. */
export interface ContextDevice {
  /** mac is normalized `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  readonly model?: string | undefined;
  readonly vendor?: string | undefined;
  readonly ip?: string | undefined;
  readonly version?: string | undefined;
  /** config is the id of the device's config. */
  readonly config: string;
  /** options are wazo's device options, exposed as `XX_options`. */
  readonly options?: RawMap | undefined;
  /** lines is the model's number of SIP accounts, when the profile knows it (pads `XX_sip_lines`). */
  readonly lines?: number | undefined;
}

/** ContextUser is an assigned user's record (identity's users: name, domain, attributes). */
export interface ContextUser {
  readonly name: string;
  readonly domain: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** ContextTenant is the device's tenant. */
export interface ContextTenant {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** urlKey is the tenant's provisioning key in clear, when it has one (it goes into http_base_url only). */
  readonly urlKey?: string | undefined;
}

/** ContextServer is what the server advertises to phones. */
export interface ContextServer {
  /** httpBaseUrl is the base URL phones fetch their files from, without key, e.g. `https://prov.example:8667/`. */
  readonly httpBaseUrl: string;
}

/** ContextInput is everything a phone file's context is built from. */
export interface ContextInput {
  readonly device: ContextDevice;
  /** raw is the device config flattened (configs.ts flatten); withDefaults is applied here. */
  readonly raw: RawMap;
  /** users are the assigned users in line order; `null` leaves that line to the config. */
  readonly users: readonly (ContextUser | null)[];
  readonly tenant: ContextTenant;
  readonly server: ContextServer;
}

/** ContextOptions: `secrets: false` removes every secret (default true). */
export interface ContextOptions {
  readonly secrets?: boolean;
}

/** CREDENTIAL_KEYS are the fields of a line that a user's attributes decide. */
export const CREDENTIAL_KEYS: readonly string[] = ['auth_username', 'display_name', 'number', 'password', 'username'];

/** USER_ATTRIBUTES maps each user attribute to the line field it fills. */
export const USER_ATTRIBUTES: ReadonlyMap<string, string> = new Map([
  ['sip_username', 'username'],
  ['sip_auth_username', 'auth_username'],
  ['sip_password', 'password'],
  ['display_name', 'display_name'],
  ['number', 'number'],
]);

/** MAX_LINES bounds the padding of `XX_sip_lines`. */
const MAX_LINES = 256;

/** isSecretKey tells the keys `secrets: false` removes: `password`, `*_password`, `sip_local_key`. */
export function isSecretKey(key: string): boolean {
  return key === 'password' || key.endsWith('_password') || key === 'sip_local_key';
}

/** isMap tells a nested map from a list or a scalar. */
function isMap(v: RawValue | undefined): v is RawMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** setOwn defines a key as an own data property (safe for `__proto__`). */
function setOwn(target: Record<string, RawValue>, key: string, value: RawValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** sortDeep copies a value with every map's keys sorted, dropping secrets when asked. */
function sortDeep(v: RawValue, dropSecrets: boolean): RawValue {
  if (Array.isArray(v)) return (v as readonly RawValue[]).map((x) => sortDeep(x, dropSecrets));
  if (!isMap(v)) return v;
  const out: Record<string, RawValue> = {};
  for (const k of Object.keys(v).sort()) {
    const x = v[k];
    if (x === undefined || (dropSecrets && isSecretKey(k))) continue;
    setOwn(out, k, sortDeep(x, dropSecrets));
  }
  return out;
}

/** attributesMap copies string attributes into a RawMap. */
function attributesMap(attrs: Readonly<Record<string, string>>): RawMap {
  const out: Record<string, RawValue> = {};
  for (const k of Object.keys(attrs)) {
    const v = attrs[k];
    if (typeof v === 'string') setOwn(out, k, v);
  }
  return out;
}

/** userLine gives the credential fields of a user's line. */
function userLine(user: ContextUser): Record<string, RawValue> {
  const line: Record<string, RawValue> = {};
  for (const [attr, field] of USER_ATTRIBUTES) {
    const v = Object.prototype.hasOwnProperty.call(user.attributes, attr) ? user.attributes[attr] : undefined;
    if (typeof v === 'string' && v !== '') setOwn(line, field, v);
  }
  if (line.username === undefined) setOwn(line, 'username', user.name);
  return line;
}

/** withUserLines overrides the config's lines with the users' credentials. */
function withUserLines(raw: RawMap, users: readonly (ContextUser | null)[]): RawMap {
  const configLines = isMap(raw.sip_lines) ? raw.sip_lines : {};
  const lines: Record<string, RawValue> = {};
  for (const n of Object.keys(configLines)) {
    const v = configLines[n];
    if (v !== undefined) setOwn(lines, n, v);
  }
  users.forEach((user, i) => {
    if (user === null) return;
    const n = String(i + 1);
    const before = lines[n];
    const line: Record<string, RawValue> = {};
    if (isMap(before)) {
      for (const k of Object.keys(before)) {
        const v = before[k];
        if (v !== undefined && !CREDENTIAL_KEYS.includes(k)) setOwn(line, k, v);
      }
    }
    const creds = userLine(user);
    for (const k of Object.keys(creds)) {
      const v = creds[k];
      if (v !== undefined) setOwn(line, k, v);
    }
    setOwn(lines, n, line);
  });
  const out: Record<string, RawValue> = {};
  for (const k of Object.keys(raw)) {
    const v = raw[k];
    if (v !== undefined) setOwn(out, k, v);
  }
  if (Object.keys(lines).length > 0 || raw.sip_lines !== undefined) setOwn(out, 'sip_lines', lines);
  return out;
}

/** serverUrls derives `XX_server_url`, its scheme-less form and the legacy `ip`/`http_port`. */
function serverUrls(base: string): { url: string; withoutScheme: string; host?: string; port?: number } {
  const url = base.replace(/\/+$/, '');
  const withoutScheme = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  try {
    const u = new URL(base);
    const port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : undefined;
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    return port === undefined ? { url, withoutScheme, host } : { url, withoutScheme, host, port };
  } catch {
    return { url, withoutScheme };
  }
}

/** macHex gives the 12 lower-case hex digits of a MAC. */
function macHex(mac: string): string {
  return mac.replace(/[^0-9a-f]/gi, '').toLowerCase();
}

/** userEntry is a user as our own templates see it. */
function userEntry(user: ContextUser, line: number): RawMap {
  return { name: user.name, domain: user.domain, line: String(line), attributes: attributesMap(user.attributes) };
}

/** buildContext builds the template context of one phone file (see the header). */
export function buildContext(input: ContextInput, options: ContextOptions = {}): RawMap {
  const { device, tenant, server } = input;
  const raw = withDefaults(withUserLines(input.raw, input.users));
  const out: Record<string, RawValue> = {};
  for (const k of Object.keys(raw)) {
    const v = raw[k];
    if (v !== undefined) setOwn(out, k, v);
  }

  const configured = typeof raw.http_base_url === 'string' && raw.http_base_url !== '' ? raw.http_base_url : server.httpBaseUrl;
  // wazo's convention: no trailing `/` (templates write `{{ http_base_url }}/<file>`), the key last.
  const bare = configured.replace(/\/+$/, '');
  const base = tenant.urlKey !== undefined && tenant.urlKey !== '' ? `${bare}/${tenant.urlKey}` : bare;
  setOwn(out, 'http_base_url', base);
  const urls = serverUrls(base);
  setOwn(out, 'XX_server_url', urls.url);
  setOwn(out, 'XX_server_url_without_scheme', urls.withoutScheme);
  if (raw.ip === undefined && urls.host !== undefined) setOwn(out, 'ip', urls.host);
  if (raw.http_port === undefined && urls.port !== undefined) setOwn(out, 'http_port', urls.port);
  setOwn(out, 'XX_options', device.options ?? {});

  const lines = isMap(raw.sip_lines) ? raw.sip_lines : {};
  const padded: Record<string, RawValue> = {};
  for (const n of Object.keys(lines)) {
    const v = lines[n];
    if (v !== undefined) setOwn(padded, n, v);
  }
  if (device.lines !== undefined && Number.isInteger(device.lines)) {
    for (let n = 1; n <= Math.min(device.lines, MAX_LINES); n++) if (padded[String(n)] === undefined) setOwn(padded, String(n), null);
  }
  setOwn(out, 'XX_sip_lines', padded);

  const dev: Record<string, RawValue> = { mac: device.mac, mac_hex: macHex(device.mac), config: device.config };
  if (device.model !== undefined) dev.model = device.model;
  if (device.vendor !== undefined) dev.vendor = device.vendor;
  if (device.ip !== undefined) dev.ip = device.ip;
  if (device.version !== undefined) dev.version = device.version;
  setOwn(out, 'device', dev);
  setOwn(out, 'tenant', { name: tenant.name, attributes: attributesMap(tenant.attributes), keyed: tenant.urlKey !== undefined && tenant.urlKey !== '' });

  const users: RawValue[] = [];
  input.users.forEach((u, i) => {
    if (u !== null) users.push(userEntry(u, i + 1));
  });
  setOwn(out, 'users', users);
  const first = input.users[0];
  if (first !== undefined && first !== null) setOwn(out, 'user', userEntry(first, 1));

  return sortDeep(out, options.secrets === false) as RawMap;
}

/** ContextResult is a context, or the problems of the device's config chain. */
export type ContextResult = { ok: true; context: RawMap } | { ok: false; problems: readonly string[] };

/**
 * contextFor flattens the device's config (`device.config`) over `base` (wazo's base raw config)
 * and builds its context; an unknown config or a cycle gives the problems, never a throw.
 */
export function contextFor(configs: PhoneConfigs, input: Omit<ContextInput, 'raw'>, base: RawMap = {}, options: ContextOptions = {}): ContextResult {
  const flat = flatten(configs, input.device.config, base);
  if (!flat.ok) return { ok: false, problems: flat.problems };
  return { ok: true, context: buildContext({ ...input, raw: flat.raw }, options) };
}
