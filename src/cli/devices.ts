/**
 * devices.ts: `provisiond devices …`, the device inventory: the Jitsi clients that asked for
 * provisioning (recorded by the HTTP face) and the SIP desk phones (the store's PhoneRepository,
 * administered here: add, set, del, set-profile; the service functions are src/phones/admin.ts).
 *
 * `devices list` keeps its Jitsi table and its JSON array; phones are a second table (`--kind`
 * picks one; a phone filter lists phones only) and `--kind phones --json` their JSON array.
 * The phone's config is `--device-config`: `--config` is the configuration file everywhere.
 * Every phone command first seeds `phones.configs`/`phones.devices` of the configuration file
 * into the store (syncDeclared, what the daemon does at start), so declared phones are seen.
 */
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { addDevice, deleteDevice, deviceMac, setDevice, setProfileAll, type DeviceAdminDeps } from '../phones/admin';
import { loadPhonesDomain } from '../phones/domain';
import { syncDeclared } from '../phones/service';
import { matchesClient } from '../service/clients';
import { deviceAdminDeps } from '../service/phones';
import type { Device, PhoneFilter, StoredPhone, Store } from '../store/repository';
import { adminRun, io, storeExists, table, withConfig, withStore, UsageError, type Io, type Outcome } from './common';
import { MAX_CONCURRENCY } from '../service/resync';
import { devicesSync } from './sync';

/** DEVICE_KINDS: what `devices list` shows. */
const DEVICE_KINDS = ['all', 'clients', 'phones'] as const;

/** ListOptions are `devices list`'s options. */
export interface ListOptions {
  readonly json: boolean;
  readonly kind?: (typeof DEVICE_KINDS)[number] | undefined;
  readonly tenant?: string | undefined;
  readonly profile?: string | undefined;
  readonly model?: string | undefined;
  readonly deviceConfig?: string | undefined;
  readonly limit?: number | undefined;
  readonly offset?: number | undefined;
}

