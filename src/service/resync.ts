/**
 * resync.ts (service): asking SIP phones to fetch their files now, the vendor's SIP NOTIFY
 * (src/sip/resync.ts) to each phone's last known address, or through Asterisk's AMI
 * (`phones.resync.via: ami`), for `provisiond devices sync` and the admin API's resync
 * operation. planPhones reads what each phone needs from the store; sendPlanned sends, at most
 * `concurrency` NOTIFYs in flight; resyncPhone does both for one phone.
 */
import { isIP } from 'node:net';
import { ProvError } from '../errors';
import { UserDirectory } from '../identity/auth';
import { deviceMac } from '../phones/admin';
import { directoryLookup, lineCredentials } from '../phones/credentials';
import type { PhonesDomain } from '../phones/domain';
import { PhoneService, type PhoneServiceConfig } from '../phones/service';
import { amiNotify, type AmiConfig, type AmiResult, type AmiTarget } from '../sip/ami';
import { hostPart, mapBounded, notifyEventOf, requestUri, sendNotify, TIMER_F_MS, type NotifyEvent, type NotifyResult, type NotifyTarget, type OpenChannel } from '../sip/resync';
import type { StoredPhone, Store } from '../store/repository';
import { version } from '../version';

/** SIP_PORT: where a phone listens when its options do not say otherwise (`sip_port`). */
export const SIP_PORT = 5060;
/** DEFAULT_CONCURRENCY / MAX_CONCURRENCY bound the NOTIFYs in flight (one socket each). */
export const DEFAULT_CONCURRENCY = 32;
export const MAX_CONCURRENCY = 256;

/** Selection picks phones: one MAC, every phone whose config chain holds `deviceConfig`, or all (of a tenant). */
export interface Selection {
  readonly mac?: string | undefined;
  readonly deviceConfig?: string | undefined;
  readonly tenant?: string | undefined;
}

/** ResyncConfig is what planning reads of the configuration (the phones room's part). */
export type ResyncConfig = PhoneServiceConfig & { readonly provisioning: ConstructorParameters<typeof UserDirectory>[0] };

/** SyncLine is one device's line of the report: sent directly (result), through AMI (ami), or not sent. */
export type SyncLine =
  | { readonly mac: string; readonly profile: string; readonly to: string; readonly event: string; readonly result: NotifyResult }
  | { readonly mac: string; readonly profile: string; readonly to: string; readonly event: string; readonly ami: AmiResult }
  | { readonly mac: string; readonly profile: string; readonly to: null; readonly outcome: 'no-address' | 'not-loaded'; readonly detail: string };

/** Planned is a device the store says can be notified (directly, or through AMI), or why it cannot. */
export type Planned =
  | { readonly mac: string; readonly profile: string; readonly target: NotifyTarget }
  | { readonly mac: string; readonly profile: string; readonly ami: AmiTarget; readonly event: NotifyEvent }
  | { readonly mac: string; readonly profile: string; readonly skip: 'no-address' | 'not-loaded'; readonly detail: string };

/** portOf reads the device option `sip_port` (1-65535), else 5060. */
export function portOf(p: Pick<StoredPhone, 'options'>): number {
  const v = p.options['sip_port'];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : SIP_PORT;
}

