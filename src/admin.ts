/**
 * admin.ts: the administration commands behind `provisiond user …`, `provisiond devices list`
 * and `provisiond render`. cli.ts parses arguments and maps errors to exit codes; everything
 * here writes to the streams it is given and throws ProvErrors.
 *
 * Passwords never come from argv (they would sit in shell history and `ps`): they are read
 * from a terminal prompt with echo off, or from standard input with --password-stdin.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config/schema';
import { openSqliteStore, STORE_FILE } from './store/sqlite';
import type { Store } from './store/repository';
import { hashPassword, parseHash } from './identity/passwords';
import { Engine } from './jitsi/engine';
import { UserDirectory } from './identity/auth';
import { ProvError, errorMessage } from './errors';
import { generateKey, hashKey, urlKeyFindings, type UrlKeyFinding } from './identity/keys';
import { strategyOf } from './config/provisioning';
import { createLogger } from './log';

/** Io is where a command reads and writes (injectable for tests). */
export interface Io {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** MAX_PASSWORD bounds what is read for a password (bytes). */
const MAX_PASSWORD = 4096;
/** MAX_STDIN bounds what is read from stdin for a password or an import (bytes). */
const MAX_IMPORT = 64 << 20;

/** readAll reads a stream to the end, up to `limit` bytes. */
async function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    n += b.length;
    if (n > limit) throw new ProvError('PROVD_ERR_USER', `standard input is larger than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** promptHidden reads one line from a terminal with echo off. */
function promptHidden(io: Io, prompt: string): Promise<string> {
  const stdin = io.stdin;
  return new Promise((resolve, reject) => {
    io.stderr.write(prompt);
    stdin.setRawMode?.(true);
    stdin.resume();
    let buf = '';
    const finish = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (d: Buffer | string): void => {
      for (const ch of typeof d === 'string' ? d : d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new ProvError('PROVD_ERR_USER', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else if (buf.length < MAX_PASSWORD) buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** readPassword gets a new password from stdin (--password-stdin) or a terminal prompt. */
export async function readPassword(io: Io, fromStdin: boolean, confirm: boolean): Promise<string> {
  let pw: string;
  if (fromStdin) {
    const text = await readAll(io.stdin, MAX_PASSWORD + 2);
    pw = text.split(/\r?\n/, 1)[0] ?? '';
  } else if (io.stdin.isTTY === true && io.stdin.setRawMode !== undefined) {
    pw = await promptHidden(io, 'Password: ');
    if (confirm && (await promptHidden(io, 'Again: ')) !== pw) throw new ProvError('PROVD_ERR_USER', 'the two passwords differ');
  } else {
    throw new ProvError('PROVD_ERR_USER', 'no terminal to prompt for the password on: pipe it in with --password-stdin');
  }
  if (pw.length === 0) throw new ProvError('PROVD_ERR_USER', 'the password is empty');
  return pw;
}

/** UserRef is a user named on the command line. */
export interface UserRef {
  readonly domain: string;
  readonly name: string;
}

/** parseUserRef reads `alice@example.org`, or `alice` with --domain or provisioning.defaultDomain. */
export function parseUserRef(spec: string, domain: string | undefined, config: Config): UserRef {
  const at = spec.lastIndexOf('@');
  const name = (at >= 0 ? spec.slice(0, at) : spec).trim().toLowerCase();
  const dom = (at >= 0 ? spec.slice(at + 1) : (domain ?? config.provisioning.defaultDomain)).trim().toLowerCase();
  if (!/^[^\s@\x00-\x1f\x7f]+$/.test(name)) throw new ProvError('PROVD_ERR_USER', `'${spec}' is not a valid user name`);
  if (!/^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$/.test(dom)) throw new ProvError('PROVD_ERR_USER', `'${dom}' is not a valid domain`);
  return { domain: dom, name };
}

function openStore(config: Config): Store {
  return openSqliteStore(config.stateDir);
}

function withStore<T>(config: Config, f: (s: Store) => T): T {
  const s = openStore(config);
  try {
    return f(s);
  } finally {
    s.close();
  }
}

function tenantNote(io: Io, config: Config, domain: string): void {
  if (config.provisioning.tenants[domain] === undefined) {
    io.stderr.write(`provisiond: note: tenant ${domain} is not in provisioning.tenants; its requests get 404 until it is configured\n`);
  }
}

function parseAttrs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ProvError('PROVD_ERR_USER', `--attr '${kv}' is not key=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** userAdd creates a store user. */
export async function userAdd(io: Io, config: Config, ref: UserRef, opts: { passwordStdin: boolean; attrs: readonly string[] }): Promise<void> {
  const dir = new UserDirectory(config.provisioning, undefined);
  if (dir.inConfig(ref.domain, ref.name)) throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} is defined in the configuration file; change it there`);
  const attributes = parseAttrs(opts.attrs);
  withStore(config, (s) => {
    if (s.users.get(ref.domain, ref.name)) throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} already exists (use 'provisiond user passwd')`);
  });
  const hash = await hashPassword(await readPassword(io, opts.passwordStdin, true), config.provisioning.passwords.scryptCost);
  withStore(config, (s) => {
    if (!s.users.add({ domain: ref.domain, name: ref.name, passwordHash: hash, attributes })) throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} already exists`);
  });
  tenantNote(io, config, ref.domain);
  io.stdout.write(`user ${ref.name}@${ref.domain} added\n`);
}

/** userPasswd replaces a store user's password (the running daemon notices at the next request). */
export async function userPasswd(io: Io, config: Config, ref: UserRef, opts: { passwordStdin: boolean }): Promise<void> {
  const dir = new UserDirectory(config.provisioning, undefined);
  if (dir.inConfig(ref.domain, ref.name)) throw new ProvError('PROVD_ERR_USER', `${ref.name}@${ref.domain} is defined in the configuration file; change it there`);
  withStore(config, (s) => {
    if (!s.users.get(ref.domain, ref.name)) throw new ProvError('PROVD_ERR_USER', `no user ${ref.name}@${ref.domain} in the store`);
  });
  const hash = await hashPassword(await readPassword(io, opts.passwordStdin, true), config.provisioning.passwords.scryptCost);
  withStore(config, (s) => {
    if (!s.users.setPassword(ref.domain, ref.name, hash)) throw new ProvError('PROVD_ERR_USER', `no user ${ref.name}@${ref.domain} in the store`);
  });
  io.stdout.write(`password of ${ref.name}@${ref.domain} changed\n`);
}

/** userDel removes a store user. */
export function userDel(io: Io, config: Config, ref: UserRef): void {
  withStore(config, (s) => {
    if (!s.users.remove(ref.domain, ref.name)) {
      const inCfg = new UserDirectory(config.provisioning, undefined).inConfig(ref.domain, ref.name);
      throw new ProvError('PROVD_ERR_USER', inCfg ? `${ref.name}@${ref.domain} is defined in the configuration file; remove it there` : `no user ${ref.name}@${ref.domain} in the store`);
    }
  });
  io.stdout.write(`user ${ref.name}@${ref.domain} deleted\n`);
}

/** shownAttributes hides the values of attributes named like secrets (e.g. a SIP password). */
function shownAttributes(a: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, /pass|secret|key|token/i.test(k) ? '[redacted]' : v]));
}

function formOf(hash: string): string {
  const p = parseHash(hash);
  return p.ok ? p.value.form : 'invalid';
}

/** userList prints the configuration's and the store's users (never their hashes). */
export function userList(io: Io, config: Config, opts: { json: boolean }): void {
  const rows: { user: string; source: string; password: string; attributes: Record<string, string> }[] = [];
  const dir = new UserDirectory(config.provisioning, undefined);
  for (const u of dir.configUsers()) rows.push({ user: `${u.name}@${u.domain}`, source: 'config', password: u.parsed.form, attributes: shownAttributes(u.attributes) });
  if (existsSync(join(config.stateDir, STORE_FILE))) {
    withStore(config, (s) => {
      for (const u of s.users.list()) {
        const shadowed = dir.inConfig(u.domain, u.name);
        rows.push({ user: `${u.name}@${u.domain}`, source: shadowed ? 'store (shadowed by config)' : 'store', password: formOf(u.passwordHash), attributes: shownAttributes(u.attributes) });
      }
    });
  }
  rows.sort((a, b) => a.user.localeCompare(b.user) || a.source.localeCompare(b.source));
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  table(io, ['USER', 'SOURCE', 'PASSWORD', 'ATTRIBUTES'], rows.map((r) => [r.user, r.source, r.password, Object.keys(r.attributes).join(',')]));
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
 * userImport loads a JitsiProvS `user_auth` export: username, domain, password (optionally an
 * id column first, optionally a header row). Passwords are stored in the form JitsiProvS used
 * (--format md5: hex digests; plain: clear text) and re-hashed with scrypt at each user's first
 * successful login.
 */
export async function userImport(io: Io, config: Config, file: string, opts: { format: 'md5' | 'plain'; delimiter: string; replace: boolean }): Promise<void> {
  let text: string;
  try {
    text = file === '-' ? await readAll(io.stdin, MAX_IMPORT) : readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ProvError) throw err;
    throw new ProvError('PROVD_ERR_USER', `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const rows = parseCsv(text.replace(/^\uFEFF/, ''), opts.delimiter);
  let cols = { user: 0, domain: 1, password: 2 };
  let start = 0;
  const first = rows[0]?.map((h) => h.trim().toLowerCase());
  if (first && first.includes('username') && first.includes('password')) {
    cols = { user: first.indexOf('username'), domain: first.indexOf('domain'), password: first.indexOf('password') };
    start = 1;
  } else if (first && first.length === 4) {
    cols = { user: 1, domain: 2, password: 3 }; // id, username, domain, password (the table's column order)
  }
  const users: { domain: string; name: string; passwordHash: string }[] = [];
  const problems: string[] = [];
  for (let i = start; i < rows.length; i++) {
    const r = rows[i] ?? [];
    const name = (r[cols.user] ?? '').trim();
    const domain = ((cols.domain >= 0 ? r[cols.domain] : '') ?? '').trim().toLowerCase() || 'localdomain'; // JitsiProvS's default
    const pw = r[cols.password] ?? '';
    if (name === '' || pw === '') {
      problems.push(`${file}: row ${i + 1}: missing username or password`);
      continue;
    }
    let ref: UserRef;
    try {
      ref = parseUserRef(`${name}@${domain}`, undefined, config);
    } catch (err) {
      problems.push(`${file}: row ${i + 1}: ${errorMessage(err)}`);
      continue;
    }
    const passwordHash = opts.format === 'md5' ? `md5:${pw.trim().toLowerCase()}` : `plain:${pw}`;
    const parsed = parseHash(passwordHash);
    if (!parsed.ok) {
      problems.push(`${file}: row ${i + 1}: password: ${parsed.error}`);
      continue;
    }
    users.push({ ...ref, passwordHash });
  }
  if (problems.length > 0) throw new ProvError('PROVD_ERR_USER', `${file}: ${problems.length} row(s) cannot be imported; nothing was imported`, { details: problems.slice(0, 50) });
  let added = 0;
  let skipped = 0;
  withStore(config, (s) => {
    for (const u of users) {
      if (opts.replace) {
        s.users.upsert(u);
        added++;
      } else if (s.users.add(u)) added++;
      else skipped++;
    }
  });
  const domains = new Set(users.map((u) => u.domain));
  for (const d of domains) tenantNote(io, config, d);
  io.stdout.write(`imported ${added} user(s)${skipped > 0 ? `, skipped ${skipped} that already exist (--replace overwrites)` : ''}\n`);
  if (added > 0) io.stderr.write(`provisiond: warning: ${opts.format}: passwords are weak; each is re-hashed with scrypt at the user's first successful login\n`);
}

