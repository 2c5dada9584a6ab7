/**
 * common.ts: what every command file of the CLI shares: the exit codes and the mapping of
 * error codes to them, the one-line error report, configuration loading, the store opened for a
 * command, the streams a command writes to (with password prompts) and table output.
 *
 * Exit codes (documented in README.md):
 *   0 success · 1 invalid or unreadable configuration (or a URL mDNS cannot carry) · 2 usage error ·
 *   3 startup failure (port in use, bad interface, store or TLS files) · 4 internal error ·
 *   5 an administration command failed (user, key, token, devices, render, import) ·
 *   6 `devices sync`: a phone did not accept the resync ·
 *   7 `bans`, `reload`: no daemon answers on the control socket, or permission denied ·
 *   10-14 `probe` failed at a step: 10 dhcp · 11 bonjour · 12 url · 13 http · 14 properties ·
 *   15-17 `probe --as` failed at a step: 15 subscribe · 16 notify · 17 files
 *
 * Passwords never come from argv (they would sit in shell history and `ps`): they are read
 * from a terminal prompt with echo off, or from standard input with --password-stdin.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { loadConfigFile, defaultConfig } from '../config/load';
import type { Config } from '../config/schema';
import { ProvError, isProvError, type ErrorCode } from '../errors';
import { STEP_EXIT } from '../probe/run';
import { STORE_FILE } from '../store/sqlite';
import { openConfiguredStore } from '../store/open';
import type { Store } from '../store/repository';

/** ExitCode names the process exit codes. */
export const ExitCode = { Ok: 0, Config: 1, Usage: 2, Startup: 3, Internal: 4, Admin: 5, Resync: 6, Control: 7 } as const;

/** Outcome is what a command handler leaves for main: an exit code, or a promise of one. */
export interface Outcome {
  exit: number;
  pending: Promise<number> | undefined;
}

/** UsageError is a command line that yargs (or a command's check) refused: exit 2. */
export class UsageError extends Error {}

/** exitCodeFor maps an error code to the process exit code. */
export function exitCodeFor(code: ErrorCode): number {
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
    case 'PROVD_ERR_DHCP_WORKER':
    case 'PROVD_ERR_SIP_BIND':
    case 'PROVD_ERR_SIP_INTERFACE':
    case 'PROVD_ERR_SIP_WORKER':
    case 'PROVD_ERR_MDNS_BIND':
    case 'PROVD_ERR_MDNS_INTERFACE':
    case 'PROVD_ERR_MDNS_CONFLICT':
    case 'PROVD_ERR_HTTP_BIND':
    case 'PROVD_ERR_HTTP_TLS':
    case 'PROVD_ERR_ADMIN_BIND':
    case 'PROVD_ERR_EVENT_LOG':
    case 'PROVD_ERR_HTTP_WORKER':
    case 'PROVD_ERR_STORE':
    case 'PROVD_ERR_STORE_UNREACHABLE':
    case 'PROVD_ERR_TFTP_BIND':
    case 'PROVD_ERR_TFTP_INTERFACE':
    case 'PROVD_ERR_TFTP_WORKER':
    case 'PROVD_ERR_CONTROL_BIND':
      return ExitCode.Startup;
    case 'PROVD_ERR_USER':
    case 'PROVD_ERR_RENDER':
    case 'PROVD_ERR_TEMPLATE':
    case 'PROVD_ERR_KEY':
    case 'PROVD_ERR_PHONE_STORE':
    case 'PROVD_ERR_IMPORT':
    case 'PROVD_ERR_DEVICE':
    case 'PROVD_ERR_NO_STORE':
    case 'PROVD_ERR_BAN':
    case 'PROVD_ERR_TOKEN':
      return ExitCode.Admin;
    case 'PROVD_ERR_CONTROL':
      return ExitCode.Control;
    case 'PROVD_ERR_RESYNC':
      return ExitCode.Resync;
    case 'PROVD_ERR_PROBE':
      return STEP_EXIT.dhcp;
    case 'PROVD_ERR_MDNS_LIBRARY': // only ever a warning; listed so the switch stays exhaustive
    case 'PROVD_ERR_REMEMBER_KEY': // logged by the HTTP face, never an exit; listed so the switch stays exhaustive
    case 'PROVD_ERR_API_AUTH': // admin API answers (problem+json), never an exit; listed so the switch stays exhaustive
    case 'PROVD_ERR_API_BANNED':
    case 'PROVD_ERR_API_FORBIDDEN':
    case 'PROVD_ERR_API_NOT_FOUND':
    case 'PROVD_ERR_API_INVALID':
    case 'PROVD_ERR_INTERNAL':
      return ExitCode.Internal;
  }
}

