/**
 * wazo.ts: what a wazo-provd installation holds, mapped onto provisiond's phones model (issue 12
 * §6, `provisiond import wazo DIR`). Pure: it parses document texts and maps them; reading the
 * directory (bounded) and writing the store and template files is src/cli/import.ts's job.
 *
 * Facts used (docs/reference wazo-provd.md §1.4-1.8, §3.1), not code: a wazo-provd state
 * directory holds `jsondb/configs/<id>` and `jsondb/devices/<id>` (one JSON document per file,
 * named by its id), `app.json` (`tenants.<uuid>.provisioning_key`, `NAT`) and per plugin
 * `plugins/<plugin>/var/templates/*.tpl` (the custom templates). Configs are not tenant scoped in
 * wazo, ours are: a config shared by convention (`base`, `default`, `defaultconfigdevice`,
 * `autoprov`, a `role`, `X_type` internal/registrar) goes to every imported tenant; any other
 * config (a line's config, with its SIP password) only to the tenants of the devices using it,
 * so the import does not carry wazo's cross-tenant leak over.
 */
import nunjucks from 'nunjucks';
import { KEY_PATTERN, hashKey } from '../identity/keys';
import { NUNJUCKS_OPTIONS } from '../templates/templates';
import { checkRaw, type RawMap, type RawValue } from './configs';

/** WazoFile is one file read from the wazo directory: its path (for messages) and its text. */
export interface WazoFile {
  readonly path: string;
  /** name is the file's name (a jsondb document's id). */
  readonly name: string;
  readonly text: string;
}

/** WazoTemplateFile is one custom template of a plugin (`plugins/<plugin>/var/templates/<name>`). */
export interface WazoTemplateFile extends WazoFile {
  readonly plugin: string;
}

/** WazoInput is what the reader found. */
export interface WazoInput {
  readonly configs: readonly WazoFile[];
  readonly devices: readonly WazoFile[];
  readonly app?: WazoFile | undefined;
  readonly templates: readonly WazoTemplateFile[];
}

/** WazoMapOptions: the target side (configured tenants, loaded profiles) and the admin's choices. */
export interface WazoMapOptions {
  /** tenantMap: wazo tenant uuid → provisiond tenant (a provisioning.tenants domain). */
  readonly tenantMap: ReadonlyMap<string, string>;
  /** tenants are the configured tenant domains; with exactly one and no map, the DB's only uuid maps to it. */
  readonly tenants: readonly string[];
  /** profiles: the loaded vendor profiles and their model names. */
  readonly profiles: ReadonlyMap<string, ReadonlySet<string>>;
  /** templateWords: every identifier of the templates phones will render from (unused raw_config keys are reported). */
  readonly templateWords?: ReadonlySet<string> | undefined;
  /** natMode: the configured phones.natMode (a wazo with NAT on is reported when it differs). */
  readonly natMode?: boolean;
}

/** PlannedConfig is a config to write (per tenant, parents before children). */
export interface PlannedConfig {
  readonly tenant: string;
  readonly id: string;
  readonly parents: readonly string[];
  readonly raw: RawMap;
  readonly role: 'default' | 'autoprov' | 'none';
  readonly from: string;
}

/** PlannedDevice is a device to write. */
export interface PlannedDevice {
  readonly mac: string;
  readonly tenant: string;
  readonly profile: string;
  readonly model: string | null;
  readonly version: string | null;
  readonly serial: string | null;
  readonly ip: string | null;
  readonly config: string | null;
  readonly options: RawMap;
  readonly createdBy: 'admin' | 'auto';
  readonly from: string;
}

/** PlannedKey is a tenant's provisioning key, as its hash only. */
export interface PlannedKey {
  readonly tenant: string;
  readonly uuid: string;
  /** hash: hex SHA-256 (identity/keys.ts hashKey); the key itself is not kept. */
  readonly hash: string;
  /** advertisable: the key also fits `provisioning.tenants.<T>.urlKey` (KEY_PATTERN), so the DHCP/mDNS faces can carry it. */
  readonly advertisable: boolean;
}

