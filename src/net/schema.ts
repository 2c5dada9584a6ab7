/**
 * schema.ts: zod fields for network values (ports, CIDRs, interface names) shared by the
 * configuration sections of several faces.
 */
import { z } from 'zod';
import { parseCidr } from './ipv4';

/** port is a fixed UDP/TCP port, 1-65535. */
export const port = z.number().int('must be an integer').min(1, 'must be 1-65535').max(65535, 'must be 1-65535');
/** listenPort also accepts 0: the kernel picks a free port (used by tests). */
export const listenPort = z.number().int('must be an integer').min(0, 'must be 0-65535').max(65535, 'must be 0-65535');

/** cidr is an IPv4 network in CIDR form, e.g. 192.168.1.0/24. */
export const cidr = z.string().superRefine((s, ctx) => {
  const r = parseCidr(s);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});

/** interfaceName is a Linux network interface name. */
export const interfaceName = z
  .string()
  .min(1, 'must not be empty')
  .max(15, 'is longer than a Linux interface name can be (15)')
  .regex(/^[^\s/:]+$/, 'is not a valid interface name');

/** uniqueNames reports each interface name listed twice (a superRefine for a list of names). */
export const uniqueNames = (names: readonly string[], ctx: z.RefinementCtx): void => {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (seen.has(n)) ctx.addIssue({ code: 'custom', path: [i], message: `interface '${n}' is listed twice` });
    seen.add(n);
  });
};
