/**
 * import.ts: `provisiond import wazo DIR`, a wazo-provd installation (its state directory,
 * /var/lib/wazo-provd) moved into provisiond: the JSON database's configs and devices, the
 * tenants' provisioning keys of app.json (stored hashed, so phones configured with
 * `https://…/device/provisioning/<key>/` keep working) and the plugins' custom templates
 * (copied to `phones.templatesDir/<vendor>/`). src/phones/wazo.ts maps; this file reads the
 * directory (bounded: sizes and counts capped, symlinks and special files skipped) and writes.
 *
 * Idempotent: what the store or the template directory already holds unchanged is left alone,
 * and what differs is reported and left unless --force. --dry-run reads the store (read-only,
 * never created) and writes nothing.
 */
import { closeSync, existsSync, fstatSync, lstatSync, mkdirSync, openSync, opendirSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError, errorMessage } from '../errors';
import { hashKey } from '../identity/keys';
import { configuredUrlKeys, rotateTenantKey } from '../identity/rotation';
import { loadPhonesDomain } from '../phones/domain';
import { identifiers, mapWazo, type WazoFile, type WazoInput, type WazoPlan, type WazoTemplateFile } from '../phones/wazo';
import type { KeyRepository, PhoneJsonMap, PhoneRepository, Store } from '../store/repository';
import { openSqliteStore } from '../store/sqlite';
import { adminRun, io, openStore, storeExists, withConfig, type Io, type Outcome } from './common';

/** Caps of the reader: one document, all documents together, how many of each. */
export const IMPORT_LIMITS = { docBytes: 1 << 20, totalBytes: 256 << 20, docs: 100_000, templates: 10_000, plugins: 1_000 } as const;

/** ImportOptions are the command's choices. */
export interface ImportOptions {
  readonly dir: string;
  readonly tenantMap: readonly string[];
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly json: boolean;
  readonly now?: Date;
}

/** Counts says what happened to one kind of thing. */
export interface Counts {
  added: number;
  updated: number;
  unchanged: number;
  left: number;
}

/** ImportReport is what the command prints (--json: this object). */
export interface ImportReport {
  readonly dir: string;
  readonly dryRun: boolean;
  readonly configs: Counts;
  readonly devices: Counts;
  readonly keys: Counts;
  readonly templates: Counts;
  readonly warnings: string[];
}

/** registerImport adds the `import` command group. */
export function registerImport(y: Argv, out: Outcome): Argv {
  return y.command('import', 'import another provisioning server\'s data', (i) =>
    i
      .command(
        'wazo <dir>',
        "import a wazo-provd state directory (jsondb configs and devices, app.json provisioning keys, plugins' custom templates)",
        (a) =>
          withConfig(a)
            .positional('dir', { type: 'string', demandOption: true, describe: 'the wazo-provd state directory (e.g. a copy of /var/lib/wazo-provd)' })
            .option('tenant-map', { type: 'string', array: true, default: [] as string[], describe: 'UUID=tenant: a wazo tenant uuid to a provisioning.tenants domain (repeatable)' })
            .option('dry-run', { type: 'boolean', default: false, describe: 'report what would be imported; write nothing' })
            .option('force', { type: 'boolean', default: false, describe: 'overwrite stored configs, devices and template files that differ' })
            .option('json', { type: 'boolean', default: false }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) =>
            importWazo(io(), cfg, { dir: a.dir, tenantMap: a['tenant-map'], dryRun: a['dry-run'], force: a.force, json: a.json }),
          );
        },
      )
      .demandCommand(1, 'name what to import: wazo'),
  );
}

/** Reader reads files under the caps, collecting what it skipped. */
class Reader {
  total = 0;
  readonly notes: string[] = [];

