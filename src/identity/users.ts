/**
 * users.ts: the user administration shared by every way of managing users (the CLI today, an
 * admin API later): naming a user, adding, re-keying and deleting store users, listing the
 * configuration's and the store's users, and reading a JitsiProvS `user_auth` export. Functions
 * here work on a store they are given and throw ProvErrors; they never prompt or print.
 */
import { ProvError, errorMessage } from '../errors';
import type { StoredUser, UserRepository } from '../store/repository';
import { UserDirectory } from './auth';
import { parseHash } from './passwords';

/** ProvisioningSection is the part of the configuration the user directory reads. */
export type ProvisioningSection = ConstructorParameters<typeof UserDirectory>[0];

/** UserRef is a user named by an administrator. */
export interface UserRef {
  readonly domain: string;
  readonly name: string;
}

/** parseUserRef reads `alice@example.org`, or `alice` with `domain` or else `defaultDomain`. */
export function parseUserRef(spec: string, domain: string | undefined, defaultDomain: string): UserRef {
  const at = spec.lastIndexOf('@');
  const name = (at >= 0 ? spec.slice(0, at) : spec).trim().toLowerCase();
  const dom = (at >= 0 ? spec.slice(at + 1) : (domain ?? defaultDomain)).trim().toLowerCase();
  if (!/^[^\s@\x00-\x1f\x7f]+$/.test(name)) throw new ProvError('PROVD_ERR_USER', `'${spec}' is not a valid user name`);
  if (!/^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$/.test(dom)) throw new ProvError('PROVD_ERR_USER', `'${dom}' is not a valid domain`);
  return { domain: dom, name };
}

/** parseAttrs reads `key=value` attributes. */
export function parseAttrs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ProvError('PROVD_ERR_USER', `--attr '${kv}' is not key=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** assertNotInConfig refuses to manage in the store a user the configuration file defines. */
export function assertNotInConfig(provisioning: ProvisioningSection, ref: UserRef): void {
  if (new UserDirectory(provisioning, undefined).inConfig(ref.domain, ref.name)) {
    throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} is defined in the configuration file; change it there`);
  }
}

/** assertNewUser refuses a user the store already has. */
export async function assertNewUser(users: UserRepository, ref: UserRef): Promise<void> {
  if (await users.get(ref.domain, ref.name)) throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} already exists (use 'provisiond user passwd')`);
}

/** assertStoredUser refuses a user the store does not have. */
export async function assertStoredUser(users: UserRepository, ref: UserRef): Promise<void> {
  if (!(await users.get(ref.domain, ref.name))) throw new ProvError('PROVD_ERR_USER', `no user ${ref.name}@${ref.domain} in the store`);
}

/** addUser stores a new user with an already hashed password. */
export async function addUser(users: UserRepository, ref: UserRef, passwordHash: string, attributes: Record<string, string>): Promise<void> {
  if (!(await users.add({ domain: ref.domain, name: ref.name, passwordHash, attributes }))) throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} already exists`);
}

/** setUserPassword replaces a store user's password hash (a running daemon notices at the next request). */
export async function setUserPassword(users: UserRepository, ref: UserRef, passwordHash: string): Promise<void> {
  if (!(await users.setPassword(ref.domain, ref.name, passwordHash))) throw new ProvError('PROVD_ERR_USER', `no user ${ref.name}@${ref.domain} in the store`);
}

/**
 * setUserAttributes applies `--attr k=v` (set or replace) then `--unset k` to a store user's
 * attributes and returns the result; unsetting a key the user does not have is an error (a typo
 * would otherwise pass silently).
 */
