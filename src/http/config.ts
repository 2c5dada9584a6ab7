/**
 * config.ts: the `http` section of the configuration (zod), with its defaults and the checks
 * that need only this section. src/config/schema.ts mounts it; every key is documented in
 * config/provisiond.example.yaml.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import type { DeepReadonly } from '../readonly';
import { listenPort } from '../net/schema';
import { rateLimitSchema, bansSchema } from '../limits/config';

/** httpSchema is the `http` section. */
export const httpSchema = z
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
    bans: bansSchema,
    /** eventLog: the security event log fail2ban reads (default <stateDir>/security.log). */
    eventLog: z.string().min(1).optional(),
    rateLimit: rateLimitSchema('requests (429 beyond)', 50, 200),
  })
  .superRefine((h, ctx) => {
    if (h.headersTimeout > h.requestTimeout) ctx.addIssue({ code: 'custom', path: ['headersTimeout'], message: `must not exceed http.requestTimeout (${h.requestTimeout})` });
    if (h.plainPort !== undefined && h.tls === undefined) ctx.addIssue({ code: 'custom', path: ['plainPort'], message: 'needs http.tls (port already serves plain HTTP)' });
    if (h.plainPort !== undefined && h.plainPort !== 0 && h.plainPort === h.port) ctx.addIssue({ code: 'custom', path: ['plainPort'], message: `must differ from http.port (${h.port})` });
  });

/** HttpConfig is the validated `http` section. */
export type HttpConfig = DeepReadonly<z.output<typeof httpSchema>>;
