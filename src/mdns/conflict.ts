/**
 * conflict.ts: pure reading of mDNS responses against what we advertise (RFC 6762 §9). A
 * record that carries our instance name or our host name is an observation of a responder
 * claiming it; it conflicts when its rdata differs from every advertisement we made recently.
 */
import { RType, sameName, type DnsMessage, type DnsRecord } from './wire';
import type { Advertisement } from './plan';

/** Observation is one record naming our instance or host, seen from `from`. */
export interface Observation {
  readonly from: string;
  /** which of our names it claims. */
  readonly which: 'instance' | 'hostname';
  readonly name: string;
  readonly type: number;
  readonly ttl: number;
  /** summary is the record in one line, for the log. */
  readonly summary: string;
  /** identical is true when its data matches one of our advertisements (or is a type we do not compare). */
  readonly identical: boolean;
}

/** instanceFqdn is `Provisioning URL._http._tcp.local.` for an advertisement. */
export function instanceFqdn(ad: Advertisement): string {
  return `${ad.instance}.${ad.type}.local.`;
}

/** hostFqdn is the SRV target, `<hostname>.local.`. */
export function hostFqdn(ad: Advertisement): string {
  return `${ad.hostname}.local.`;
}

function summarize(r: DnsRecord): string {
  const d = r.data;
  switch (d.kind) {
    case 'a':
    case 'aaaa':
      return `${r.name} ${d.kind.toUpperCase()} ${d.address}`;
    case 'srv':
      return `${r.name} SRV ${d.priority} ${d.weight} ${d.port} ${d.target}`;
    case 'txt':
      return `${r.name} TXT ${d.strings.map((s) => JSON.stringify(s)).join(' ')}`;
    case 'ptr':
      return `${r.name} PTR ${d.target}`;
    default:
      return `${r.name} type ${r.type}`;
  }
}

function matches(r: DnsRecord, ad: Advertisement): boolean {
  const d = r.data;
  switch (d.kind) {
    case 'srv':
      return d.port === ad.port && sameName(d.target, hostFqdn(ad));
    case 'txt':
      return ad.interfaces.some((i) => d.strings.length === i.txt.length && d.strings.every((s, n) => s === i.txt[n]));
    case 'a':
      return ad.interfaces.some((i) => i.ipv4 === d.address);
    default:
      // AAAA, NSEC and the rest are not compared: they never start a conflict on their own.
      return true;
  }
}

/** observe lists the records of a response that claim our names, compared with our advertisements. */
export function observe(from: string, msg: DnsMessage, ads: readonly Advertisement[]): Observation[] {
  const current = ads[0];
  if (!current || !msg.response) return [];
  const out: Observation[] = [];
  for (const r of msg.records) {
    const which = sameName(r.name, instanceFqdn(current)) ? 'instance' : sameName(r.name, hostFqdn(current)) ? 'hostname' : undefined;
    if (!which) continue;
    if (r.type !== RType.SRV && r.type !== RType.TXT && r.type !== RType.A && r.type !== RType.AAAA) continue;
    out.push({ from, which, name: r.name, type: r.type, ttl: r.ttl, summary: summarize(r), identical: ads.some((ad) => matches(r, ad)) });
  }
  return out;
}

/** isConflict: a live record (TTL > 0; a goodbye never conflicts) whose data is not ours. */
export function isConflict(o: Observation): boolean {
  return o.ttl > 0 && !o.identical;
}
