/**
 * export.ts: `provisiond export avahi`, the mDNS advertisement as a file for another tool.
 */
import { hostname } from 'node:os';
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { avahiServiceXml } from '../mdns/avahi';
import { planAdvertisement } from '../mdns/plan';
import { listHostInterfaces } from '../net/interfaces';
import { version } from '../version';
import { readConfig, reportError, type Outcome } from './common';

/** registerExport adds the `export` command. */
export function registerExport(y: Argv, out: Outcome): Argv {
  return y.command(
    'export <format>',
    'print the mDNS advertisement for another tool: `export avahi` prints an Avahi .service file',
    (e) =>
      e
        .positional('format', { type: 'string', choices: ['avahi'] as const, describe: 'output format' })
        .option('config', { alias: 'c', type: 'string', describe: 'configuration file (YAML); without it the embedded defaults are used' }),
    (args) => {
      try {
        const config = readConfig(args.config);
        const xml = exportAvahi(config);
        process.stdout.write(xml);
        for (const w of avahiKeyWarnings(config, xml)) process.stderr.write(`provisiond: warning: ${w}\n`);
      } catch (err) {
        out.exit = reportError(err);
      }
    },
  );
}

/**
 * exportAvahi renders the Avahi service file for this host: the same plan as the mDNS face
 * (interfaces, URL, TXT), whether or not mdns.enabled is set.
 */
function exportAvahi(config: Config): string {
  if (config.http.port === 0) {
    throw new ProvError('PROVD_ERR_CONFIG_INVALID', 'http.port is 0 (a port chosen at run time); an Avahi service file needs a fixed port');
  }
  const r = planAdvertisement(config, listHostInterfaces(), hostname());
  if (!r.ok) throw new ProvError(r.error.code, r.error.message);
  return avahiServiceXml(r.ad, `provisiond ${version} export avahi`);
}

/**
 * avahiKeyWarnings names each tenant whose provisioning key the service file carries: the file
 * is meant for /etc/avahi/services, which is world-readable by default.
 */
export function avahiKeyWarnings(config: Config, xml: string): string[] {
  return Object.entries(config.provisioning.tenants)
    .filter(([, t]) => t.urlKey !== undefined && t.urlKey !== '' && xml.includes(t.urlKey))
    .map(
      ([name]) =>
        `this service file holds the provisioning key of tenant ${name} (in its TXT path): anyone who can read it can use the key. ` +
        'Install it readable by avahi only: install -m 0640 -o root -g avahi FILE /etc/avahi/services/provisioning.service',
    );
}
