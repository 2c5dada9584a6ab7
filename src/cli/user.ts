/**
 * user.ts: `provisiond user add|passwd|set|del|list|import|hash` and `provisiond hash-password`, the
 * users kept in the store (passwords never on the command line). The user rules are in
 * src/identity/users.ts; this file parses arguments, prompts and prints.
 */
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError, errorMessage } from '../errors';
import { hashPassword } from '../identity/passwords';
import { UserDirectory } from '../identity/auth';
import { changeAttributes, changePassword, createUser, removeUser } from '../service/users';
import {
  importUsers,
  listUsers,
  parseAttrs,
  parseUserExport,
  parseUserRef,
  type ImportedUser,
  type UserRef,
} from '../identity/users';
import { adminRun, io, readAll, readPassword, storeExists, table, withConfig, withStore, type Io, type Outcome } from './common';

/** MAX_IMPORT bounds what is read from stdin for an import (bytes). */
const MAX_IMPORT = 64 << 20;

/** registerUser adds the `user` command group and `hash-password`. */
export function registerUser(y: Argv, out: Outcome): Argv {
  const ref = (cfg: Config, user: string, domain: string | undefined): UserRef => parseUserRef(user, domain, cfg.provisioning.defaultDomain);
  return y
    .command('user', 'manage the users kept in the store (passwords never on the command line)', (u) =>
      u
        .command(
          'add <user>',
          'add a user (alice@example.org, or alice with --domain); the password is prompted for',
          (a) => withConfig(a).positional('user', { type: 'string', demandOption: true }).option('domain', { type: 'string' }).option('password-stdin', { type: 'boolean', default: false, describe: 'read the password from the first line of standard input' }).option('attr', { type: 'string', array: true, default: [] as string[], describe: 'an attribute key=value for templates (repeatable)' }),
          (a) => {
            out.pending = adminRun(a.config, (cfg) => userAdd(io(), cfg, ref(cfg, a.user, a.domain), { passwordStdin: a['password-stdin'], attrs: a.attr }));
          },
        )
        .command(
          'passwd <user>',
          "change a user's password (prompted for)",
          (a) => withConfig(a).positional('user', { type: 'string', demandOption: true }).option('domain', { type: 'string' }).option('password-stdin', { type: 'boolean', default: false }),
          (a) => {
            out.pending = adminRun(a.config, (cfg) => userPasswd(io(), cfg, ref(cfg, a.user, a.domain), { passwordStdin: a['password-stdin'] }));
          },
        )
        .command(
          'set <user>',
          "set (--attr key=value) or remove (--unset key) a store user's template attributes",
          (a) =>
            withConfig(a)
              .positional('user', { type: 'string', demandOption: true })
              .option('domain', { type: 'string' })
              .option('attr', { type: 'string', array: true, default: [] as string[], describe: 'an attribute key=value to set or replace (repeatable)' })
              .option('unset', { type: 'string', array: true, default: [] as string[], describe: 'an attribute key to remove (repeatable)' }),
          (a) => {
            out.pending = adminRun(a.config, (cfg) => userSet(io(), cfg, ref(cfg, a.user, a.domain), { attrs: a.attr, unset: a.unset }));
          },
        )
        .command(
          'del <user>',
          'delete a user',
          (a) => withConfig(a).positional('user', { type: 'string', demandOption: true }).option('domain', { type: 'string' }),
          (a) => {
            out.pending = adminRun(a.config, (cfg) => userDel(io(), cfg, ref(cfg, a.user, a.domain)));
          },
        )
        .command(
          'list',
          "list the configuration's and the store's users",
          (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
          (a) => {
            out.pending = adminRun(a.config, (cfg) => userList(io(), cfg, { json: a.json }));
          },
        )
        .command(
          'import <file>',
          "import a JitsiProvS user_auth CSV (username, domain, password, then attribute columns by header; '-' = stdin)",
          (a) =>
            withConfig(a)
              .positional('file', { type: 'string', demandOption: true })
              .option('format', { choices: ['md5', 'plain'] as const, default: 'md5' as const, describe: "JitsiProvS's --pwd_fmt" })
              .option('delimiter', { type: 'string', default: ',', describe: 'field separator (a tab for MySQL exports)' })
              .option('replace', { type: 'boolean', default: false, describe: 'overwrite users that already exist' }),
          (a) => {
            const delimiter = a.delimiter === '\\t' ? '\t' : a.delimiter;
            out.pending = adminRun(a.config, (cfg) => userImport(io(), cfg, a.file, { format: a.format, delimiter, replace: a.replace }));
          },
        )
        .command(
          'hash',
          "print a scrypt hash for a configuration file's users.<name>.password",
          (a) => withConfig(a).option('password-stdin', { type: 'boolean', default: false }),
          (a) => {
            out.pending = adminRun(a.config, (cfg) => userHash(io(), cfg, { passwordStdin: a['password-stdin'] }));
          },
        )
        .demandCommand(1, 'name a user command: add, passwd, set, del, list, import or hash'),
    )
    .command(
      'hash-password',
      "print a scrypt hash for a configuration file's users.<name>.password (same as user hash)",
      (a) => withConfig(a).option('password-stdin', { type: 'boolean', default: false }),
      (a) => {
        out.pending = adminRun(a.config, (cfg) => userHash(io(), cfg, { passwordStdin: a['password-stdin'] }));
      },
    );
}

function tenantNote(io: Io, config: Config, domain: string): void {
  if (config.provisioning.tenants[domain] === undefined) {
    io.stderr.write(`provisiond: note: tenant ${domain} is not in provisioning.tenants; its requests get 404 until it is configured\n`);
  }
}

/** userAdd creates a store user (the password is prompted for once the user is known to be addable). */
export async function userAdd(io: Io, config: Config, ref: UserRef, opts: { passwordStdin: boolean; attrs: readonly string[] }): Promise<void> {
  const attributes = parseAttrs(opts.attrs);
  await withStore(config, (s) => createUser(s.users, config.provisioning, ref, () => readPassword(io, opts.passwordStdin, true), attributes));
  tenantNote(io, config, ref.domain);
  io.stdout.write(`user ${ref.name}@${ref.domain} added\n`);
}

/** userPasswd replaces a store user's password (the running daemon notices at the next request). */
export async function userPasswd(io: Io, config: Config, ref: UserRef, opts: { passwordStdin: boolean }): Promise<void> {
  await withStore(config, (s) => changePassword(s.users, config.provisioning, ref, () => readPassword(io, opts.passwordStdin, true)));
  io.stdout.write(`password of ${ref.name}@${ref.domain} changed\n`);
}

/** userSet changes a store user's attributes (the running daemon sees them at the next request). */
export async function userSet(io: Io, config: Config, ref: UserRef, opts: { attrs: readonly string[]; unset: readonly string[] }): Promise<void> {
  const set = parseAttrs(opts.attrs);
  const now = await withStore(config, (s) => changeAttributes(s.users, config.provisioning, ref, set, opts.unset));
  io.stdout.write(`attributes of ${ref.name}@${ref.domain}: ${Object.keys(now).sort().join(', ') || 'none'}\n`);
}

/** userDel removes a store user. */
export async function userDel(io: Io, config: Config, ref: UserRef): Promise<void> {
  await withStore(config, (s) => removeUser(s.users, config.provisioning, ref));
  io.stdout.write(`user ${ref.name}@${ref.domain} deleted\n`);
}

/** userList prints the configuration's and the store's users (never their hashes). */
export async function userList(io: Io, config: Config, opts: { json: boolean }): Promise<void> {
  const rows = listUsers(config.provisioning, storeExists(config) ? await withStore(config, (s) => s.users.list()) : undefined);
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  table(io, ['USER', 'SOURCE', 'PASSWORD', 'ATTRIBUTES'], rows.map((r) => [r.user, r.source, r.password, Object.keys(r.attributes).join(',')]));
}

/**
 * userImport loads a JitsiProvS `user_auth` export (attribute columns by header). Plain passwords
 * (--format plain) are hashed with scrypt here, before anything is stored; md5 digests cannot be,
 * and are re-hashed with scrypt at each user's first successful login. Users the configuration
 * file defines are refused, as by `user add`.
 */
export async function userImport(io: Io, config: Config, file: string, opts: { format: 'md5' | 'plain'; delimiter: string; replace: boolean }): Promise<void> {
  let text: string;
  try {
    text = file === '-' ? await readAll(io.stdin, MAX_IMPORT) : readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ProvError) throw err;
    throw new ProvError('PROVD_ERR_USER', `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const dir = new UserDirectory(config.provisioning, undefined);
  const parsed = parseUserExport(text, file, { format: opts.format, delimiter: opts.delimiter, defaultDomain: config.provisioning.defaultDomain, inConfig: (r) => dir.inConfig(r.domain, r.name) });
  const users: ImportedUser[] = [];
  for (const u of parsed) users.push(u.plain === undefined ? u : { ...u, passwordHash: await hashPassword(u.plain, config.provisioning.passwords.scryptCost) });
  const { added, skipped } = await withStore(config, (s) => importUsers(s.users, users, opts.replace));
  const domains = new Set(users.map((u) => u.domain));
  for (const d of domains) tenantNote(io, config, d);
  io.stdout.write(`imported ${added} user(s)${skipped > 0 ? `, skipped ${skipped} that already exist (--replace overwrites)` : ''}\n`);
  if (added > 0 && opts.format === 'md5') io.stderr.write("provisiond: warning: md5: passwords are weak; each is re-hashed with scrypt at the user's first successful login\n");
}

/** userHash prints a scrypt hash for a configuration file's `password:`. */
export async function userHash(io: Io, config: Config, opts: { passwordStdin: boolean }): Promise<void> {
  io.stdout.write(`${await hashPassword(await readPassword(io, opts.passwordStdin, true), config.provisioning.passwords.scryptCost)}\n`);
}