/** registerDevices adds the `devices` command group. */
export function registerDevices(y: Argv, out: Outcome): Argv {
  const run = (config: string | undefined, f: (cfg: Config) => unknown): void => {
    out.pending = adminRun(config, f);
  };
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return y.command('devices', 'the device inventory: Jitsi clients and SIP desk phones', (d) =>
    d
      .command(
        'list',
        'list the Jitsi clients that asked for provisioning and the SIP phones',
        (a) =>
          withConfig(a)
            .option('json', { type: 'boolean', default: false })
            .option('kind', { type: 'string', choices: DEVICE_KINDS, describe: 'clients (Jitsi), phones, or all (default; --json: clients, as before phones existed)' })
            .option('tenant', { type: 'string', describe: 'only this tenant' })
            .option('profile', { type: 'string', describe: 'phones of this vendor profile' })
            .option('model', { type: 'string', describe: 'phones of this model' })
            .option('device-config', { type: 'string', describe: 'phones assigned this config id' })
            .option('limit', { type: 'number', describe: 'at most this many rows per kind' })
            .option('offset', { type: 'number', describe: 'skip this many rows per kind (with --limit: paging)' })
            .check((a) => {
              for (const k of ['limit', 'offset'] as const) {
                const v = a[k];
                if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new UsageError(`--${k} must be a whole number ≥ 0`);
              }
              const phoneFilter = a.profile !== undefined || a.model !== undefined || a['device-config'] !== undefined;
              if (phoneFilter && a.kind === 'clients') throw new UsageError('--profile, --model and --device-config filter phones, not --kind clients');
              return true;
            }),
        (a) =>
          run(a.config, (cfg) =>
            devicesList(io(), cfg, { json: a.json, kind: a.kind, tenant: a.tenant, profile: a.profile, model: a.model, deviceConfig: a['device-config'], limit: a.limit, offset: a.offset }),
          ),
      )
      .command(
        'show <mac>',
        'everything recorded about one SIP phone',
        (a) => withConfig(a).positional('mac', { type: 'string', demandOption: true, describe: 'aa:bb:cc:dd:ee:ff, AA-BB-…, aabbcc…' }).option('json', { type: 'boolean', default: false }),
        (a) => run(a.config, (cfg) => devicesShow(io(), cfg, a.mac, { json: a.json })),
      )
      .command(
        'add <mac>',
        'record a SIP phone (opens its provisioning window)',
        (a) =>
          withConfig(a)
            .positional('mac', { type: 'string', demandOption: true })
            .option('profile', { type: 'string', demandOption: true, describe: 'a loaded vendor profile (provisiond phones profiles)' })
            .option('model', { type: 'string', describe: 'the model (its template, its line count)' })
            .option('device-config', { type: 'string', describe: 'a config id of the tenant (default: the tenant\'s default config)' })
            .option('tenant', { type: 'string', describe: 'a configured tenant (default: provisioning.defaultDomain)' })
            .option('user', { type: 'string', array: true, default: [] as string[], describe: 'a user of the tenant, in line order (repeatable)' })
            .option('option', { type: 'string', array: true, default: [] as string[], describe: 'a device option key=value (repeatable; XX_options in templates)' }),
        (a) =>
          run(a.config, (cfg) =>
            withPhones(cfg, (deps) => {
              const r = addDevice(deps, { mac: a.mac, profile: a.profile, model: a.model, config: a['device-config'], tenant: a.tenant, users: a.user.map(String), options: a.option.map(String) });
              warn(r.warnings);
              io().stdout.write(`phone ${r.device.mac} added (tenant ${r.device.tenant}, profile ${r.device.profile})\n`);
            }),
          ),
      )
      .command(
        'set <mac>',
        'change a SIP phone; a new config or users, or --reset, reopen its provisioning window',
        (a) =>
          withConfig(a)
            .positional('mac', { type: 'string', demandOption: true })
            .option('profile', { type: 'string', describe: 'another loaded vendor profile' })
            .option('model', { type: 'string' })
            .option('device-config', { type: 'string', describe: 'a config id of the device\'s tenant' })
            .option('default-config', { type: 'boolean', default: false, describe: 'use the tenant\'s default config' })
            .option('user', { type: 'string', array: true, describe: 'the users, in line order (replaces the list; repeatable)' })
            .option('clear-users', { type: 'boolean', default: false, describe: 'assign no user' })
            .option('option', { type: 'string', array: true, describe: 'key=value merged into the options; key= removes key (repeatable)' })
            .option('reset', { type: 'boolean', default: false, describe: 'reopen the provisioning window (the phone gets its passwords again)' })
            .check((a) => {
              if (a.user !== undefined && a['clear-users']) throw new UsageError('--user and --clear-users exclude each other');
              if (a['device-config'] !== undefined && a['default-config']) throw new UsageError('--device-config and --default-config exclude each other');
              const any = [a.profile, a.model, a['device-config'], a.user, a.option].some((v) => v !== undefined) || a['default-config'] || a['clear-users'] || a.reset;
              if (!any) throw new UsageError('devices set: nothing to change (--profile, --model, --device-config, --default-config, --user, --clear-users, --option, --reset)');
              return true;
            }),
        (a) =>
          run(a.config, (cfg) =>
            withPhones(cfg, (deps) => {
              const users = a['clear-users'] ? [] : a.user?.map(String);
              const r = setDevice(deps, a.mac, {
                profile: str(a.profile),
                model: str(a.model),
                config: a['default-config'] ? null : str(a['device-config']),
                users,
                options: a.option?.map(String),
                reset: a.reset,
              });
              warn(r.warnings);
              io().stdout.write(`phone ${r.device.mac} changed${a.reset ? ' (provisioning window reopened)' : ''}\n`);
            }),
          ),
      )
      .command(
        'del <mac>',
        'forget a SIP phone',
        (a) => withConfig(a).positional('mac', { type: 'string', demandOption: true }),
        (a) =>
          run(a.config, (cfg) =>
            withPhones(cfg, (deps) => {
              const mac = deviceMac(a.mac);
              warn(deleteDevice(deps, mac).warnings);
              io().stdout.write(`phone ${mac} deleted\n`);
            }),
          ),
      )
      .command(
        'set-profile',
        'move every phone of one profile to another, in one transaction (after renaming or replacing a profile)',
        (a) =>
          withConfig(a)
            .option('from', { type: 'string', demandOption: true, describe: 'the current profile (need not be loaded)' })
            .option('to', { type: 'string', demandOption: true, describe: 'a loaded profile' })
            .option('tenant', { type: 'string', describe: 'only this tenant\'s phones' }),
        (a) =>
          run(a.config, (cfg) =>
            withPhones(cfg, (deps) => {
              const n = setProfileAll(deps, a.from, a.to, a.tenant);
              const declared = cfg.phones.devices.filter((d) => d.profile === a.from && (a.tenant === undefined || (d.tenant ?? cfg.provisioning.defaultDomain) === a.tenant.toLowerCase()));
              if (declared.length > 0) warn([`${declared.length} of them ${declared.length === 1 ? 'is' : 'are'} declared in phones.devices with profile ${a.from}: the next start or reload sets ${declared.length === 1 ? 'it' : 'them'} back; change the configuration file too`]);
              io().stdout.write(`${n} phone${n === 1 ? '' : 's'} moved from profile ${a.from} to ${a.to}${a.tenant === undefined ? '' : ` (tenant ${a.tenant})`}\n`);
            }),
          ),
      )
      .command(
        'sync [mac]',
        "ask phones to fetch their configuration now: the vendor's SIP NOTIFY to each one's last known address; exit 6 if any did not accept",
        (a) =>
          withConfig(a)
            .positional('mac', { type: 'string', describe: 'one phone (aa:bb:cc:dd:ee:ff, AA-BB-…, aabbcc…)' })
            .option('device-config', { type: 'string', describe: 'every phone whose config is C or inherits from it' })
            .option('all', { type: 'boolean', default: false, describe: 'every phone (of --tenant)' })
            .option('tenant', { type: 'string', describe: 'with --all or --device-config: only this tenant' })
            .option('reboot', { type: 'boolean', default: false, describe: "send the profile's reboot event instead of its resync event" })
            .option('timeout', { type: 'number', describe: 'seconds to wait for each phone (default and maximum 32: SIP Timer F)' })
            .option('concurrency', { type: 'number', describe: `phones notified at once (default 32, at most ${MAX_CONCURRENCY})` })
            .option('json', { type: 'boolean', default: false })
            .check((a) => {
              const picks = [a.mac !== undefined, a['device-config'] !== undefined, a.all].filter(Boolean).length;
              if (picks !== 1) throw new UsageError('devices sync: name one of MAC, --device-config C or --all');
              if (a.tenant !== undefined && a.mac !== undefined) throw new UsageError('--tenant goes with --all or --device-config, not a MAC');
              if (a.timeout !== undefined && !(a.timeout > 0 && a.timeout <= 32)) throw new UsageError('--timeout is a number of seconds above 0, at most 32');
              if (a.concurrency !== undefined && !(Number.isInteger(a.concurrency) && a.concurrency >= 1 && a.concurrency <= MAX_CONCURRENCY)) throw new UsageError(`--concurrency is a whole number from 1 to ${MAX_CONCURRENCY}`);
              return true;
            }),
        (a) =>
          run(a.config, (cfg) =>
            devicesSync(io(), cfg, { mac: a.mac, deviceConfig: a['device-config'], all: a.all, tenant: a.tenant, reboot: a.reboot, timeoutS: a.timeout, concurrency: a.concurrency, json: a.json }),
          ),
      )
      .demandCommand(1, 'name a devices command: list, show, add, set, del, set-profile, sync'),
  );
}

