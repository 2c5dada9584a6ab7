/**
 * cli.ts: the `provisiond` command line. It is the only module that reads argv, installs
 * signal handlers or decides the exit code.
 *
 * Exit codes (documented in README.md):
 *   0 success · 1 invalid or unreadable configuration (or a URL mDNS cannot carry) · 2 usage error ·
 *   3 startup failure (port in use, bad interface, store or TLS files) · 4 internal error ·
 *   5 an administration command failed (user, render) ·
 *   10-14 `probe` failed at a step: 10 dhcp · 11 bonjour · 12 url · 13 http · 14 properties
 */
import yargs from 'yargs';
import { loadConfigFile, defaultConfig, reloadRefusal } from './config/load';
import { hostWarnings, templateErrors } from './config/check';
import type { Config, LogLevel } from './config/schema';
import { createDaemon, type Daemon } from './daemon';
import { createLogger, type Logger } from './log';
import { ProvError, isProvError, errorMessage, type ErrorCode } from './errors';
import { version } from './version';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { planAdvertisement } from './mdns/plan';
import { avahiServiceXml } from './mdns/avahi';
import { listHostInterfaces } from './net/interfaces';
import * as admin from './admin';
import { runProbe, formatReport, STEP_EXIT } from './probe/run';

/** ExitCode names the process exit codes. */
export const ExitCode = { Ok: 0, Config: 1, Usage: 2, Startup: 3, Internal: 4, Admin: 5 } as const;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** SHUTDOWN_GRACE_MS bounds a graceful close on SIGTERM/SIGINT (systemd waits longer). */
const SHUTDOWN_GRACE_MS = 5000;

function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'PROVD_ERR_CONFIG_READ':
    case 'PROVD_ERR_CONFIG_YAML':
    case 'PROVD_ERR_CONFIG_INVALID':
    case 'PROVD_ERR_MDNS_URL':
      return ExitCode.Config;
    case 'PROVD_ERR_USAGE':
      return ExitCode.Usage;
    case 'PROVD_ERR_DHCP_BIND':
    case 'PROVD_ERR_DHCP_INTERFACE':
    case 'PROVD_ERR_MDNS_BIND':
    case 'PROVD_ERR_MDNS_INTERFACE':
    case 'PROVD_ERR_MDNS_CONFLICT':
    case 'PROVD_ERR_HTTP_BIND':
    case 'PROVD_ERR_HTTP_TLS':
    case 'PROVD_ERR_EVENT_LOG':
    case 'PROVD_ERR_HTTP_WORKER':
    case 'PROVD_ERR_STORE':
      return ExitCode.Startup;
    case 'PROVD_ERR_USER':
    case 'PROVD_ERR_RENDER':
    case 'PROVD_ERR_KEY':
      return ExitCode.Admin;
    case 'PROVD_ERR_PROBE':
      return STEP_EXIT.dhcp;
    case 'PROVD_ERR_MDNS_LIBRARY': // only ever a warning; listed so the switch stays exhaustive
    case 'PROVD_ERR_INTERNAL':
      return ExitCode.Internal;
  }
}

