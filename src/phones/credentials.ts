/**
 * credentials.ts: a SIP line's credentials as a phone's per-device file carries them (the
 * device's config chain, then its assigned users, as serve.ts renders them), for the digest of a
 * challenged resync NOTIFY (`devices sync`, src/sip/resync.ts: Cisco SPA challenges every one).
 */
import type { PhoneRepository } from '../store/repository';
import { contextFor, type ContextUser } from './context';
import { tenantConfigs } from './serve';

/** LineCredentials are one SIP line's credentials (the digest username is authUsername). */
export interface LineCredentials {
  readonly username: string;
  readonly authUsername: string;
  readonly password: string;
}

/** UserLookup finds a user of a tenant (the identity room's directory: configuration, then store). */
export type UserLookup = (domain: string, name: string) => ContextUser | undefined;

/**
 * lineCredentials: line `line` (default 1) of the device with this MAC. Undefined when the
 * device is unknown, its config chain is broken, or the line has no username; `password` is ''
 * when the line has none.
 */
export function lineCredentials(phones: PhoneRepository, user: UserLookup, mac: string, line = 1): LineCredentials | undefined {
  const device = phones.get(mac);
  if (device === undefined) return undefined;
  const { configs, roles } = tenantConfigs(phones, device.tenant);
  let config = device.config ?? roles.get('default');
  if (config === undefined) {
    config = '\u0000none';
    configs.set(config, { id: config, parents: [], raw: {} });
  }
  const users = device.users.map((n) => user(device.tenant, n) ?? null);
  const ctx = contextFor(configs, { device: { mac: device.mac, config }, users, tenant: { name: device.tenant, attributes: {} }, server: { httpBaseUrl: 'http://127.0.0.1/' } }, {}, { secrets: true });
  if (!ctx.ok) return undefined;
  const lines = ctx.context['sip_lines'];
  const l = lines !== null && typeof lines === 'object' && !Array.isArray(lines) ? (lines as Record<string, unknown>)[String(line)] : undefined;
  if (l === null || typeof l !== 'object' || Array.isArray(l)) return undefined;
  const f = l as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);
  const username = str(f['username']);
  if (username === undefined) return undefined;
  return { username, authUsername: str(f['auth_username']) ?? username, password: str(f['password']) ?? '' };
}

/** directoryLookup adapts the identity room's UserDirectory.lookupNow to a UserLookup. */
export function directoryLookup(dir: { lookupNow(domain: string, name: string): { name: string; domain: string; attributes: Readonly<Record<string, string>> } | undefined }): UserLookup {
  return (domain, name) => {
    const r = dir.lookupNow(domain, name);
    return r === undefined ? undefined : { name: r.name, domain: r.domain, attributes: r.attributes };
  };
}
