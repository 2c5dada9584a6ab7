/**
 * device.ts: the device a request comes from (uuid, MAC, host name, OS…), read from the request
 * fields. Shared by every client kind: the inventory is keyed by it and rules and templates see
 * it as `device`.
 */
import { firstOf, type Params } from './request';

/** DeviceContext is the device identity taken from the request fields. */
export interface DeviceContext {
  /** key is what the inventory is keyed by: `uuid:<uuid>`, else `hwaddr:<mac>`. Absent fields are undefined, so `| default(...)` works. */
  readonly key: string | undefined;
  readonly uuid: string | undefined;
  readonly hwaddr: string | undefined;
  readonly hostname: string | undefined;
  readonly osname: string | undefined;
  readonly arch: string | undefined;
  readonly build: string | undefined;
  readonly ipaddr: string | undefined;
}

/** DEVICE_ALIASES: device fields and the request fields they are read from (doc sample: os, hw). */
export const DEVICE_ALIASES: Readonly<Record<keyof Omit<DeviceContext, 'key'>, readonly string[]>> = {
  uuid: ['uuid'],
  hwaddr: ['hwaddr', 'hw', 'mac'],
  hostname: ['hostname'],
  osname: ['osname', 'os'],
  arch: ['arch'],
  build: ['build'],
  ipaddr: ['ipaddr', 'ip'],
};

/** DEVICE_FIELDS are the device field names (a rule subject on one matches the device's value). */
export const DEVICE_FIELDS: ReadonlySet<string> = new Set(['uuid', 'hwaddr', 'hostname', 'osname', 'arch', 'build', 'ipaddr']);

const MAX_FIELD = 256;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** normalizeMac lower-cases a MAC and uses ':' separators. */
export function normalizeMac(s: string): string {
  return s.trim().toLowerCase().replace(/-/g, ':');
}

/** deviceField reads a device field; an unsubstituted `${…}` (the client had no value) is absent. */
function deviceField(params: Params, names: readonly string[]): string | undefined {
  const v = firstOf(params, names);
  if (v === undefined) return undefined;
  const t = v.trim();
  if (t === '' || /^\$\{[^}]*\}$/.test(t)) return undefined;
  return t.slice(0, MAX_FIELD);
}

/** deviceOf derives the device identity; the inventory key is the uuid, else the MAC. */
export function deviceOf(params: Params): DeviceContext {
  const uuid = deviceField(params, DEVICE_ALIASES.uuid)?.toLowerCase();
  const rawMac = deviceField(params, DEVICE_ALIASES.hwaddr);
  const hwaddr = rawMac === undefined ? undefined : normalizeMac(rawMac);
  const key = uuid !== undefined ? `uuid:${uuid}` : hwaddr !== undefined && MAC_RE.test(hwaddr) ? `hwaddr:${hwaddr}` : undefined;
  return {
    key,
    uuid,
    hwaddr,
    hostname: deviceField(params, DEVICE_ALIASES.hostname),
    osname: deviceField(params, DEVICE_ALIASES.osname),
    arch: deviceField(params, DEVICE_ALIASES.arch),
    build: deviceField(params, DEVICE_ALIASES.build),
    ipaddr: deviceField(params, DEVICE_ALIASES.ipaddr),
  };
}
