/**
 * render.ts: `provisiond render`, exactly what a client would receive (no password needed).
 */
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { parseUserRef } from '../identity/users';
import { Engine } from '../jitsi/engine';
import { createLogger } from '../log';
import { adminRun, io, openStore, storeExists, withConfig, type Io, type Outcome } from './common';

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
        .option('user-agent', { type: 'string', default: 'Jitsi/2.10.5550', describe: 'the User-Agent templates see' }),
    (a) => {
      out.pending = adminRun(a.config, (cfg) =>
        render(io(), cfg, { ...(a.user === undefined ? {} : { user: a.user }), ...(a.domain === undefined ? {} : { domain: a.domain }), params: a.param, ip: a.ip, userAgent: a['user-agent'] }),
      );
    },
  );
}

/** render prints exactly what a client with these parameters would receive. */
export function render(io: Io, config: Config, opts: { user?: string; domain?: string; params: readonly string[]; ip: string; userAgent: string }): void {
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
  const store = storeExists(config) ? openStore(config) : undefined;
  try {
    const engine = new Engine(config.provisioning, { ...(store ? { users: store.users } : {}), log: createLogger('silent') });
    const r = engine.renderAs({ params, ip: opts.ip, userAgent: opts.userAgent }, who);
    if (r.error !== undefined || r.result === undefined) throw new ProvError('PROVD_ERR_RENDER', r.error ?? 'nothing rendered');
    if (r.result.status !== 200) throw new ProvError('PROVD_ERR_RENDER', `the endpoint would answer ${r.result.status}: ${r.result.error ?? r.result.body.trim()}`);
    io.stdout.write(r.result.body);
  } finally {
    store?.close();
  }
}