/** PlannedTemplate is a custom template to copy to `phones.templatesDir/<vendor>/<name>`. */
export interface PlannedTemplate {
  readonly vendor: string;
  readonly name: string;
  readonly text: string;
  readonly from: string;
}

/** WazoPlan is the mapped import and every note on what could not be mapped. */
export interface WazoPlan {
  readonly configs: readonly PlannedConfig[];
  readonly devices: readonly PlannedDevice[];
  readonly keys: readonly PlannedKey[];
  readonly templates: readonly PlannedTemplate[];
  /** notes: what was skipped or changed on the way, one line each (file named). */
  readonly notes: readonly string[];
}

/** WAZO_KEY: wazo-provd's rule for a provisioning key (its code: 8-256 of A-Z a-z 0-9 - $ ~ .). */
export const WAZO_KEY = /^[A-Za-z0-9\-$~.]{8,256}$/;
/** CONFIG_ID: an importable config id (what the store and `phones.configs` accept, 128 at most). */
export const CONFIG_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** SHARED_IDS are wazo's conventional configs every tenant gets. */
export const SHARED_IDS: ReadonlySet<string> = new Set(['base', 'default', 'defaultconfigdevice', 'autoprov']);
/** SERVER_KEYS are raw_config keys wazo derives from its own server: provisiond sets them (phones.baseUrl), so they are dropped. */
export const SERVER_KEYS: readonly string[] = ['http_base_url', 'ip', 'http_port', 'tftp_port'];
/** MAX_DEPTH bounds a config's ancestry; MAX_PARENTS its parent list (wazo's are a handful). */
export const MAX_DEPTH = 64;
export const MAX_PARENTS = 32;
/** MAX_NOTES bounds the report (one line per problem; the rest counted). */
export const MAX_NOTES = 500;

/** PLUGIN_VENDORS: a wazo plugin family (after `xivo-`/`wazo-`) → our profile; families not listed have no profile. */
const PLUGIN_VENDORS: readonly (readonly [RegExp, string])[] = [
  [/^yealink(?:-|$)/, 'yealink'],
  [/^polycom(?:-|$)/, 'polycom'],
  [/^snom(?:-|$)/, 'snom'],
  [/^grandstream(?:-|$)/, 'grandstream'],
  [/^cisco-(?:spa|mpp|sip)/, 'cisco-spa'],
  [/^fanvil(?:-|$)/, 'fanvil'],
  [/^gigaset(?:-|$)/, 'gigaset'],
];

/** VENDOR_NAMES: a device's `vendor` field (used when it has no plugin) → our profile. */
const VENDOR_NAMES: ReadonlyMap<string, string> = new Map([
  ['yealink', 'yealink'],
  ['polycom', 'polycom'],
  ['poly', 'polycom'],
  ['snom', 'snom'],
  ['grandstream', 'grandstream'],
  ['fanvil', 'fanvil'],
  ['gigaset', 'gigaset'],
]);

/** vendorOfPlugin maps a wazo plugin id (`xivo-yealink-v84`, `wazo-snom-10.1.54.13`) to our profile name, or undefined. */
export function vendorOfPlugin(plugin: string): string | undefined {
  const m = /^(?:xivo|wazo)-(.+)$/.exec(plugin.toLowerCase());
  const family = m?.[1] ?? plugin.toLowerCase();
  for (const [re, vendor] of PLUGIN_VENDORS) if (re.test(family)) return vendor;
  return undefined;
}

