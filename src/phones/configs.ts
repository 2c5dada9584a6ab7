/**
 * configs.ts: named phone configs with inheritance (wazo-provd's configs, reference §1.4, §1.5).
 *
 * A config has an id, `parents` (wazo's `parent_ids`) and a `raw` map (wazo's `raw_config`: the
 * names the templates see). The effective config of `id` is computed depth-first: each parent in
 * list order (a later parent overrides an earlier one), then the config's own values (the child
 * overrides all). An ancestor reached twice (a diamond) is merged once, at its first visit, so a
 * sibling's overrides of it are kept. Unknown parents and cycles are refused, with the path of
 * the cycle.
 *
 * How values merge (MERGE_RULES):
 * - maps merge key by key, recursively; lists and scalars are replaced whole;
 * - `sip_lines` and `sccp_call_managers` merge per line number, then field by field (a child can
 *   set only line 1's password);
 * - `funckeys` merge per key, but one key is replaced whole: a child's key 3 never keeps the
 *   parent's key 3 label or line (wazo merges it field by field, which can leave a parent's BLF
 *   label on a child's speed dial);
 * - `null` removes the key (e.g. `funckeys: {"3": null}` drops an inherited key), so no `null`
 *   reaches the templates (wazo strips them for device configs for the same reason).
 *
 * Pure: no I/O; both the YAML file (labs) and the store (sysadmins) give this model.
 */

/** RawValue is a value of a raw config: JSON-like. */
export type RawValue = string | number | boolean | null | readonly RawValue[] | RawMap;

/** RawMap is a raw config or one of its nested maps (a line, a function key). */
export interface RawMap {
  readonly [key: string]: RawValue;
}

/** PhoneConfig is one named config. */
export interface PhoneConfig {
  readonly id: string;
  /** parents are config ids, earliest first: a later parent overrides an earlier one. */
  readonly parents: readonly string[];
  readonly raw: RawMap;
}

/** PhoneConfigs maps each config id to its config. */
export type PhoneConfigs = ReadonlyMap<string, PhoneConfig>;

/** MergeRule says how a top-level map merges: `deep` (recursively) or `replace-entries` (per key, each entry whole). */
export type MergeRule = 'deep' | 'replace-entries';

/** MERGE_RULES lists the top-level keys that do not merge the default (`deep`) way. */
export const MERGE_RULES: ReadonlyMap<string, MergeRule> = new Map<string, MergeRule>([['funckeys', 'replace-entries']]);

/** NUMBERED_MAPS are the raw keys whose map keys are integer strings (a line, a key, a call manager number). */
export const NUMBERED_MAPS: ReadonlySet<string> = new Set(['sip_lines', 'funckeys', 'sccp_call_managers']);

/** STANDARD_KEYS are wazo-provd's standard raw_config names (reference §1.4); others must start with `X_`. */
export const STANDARD_KEYS: ReadonlySet<string> = new Set([
  'http_base_url', 'ip', 'http_port', 'tftp_port',
  'dns_enabled', 'dns_ip', 'ntp_enabled', 'ntp_ip',
  'vlan_enabled', 'vlan_id', 'vlan_priority', 'vlan_pc_port_id',
  'syslog_enabled', 'syslog_ip', 'syslog_port', 'syslog_level',
  'admin_username', 'admin_password', 'user_username', 'user_password',
  'timezone', 'locale', 'protocol',
  'sip_proxy_ip', 'sip_proxy_port', 'sip_backup_proxy_ip', 'sip_backup_proxy_port',
  'sip_registrar_ip', 'sip_registrar_port', 'sip_backup_registrar_ip', 'sip_backup_registrar_port',
  'sip_outbound_proxy_ip', 'sip_outbound_proxy_port',
  'sip_dtmf_mode', 'sip_srtp_mode', 'sip_transport',
  'sip_servers_root_and_intermediate_certificates', 'sip_local_root_and_intermediate_certificates',
  'sip_local_certificate', 'sip_local_key', 'sip_subscribe_mwi',
  'sip_lines', 'sccp_call_managers', 'funckeys',
  'exten_dnd', 'exten_fwd_unconditional', 'exten_fwd_no_answer', 'exten_fwd_busy', 'exten_fwd_disable_all',
  'exten_park', 'exten_pickup_group', 'exten_pickup_call', 'exten_voicemail',
]);

