/**
 * interfaces.ts: which IPv4 interfaces a face serves, from the config's interface names and
 * what the host has (os.networkInterfaces(), injectable for tests).
 */
import { networkInterfaces } from 'node:os';
import { parseIPv4, prefixOfMask, maskOf, formatIPv4, type Cidr } from './ipv4';

/** HostInterface is one IPv4 address of one interface of the host. */
export interface HostInterface {
  readonly name: string;
  readonly address: number;
  readonly cidr: Cidr;
  readonly internal: boolean;
}

/** InterfaceLister returns the host's IPv4 interface addresses. */
export type InterfaceLister = () => HostInterface[];

/** listHostInterfaces reads the host's IPv4 addresses (first address per interface first). */
export const listHostInterfaces: InterfaceLister = () => {
  const out: HostInterface[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4') continue;
      const address = parseIPv4(a.address);
      const prefix = prefixOfMask(a.netmask);
      if (address === undefined || prefix === undefined) continue;
      const mask = maskOf(prefix);
      const base = (address & mask) >>> 0;
      out.push({ name, address, internal: a.internal, cidr: { network: formatIPv4(base), prefix, base, mask } });
    }
  }
  return out;
};

/** Selection is the outcome of matching configured names against the host. */
export type Selection =
  | { readonly ok: true; readonly interfaces: readonly HostInterface[]; readonly warning?: string }
  | { readonly ok: false; readonly error: string };

/**
 * selectInterfaces picks the addresses to serve. Named interfaces must exist and have an IPv4
 * address. With no names, every non-loopback IPv4 interface is served; a host that has none
 * (a fresh network namespace) falls back to loopback, with a warning, so that the embedded
 * defaults work anywhere.
 */
export function selectInterfaces(names: readonly string[], host: readonly HostInterface[]): Selection {
  if (names.length === 0) {
    const external = host.filter((h) => !h.internal);
    if (external.length > 0) return { ok: true, interfaces: external };
    const loopback = host.filter((h) => h.internal);
    if (loopback.length === 0) return { ok: false, error: 'the host has no IPv4 interface at all' };
    return { ok: true, interfaces: loopback, warning: 'no non-loopback IPv4 interface found; serving loopback only' };
  }
  const chosen: HostInterface[] = [];
  const known = [...new Set(host.map((h) => h.name))];
  for (const name of names) {
    const found = host.filter((h) => h.name === name);
    if (found.length === 0) {
      return { ok: false, error: `interface '${name}' does not exist or has no IPv4 address (available: ${known.join(', ') || 'none'})` };
    }
    chosen.push(...found);
  }
  return { ok: true, interfaces: chosen };
}
