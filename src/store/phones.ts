/**
 * phones.ts: the SQLite side of PhoneRepository (tables `phone_configs`, `phone_devices`,
 * migration 7). sqlite.ts builds it on its connection and passes its lock guard.
 *
 * JSON columns are written canonically (object keys sorted, no spaces), so the same value is
 * always the same bytes: a read, a re-write, an export or a render cache key never differ by key
 * order. Writes that would break the model (an unknown config, a deleted parent, a second default)
 * are refused with PROVD_ERR_PHONE_STORE before anything is written.
 */
import type { Db } from './driver';
import type { PhoneConfigInput, PhoneConfigRole, PhoneFilter, PhoneInput, PhoneJsonMap, PhonePatch, PhoneRepository, PhoneSighting, PhoneSightingAt, StoredPhone, StoredPhoneConfig } from './repository';
import { ProvError } from '../errors';
import { JsonShapeError, canonicalJson as canonicalText } from '../json';

/** Guard runs a statement, turning another process's lock into StoreBusyError (sqlite.ts). */
export type Guard = <T>(what: string, f: () => T) => T;

const MAC_PLAIN = /^[0-9a-f]{12}$/;
const MAC_SEPARATED = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/;
/** MAX_ID bounds ids, names and profile/model strings (a config id, a user name). */
const MAX_ID = 128;

/** refuse throws the repository's refusal. */
function refuse(message: string): never {
  throw new ProvError('PROVD_ERR_PHONE_STORE', message);
}

