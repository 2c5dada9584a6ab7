/**
 * schema.ts: the configuration schema of provisiond (zod), composed of the sections each face
 * and domain owns (src/dhcp/config.ts, src/mdns/config.ts, src/http/config.ts, the
 * provisioning section, src/limits/config.ts for `devices`, src/log.ts for `log`,
 * src/phones/config.ts for `phones`, src/sip/config.ts for `sip`), plus the
 * checks that need several sections at once.
 *
 * Every key is documented in config/provisiond.example.yaml; a test checks that the example
 * passes this schema. Unknown keys are rejected (strict objects); the loader adds "did you
 * mean" hints and YAML line/column positions (src/config/load.ts).
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { dhcpSchema, MAX_OPTION_BYTES } from '../dhcp/config';
import { httpSchema } from '../http/config';
import { mdnsSchema } from '../mdns/config';
import { deriveTxt } from '../mdns/txt';
import { devicesSchema } from '../limits/config';
import { logSchema } from '../log';
import { phonesSchema } from '../phones/config';
import { sipSchema } from '../sip/config';
import { tftpSchema } from '../tftp/config';
import { storeSchema } from '../store/config';
import { adminSchema } from '../admin/config';
import { provisioningSchema, strategyOf } from './provisioning';
import { keyedUrl, defaultProvisioningUrl } from '../urls/plan';

/** MAX_OPTION_BYTES and provisioningUrl are re-exported for the modules that import them from here. */
export { MAX_OPTION_BYTES, provisioningUrl } from '../dhcp/config';

/**
 * urlProblems lists each URL the DHCP face may serve (dhcp.url, dhcp.networks, the default URL
 * on the http section's address) that the mDNS face could not advertise exactly (checked at
 * load time; the mDNS face checks its per-interface choice again at start).
 */
function urlProblems(cfg: {
  readonly dhcp: { readonly url?: string | undefined; readonly networks: readonly { readonly url: string }[] };
  readonly http: { readonly host: string; readonly port: number };
  readonly mdns: { readonly url?: string | undefined };
}): { readonly path: (string | number)[]; readonly message: string }[] {
  if (cfg.mdns.url !== undefined) return []; // mdns.url is checked by its own rule
  const out: { path: (string | number)[]; message: string }[] = [];
  const check = (url: string, path: (string | number)[]): void => {
    const r = deriveTxt(url);
    if (!r.ok) out.push({ path, message: `cannot be advertised over mDNS exactly: it ${r.error}; set mdns.url, or mdns.enabled: false` });
  };
  if (cfg.dhcp.url !== undefined) check(cfg.dhcp.url, ['dhcp', 'url']);
  cfg.dhcp.networks.forEach((n, i) => check(n.url, ['dhcp', 'networks', i, 'url']));
  // The default URL, with the longest address it can carry.
  check(defaultProvisioningUrl(cfg.http.host === '0.0.0.0' || cfg.http.host === '::' ? '255.255.255.255' : cfg.http.host, cfg.http.port), ['http']);
  return out;
}

/** configSchema is the whole configuration file. */
export const configSchema = z.strictObject({
  dhcp: dhcpSchema.prefault({}),
  http: httpSchema.prefault({}),
  mdns: mdnsSchema.prefault({}),
  log: logSchema.prefault({}),
  devices: devicesSchema.prefault({}),
  provisioning: provisioningSchema.prefault({}),
  phones: phonesSchema.prefault({}),
  sip: sipSchema.prefault({}),
  tftp: tftpSchema,
  /** store: where users, keys, devices and bans live (SQLite in stateDir, or PostgreSQL: store.url). */
  store: storeSchema,
  /** admin: the admin listener (metrics, health checks; the API and status page mount on it). */
  admin: adminSchema.prefault({}),
  /** stateDir holds the daemon's persistent state; default $STATE_DIRECTORY (systemd) or ./state. */
  stateDir: z.string().min(1).optional(),
})
  .superRefine((c, ctx) => {
    c.dhcp.networks.forEach((n, i) => {
      if (n.tenant === undefined) return;
      const path = ['dhcp', 'networks', i, 'tenant'];
      const t = c.provisioning.tenants[n.tenant];
      if (t === undefined) {
        ctx.addIssue({ code: 'custom', path, message: `names no tenant in provisioning.tenants (${Object.keys(c.provisioning.tenants).join(', ') || 'none configured'})` });
        return;
      }
      if (t.urlKey === undefined) {
        if (strategyOf(t).startsWith('url_key')) ctx.addIssue({ code: 'custom', path, message: `tenant ${n.tenant} needs a provisioning key (auth: ${strategyOf(t)}) but has no urlKey to advertise: run 'provisiond key rotate --tenant ${n.tenant}' and set provisioning.tenants.${n.tenant}.urlKey` });
        return;
      }
      const bytes = Buffer.byteLength(keyedUrl(n.url, t.urlKey), 'utf8');
      if (bytes > MAX_OPTION_BYTES) ctx.addIssue({ code: 'custom', path: ['dhcp', 'networks', i, 'url'], message: `is ${bytes} bytes long with tenant ${n.tenant}'s key; a DHCP option holds at most ${MAX_OPTION_BYTES} bytes` });
    });
    if (c.sip.enabled && !c.phones.enabled) ctx.addIssue({ code: 'custom', path: ['sip', 'enabled'], message: 'needs phones.enabled: true (the PnP answer is the URL of the phone\'s files)' });
    if (c.sip.tenant !== undefined && c.provisioning.tenants[c.sip.tenant] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sip', 'tenant'], message: `names no tenant in provisioning.tenants (${Object.keys(c.provisioning.tenants).join(', ') || 'none configured'})` });
    }
    if (c.admin.enabled && c.admin.port !== 0 && c.http.enabled) {
      // Never on the provisioning port: the admin listener is for administrators, not phones.
      if (c.admin.port === c.http.port) ctx.addIssue({ code: 'custom', path: ['admin', 'port'], message: `must differ from http.port (${c.http.port}): the admin listener never shares the provisioning port` });
      else if (c.http.plainPort !== undefined && c.admin.port === c.http.plainPort) ctx.addIssue({ code: 'custom', path: ['admin', 'port'], message: `must differ from http.plainPort (${c.http.plainPort}): the admin listener never shares the provisioning port` });
    }
    if (!c.mdns.enabled) return;
    // The mDNS face advertises the HTTP face's port in its SRV record.
    if (c.http.port === 0) ctx.addIssue({ code: 'custom', path: ['http', 'port'], message: 'must be a fixed port while mdns.enabled is true (the SRV record carries it); 0 is for tests only' });
    for (const p of urlProblems(c)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

/** ConfigInput is what a YAML file may contain (every key optional). */
export type ConfigInput = z.input<typeof configSchema>;

/** Config is the validated, defaulted and frozen configuration every face receives. */
export type Config = DeepReadonly<z.output<typeof configSchema> & { stateDir: string }>;

/** LogLevel is one of pino's level names (re-exported from src/log.ts). */
export type { LogLevel } from '../log';

/** DeepReadonly is re-exported for the modules that already import it from here. */
export type { DeepReadonly } from '../readonly';
