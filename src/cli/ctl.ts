/**
 * ctl.ts: the commands that talk to the running daemon over its control socket (src/control/):
 * `provisiond bans list|lift` and `provisiond reload`, and the daemon's side of them (the
 * handler `run` gives its ControlServer).
 */
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { hostWarnings, templateErrors } from '../config/check';
import { loadConfigFile } from '../config/load';
import type { Config } from '../config/schema';
import { controlRequest } from '../control/client';
import { clientSocketPath } from '../control/paths';
import { parseSubject, type Answer, type Request } from '../control/protocol';
import type { Daemon } from '../daemon';
import { ErrorCodes, ProvError, errorMessage, type ErrorCode } from '../errors';
import { listBans, liftBans, type BanRow } from '../service/bans';
import { ExitCode, io, readConfig, reportError, table, type Io, type Outcome } from './common';

/** RELOAD_TIMEOUT_S is how long `reload` waits for the daemon's verdict by default. */
const RELOAD_TIMEOUT_S = 90;
/** QUERY_TIMEOUT_MS bounds `bans` requests. */
const QUERY_TIMEOUT_MS = 10_000;

/** BanRow is one ban as the control socket lists it (src/service/bans.ts). */
export type { BanRow };

/** Verdict is what a reload came to: applied, or why not (the daemon keeps its previous configuration). */
export type Verdict = { readonly ok: true } | { readonly ok: false; readonly code: ErrorCode; readonly error: string; readonly details: readonly string[] };

/** DaemonControl is what the daemon's control handler needs from `run`. */
export interface DaemonControl {
  readonly daemon: Daemon;
  /** configPath is the file the daemon was started with (undefined: embedded defaults). */
  readonly configPath: string | undefined;
  /** reload re-reads configPath, in turn with SIGHUP's reloads, and resolves with the verdict. */
  reload(): Promise<Verdict>;
  /** stats are the control socket's own counters. */
  stats(): Record<string, number>;
}

/** controlHandler answers the control socket's requests for a running daemon. */
export function controlHandler(c: DaemonControl): (req: Request) => Promise<Answer> {
  return async (req) => {
    switch (req.cmd) {
      case 'status':
        return { ok: true, result: { pid: process.pid, config: c.configPath === undefined ? null : resolve(c.configPath), faces: [...c.daemon.faces.keys()], control: c.stats() } };
      case 'bans.list':
        return { ok: true, result: bansOf(c.daemon) };
      case 'bans.lift': {
        try {
          return { ok: true, result: { lifted: liftBans(c.daemon.banControls(), req.subject) } };
        } catch (err) {
          return { ok: false, code: 'PROVD_ERR_BAN', error: errorMessage(err) };
        }
      }
      case 'reload': {
        if (c.configPath === undefined) return { ok: false, code: 'PROVD_ERR_CONFIG_READ', error: 'the daemon runs on its embedded defaults (started without --config): there is no file to reload' };
        if (req.config !== undefined && resolve(req.config) !== resolve(c.configPath)) {
          return { ok: false, code: 'PROVD_ERR_USAGE', error: `the daemon runs with ${resolve(c.configPath)}, not ${req.config}: a reload re-reads the daemon's own file (pass that --config)` };
        }
        const v = await c.reload();
        return v.ok ? { ok: true, result: { config: resolve(c.configPath) } } : { ok: false, code: v.code, error: v.error, details: v.details };
      }
    }
  };
}

/** listBans is every face's live bans, and the faces that ban but cannot be asked (HTTP workers). */
function bansOf(daemon: Daemon): { bans: BanRow[]; unavailable: string[] } {
  const controls = daemon.banControls();
  const unavailable = [...daemon.faces.keys()].filter((n) => (n === 'http' || n === 'tftp') && !controls.has(n));
  return { bans: listBans(controls), unavailable };
}

/** withSocket adds --config and --socket, shared by the commands that talk to the daemon. */
function withSocket<T>(y: Argv<T>) {
  return y
    .option('config', { alias: 'c', type: 'string', describe: "the daemon's configuration file (its stateDir holds the control socket outside systemd)" })
    .option('socket', { type: 'string', describe: 'the control socket (default: $RUNTIME_DIRECTORY/control.sock, /run/provisiond/control.sock, <stateDir>/control.sock)' });
}

/** socketFor finds the daemon's control socket for a command. */
function socketFor(configPath: string | undefined, override: string | undefined): string {
  if (override !== undefined) return clientSocketPath('.', override);
  const cfg: Config = readConfig(configPath);
  return clientSocketPath(cfg.stateDir, undefined);
}