/** userHash prints a scrypt hash for a configuration file's `password:`. */
export async function userHash(io: Io, config: Config, opts: { passwordStdin: boolean }): Promise<void> {
  io.stdout.write(`${await hashPassword(await readPassword(io, opts.passwordStdin, true), config.provisioning.passwords.scryptCost)}\n`);
}

/** configuredUrlKeys maps each tenant with a urlKey to it. */
function configuredUrlKeys(config: Config): Map<string, string> {
  const out = new Map<string, string>();
  for (const [tenant, t] of Object.entries(config.provisioning.tenants)) if (t.urlKey !== undefined) out.set(tenant, t.urlKey);
  return out;
}

/**
 * urlKeyWarnings lists the configured urlKeys that are not their tenant's current stored key
 * (read-only; no store, or one that cannot be read, gives none: the daemon reports the store).
 */
export function urlKeyWarnings(config: Config, now: number = Date.now()): UrlKeyFinding[] {
  const urlKeys = configuredUrlKeys(config);
  if (urlKeys.size === 0 || !existsSync(join(config.stateDir, STORE_FILE))) return [];
  try {
    const s = openSqliteStore(config.stateDir, { readonly: true });
    try {
      return urlKeyFindings(urlKeys, s.keys.list(), now);
    } finally {
      s.close();
    }
  } catch {
    return [];
  }
}

