/**
 * admin.ts: the administration of SIP phone devices as service functions, shared by the CLI
 * (`provisiond devices add|set|del|set-profile`) and the coming admin API. Every refusal is a
 * ProvError PROVD_ERR_DEVICE naming what is wrong, checked before anything is written: a MAC
 * that is not one (any of aa:bb:.., AA-BB-.., aabbcc.. is accepted), a profile that is not
 * loaded, a tenant that is not configured, a config the tenant lacks, a user the tenant lacks
 * (configuration or store: the UserDirectory), a MAC already recorded or not recorded.
 * What is accepted but suspicious (a model the profile does not list) comes back as a warning.
 */
import { ProvError } from '../errors';
import type { PhoneJson, PhoneJsonMap, PhonePatch, PhoneRepository, StoredPhone } from '../store/repository';
import type { Profile } from './profile';
import { normalizeMacLoose } from './service';

/** DeviceAdminDeps: the store, the loaded profiles, the configured tenants and who their users are. */
export interface DeviceAdminDeps {
  readonly phones: PhoneRepository;
  readonly profiles: ReadonlyMap<string, Profile>;
  /** tenants: the configured tenant names. */
  readonly tenants: ReadonlySet<string>;
  readonly defaultTenant: string;
  /** userExists: the tenant has this user (configuration or store). */
  readonly userExists: (tenant: string, name: string) => boolean;
  /** declared: MACs of phones.devices (deleting one only lasts until the next start). */
  readonly declared?: ReadonlySet<string>;
}

/** AddDevice is `devices add`'s input. */
export interface AddDevice {
  readonly mac: string;
  readonly profile: string;
  readonly model?: string | undefined;
  readonly config?: string | undefined;
  readonly tenant?: string | undefined;
  readonly users?: readonly string[];
  /** options: `k=v` strings. */
  readonly options?: readonly string[];
}

/** SetDevice is `devices set`'s input; an absent field is left as it is. */
export interface SetDevice {
  readonly profile?: string | undefined;
  readonly model?: string | undefined;
  /** config: a config id, or null for the tenant's default config. */
  readonly config?: string | null | undefined;
  /** users: the new list, in line order ([] clears). */
  readonly users?: readonly string[] | undefined;
  /** options: `k=v` merged into the device's options; `k=` removes k. */
  readonly options?: readonly string[] | undefined;
  readonly reset?: boolean | undefined;
}

/** DeviceResult is the device after a change, and what looked wrong without being refused. */
export interface DeviceResult {
  readonly device: StoredPhone;
  readonly warnings: readonly string[];
}

const refuse = (message: string): never => {
  throw new ProvError('PROVD_ERR_DEVICE', message);
};

/** deviceMac normalises a MAC given in any usual form, or refuses it. */
export function deviceMac(raw: string): string {
  return normalizeMacLoose(raw) ?? refuse(`${JSON.stringify(raw.slice(0, 40))} is not a MAC address (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabbccddeeff)`);
}

/** loadedProfile returns the profile, or refuses naming the loaded ones. */
function loadedProfile(deps: DeviceAdminDeps, name: string): Profile {
  return deps.profiles.get(name) ?? refuse(`profile '${name}' is not loaded (loaded: ${[...deps.profiles.keys()].join(', ') || 'none'}; provisiond phones profiles)`);
}

/** modelWarnings says when a profile that lists models does not list this one (its templates fall back to base.tpl). */
function modelWarnings(p: Profile, model: string | null | undefined): string[] {
  if (model === undefined || model === null || p.models.size === 0 || p.models.has(model)) return [];
  return [`model '${model}' is not one of profile ${p.vendor}'s models: its files come from ${model}.tpl if a template folder has one, else base.tpl`];
}

/** checkUsers refuses a user the tenant lacks; `alice@tenant` is accepted for alice. */
function checkUsers(deps: DeviceAdminDeps, tenant: string, users: readonly string[]): string[] {
  return users.map((u) => {
    const at = u.lastIndexOf('@');
    const name = at < 0 ? u : u.slice(0, at);
    if (at >= 0 && u.slice(at + 1).toLowerCase() !== tenant) refuse(`user ${u} is not of the device's tenant ${tenant}`);
    if (name === '' || !deps.userExists(tenant, name)) refuse(`user '${name}' does not exist in tenant ${tenant} (provisiond user list)`);
    return name.toLowerCase();
  });
}