/** reportError prints one clear line (plus any detail lines) on stderr and returns the exit code. */
export function reportError(err: unknown): number {
  if (isProvError(err)) {
    process.stderr.write(`provisiond: ${err.message} [${err.code}]\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
    return exitCodeFor(err.code);
  }
  process.stderr.write(`provisiond: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)} [PROVD_ERR_INTERNAL]\n`);
  return ExitCode.Internal;
}

/** SYSTEM_CONFIG is the configuration commands use without --config when it exists (the package installs it). */
export const SYSTEM_CONFIG = '/etc/provisiond/provisiond.yaml';

/**
 * defaultConfigPath is the configuration a command uses without --config: $PROVISIOND_CONFIG
 * when set (it must then exist), else /etc/provisiond/provisiond.yaml when it exists, else none
 * (the embedded defaults).
 */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, system: string = SYSTEM_CONFIG): string | undefined {
  const named = env['PROVISIOND_CONFIG'];
  if (named !== undefined && named !== '') return named;
  return existsSync(system) ? system : undefined;
}

/** embedded are the configurations that came from no file (the embedded defaults: stateDir ./state). */
const embedded = new WeakSet<Config>();
/** initAllowed is --init: an administration command may create a store that does not exist yet. */
let initAllowed = false;

/** allowInit records --init (set by the CLI's middleware before a command runs). */
export function allowInit(on: boolean): void {
  initAllowed = on;
}

/** readConfig loads the configuration file (or the default one: defaultConfigPath), or the embedded defaults without one. */
export function readConfig(path: string | undefined): Config {
  const p = path ?? defaultConfigPath();
  if (p !== undefined) return loadConfigFile(p);
  const c = defaultConfig();
  embedded.add(c);
  return c;
}

/** withConfig adds the optional --config/-c option and --init. */
export function withConfig<T>(y: Argv<T>) {
  return y
    .option('config', { alias: 'c', type: 'string', describe: `configuration file (YAML); default $PROVISIOND_CONFIG, else ${SYSTEM_CONFIG} when it exists, else the embedded defaults` })
    .option('init', { type: 'boolean', describe: 'create the store when there is none yet and no configuration is named (the embedded defaults\' ./state)' });
}

/** adminRun loads the configuration and runs an administration command, mapping errors to exit codes. */
export async function adminRun(configPath: string | undefined, f: (cfg: Config) => unknown): Promise<number> {
  try {
    await f(readConfig(configPath));
    return ExitCode.Ok;
  } catch (err) {
    return reportError(err);
  }
}

/** storeExists tells whether the state directory holds a store (reading commands do not create one). */
export function storeExists(config: Config): boolean {
  return config.store.url !== undefined || existsSync(join(config.stateDir, STORE_FILE));
}

/**
 * openStore opens (or creates) the configuration's store. With no configuration named (the
 * embedded defaults) it creates none without --init: it says where it would have and how to
 * name the configuration instead (the CLI no longer guesses a ./state of wherever it runs).
 */
export async function openStore(config: Config): Promise<Store> {
  if (config.store.url !== undefined) return openConfiguredStore(config.stateDir, config.store);
  if (!initAllowed && embedded.has(config) && !storeExists(config)) {
    throw new ProvError(
      'PROVD_ERR_NO_STORE',
      `no configuration named (no --config, PROVISIOND_CONFIG unset, no ${SYSTEM_CONFIG}) and no store at ${join(config.stateDir, STORE_FILE)}: this command would create a new store there; name the daemon's configuration (--config FILE or PROVISIOND_CONFIG=FILE), or pass --init to create the store there`,
    );
  }
  return openConfiguredStore(config.stateDir, config.store);
}