/**
 * keyRotate makes a new provisioning key for a tenant, prints it once and stores its hash. A
 * configured urlKey the store does not know yet is recorded first, so that it becomes the
 * previous key and is revoked when the grace period ends. The configuration file is not edited:
 * the exact line to change is printed (see README, Security).
 */
export function keyRotate(io: Io, config: Config, opts: { tenant: string; grace?: number; now?: Date }): void {
  const t = config.provisioning.tenants[opts.tenant];
  if (t === undefined) {
    throw new ProvError('PROVD_ERR_KEY', `unknown tenant ${opts.tenant} (configured: ${Object.keys(config.provisioning.tenants).join(', ') || 'none'})`);
  }
  const grace = opts.grace ?? config.provisioning.keyGracePeriod;
  if (!Number.isInteger(grace) || grace < 0 || grace > 90 * 86_400) throw new ProvError('PROVD_ERR_USAGE', '--grace must be a whole number of seconds, 0 to 7776000');
  const key = generateKey();
  const at = opts.now ?? new Date();
  const atIso = at.toISOString();
  const until = new Date(at.getTime() + grace * 1000).toISOString();
  /** what the configured urlKey was before this rotation. */
  let urlKeyWas: 'none' | 'current' | 'previous' | 'not a key' = 'none';
  try {
    withStore(config, (s) => {
      if (t.urlKey !== undefined) {
        const h = hashKey(t.urlKey);
        const mine = s.keys.list().filter((k) => k.tenant === opts.tenant);
        const match = mine.find((k) => k.hash === h);
        if (mine.length === 0) s.keys.rotate(opts.tenant, h, atIso, atIso); // the urlKey was the tenant's key: record it
        urlKeyWas = mine.length === 0 || match?.expiresAt === null ? 'current' : match ? 'previous' : 'not a key';
      }
      s.keys.rotate(opts.tenant, hashKey(key), atIso, until);
    });
  } catch (err) {
    throw new ProvError('PROVD_ERR_KEY', `cannot store the key: ${errorMessage(err)}`, { cause: err });
  }
  io.stdout.write(`${key}\n`);
  const line = `provisioning.tenants.${opts.tenant}.urlKey: ${key}`;
  let text = `provisiond: the key above is shown once and stored only as a hash. Clients use /${'<key>'}/jitsi (e.g. http://host:${config.http.port}/<key>/jitsi?...).\n`;
  switch (urlKeyWas as 'none' | 'current' | 'previous' | 'not a key') {
    case 'none':
      text += `provisiond: the previous key of ${opts.tenant} (if any) stays valid for ${grace} s, until ${until}.\n`;
      text += `provisiond: to have the DHCP/mDNS faces advertise the new key, put this line in the configuration file and reload (SIGHUP):\n${line}\n`;
      break;
    case 'current':
      text += `provisiond: the configured urlKey of ${opts.tenant} (its key until now) keeps opening ${opts.tenant} for ${grace} s, until ${until}; then it gets 404, but the DHCP/mDNS faces keep advertising it until the configuration file is changed and the daemon reloaded.\n`;
      text += `provisiond: change this line in the configuration file now, then reload (systemctl reload provisiond, or SIGHUP):\n${line}\n`;
      break;
    case 'previous':
      text += `provisiond: the configured urlKey of ${opts.tenant} was its previous key: this rotation revoked it now (only the last key stays valid, until ${until}); the DHCP/mDNS faces advertise a refused URL until the configuration file is changed and the daemon reloaded.\n`;
      text += `provisiond: change this line in the configuration file now, then reload (systemctl reload provisiond, or SIGHUP):\n${line}\n`;
      break;
    case 'not a key':
      text += `provisiond: the configured urlKey of ${opts.tenant} is not one of its keys and opens nothing (its previous key stays valid until ${until}); the DHCP/mDNS faces advertise a refused URL until the configuration file is changed and the daemon reloaded.\n`;
      text += `provisiond: change this line in the configuration file now, then reload (systemctl reload provisiond, or SIGHUP):\n${line}\n`;
      break;
  }
  io.stderr.write(text);
  if (!strategyOf(t).startsWith('url_key')) io.stderr.write(`provisiond: note: tenant ${opts.tenant} uses auth: ${strategyOf(t)}; set auth: url_key+credentials to require the key\n`);
}

