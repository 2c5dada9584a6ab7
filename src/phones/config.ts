/**
 * config.ts: the `phones` section of the configuration (zod), mounted by src/config/schema.ts;
 * every key is documented in config/provisiond.example.yaml. With `enabled: true` the profiles
 * are loaded and checked with the configuration (start, check-config, SIGHUP) and the HTTP face
 * serves phone files (src/http/server.ts).
 *
 * `profilesDir` and `templatesDir` have no default; a relative path is resolved against the
 * folder of the configuration file that names it (src/config/load.ts), so a site's files travel
 * with its configuration.
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';

/** AUTOPROVISION lists the `phones.autoprovision` modes, from none to every phone that asks. */
export const AUTOPROVISION = ['off', 'known', 'oui', 'all'] as const;

const json: z.ZodType<unknown> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(json), z.record(z.string(), json)]));

/** declaredConfig is one config of `phones.configs` (wazo's config: id, parent_ids, raw_config). */
const declaredConfig = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, '1-64 characters of A-Z a-z 0-9 _ . -'),
  /** tenant: default provisioning.defaultDomain. */
  tenant: z.string().min(1).optional(),
  /** role: the tenant's `default` config, its `autoprov` config, or `none`. */
  role: z.enum(['default', 'autoprov', 'none']).default('none'),
  parents: z.array(z.string().min(1)).max(32).default([]),
  raw: z.record(z.string(), json).default({}),
});

/** declaredDevice is one device of `phones.devices`. */
const declaredDevice = z.strictObject({
  mac: z.string().regex(/^[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$/, 'a MAC: aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff'),
  tenant: z.string().min(1).optional(),
  /** profile: the vendor profile's folder name (yealink, polycom, ...). */
  profile: z.string().min(1),
  model: z.string().min(1).max(64).optional(),
  /** config: a config id of the tenant; unset: the tenant's default config. */
  config: z.string().min(1).optional(),
  /** users: user names in line order (user 1 → line 1). */
  users: z.array(z.string().min(1)).max(64).default([]),
  options: z.record(z.string(), json).default({}),
});

/** AMI_TEXT: an AMI header value we send (printable, no CR/LF: one line of the action). */
const AMI_TEXT = z.string().regex(/^[\x20-\x7e]{1,128}$/, '1-128 printable ASCII characters');

/**
 * resyncSchema is `phones.resync`: how `provisiond devices sync` reaches the phones: `direct`
 * (a NOTIFY from this host to the phone's last address) or `ami` (Asterisk's manager interface
 * sends it, `PJSIPNotify`, from the PBX the phones trust, through their registration: NATed
 * phones too; sip-phones.md §4.2, §4.3).
 */
const resyncSchema = z
  .strictObject({
    via: z.enum(['direct', 'ami']).default('direct'),
    ami: z
      .strictObject({
        host: z.string().min(1).max(253),
        port: z.number().int().min(1).max(65535).default(5038),
        username: AMI_TEXT,
        /** secret: the manager user's secret (manager.conf), in clear: keep this file readable by the daemon's user only. */
        secret: AMI_TEXT,
        /** target: `endpoint` (the line-1 username as the PJSIP endpoint, else the URI) or `uri` (sip:user@address:port, the last address). */
        target: z.enum(['endpoint', 'uri']).default('endpoint'),
      })
      .optional(),
  })
  .refine((r) => r.via !== 'ami' || r.ami !== undefined, { message: 'via: ami needs the ami section (host, username, secret)', path: ['ami'] })
  .default({ via: 'direct' });

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
  /**
   * baseUrl: the URL phones fetch their files from (`http_base_url` in templates, before the
   * tenant's key), e.g. `https://prov.example.org:8667/`. Unset: the address and port the phone's
   * request arrived on (`render --mac` then needs `--base-url`, or uses http.host).
   */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** uploads: what a phone's PUT (Polycom logs and overrides) does: `discard` (answered 204, counted) or `store` (kept under stateDir/uploads/<mac>/). */
  uploads: z.enum(['discard', 'store']).default('discard'),
  /** maxUploadBytes caps one PUT body (413 beyond); stored uploads keep at most this much per file. */
  maxUploadBytes: z.number().int().min(1024).max(16 << 20).default(1 << 20),
  /** configs declared in this file (labs): seeded into the store at start and on SIGHUP; the file wins for what it declares. */
  configs: z.array(declaredConfig).max(10_000).default([]),
  /** devices declared in this file (labs): seeded into the store like configs. */
  devices: z.array(declaredDevice).max(100_000).default([]),
  /** resync: how `devices sync` sends the NOTIFY (direct, or through Asterisk's AMI). */
  resync: resyncSchema,
});

/** PhonesConfig is the validated `phones` section. */
export type PhonesConfig = DeepReadonly<z.output<typeof phonesSchema>>;
