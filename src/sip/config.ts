/**
 * config.ts: the `sip` section of the configuration (zod): the SIP Plug-and-Play responder.
 * src/config/schema.ts mounts it; every key is documented in config/provisiond.example.yaml.
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { listenPort, cidr, interfaceName, uniqueNames } from '../net/schema';
import { rateLimitSchema } from '../limits/config';

/** sipSchema is the `sip` section. */
export const sipSchema = z.strictObject({
  /** enabled answers ua-profile SUBSCRIBEs sent to 224.0.1.75 (default false). */
  enabled: z.boolean().default(false),
  /** port is the group's UDP port (5060; 0 = a free port, tests only). */
  port: listenPort.default(5060),
  /** replyPort: the UDP port answers leave from, per interface address (0 = one the kernel picks, so a PBX keeps unicast 5060). */
  replyPort: listenPort.default(0),
  /** interfaces: where to join the group; [] = every non-loopback IPv4 interface (loopback when there is none). */
  interfaces: z.array(interfaceName).superRefine(uniqueNames).default([]),
  /** tenant answers phones the store does not know (phones.autoprovision oui/all); default provisioning.defaultDomain. */
  tenant: z.string().min(1).optional(),
  /** allowFrom: source networks answered ([] = any); the tenant's allowFrom applies as well. */
  allowFrom: z.array(cidr).max(256).default([]),
  /**
   * notifyForm: the NOTIFY's From/To. `dialog` (RFC 6665: From = the SUBSCRIBE's To with our tag,
   * To = its From) or `copy` (From and To copied unchanged, as Snom's pnpserv.py, SPLiT, lua-voip
   * and the AudioCodes manual do; sip-phones.md 2.3: phones in those traces accept it).
   */
  notifyForm: z.enum(['dialog', 'copy']).default('dialog'),
  /** rateLimit: SUBSCRIBEs and other datagrams per source address. */
  rateLimit: rateLimitSchema('SIP datagrams', 10, 20),
});

/** SipConfig is the validated `sip` section. */
export type SipConfig = DeepReadonly<z.output<typeof sipSchema>>;