  /** file reads one regular file (not a symlink), at most `cap` bytes; undefined (noted) otherwise. */
  file(path: string, name: string, cap: number): WazoFile | undefined {
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      this.notes.push(`${path}: cannot be read (${errorMessage(err)}); skipped`);
      return undefined;
    }
    if (!st.isFile()) {
      this.notes.push(`${path}: not a regular file (a symlink, a folder or a device); skipped`);
      return undefined;
    }
    if (st.size > cap) {
      this.notes.push(`${path}: ${st.size} bytes, over the ${cap}-byte cap; skipped`);
      return undefined;
    }
    if (this.total + st.size > IMPORT_LIMITS.totalBytes) throw new ProvError('PROVD_ERR_IMPORT', `${path}: the files read exceed ${IMPORT_LIMITS.totalBytes} bytes in all; nothing imported`);
    const fd = openSync(path, 'r');
    try {
      const size = Math.min(fstatSync(fd).size, cap + 1);
      const buf = Buffer.alloc(size);
      let n = 0;
      while (n < size) {
        const r = readSync(fd, buf, n, size - n, n);
        if (r === 0) break;
        n += r;
      }
      if (n > cap) {
        this.notes.push(`${path}: grew over the ${cap}-byte cap while read; skipped`);
        return undefined;
      }
      this.total += n;
      return { path, name, text: buf.subarray(0, n).toString('utf8') };
    } finally {
      closeSync(fd);
    }
  }

  /** names lists a folder's entries (sorted), at most `cap`; a missing folder gives none (noted when `need`). */
  names(dir: string, cap: number, need: string | undefined): string[] {
    if (!existsSync(dir)) {
      if (need !== undefined) this.notes.push(`${dir}: missing (${need})`);
      return [];
    }
    const d = opendirSync(dir);
    const out: string[] = [];
    try {
      for (let e = d.readSync(); e !== null; e = d.readSync()) {
        if (out.length >= cap) throw new ProvError('PROVD_ERR_IMPORT', `${dir}: more than ${cap} entries; nothing imported`);
        // A name with control characters would garble the report (and is no wazo document id).
        if (/[\u0000-\u001f\u007f]/.test(e.name)) this.notes.push(`${dir}: entry ${JSON.stringify(e.name)} has control characters; skipped`);
        else out.push(e.name);
      }
    } finally {
      d.closeSync();
    }
    return out.sort();
  }
}

/** readWazoDir reads a wazo-provd state directory under IMPORT_LIMITS; what it skipped is in `notes`. */
export function readWazoDir(dir: string): { input: WazoInput; notes: string[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ProvError('PROVD_ERR_IMPORT', `${dir} is not a directory (give a wazo-provd state directory: jsondb/, app.json, plugins/)`);
  const r = new Reader();
  const docs = (sub: string): WazoFile[] => {
    const folder = join(dir, 'jsondb', sub);
    const out: WazoFile[] = [];
    for (const name of r.names(folder, IMPORT_LIMITS.docs, `no ${sub} imported`)) {
      if (name.startsWith('.')) {
        r.notes.push(`${join(folder, name)}: a hidden file (an editor's or a backup), not a document; skipped`);
        continue;
      }
      const f = r.file(join(folder, name), name, IMPORT_LIMITS.docBytes);
      if (f !== undefined) out.push(f);
    }
    return out;
  };
  const configs = docs('configs');
  const devices = docs('devices');
  const appPath = join(dir, 'app.json');
  const app = existsSync(appPath) ? r.file(appPath, 'app.json', IMPORT_LIMITS.docBytes) : undefined;
  if (!existsSync(appPath)) r.notes.push(`${appPath}: missing (no provisioning key imported)`);
  const templates: WazoTemplateFile[] = [];
  const plugins = join(dir, 'plugins');
  for (const plugin of r.names(plugins, IMPORT_LIMITS.plugins, undefined)) {
    const custom = join(plugins, plugin, 'var', 'templates');
    for (const name of r.names(custom, IMPORT_LIMITS.templates, undefined)) {
      if (templates.length >= IMPORT_LIMITS.templates) throw new ProvError('PROVD_ERR_IMPORT', `${plugins}: more than ${IMPORT_LIMITS.templates} custom templates; nothing imported`);
      const f = r.file(join(custom, name), name, IMPORT_LIMITS.docBytes);
      if (f !== undefined) templates.push({ ...f, plugin });
    }
  }
  if (configs.length === 0 && devices.length === 0 && app === undefined && templates.length === 0) {
    throw new ProvError('PROVD_ERR_IMPORT', `${dir} holds no wazo-provd data (jsondb/configs, jsondb/devices, app.json, plugins/*/var/templates)`, { details: r.notes });
  }
  return { input: { configs, devices, app, templates }, notes: r.notes };
}

/** templateWords are the identifiers of every template phones render from (shipped and the site's), for the unused-keys report. */
function templateWords(cfg: Config, domain: ReturnType<typeof loadPhonesDomain>): Set<string> {
  const words = new Set<string>();
  const scan = (folder: string): void => {
    if (!existsSync(folder)) return;
    const d = opendirSync(folder);
    try {
      let n = 0;
      for (let e = d.readSync(); e !== null && n < 1000; e = d.readSync(), n++) {
        if (!e.isFile() || !e.name.endsWith('.tpl')) continue;
        for (const w of identifiers(readFileSync(join(folder, e.name), 'utf8'))) words.add(w);
      }
    } finally {
      d.closeSync();
    }
  };
  for (const [vendor, l] of domain.profiles) {
    scan(join(dirname(l.file), 'templates'));
    if (cfg.phones.templatesDir !== undefined) scan(join(cfg.phones.templatesDir, vendor));
  }
  return words;
}

/** parseTenantMap reads the --tenant-map UUID=tenant options. */
export function parseTenantMap(items: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq <= 0 || eq === it.length - 1) throw new ProvError('PROVD_ERR_USAGE', `--tenant-map ${it}: expected UUID=tenant`);
    const uuid = it.slice(0, eq).trim();
    if (m.has(uuid) && m.get(uuid) !== it.slice(eq + 1).trim()) throw new ProvError('PROVD_ERR_USAGE', `--tenant-map: ${uuid} is mapped twice`);
    m.set(uuid, it.slice(eq + 1).trim().toLowerCase());
  }
  return m;
}

