/**
 * schema.ts: the one configuration schema of provisiond (zod), with its defaults.
 *
 * Every key is documented in config/provisiond.example.yaml; a test checks that the example
 * passes this schema. Unknown keys are rejected (strict objects); the loader adds "did you
 * mean" hints and YAML line/column positions (src/config/load.ts).
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { isIP } from 'node:net';
import { parseCidr } from '../net/ipv4';
import { SERVICE_TYPES, deriveTxt } from '../mdns/txt';
import { urlProblems } from '../mdns/plan';
import { provisioningSchema, strategyOf } from './provisioning';
import { keyedUrl } from '../dhcp/handler';

/** MAX_OPTION_BYTES is the most a single DHCP option can carry (RFC 2132 §2: one length byte). */
export const MAX_OPTION_BYTES = 255;

const port = z.number().int('must be an integer').min(1, 'must be 1-65535').max(65535, 'must be 1-65535');
/** listenPort also accepts 0: the kernel picks a free port (used by tests). */
const listenPort = z.number().int('must be an integer').min(0, 'must be 0-65535').max(65535, 'must be 0-65535');

/**
 * provisioningUrl validates a URL that a client will fetch after substituting its `${…}`
 * placeholders (jitsi-client-contract.md §4.1): http(s), placeholders only after the host,
 * and at most 255 bytes so that it fits one DHCP option (the Jitsi client keeps only the last
 * copy of a repeated option, contract §2.4, so RFC 3396 splitting is not an option).
 */
export const provisioningUrl = z.string().superRefine((url, ctx) => {
  const bytes = Buffer.byteLength(url, 'utf8');
  if (bytes > MAX_OPTION_BYTES) {
    ctx.addIssue({ code: 'custom', message: `is ${bytes} bytes long; a DHCP option holds at most ${MAX_OPTION_BYTES} bytes (the Jitsi client reads one option 224 only)` });
    return;
  }
  const problem = clientUrlProblem(url, '');
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * clientUrlProblem checks what every URL handed to a client must satisfy (contract §2.4, §4.1):
 * no NUL or white space (kept verbatim by the client), an absolute http(s) URL with a host, and
 * no `${…}` placeholder in the host (resolved before substitution). `why` explains the scheme rule.
 */
function clientUrlProblem(url: string, why: string): string | undefined {
  if (url.includes('\0')) return 'must not contain a NUL byte (the client keeps it in the URL)';
  if (/\s/.test(url)) return 'must not contain white space';
  const m = /^(https?):\/\/([^/?#]*)/i.exec(url);
  if (!m || (m[2] ?? '') === '') return `must be an absolute http:// or https:// URL${why}, got '${url}'`;
  if ((m[2] ?? '').includes('${')) return 'must not use ${…} placeholders in the host part: the client resolves the host before it substitutes them';
  try {
    new URL(url);
  } catch {
    return `is not a valid URL: '${url}'`;
  }
  return undefined;
}

/** rateLimitSchema is a per-source token bucket: `rate` per second sustained (0 = off), `burst` at once. */
function rateLimitSchema(what: string, rate: number, burst: number) {
  return z
    .strictObject({
      /** rate is the sustained number accepted per second from one source; 0 disables the limit. */
      rate: z.number().min(0).max(1_000_000).default(rate),
      /** burst is how many one source may send at once before the rate applies. */
      burst: z.number().int().min(1).max(1_000_000).default(burst),
    })
    .prefault({})
    .describe(`per-source limit on ${what}`);
}

const cidr = z.string().superRefine((s, ctx) => {
  const r = parseCidr(s);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});

const interfaceName = z
  .string()
  .min(1, 'must not be empty')
  .max(15, 'is longer than a Linux interface name can be (15)')
  .regex(/^[^\s/:]+$/, 'is not a valid interface name');

const uniqueNames = (names: readonly string[], ctx: z.RefinementCtx): void => {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (seen.has(n)) ctx.addIssue({ code: 'custom', path: [i], message: `interface '${n}' is listed twice` });
    seen.add(n);
  });
};

const dhcpNetwork = z.strictObject({
  /** subnet is the IPv4 network in CIDR form, e.g. 192.168.1.0/24. */
  subnet: cidr,
  /** url is the provisioning URL served to clients in that subnet. */
  url: provisioningUrl,
  /** tenant: the provisioning tenant of this network; its urlKey goes into the URL as the first path segment. */
  tenant: z.string().min(1).optional(),
});

const dhcpSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    port: listenPort.default(6767),
    replyPort: port.default(6768),
    interfaces: z.array(interfaceName).superRefine(uniqueNames).default([]),
    url: provisioningUrl.optional(),
    networks: z.array(dhcpNetwork).default([]),
    rateLimit: rateLimitSchema('datagrams', 20, 40),
    /**
     * relayRateLimit: per source address, for requests otherwise limited per client (relayed,
     * or from 0.0.0.0), so an invented chaddr per datagram gains nothing; sized for a relay
     * forwarding many clients (3 INFORMs per client start).
     */
    relayRateLimit: rateLimitSchema('datagrams through one relay (or from 0.0.0.0)', 200, 400),
  })
  .superRefine((d, ctx) => {
    if (d.port === d.replyPort) ctx.addIssue({ code: 'custom', path: ['replyPort'], message: `must differ from dhcp.port (${d.port})` });
    const seen = new Map<string, number>();
    d.networks.forEach((n, i) => {
      const r = parseCidr(n.subnet);
      if (!r.ok) return;
      const key = `${r.value.network}/${r.value.prefix}`;
      const prev = seen.get(key);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['networks', i, 'subnet'], message: `duplicates dhcp.networks[${prev}].subnet (${key})` });
      else seen.set(key, i);
    });
  });

