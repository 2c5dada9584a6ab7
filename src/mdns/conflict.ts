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
  /**
   * sameService: the record says what ours says, perhaps from another node (a standby's view):
   * our instance's SRV with our port (any target: each node has its own host name) or one of
   * our links' TXT records; for other records, identical.
   */
  readonly sameService: boolean;
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

/** sameService: another node's copy of our service (see Observation.sameService). */
function servesTheSame(r: DnsRecord, ad: Advertisement, which: 'instance' | 'hostname'): boolean {
  const d = r.data;
  if (which === 'instance' && d.kind === 'srv') return d.port === ad.port;
  return matches(r, ad);
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
    const identical = ads.some((ad) => matches(r, ad));
    out.push({ from, which, name: r.name, type: r.type, ttl: r.ttl, summary: summarize(r), identical, sameService: identical || servesTheSame(r, current, which) });
  }
  return out;
}

/** isConflict: a live record (TTL > 0; a goodbye never conflicts) whose data is not ours, nor our service's from another node. */
export function isConflict(o: Observation): boolean {
  return o.ttl > 0 && !o.identical && !o.sameService;
}

/**
 * ActiveNode is what a response says about another node advertising our service, for a standby:
 * `live` when it carries our instance's TXT with our data (and nothing conflicting), `gone` when
 * it withdraws our instance's SRV or TXT (goodbye, TTL 0), else undefined. `ttlMs` is the
 * shortest TTL of its live instance records (the SRV's: 120 s from ciao, avahi and Bonjour).
 */
export type ActiveNode = { readonly kind: 'live'; readonly from: string; readonly ttlMs: number } | { readonly kind: 'gone'; readonly from: string };

/** activeNodeIn reads observations of one response (all from one sender); see ActiveNode. */
export function activeNodeIn(seen: readonly Observation[]): ActiveNode | undefined {
  const inst = seen.filter((o) => o.which === 'instance' && (o.type === RType.SRV || o.type === RType.TXT));
  const from = inst[0]?.from;
  if (from === undefined) return undefined;
  if (inst.some((o) => o.ttl === 0)) return { kind: 'gone', from };
  if (seen.some(isConflict)) return undefined;
  const live = inst.filter((o) => o.ttl > 0 && o.sameService);
  if (!live.some((o) => o.type === RType.TXT)) return undefined;
  return { kind: 'live', from, ttlMs: Math.min(...live.map((o) => o.ttl)) * 1000 };
}
