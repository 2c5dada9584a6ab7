/**
 * service.ts: the phones room as one object the HTTP face and the CLI share, so that what a
 * phone gets over HTTP and what `provisiond render --mac` prints come from the same code.
 *
 * PhoneService holds, for one validated configuration: the loaded profiles (domain.ts), one
 * template lookup per vendor (custom `phones.templatesDir/<vendor>` before the profile's own
 * `templates/`), the user directory (configuration then store), the key ring, and the store's
 * phone repository. It resolves the tenant of a request (`resolveTenant`: the URL key, or the
 * default tenant when it is `auth: none`), answers a file (`answer`, serve.ts) and renders one
 * device's file as the phone would get it (`renderDevice`).
 *
 * `syncDeclared` seeds the configs and devices declared in the YAML file (`phones.configs`,
 * `phones.devices`) into the store: the file wins for what it declares, an unchanged
 * declaration writes nothing (so a restart does not reopen a device's provisioning window).
 */
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { UserDirectory } from '../identity/auth';
import { strategyOf, type IdentityConfig } from '../identity/config';
import { KeyRing } from '../identity/keys';
import { addressInAny, parseCidr, type Cidr } from '../net/ipv4';
import { normalizeMac } from '../devices/device';
import { ProvError, errorMessage } from '../errors';
import type { PhoneJsonMap, PhoneRepository, SyncKeyRepository, SyncUserRepository } from '../store/repository';
import { createTemplateLookup, diskFiles, vendorRoots, type TemplateFiles, type TemplateLookup } from '../templates/lookup';
import type { PhonesConfig } from './config';
import type { ContextServer, ContextUser } from './context';
import type { PhonesDomain } from './domain';
import { PHONE_FILTERS } from './filters';
import type { Profile } from './profile';
import { fileNameFor } from './profile';
import { staticDirsFor } from './static';
import { answerPhoneFile, type PhoneFileAnswer, type PhoneFileRequest, type ServeDeps, type ServeTenant } from './serve';
import { pnpTarget, type PnpDecision, type PnpQuery } from './pnp';

/** PhoneServiceConfig is the part of the configuration the phones room reads. */
export interface PhoneServiceConfig {
  readonly phones: PhonesConfig;
  readonly provisioning: Pick<IdentityConfig, 'tenants' | 'defaultDomain'>;
}

/** PhoneServiceDeps: the store's repositories, the loaded domain, the clock (tests). */
export interface PhoneServiceDeps {
  readonly phones: PhoneRepository;
  /** users / keys: the SQLite store's synchronous core (Store.sync): the phone room renders without waiting. */
  readonly users?: Pick<SyncUserRepository, 'get'> | undefined;
  readonly keys?: Pick<SyncKeyRepository, 'list'> | undefined;
  readonly domain: PhonesDomain;
  readonly now?: () => Date;
  /** files: the template file access (tests inject an in-memory tree). */
  readonly files?: TemplateFiles;
}

/** TenantRefusal says why a phone request reaches no tenant: every one is a 404 (a probe learns nothing). */
export type TenantRefusal = 'bad-key' | 'key-required' | 'unknown-tenant' | 'not-allowed';

/** TenantResolution is resolveTenant's answer. */
export type TenantResolution = { readonly ok: true; readonly tenant: ServeTenant } | { readonly ok: false; readonly outcome: TenantRefusal };

/** ServerPlace is where a request arrived (the socket's local side), for the default base URL. */
export interface ServerPlace {
  readonly tls: boolean;
  readonly address: string;
  readonly port: number;
}

/** baseUrlFor is `phones.baseUrl` when set, else the scheme, address and port the request arrived on. */
export function baseUrlFor(cfg: Pick<PhonesConfig, 'baseUrl'>, place: ServerPlace): string {
  if (cfg.baseUrl !== undefined) return cfg.baseUrl.endsWith('/') ? cfg.baseUrl : `${cfg.baseUrl}/`;
  const a = place.address.startsWith('::ffff:') && place.address.includes('.') ? place.address.slice(7) : place.address;
  const host = a.includes(':') ? `[${a}]` : a;
  return `${place.tls ? 'https' : 'http'}://${host}:${place.port}/`;
}