const httpSchema = z
  .strictObject({
    /** enabled: false turns the HTTP face (the provisioning endpoint) off. */
    enabled: z.boolean().default(true),
    host: z
      .string()
      .refine((h) => isIP(h) !== 0, { message: 'must be an IP address literal (e.g. 0.0.0.0, ::, 192.168.1.10)' })
      .default('0.0.0.0'),
    port: listenPort.default(8667),
    /** tls: PEM files; when set, `port` speaks HTTPS (re-read on SIGHUP). */
    tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /** plainPort: with tls, also serve plain HTTP here. */
    plainPort: listenPort.optional(),
    /** workers: 1 serves HTTP in the daemon process; N > 1 runs N worker processes sharing the port. */
    workers: z.number().int('must be an integer').min(1).max(64).default(1),
    /** headersTimeout: seconds a client has to send the request headers (slow clients: 408, closed). */
    headersTimeout: z.number().int().min(1).max(300).default(10),
    /** requestTimeout: seconds a client has to send the whole request. */
    requestTimeout: z.number().int().min(1).max(600).default(30),
    /** trustedProxies: addresses/CIDRs of reverse proxies whose X-Forwarded-For is honoured; empty = never. */
    trustedProxies: z
      .array(z.string().refine((p) => isIP(p) !== 0 || /^[0-9a-fA-F.:]+\/\d{1,3}$/.test(p) && isIP(p.split('/')[0] ?? '') !== 0, { message: 'must be an IP address or CIDR (e.g. 127.0.0.1, 10.0.0.0/8, ::1)' }))
      .default([]),
    /**
     * backlog: connections the kernel may complete before the daemon accepts them (listen(2);
     * capped by net.core.somaxconn). Node's default, 511, overflows in a boot storm (SYNs dropped,
     * clients waiting 1 s, then 3 s, to retry).
     */
    backlog: z.number().int().min(1).max(65_535).default(4096),
    /** maxConnections: open connections at once; more are closed on arrival. */
    maxConnections: z.number().int().min(1).max(1_000_000).default(1024),
    /** maxConnectionsPerSource: open connections one peer address may hold at once (not trustedProxies); 0 = no cap. */
    maxConnectionsPerSource: z.number().int().min(0).max(1_000_000).default(128),
    /** firstByteTimeout: seconds a new connection may stay silent before it is closed; 0 = never. */
    firstByteTimeout: z.number().int().min(0).max(300).default(5),
    /** bodyLimit: the largest request body in bytes (413 beyond). */
    bodyLimit: z.number().int().min(256).max(1 << 20).default(16_384),
    /** bans: built-in brute-force bans (failures per source IP and per user in a sliding window). */
    bans: z
      .strictObject({
        /** maxRetry: failures within findTime that ban the source or user; 0 turns bans off. */
        maxRetry: z.number().int().min(0).max(10_000).default(10),
        /** findTime: the sliding window, seconds. */
        findTime: z.number().int().min(1).max(86_400).default(60),
        /** banTime: how long a ban lasts (429), seconds. */
        banTime: z.number().int().min(1).max(30 * 86_400).default(600),
        /** trustedNetworks: IPv4 CIDRs never counted nor banned. */
        trustedNetworks: z.array(cidr).default([]),
      })
      .prefault({}),
    /** eventLog: the security event log fail2ban reads (default <stateDir>/security.log). */
    eventLog: z.string().min(1).optional(),
    rateLimit: rateLimitSchema('requests (429 beyond)', 50, 200),
  })
  .superRefine((h, ctx) => {
    if (h.headersTimeout > h.requestTimeout) ctx.addIssue({ code: 'custom', path: ['headersTimeout'], message: `must not exceed http.requestTimeout (${h.requestTimeout})` });
    if (h.plainPort !== undefined && h.tls === undefined) ctx.addIssue({ code: 'custom', path: ['plainPort'], message: 'needs http.tls (port already serves plain HTTP)' });
    if (h.plainPort !== undefined && h.plainPort !== 0 && h.plainPort === h.port) ctx.addIssue({ code: 'custom', path: ['plainPort'], message: `must differ from http.port (${h.port})` });
  });

