/**
 * config.ts: the `admin` section of the configuration (zod): where the admin listener (the
 * Prometheus metrics, the health checks, and the REST API and status page mounted on it) listens.
 * src/config/schema.ts mounts it and checks that it never shares the provisioning port; every key
 * is documented in config/provisiond.example.yaml.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import type { DeepReadonly } from '../readonly';
import { listenPort } from '../net/schema';

/** ADMIN_PORT is the admin listener's default TCP port (the provisioning port is 8667). */
export const ADMIN_PORT = 8668;

/** adminSchema is the `admin` section. */
export const adminSchema = z.strictObject({
  /** enabled: false turns the admin listener (metrics, health, API) off. */
  enabled: z.boolean().default(true),
  /** host: loopback by default, so that nothing administrative is exposed where phones connect. */
  host: z
    .string()
    .refine((h) => isIP(h) !== 0, { message: 'must be an IP address literal (e.g. 127.0.0.1, ::1, 10.0.0.5)' })
    .default('127.0.0.1'),
  port: listenPort.default(ADMIN_PORT),
  /** tls: PEM files; when set, the admin port speaks HTTPS (re-read on SIGHUP). */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
});

/** AdminConfig is the validated `admin` section. */
export type AdminConfig = DeepReadonly<z.output<typeof adminSchema>>;
