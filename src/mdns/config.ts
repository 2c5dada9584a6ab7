/**
 * config.ts: the `mdns` section of the configuration (zod), with its defaults and the checks
 * that need only this section. The checks that also need the dhcp and http sections (the URL
 * the DHCP face serves must be advertisable, the SRV port must be fixed) run where the
 * sections are composed (src/config/schema.ts).
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { interfaceName, uniqueNames } from '../net/schema';
import { clientUrlProblem } from '../urls/check';
import { SERVICE_TYPES, deriveTxt } from './txt';

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

/** mdnsSchema is the `mdns` section. */
export const mdnsSchema = z.strictObject({
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

/** MdnsConfig is the validated `mdns` section. */
export type MdnsConfig = DeepReadonly<z.output<typeof mdnsSchema>>;
