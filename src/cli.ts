/**
 * cli.ts: the `provisiond` command line. It is the only module that reads argv, installs
 * signal handlers or decides the exit code.
 *
 * Exit codes (documented in README.md):
 *   0 success · 1 invalid or unreadable configuration (or a URL mDNS cannot carry) · 2 usage error ·
 *   3 startup failure (port in use, bad interface) · 4 internal error
 */
import yargs from 'yargs';
import { loadConfigFile, defaultConfig } from './config/load';
import type { Config, LogLevel } from './config/schema';
import { createDaemon, type Daemon } from './daemon';
import { createLogger, type Logger } from './log';
import { ProvError, isProvError, errorMessage, type ErrorCode } from './errors';
import { version } from './version';
import { hostname } from 'node:os';
import { planAdvertisement } from './mdns/plan';
import { avahiServiceXml } from './mdns/avahi';
import { listHostInterfaces } from './net/interfaces';

/** ExitCode names the process exit codes. */
export const ExitCode = { Ok: 0, Config: 1, Usage: 2, Startup: 3, Internal: 4 } as const;

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
      return ExitCode.Startup;
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
      'validate a configuration file and print every problem',
      (y) => y.option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'configuration file (YAML)' }),
      (args) => {
        try {
          loadConfigFile(args.config);
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
          process.stdout.write(exportAvahi(readConfig(args.config)));
        } catch (err) {
          exit = reportError(err);
        }
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

async function runDaemon(configPath: string | undefined, levelOverride: LogLevel | undefined): Promise<number> {
  let config: Config;
  try {
    config = readConfig(configPath);
  } catch (err) {
    return reportError(err);
  }
  const level = (): LogLevel => levelOverride ?? config.log.level;
  const log = createLogger(level());
  log.info({ version, config: configPath ?? '(embedded defaults)', node: process.version }, 'provisiond starting');
  const daemon = createDaemon(config, { log });
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err: errorMessage(err), code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL' }, 'startup failed');
    await daemon.close();
    return reportError(err);
  }
  return serve(daemon, log, configPath, levelOverride);
}

/** serve wires the signals: SIGHUP reloads, SIGUSR1 logs counters, SIGTERM/SIGINT stop. */
function serve(daemon: Daemon, log: Logger, configPath: string | undefined, levelOverride: LogLevel | undefined): Promise<number> {
  return new Promise((resolve) => {
    let reloading = Promise.resolve();
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
          log.error({ err: errorMessage(err), problems: details.length }, 'reload rejected; still serving the previous configuration');
          return;
        }
        try {
          await daemon.reload(levelOverride ? { ...next, log: { level: levelOverride } } : next);
        } catch (err) {
          log.error({ err: errorMessage(err) }, 'reload could not be applied; still serving the previous configuration');
        }
      });
    };
    const onUsr1 = (): void => log.info({ stats: daemon.stats() }, 'counters');
    const stop = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'stopping');
      process.off('SIGTERM', stop).off('SIGINT', stop).off('SIGHUP', onHup).off('SIGUSR1', onUsr1);
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
    process.on('SIGTERM', stop).on('SIGINT', stop).on('SIGHUP', onHup).on('SIGUSR1', onUsr1);
  });
}
