/**
 * run.ts: `provisiond run` (the default command): the daemon in the foreground, with its signal
 * handlers: SIGHUP reloads the configuration, SIGUSR1 logs the counters, SIGTERM/SIGINT stop.
 */
import type { Argv } from 'yargs';
import { loadConfigFile, reloadRefusal } from '../config/load';
import type { Config, LogLevel } from '../config/schema';
import type { Daemon } from '../daemon';
import { ProvError, isProvError, errorMessage } from '../errors';
import { createLogger, type Logger } from '../log';
import { createNotifier, type Notifier } from '../notify';
import { listHostInterfaces, type InterfaceLister } from '../net/interfaces';
import { version } from '../version';
import { ExitCode, SYSTEM_CONFIG, UsageError, defaultConfigPath, exitCodeFor, readConfig, reportError, type Outcome } from './common';
import { controlHandler, type Verdict } from './ctl';
import { ControlServer } from '../control/server';
import { daemonSocketPath } from '../control/paths';
import { urlKeyWarnings } from './key';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** SHUTDOWN_GRACE_MS bounds a graceful close on SIGTERM/SIGINT (systemd waits longer). */
const SHUTDOWN_GRACE_MS = 5000;
/** MAX_INTERFACE_WAIT_S bounds --wait-interfaces (systemd's start timeout is 90 s by default). */
const MAX_INTERFACE_WAIT_S = 600;
/** INTERFACE_POLL_MS is how often the interfaces are looked at while waiting. */
const INTERFACE_POLL_MS = 250;

/** registerRun adds `run`, the default command. */
export function registerRun(y: Argv, out: Outcome): Argv {
  return y.command(
    ['run', '$0'],
    'run the daemon (the default command)',
    (r) =>
      r
        .option('config', { alias: 'c', type: 'string', describe: `configuration file (YAML); default $PROVISIOND_CONFIG, else ${SYSTEM_CONFIG} when it exists, else the embedded defaults` })
        .option('log-level', { type: 'string', choices: LEVELS, describe: 'override log.level' })
        .option('wait-interfaces', {
          type: 'number',
          default: 0,
          describe: 'wait up to SECONDS for the configured interfaces to get an IPv4 address before starting (0: fail at once)',
        }),
    (args) => {
      const wait = args['wait-interfaces'];
      if (!Number.isFinite(wait) || wait < 0 || wait > MAX_INTERFACE_WAIT_S) throw new UsageError(`--wait-interfaces must be 0-${MAX_INTERFACE_WAIT_S} seconds`);
      out.pending = runDaemon(args.config ?? defaultConfigPath(), args['log-level'] as LogLevel | undefined, wait * 1000);
    },
  );
}