/** reportError prints one clear line (plus any detail lines) on stderr and returns the exit code. */
function reportError(err: unknown): number {
  if (isProvError(err)) {
    process.stderr.write(`provisiond: ${err.message} [${err.code}]\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
    return exitCodeFor(err.code);
  }
  process.stderr.write(`provisiond: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)} [PROVD_ERR_INTERNAL]\n`);
  return ExitCode.Internal;
}

function readConfig(path: string | undefined): Config {
  return path === undefined ? defaultConfig() : loadConfigFile(path);
}

/** main runs the CLI and resolves to the exit code (the daemon resolves when it has stopped). */
export async function main(argv: readonly string[]): Promise<number> {
  let exit: number = ExitCode.Ok;
  let pending: Promise<number> | undefined;
  const parser = yargs([...argv])
    .scriptName('provisiond')
    .usage('$0 [command] [options]\n\nZero-touch provisioning for LAN clients: DHCP option 224, mDNS and HTTP.')
    .command(
      ['run', '$0'],
      'run the daemon (the default command)',
      (y) =>
        y
          .option('config', { alias: 'c', type: 'string', describe: 'configuration file (YAML); without it the embedded defaults are used' })
          .option('log-level', { type: 'string', choices: LEVELS, describe: 'override log.level' }),
      (args) => {
        pending = runDaemon(args.config, args['log-level'] as LogLevel | undefined);
      },
    )
    .command(
      'check-config',
      'validate a configuration file and print every problem; warn about TLS files and interfaces this host lacks',
      (y) => y.option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'configuration file (YAML)' }),
      (args) => {
        try {
          const cfg = loadConfigFile(args.config);
          // Warnings are about this host or the store (the daemon may run elsewhere); errors are the file's.
          for (const w of [...hostWarnings(cfg), ...admin.urlKeyWarnings(cfg).map((f) => f.message)]) process.stderr.write(`provisiond: warning: ${w}\n`);
          const errors = templateErrors(cfg);
          if (errors.length > 0) {
            throw new ProvError('PROVD_ERR_CONFIG_INVALID', `${args.config}: invalid configuration (${errors.length} problem${errors.length > 1 ? 's' : ''})`, { details: errors.map((e) => `${args.config}: ${e}`) });
          }
          process.stdout.write(`${args.config}: configuration is valid\n`);
        } catch (err) {
          exit = reportError(err);
        }
      },
    )
    .command(
      'export <format>',
      'print the mDNS advertisement for another tool: `export avahi` prints an Avahi .service file',
      (y) =>
        y
          .positional('format', { type: 'string', choices: ['avahi'] as const, describe: 'output format' })
          .option('config', { alias: 'c', type: 'string', describe: 'configuration file (YAML); without it the embedded defaults are used' }),
      (args) => {
        try {
          const config = readConfig(args.config);
          const xml = exportAvahi(config);
          process.stdout.write(xml);
          for (const w of avahiKeyWarnings(config, xml)) process.stderr.write(`provisiond: warning: ${w}\n`);
        } catch (err) {
          exit = reportError(err);
        }
      },
    )
    .command('user', 'manage the users kept in the store (passwords never on the command line)', (y) =>
      y
        .command(
          'add <user>',
          'add a user (alice@example.org, or alice with --domain); the password is prompted for',
          (a) => withConfig(a).positional('user', { type: 'string', demandOption: true }).option('domain', { type: 'string' }).option('password-stdin', { type: 'boolean', default: false, describe: 'read the password from the first line of standard input' }).option('attr', { type: 'string', array: true, default: [] as string[], describe: 'an attribute key=value for templates (repeatable)' }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.userAdd(io(), cfg, admin.parseUserRef(a.user, a.domain, cfg), { passwordStdin: a['password-stdin'], attrs: a.attr }));
          },
        )
        .command(
          'passwd <user>',
          "change a user's password (prompted for)",
          (a) => withConfig(a).positional('user', { type: 'string', demandOption: true }).option('domain', { type: 'string' }).option('password-stdin', { type: 'boolean', default: false }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.userPasswd(io(), cfg, admin.parseUserRef(a.user, a.domain, cfg), { passwordStdin: a['password-stdin'] }));
          },
        )
        .command(
          'del <user>',
          'delete a user',
          (a) => withConfig(a).positional('user', { type: 'string', demandOption: true }).option('domain', { type: 'string' }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.userDel(io(), cfg, admin.parseUserRef(a.user, a.domain, cfg)));
          },
        )
        .command(
          'list',
          "list the configuration's and the store's users",
          (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.userList(io(), cfg, { json: a.json }));
          },
        )
        .command(
          'import <file>',
          "import a JitsiProvS user_auth CSV (username, domain, password; '-' = stdin)",
          (a) =>
            withConfig(a)
              .positional('file', { type: 'string', demandOption: true })
              .option('format', { choices: ['md5', 'plain'] as const, default: 'md5' as const, describe: "JitsiProvS's --pwd_fmt" })
              .option('delimiter', { type: 'string', default: ',', describe: 'field separator (a tab for MySQL exports)' })
              .option('replace', { type: 'boolean', default: false, describe: 'overwrite users that already exist' }),
          (a) => {
            const delimiter = a.delimiter === '\\t' ? '\t' : a.delimiter;
            pending = adminRun(a.config, (cfg) => admin.userImport(io(), cfg, a.file, { format: a.format, delimiter, replace: a.replace }));
          },
        )
        .command(
          'hash',
          "print a scrypt hash for a configuration file's users.<name>.password",
          (a) => withConfig(a).option('password-stdin', { type: 'boolean', default: false }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.userHash(io(), cfg, { passwordStdin: a['password-stdin'] }));
          },
        )
        .demandCommand(1, 'name a user command: add, passwd, del, list, import or hash'),
    )
    .command(
      'hash-password',
      "print a scrypt hash for a configuration file's users.<name>.password (same as user hash)",
      (a) => withConfig(a).option('password-stdin', { type: 'boolean', default: false }),
      (a) => {
        pending = adminRun(a.config, (cfg) => admin.userHash(io(), cfg, { passwordStdin: a['password-stdin'] }));
      },
    )
    .command('key', "the tenants' provisioning keys (URL prefix /<key>/jitsi)", (y) =>
      y
        .command(
          'rotate',
          'generate a new key for a tenant, print it once, store only its hash; the previous key stays valid for provisioning.keyGracePeriod',
          (a) =>
            withConfig(a)
              .option('tenant', { type: 'string', demandOption: true, describe: 'the tenant (a provisioning.tenants domain)' })
              .option('grace', { type: 'number', describe: 'seconds the previous key stays valid (default: provisioning.keyGracePeriod)' }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.keyRotate(io(), cfg, { tenant: a.tenant, ...(a.grace === undefined ? {} : { grace: a.grace }) }));
          },
        )
        .command(
          'list',
          'list the stored keys (tenant, created, valid until; never the keys)',
          (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.keyList(io(), cfg, { json: a.json }));
          },
        )
        .demandCommand(1, 'name a key command: rotate or list'),
    )
    .command('devices', 'the device inventory', (y) =>
      y
        .command(
          'list',
          'list the devices that asked for provisioning',
          (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
          (a) => {
            pending = adminRun(a.config, (cfg) => admin.devicesList(io(), cfg, { json: a.json }));
          },
        )
        .demandCommand(1, 'name a devices command: list'),
    )
    .command(
      'render',
      'print exactly what a client would receive (no password needed)',
      (y) =>
        withConfig(y)
          .option('user', { type: 'string', describe: 'alice@example.org (or alice with --domain)' })
          .option('domain', { type: 'string', describe: 'the tenant (default: the user\'s, else provisioning.defaultDomain)' })
          .option('param', { type: 'string', array: true, default: [] as string[], describe: 'a request field name=value, e.g. osname=Linux (repeatable)' })
          .option('ip', { type: 'string', default: '127.0.0.1', describe: 'the client address templates see' })
          .option('user-agent', { type: 'string', default: 'Jitsi/2.10.5550', describe: 'the User-Agent templates see' }),
      (a) => {
        pending = adminRun(a.config, (cfg) =>
          admin.render(io(), cfg, { ...(a.user === undefined ? {} : { user: a.user }), ...(a.domain === undefined ? {} : { domain: a.domain }), params: a.param, ip: a.ip, userAgent: a['user-agent'] }),
        );
      },
    )
    .command(
      'probe',
      'discover and fetch like a Jitsi client (DHCP option 224 and/or mDNS), and report each step; exit 10-14 names the failing step',
      (y) =>
        y
          .option('method', { choices: ['dhcp', 'bonjour', 'both'] as const, default: 'both' as const, describe: 'discovery method(s); with both, DHCP runs first and its URL is fetched' })
          .option('username', { type: 'string', describe: 'the user the credentials prompt would be answered with' })
          .option('password-stdin', { type: 'boolean', default: false, describe: 'read the password from the first line of standard input (with --username)' })
          .option('interface', { alias: 'i', type: 'string', describe: 'send only from this interface (default: every non-loopback IPv4 address, as the client)' })
          .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
          .option('user-agent', { type: 'string', default: 'Jitsi/2.10.5550', describe: 'the User-Agent sent' })
          .option('build', { type: 'string', default: 'provisiond-probe', describe: 'the value of ${build}' })
          .option('url', { type: 'string', describe: 'skip discovery and fetch this provisioning URL (a template with ${…} placeholders, as DHCP/mDNS serve it)' })
          .option('ca', { type: 'string', describe: 'PEM file of CA certificates to trust for HTTPS, besides the system ones' })
          .option('insecure', { type: 'boolean', default: false, describe: 'accept any HTTPS certificate (as a user answering "Trust" in the client would)' })
          .check((a) => {
            if (a['password-stdin'] && a.username === undefined) throw new UsageError('--password-stdin needs --username');
            return true;
          }),
      (a) => {
        pending = probeCommand({ method: a.method, username: a.username, passwordStdin: a['password-stdin'], iface: a.interface, json: a.json, userAgent: a['user-agent'], build: a.build, url: a.url, ca: a.ca, insecure: a.insecure });
      },
    )
    .version(version)
    .alias('version', 'V')
    .help()
    .alias('help', 'h')
    .strict()
    .strictCommands()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`provisiond: ${err.message} [PROVD_ERR_USAGE]\nRun 'provisiond --help' for usage.\n`);
      return ExitCode.Usage;
    }
    return reportError(err);
  }
  return pending ? pending : exit;
}

class UsageError extends Error {}

/** probeCommand runs `provisiond probe` and maps the first failing step to its exit code. */
async function probeCommand(o: { method: 'dhcp' | 'bonjour' | 'both'; username: string | undefined; passwordStdin: boolean; iface: string | undefined; json: boolean; userAgent: string; build: string; url: string | undefined; ca: string | undefined; insecure: boolean }): Promise<number> {
  let ca: Buffer | undefined;
  if (o.ca !== undefined) {
    try {
      ca = readFileSync(o.ca);
    } catch (err) {
      process.stderr.write(`provisiond: cannot read --ca ${o.ca}: ${errorMessage(err)} [PROVD_ERR_USAGE]\n`);
      return ExitCode.Usage;
    }
  }
  try {
    const password = o.passwordStdin ? await admin.readPassword(io(), true, false) : undefined;
    const report = await runProbe({
      method: o.method,
      userAgent: o.userAgent,
      build: o.build,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(password === undefined ? {} : { password }),
      ...(o.iface === undefined ? {} : { interface: o.iface }),
      ...(o.url === undefined ? {} : { url: o.url }),
      tls: { ...(ca === undefined ? {} : { ca }), insecure: o.insecure },
    });
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    if (report.ok || report.failed === undefined) return ExitCode.Ok;
    const last = report.steps[report.steps.length - 1];
    process.stderr.write(`provisiond: probe failed at step ${report.failed}: ${last?.summary ?? ''} [PROVD_ERR_PROBE]\n`);
    return STEP_EXIT[report.failed];
  } catch (err) {
    return reportError(err);
  }
}

/**
 * exportAvahi renders the Avahi service file for this host: the same plan as the mDNS face
 * (interfaces, URL, TXT), whether or not mdns.enabled is set.
 */
function exportAvahi(config: Config): string {
  if (config.http.port === 0) {
    throw new ProvError('PROVD_ERR_CONFIG_INVALID', 'http.port is 0 (a port chosen at run time); an Avahi service file needs a fixed port');
  }
  const r = planAdvertisement(config, listHostInterfaces(), hostname());
  if (!r.ok) throw new ProvError(r.error.code, r.error.message);
  return avahiServiceXml(r.ad, `provisiond ${version} export avahi`);
}

/**
 * avahiKeyWarnings names each tenant whose provisioning key the service file carries: the file
 * is meant for /etc/avahi/services, which is world-readable by default.
 */
export function avahiKeyWarnings(config: Config, xml: string): string[] {
  return Object.entries(config.provisioning.tenants)
    .filter(([, t]) => t.urlKey !== undefined && t.urlKey !== '' && xml.includes(t.urlKey))
    .map(
      ([name]) =>
        `this service file holds the provisioning key of tenant ${name} (in its TXT path): anyone who can read it can use the key. ` +
        'Install it readable by avahi only: install -m 0640 -o root -g avahi FILE /etc/avahi/services/provisioning.service',
    );
}

function withConfig<T>(y: yargs.Argv<T>) {
  return y.option('config', { alias: 'c', type: 'string', describe: 'configuration file (YAML); without it the embedded defaults are used' });
}

function io(): admin.Io {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** adminRun loads the configuration and runs an administration command, mapping errors to exit codes. */
async function adminRun(configPath: string | undefined, f: (cfg: Config) => unknown): Promise<number> {
  try {
    await f(readConfig(configPath));
    return ExitCode.Ok;
  } catch (err) {
    return reportError(err);
  }
}

async function runDaemon(configPath: string | undefined, levelOverride: LogLevel | undefined): Promise<number> {
  let config: Config;
  try {
    config = readConfig(configPath);
  } catch (err) {
    return reportError(err);
  }
  const level = (): LogLevel => levelOverride ?? config.log.level;
  const log = createLogger(level());
  let onFatal = (_err: ProvError): void => undefined;
  const daemon = createDaemon(config, { log, onFatal: (err) => onFatal(err) });
  // The handlers go in before the first log line, so that whoever waits for a line to signal
  // finds them: without one, SIGUSR1 starts Node's inspector (127.0.0.1:9229) and SIGHUP ends
  // the process.
  const signals = wireSignals(daemon, log, configPath, levelOverride);
  onFatal = (err) => signals.fail(err);
  log.info({ version, config: configPath ?? '(embedded defaults)', node: process.version }, 'provisiond starting');
  try {
    await daemon.start();
  } catch (err) {
    signals.remove();
    log.fatal({ err: errorMessage(err), code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL' }, 'startup failed');
    await daemon.close();
    return reportError(err);
  }
  logUrlKeyFindings(log, config);
  return signals.serve();
}

/**
 * logUrlKeyFindings reports configured urlKeys that are not their tenant's current key: at error
 * level when the key no longer opens the tenant (the faces advertise a URL that gets 404), at
 * warn level while it is the previous key in its grace period.
 */
function logUrlKeyFindings(log: Logger, config: Config): void {
  for (const f of admin.urlKeyWarnings(config)) {
    const fields = { code: 'PROVD_ERR_KEY', tenant: f.tenant, state: f.state };
    if (f.opens) log.warn(fields, f.message);
    else log.error(fields, f.message);
  }
}

/** Signals are the daemon's signal handlers (see wireSignals). */
interface Signals {
  /** serve adds SIGTERM/SIGINT (stop), applies a SIGHUP that came during startup, and resolves with the exit code. */
  serve(): Promise<number>;
  /** remove takes every handler off (startup failed). */
  remove(): void;
  /** fail stops the daemon because a face is down for good; serve() resolves with the error's exit code. */
  fail(err: ProvError): void;
}

/**
 * wireSignals installs SIGHUP (reload) and SIGUSR1 (log counters) at once; a SIGHUP before
 * serve() waits for it. SIGTERM/SIGINT are added by serve(): during startup they keep their
 * default action, which ends the process.
 */
function wireSignals(daemon: Daemon, log: Logger, configPath: string | undefined, levelOverride: LogLevel | undefined): Signals {
  let serving = (): void => undefined;
  let reloading = new Promise<void>((r) => (serving = r));
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      if (configPath === undefined) {
        log.info('SIGHUP: running on embedded defaults, nothing to reload');
        return;
      }
      log.info({ config: configPath }, 'SIGHUP: reloading configuration');
      let next: Config;
      try {
        next = loadConfigFile(configPath);
      } catch (err) {
        const details = isProvError(err) ? err.details : [];
        for (const d of details) log.error({ problem: d }, 'configuration problem');
        log.error({ err: errorMessage(err), code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', problems: details.length }, 'reload rejected; still serving the previous configuration');
        return;
      }
      const refusal = reloadRefusal(daemon.config, next);
      if (refusal !== undefined) {
        log.error({ err: `${configPath}: ${refusal}`, code: 'PROVD_ERR_CONFIG_INVALID', problems: 1 }, 'reload rejected; still serving the previous configuration');
        return;
      }
      try {
        await daemon.reload(levelOverride ? { ...next, log: { level: levelOverride } } : next);
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'reload could not be applied; still serving the previous configuration');
        return;
      }
      logUrlKeyFindings(log, next);
    });
  };
  const onUsr1 = (): void => log.info({ stats: daemon.stats() }, 'counters');
  let stop = (_signal: NodeJS.Signals): void => undefined;
  let failed: ProvError | undefined;
  let fail = (err: ProvError): void => void (failed ??= err);
  const remove = (): void => void process.off('SIGTERM', stop).off('SIGINT', stop).off('SIGHUP', onHup).off('SIGUSR1', onUsr1);
  process.on('SIGHUP', onHup).on('SIGUSR1', onUsr1);
  return {
    remove,
    fail: (err) => fail(err),
    serve: () =>
      new Promise((resolve) => {
        fail = (err) => {
          remove();
          reportError(err);
          const timer = setTimeout(() => resolve(exitCodeFor(err.code)), SHUTDOWN_GRACE_MS);
          timer.unref();
          void daemon.close().then(() => {
            clearTimeout(timer);
            resolve(exitCodeFor(err.code));
          });
        };
        stop = (signal) => {
          log.info({ signal }, 'stopping');
          remove();
          const timer = setTimeout(() => {
            log.error({ graceMs: SHUTDOWN_GRACE_MS }, 'graceful shutdown timed out; exiting');
            resolve(ExitCode.Internal);
          }, SHUTDOWN_GRACE_MS);
          timer.unref();
          void daemon.close().then(() => {
            clearTimeout(timer);
            resolve(ExitCode.Ok);
          });
        };
        process.on('SIGTERM', stop).on('SIGINT', stop);
        serving();
        if (failed) fail(failed);
      }),
  };
}
