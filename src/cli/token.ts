/**
 * token.ts: `provisiond token create|list|revoke`, the admin API's bearer tokens
 * (src/admin/tokens.ts): a token is printed once and stored only as a hash.
 */
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { createToken, parseScopes, revokeToken, tokenInfo } from '../admin/tokens';
import type { TokenRepository } from '../store/repository';
import { UsageError, adminRun, io, storeExists, table, withConfig, withStore, type Io, type Outcome } from './common';

/** registerToken adds the `token` command group. */
export function registerToken(y: Argv, out: Outcome): Argv {
  return y.command('token', "the admin API's bearer tokens (printed once, stored as hashes)", (k) =>
    k
      .command(
        'create',
        'create an admin API token for one tenant (--tenant T) or every tenant (--all); print it once',
        (a) =>
          withConfig(a)
            .option('tenant', { type: 'string', describe: 'the tenant the token sees (a provisioning.tenants domain)' })
            .option('all', { type: 'boolean', default: false, describe: 'the token sees every tenant' })
            .option('scope', { type: 'string', demandOption: true, describe: 'read or write (write implies read), optionally with ,secrets' })
            .option('name', { type: 'string', describe: 'a label shown by token list' })
            .check((v) => {
              if ((v.tenant === undefined) === (v.all !== true)) throw new UsageError('name exactly one of --tenant T or --all');
              return true;
            }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) => tokenCreate(io(), cfg, { tenant: a.all === true ? null : (a.tenant ?? null), scope: a.scope, name: a.name }));
        },
      )
      .command(
        'list',
        'list the tokens (id, name, tenant, scopes, created, last used; never a token)',
        (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) => tokenList(io(), cfg, { json: a.json }));
        },
      )
      .command(
        'revoke <id>',
        'revoke a token at once (its id from token list)',
        (a) => withConfig(a).positional('id', { type: 'string', demandOption: true }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) => tokenRevoke(io(), cfg, a.id));
        },
      )
      .demandCommand(1, 'name a token command: create, list or revoke'),
  );
}

/** tokensOf is the store's token repository, or an error naming why there is none. */
function tokensOf(s: { readonly tokens?: TokenRepository | undefined }): TokenRepository {
  if (s.tokens === undefined) throw new ProvError('PROVD_ERR_STORE', 'this store keeps no API tokens');
  return s.tokens;
}

/** tokenCreate makes a token, prints it once on stdout and what it may do on stderr. */
export async function tokenCreate(io: Io, config: Config, opts: { tenant: string | null; scope: string; name?: string | undefined }): Promise<void> {
  const tenant = opts.tenant === null ? null : opts.tenant.toLowerCase();
  if (tenant !== null && config.provisioning.tenants[tenant] === undefined) {
    throw new ProvError('PROVD_ERR_TOKEN', `unknown tenant ${tenant} (configured: ${Object.keys(config.provisioning.tenants).join(', ') || 'none'})`);
  }
  const scopes = parseScopes(opts.scope);
  const { token, meta } = await withStore(config, (s) => createToken(tokensOf(s), { tenant, scopes, name: opts.name }));
  io.stdout.write(`${token}\n`);
  io.stderr.write(`provisiond: token ${meta.id} (${tenant ?? 'every tenant'}; ${scopes.join(',')}) is shown once and stored only as a hash; use it as 'Authorization: Bearer <token>'\n`);
}

/** tokenList prints the tokens' metadata. */
export async function tokenList(io: Io, config: Config, opts: { json: boolean }): Promise<void> {
  const list = storeExists(config) ? await withStore(config, (s) => tokensOf(s).list()) : [];
  const rows = list.map(tokenInfo);
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  table(io, ['ID', 'NAME', 'TENANT', 'SCOPES', 'CREATED', 'LAST USED'], rows.map((r) => [r.id, r.name || '-', r.tenant ?? '(all)', r.scopes.join(','), r.createdAt, r.lastUsedAt ?? 'never']));
}

/** tokenRevoke deletes a token. */
export async function tokenRevoke(io: Io, config: Config, id: string): Promise<void> {
  await withStore(config, (s) => revokeToken(tokensOf(s), id));
  io.stdout.write(`token ${id} revoked\n`);
}