/** PhoneService answers phone file requests for one configuration; see the file comment. */
export class PhoneService {
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly keyRing: KeyRing;
  private readonly directory: UserDirectory;
  private readonly lookups = new Map<string, TemplateLookup>();
  private readonly allowFrom = new Map<string, readonly Cidr[]>();
  private readonly now: () => Date;
  /** declared are the MACs of phones.devices (autoprovision `known` counts them as inventory). */
  private readonly declared: ReadonlySet<string>;
  /** declaredPhones: phones.devices by MAC (profile, tenant, model), for pnpTarget; built on first use. */
  private declaredPhones: Map<string, { readonly profile: string; readonly tenant: string; readonly model?: string | undefined }> | undefined;

  constructor(
    readonly config: PhoneServiceConfig,
    private readonly deps: PhoneServiceDeps,
  ) {
    this.now = deps.now ?? ((): Date => new Date());
    this.profiles = new Map([...deps.domain.profiles].map(([v, l]) => [v, l.profile]));
    const p = config.provisioning;
    const configKeys = new Map<string, string>();
    for (const [domain, t] of Object.entries(p.tenants)) {
      if (t.urlKey !== undefined) configKeys.set(domain, t.urlKey);
      this.allowFrom.set(
        domain,
        t.allowFrom.flatMap((c) => {
          const r = parseCidr(c);
          return r.ok ? [r.value] : [];
        }),
      );
    }
    this.keyRing = new KeyRing(configKeys, undefined, deps.now === undefined ? undefined : () => this.now().getTime(), deps.keys);
    this.directory = new UserDirectory(p, undefined, deps.users);
    this.declared = new Set(config.phones.devices.map((d) => normalizeMacLoose(d.mac) ?? ''));
    const files = deps.files ?? diskFiles;
    for (const [vendor, profile] of this.profiles) {
      const shipped = join(dirname(profile.source), 'templates');
      const roots = config.phones.templatesDir !== undefined ? vendorRoots(config.phones.templatesDir, vendor, shipped) : [{ label: 'shipped', dir: shipped }];
      this.lookups.set(vendor, createTemplateLookup(roots, files, { filters: PHONE_FILTERS }));
    }
  }

  /** lookup is a vendor's template lookup. */
  lookup(vendor: string): TemplateLookup | undefined {
    return this.lookups.get(vendor);
  }

