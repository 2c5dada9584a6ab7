/**
 * config.ts: the `phones` section of the configuration (zod), mounted by src/config/schema.ts;
 * every key is documented in config/provisiond.example.yaml. Phones are not served yet (issue 12
 * in progress): with `enabled: true` the profiles are loaded and checked with the configuration
 * (start, check-config, SIGHUP), nothing more.
 *
 * `profilesDir` and `templatesDir` have no default; a relative path is resolved against the
 * folder of the configuration file that names it (src/config/load.ts), so a site's files travel
 * with its configuration.
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';

/** AUTOPROVISION lists the `phones.autoprovision` modes, from none to every phone that asks. */
export const AUTOPROVISION = ['off', 'known', 'oui', 'all'] as const;

/** phonesSchema is the `phones` section. */
export const phonesSchema = z.strictObject({
  /** enabled loads the vendor profiles with the configuration (default false: no behaviour change). */
  enabled: z.boolean().default(false),
  /** profilesDir: the site's vendor profiles (`<vendor>/profile.yaml`), adding to or replacing the shipped ones. */
  profilesDir: z.string().min(1).optional(),
  /** templatesDir: the site's custom phone templates, looked up before the shipped ones. */
  templatesDir: z.string().min(1).optional(),
  /** autoprovision: which unknown phones get a device record (off, known models, known OUIs, all). */
  autoprovision: z.enum(AUTOPROVISION).default('off'),
  /** natMode: phones behind NAT; a device is never looked up by its IP address. */
  natMode: z.boolean().default(false),
  /** passwordWindow: minutes after a device is (re)assigned during which its sensitive files carry passwords; 0 = off (always carried, as wazo does). */
  passwordWindow: z.number().int().min(0).max(7 * 24 * 60).default(30),
});

/** PhonesConfig is the validated `phones` section. */
export type PhonesConfig = DeepReadonly<z.output<typeof phonesSchema>>;