export async function setUserAttributes(users: UserRepository, ref: UserRef, set: Readonly<Record<string, string>>, unset: readonly string[]): Promise<Record<string, string>> {
  const u = await users.get(ref.domain, ref.name);
  if (!u) throw new ProvError('PROVD_ERR_USER', `no user ${ref.name}@${ref.domain} in the store`);
  if (Object.keys(set).length === 0 && unset.length === 0) throw new ProvError('PROVD_ERR_USER', 'name at least one --attr key=value or --unset key');
  const next: Record<string, string> = { ...u.attributes, ...set };
  for (const k of unset) {
    if (!(k in next)) throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} has no attribute '${k}' (it has: ${Object.keys(u.attributes).join(', ') || 'none'})`);
    if (k in set) throw new ProvError('PROVD_ERR_USER', `attribute '${k}' is both set and unset`);
    delete next[k];
  }
  if (!(await users.setAttributes(ref.domain, ref.name, next))) throw new ProvError('PROVD_ERR_USER', `no user ${ref.name}@${ref.domain} in the store`);
  return next;
}

/** deleteUser removes a store user. */
export async function deleteUser(users: UserRepository, provisioning: ProvisioningSection, ref: UserRef): Promise<void> {
  if (!(await users.remove(ref.domain, ref.name))) {
    const inCfg = new UserDirectory(provisioning, undefined).inConfig(ref.domain, ref.name);
    throw new ProvError('PROVD_ERR_USER', inCfg ? `${ref.name}@${ref.domain} is defined in the configuration file; remove it there` : `no user ${ref.name}@${ref.domain} in the store`);
  }
}

/** UserRow is one listed user (never a hash). */
export interface UserRow {
  user: string;
  source: string;
  password: string;
  attributes: Record<string, string>;
}

/** SECRET_NAME_RE: an attribute or config key named like a secret (its value is write-only without the secrets scope). */
export const SECRET_NAME_RE = /pass|secret|key|token/i;

/** shownAttributes hides the values of attributes named like secrets (e.g. a SIP password). */
export function shownAttributes(a: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, SECRET_NAME_RE.test(k) ? '[redacted]' : v]));
}

/** formOf names a stored hash's kind (scrypt, md5, …), or `invalid`. */
export function formOf(hash: string): string {
  const p = parseHash(hash);
  return p.ok ? p.value.form : 'invalid';
}

/** listUsers lists the configuration's users and, given the store's, those too, sorted by user then source. */
export function listUsers(provisioning: ProvisioningSection, stored: readonly StoredUser[] | undefined): UserRow[] {
  const rows: UserRow[] = [];
  const dir = new UserDirectory(provisioning, undefined);
  for (const u of dir.configUsers()) rows.push({ user: `${u.name}@${u.domain}`, source: 'config', password: u.parsed.form, attributes: shownAttributes(u.attributes) });
  for (const u of stored ?? []) {
    const shadowed = dir.inConfig(u.domain, u.name);
    rows.push({ user: `${u.name}@${u.domain}`, source: shadowed ? 'store (shadowed by config)' : 'store', password: formOf(u.passwordHash), attributes: shownAttributes(u.attributes) });
  }
  rows.sort((a, b) => a.user.localeCompare(b.user) || a.source.localeCompare(b.source));
  return rows;
}

/** parseCsv parses RFC 4180 CSV (quoted fields, doubled quotes); bounded by the input size. */
export function parseCsv(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    if (row.length > 1 || row[0] !== '') rows.push(row);
  }
  return rows;
}

/**
 * ImportedUser is a user read from an export: an md5 password in the form the export had, or a
 * plain one still to be hashed (`plain`, hashed with scrypt before anything is stored).
 */
export interface ImportedUser {
  readonly domain: string;
  readonly name: string;
  readonly passwordHash: string;
  /** plain is the clear-text password of a `--format plain` row, to hash at import time. */
  readonly plain?: string;
  readonly attributes: Record<string, string>;
}

/** IMPORT_COLUMNS are the header names that are not attributes. */
const IMPORT_COLUMNS = new Set(['id', 'username', 'domain', 'password']);

/**
 * parseUserExport reads a JitsiProvS `user_auth` export: username, domain, password (optionally
 * an id column first, optionally a header row). With a header row, every other column is an
 * attribute (an empty cell sets none). md5 passwords keep JitsiProvS's form; plain ones are
 * returned in `plain` for the caller to hash. A row without a domain gets `defaultDomain`
 * (provisioning.defaultDomain). A user the configuration file defines (`inConfig`) is a problem,
 * as for `user add`. Every problem names `file` and the row; with any problem, nothing is imported.
 */
export function parseUserExport(
  text: string,
  file: string,
  opts: { format: 'md5' | 'plain'; delimiter: string; defaultDomain: string; inConfig?: (ref: UserRef) => boolean },
): ImportedUser[] {
  const rows = parseCsv(text.replace(/^\uFEFF/, ''), opts.delimiter);
  let cols = { user: 0, domain: 1, password: 2 };
  let start = 0;
  let attrCols: { key: string; col: number }[] = [];
  const first = rows[0]?.map((h) => h.trim().toLowerCase());
  if (first && first.includes('username') && first.includes('password')) {
    cols = { user: first.indexOf('username'), domain: first.indexOf('domain'), password: first.indexOf('password') };
    // Attribute names keep the header's case (templates read user.attributes.sipServer).
    attrCols = (rows[0] ?? []).map((h, col) => ({ key: h.trim(), col })).filter((a) => a.key !== '' && !IMPORT_COLUMNS.has(a.key.toLowerCase()));
    start = 1;
  } else if (first && first.length === 4) {
    cols = { user: 1, domain: 2, password: 3 }; // id, username, domain, password (the table's column order)
  }
  const users: ImportedUser[] = [];
  const problems: string[] = [];
  for (let i = start; i < rows.length; i++) {
    const r = rows[i] ?? [];
    const name = (r[cols.user] ?? '').trim();
    const domain = ((cols.domain >= 0 ? r[cols.domain] : '') ?? '').trim().toLowerCase() || opts.defaultDomain;
    const pw = r[cols.password] ?? '';
    if (name === '' || pw === '') {
      problems.push(`${file}: row ${i + 1}: missing username or password`);
      continue;
    }
    let ref: UserRef;
    try {
      ref = parseUserRef(`${name}@${domain}`, undefined, opts.defaultDomain);
    } catch (err) {
      problems.push(`${file}: row ${i + 1}: ${errorMessage(err)}`);
      continue;
    }
    if (opts.inConfig?.(ref)) {
      problems.push(`${file}: row ${i + 1}: ${ref.name}@${ref.domain} is defined in the configuration file; change it there`);
      continue;
    }
    const passwordHash = opts.format === 'md5' ? `md5:${pw.trim().toLowerCase()}` : `plain:${pw}`;
    const parsed = parseHash(passwordHash);
    if (!parsed.ok) {
      problems.push(`${file}: row ${i + 1}: password: ${parsed.error}`);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const a of attrCols) {
      const v = r[a.col] ?? '';
      if (v !== '') attributes[a.key] = v;
    }
    users.push({ ...ref, passwordHash, ...(opts.format === 'plain' ? { plain: pw } : {}), attributes });
  }
  if (problems.length > 0) throw new ProvError('PROVD_ERR_USER', `${file}: ${problems.length} row(s) cannot be imported; nothing was imported`, { details: problems.slice(0, 50) });
  return users;
}

/** importUsers stores imported users; existing ones are overwritten with `replace`, else skipped. */
export async function importUsers(users: UserRepository, list: readonly ImportedUser[], replace: boolean): Promise<{ added: number; skipped: number }> {
  let added = 0;
  let skipped = 0;
  for (const u of list) {
    const row = { domain: u.domain, name: u.name, passwordHash: u.passwordHash, attributes: u.attributes };
    if (replace) {
      await users.upsert(row);
      added++;
    } else if (await users.add(row)) added++;
    else skipped++;
  }
  return { added, skipped };
}