  /**
   * resolveTenant: a URL key selects its tenant (a wrong or expired key: `bad-key`); without a
   * key, the default tenant when its auth is `none` (a tenant that wants a key or credentials
   * never serves phones unkeyed: `key-required`). The tenant's allowFrom applies to phones too.
   */
  resolveTenant(key: string | undefined, ip: string): TenantResolution {
    const tenants = this.config.provisioning.tenants;
    let name: string;
    if (key !== undefined) {
      const t = this.keyRing.tenantOfNow(key);
      if (t === undefined || tenants[t] === undefined) return { ok: false, outcome: 'bad-key' };
      name = t;
    } else {
      name = this.config.provisioning.defaultDomain;
      const t = tenants[name];
      if (t === undefined) return { ok: false, outcome: 'unknown-tenant' };
      if (strategyOf(t) !== 'none') return { ok: false, outcome: 'key-required' };
    }
    const nets = this.allowFrom.get(name) ?? [];
    if (nets.length > 0 && !addressInAny(ip, nets)) return { ok: false, outcome: 'not-allowed' };
    const attrs = tenants[name]?.attributes ?? {};
    const attributes = Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, String(v)]));
    return { ok: true, tenant: { name, attributes, ...(key !== undefined ? { urlKey: key } : {}) } };
  }

  /** serveDeps are answerPhoneFile's dependencies for one tenant and base URL. */
  serveDeps(tenant: ServeTenant, server: ContextServer, phones: PhoneRepository = this.deps.phones): ServeDeps {
    const c = this.config.phones;
    return {
      profiles: this.profiles,
      phones,
      lookup: (vendor) => this.lookups.get(vendor),
      user: (domain, name) => this.user(domain, name),
      now: this.now,
      tenant,
      server,
      autoprovision: c.autoprovision,
      natMode: c.natMode,
      passwordWindow: c.passwordWindow === 0 ? undefined : c.passwordWindow,
      inventory: (mac) => phones.get(mac) !== undefined || this.declared.has(mac),
    };
  }

  /** answer answers one phone file request for a resolved tenant; `opts.admit` applies the device caps to auto-creation. */
  answer(req: PhoneFileRequest, tenant: ServeTenant, server: ContextServer, phones?: PhoneRepository, opts: Pick<ServeDeps, 'admit'> = {}): PhoneFileAnswer {
    const deps = this.serveDeps(tenant, server, phones);
    return answerPhoneFile(req, opts.admit === undefined ? deps : { ...deps, admit: opts.admit });
  }

  /**
   * renderDevice renders file `file` (default: the device's first per-device file) of the device
   * with this MAC exactly as the phone gets it from `baseUrl` under `key` (the tenant's
   * configured urlKey when not given): the request it builds is the phone's own, from the
   * device's last address and without a User-Agent. Throws PROVD_ERR_RENDER.
   */
  renderDevice(macIn: string, opts: { readonly file?: string; readonly baseUrl: string; readonly key?: string }): { readonly file: string; readonly answer: PhoneFileAnswer } {
    const mac = normalizeMacLoose(macIn);
    if (mac === undefined) throw new ProvError('PROVD_ERR_RENDER', `--mac ${JSON.stringify(macIn)} is not a MAC address`);
    const device = this.deps.phones.get(mac);
    if (device === undefined) throw new ProvError('PROVD_ERR_RENDER', `no phone with MAC ${mac} (provisiond devices list)`);
    const profile = this.profiles.get(device.profile);
    if (profile === undefined) throw new ProvError('PROVD_ERR_RENDER', `phone ${mac} has profile ${device.profile}, which is not loaded (provisiond phones profiles)`);
    // The first per-device file whose name this device can fill in (Snom's snom{model}-{MAC}.htm needs a model).
    const file = opts.file ?? profile.deviceFiles.map((p) => fileNameFor(p, mac, device.model ?? undefined)).find((f) => f !== undefined);
    if (file === undefined) {
      throw new ProvError('PROVD_ERR_RENDER', profile.deviceFiles.length === 0 ? `profile ${profile.vendor} has no per-device file: name one with --file` : `no per-device file of profile ${profile.vendor} can be named without the phone's model: name one with --file, or set the model (devices set ${mac} --model M)`);
    }
    const t = this.config.provisioning.tenants[device.tenant];
    if (t === undefined) throw new ProvError('PROVD_ERR_RENDER', `phone ${mac} belongs to tenant ${device.tenant}, which is not configured`);
    const key = opts.key ?? t.urlKey;
    const attributes = Object.fromEntries(Object.entries(t.attributes).map(([k, v]) => [k, String(v)]));
    const tenant: ServeTenant = { name: device.tenant, attributes, ...(key !== undefined ? { urlKey: key } : {}) };
    const answer = answerPhoneFile({ path: file, ip: device.ip ?? '127.0.0.1' }, { ...this.serveDeps(tenant, { httpBaseUrl: opts.baseUrl }), autoprovision: 'off' });
    return { file, answer };
  }

  /**
   * staticDirs lists where static files are looked up for a request of `vendor` (its site then
   * shipped `files/` folders), or every loaded vendor's, in vendor order, when it is unknown.
   */
  staticDirs(vendor: string | undefined): readonly string[] {
    const vendors = vendor !== undefined && this.profiles.has(vendor) ? [vendor] : [...this.profiles.keys()].sort();
    return vendors.flatMap((v) => staticDirsFor(v, this.deps.domain.shippedDir, this.deps.domain.siteDir) ?? []);
  }

  /**
   * pnpTarget decides whether a SIP PnP SUBSCRIBE from this MAC and address gets a NOTIFY, and
   * with which URL (pnp.ts): `face` is the SIP face's tenant for unknown phones (default
   * provisioning.defaultDomain) and its allow-list.
   */
  pnpTarget(q: PnpQuery, face: { readonly tenant?: string | undefined; readonly allowFrom: readonly Cidr[] }): PnpDecision {
    const p = this.config.provisioning;
    this.declaredPhones ??= new Map(
      this.config.phones.devices.flatMap((d) => {
        const mac = normalizeMacLoose(d.mac);
        return mac === undefined ? [] : [[mac, { profile: d.profile, tenant: d.tenant ?? p.defaultDomain, model: d.model }] as const];
      }),
    );
    return pnpTarget(q, {
      profiles: this.profiles,
      phones: this.deps.phones,
      declared: this.declaredPhones,
      autoprovision: this.config.phones.autoprovision,
      provisioning: p,
      tenantAllow: this.allowFrom,
      tenant: face.tenant ?? p.defaultDomain,
      allowFrom: face.allowFrom,
    });
  }

  /** clear forgets the compiled templates (a reload builds a new service anyway). */
  clear(): void {
    for (const l of this.lookups.values()) l.clear();
  }

  private user(domain: string, name: string): ContextUser | undefined {
    const r = this.directory.lookupNow(domain, name);
    return r === undefined ? undefined : { name: r.name, domain: r.domain, attributes: r.attributes };
  }
}

