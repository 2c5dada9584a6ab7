/**
 * config.ts: the `dhcp` section of the configuration (zod), with its defaults and the checks
 * that need only this section. src/config/schema.ts mounts it; every key is documented in
 * config/provisiond.example.yaml.
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { parseCidr } from '../net/ipv4';
import { port, listenPort, cidr, interfaceName, uniqueNames } from '../net/schema';
import { rateLimitSchema } from '../limits/config';
import { clientUrlProblem } from '../urls/check';

/** MAX_OPTION_BYTES is the most a single DHCP option can carry (RFC 2132 §2: one length byte). */
export const MAX_OPTION_BYTES = 255;

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

const dhcpNetwork = z.strictObject({
  /** subnet is the IPv4 network in CIDR form, e.g. 192.168.1.0/24. */
  subnet: cidr,
  /** url is the provisioning URL served to clients in that subnet. */
  url: provisioningUrl,
  /** tenant: the provisioning tenant of this network; its urlKey goes into the URL as the first path segment. */
  tenant: z.string().min(1).optional(),
});

/** dhcpSchema is the `dhcp` section. */
export const dhcpSchema = z
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

/** DhcpConfig is the validated `dhcp` section. */
export type DhcpConfig = DeepReadonly<z.output<typeof dhcpSchema>>;