/** selectPhones picks the devices: one MAC, every device whose config chain holds C, or all (of a tenant). */
export function selectPhones(s: Pick<Store, 'phones'>, o: Selection): StoredPhone[] {
  const tenant = o.tenant?.toLowerCase();
  if (o.mac !== undefined) {
    const mac = deviceMac(o.mac);
    const p = s.phones.get(mac);
    if (p === undefined) throw new ProvError('PROVD_ERR_DEVICE', `no phone with MAC ${mac} (provisiond devices list --kind phones)`);
    return [p];
  }
  const phones = s.phones.list(tenant === undefined ? {} : { tenant });
  if (o.deviceConfig === undefined) return phones;
  const c = o.deviceConfig;
  const configs = s.phones.listConfigs(tenant);
  if (!configs.some((x) => x.id === c)) throw new ProvError('PROVD_ERR_DEVICE', `no phone config ${c}${tenant === undefined ? '' : ` in tenant ${tenant}`} (provisiond devices list --kind phones)`);
  // A device uses C when its config (its own, else its tenant's default) is C or inherits from it.
  const byTenant = new Map<string, Map<string, readonly string[]>>();
  const defaults = new Map<string, string>();
  for (const x of configs) {
    let m = byTenant.get(x.tenant);
    if (m === undefined) byTenant.set(x.tenant, (m = new Map()));
    m.set(x.id, x.parents);
    if (x.role === 'default') defaults.set(x.tenant, x.id);
  }
  const uses = (t: string, id: string | undefined): boolean => {
    const m = byTenant.get(t);
    const seen = new Set<string>();
    const stack = id === undefined ? [] : [id];
    while (stack.length > 0 && seen.size <= 1024) {
      const x = stack.pop() as string;
      if (x === c) return true;
      if (seen.has(x)) continue;
      seen.add(x);
      stack.push(...(m?.get(x) ?? []));
    }
    return false;
  };
  return phones.filter((p) => uses(p.tenant, p.config ?? defaults.get(p.tenant)));
}

/** planPhones reads what each selected phone needs from an opened store (declared phones already seeded). */
export function planPhones(s: Store, config: ResyncConfig, domain: PhonesDomain, o: Selection, reboot: boolean): Planned[] {
  const service = new PhoneService({ phones: config.phones, provisioning: config.provisioning }, { phones: s.phones, users: s.sync?.users, keys: s.sync?.keys, domain });
  const users = directoryLookup(new UserDirectory(config.provisioning, undefined, s.sync?.users));
  return selectPhones(s, o).map((p): Planned => {
    const profile = service.profiles.get(p.profile);
    if (profile === undefined) return { mac: p.mac, profile: p.profile, skip: 'not-loaded', detail: `profile ${p.profile} is not loaded (provisiond phones profiles)` };
    // A dual-stack HTTP socket records an IPv4 phone as ::ffff:a.b.c.d: notify it over IPv4.
    const ip = p.ip !== null && /^::ffff:\d{1,3}(\.\d{1,3}){3}$/i.test(p.ip) ? p.ip.slice(7) : p.ip;
    const line = lineCredentials(s.phones, users, p.mac);
    const event = notifyEventOf(profile, reboot);
    const ami = config.phones.resync.via === 'ami' ? config.phones.resync.ami : undefined;
    // Through AMI: the line-1 username names the PJSIP endpoint (wazo's way), else the URI of the last address.
    if (ami !== undefined && ami.target === 'endpoint' && line !== undefined) return { mac: p.mac, profile: p.profile, ami: { endpoint: line.username }, event };
    if (ip === null || isIP(ip) === 0) return { mac: p.mac, profile: p.profile, skip: 'no-address', detail: `no known address (the phone has not fetched a file yet)${ami !== undefined ? ' and no line-1 username for an AMI endpoint' : ''}` };
    if (ami !== undefined) return { mac: p.mac, profile: p.profile, ami: { uri: requestUri({ address: ip, port: portOf(p), user: line?.username }) }, event };
    return {
      mac: p.mac,
      profile: p.profile,
      target: {
        address: ip,
        port: portOf(p),
        user: line?.username,
        event: notifyEventOf(profile, reboot),
        ...(line === undefined ? {} : { credentials: { username: line.authUsername, password: line.password } }),
      },
    };
  });
}

/** SendOptions bound the sending. */
export interface SendOptions {
  /** deadlineMs bounds each phone's exchange (at most Timer F, 32 s). */
  readonly deadlineMs?: number | undefined;
  readonly concurrency?: number | undefined;
  /** ami: Asterisk's AMI when phones.resync.via is ami. */
  readonly ami?: AmiConfig | undefined;
  /** open is injected by tests; the default is a connected UDP socket. */
  readonly open?: OpenChannel;
  /** onLine is called with each phone's line as it ends. */
  readonly onLine?: (line: SyncLine) => void;
}