/** ask sends one request and turns a refusal into its ProvError. */
async function ask(path: string, request: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
  const a = await controlRequest(path, request, timeoutMs);
  if (a.ok) return a.result;
  const code: ErrorCode = a.code in ErrorCodes ? (a.code as ErrorCode) : 'PROVD_ERR_CONTROL';
  throw new ProvError(code, a.error, { details: a.details ?? [] });
}

/** registerCtl adds `bans` and `reload`. */
export function registerCtl(y: Argv, out: Outcome): Argv {
  return y
    .command('bans', "the running daemon's brute-force bans (over its control socket)", (b) =>
      b
        .command(
          'list',
          'list the live bans: face, scope, subject, since, until, reason',
          (a) => withSocket(a).option('json', { type: 'boolean', default: false }),
          (a) => {
            out.pending = run(() => bansList(io(), socketFor(a.config, a.socket), a.json));
          },
        )
        .command(
          'lift <subject>',
          'lift the bans of an address, of user@tenant, or of a user in every tenant: the next request is served',
          (a) => withSocket(a).positional('subject', { type: 'string', demandOption: true, describe: 'IP address, user@tenant or user' }),
          (a) => {
            out.pending = run(() => bansLift(io(), socketFor(a.config, a.socket), a.subject));
          },
        )
        .demandCommand(1, 'name a bans command: list or lift'),
    )
    .command(
      'reload',
      'validate the configuration file, have the running daemon re-read it and wait for its verdict (exit 0: applied)',
      (a) => withSocket(a).option('timeout', { type: 'number', default: RELOAD_TIMEOUT_S, describe: "seconds to wait for the daemon's verdict" }),
      (a) => {
        out.pending = run(() => reload(io(), a.config, a.socket, a.timeout));
      },
    );
}

async function run(f: () => Promise<void>): Promise<number> {
  try {
    await f();
    return ExitCode.Ok;
  } catch (err) {
    return reportError(err);
  }
}

async function bansList(o: Io, path: string, json: boolean): Promise<void> {
  const r = (await ask(path, { cmd: 'bans.list' }, QUERY_TIMEOUT_MS)) as { bans?: BanRow[]; unavailable?: string[] };
  const bans = Array.isArray(r.bans) ? r.bans : [];
  for (const f of r.unavailable ?? []) o.stderr.write(`provisiond: warning: the ${f} face's bans live in its worker processes (http.workers > 1) and are not listed\n`);
  if (json) {
    o.stdout.write(`${JSON.stringify(bans, null, 2)}\n`);
    return;
  }
  if (bans.length === 0) {
    o.stdout.write('no live bans\n');
    return;
  }
  table(o, ['FACE', 'SCOPE', 'SUBJECT', 'SINCE', 'UNTIL', 'REASON'], bans.map((b) => [b.face, b.scope, b.subject, b.since, b.until, b.reason]));
}

async function bansLift(o: Io, path: string, subject: string): Promise<void> {
  if (parseSubject(subject) === undefined) throw new ProvError('PROVD_ERR_USAGE', `${JSON.stringify(subject.slice(0, 80))} is neither an IP address nor user@tenant nor a user name`);
  const r = (await ask(path, { cmd: 'bans.lift', subject }, QUERY_TIMEOUT_MS)) as { lifted?: BanRow[] };
  for (const b of r.lifted ?? []) o.stdout.write(`lifted: ${b.face} ${b.scope} ${b.subject} (banned since ${b.since}, until ${b.until})\n`);
}

async function reload(o: Io, configPath: string | undefined, socket: string | undefined, timeoutS: number): Promise<void> {
  if (!(timeoutS > 0 && timeoutS <= 3600)) throw new ProvError('PROVD_ERR_USAGE', '--timeout is 1-3600 seconds');
  let path: string;
  if (configPath !== undefined) {
    // Validated here first, as check-config does: an invalid file is refused without asking the daemon.
    const cfg = loadConfigFile(configPath);
    for (const w of hostWarnings(cfg)) o.stderr.write(`provisiond: warning: ${w}\n`);
    const errors = templateErrors(cfg);
    if (errors.length > 0) {
      throw new ProvError('PROVD_ERR_CONFIG_INVALID', `${configPath}: invalid configuration (${errors.length} problem${errors.length > 1 ? 's' : ''}); the daemon was not asked to reload`, { details: errors.map((e) => `${configPath}: ${e}`) });
    }
    path = clientSocketPath(cfg.stateDir, socket);
  } else {
    path = socketFor(undefined, socket);
  }
  const r = (await ask(path, { cmd: 'reload', ...(configPath !== undefined ? { config: resolve(configPath) } : {}) }, timeoutS * 1000)) as { config?: string };
  o.stdout.write(`${r.config ?? configPath ?? 'configuration'}: reloaded\n`);
}
