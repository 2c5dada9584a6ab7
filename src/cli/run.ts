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
import { version } from '../version';
import { ExitCode, exitCodeFor, readConfig, reportError, type Outcome } from './common';
import { controlHandler, type Verdict } from './ctl';
import { ControlServer } from '../control/server';
import { daemonSocketPath } from '../control/paths';
import { urlKeyWarnings } from './key';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** SHUTDOWN_GRACE_MS bounds a graceful close on SIGTERM/SIGINT (systemd waits longer). */
const SHUTDOWN_GRACE_MS = 5000;

/** registerRun adds `run`, the default command. */
export function registerRun(y: Argv, out: Outcome): Argv {
  return y.command(
    ['run', '$0'],
    'run the daemon (the default command)',
    (r) =>
      r
        .option('config', { alias: 'c', type: 'string', describe: 'configuration file (YAML); without it the embedded defaults are used' })
        .option('log-level', { type: 'string', choices: LEVELS, describe: 'override log.level' }),
    (args) => {
      out.pending = runDaemon(args.config, args['log-level'] as LogLevel | undefined);
    },
  );
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
  // Loaded here, not at the top: the daemon's faces (fastify, ciao) cost ~200 ms to load, which
  // every administration command would otherwise pay.
  const { createDaemon } = await import('../daemon');
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
  return signals.serve();
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
function wireSignals(daemon: Daemon, log: Logger, configPath: string | undefined, levelOverride: LogLevel | undefined): Signals {
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
    let next: Config;
    try {
      next = loadConfigFile(configPath);
    } catch (err) {
      const details = isProvError(err) ? err.details : [];
      for (const d of details) log.error({ problem: d }, 'configuration problem');
      log.error({ err: errorMessage(err), code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', problems: details.length }, 'reload rejected; still serving the previous configuration');
      return { ok: false, code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', error: `${errorMessage(err)}; the daemon keeps its previous configuration`, details };
    }
    const refusal = reloadRefusal(daemon.config, next);
    if (refusal !== undefined) {
      log.error({ err: `${configPath}: ${refusal}`, code: 'PROVD_ERR_CONFIG_INVALID', problems: 1 }, 'reload rejected; still serving the previous configuration');
      return { ok: false, code: 'PROVD_ERR_CONFIG_INVALID', error: `${configPath}: ${refusal}; the daemon keeps its previous configuration`, details: [] };
    }
    try {
      await daemon.reload(levelOverride ? { ...next, log: { level: levelOverride } } : next);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'reload could not be applied; still serving the previous configuration');
      return { ok: false, code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', error: `the daemon could not apply ${configPath}: ${errorMessage(err)}; it keeps its previous configuration`, details: isProvError(err) ? err.details : [] };
    }
    logUrlKeyFindings(log, next);
    return { ok: true };
  };
  const onHup = (): void => void reload();
  const extraStats = new Map<string, () => Record<string, number>>();
  const onUsr1 = (): void =>
    void daemon.fetchStats().then((stats) => log.info({ stats: { ...stats, ...Object.fromEntries([...extraStats].map(([n, f]) => [n, f()])) } }, 'counters'));
  let stop = (_signal: NodeJS.Signals): void => undefined;
  let failed: ProvError | undefined;
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
          tellStopping();
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
          tellStopping();
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