/** LINE_KEYS are the fields of one `sip_lines` entry. */
export const LINE_KEYS: ReadonlySet<string> = new Set([
  'proxy_ip', 'proxy_port', 'backup_proxy_ip', 'backup_proxy_port',
  'registrar_ip', 'registrar_port', 'backup_registrar_ip', 'backup_registrar_port',
  'outbound_proxy_ip', 'outbound_proxy_port',
  'username', 'auth_username', 'password', 'display_name', 'number', 'dtmf_mode', 'srtp_mode', 'voicemail',
]);

/** ENTRY_KEYS are the fields of one entry of each numbered map. */
const ENTRY_KEYS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['sip_lines', LINE_KEYS],
  ['funckeys', new Set(['type', 'value', 'label', 'line'])],
  ['sccp_call_managers', new Set(['ip', 'port'])],
]);

/** ENUMS are the values a few keys accept (reference §1.4), at the top level or in a line. */
const ENUMS: ReadonlyMap<string, readonly string[]> = new Map([
  ['sip_dtmf_mode', ['RTP-in-band', 'RTP-out-of-band', 'SIP-INFO']],
  ['dtmf_mode', ['RTP-in-band', 'RTP-out-of-band', 'SIP-INFO']],
  ['sip_srtp_mode', ['disabled', 'preferred', 'required']],
  ['srtp_mode', ['disabled', 'preferred', 'required']],
  ['sip_transport', ['udp', 'tcp', 'tls']],
  ['protocol', ['SIP', 'SCCP']],
  ['type', ['speeddial', 'blf', 'park']],
]);

/** RANGES are the integer ranges of a few keys. */
const RANGES: ReadonlyMap<string, readonly [number, number]> = new Map([
  ['vlan_id', [0, 4094]],
  ['vlan_priority', [0, 7]],
]);

/** FlattenResult is the effective raw config and the order configs were merged in, or every problem. */
export type FlattenResult = { ok: true; raw: RawMap; order: readonly string[] } | { ok: false; problems: readonly string[] };

/** isMap tells a nested map from a list or a scalar. */
function isMap(v: RawValue | undefined): v is RawMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** setOwn defines a key as an own data property (safe for `__proto__`). */
function setOwn(target: Record<string, RawValue>, key: string, value: RawValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** copy deep-copies a value, dropping null map entries and sorting map keys. */
function copy(v: RawValue): RawValue {
  if (Array.isArray(v)) return (v as readonly RawValue[]).map(copy);
  if (isMap(v)) return mergeMaps({}, v, 'deep');
  return v;
}

/** mergeMaps returns `base` overridden by `over` (see the header for the rules), keys sorted. */
function mergeMaps(base: RawMap, over: RawMap, rule: MergeRule, top = false): RawMap {
  const out: Record<string, RawValue> = {};
  for (const k of Object.keys(base)) {
    const v = base[k];
    if (v !== undefined) setOwn(out, k, v);
  }
  for (const k of Object.keys(over)) {
    const v = over[k];
    if (v === undefined) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    const before = out[k];
    const childRule: MergeRule = top ? (MERGE_RULES.get(k) ?? 'deep') : 'deep';
    if (rule === 'deep' && isMap(before) && isMap(v)) setOwn(out, k, mergeMaps(before, v, childRule));
    else setOwn(out, k, copy(v));
  }
  const sorted: Record<string, RawValue> = {};
  for (const k of Object.keys(out).sort()) {
    const v = out[k];
    if (v !== undefined) setOwn(sorted, k, v);
  }
  return sorted;
}

/** mergeRaw merges one raw config over another, the top-level rules applied. */
export function mergeRaw(base: RawMap, over: RawMap): RawMap {
  return mergeMaps(base, over, 'deep', true);
}

/**
 * linearize returns the order in which `id`'s ancestors and itself merge (depth-first, parents in
 * list order, each config once, `id` last), or the problems met on the way.
 */
export function linearize(configs: PhoneConfigs, id: string): { ok: true; order: readonly string[] } | { ok: false; problems: readonly string[] } {
  const order: string[] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const problems: string[] = [];
  const visit = (cur: string): void => {
    if (done.has(cur)) return;
    const at = stack.indexOf(cur);
    if (at >= 0) {
      problems.push(`config cycle: ${[...stack.slice(at), cur].join(' → ')}`);
      return;
    }
    const c = configs.get(cur);
    if (c === undefined) {
      const from = stack[stack.length - 1];
      problems.push(from === undefined ? `unknown config "${cur}"` : `config "${from}" names an unknown parent "${cur}"`);
      return;
    }
    stack.push(cur);
    for (const p of c.parents) visit(p);
    stack.pop();
    done.add(cur);
    order.push(cur);
  };
  visit(id);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, order };
}

