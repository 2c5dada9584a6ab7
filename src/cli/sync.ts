/**
 * sync.ts: `provisiond devices sync MAC | --device-config C | --all [--tenant T] [--reboot]
 * [--timeout S] [--concurrency N] [--json]`: ask phones to fetch their configuration now, with
 * their vendor's SIP NOTIFY (src/sip/resync.ts), at their last known address.
 *
 * The work is src/service/resync.ts's (shared with the admin API). The store is read first and closed (targets: address, port, event, line-1 credentials), then
 * the NOTIFYs run, at most `--concurrency` at once, or, with `phones.resync.via: ami`, go through
 * Asterisk (src/sip/ami.ts, one action at a time). One line per device as its answer comes, then
 * a summary; exit 0 when every phone accepted (or Asterisk sent its NOTIFY), else 6
 * (`PROVD_ERR_RESYNC`) naming how many were refused, unreachable, without a known address or not
 * loaded.
 */
import type { Config } from '../config/schema';
import { ProvError } from '../errors';
import { loadPhonesDomain } from '../phones/domain';
import { syncDeclared } from '../phones/service';
import { deviceMac } from '../phones/admin';
import { describeLine, outcomeOf, planPhones, sendPlanned, type Planned } from '../service/resync';
import type { OpenChannel } from '../sip/resync';
import { storeExists, withStore, type Io } from './common';

/** SyncOptions are the command's options. */
export interface SyncOptions {
  readonly mac?: string | undefined;
  readonly deviceConfig?: string | undefined;
  readonly all: boolean;
  readonly tenant?: string | undefined;
  readonly reboot: boolean;
  /** timeoutS bounds each device's exchange (default and maximum: Timer F, 32 s). */
  readonly timeoutS?: number | undefined;
  readonly concurrency?: number | undefined;
  readonly json: boolean;
  /** open is injected by tests; the default is a connected UDP socket. */
  readonly open?: OpenChannel;
}

/**
 * plan reads what each selected device needs, from the store (then closed). Like every phone
 * command it first writes the phones and configs the configuration file declares.
 */
async function plan(out: Io, config: Config, o: SyncOptions): Promise<Planned[]> {
  if (!storeExists(config) && config.phones.devices.length === 0) {
    if (o.mac !== undefined) throw new ProvError('PROVD_ERR_DEVICE', `no phone with MAC ${deviceMac(o.mac)} (the store is empty)`);
    return [];
  }
  const domain = loadPhonesDomain(config.phones);
  return withStore(config, (s) => {
    for (const p of syncDeclared(s.phones, config.phones, config.provisioning.defaultDomain).problems) out.stderr.write(`provisiond: warning: ${p}\n`);
    return planPhones(s, config, domain, o, o.reboot);
  });
}

/**
 * devicesSync runs the command; it resolves when every NOTIFY has ended and throws
 * PROVD_ERR_RESYNC (exit 6) when a phone did not accept.
 */
export async function devicesSync(out: Io, config: Config, o: SyncOptions): Promise<void> {
  const planned = await plan(out, config, o);
  const viaAmi = planned.filter((p) => 'ami' in p);
  const lines = await sendPlanned(planned, {
    ...(o.timeoutS === undefined ? {} : { deadlineMs: Math.round(o.timeoutS * 1000) }),
    concurrency: o.concurrency,
    ami: config.phones.resync.ami,
    ...(o.open === undefined ? {} : { open: o.open }),
    onLine: (line) => {
      if (!o.json) out.stdout.write(`${describeLine(line)}\n`);
    },
  });
  const count = (k: ReturnType<typeof outcomeOf>): number => lines.filter((l) => outcomeOf(l) === k).length;
  const summary = {
    phones: lines.length,
    accepted: count('accepted'),
    ...(viaAmi.length > 0 ? { sent: count('sent') } : {}),
    refused: count('refused'),
    unreachable: count('unreachable'),
    noAddress: count('no-address'),
    notLoaded: count('not-loaded'),
  };
  if (o.json) {
    out.stdout.write(`${JSON.stringify({ summary, devices: lines }, null, 2)}\n`);
  } else {
    const parts = [`${summary.accepted} accepted`, ...(summary.sent === undefined ? [] : [`${summary.sent} sent by Asterisk`]), `${summary.refused} refused`, `${summary.unreachable} unreachable`, `${summary.noAddress} without a known address`];
    if (summary.notLoaded > 0) parts.push(`${summary.notLoaded} with a profile not loaded`);
    out.stdout.write(`${summary.phones} phone${summary.phones === 1 ? '' : 's'}: ${parts.join(', ')}${o.reboot ? ' (reboot)' : ''}\n`);
  }
  const failed = summary.phones - summary.accepted - (summary.sent ?? 0);
  if (failed > 0) throw new ProvError('PROVD_ERR_RESYNC', `${failed} of ${summary.phones} phone${summary.phones === 1 ? '' : 's'} did not accept the resync`);
}
