/**
 * ipv4.ts: small, pure IPv4 helpers (dotted quads, uint32 values, CIDR prefixes, client
 * addresses that may arrive IPv4-mapped on a dual-stack socket).
 */
import { isIP } from 'node:net';

/** Cidr is an IPv4 network: its address (host bits zero) and prefix length, as uint32s. */
export interface Cidr {
  readonly network: string;
  readonly prefix: number;
  readonly base: number;
  readonly mask: number;
}

/** Result is a value-or-error union for pure parsers that must not throw. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** parseIPv4 turns a dotted quad into a uint32, or returns undefined for anything else. */
export function parseIPv4(s: string): number | undefined {
  const m = QUAD.exec(s);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? '';
    if (part.length > 1 && part.startsWith('0')) return undefined; // no octal-looking octets
    const n = Number(part);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** formatIPv4 turns a uint32 into a dotted quad. */
export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** maskOf returns the uint32 netmask of a prefix length (0-32). */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** prefixOfMask returns the prefix length of a contiguous dotted netmask, or undefined. */
export function prefixOfMask(mask: string): number | undefined {
  const v = parseIPv4(mask);
  if (v === undefined) return undefined;
  for (let p = 0; p <= 32; p++) if (maskOf(p) === v) return p;
  return undefined;
}

/** parseCidr parses "a.b.c.d/n"; host bits must be zero (a hint gives the network). */
export function parseCidr(s: string): Result<Cidr> {
  const slash = s.indexOf('/');
  if (slash < 0) return { ok: false, error: `'${s}' is not in CIDR form (e.g. 192.168.1.0/24)` };
  const addr = parseIPv4(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (addr === undefined) return { ok: false, error: `'${s}': '${s.slice(0, slash)}' is not an IPv4 address` };
  if (!(prefix >= 0 && prefix <= 32)) return { ok: false, error: `'${s}': the prefix length must be 0-32` };
  const mask = maskOf(prefix);
  const base = (addr & mask) >>> 0;
  if (base !== addr) {
    return { ok: false, error: `'${s}' has host bits set; did you mean '${formatIPv4(base)}/${prefix}'?` };
  }
  return { ok: true, value: { network: formatIPv4(base), prefix, base, mask } };
}

/** inCidr tells whether the uint32 address lies inside the network. */
export function inCidr(addr: number, net: Cidr): boolean {
  return ((addr & net.mask) >>> 0) === net.base;
}

/**
 * unmapIPv4 turns an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, any letter case) into its IPv4
 * form; any other string comes back unchanged. A dual-stack socket reports IPv4 clients this way.
 */
export function unmapIPv4(ip: string): string {
  return ip.length > 7 && ip.slice(0, 7).toLowerCase() === '::ffff:' && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * addressInAny tells whether a client address (IPv4, or IPv4-mapped IPv6) lies in one of the
 * networks; any other address (IPv6, garbage) is in none of them.
 */
export function addressInAny(ip: string, nets: readonly Cidr[]): boolean {
  const v4 = parseIPv4(unmapIPv4(ip));
  return v4 !== undefined && nets.some((n) => inCidr(v4, n));
}