function counts(): Counts {
  return { added: 0, updated: 0, unchanged: 0, left: 0 };
}

/** applyPlan writes (or, dry, only compares) the plan; every refusal is a warning, never a crash. */
export async function applyPlan(plan: WazoPlan, target: { phones: PhoneRepository; keys: KeyRepository } | undefined, cfg: Config, opts: { dryRun: boolean; force: boolean; now: Date }): Promise<Omit<ImportReport, 'dir' | 'dryRun'>> {
  const warnings: string[] = [];
  const r = { configs: counts(), devices: counts(), keys: counts(), templates: counts() };
  const at = opts.now.toISOString();
  const write = !opts.dryRun;
  const phones = target?.phones;

  // Configs, parents first. A role another config of the tenant already holds is dropped (the store allows one).
  for (const c of plan.configs) {
    const have = phones?.getConfig(c.tenant, c.id);
    let role = c.role;
    if (role !== 'none') {
      const holder = phones?.listConfigs(c.tenant).find((x) => x.role === role && x.id !== c.id);
      if (holder !== undefined) {
        warnings.push(`${c.from}: ${c.tenant} already has ${role} config ${holder.id}; ${c.id} imported without the role`);
        role = 'none';
      }
    }
    if (have !== undefined && have.role === role && isDeepStrictEqual([...have.parents], [...c.parents]) && isDeepStrictEqual(have.raw, c.raw)) {
      r.configs.unchanged++;
      continue;
    }
    if (have !== undefined && !opts.force) {
      warnings.push(`${c.from}: config ${c.tenant}/${c.id} differs from the stored one; left as it is (--force to overwrite)`);
      r.configs.left++;
      continue;
    }
    try {
      if (write && phones !== undefined) phones.putConfig({ tenant: c.tenant, id: c.id, parents: c.parents, raw: c.raw as PhoneJsonMap, role }, at);
      r.configs[have === undefined ? 'added' : 'updated']++;
    } catch (err) {
      warnings.push(`${c.from}: config ${c.tenant}/${c.id} refused by the store: ${errorMessage(err)}`);
      r.configs.left++;
    }
  }

  // Devices: admin fields compared (ip and version are observations, written on add only).
  const planned = new Set(plan.configs.map((c) => `${c.tenant}\u0000${c.id}`));
  for (const d of plan.devices) {
    const have = phones?.get(d.mac);
    if (have !== undefined && have.tenant !== d.tenant) {
      warnings.push(`${d.from}: MAC ${d.mac} is recorded under tenant ${have.tenant}, not ${d.tenant}; left as it is`);
      r.devices.left++;
      continue;
    }
    const configOk = d.config === null || phones?.getConfig(d.tenant, d.config) !== undefined || (opts.dryRun && planned.has(`${d.tenant}\u0000${d.config}`));
    const config = configOk ? d.config : null;
    if (!configOk) warnings.push(`${d.from}: device ${d.mac}: config ${d.config ?? ''} is not in the store; the device gets its tenant's default config`);
    if (have !== undefined) {
      const same = have.profile === d.profile && have.model === d.model && have.serial === d.serial && have.config === config && isDeepStrictEqual(have.options, d.options);
      if (same) {
        r.devices.unchanged++;
        continue;
      }
      if (!opts.force) {
        warnings.push(`${d.from}: device ${d.mac} differs from the stored one; left as it is (--force to overwrite)`);
        r.devices.left++;
        continue;
      }
    }
    try {
      if (write && phones !== undefined) {
        if (have === undefined) {
          phones.add({ mac: d.mac, tenant: d.tenant, profile: d.profile, model: d.model, version: d.version, serial: d.serial, ip: d.ip, config, options: d.options as PhoneJsonMap, createdBy: d.createdBy }, at);
        } else {
          phones.update(d.mac, { profile: d.profile, model: d.model, serial: d.serial, config, options: d.options as PhoneJsonMap }, at);
        }
      }
      r.devices[have === undefined ? 'added' : 'updated']++;
    } catch (err) {
      warnings.push(`${d.from}: device ${d.mac} refused by the store: ${errorMessage(err)}`);
      r.devices.left++;
    }
  }

  // Keys: the wazo key becomes the tenant's current key; the one it replaces stays valid for keyGracePeriod.
  const stored = (await target?.keys.list()) ?? [];
  const urlKeys = configuredUrlKeys(cfg.provisioning.tenants);
  for (const k of plan.keys) {
    const mine = stored.filter((s) => s.tenant === k.tenant);
    if (mine.some((s) => s.hash === k.hash && s.expiresAt === null)) {
      r.keys.unchanged++;
      continue;
    }
    const old = mine.find((s) => s.hash === k.hash);
    if (old !== undefined && !opts.force) {
      // The admin rotated the key since an earlier import: do not bring the old one back.
      warnings.push(`${k.tenant}: the wazo key is already its previous or expired key (rotated since it was imported); left as it is (--force makes it current again)`);
      r.keys.left++;
      continue;
    }
    const other = stored.find((s) => s.hash === k.hash && s.tenant !== k.tenant)?.tenant ?? [...urlKeys].find(([t, key]) => t !== k.tenant && hashKey(key) === k.hash)?.[0];
    if (other !== undefined) {
      warnings.push(`the provisioning key of wazo tenant ${k.uuid} is already a key of ${other}; not imported for ${k.tenant}`);
      r.keys.left++;
      continue;
    }
    const t = cfg.provisioning.tenants[k.tenant];
    const grace = cfg.provisioning.keyGracePeriod;
    const until = new Date(opts.now.getTime() + grace * 1000).toISOString();
    if (mine.length > 0 || t?.urlKey !== undefined) {
      const advertise = k.advertisable
        ? `set provisioning.tenants.${k.tenant}.urlKey to the wazo key (app.json tenants.${k.uuid}.provisioning_key) for the DHCP/mDNS faces to advertise it`
        : 'the wazo key does not fit provisioning.tenants.<T>.urlKey (22-128 of A-Z a-z 0-9 _ -), so the DHCP/mDNS faces cannot advertise it: phones keep the URL typed into them';
      warnings.push(`${k.tenant}: the wazo key becomes its current key; the key it had stays valid for ${grace} s (until ${until}); ${advertise}`);
    }
    try {
      if (write && target !== undefined) await rotateTenantKey(target.keys, k.tenant, t?.urlKey, k.hash, at, until);
      r.keys.added++;
    } catch (err) {
      warnings.push(`the key of ${k.tenant} cannot be stored: ${errorMessage(err)}`);
      r.keys.left++;
    }
  }

  // A tenant without a key serves a phone its SIP passwords only within phones.passwordWindow of an admin action.
  const keyed = new Set([...stored.map((k) => k.tenant), ...urlKeys.keys(), ...plan.keys.map((k) => k.tenant)]);
  if (cfg.phones.passwordWindow > 0) {
    for (const t of [...new Set(plan.devices.map((d) => d.tenant))].sort()) {
      if (keyed.has(t)) continue;
      warnings.push(
        `${t} has no provisioning key: its imported phones get their SIP passwords only within phones.passwordWindow (${cfg.phones.passwordWindow} min) of this import or of an admin's reset; give ${t} a key (provisiond key rotate) or set phones.passwordWindow: 0 (wazo's behaviour)`,
      );
    }
  }

  // Templates: phones.templatesDir/<vendor>/<name>; a different existing file is kept unless --force.
  const base = cfg.phones.templatesDir;
  if (base === undefined && plan.templates.length > 0) {
    warnings.push(`${plan.templates.length} custom template(s) not copied: set phones.templatesDir (the site's phone templates) and import again`);
    r.templates.left += plan.templates.length;
  }
  for (const t of plan.templates) {
    if (base === undefined) break;
    const dest = join(base, t.vendor, t.name);
    const have = existsSync(dest) ? readFileSync(dest, 'utf8') : undefined;
    if (have === t.text) {
      r.templates.unchanged++;
      continue;
    }
    if (have !== undefined && !opts.force) {
      warnings.push(`${t.from}: ${dest} exists with other content; left as it is (--force to overwrite)`);
      r.templates.left++;
      continue;
    }
    try {
      if (write) {
        mkdirSync(dirname(dest), { recursive: true });
        const tmp = `${dest}.import-${process.pid}.tmp`;
        writeFileSync(tmp, t.text, { mode: 0o640 });
        renameSync(tmp, dest);
      }
      r.templates[have === undefined ? 'added' : 'updated']++;
    } catch (err) {
      warnings.push(`${t.from}: cannot write ${dest}: ${errorMessage(err)}`);
      r.templates.left++;
    }
  }
  return { ...r, warnings };
}

