/**
 * store.ts: `provisiond store migrate --to postgres://…`: copy the SQLite store of the
 * configuration's stateDir into an empty PostgreSQL database (then set store.url and restart).
 */
import type { Argv } from 'yargs';
import { ProvError } from '../errors';
import { adminRun, io, withConfig, type Io, type Outcome } from './common';
import type { Config } from '../config/schema';

/** registerStore adds the `store` command group. */
export function registerStore(y: Argv, out: Outcome): Argv {
  return y.command('store', 'the store (SQLite in stateDir, or PostgreSQL: store.url)', (s) =>
    s
      .command(
        'migrate',
        "copy the SQLite store (every table) into an empty PostgreSQL database; refused when it holds any row",
        (a) =>
          withConfig(a)
            .option('to', { type: 'string', demandOption: true, describe: 'postgres://user@host:5432/db (password: --password-file or $PGPASSWORD)' })
            .option('password-file', { type: 'string', describe: "a file whose first line is the database user's password" })
            .option('json', { type: 'boolean', default: false }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) => storeMigrate(io(), cfg, { to: a.to, passwordFile: a['password-file'], json: a.json }));
        },
      )
      .demandCommand(1, 'name a store command: migrate'),
  );
}

/** storeMigrate copies the store and prints what it copied. */
export async function storeMigrate(out: Io, config: Config, opts: { to: string; passwordFile?: string | undefined; json: boolean }): Promise<void> {
  // Loaded here: every other command starts without the PostgreSQL driver (CLI start-up time).
  const [{ copySqliteToPostgres }, { redactUrl }] = await Promise.all([import('../store/copy'), import('../store/postgres')]);
  if (!/^postgres(ql)?:\/\//.test(opts.to)) throw new ProvError('PROVD_ERR_USAGE', `--to must be a postgres:// URL, not '${redactUrl(opts.to)}'`);
  const copied = await copySqliteToPostgres(config.stateDir, { url: opts.to, passwordFile: opts.passwordFile, pool: { ...config.store.pool, max: 1 } });
  if (opts.json) {
    out.stdout.write(`${JSON.stringify({ to: redactUrl(opts.to), copied }, null, 2)}\n`);
    return;
  }
  for (const [table, n] of Object.entries(copied)) out.stdout.write(`${table}: ${n}\n`);
  out.stderr.write(`provisiond: copied into ${redactUrl(opts.to)}; set store.url to it (the password in store.passwordFile) and restart every node\n`);
}
