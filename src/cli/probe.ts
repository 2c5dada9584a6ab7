/**
 * probe.ts: `provisiond probe`, discovery and fetch like a Jitsi client; exit 10-14 names the
 * failing step.
 */
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { errorMessage } from '../errors';
import { runProbe, formatReport, STEP_EXIT } from '../probe/run';
import { formatPhoneReport, runPhoneProbe, PHONE_STEP_EXIT, VENDORS } from '../probe/phone';
import { ExitCode, UsageError, io, readPassword, reportError, type Outcome } from './common';

/** registerProbe adds the `probe` command. */
export function registerProbe(y: Argv, out: Outcome): Argv {
  return y.command(
    'probe',
    'discover and fetch like a Jitsi client (DHCP option 224 and/or mDNS), and report each step; exit 10-14 names the failing step',
    (p) =>
      p
        .option('method', { choices: ['dhcp', 'bonjour', 'both'] as const, default: 'both' as const, describe: 'discovery method(s); with both, DHCP runs first and its URL is fetched' })
        .option('username', { type: 'string', describe: 'the user the credentials prompt would be answered with' })
        .option('password-stdin', { type: 'boolean', default: false, describe: 'read the password from the first line of standard input (with --username)' })
        .option('interface', { alias: 'i', type: 'string', describe: 'send only from this interface (default: every non-loopback IPv4 address, as the client)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
        .option('show', { type: 'boolean', default: false, describe: 'print the document received after the report (passwords in it included: mind the terminal)' })
        .option('uuid', { type: 'string', describe: 'the value of ${uuid} (default: a random one, as a fresh client install)' })
        .option('user-agent', { type: 'string', default: 'Jitsi/2.10.5550', describe: 'the User-Agent sent' })
        .option('build', { type: 'string', default: 'provisiond-probe', describe: 'the value of ${build}' })
        .option('url', { type: 'string', describe: 'skip discovery and fetch this provisioning URL (a template with ${…} placeholders, as DHCP/mDNS serve it)' })
        .option('ca', { type: 'string', describe: 'PEM file of CA certificates to trust for HTTPS, besides the system ones' })
        .option('insecure', { type: 'boolean', default: false, describe: 'accept any HTTPS certificate (as a user answering "Trust" in the client would)' })
        .option('as', { type: 'string', choices: Object.keys(VENDORS), describe: 'be a factory-fresh SIP phone of this profile: PnP SUBSCRIBE, NOTIFY, boot files; exit 15-17 names the failing step' })
        .option('mac', { type: 'string', describe: 'with --as: the phone\'s MAC (default 00:00:5e:00:53:01)' })
        .option('model', { type: 'string', describe: 'with --as: the phone\'s model (default: one per vendor)' })
        .option('server', { type: 'string', describe: 'with --as: the PnP target ADDR[:PORT] (default 224.0.1.75:5060), or for Polycom/Cisco the file server (URL, or ADDR[:PORT] with --tftp)' })
        .option('tftp', { type: 'boolean', default: false, describe: 'with --as: fetch the boot files over TFTP' })
        .check((a) => {
          if (a['password-stdin'] && a.username === undefined) throw new UsageError('--password-stdin needs --username');
          const phoneOnly = ['mac', 'model', 'server'].filter((k) => a[k] !== undefined);
          if (a.as === undefined && (phoneOnly.length > 0 || a.tftp)) throw new UsageError(`--${phoneOnly[0] ?? 'tftp'} goes with --as PROFILE`);
          if (a.as !== undefined && (a.url !== undefined || a.username !== undefined)) throw new UsageError('--as probes as a SIP phone: --url and --username are the Jitsi probe\'s');
          return true;
        }),
    (a) => {
      if (a.as !== undefined) {
        out.pending = phoneProbeCommand({ vendor: a.as, mac: a.mac, model: a.model, server: a.server, tftp: a.tftp, json: a.json, ca: a.ca, insecure: a.insecure });
        return;
      }
      out.pending = probeCommand({ method: a.method, username: a.username, passwordStdin: a['password-stdin'], iface: a.interface, json: a.json, userAgent: a['user-agent'], build: a.build, url: a.url, ca: a.ca, insecure: a.insecure, show: a.show, uuid: a.uuid });
    },
  );
}

/** readCa reads --ca's file (undefined without --ca); false, after saying why on stderr, when it cannot be read. */
function readCa(path: string | undefined): Buffer | undefined | false {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    process.stderr.write(`provisiond: cannot read --ca ${path}: ${errorMessage(err)} [PROVD_ERR_USAGE]\n`);
    return false;
  }
}

/** phoneProbeCommand runs `provisiond probe --as PROFILE` and maps the first failing step to its exit code (15-17). */
async function phoneProbeCommand(o: { vendor: string; mac: string | undefined; model: string | undefined; server: string | undefined; tftp: boolean; json: boolean; ca: string | undefined; insecure: boolean }): Promise<number> {
  const ca = readCa(o.ca);
  if (ca === false) return ExitCode.Usage;
  try {
    const report = await runPhoneProbe({ vendor: o.vendor, mac: o.mac, model: o.model, server: o.server, tftp: o.tftp, tls: { ...(ca === undefined ? {} : { ca }), insecure: o.insecure } });
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatPhoneReport(report));
    if (report.ok || report.failed === undefined) return ExitCode.Ok;
    const last = report.steps[report.steps.length - 1];
    process.stderr.write(`provisiond: probe failed at step ${report.failed}: ${last?.summary ?? ''} [PROVD_ERR_PROBE]\n`);
    return PHONE_STEP_EXIT[report.failed];
  } catch (err) {
    return reportError(err);
  }
}

/** probeCommand runs `provisiond probe` and maps the first failing step to its exit code. */
async function probeCommand(o: { method: 'dhcp' | 'bonjour' | 'both'; username: string | undefined; passwordStdin: boolean; iface: string | undefined; json: boolean; userAgent: string; build: string; url: string | undefined; ca: string | undefined; insecure: boolean; show: boolean; uuid: string | undefined }): Promise<number> {
  const ca = readCa(o.ca);
  if (ca === false) return ExitCode.Usage;
  try {
    const password = o.passwordStdin ? await readPassword(io(), true, false) : undefined;
    const report = await runProbe({
      method: o.method,
      userAgent: o.userAgent,
      build: o.build,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(password === undefined ? {} : { password }),
      ...(o.iface === undefined ? {} : { interface: o.iface }),
      ...(o.url === undefined ? {} : { url: o.url }),
      ...(o.uuid === undefined ? {} : { uuid: o.uuid }),
      tls: { ...(ca === undefined ? {} : { ca }), insecure: o.insecure },
    });
    const { document, ...shown } = report;
    process.stdout.write(o.json ? `${JSON.stringify(o.show ? report : shown, null, 2)}\n` : formatReport(report));
    if (o.show && !o.json && document !== undefined) process.stdout.write(`--- document received (${Buffer.byteLength(document)} bytes) ---\n${document}${document.endsWith('\n') ? '' : '\n'}`);
    if (report.ok || report.failed === undefined) return ExitCode.Ok;
    const last = report.steps[report.steps.length - 1];
    process.stderr.write(`provisiond: probe failed at step ${report.failed}: ${last?.summary ?? ''} [PROVD_ERR_PROBE]\n`);
    return STEP_EXIT[report.failed];
  } catch (err) {
    return reportError(err);
  }
}