/** warn prints warnings on stderr. */
function warn(warnings: readonly string[], out: Io = io()): void {
  for (const w of warnings) out.stderr.write(`provisiond: warning: ${w}\n`);
}

/**
 * seedDeclared writes the configuration file's phones.configs/devices into the store, as the
 * daemon does at start, and prints its problems as warnings.
 */
function seedDeclared(cfg: Config, s: Store): void {
  const r = syncDeclared(s.phones, cfg.phones, cfg.provisioning.defaultDomain);
  warn(r.problems);
}

/** withPhones opens the store (seeded with the declared phones) and runs f with the admin dependencies. */
export async function withPhones<T>(cfg: Config, f: (deps: DeviceAdminDeps, s: Store) => T): Promise<T> {
  const domain = loadPhonesDomain(cfg.phones);
  return withStore(cfg, (s) => {
    seedDeclared(cfg, s);
    const deps = deviceAdminDeps(s, cfg.provisioning, domain, cfg.phones.devices);
    return f(deps, s);
  });
}

/** readPhones runs f on the seeded store when there is one (or phones are declared), else on nothing. */
async function readPhones<T>(cfg: Config, f: (s: Store | undefined) => T | Promise<T>): Promise<T> {
  if (!storeExists(cfg) && cfg.phones.devices.length === 0 && cfg.phones.configs.length === 0) return f(undefined);
  return withStore(cfg, (s) => {
    if (s.backend !== 'postgres') seedDeclared(cfg, s); // phones need the SQLite store (a PostgreSQL config has none declared)
    return f(s);
  });
}

/** page applies offset/limit to a list. */
function page<T>(list: readonly T[], opts: Pick<ListOptions, 'limit' | 'offset'>): T[] {
  const from = opts.offset ?? 0;
  return list.slice(from, opts.limit === undefined ? undefined : from + opts.limit);
}

/** phoneRows are the phones table's rows. */
function phoneTable(out: Io, phones: readonly StoredPhone[]): void {
  table(
    out,
    ['MAC', 'TENANT', 'PROFILE', 'MODEL', 'CONFIG', 'USERS', 'IP', 'VERSION', 'LAST SEEN', 'BY'],
    phones.map((p) => [p.mac, p.tenant, p.profile, p.model ?? '-', p.config ?? '(default)', p.users.length === 0 ? '-' : p.users.join(','), p.ip ?? '-', p.version ?? '-', p.lastSeen ?? 'never', p.createdBy]),
  );
}

