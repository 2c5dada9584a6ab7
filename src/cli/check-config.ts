/**
 * check-config.ts: `provisiond check-config`, every problem of a configuration file, and
 * warnings about what this host or the store lacks.
 */
import { hostname } from 'node:os';
import type { Argv } from 'yargs';
import { hostWarnings, templateErrors } from '../config/check';
import { loadConfigFile } from '../config/load';
import { ProvError } from '../errors';
import { reportError, type Outcome } from './common';
import { urlKeyWarnings } from './key';
import { planAdvertisement } from '../mdns/plan';
import { listHostInterfaces } from '../net/interfaces';

/** registerCheckConfig adds the `check-config` command. */
export function registerCheckConfig(y: Argv, out: Outcome): Argv {
  return y.command(
    'check-config',
    'validate a configuration file and print every problem; warn about TLS files and interfaces this host lacks',
    (c) => c.option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'configuration file (YAML)' }),
    (args) => {
      try {
        const cfg = loadConfigFile(args.config);
        // Warnings are about this host or the store (the daemon may run elsewhere); errors are the file's.
        const host = hostWarnings(cfg);
        for (const w of [...host, ...mdnsWarnings(cfg, host), ...urlKeyWarnings(cfg).map((f) => f.message)]) process.stderr.write(`provisiond: warning: ${w}\n`);
        const errors = templateErrors(cfg);
        if (errors.length > 0) {
          throw new ProvError('PROVD_ERR_CONFIG_INVALID', `${args.config}: invalid configuration (${errors.length} problem${errors.length > 1 ? 's' : ''})`, { details: errors.map((e) => `${args.config}: ${e}`) });
        }
        process.stdout.write(`${args.config}: configuration is valid\n`);
      } catch (err) {
        out.exit = reportError(err);
      }
    },
  );
}

/**
 * mdnsWarnings runs the mDNS face's own plan on this host's interfaces, so that check-config
 * reports whatever `run` would refuse here: a URL a link's TXT record cannot carry, or no
 * interface to advertise on (e.g. the default "every non-loopback IPv4 interface" finds none).
 * A named interface that is missing is already in the host warnings: not repeated.
 */
function mdnsWarnings(cfg: ReturnType<typeof loadConfigFile>, host: readonly string[]): string[] {
  if (!cfg.mdns.enabled) return [];
  const r = planAdvertisement(cfg, listHostInterfaces(), hostname());
  if (r.ok) return [];
  if (r.error.code === 'PROVD_ERR_MDNS_INTERFACE' && host.some((w) => /^(mdns|dhcp)\.interfaces/.test(w))) return [];
  return [`${r.error.code}: ${r.error.message} (on this host the daemon would not start)`];
}
