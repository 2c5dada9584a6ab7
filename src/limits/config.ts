/**
 * config.ts: the configuration of the shared limits: the per-source rate limit (a field of the
 * dhcp and http sections), brute-force bans (http.bans) and the device caps (the `devices`
 * section).
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { cidr } from '../net/schema';

/** rateLimitSchema is a per-source token bucket: `rate` per second sustained (0 = off), `burst` at once. */
export function rateLimitSchema(what: string, rate: number, burst: number) {
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

/** bansSchema is http.bans: built-in brute-force bans (failures per source IP and per user in a sliding window). */
export const bansSchema = z
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
  .prefault({});

/** devicesSchema is the `devices` section: caps on the device records the HTTP face keeps. */
export const devicesSchema = z.strictObject({
  /** maxNewPerSourcePerHour: new device records one client IP may create per hour; beyond, answered but not recorded. */
  maxNewPerSourcePerHour: z.number().int().min(0).max(1_000_000).default(100),
  /** maxTotal: the most device records kept; beyond, new devices are answered but not recorded. */
  maxTotal: z.number().int().min(1).max(100_000_000).default(100_000),
  /** pruneAfter: seconds after which a device never successfully provisioned is deleted; 0 = never. */
  pruneAfter: z.number().int().min(0).max(3650 * 86_400).default(7 * 86_400),
});

/** DevicesConfig is the validated `devices` section. */
export type DevicesConfig = DeepReadonly<z.output<typeof devicesSchema>>;

/** BansConfig is the validated http.bans (other faces that ban, such as TFTP, read it too). */
export type BansConfig = DeepReadonly<z.output<typeof bansSchema>>;