/**
 * advertisedUrl validates mdns.url: an absolute http(s) URL that goes into the TXT `path` whole
 * (jitsi-client-contract.md §3.2), with every TXT string it yields within RFC 6763's limits.
 */
const advertisedUrl = z.string().superRefine((url, ctx) => {
  const problem = clientUrlProblem(url, " (it goes into the TXT 'path' whole)");
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem });
    return;
  }
  const r = deriveTxt(url);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});

/** mdnsHostname is the SRV target: one DNS label, optionally followed by `.local`. */
const mdnsHostname = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.local\.?)?$/i, "must be one DNS label (letters, digits, '-', at most 63), optionally followed by .local");

const mdnsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** type overrides the service type; default _https._tcp when the HTTP face serves TLS, else _http._tcp. */
  type: z.enum(SERVICE_TYPES).optional(),
  /** hostname is the SRV target (default: the system host name); `.local` is added. */
  hostname: mdnsHostname.optional(),
  /** interfaces are the links to advertise on (default: the DHCP face's interfaces). */
  interfaces: z.array(interfaceName).min(1, 'must list at least one interface; leave the key out to follow dhcp.interfaces').superRefine(uniqueNames).optional(),
  /** url is an absolute URL to advertise instead of the one the DHCP face serves. */
  url: advertisedUrl.optional(),
});

const devicesSchema = z.strictObject({
  /** maxNewPerSourcePerHour: new device records one client IP may create per hour; beyond, answered but not recorded. */
  maxNewPerSourcePerHour: z.number().int().min(0).max(1_000_000).default(100),
  /** maxTotal: the most device records kept; beyond, new devices are answered but not recorded. */
  maxTotal: z.number().int().min(1).max(100_000_000).default(100_000),
  /** pruneAfter: seconds after which a device never successfully provisioned is deleted; 0 = never. */
  pruneAfter: z.number().int().min(0).max(3650 * 86_400).default(7 * 86_400),
});

const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** configSchema is the whole configuration file. */
export const configSchema = z.strictObject({
  dhcp: dhcpSchema.prefault({}),
  http: httpSchema.prefault({}),
  mdns: mdnsSchema.prefault({}),
  log: logSchema.prefault({}),
  devices: devicesSchema.prefault({}),
  provisioning: provisioningSchema.prefault({}),
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
    if (!c.mdns.enabled) return;
    // The mDNS face advertises the HTTP face's port in its SRV record.
    if (c.http.port === 0) ctx.addIssue({ code: 'custom', path: ['http', 'port'], message: 'must be a fixed port while mdns.enabled is true (the SRV record carries it); 0 is for tests only' });
    for (const p of urlProblems(c)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

/** ConfigInput is what a YAML file may contain (every key optional). */
export type ConfigInput = z.input<typeof configSchema>;

/** Config is the validated, defaulted and frozen configuration every face receives. */
export type Config = DeepReadonly<z.output<typeof configSchema> & { stateDir: string }>;

/** LogLevel is one of pino's level names. */
export type LogLevel = Config['log']['level'];

/** DeepReadonly is re-exported for the modules that already import it from here. */
export type { DeepReadonly } from '../readonly';

