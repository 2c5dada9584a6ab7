/**
 * export.ts: `provisiond export avahi`, the mDNS advertisement as a file for another tool, and
 * `provisiond export dhcp --format isc|kea|dnsmasq`, the classes a site's own DHCP server needs
 * to point each loaded phone vendor at provisiond (src/phones/dhcpexport.ts).
 */
import { hostname } from 'node:os';
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { avahiServiceXml } from '../mdns/avahi';
import { planAdvertisement, txtGroups, clientUrlOn } from '../mdns/plan';
import { listHostInterfaces } from '../net/interfaces';
import { DHCP_FORMATS, dhcpVendors, renderDhcp, type DhcpFormat } from '../phones/dhcpexport';
import { loadPhonesDomain } from '../phones/domain';
import { strategyOf } from '../identity/config';
import { KEY_PLACEHOLDER, keyedUrl } from '../urls/plan';
import { version } from '../version';
import { phoneBaseUrl, readConfig, reportError, UsageError, type Outcome } from './common';

/** registerExport adds the `export` command. */
export function registerExport(y: Argv, out: Outcome): Argv {
  return y.command(
    'export <what>',
    'print a file for another tool: `export avahi` an Avahi .service file, `export dhcp --format isc|kea|dnsmasq` the DHCP classes pointing SIP phones at provisiond',
    (e) =>
      e
        .positional('what', { type: 'string', choices: ['avahi', 'dhcp'] as const, describe: 'what to export' })
        .option('format', { type: 'string', choices: DHCP_FORMATS, describe: 'export dhcp: the DHCP server (ISC dhcpd, Kea, dnsmasq)' })
        .option('base-url', { type: 'string', describe: 'export dhcp: the URL phones fetch from, when phones.baseUrl is not set' })
        .option('config', { alias: 'c', type: 'string', describe: 'configuration file (YAML); without it the embedded defaults are used' })
        .check((a) => {
          if (a.what === 'dhcp' && a.format === undefined) throw new UsageError('export dhcp needs --format isc|kea|dnsmasq');
          if (a.what === 'avahi' && (a.format !== undefined || a['base-url'] !== undefined)) throw new UsageError('--format and --base-url are options of export dhcp');
          return true;
        }),
    (args) => {
      try {
        const config = readConfig(args.config);
        if (args.what === 'dhcp') {
          const r = exportDhcp(config, args.format ?? 'isc', args['base-url']);
          process.stdout.write(r.text);
          for (const w of r.warnings) process.stderr.write(`provisiond: warning: ${w}\n`);
          return;
        }
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
 * exportDhcp renders the DHCP snippet of every loaded phone profile (shipped and the site's,
 * whether or not phones.enabled is set) with the provisioning URL: phones.baseUrl, else
 * --base-url, else the HTTP face's address, with the default tenant's urlKey as its first path
 * segment. A profile problem refuses the export (exit 1), as `phones profiles` does.
 */
export function exportDhcp(config: Config, format: DhcpFormat, baseUrl: string | undefined, shippedDir?: string): { text: string; warnings: string[] } {
  const domain = loadPhonesDomain(config.phones, shippedDir);
  if (domain.problems.length > 0) {
    throw new ProvError('PROVD_ERR_CONFIG_INVALID', `${domain.problems.length} phone profile problem${domain.problems.length > 1 ? 's' : ''}: fix them first (provisiond phones profiles)`, { details: domain.problems });
  }
  const base = phoneBaseUrl(config, baseUrl, 'refuse');
  const warnings = [...base.notes];
  const tenantName = config.provisioning.defaultDomain;
  const tenant = config.provisioning.tenants[tenantName];
  let url = base.url;
  let shown = url;
  if (tenant?.urlKey !== undefined && tenant.urlKey !== '') {
    url = keyedUrl(base.url, tenant.urlKey);
    shown = keyedUrl(base.url, KEY_PLACEHOLDER);
    warnings.push(
      `this file holds the provisioning key of tenant ${tenantName} (in the URL): anyone who can read it can use the key. ` +
        'Keep it readable by the DHCP server only (install -m 0640 -o root -g <the server\'s group>); phones on the LAN see the URL anyway',
    );
  } else if (tenant === undefined) {
    warnings.push(`the default tenant ${tenantName} is not configured: phones asking without a key get 404`);
  } else if (strategyOf(tenant) !== 'none') {
    warnings.push(`tenant ${tenantName} wants a key (auth ${strategyOf(tenant)}) but has no urlKey in the configuration: the URL carries none and phones get 404 (set provisioning.tenants.${tenantName}.urlKey)`);
  }
  let r;
  try {
    r = renderDhcp(format, dhcpVendors([...domain.profiles.values()].map((l) => l.profile)), url, [`provisiond ${version} export dhcp --format ${format}: one class per SIP phone vendor, pointing it at ${shown}`]);
  } catch (err) {
    throw new ProvError('PROVD_ERR_CONFIG_INVALID', err instanceof Error ? err.message : String(err));
  }
  for (const v of r.skipped) warnings.push(`profile ${v} has no OUI and no dhcp.vendorClasses: no class can match its phones (left out)`);
  return { text: r.text, warnings };
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
  const groups = txtGroups(r.ad);
  if (groups.length > 1) {
    const which = groups.map((g) => `${g.interfaces.map((i) => i.name).join(',')}: ${clientUrlOn(r.ad, g.interfaces[0] ?? r.ad.interfaces[0]!)}`).join('; ');
    throw new ProvError('PROVD_ERR_MDNS_URL', `the links need different TXT records (${which}) and an Avahi service file carries one for every link; let provisiond advertise (mdns.enabled: true), or set mdns.url`);
  }
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