/** sendPlanned sends the planned NOTIFYs (AMI ones over one connection, in order) and returns a line per phone. */
export async function sendPlanned(planned: readonly Planned[], o: SendOptions): Promise<SyncLine[]> {
  const deadlineMs = Math.min(TIMER_F_MS, o.deadlineMs ?? TIMER_F_MS);
  const userAgent = `provisiond/${version}`;
  // Through AMI: one connection, one action at a time, in order.
  const viaAmi = planned.flatMap((p) => ('ami' in p ? [p] : []));
  const amiCfg = o.ami;
  const amiResults = viaAmi.length === 0 || amiCfg === undefined ? [] : await amiNotify(amiCfg, viaAmi.map((p) => ({ target: p.ami, event: p.event })), { timeoutMs: deadlineMs });
  const amiOf = new Map(viaAmi.map((p, i) => [p, amiResults[i] ?? ({ outcome: 'unreachable', detail: 'no AMI result' } as const)]));
  return mapBounded(planned, Math.min(o.concurrency ?? DEFAULT_CONCURRENCY, MAX_CONCURRENCY), async (p): Promise<SyncLine> => {
    let line: SyncLine;
    if ('skip' in p) {
      line = { mac: p.mac, profile: p.profile, to: null, outcome: p.skip, detail: p.detail };
    } else if ('ami' in p) {
      line = { mac: p.mac, profile: p.profile, to: `ami:${'endpoint' in p.ami ? p.ami.endpoint : p.ami.uri}`, event: p.event.event, ami: amiOf.get(p) ?? { outcome: 'unreachable', detail: 'no AMI result' } };
    } else {
      const result = await sendNotify(p.target, { userAgent, deadlineMs, ...(o.open === undefined ? {} : { open: o.open }) });
      line = { mac: p.mac, profile: p.profile, to: `${hostPart(p.target.address)}:${p.target.port}`, event: p.target.event.event, result };
    }
    o.onLine?.(line);
    return line;
  });
}

/** describe writes one device's line. */
export function describeLine(l: SyncLine): string {
  if (l.to === null) return `${l.mac}  -  ${l.outcome}  ${l.detail}`;
  if ('ami' in l) return `${l.mac}  ${l.to}  ${l.ami.outcome}  ${l.ami.outcome === 'unreachable' ? l.ami.detail : `Asterisk: ${l.ami.message}`}  [${l.event}]`;
  const r = l.result;
  const what = r.outcome === 'accepted' ? `${r.status} ${r.reason}${r.authenticated ? ' (after a digest challenge)' : ''}` : r.outcome === 'refused' ? `${r.status} ${r.reason}${r.detail === undefined ? '' : `: ${r.detail}`}` : r.detail;
  return `${l.mac}  ${l.to}  ${r.outcome}  ${what}  [${l.event}]`;
}

/** outcomeOf names a line's outcome (`sent`: Asterisk sent the NOTIFY; AMI does not report the phone's answer). */
export function outcomeOf(l: SyncLine): 'accepted' | 'sent' | 'refused' | 'unreachable' | 'no-address' | 'not-loaded' {
  return l.to === null ? l.outcome : 'ami' in l ? l.ami.outcome : l.result.outcome;
}

/**
 * resyncPhone asks one phone (of the store) to fetch its files now; it resolves with the outcome
 * (accepted, sent, refused, unreachable, no-address, not-loaded) and the report's line.
 */
export async function resyncPhone(s: Store, config: ResyncConfig, domain: PhonesDomain, mac: string, o: Omit<SendOptions, 'concurrency' | 'onLine'> & { readonly reboot: boolean }): Promise<{ readonly outcome: string; readonly detail: string }> {
  const planned = planPhones(s, config, domain, { mac }, o.reboot);
  const line = (await sendPlanned(planned, o))[0];
  if (line === undefined) throw new ProvError('PROVD_ERR_RESYNC', `no phone with MAC ${mac}`);
  return { outcome: outcomeOf(line), detail: describeLine(line) };
}