/** parseOptions turns `k=v` strings into a map; an empty value (`k=`) is null (removal, for set). */
function parseOptions(list: readonly string[]): Record<string, PhoneJson> {
  const out: Record<string, PhoneJson> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) refuse(`--option '${kv.slice(0, 60)}' is not key=value`);
    const k = kv.slice(0, eq);
    if (k.length > 64 || !/^[A-Za-z0-9_.-]+$/.test(k)) refuse(`option name '${k.slice(0, 64)}' must be 1-64 characters of A-Z a-z 0-9 _ . -`);
    const v = kv.slice(eq + 1);
    out[k] = v === '' ? null : v;
  }
  return out;
}

/** checkConfig refuses a config id the tenant lacks. */
function checkConfig(deps: DeviceAdminDeps, tenant: string, config: string | null | undefined): void {
  if (config === undefined || config === null) return;
  if (deps.phones.getConfig(tenant, config) === undefined) refuse(`config '${config}' does not exist in tenant ${tenant}`);
}

/** addDevice records a phone (createdBy admin: its provisioning window opens). */
export function addDevice(deps: DeviceAdminDeps, d: AddDevice): DeviceResult {
  const mac = deviceMac(d.mac);
  const profile = loadedProfile(deps, d.profile);
  const tenant = (d.tenant ?? deps.defaultTenant).toLowerCase();
  if (!deps.tenants.has(tenant)) refuse(`tenant ${tenant} is not configured (provisioning.tenants)`);
  const have = deps.phones.get(mac);
  if (have !== undefined) refuse(`MAC ${mac} is already recorded (tenant ${have.tenant}, profile ${have.profile}): use devices set, or devices del first`);
  checkConfig(deps, tenant, d.config);
  const users = checkUsers(deps, tenant, d.users ?? []);
  const options = Object.fromEntries(Object.entries(parseOptions(d.options ?? [])).filter(([, v]) => v !== null));
  const device = deps.phones.add({ mac, tenant, profile: profile.vendor, model: d.model ?? null, config: d.config ?? null, users, options, createdBy: 'admin' });
  return { device, warnings: modelWarnings(profile, d.model) };
}

/** setDevice changes a recorded phone; a change of config or users, or reset, reopens its provisioning window. */
export function setDevice(deps: DeviceAdminDeps, macIn: string, s: SetDevice): DeviceResult {
  const mac = deviceMac(macIn);
  const have = deps.phones.get(mac) ?? refuse(`no phone with MAC ${mac} (provisiond devices list --kind phones)`);
  const profile = s.profile === undefined ? deps.profiles.get(have.profile) : loadedProfile(deps, s.profile);
  checkConfig(deps, have.tenant, s.config);
  const users = s.users === undefined ? undefined : checkUsers(deps, have.tenant, s.users);
  let options: PhoneJsonMap | undefined;
  if (s.options !== undefined && s.options.length > 0) {
    const merged: Record<string, PhoneJson> = { ...have.options };
    for (const [k, v] of Object.entries(parseOptions(s.options))) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    options = merged;
  }
  const patch: PhonePatch = {
    ...(s.profile !== undefined ? { profile: s.profile } : {}),
    ...(s.model !== undefined ? { model: s.model } : {}),
    ...(s.config !== undefined ? { config: s.config } : {}),
    ...(users !== undefined ? { users } : {}),
    ...(options !== undefined ? { options } : {}),
    ...(s.reset === true ? { reset: true } : {}),
  };
  const device = deps.phones.update(mac, patch) ?? refuse(`no phone with MAC ${mac} (deleted meanwhile)`);
  const warnings = profile === undefined ? [`profile '${have.profile}' is not loaded: the phone gets 404 until it is (devices set-profile)`] : modelWarnings(profile, s.model);
  return { device, warnings };
}

/** deleteDevice forgets a phone; a phone declared in the configuration file comes back at the next start (a warning says so). */
export function deleteDevice(deps: DeviceAdminDeps, macIn: string): { readonly warnings: readonly string[] } {
  const mac = deviceMac(macIn);
  if (!deps.phones.delete(mac)) refuse(`no phone with MAC ${mac}`);
  return { warnings: deps.declared?.has(mac) === true ? [`${mac} is declared in phones.devices of the configuration file: it is recorded again at the next start or reload`] : [] };
}

/** setProfileAll moves every phone of profile `from` (of one tenant, or all) to `to` in one transaction; `to` must be loaded, `from` need not be. */
export function setProfileAll(deps: DeviceAdminDeps, from: string, to: string, tenant?: string): number {
  loadedProfile(deps, to);
  if (from === to) refuse(`--from and --to are both '${from}'`);
  if (tenant !== undefined && !deps.tenants.has(tenant.toLowerCase())) refuse(`tenant ${tenant} is not configured (provisioning.tenants)`);
  return deps.phones.setProfile(from, to, tenant?.toLowerCase());
}
