/**
 * index.ts: the `provisiond` command line. It assembles the commands (one file per command
 * group) and maps a refused command line or an error to the exit code; the CLI is the only part
 * of provisiond that reads argv, installs signal handlers or decides the exit code.
 */
import yargs from 'yargs';
import { version } from '../version';
import { registerCheckConfig } from './check-config';
import { ExitCode, UsageError, allowInit, reportError, type Outcome } from './common';
import { registerCtl } from './ctl';
import { registerDevices } from './devices';
import { registerExport } from './export';
import { registerImport } from './import';
import { registerKey } from './key';
import { registerPhones } from './phones';
import { registerProbe } from './probe';
import { registerRender } from './render';
import { registerRun } from './run';
import { registerStore } from './store';
import { registerToken } from './token';
import { registerUser } from './user';

/** COMMANDS register the command groups, in the order `--help` lists them. */
const COMMANDS = [registerRun, registerCheckConfig, registerExport, registerUser, registerKey, registerToken, registerDevices, registerPhones, registerImport, registerStore, registerRender, registerProbe, registerCtl] as const;

/** main runs the CLI and resolves to the exit code (the daemon resolves when it has stopped). */
export async function main(argv: readonly string[]): Promise<number> {
  const out: Outcome = { exit: ExitCode.Ok, pending: undefined };
  let parser = yargs([...argv])
    .scriptName('provisiond')
    .usage('$0 [command] [options]\n\nZero-touch provisioning for LAN clients: DHCP option 224, mDNS and HTTP.');
  for (const register of COMMANDS) parser = register(parser, out);
  parser = parser
    // --init (an administration command's option, see withConfig) reaches openStore through here.
    .middleware((a) => allowInit(a['init'] === true))
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
  return out.pending ? out.pending : out.exit;
}