/** clientTable is the Jitsi clients' table (unchanged since before phones). */
function clientTable(out: Io, list: readonly Device[]): void {
  table(
    out,
    ['DEVICE', 'USER', 'HWADDR', 'IP', 'OS', 'BUILD', 'LAST SEEN', 'LAST OUTCOME', 'REQUESTS', 'FAILURES', 'LAST FAILURE'],
    list.map((d) => [d.key, d.username ?? '-', d.hwaddr ?? '-', d.ip, d.osname ?? '-', d.build ?? '-', d.lastSeen, d.lastOutcome, String(d.requests), String(d.failures), d.lastFailureAt === null ? '-' : `${d.lastFailureAt} ${d.lastFailure ?? ''}`.trim()]),
  );
}

/**
 * devicesList prints the inventory. Kind `all` (the default) prints the Jitsi clients' table,
 * then the phones' table when there are phones; with --json it prints the clients' array (the
 * shape it always had) and names the phones it leaves out on stderr. A phone filter (profile,
 * model, device config) lists phones only.
 */
export async function devicesList(out: Io, config: Config, opts: ListOptions): Promise<void> {
  const phoneFilter = opts.profile !== undefined || opts.model !== undefined || opts.deviceConfig !== undefined;
  const kind = opts.kind ?? (phoneFilter ? 'phones' : 'all');
  const filter: PhoneFilter = {
    ...(opts.tenant !== undefined ? { tenant: opts.tenant.toLowerCase() } : {}),
    ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    ...(opts.model !== undefined ? { model: opts.model } : {}),
    ...(opts.deviceConfig !== undefined ? { config: opts.deviceConfig } : {}),
  };
  const { clients, phones, phoneTotal } = await readPhones(config, async (s) => {
    const all = kind === 'phones' || s === undefined ? [] : await s.devices.list();
    const tenantClients = all.filter((d) => matchesClient(d, { tenant: opts.tenant }));
    // A PostgreSQL store holds no phones: `all` lists its clients; `--kind phones` says why not.
    const noPhones = kind === 'clients' || s === undefined || (kind === 'all' && s.backend === 'postgres');
    const total = noPhones ? 0 : s.phones.count(filter);
    const listed = noPhones || (kind === 'all' && opts.json) ? [] : s.phones.list({ ...filter, ...(opts.limit !== undefined ? { limit: opts.limit } : {}), ...(opts.offset !== undefined ? { offset: opts.offset } : {}) });
    return { clients: page(tenantClients, opts), phones: listed, phoneTotal: total };
  });
  if (opts.json) {
    out.stdout.write(`${JSON.stringify(kind === 'phones' ? phones : clients, null, 2)}\n`);
    if (kind === 'all' && phoneTotal > 0) out.stderr.write(`provisiond: ${phoneTotal} SIP phone${phoneTotal === 1 ? ' is' : 's are'} not in this list: provisiond devices list --kind phones --json\n`);
    return;
  }
  if (kind === 'clients' || (kind === 'all' && (clients.length > 0 || phones.length === 0))) clientTable(out, clients);
  if (kind === 'phones' || (kind === 'all' && phones.length > 0)) {
    if (kind === 'all' && clients.length > 0) out.stdout.write('\n');
    phoneTable(out, phones);
  }
}

/** devicesShow prints every field of one phone. */
export async function devicesShow(out: Io, config: Config, macIn: string, opts: { json: boolean }): Promise<void> {
  const mac = deviceMac(macIn);
  const p = await readPhones(config, (s) => s?.phones.get(mac));
  if (p === undefined) throw new ProvError('PROVD_ERR_DEVICE', `no phone with MAC ${mac} (provisiond devices list --kind phones)`);
  if (opts.json) {
    out.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ['mac', p.mac],
    ['tenant', p.tenant],
    ['profile', p.profile],
    ['model', p.model ?? '-'],
    ['config', p.config ?? '(the tenant\'s default)'],
    ['users', p.users.length === 0 ? '-' : p.users.map((u, i) => `${i + 1}:${u}`).join(' ')],
    ['options', Object.keys(p.options).length === 0 ? '-' : JSON.stringify(p.options)],
    ['ip', p.ip ?? '-'],
    ['serial', p.serial ?? '-'],
    ['version', p.version ?? '-'],
    ['previousVersion', p.previousVersion ?? '-'],
    ['versionChangedAt', p.versionChangedAt ?? '-'],
    ['firstSeen', p.firstSeen ?? 'never'],
    ['lastSeen', p.lastSeen ?? 'never'],
    ['addedAt', p.addedAt],
    ['assignedAt', p.assignedAt ?? '-'],
    ['resetAt', p.resetAt ?? '-'],
    ['createdBy', p.createdBy],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}