async function runDaemon(configPath: string | undefined, levelOverride: LogLevel | undefined, interfaceWaitMs: number): Promise<number> {
  let config: Config;
  try {
    config = readConfig(configPath);
  } catch (err) {
    return reportError(err);
  }
  const level = (): LogLevel => levelOverride ?? config.log.level;
  const log = createLogger(level());
  const notifier = createNotifier(log);
  let onFatal = (_err: ProvError): void => undefined;
  // Loaded here, not at the top: the daemon's faces (fastify, ciao) cost ~200 ms to load, which
  // every administration command would otherwise pay.
  const { createDaemon } = await import('../daemon');
  const daemon = createDaemon(config, { log, onFatal: (err) => onFatal(err) });
  // The handlers go in before the first log line, so that whoever waits for a line to signal
  // finds them: without one, SIGUSR1 starts Node's inspector (127.0.0.1:9229) and SIGHUP ends
  // the process.
  const signals = wireSignals(daemon, log, configPath, levelOverride, notifier);
  onFatal = (err) => signals.fail(err);
  log.info({ version, config: configPath ?? '(embedded defaults)', node: process.version }, 'provisiond starting');
  if (interfaceWaitMs > 0) await waitForInterfaces(config, log, notifier, interfaceWaitMs);
  try {
    await daemon.start();
  } catch (err) {
    signals.remove();
    log.fatal({ err: errorMessage(err), code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL' }, 'startup failed');
    notifier.status(`startup failed: ${errorMessage(err)}`);
    await daemon.close();
    await notifier.flush();
    return reportError(err);
  }
  // The control socket (`provisiond bans`, `provisiond reload`): a daemon that cannot open it
  // (another one answers there) stops, as for a port in use.
  const control: ControlServer = new ControlServer({
    path: daemonSocketPath(config.stateDir),
    log: log.child({ face: 'control' }),
    handle: controlHandler({ daemon, configPath, reload: () => signals.reload(), stats: (): Record<string, number> => control.stats() }),
  });
  try {
    await control.start();
  } catch (err) {
    signals.remove();
    log.fatal({ err: errorMessage(err), code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL' }, 'startup failed');
    await daemon.close();
    return reportError(err);
  }
  signals.onStopping(() => void control.close());
  signals.addStats('control', () => control.stats());
  logUrlKeyFindings(log, config);
  // serve() installs the SIGTERM/SIGINT handlers and the watchdog at once; then READY=1: every
  // enabled face listens (daemon.start() resolved) and a stop from now on is a graceful one.
  const serving = signals.serve();
  notifier.ready(servingStatus(daemon));
  const code = await serving;
  await notifier.flush();
  return code;
}

/** namedInterfaces are the interfaces the enabled faces name (those that must have an IPv4 address). */
export function namedInterfaces(config: Config): string[] {
  const names = new Set<string>();
  if (config.dhcp.enabled) for (const n of config.dhcp.interfaces) names.add(n);
  if (config.mdns.enabled) for (const n of config.mdns.interfaces ?? config.dhcp.interfaces) names.add(n);
  if (config.sip.enabled) for (const n of config.sip.interfaces) names.add(n);
  if (config.tftp.enabled) for (const n of config.tftp.interfaces) names.add(n);
  return [...names];
}

/**
 * waitForInterfaces waits (up to `ms`, polling) until every interface the configuration names
 * has an IPv4 address: at boot, DHCP-configured links and late NICs come up after the daemon.
 * One warn line and a STATUS= while it waits, one info line when they are there; after `ms`
 * it returns anyway and the faces' start reports the missing interface (exit 3) as before.
 */
export async function waitForInterfaces(config: Config, log: Logger, notifier: Notifier, ms: number, list: InterfaceLister = listHostInterfaces): Promise<void> {
  const names = namedInterfaces(config);
  const missing = (): string[] => {
    const have = new Set(list().map((h) => h.name));
    return names.filter((n) => !have.has(n));
  };
  let absent = missing();
  if (absent.length === 0) return;
  const t0 = Date.now();
  log.warn({ interfaces: absent, waitMs: ms }, 'waiting for the configured interfaces to get an IPv4 address');
  notifier.status(`waiting up to ${Math.round(ms / 1000)} s for ${absent.join(', ')} to get an IPv4 address`);
  const deadline = t0 + ms;
  // The event loop is alive while it waits: keep a watchdog (if systemd armed one) fed.
  const stopWatchdog = notifier.watchdog(() => true);
  try {
    while (absent.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(INTERFACE_POLL_MS, Math.max(1, deadline - Date.now()))));
      absent = missing();
    }
  } finally {
    stopWatchdog();
  }
  if (absent.length === 0) log.info({ interfaces: names, waitedMs: Date.now() - t0 }, 'the configured interfaces have their addresses');
  else log.error({ interfaces: absent, waitedMs: Date.now() - t0 }, 'gave up waiting for the configured interfaces');
}

/** servingStatus is the STATUS= line of a daemon that serves. */
function servingStatus(daemon: Daemon): string {
  const faces = [...daemon.faces.keys()];
  return faces.length > 0 ? `serving: ${faces.join(', ')}` : 'running with every face disabled';
}

/**
 * logUrlKeyFindings reports configured urlKeys that are not their tenant's current key: at error
 * level when the key no longer opens the tenant (the faces advertise a URL that gets 404), at
 * warn level while it is the previous key in its grace period.
 */
function logUrlKeyFindings(log: Logger, config: Config): void {
  for (const f of urlKeyWarnings(config)) {
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
  /** reload re-reads the configuration as SIGHUP does (in turn with SIGHUPs) and resolves with the verdict. */
  reload(): Promise<Verdict>;
  /** onStopping is told once when the daemon starts to stop (the control socket closes first). */
  onStopping(f: () => void): void;
  /** addStats adds counters that are not a face's (the control socket's) to SIGUSR1's line. */
  addStats(name: string, f: () => Record<string, number>): void;
}

/**
 * wireSignals installs SIGHUP (reload) and SIGUSR1 (log counters) at once; a SIGHUP before
 * serve() waits for it. SIGTERM/SIGINT are added by serve(): during startup they keep their
 * default action, which ends the process.
 */
function wireSignals(daemon: Daemon, log: Logger, configPath: string | undefined, levelOverride: LogLevel | undefined, notifier: Notifier): Signals {
  let serving = (): void => undefined;
  let reloading = new Promise<void>((r) => (serving = r));
  const reload = (): Promise<Verdict> => {
    const verdict = reloading.then(() => applyReload());
    reloading = verdict.then(() => undefined);
    return verdict;
  };
  const applyReload = async (): Promise<Verdict> => {
    if (configPath === undefined) {
      log.info('SIGHUP: running on embedded defaults, nothing to reload');
      return { ok: false, code: 'PROVD_ERR_CONFIG_READ', error: 'running on embedded defaults: nothing to reload', details: [] };
    }
    log.info({ config: configPath }, 'SIGHUP: reloading configuration');
    notifier.reloading(`reloading ${configPath}`);
    // After a refused reload the daemon is READY again (on the previous configuration), with a
    // STATUS= naming the problem, so `systemctl status` shows it.
    const refused = (v: Extract<Verdict, { ok: false }>): Verdict => {
      notifier.ready(`${servingStatus(daemon)}; reload rejected: ${v.error}${v.details.length > 0 ? `: ${v.details.join('; ')}` : ''}`);
      return v;
    };
    let next: Config;
    try {
      next = loadConfigFile(configPath);
    } catch (err) {
      const details = isProvError(err) ? err.details : [];
      for (const d of details) log.error({ problem: d }, 'configuration problem');
      log.error({ err: errorMessage(err), code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', problems: details.length }, 'reload rejected; still serving the previous configuration');
      return refused({ ok: false, code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', error: `${errorMessage(err)}; the daemon keeps its previous configuration`, details });
    }
    const refusal = reloadRefusal(daemon.config, next);
    if (refusal !== undefined) {
      log.error({ err: `${configPath}: ${refusal}`, code: 'PROVD_ERR_CONFIG_INVALID', problems: 1 }, 'reload rejected; still serving the previous configuration');
      return refused({ ok: false, code: 'PROVD_ERR_CONFIG_INVALID', error: `${configPath}: ${refusal}; the daemon keeps its previous configuration`, details: [] });
    }
    try {
      await daemon.reload(levelOverride ? { ...next, log: { level: levelOverride } } : next);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'reload could not be applied; still serving the previous configuration');
      return refused({ ok: false, code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', error: `the daemon could not apply ${configPath}: ${errorMessage(err)}; it keeps its previous configuration`, details: isProvError(err) ? err.details : [] });
    }
    notifier.ready(`${servingStatus(daemon)}; configuration reloaded`);
    logUrlKeyFindings(log, next);
    return { ok: true };
  };
  const onHup = (): void => void reload();
  const extraStats = new Map<string, () => Record<string, number>>();
  const onUsr1 = (): void =>
    void daemon.fetchStats().then((stats) => log.info({ stats: { ...stats, ...Object.fromEntries([...extraStats].map(([n, f]) => [n, f()])) } }, 'counters'));
  let stop = (_signal: NodeJS.Signals): void => undefined;
  let failed: ProvError | undefined;
  let stopWatchdog = (): void => undefined;
  const stopping: (() => void)[] = [];
  const tellStopping = (): void => {
    for (const f of stopping.splice(0)) f();
  };
  let fail = (err: ProvError): void => void (failed ??= err);
  const remove = (): void => void process.off('SIGTERM', stop).off('SIGINT', stop).off('SIGHUP', onHup).off('SIGUSR1', onUsr1);
  process.on('SIGHUP', onHup).on('SIGUSR1', onUsr1);
  return {
    remove,
    reload,
    onStopping: (f) => void stopping.push(f),
    addStats: (name, f) => void extraStats.set(name, f),
    fail: (err) => fail(err),
    serve: () =>
      new Promise((resolve) => {
        fail = (err) => {
          remove();
          stopWatchdog();
          notifier.stopping(`a face is down for good: ${err.message}`);
          tellStopping();
          reportError(err);
          const timer = setTimeout(() => resolve(exitCodeFor(err.code)), SHUTDOWN_GRACE_MS);
          timer.unref();
          void daemon.close().then(
            () => {
              clearTimeout(timer);
              resolve(exitCodeFor(err.code));
            },
            (closeErr: unknown) => {
              // A face that fails to close must not turn the exit into an unhandled rejection (exit 1).
              log.error({ err: errorMessage(closeErr) }, 'shutdown: a face failed to close');
              clearTimeout(timer);
              resolve(exitCodeFor(err.code));
            },
          );
        };
        stop = (signal) => {
          log.info({ signal }, 'stopping');
          remove();
          stopWatchdog();
          notifier.stopping(`stopping (${signal})`);
          tellStopping();
          const timer = setTimeout(() => {
            log.error({ graceMs: SHUTDOWN_GRACE_MS }, 'graceful shutdown timed out; exiting');
            resolve(ExitCode.Internal);
          }, SHUTDOWN_GRACE_MS);
          timer.unref();
          void daemon.close().then(
            () => {
              clearTimeout(timer);
              resolve(ExitCode.Ok);
            },
            (closeErr: unknown) => {
              log.error({ err: errorMessage(closeErr) }, 'shutdown: a face failed to close');
              clearTimeout(timer);
              resolve(ExitCode.Internal);
            },
          );
        };
        process.on('SIGTERM', stop).on('SIGINT', stop);
        // WATCHDOG=1 from this event loop while no face has failed for good.
        stopWatchdog = notifier.watchdog(() => failed === undefined);
        serving();
        if (failed) fail(failed);
      }),
  };
}