/** phoneMac normalises a MAC to `aa:bb:cc:dd:ee:ff` (any case; `:`, `-` or no separator); refused otherwise. */
export function phoneMac(s: string): string {
  const t = s.trim().toLowerCase();
  if (MAC_PLAIN.test(t)) return t.replace(/(..)(?!$)/g, '$1:');
  if (MAC_SEPARATED.test(t)) return t.replace(/-/g, ':');
  return refuse(`'${s.slice(0, 40)}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
}

/** canonicalJson writes JSON with every object's keys sorted; non-JSON values (NaN, undefined, dates) are refused. */
export function canonicalJson(v: unknown): string {
  try {
    return canonicalText(v, '$', 'refuse');
  } catch (err) {
    if (err instanceof JsonShapeError) return refuse(err.message);
    throw err;
  }
}

function parseMap(json: string): PhoneJsonMap {
  const v: unknown = JSON.parse(json);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as PhoneJsonMap) : {};
}

function parseList(json: string): string[] {
  const v: unknown = JSON.parse(json);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** name checks an id-like string: non-empty, bounded, no control characters. */
function name(what: string, s: string): string {
  if (s.length === 0 || s.length > MAX_ID || /[\u0000-\u001f\u007f]/.test(s)) refuse(`${what} '${s.slice(0, 40)}' must be 1-${MAX_ID} printable characters`);
  return s;
}

function optName(what: string, s: string | null | undefined): string | null {
  return s === undefined || s === null ? null : name(what, s);
}

/** userList lower-cases user names (they are case-insensitive) and refuses duplicates. */
function userList(users: readonly string[]): string[] {
  const out = users.map((u) => name('user', u).toLowerCase());
  const dup = out.find((u, i) => out.indexOf(u) !== i);
  if (dup !== undefined) refuse(`user '${dup}' is assigned twice to one device`);
  return out;
}

interface ConfigRow {
  tenant: string;
  id: string;
  parents: string;
  raw_config: string;
  role: PhoneConfigRole;
  updated_at: string;
}

interface PhoneRow {
  mac: string;
  tenant: string;
  profile: string;
  model: string | null;
  version: string | null;
  serial: string | null;
  ip: string | null;
  config: string | null;
  users: string;
  options: string;
  added_at: string;
  assigned_at: string | null;
  reset_at: string | null;
  first_seen: string | null;
  last_seen: string | null;
  previous_version: string | null;
  version_changed_at: string | null;
  created_by: 'admin' | 'auto';
}

function toConfig(r: ConfigRow): StoredPhoneConfig {
  return { tenant: r.tenant, id: r.id, parents: parseList(r.parents), raw: parseMap(r.raw_config), role: r.role, updatedAt: r.updated_at };
}

function toPhone(r: PhoneRow): StoredPhone {
  return {
    mac: r.mac,
    tenant: r.tenant,
    profile: r.profile,
    model: r.model,
    version: r.version,
    serial: r.serial,
    ip: r.ip,
    config: r.config,
    users: parseList(r.users),
    options: parseMap(r.options),
    addedAt: r.added_at,
    assignedAt: r.assigned_at,
    resetAt: r.reset_at,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    previousVersion: r.previous_version,
    versionChangedAt: r.version_changed_at,
    createdBy: r.created_by,
  };
}

/** where builds the WHERE clause of a filter (named parameters). */
function where(f: PhoneFilter): { sql: string; params: Record<string, string> } {
  const parts: string[] = [];
  const params: Record<string, string> = {};
  for (const k of ['tenant', 'profile', 'model', 'config'] as const) {
    const v = f[k];
    if (v !== undefined) {
      parts.push(`${k} = @${k}`);
      params[k] = v;
    }
  }
  return { sql: parts.length === 0 ? '' : `WHERE ${parts.join(' AND ')}`, params };
}

/** createPhoneRepository prepares the phone statements on an opened, migrated database. */
export function createPhoneRepository(db: Db, guard: Guard): PhoneRepository {
  const getConfig = db.prepare<[string, string], ConfigRow>('SELECT * FROM phone_configs WHERE tenant = ? AND id = ?');
  const listConfigs = db.prepare<[], ConfigRow>('SELECT * FROM phone_configs ORDER BY tenant, id');
  const listConfigsIn = db.prepare<[string], ConfigRow>('SELECT * FROM phone_configs WHERE tenant = ? ORDER BY id');
  const roleHolder = db.prepare<[string, string, string], { id: string }>('SELECT id FROM phone_configs WHERE tenant = ? AND role = ? AND id <> ?');
  const putConfig = db.prepare(
    `INSERT INTO phone_configs (tenant, id, parents, raw_config, role, updated_at) VALUES (@tenant, @id, @parents, @raw, @role, @at)
     ON CONFLICT (tenant, id) DO UPDATE SET parents = excluded.parents, raw_config = excluded.raw_config, role = excluded.role, updated_at = excluded.updated_at`,
  );
  const delConfig = db.prepare('DELETE FROM phone_configs WHERE tenant = ? AND id = ?');
  const childrenOf = db.prepare<[string, string], { id: string }>(
    'SELECT c.id AS id FROM phone_configs AS c, json_each(c.parents) AS p WHERE c.tenant = ? AND p.value = ? ORDER BY c.id',
  );
  const devicesWith = db.prepare<[string, string], { mac: string }>('SELECT mac FROM phone_devices WHERE tenant = ? AND config = ? ORDER BY mac LIMIT 3');
  const countWith = db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM phone_devices WHERE tenant = ? AND config = ?');

  const getPhone = db.prepare<[string], PhoneRow>('SELECT * FROM phone_devices WHERE mac = ?');
  const bySerial = db.prepare<[string], PhoneRow>('SELECT * FROM phone_devices WHERE serial = ? ORDER BY mac');
  const byIp = db.prepare<[string, string], PhoneRow>('SELECT * FROM phone_devices WHERE tenant = ? AND ip = ? ORDER BY mac');
  const addPhone = db.prepare(
    `INSERT INTO phone_devices (mac, tenant, profile, model, version, serial, ip, config, users, options, added_at, assigned_at, created_by)
     VALUES (@mac, @tenant, @profile, @model, @version, @serial, @ip, @config, @users, @options, @at, @assignedAt, @createdBy)`,
  );
  const updatePhone = db.prepare(
    `UPDATE phone_devices SET profile = @profile, model = @model, serial = @serial, config = @config, users = @users, options = @options,
       assigned_at = @assignedAt, reset_at = @resetAt WHERE mac = @mac`,
  );
  const delPhone = db.prepare('DELETE FROM phone_devices WHERE mac = ?');
  const moveProfile = db.prepare('UPDATE phone_devices SET profile = ? WHERE profile = ?');
  const moveProfileIn = db.prepare('UPDATE phone_devices SET profile = ? WHERE profile = ? AND tenant = ?');
  const observePhone = db.prepare(
    `UPDATE phone_devices SET ip = @ip, last_seen = @at, first_seen = COALESCE(first_seen, @at), model = COALESCE(@model, model),
       previous_version = CASE WHEN @changed THEN version ELSE previous_version END,
       version_changed_at = CASE WHEN @changed THEN @at ELSE version_changed_at END,
       version = COALESCE(@version, version)
     WHERE mac = @mac`,
  );

  const now = (): string => new Date().toISOString();
  const configExists = (tenant: string, id: string): boolean => getConfig.get(tenant, id) !== undefined;
  const checkConfigRef = (tenant: string, config: string | null): void => {
    if (config !== null && !configExists(tenant, config)) refuse(`config '${config}' does not exist in tenant '${tenant}'`);
  };

  /** cycleThrough returns a path id → … → id when `parents` lead back to `id`, else undefined. */
  const cycleThrough = (tenant: string, id: string, parents: readonly string[]): string[] | undefined => {
    const seen = new Set<string>();
    const walk = (cur: string, path: string[]): string[] | undefined => {
      if (cur === id) return [...path, cur];
      if (seen.has(cur)) return undefined;
      seen.add(cur);
      const row = getConfig.get(tenant, cur);
      for (const p of row === undefined ? [] : parseList(row.parents)) {
        const found = walk(p, [...path, cur]);
        if (found) return found;
      }
      return undefined;
    };
    for (const p of parents) {
      const found = walk(p, [id]);
      if (found) return found;
    }
    return undefined;
  };

  const putConfigTx = db.transaction((c: PhoneConfigInput, at: string): StoredPhoneConfig => {
    const tenant = name('tenant', c.tenant);
    const id = name('config id', c.id);
    const parents = (c.parents ?? []).map((p) => name('parent', p));
    const role = c.role ?? 'none';
    if (role !== 'default' && role !== 'autoprov' && role !== 'none') refuse(`role '${String(role)}' is not default, autoprov or none`);
    const dup = parents.find((p, i) => parents.indexOf(p) !== i);
    if (dup !== undefined) refuse(`config '${id}' lists parent '${dup}' twice`);
    for (const p of parents) {
      if (p === id) refuse(`config '${id}' cannot be its own parent`);
      if (!configExists(tenant, p)) refuse(`config '${id}': parent '${p}' does not exist in tenant '${tenant}'`);
    }
    const cycle = cycleThrough(tenant, id, parents);
    if (cycle) refuse(`config '${id}': parents would make a cycle ${cycle.join(' → ')}`);
    if (role !== 'none') {
      const holder = roleHolder.get(tenant, role, id);
      if (holder) refuse(`config '${holder.id}' is already the ${role} config of tenant '${tenant}' (set its role to none first)`);
    }
    putConfig.run({ tenant, id, parents: canonicalJson(parents), raw: canonicalJson(c.raw ?? {}), role, at });
    const row = getConfig.get(tenant, id);
    return row ? toConfig(row) : refuse(`config '${id}' vanished`);
  });

  const deleteConfigTx = db.transaction((tenant: string, id: string): boolean => {
    if (!configExists(tenant, id)) return false;
    const children = childrenOf.all(tenant, id).map((r) => r.id);
    if (children.length > 0) refuse(`config '${id}' is a parent of ${children.map((c) => `'${c}'`).join(', ')}: change their parents first`);
    const n = countWith.get(tenant, id)?.n ?? 0;
    if (n > 0) {
      const some = devicesWith.all(tenant, id).map((r) => r.mac);
      refuse(`config '${id}' is assigned to ${n} device(s) (${some.join(', ')}${n > some.length ? ', …' : ''}): assign them another config first`);
    }
    return delConfig.run(tenant, id).changes === 1;
  });

  const addTx = db.transaction((d: PhoneInput, at: string): StoredPhone => {
    const mac = phoneMac(d.mac);
    const tenant = name('tenant', d.tenant);
    const config = optName('config', d.config);
    checkConfigRef(tenant, config);
    const existing = getPhone.get(mac);
    if (existing) refuse(`MAC ${mac} is already recorded${existing.tenant === tenant ? '' : ' in another tenant'}`);
    const users = userList(d.users ?? []);
    const createdBy = d.createdBy ?? 'admin';
    if (createdBy !== 'admin' && createdBy !== 'auto') refuse(`createdBy '${String(createdBy)}' is not admin or auto`);
    addPhone.run({
      mac,
      tenant,
      profile: name('profile', d.profile),
      model: optName('model', d.model),
      version: optName('version', d.version),
      serial: optName('serial', d.serial),
      ip: optName('ip', d.ip),
      config,
      users: canonicalJson(users),
      options: canonicalJson(d.options ?? {}),
      at,
      assignedAt: config !== null || users.length > 0 ? at : null,
      createdBy,
    });
    const row = getPhone.get(mac);
    return row ? toPhone(row) : refuse(`MAC ${mac} vanished`);
  });

  const updateTx = db.transaction((macIn: string, p: PhonePatch, at: string): StoredPhone | undefined => {
    const mac = phoneMac(macIn);
    const row = getPhone.get(mac);
    if (!row) return undefined;
    const config = p.config === undefined ? row.config : optName('config', p.config);
    if (config !== row.config) checkConfigRef(row.tenant, config);
    const users = p.users === undefined ? row.users : canonicalJson(userList(p.users));
    const assigned = config !== row.config || users !== row.users;
    updatePhone.run({
      mac,
      profile: p.profile === undefined ? row.profile : name('profile', p.profile),
      model: p.model === undefined ? row.model : optName('model', p.model),
      serial: p.serial === undefined ? row.serial : optName('serial', p.serial),
      config,
      users,
      options: p.options === undefined ? row.options : canonicalJson(p.options),
      assignedAt: assigned ? at : row.assigned_at,
      resetAt: p.reset === true ? at : row.reset_at,
    });
    const after = getPhone.get(mac);
    return after ? toPhone(after) : undefined;
  });

  const setProfileTx = db.transaction((from: string, to: string, tenant: string | undefined): number =>
    tenant === undefined ? moveProfile.run(to, from).changes : moveProfileIn.run(to, from, tenant).changes,
  );

  const observeTx = db.transaction((mac: string, s: PhoneSighting, at: string) => {
    const row = getPhone.get(mac);
    if (!row) return undefined;
    const version = optName('version', s.version);
    const changed = version !== null && row.version !== null && version !== row.version;
    observePhone.run({ mac, ip: name('ip', s.ip), at, model: optName('model', s.model), version, changed: changed ? 1 : 0 });
    const after = getPhone.get(mac);
    return after ? { device: toPhone(after), versionChanged: changed } : undefined;
  });

  /** observeManyTx writes a batch of sightings in one transaction; unknown MACs are skipped. */
  const observeManyTx = db.transaction((batch: readonly PhoneSightingAt[]): number => {
    let n = 0;
    for (const b of batch) {
      const mac = phoneMac(b.mac);
      const row = getPhone.get(mac);
      if (!row) continue;
      const version = optName('version', b.seen.version);
      const changed = version !== null && row.version !== null && version !== row.version;
      observePhone.run({ mac, ip: name('ip', b.seen.ip), at: b.at, model: optName('model', b.seen.model), version, changed: changed ? 1 : 0 });
      n++;
    }
    return n;
  });

  const list = (f: PhoneFilter = {}): StoredPhone[] => {
    const w = where(f);
    const limit = f.limit === undefined ? -1 : Math.max(0, Math.floor(f.limit));
    const offset = f.offset === undefined ? 0 : Math.max(0, Math.floor(f.offset));
    const rows = guard('phone list', () => db.prepare<[Record<string, string | number>], PhoneRow>(`SELECT * FROM phone_devices ${w.sql} ORDER BY tenant, mac LIMIT @limit OFFSET @offset`).all({ ...w.params, limit, offset }));
    return rows.map(toPhone);
  };

  return {
    getConfig: (tenant, id) => {
      const r = guard('phone config lookup', () => getConfig.get(tenant, id));
      return r ? toConfig(r) : undefined;
    },
    listConfigs: (tenant) => guard('phone config list', () => (tenant === undefined ? listConfigs.all() : listConfigsIn.all(tenant))).map(toConfig),
    putConfig: (c, at) => guard('phone config write', () => putConfigTx.immediate(c, at ?? now())),
    deleteConfig: (tenant, id) => guard('phone config delete', () => deleteConfigTx.immediate(tenant, id)),
    get: (mac) => {
      const r = guard('phone lookup', () => getPhone.get(phoneMac(mac)));
      return r ? toPhone(r) : undefined;
    },
    getBySerial: (serial) => guard('phone lookup by serial', () => bySerial.all(serial)).map(toPhone),
    getByIp: (tenant, ip) => guard('phone lookup by ip', () => byIp.all(tenant, ip)).map(toPhone),
    list,
    count: (f = {}) => {
      const w = where(f);
      return guard('phone count', () => db.prepare<[Record<string, string>], { n: number }>(`SELECT COUNT(*) AS n FROM phone_devices ${w.sql}`).get(w.params)?.n ?? 0);
    },
    add: (d, at) => guard('phone add', () => addTx.immediate(d, at ?? now())),
    update: (mac, p, at) => guard('phone update', () => updateTx.immediate(mac, p, at ?? now())),
    delete: (mac) => guard('phone delete', () => delPhone.run(phoneMac(mac)).changes === 1),
    setProfile: (from, to, tenant) => guard('phone profile change', () => setProfileTx.immediate(name('profile', from), name('profile', to), tenant)),
    observe: (mac, s, at) => guard('phone observation', () => observeTx.immediate(phoneMac(mac), s, at ?? now())),
    observeMany: (batch) => (batch.length === 0 ? 0 : guard('phone observations', () => observeManyTx.immediate(batch))),
  };
}