/**
 * keyList prints the stored key hashes' metadata (never a key or a hash); `urlKey` marks the one
 * the configuration advertises, and a urlKey that is not the tenant's current key is warned about.
 */
export function keyList(io: Io, config: Config, opts: { json: boolean; now?: Date }): void {
  const list = existsSync(join(config.stateDir, STORE_FILE)) ? withStore(config, (s) => s.keys.list()) : [];
  const now = (opts.now ?? new Date()).getTime();
  const urlKeys = configuredUrlKeys(config);
  const urlHash = new Map([...urlKeys].map(([tenant, k]) => [tenant, hashKey(k)]));
  const rows: { tenant: string; createdAt: string | null; validUntil: string | null; state: string; urlKey?: true }[] = list.map((k) => ({
    tenant: k.tenant,
    createdAt: k.createdAt,
    validUntil: k.expiresAt,
    state: k.expiresAt === null ? 'current' : Date.parse(k.expiresAt) > now ? 'previous (grace)' : 'expired',
    ...(urlHash.get(k.tenant) === k.hash ? { urlKey: true as const } : {}),
  }));
  const managed = new Set(list.map((k) => k.tenant));
  for (const [tenant, h] of urlHash) {
    if (!managed.has(tenant)) rows.push({ tenant, createdAt: null, validUntil: null, state: 'current (configuration only)', urlKey: true });
    else if (!list.some((k) => k.tenant === tenant && k.hash === h)) rows.push({ tenant, createdAt: null, validUntil: null, state: 'refused (not a stored key)', urlKey: true });
  }
  rows.sort((a, b) => a.tenant.localeCompare(b.tenant));
  for (const f of urlKeyFindings(urlKeys, list, now)) io.stderr.write(`provisiond: warning: ${f.message}\n`);
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  table(io, ['TENANT', 'STATE', 'CREATED', 'VALID UNTIL', 'URLKEY'], rows.map((r) => [r.tenant, r.state, r.createdAt ?? '-', r.validUntil ?? '-', r.urlKey ? 'yes' : '']));
}

