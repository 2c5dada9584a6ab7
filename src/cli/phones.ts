/**
 * phones.ts: `provisiond phones profiles`, the vendor profiles the configuration loads (shipped
 * and the site's `phones.profilesDir`), each with its source, and every profile problem. It
 * loads them even while `phones.enabled` is false, so a site can check its profiles first.
 */
import type { Argv } from 'yargs';
import { loadConfigFile, defaultConfig } from '../config/load';
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { loadPhonesDomain } from '../phones/domain';
import { io, reportError, table, withConfig, ExitCode, type Io, type Outcome } from './common';

/** registerPhones adds the `phones` command group. */
export function registerPhones(y: Argv, out: Outcome): Argv {
  return y.command('phones', 'SIP desk phones: the vendor profiles the daemon serves', (p) =>
    p
      .command(
        'profiles',
        'list the vendor profiles (shipped and the site\'s) and their problems',
        (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
        (a) => {
          try {
            const cfg = a.config === undefined ? defaultConfig() : loadConfigFile(a.config, { skipPhoneProfiles: true });
            phonesProfiles(io(), cfg, { json: a.json });
            out.exit = ExitCode.Ok;
          } catch (err) {
            out.exit = reportError(err);
          }
        },
      )
      .demandCommand(1, 'name a phones command: profiles'),
  );
}

/** ProfileRow is one line of `phones profiles`. */
export interface ProfileRow {
  readonly vendor: string;
  readonly family: string;
  readonly models: number;
  readonly source: 'shipped' | 'site';
  readonly file: string;
}

/** phonesProfiles prints the profiles; any problem is thrown as PROVD_ERR_CONFIG_INVALID (exit 1) after the list. */
export function phonesProfiles(io: Io, config: Config, opts: { json: boolean }, shippedDir?: string): void {
  const d = loadPhonesDomain(config.phones, shippedDir);
  const rows: ProfileRow[] = [...d.profiles.entries()].map(([vendor, p]) => ({ vendor, family: p.profile.family, models: p.profile.models.size, source: p.source, file: p.file }));
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ enabled: config.phones.enabled, shippedDir: d.shippedDir, siteDir: d.siteDir ?? null, profiles: rows, problems: d.problems }, null, 2)}\n`);
  } else {
    table(io, ['VENDOR', 'FAMILY', 'MODELS', 'SOURCE', 'FILE'], rows.map((r) => [r.vendor, r.family, String(r.models), r.source, r.file]));
  }
  if (d.problems.length > 0) {
    throw new ProvError('PROVD_ERR_CONFIG_INVALID', `${d.problems.length} phone profile problem${d.problems.length > 1 ? 's' : ''} (a vendor with a problem is left out)`, { details: d.problems });
  }
}
