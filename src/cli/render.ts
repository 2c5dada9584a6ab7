/**
 * render.ts: `provisiond render`, exactly what a client would receive (no password needed): a
 * Jitsi client (`--user`, the endpoint's Engine) or a SIP phone (`--mac`, PhoneService's
 * renderDevice, the code the HTTP face answers phones with).
 */
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { parseUserRef } from '../identity/users';
import { renderClient } from '../service/render';
import { loadPhonesDomain } from '../phones/domain';
import { PhoneService, normalizeMacLoose, syncDeclared } from '../phones/service';
import { adminRun, io, openStore, phoneBaseUrl, storeExists, withConfig, withStore, UsageError, type Io, type Outcome } from './common';

/** registerRender adds the `render` command. */
export function registerRender(y: Argv, out: Outcome): Argv {
  return y.command(
    'render',
    'print exactly what a client would receive (no password needed)',
    (r) =>
      withConfig(r)
        .option('user', { type: 'string', describe: 'alice@example.org (or alice with --domain)' })
        .option('domain', { type: 'string', describe: 'the tenant (default: the user\'s, else provisioning.defaultDomain)' })
        .option('param', { type: 'string', array: true, default: [] as string[], describe: 'a request field name=value, e.g. osname=Linux (repeatable)' })
        .option('ip', { type: 'string', default: '127.0.0.1', describe: 'the client address templates see' })
        .option('user-agent', { type: 'string', default: 'Jitsi/2.10.5550', describe: 'the User-Agent templates see' })
        .option('mac', { type: 'string', describe: 'a SIP phone: render its file as the phone gets it' })
        .option('file', { type: 'string', describe: 'with --mac: the file name (default: its first per-device file)' })
        .option('base-url', { type: 'string', describe: 'with --mac: the URL the phone fetches from, when phones.baseUrl is not set' })
        .option('key', { type: 'string', describe: 'with --mac: the URL key the phone uses (default: its tenant\'s urlKey)' })
        .check((a) => {
          if (a.mac === undefined && (a.file !== undefined || a['base-url'] !== undefined || a.key !== undefined)) throw new UsageError('--file, --base-url and --key go with --mac');
          if (a.mac !== undefined && (a.user !== undefined || a.domain !== undefined || a.param.length > 0)) throw new UsageError('--mac renders a phone file: --user, --domain and --param are for Jitsi clients');
          return true;
        }),
    (a) => {
      if (a.mac !== undefined) {
        const mac = a.mac;
        out.pending = adminRun(a.config, (cfg) => renderPhone(io(), cfg, { mac, file: a.file, baseUrl: a['base-url'], key: a.key }));
        return;
      }
      out.pending = adminRun(a.config, (cfg) =>
        render(io(), cfg, { ...(a.user === undefined ? {} : { user: a.user }), ...(a.domain === undefined ? {} : { domain: a.domain }), params: a.param, ip: a.ip, userAgent: a['user-agent'] }),
      );
    },
  );
}

/** render prints exactly what a client with these parameters would receive. */
export async function render(io: Io, config: Config, opts: { user?: string; domain?: string; params: readonly string[]; ip: string; userAgent: string }): Promise<void> {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const kv of opts.params) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ProvError('PROVD_ERR_RENDER', `--param '${kv}' is not name=value`);
    params[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  let who: { domain?: string; name?: string } = opts.domain === undefined ? {} : { domain: opts.domain.toLowerCase() };
  if (opts.user !== undefined) {
    const ref = parseUserRef(opts.user, opts.domain, config.provisioning.defaultDomain);
    who = { domain: ref.domain, name: ref.name };
    params['username'] ??= opts.user; // what the client would send in the username field
  }
  const store = storeExists(config) ? await openStore(config) : undefined;
  try {
    io.stdout.write(await renderClient(config.provisioning, store?.users, { who, params, ip: opts.ip, userAgent: opts.userAgent }));
  } finally {
    await store?.close();
  }
}

/**
 * renderPhone writes one phone file byte for byte as the phone gets it (no newline added): the
 * YAML-declared phones are seeded into the store first, as the daemon does. A file served with
 * its secrets left out (outside the provisioning window) is written with a note on stderr; any
 * other answer than 200 is an error (exit 5) naming the status and the reason.
 */
export async function renderPhone(out: Io, config: Config, opts: { mac: string; file?: string | undefined; baseUrl?: string | undefined; key?: string | undefined }, shippedDir?: string): Promise<void> {
  const domain = loadPhonesDomain(config.phones, shippedDir);
  for (const p of domain.problems) out.stderr.write(`provisiond: warning: ${p} (that vendor is not loaded)\n`);
  if (!config.phones.enabled) out.stderr.write('provisiond: note: phones.enabled is false: the daemon serves no phone file with this configuration\n');
  const base = phoneBaseUrl(config, opts.baseUrl, 'loopback');
  for (const n of base.notes) out.stderr.write(`provisiond: note: ${n}\n`);
  const body = await withStore(config, (s) => {
    for (const p of syncDeclared(s.phones, config.phones, config.provisioning.defaultDomain).problems) out.stderr.write(`provisiond: warning: ${p}\n`);
    const svc = new PhoneService(config, { phones: s.phones, users: s.sync?.users, keys: s.sync?.keys, domain });
    const mac = normalizeMacLoose(opts.mac);
    const device = mac === undefined ? undefined : s.phones.get(mac);
    if (opts.key !== undefined && device !== undefined && svc.keyRing.tenantOfNow(opts.key) !== device.tenant) {
      throw new ProvError('PROVD_ERR_RENDER', `--key is not a current key of tenant ${device.tenant}: the phone would get 404`);
    }
    const r = svc.renderDevice(opts.mac, { baseUrl: base.url, ...(opts.file !== undefined ? { file: opts.file } : {}), ...(opts.key !== undefined ? { key: opts.key } : {}) });
    const a = r.answer;
    if (a.status !== 200) throw new ProvError('PROVD_ERR_RENDER', `the phone would get ${a.status} for ${r.file} (${a.outcome}${a.problem === undefined ? '' : `: ${a.problem}`})`);
    if (a.outcome === 'secrets-withheld') {
      out.stderr.write(`provisiond: note: ${r.file} is served without its passwords now: the provisioning window (phones.passwordWindow) is closed; provisiond devices set ${opts.mac} --reset reopens it\n`);
    }
    return a.body;
  });
  out.stdout.write(body);
}