/** MAX_WARNINGS bounds the printed report (a 100 000-device import left out whole stays readable). */
export const MAX_WARNINGS = 1000;

/** capped keeps the first MAX_WARNINGS lines and counts the rest. */
function capped(lines: readonly string[]): string[] {
  return lines.length <= MAX_WARNINGS ? [...lines] : [...lines.slice(0, MAX_WARNINGS), `... and ${lines.length - MAX_WARNINGS} more warnings`];
}

/** importWazo runs the command: read, map, write (or compare), report. */
export async function importWazo(io: Io, cfg: Config, opts: ImportOptions): Promise<ImportReport> {
  const tenantMap = parseTenantMap(opts.tenantMap);
  const { input, notes } = readWazoDir(opts.dir);
  const domain = loadPhonesDomain(cfg.phones);
  const profiles = new Map([...domain.profiles].map(([v, l]) => [v, new Set(l.profile.models.keys())]));
  const plan = mapWazo(input, {
    tenantMap,
    tenants: Object.keys(cfg.provisioning.tenants).sort(),
    profiles,
    templateWords: templateWords(cfg, domain),
    natMode: cfg.phones.natMode,
  });
  const nothing = plan.configs.length + plan.devices.length + plan.keys.length + plan.templates.length === 0;
  if (nothing) throw new ProvError('PROVD_ERR_IMPORT', `nothing in ${opts.dir} could be imported`, { details: capped([...notes, ...plan.notes]) });
  const now = opts.now ?? new Date();
  let applied: Omit<ImportReport, 'dir' | 'dryRun'>;
  if (opts.dryRun) {
    const s: Store | undefined = storeExists(cfg) ? openSqliteStore(cfg.stateDir, { readonly: true }) : undefined;
    try {
      applied = await applyPlan(plan, s, cfg, { dryRun: true, force: opts.force, now });
    } finally {
      await s?.close();
    }
  } else {
    const s = await openStore(cfg);
    try {
      applied = await applyPlan(plan, s, cfg, { dryRun: false, force: opts.force, now });
    } finally {
      await s.close();
    }
  }
  const report: ImportReport = { dir: opts.dir, dryRun: opts.dryRun, ...applied, warnings: capped([...notes, ...plan.notes, ...applied.warnings]) };
  printReport(io, report, opts.json);
  return report;
}

/** printReport writes the report: --json the object, else one line per kind then the warnings (stderr). */
function printReport(io: Io, r: ImportReport, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  const verb = r.dryRun ? 'would be ' : '';
  io.stdout.write(`import wazo ${r.dir}${r.dryRun ? ' (dry run: nothing written)' : ''}\n`);
  for (const k of ['configs', 'devices', 'keys', 'templates'] as const) {
    const c = r[k];
    io.stdout.write(`${k.padEnd(10)} ${c.added} ${verb}added, ${c.updated} ${verb}updated, ${c.unchanged} unchanged, ${c.left} left out\n`);
  }
  for (const w of r.warnings) io.stderr.write(`provisiond: warning: ${w}\n`);
}