/** withStore runs f on the configuration's store and closes it. */
export async function withStore<T>(config: Config, f: (s: Store) => T | Promise<T>): Promise<T> {
  const s = await openStore(config);
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

/** Io is where a command reads and writes (injectable for tests). */
export interface Io {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** io is the process's own streams. */
export function io(): Io {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** MAX_PASSWORD bounds what is read for a password (bytes). */
const MAX_PASSWORD = 4096;

/** readAll reads a stream to the end, up to `limit` bytes. */
export async function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    n += b.length;
    if (n > limit) throw new ProvError('PROVD_ERR_USER', `standard input is larger than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** promptHidden reads one line from a terminal with echo off. */
function promptHidden(io: Io, prompt: string): Promise<string> {
  const stdin = io.stdin;
  return new Promise((resolve, reject) => {
    io.stderr.write(prompt);
    stdin.setRawMode?.(true);
    stdin.resume();
    let buf = '';
    const finish = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (d: Buffer | string): void => {
      for (const ch of typeof d === 'string' ? d : d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new ProvError('PROVD_ERR_USER', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else if (buf.length < MAX_PASSWORD) buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** readPassword gets a new password from stdin (--password-stdin) or a terminal prompt. */
export async function readPassword(io: Io, fromStdin: boolean, confirm: boolean): Promise<string> {
  let pw: string;
  if (fromStdin) {
    const text = await readAll(io.stdin, MAX_PASSWORD + 2);
    pw = text.split(/\r?\n/, 1)[0] ?? '';
  } else if (io.stdin.isTTY === true && io.stdin.setRawMode !== undefined) {
    pw = await promptHidden(io, 'Password: ');
    if (confirm && (await promptHidden(io, 'Again: ')) !== pw) throw new ProvError('PROVD_ERR_USER', 'the two passwords differ');
  } else {
    throw new ProvError('PROVD_ERR_USER', 'no terminal to prompt for the password on: pipe it in with --password-stdin');
  }
  if (pw.length === 0) throw new ProvError('PROVD_ERR_USER', 'the password is empty');
  return pw;
}

/** isWildcardHost tells whether http.host listens on every address (no address a phone can be given). */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/**
 * phoneBaseUrl is the base URL phones fetch their files from, as `render --mac` and `export dhcp`
 * need it: `phones.baseUrl` (what the phones get whenever it is set), else `--base-url`, else
 * the HTTP face's scheme, `http.host` and port. A wildcard `http.host` gives 127.0.0.1 with a
 * note when `wildcard` is 'loopback' (render), and is refused when it is 'refuse' (a DHCP file
 * needs an address the phones can reach). `notes` are for stderr.
 */
export function phoneBaseUrl(config: Config, override: string | undefined, wildcard: 'loopback' | 'refuse'): { url: string; notes: string[] } {
  const slash = (u: string): string => (u.endsWith('/') ? u : `${u}/`);
  const notes: string[] = [];
  if (config.phones.baseUrl !== undefined) {
    const url = slash(config.phones.baseUrl);
    if (override !== undefined && slash(override) !== url) notes.push(`phones.baseUrl is set: --base-url ignored (the phones get ${url})`);
    return { url, notes };
  }
  if (override !== undefined) {
    let u: URL;
    try {
      u = new URL(override);
    } catch {
      throw new ProvError('PROVD_ERR_USAGE', `--base-url ${JSON.stringify(override)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ProvError('PROVD_ERR_USAGE', `--base-url ${JSON.stringify(override)} is not an http:// or https:// URL`);
    return { url: slash(override), notes };
  }
  const h = config.http;
  if (h.port === 0) throw new ProvError('PROVD_ERR_CONFIG_INVALID', 'http.port is 0 (a port chosen at run time): set phones.baseUrl or pass --base-url');
  let host = h.host;
  if (isWildcardHost(host)) {
    if (wildcard === 'refuse') throw new ProvError('PROVD_ERR_CONFIG_INVALID', `http.host is ${host} (every address): set phones.baseUrl or pass --base-url with an address the phones can reach`);
    host = '127.0.0.1';
    notes.push(`phones.baseUrl is not set and http.host is ${h.host}: using ${h.tls ? 'https' : 'http'}://127.0.0.1:${h.port}/ (a phone gets the address it connected to; pass --base-url to match it)`);
  }
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { url: `${h.tls ? 'https' : 'http'}://${hostPart}:${h.port}/`, notes };
}

/** table prints rows under a header, each column as wide as its widest cell. */
export function table(io: Io, head: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`;
  io.stdout.write(line(head));
  for (const r of rows) io.stdout.write(line(r));
}