/** devicesList prints the inventory. */
export function devicesList(io: Io, config: Config, opts: { json: boolean }): void {
  const list = existsSync(join(config.stateDir, STORE_FILE)) ? withStore(config, (s) => s.devices.list()) : [];
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  table(
    io,
    ['DEVICE', 'USER', 'HWADDR', 'IP', 'OS', 'BUILD', 'LAST SEEN', 'LAST OUTCOME', 'REQUESTS', 'FAILURES', 'LAST FAILURE'],
    list.map((d) => [d.key, d.username ?? '-', d.hwaddr ?? '-', d.ip, d.osname ?? '-', d.build ?? '-', d.lastSeen, d.lastOutcome, String(d.requests), String(d.failures), d.lastFailureAt === null ? '-' : `${d.lastFailureAt} ${d.lastFailure ?? ''}`.trim()]),
  );
}

/** render prints exactly what a client with these parameters would receive. */
export function render(io: Io, config: Config, opts: { user?: string; domain?: string; params: readonly string[]; ip: string; userAgent: string }): void {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const kv of opts.params) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ProvError('PROVD_ERR_RENDER', `--param '${kv}' is not name=value`);
    params[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  let who: { domain?: string; name?: string } = opts.domain === undefined ? {} : { domain: opts.domain.toLowerCase() };
  if (opts.user !== undefined) {
    const ref = parseUserRef(opts.user, opts.domain, config);
    who = { domain: ref.domain, name: ref.name };
    params['username'] ??= opts.user; // what the client would send in the username field
  }
  const store = existsSync(join(config.stateDir, STORE_FILE)) ? openStore(config) : undefined;
  try {
    const engine = new Engine(config.provisioning, { ...(store ? { users: store.users } : {}), log: createLogger('silent') });
    const r = engine.renderAs({ params, ip: opts.ip, userAgent: opts.userAgent }, who);
    if (r.error !== undefined || r.result === undefined) throw new ProvError('PROVD_ERR_RENDER', r.error ?? 'nothing rendered');
    if (r.result.status !== 200) throw new ProvError('PROVD_ERR_RENDER', `the endpoint would answer ${r.result.status}: ${r.result.error ?? r.result.body.trim()}`);
    io.stdout.write(r.result.body);
  } finally {
    store?.close();
  }
}

function table(io: Io, head: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`;
  io.stdout.write(line(head));
  for (const r of rows) io.stdout.write(line(r));
}