/** normalizeMacLoose accepts `aa:bb:..`, `aa-bb-..` and `aabbcc…` in any case. */
export function normalizeMacLoose(raw: string): string | undefined {
  const hex = raw.trim().replace(/[:-]/g, '');
  if (!/^[0-9A-Fa-f]{12}$/.test(hex)) return undefined;
  return normalizeMac(hex.replace(/(..)(?!$)/g, '$1:'));
}

/** SyncReport says what syncDeclared changed and what it could not write. */
export interface SyncReport {
  readonly configs: number;
  readonly devices: number;
  readonly problems: readonly string[];
}

/**
 * syncDeclared writes the configs and devices declared in `phones` into the store: configs
 * parents first (putConfig refuses unknown parents), then devices (added by `admin`, or updated
 * when a declared field differs: that reopens the provisioning window, as an admin's change
 * does). Unchanged declarations write nothing. Problems (an unknown parent, a device owned by
 * another tenant) are returned, never thrown past the caller.
 */
export function syncDeclared(repo: PhoneRepository, cfg: Pick<PhonesConfig, 'configs' | 'devices'>, defaultDomain: string, at?: string): SyncReport {
  const problems: string[] = [];
  let configs = 0;
  let devices = 0;
  const pending = cfg.configs.map((c) => ({ ...c, tenant: c.tenant ?? defaultDomain }));
  // Parents first: repeat passes while some config's parents are all present.
  for (let pass = 0; pending.length > 0 && pass <= cfg.configs.length; pass++) {
    for (let i = 0; i < pending.length; ) {
      const c = pending[i];
      if (c === undefined) break;
      const ready = c.parents.every((p) => repo.getConfig(c.tenant, p) !== undefined && !pending.some((o) => o !== c && o.tenant === c.tenant && o.id === p));
      if (!ready) {
        i++;
        continue;
      }
      pending.splice(i, 1);
      const have = repo.getConfig(c.tenant, c.id);
      if (have !== undefined && have.role === c.role && isDeepStrictEqual([...have.parents], [...c.parents]) && isDeepStrictEqual(have.raw, c.raw)) continue;
      try {
        repo.putConfig({ tenant: c.tenant, id: c.id, parents: c.parents, raw: c.raw as PhoneJsonMap, role: c.role }, at);
        configs++;
      } catch (err) {
        problems.push(`phones.configs ${c.tenant}/${c.id}: ${errorMessage(err)}`);
      }
    }
  }
  for (const c of pending) problems.push(`phones.configs ${c.tenant}/${c.id}: a parent is unknown or the parents form a cycle (${c.parents.join(', ')})`);
  for (const d of cfg.devices) {
    const mac = normalizeMacLoose(d.mac);
    const tenant = d.tenant ?? defaultDomain;
    if (mac === undefined) {
      problems.push(`phones.devices ${d.mac}: not a MAC address`);
      continue;
    }
    try {
      const have = repo.get(mac);
      if (have === undefined) {
        repo.add({ mac, tenant, profile: d.profile, model: d.model ?? null, config: d.config ?? null, users: d.users, options: d.options as PhoneJsonMap, createdBy: 'admin' }, at);
        devices++;
      } else if (have.tenant !== tenant) {
        problems.push(`phones.devices ${mac}: recorded under tenant ${have.tenant}, declared under ${tenant}; left as it is (provisiond devices del ${mac} first)`);
      } else {
        const same =
          have.profile === d.profile &&
          (have.model ?? undefined) === (d.model ?? have.model ?? undefined) &&
          (have.config ?? undefined) === d.config &&
          isDeepStrictEqual([...have.users], [...d.users]) &&
          isDeepStrictEqual(have.options, d.options);
        if (!same) {
          repo.update(mac, { profile: d.profile, ...(d.model !== undefined ? { model: d.model } : {}), config: d.config ?? null, users: d.users, options: d.options as PhoneJsonMap }, at);
          devices++;
        }
      }
    } catch (err) {
      problems.push(`phones.devices ${mac}: ${errorMessage(err)}`);
    }
  }
  return { configs, devices, problems };
}
