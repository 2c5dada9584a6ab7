/**
 * key.ts: `provisiond key rotate|list`, the tenants' provisioning keys (URL prefix /<key>/jitsi),
 * and the urlKey findings that `run` and `check-config` report.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { urlKeyFindings, type UrlKeyFinding } from '../identity/keys';
import { configuredUrlKeys, keyRows } from '../identity/rotation';
import { knownTenant, rotateKey } from '../service/keys';
import { strategyOf } from '../identity/config';
import { openSqliteStore, STORE_FILE } from '../store/sqlite';
import { adminRun, io, storeExists, table, withConfig, withStore, type Io, type Outcome } from './common';

/** registerKey adds the `key` command group. */
export function registerKey(y: Argv, out: Outcome): Argv {
  return y.command('key', "the tenants' provisioning keys (URL prefix /<key>/jitsi)", (k) =>
    k
      .command(
        'rotate',
        'generate a new key for a tenant, print it once, store only its hash; the previous key stays valid for provisioning.keyGracePeriod',
        (a) =>
          withConfig(a)
            .option('tenant', { type: 'string', demandOption: true, describe: 'the tenant (a provisioning.tenants domain)' })
            .option('grace', { type: 'number', describe: 'seconds the previous key stays valid (default: provisioning.keyGracePeriod)' }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) => keyRotate(io(), cfg, { tenant: a.tenant, ...(a.grace === undefined ? {} : { grace: a.grace }) }));
        },
      )
      .command(
        'list',
        'list the stored keys (tenant, created, valid until; never the keys)',
        (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) => keyList(io(), cfg, { json: a.json }));
        },
      )
      .demandCommand(1, 'name a key command: rotate or list'),
  );
}

/**
 * urlKeyWarnings lists the configured urlKeys that are not their tenant's current stored key
 * (read-only; no store, or one that cannot be read, gives none: the daemon reports the store).
 */
export function urlKeyWarnings(config: Config, now: number = Date.now()): UrlKeyFinding[] {
  const urlKeys = configuredUrlKeys(config.provisioning.tenants);
  if (urlKeys.size === 0 || !existsSync(join(config.stateDir, STORE_FILE))) return [];
  try {
    const s = openSqliteStore(config.stateDir, { readonly: true });
    try {
      return urlKeyFindings(urlKeys, s.sync?.keys.list() ?? [], now);
    } finally {
      void s.close();
    }
  } catch {
    return [];
  }
}

/**
 * keyRotate makes a new provisioning key for a tenant, prints it once and stores its hash. The
 * configuration file is not edited: the exact line to change is printed (see README, Security).
 */
export async function keyRotate(io: Io, config: Config, opts: { tenant: string; grace?: number; now?: Date }): Promise<void> {
  const t = knownTenant(config.provisioning.tenants, opts.tenant);
  const grace = opts.grace ?? config.provisioning.keyGracePeriod;
  const r = await withStore(config, (s) => rotateKey(s.keys, config.provisioning.tenants, opts.tenant, grace, opts.now));
  const { key, urlKeyWas, previousValidUntil: until } = r;
  io.stdout.write(`${key}\n`);
  const line = `provisioning.tenants.${opts.tenant}.urlKey: ${key}`;
  let text = `provisiond: the key above is shown once and stored only as a hash. Clients use /${'<key>'}/jitsi (e.g. ${config.http.tls !== undefined ? 'https' : 'http'}://host:${config.http.port}/<key>/jitsi?...).\n`;
  switch (urlKeyWas) {
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
export async function keyList(io: Io, config: Config, opts: { json: boolean; now?: Date }): Promise<void> {
  const list = storeExists(config) ? await withStore(config, (s) => s.keys.list()) : [];
  const now = (opts.now ?? new Date()).getTime();
  const urlKeys = configuredUrlKeys(config.provisioning.tenants);
  const rows = keyRows(list, urlKeys, now);
  for (const f of urlKeyFindings(urlKeys, list, now)) io.stderr.write(`provisiond: warning: ${f.message}\n`);
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  table(io, ['TENANT', 'STATE', 'CREATED', 'VALID UNTIL', 'URLKEY'], rows.map((r) => [r.tenant, r.state, r.createdAt ?? '-', r.validUntil ?? '-', r.urlKey ? 'yes' : '']));
}