/** normalizeWazoMac gives `aa:bb:cc:dd:ee:ff` for a MAC with `:`, `-` or no separators, any case. */
export function normalizeWazoMac(raw: string): string | undefined {
  const hex = raw.trim().toLowerCase().replace(/[:-]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  if (raw.trim().length !== 12 && raw.trim().length !== 17) return undefined;
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/** parseWazoJson parses one document: a JSON object, or a message naming the file. */
export function parseWazoJson(file: WazoFile): { ok: true; doc: Record<string, unknown> } | { ok: false; message: string } {
  let v: unknown;
  try {
    v = JSON.parse(file.text);
  } catch (err) {
    return { ok: false, message: `${file.path}: not valid JSON (${err instanceof Error ? err.message : String(err)}); skipped` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, message: `${file.path}: not a JSON object; skipped` };
  return { ok: true, doc: v as Record<string, unknown> };
}

const SYNTAX_ENV = new nunjucks.Environment(null, { ...NUNJUCKS_OPTIONS });

/** templateSyntax says why a template does not parse as nunjucks (our engine), or undefined. */
export function templateSyntax(text: string): string | undefined {
  try {
    new nunjucks.Template(text, SYNTAX_ENV, 'import', true);
    return undefined;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split('\n').map((s) => s.trim()).filter(Boolean).join(' ');
  }
}

/** identifiers are the words a template text could name a variable with (for the unused-keys report). */
export function identifiers(text: string): Set<string> {
  return new Set(text.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** MAX_NESTING bounds how deep a raw_config or options value nests (wazo's are 3 levels: sip_lines.1.username). */
export const MAX_NESTING = 16;

/** TooDeep is thrown by json() past MAX_NESTING (caught per document). */
class TooDeep extends Error {}

/** json keeps a parsed JSON value as a RawValue (JSON.parse gives nothing else; prototype keys are dropped). */
function json(v: unknown, depth = 0): RawValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (depth >= MAX_NESTING) throw new TooDeep();
  if (Array.isArray(v)) return v.map((x) => json(x, depth + 1));
  if (isMap(v)) {
    const out: Record<string, RawValue> = {};
    for (const k of Object.keys(v)) if (k !== '__proto__' && k !== 'constructor' && k !== 'prototype') out[k] = json(v[k], depth + 1);
    return out;
  }
  return null;
}

/** jsonMap is json() of an object, or undefined when it nests deeper than MAX_NESTING. */
function jsonMap(v: Record<string, unknown>): Record<string, RawValue> | undefined {
  try {
    return json(v) as Record<string, RawValue>;
  } catch (err) {
    if (err instanceof TooDeep) return undefined;
    throw err;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

interface WazoConfig {
  readonly id: string;
  readonly parents: readonly string[];
  readonly raw: RawMap;
  readonly wazoRole: string | undefined;
  readonly xType: string | undefined;
  readonly transient: boolean;
  readonly from: string;
}

interface WazoDevice {
  readonly id: string;
  readonly mac: string;
  readonly tenantUuid: string;
  readonly profile: string;
  readonly model: string | null;
  readonly version: string | null;
  readonly serial: string | null;
  readonly ip: string | null;
  readonly config: string | null;
  readonly options: RawMap;
  readonly auto: boolean;
  readonly from: string;
}

/** Notes collects report lines, bounded. */
class Notes {
  readonly lines: string[] = [];
  private dropped = 0;
  add(s: string): void {
    if (this.lines.length < MAX_NOTES) this.lines.push(s);
    else this.dropped++;
  }
  done(): string[] {
    return this.dropped === 0 ? this.lines : [...this.lines, `... and ${this.dropped} more notes`];
  }
}

const DEVICE_KEPT = new Set(['id', 'mac', 'ip', 'plugin', 'model', 'vendor', 'version', 'config', 'configured', 'tenant_uuid', 'options', 'sn', 'added', 'is_new', 'remote_state_sip_username', 'uuid']);
const CONFIG_KEPT = new Set(['id', 'parent_ids', 'raw_config', 'role', 'transient', 'deletable', 'X_type', 'label']);

function readConfig(file: WazoFile, notes: Notes): WazoConfig | undefined {
  const p = parseWazoJson(file);
  if (!p.ok) return void notes.add(p.message);
  const d = p.doc;
  const id = str(d['id']) ?? file.name;
  if (!CONFIG_ID.test(id)) return void notes.add(`${file.path}: config id ${JSON.stringify(id.slice(0, 80))} is not 1-128 characters of A-Z a-z 0-9 _ . - (first a letter or digit); skipped`);
  if (str(d['id']) !== undefined && id !== file.name) notes.add(`${file.path}: the document's id is ${id}, not its file name; ${id} used`);
  const parents = d['parent_ids'] ?? [];
  if (!Array.isArray(parents) || !parents.every((x): x is string => typeof x === 'string')) return void notes.add(`${file.path}: parent_ids is not a list of config ids; skipped`);
  if (parents.length > MAX_PARENTS) return void notes.add(`${file.path}: ${parents.length} parent_ids, more than ${MAX_PARENTS}; skipped`);
  const rawIn = d['raw_config'] ?? {};
  if (!isMap(rawIn)) return void notes.add(`${file.path}: raw_config is not an object; skipped`);
  const raw = jsonMap(rawIn);
  if (raw === undefined) return void notes.add(`${file.path}: raw_config nests deeper than ${MAX_NESTING} levels; skipped`);
  const dropped = SERVER_KEYS.filter((k) => k in raw);
  for (const k of dropped) delete raw[k];
  if (dropped.length > 0) notes.add(`${file.path}: dropped ${dropped.join(', ')} (wazo's own server address; provisiond sets http_base_url from phones.baseUrl and the tenant's key)`);
  for (const problem of checkRaw(`${file.path}: raw_config`, raw)) notes.add(`${problem} (kept)`);
  const extra = Object.keys(d).filter((k) => !CONFIG_KEPT.has(k));
  if (extra.length > 0) notes.add(`${file.path}: config fields not imported: ${extra.sort().join(', ')}`);
  return { id, parents: [...new Set(parents)], raw, wazoRole: str(d['role']), xType: str(d['X_type']), transient: d['transient'] === true, from: file.path };
}

function readDevice(file: WazoFile, opts: WazoMapOptions, notes: Notes): WazoDevice | undefined {
  const p = parseWazoJson(file);
  if (!p.ok) return void notes.add(p.message);
  const d = p.doc;
  const id = str(d['id']) ?? file.name;
  const rawMac = str(d['mac']);
  if (rawMac === undefined) return void notes.add(`${file.path}: device ${id} has no MAC (provisiond keys phones by MAC); skipped`);
  const mac = normalizeWazoMac(rawMac);
  if (mac === undefined) return void notes.add(`${file.path}: device ${id}: ${JSON.stringify(rawMac.slice(0, 40))} is not a MAC address; skipped`);
  const tenantUuid = str(d['tenant_uuid']);
  if (tenantUuid === undefined) return void notes.add(`${file.path}: device ${mac} has no tenant_uuid; skipped`);
  const plugin = str(d['plugin']);
  const vendorField = str(d['vendor']);
  const profile = plugin !== undefined ? vendorOfPlugin(plugin) : vendorField !== undefined ? VENDOR_NAMES.get(vendorField.toLowerCase()) : undefined;
  if (profile === undefined) {
    const what = plugin !== undefined ? `plugin ${plugin}` : vendorField !== undefined ? `vendor ${vendorField}` : 'no plugin and no vendor';
    return void notes.add(`${file.path}: device ${mac}: ${what} maps to no provisiond profile (yealink, polycom, snom, grandstream, cisco-spa, fanvil, gigaset); skipped`);
  }
  const models = opts.profiles.get(profile);
  if (models === undefined) return void notes.add(`${file.path}: device ${mac}: profile ${profile} is not loaded (provisiond phones profiles); skipped`);
  const model = str(d['model']) ?? null;
  if (model !== null && !models.has(model)) notes.add(`${file.path}: device ${mac}: model ${model} is not in the ${profile} profile (kept; it renders from base.tpl)`);
  const ipIn = str(d['ip']);
  const ip = ipIn !== undefined && /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/.test(ipIn) ? ipIn : null;
  if (ipIn !== undefined && ip === null) notes.add(`${file.path}: device ${mac}: ip ${JSON.stringify(ipIn.slice(0, 40))} is not an IPv4 address; left out`);
  const optionsRaw = d['options'] ?? {};
  const optionsIn = isMap(optionsRaw) ? jsonMap(optionsRaw) : undefined;
  if (!isMap(optionsRaw)) notes.add(`${file.path}: device ${mac}: options is not an object; left out`);
  else if (optionsIn === undefined) notes.add(`${file.path}: device ${mac}: options nest deeper than ${MAX_NESTING} levels; left out`);
  const extra = Object.keys(d).filter((k) => !DEVICE_KEPT.has(k));
  if (extra.length > 0) notes.add(`${file.path}: device ${mac}: fields not imported: ${extra.sort().join(', ')}`);
  const cap = (v: unknown): string | null => {
    const s = str(v);
    return s === undefined ? null : s.slice(0, 128);
  };
  return {
    id,
    mac,
    tenantUuid,
    profile,
    model: model === null ? null : model.slice(0, 64),
    version: cap(d['version']),
    serial: cap(d['sn']),
    ip,
    config: str(d['config']) ?? null,
    options: optionsIn ?? {},
    auto: d['added'] === 'auto',
    from: file.path,
  };
}

/** appDoc parses app.json (a malformed one is reported: no key is imported). */
function appDoc(input: WazoInput, notes: Notes): Record<string, unknown> | undefined {
  if (input.app === undefined) return undefined;
  const p = parseWazoJson(input.app);
  if (!p.ok) return void notes.add(`${p.message.replace(/; skipped$/, '')}: no provisioning key imported`);
  return p.doc;
}

/** isShared: a config every tenant gets (wazo's conventions); others follow the devices using them. */
function isShared(c: WazoConfig): boolean {
  return SHARED_IDS.has(c.id) || c.wazoRole === 'default' || c.wazoRole === 'autocreate' || c.xType === 'internal' || c.xType === 'registrar';
}

/**
 * mapWazo maps what the reader found onto provisiond's model: the plan to write and a note for
 * everything left out (unknown plugin, config with an unknown parent or a cycle, device of an
 * unmapped tenant, a malformed document, raw_config keys no template names).
 */
export function mapWazo(input: WazoInput, opts: WazoMapOptions): WazoPlan {
  const notes = new Notes();
  // Configs by id (a duplicate id: the first file wins).
  const configs = new Map<string, WazoConfig>();
  for (const f of input.configs) {
    const c = readConfig(f, notes);
    if (c === undefined) continue;
    if (configs.has(c.id)) notes.add(`${f.path}: config ${c.id} already read from ${configs.get(c.id)?.from ?? '?'}; skipped`);
    else configs.set(c.id, c);
  }
  // Parents: a config whose ancestry reaches an unknown parent or a cycle, or is more than
  // MAX_DEPTH levels high, is left out, and so are its descendants. The walk never goes deeper
  // than MAX_DEPTH (no stack to exhaust); what it settles is memoised (a diamond is walked once),
  // except the walk cut at MAX_DEPTH, which says nothing about the configs it passed through.
  const heights = new Map<string, number>();
  const refused = new Map<string, string>();
  type Walk = { ok: true; height: number } | { ok: false; why: string; cut: boolean };
  const walk = (id: string, path: readonly string[]): Walk => {
    const h = heights.get(id);
    if (h !== undefined) return { ok: true, height: h };
    const r = refused.get(id);
    if (r !== undefined) return { ok: false, why: r, cut: false };
    const c = configs.get(id);
    if (c === undefined) return { ok: false, why: `unknown parent ${id}`, cut: false };
    if (path.includes(id)) return { ok: false, why: `a parent cycle ${[...path.slice(path.indexOf(id)), id].join(' -> ')}`, cut: false };
    if (path.length >= MAX_DEPTH) return { ok: false, why: `an ancestry more than ${MAX_DEPTH} levels high`, cut: true };
    let height = 1;
    for (const p of c.parents) {
      const w = walk(p, [...path, id]);
      if (!w.ok) {
        if (!w.cut) refused.set(id, w.why);
        return w;
      }
      height = Math.max(height, w.height + 1);
    }
    if (height > MAX_DEPTH) {
      refused.set(id, `an ancestry more than ${MAX_DEPTH} levels high`);
      return { ok: false, why: `an ancestry more than ${MAX_DEPTH} levels high`, cut: false };
    }
    heights.set(id, height);
    return { ok: true, height };
  };
  const verdict = (id: string): string | undefined => {
    const w = walk(id, []);
    return w.ok ? undefined : w.why;
  };
  const good = new Map<string, WazoConfig>();
  for (const [id, c] of configs) {
    const why = verdict(id);
    if (why === undefined) good.set(id, c);
    else notes.add(`${c.from}: config ${id} has ${why}; skipped`);
  }

  // Devices, then the tenant mapping.
  const devices: WazoDevice[] = [];
  const macs = new Map<string, string>();
  for (const f of input.devices) {
    const d = readDevice(f, opts, notes);
    if (d === undefined) continue;
    const seen = macs.get(d.mac);
    if (seen !== undefined) {
      notes.add(`${f.path}: MAC ${d.mac} is also device ${seen}'s; skipped`);
      continue;
    }
    macs.set(d.mac, d.from);
    devices.push(d);
  }
  const app = appDoc(input, notes);
  const appTenants = isMap(app?.['tenants']) ? (app['tenants'] as Record<string, unknown>) : {};
  const uuids = [...new Set([...devices.map((d) => d.tenantUuid), ...Object.keys(appTenants)])].sort();
  const tenantOf = new Map<string, string>();
  for (const [u, t] of opts.tenantMap) {
    if (!opts.tenants.includes(t)) notes.add(`--tenant-map ${u}=${t}: ${t} is not a configured tenant (provisioning.tenants); ignored`);
    else tenantOf.set(u, t);
  }
  const onlyTenant = opts.tenants.length === 1 ? opts.tenants[0] : undefined;
  if (opts.tenantMap.size === 0 && onlyTenant !== undefined && uuids.length === 1 && uuids[0] !== undefined) tenantOf.set(uuids[0], onlyTenant);
  for (const u of opts.tenantMap.keys()) if (!uuids.includes(u)) notes.add(`--tenant-map ${u}: no device or app.json tenant has this uuid`);
  for (const u of uuids) if (!tenantOf.has(u)) notes.add(`tenant ${u} is mapped to no provisiond tenant (--tenant-map ${u}=<tenant>); its devices and key are skipped`);

  // Devices of mapped tenants; their configs decide where non-shared configs go.
  const plannedDevices: PlannedDevice[] = [];
  const usedBy = new Map<string, Set<string>>();
  const roots = (id: string, acc: Set<string>): void => {
    if (acc.has(id)) return;
    acc.add(id);
    for (const p of good.get(id)?.parents ?? []) roots(p, acc);
  };
  for (const d of devices) {
    const tenant = tenantOf.get(d.tenantUuid);
    if (tenant === undefined) {
      notes.add(`${d.from}: device ${d.mac} belongs to unmapped tenant ${d.tenantUuid}; skipped`);
      continue;
    }
    let config = d.config;
    if (config !== null && !good.has(config)) {
      notes.add(`${d.from}: device ${d.mac}: config ${config} was not imported; the device gets its tenant's default config`);
      config = null;
    }
    if (config !== null) {
      const chain = new Set<string>();
      roots(config, chain);
      for (const id of chain) usedBy.set(id, (usedBy.get(id) ?? new Set()).add(tenant));
    }
    const stillAutoprov = config === null || config === 'autoprov' || good.get(config)?.wazoRole === 'autocreate' || (good.get(config)?.transient === true);
    plannedDevices.push({
      mac: d.mac,
      tenant,
      profile: d.profile,
      model: d.model,
      version: d.version,
      serial: d.serial,
      ip: d.ip,
      config,
      options: d.options,
      createdBy: d.auto && stillAutoprov ? 'auto' : 'admin',
      from: d.from,
    });
  }

  // Configs per tenant: shared ones (and their ancestors) everywhere, the others where used.
  const targets = [...new Set(tenantOf.values())].sort();
  if (targets.length === 0 && onlyTenant !== undefined && uuids.length === 0) targets.push(onlyTenant);
  const wanted = new Map<string, Set<string>>(targets.map((t) => [t, new Set<string>()]));
  for (const [id, c] of good) {
    if (isShared(c)) {
      const chain = new Set<string>();
      roots(id, chain);
      for (const t of targets) for (const x of chain) wanted.get(t)?.add(x);
    } else if (usedBy.has(id)) {
      const ts = [...(usedBy.get(id) ?? [])];
      if (ts.length > 1) notes.add(`${c.from}: config ${id} is used by devices of ${ts.join(' and ')}: each gets its own copy (configs are per tenant in provisiond)`);
      for (const t of ts) wanted.get(t)?.add(id);
    } else if (targets.length === 1 && !c.transient) {
      wanted.get(targets[0] ?? '')?.add(id);
    } else {
      notes.add(`${c.from}: config ${id} is used by no imported device${c.transient ? ' (transient)' : ', so its tenant is unknown'}; skipped`);
    }
  }
  const plannedConfigs: PlannedConfig[] = [];
  for (const t of targets) {
    const ids = wanted.get(t) ?? new Set<string>();
    const roleOf = new Map<string, 'default' | 'autoprov'>();
    const claim = (role: 'default' | 'autoprov', pick: (c: WazoConfig) => boolean, why: string): void => {
      for (const id of [...ids].sort()) {
        const c = good.get(id);
        if (c === undefined || !pick(c) || roleOf.has(id)) continue;
        if ([...roleOf.values()].includes(role)) {
          notes.add(`${c.from}: config ${id} would be ${t}'s ${role} config too (${why}); imported without the role`);
          continue;
        }
        roleOf.set(id, role);
      }
    };
    claim('default', (c) => c.wazoRole === 'default', "wazo's role default");
    claim('default', (c) => c.id === 'defaultconfigdevice', 'wazo gives it to new devices');
    claim('autoprov', (c) => c.wazoRole === 'autocreate', "wazo's role autocreate");
    claim('autoprov', (c) => c.id === 'autoprov', 'the autoprov convention');
    // Parents before children (the store refuses unknown parents); ids sorted for a stable order.
    const done = new Set<string>();
    const visit = (id: string): void => {
      if (done.has(id) || !ids.has(id)) return;
      done.add(id);
      const c = good.get(id);
      if (c === undefined) return;
      for (const p of c.parents) visit(p);
      plannedConfigs.push({ tenant: t, id, parents: c.parents, raw: c.raw, role: roleOf.get(id) ?? 'none', from: c.from });
    };
    for (const id of [...ids].sort()) visit(id);
  }

  // Keys: app.json tenants.<uuid>.provisioning_key, only of mapped tenants, one per tenant.
  const keys: PlannedKey[] = [];
  for (const u of Object.keys(appTenants).sort()) {
    const entry = appTenants[u];
    const key = isMap(entry) ? entry['provisioning_key'] : undefined;
    if (key === undefined || key === null) continue;
    const where = `${input.app?.path ?? 'app.json'}: tenants.${u}.provisioning_key`;
    if (typeof key !== 'string' || !WAZO_KEY.test(key)) {
      notes.add(`${where} is not 8-256 characters of A-Z a-z 0-9 - $ ~ . (wazo's rule); not imported`);
      continue;
    }
    const tenant = tenantOf.get(u);
    if (tenant === undefined) continue; // reported with the tenant mapping
    const hash = hashKey(key);
    const have = keys.find((k) => k.tenant === tenant);
    if (have !== undefined) {
      if (have.hash !== hash) notes.add(`${where}: ${tenant} already gets the key of wazo tenant ${have.uuid} (one current key per tenant); not imported`);
      continue;
    }
    keys.push({ tenant, uuid: u, hash, advertisable: KEY_PATTERN.test(key) });
  }
  if (app !== undefined) {
    const nat = app['NAT'];
    const natOn = nat === true || nat === 1 || nat === '1';
    if (natOn && opts.natMode !== true) notes.add(`${input.app?.path ?? 'app.json'}: wazo had NAT mode on: set phones.natMode: true if the phones are still behind NAT`);
    const ignored = Object.keys(app).filter((k) => k !== 'tenants' && k !== 'NAT');
    if (ignored.length > 0) notes.add(`${input.app?.path ?? 'app.json'}: not imported: ${ignored.sort().join(', ')} (no provisiond equivalent)`);
  }

  // Custom templates: plugins newest first (wazo's reverse-alphabetic tie rule), the first of each vendor/name wins.
  const templates: PlannedTemplate[] = [];
  for (const f of [...input.templates].sort((a, b) => (a.plugin === b.plugin ? a.name.localeCompare(b.name) : b.plugin.localeCompare(a.plugin)))) {
    const vendor = vendorOfPlugin(f.plugin);
    if (vendor === undefined || !opts.profiles.has(vendor)) {
      notes.add(`${f.path}: plugin ${f.plugin} maps to no loaded provisiond profile; template not copied`);
      continue;
    }
    if (!/^[A-Za-z0-9_.{}-]{1,128}\.tpl$/.test(f.name) || f.name.startsWith('.')) {
      notes.add(`${f.path}: ${JSON.stringify(f.name.slice(0, 80))} is not a template name provisiond looks up; not copied`);
      continue;
    }
    const syntax = templateSyntax(f.text);
    if (syntax !== undefined) {
      notes.add(`${f.path}: does not parse as a provisiond (nunjucks) template: ${syntax}; not copied`);
      continue;
    }
    const same = templates.find((t) => t.vendor === vendor && t.name === f.name);
    if (same !== undefined) {
      if (same.text !== f.text) notes.add(`${f.path}: ${vendor}/${f.name} already comes from ${same.from} (newer plugin); not copied`);
      continue;
    }
    templates.push({ vendor, name: f.name, text: f.text, from: f.path });
  }

  // raw_config names no template mentions (kept: a custom template may use them later).
  if (opts.templateWords !== undefined) {
    const words = new Set(opts.templateWords);
    for (const t of templates) for (const w of identifiers(t.text)) words.add(w);
    const unused = new Map<string, Set<string>>();
    const note = (label: string, word: string, id: string): void => {
      if (!words.has(word)) unused.set(label, (unused.get(label) ?? new Set()).add(id));
    };
    for (const c of plannedConfigs) {
      for (const [k, v] of Object.entries(c.raw)) {
        note(`raw_config key ${k}`, k, c.id);
        if (k !== 'sip_lines' && k !== 'funckeys') continue;
        for (const entry of Object.values(isMap(v) ? v : {})) for (const f of Object.keys(isMap(entry) ? entry : {})) note(`${k} field ${f}`, f, c.id);
      }
    }
    for (const [label, ids] of [...unused].sort(([a], [b]) => a.localeCompare(b))) notes.add(`${label} (config ${[...ids].sort().join(', ')}) is named in no template provisiond renders from; kept`);
  }

  return { configs: plannedConfigs, devices: plannedDevices, keys, templates, notes: notes.done() };
}