/**
 * flatten computes the effective raw config of `id`: `base` (wazo's base raw config), then the
 * ancestors, then the config itself.
 */
export function flatten(configs: PhoneConfigs, id: string, base: RawMap = {}): FlattenResult {
  const lin = linearize(configs, id);
  if (!lin.ok) return lin;
  let raw = mergeRaw({}, base);
  for (const cid of lin.order) {
    const c = configs.get(cid);
    if (c !== undefined) raw = mergeRaw(raw, c.raw);
  }
  return { ok: true, raw, order: lin.order };
}

/** ID_RE is a config id: printable, no space, at most 128 characters. */
const ID_RE = /^[^\s\u0000-\u001f\u007f]{1,128}$/;
/** NUMBER_RE is a numbered map's key: a positive integer without leading zero. */
const NUMBER_RE = /^[1-9][0-9]{0,3}$/;

/** checkValue checks an enum or range key, wherever it sits. */
function checkValue(where: string, key: string, v: RawValue): string | undefined {
  const allowed = ENUMS.get(key);
  if (allowed !== undefined && v !== null && !allowed.includes(String(v))) return `${where}: ${key} is ${JSON.stringify(v)}, expected one of ${allowed.join(', ')}`;
  const range = RANGES.get(key);
  if (range !== undefined && v !== null && !(typeof v === 'number' && Number.isInteger(v) && v >= range[0] && v <= range[1])) return `${where}: ${key} is ${JSON.stringify(v)}, expected an integer from ${range[0]} to ${range[1]}`;
  return undefined;
}

/** checkRaw lists the problems of one raw config (names, numbered maps, a few values). */
export function checkRaw(where: string, raw: RawMap): string[] {
  const problems: string[] = [];
  for (const k of Object.keys(raw)) {
    const v = raw[k];
    if (v === undefined) continue;
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
      problems.push(`${where}: key "${k}" is not allowed`);
      continue;
    }
    if (k.startsWith('XX_')) problems.push(`${where}: key "${k}" is reserved (XX_ keys are computed for the templates)`);
    else if (!STANDARD_KEYS.has(k) && !k.startsWith('X_')) problems.push(`${where}: unknown key "${k}" (custom keys must start with X_)`);
    const bad = checkValue(where, k, v);
    if (bad !== undefined) problems.push(bad);
    const fields = ENTRY_KEYS.get(k);
    if (fields === undefined) continue;
    if (v === null) continue;
    if (!isMap(v)) {
      problems.push(`${where}: ${k} must be a map of numbered entries`);
      continue;
    }
    for (const n of Object.keys(v)) {
      const entry = v[n];
      if (!NUMBER_RE.test(n)) problems.push(`${where}: ${k} key "${n}" is not a number from 1 to 9999`);
      if (entry === null || entry === undefined) continue;
      if (!isMap(entry)) {
        problems.push(`${where}: ${k}.${n} must be a map`);
        continue;
      }
      for (const f of Object.keys(entry)) {
        const fv = entry[f];
        if (fv === undefined) continue;
        if (!fields.has(f) && !f.startsWith('X_')) problems.push(`${where}: unknown key "${f}" in ${k}.${n} (custom keys must start with X_)`);
        const badField = checkValue(`${where}: ${k}.${n}`, f, fv);
        if (badField !== undefined) problems.push(badField);
      }
    }
  }
  return problems;
}

/**
 * validateConfigs lists every problem of a set of configs: ids, parents (unknown, repeated),
 * each cycle once (with its path), and the raw configs' names and values.
 */
export function validateConfigs(configs: PhoneConfigs): string[] {
  const problems: string[] = [];
  const ids = [...configs.keys()].sort();
  for (const id of ids) {
    const c = configs.get(id);
    if (c === undefined) continue;
    const where = `config "${id}"`;
    if (c.id !== id) problems.push(`${where}: its id field says "${c.id}"`);
    if (!ID_RE.test(id)) problems.push(`${where}: an id is 1 to 128 printable characters without spaces`);
    const seen = new Set<string>();
    for (const p of c.parents) {
      if (seen.has(p)) problems.push(`${where}: parent "${p}" is listed twice`);
      seen.add(p);
      if (!configs.has(p)) problems.push(`${where} names an unknown parent "${p}"`);
    }
    problems.push(...checkRaw(where, c.raw));
  }
  // Cycles: a depth-first walk from every config; each cycle is reported once, from its smallest id.
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const cycles = new Set<string>();
  const walk = (id: string): void => {
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'active') {
      const loop = stack.slice(stack.indexOf(id));
      const first = loop.indexOf([...loop].sort()[0] ?? id);
      const rotated = [...loop.slice(first), ...loop.slice(0, first)];
      cycles.add(`config cycle: ${[...rotated, rotated[0]].join(' → ')}`);
      return;
    }
    const c = configs.get(id);
    if (c === undefined) return;
    state.set(id, 'active');
    stack.push(id);
    for (const p of c.parents) walk(p);
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of ids) walk(id);
  problems.push(...[...cycles].sort());
  return problems;
}

/**
 * withDefaults fills what wazo-provd fills just before rendering (reference §1.4), without
 * overriding a value that is set: `sip_registrar_ip` from `sip_proxy_ip`; per line,
 * `registrar_ip` from `proxy_ip` and `auth_username` from `username`; `sip_srtp_mode`
 * `disabled`, `sip_transport` `udp`, `syslog_port` 514; empty `sip_lines`, `sccp_call_managers`
 * and `funckeys`.
 */
export function withDefaults(raw: RawMap): RawMap {
  const add: Record<string, RawValue> = {};
  const fill = (key: string, value: RawValue | undefined): void => {
    if (raw[key] === undefined && value !== undefined && value !== null) setOwn(add, key, value);
  };
  fill('sip_registrar_ip', raw.sip_proxy_ip);
  fill('sip_srtp_mode', 'disabled');
  fill('sip_transport', 'udp');
  fill('syslog_port', 514);
  for (const k of NUMBERED_MAPS) fill(k, {});
  const lines = raw.sip_lines;
  if (isMap(lines)) {
    const fixed: Record<string, RawValue> = {};
    for (const n of Object.keys(lines)) {
      const line = lines[n];
      if (!isMap(line)) continue;
      const extra: Record<string, RawValue> = {};
      if (line.registrar_ip === undefined && line.proxy_ip !== undefined && line.proxy_ip !== null) setOwn(extra, 'registrar_ip', line.proxy_ip);
      if (line.auth_username === undefined && line.username !== undefined && line.username !== null) setOwn(extra, 'auth_username', line.username);
      if (Object.keys(extra).length > 0) setOwn(fixed, n, extra);
    }
    if (Object.keys(fixed).length > 0) setOwn(add, 'sip_lines', fixed);
  }
  return mergeRaw(raw, add);
}
