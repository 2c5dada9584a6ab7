/**
 * plan.ts: what the mDNS face advertises, computed from the configuration, the host's
 * interfaces and its host name. Pure: the caller supplies the interfaces and the host name.
 *
 * The URL comes from the same code the DHCP face uses (src/urls: buildUrlPlan/selectUrl), evaluated for
 * each advertised interface's address, so a Bonjour client and a DHCP client on the same link
 * end up with the same URL, whatever other links get (each link its own TXT record).
 */
import { buildUrlPlan, selectUrl, type UrlPlanInput } from '../urls/plan';
import { formatIPv4 } from '../net/ipv4';
import { selectInterfaces, type HostInterface } from '../net/interfaces';
import { INSTANCE_NAME, deriveTxt, assembleClientUrl, schemeOf, serviceTypeFor, type ServiceType, type Origin } from './txt';
import type { MdnsConfig } from './config';

/**
 * MdnsFaceConfig is the configuration the mDNS face reads: its section, the inputs of the URL
 * the DHCP face serves (src/urls) and the interfaces it serves (the default mdns.interfaces).
 */
export interface MdnsFaceConfig extends UrlPlanInput {
  readonly mdns: MdnsConfig;
  readonly dhcp: UrlPlanInput['dhcp'] & { readonly interfaces: readonly string[] };
}

/** AdvertisedInterface is one link the service is advertised on, with the A record it gets there. */
export interface AdvertisedInterface {
  readonly name: string;
  readonly ipv4: string;
  /** url is the URL the DHCP face serves on this interface (or mdns.url). */
  readonly url: string;
  /**
   * txt is this link's TXT record. mDNS is link-local: each link is told the URL the DHCP face
   * serves there, so two VLANs with different URLs (a `site=` parameter, a per-network tenant
   * key) each get their own TXT (the advertiser publishes one service per distinct TXT).
   */
  readonly txt: readonly string[];
}

/** Advertisement is everything the advertiser publishes: PTR/SRV/TXT/A(+AAAA) of one instance. */
export interface Advertisement {
  readonly instance: string;
  readonly type: ServiceType;
  readonly port: number;
  /** hostname is the SRV target's first label (published as `<hostname>.local.`). */
  readonly hostname: string;
  readonly interfaces: readonly AdvertisedInterface[];
  /** txt is the first link's TXT record: `path=…` then one string per query parameter, in URL order (each link's: interfaces[].txt). */
  readonly txt: readonly string[];
}

/** PlanError is why nothing can be advertised; `code` tells a missing interface from a URL problem. */
export interface PlanError {
  readonly code: 'PROVD_ERR_MDNS_INTERFACE' | 'PROVD_ERR_MDNS_URL';
  readonly message: string;
}

/** PlanResult is an Advertisement or the reason there is none. */
export type PlanResult = { readonly ok: true; readonly ad: Advertisement } | { readonly ok: false; readonly error: PlanError };

/** httpFaceServesTls tells whether the HTTP face serves TLS (http.tls): the service type is then _https._tcp. */
export function httpFaceServesTls(config: Pick<UrlPlanInput, 'http'>): boolean {
  return config.http.tls !== undefined;
}

/** hostLabel turns a system host name or an mdns.hostname into one DNS label, without `.local`. */
export function hostLabel(name: string): string {
  const first = name.replace(/\.local\.?$/i, '').split('.')[0] ?? '';
  const label = first
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? 'provisiond' : label;
}

/** planAdvertisement computes the Advertisement for a configuration on a host. */
export function planAdvertisement(config: MdnsFaceConfig, host: readonly HostInterface[], systemHostname: string): PlanResult {
  const mdns = config.mdns;
  const names = mdns.interfaces ?? config.dhcp.interfaces;
  const key = mdns.interfaces ? 'mdns.interfaces' : 'mdns.interfaces (default: dhcp.interfaces)';
  const sel = selectInterfaces(names, host);
  if (!sel.ok) return { ok: false, error: { code: 'PROVD_ERR_MDNS_INTERFACE', message: `${key}: ${sel.error}` } };
  // One A record per link: the interface's first IPv4 address, as the advertiser publishes it.
  const chosen: HostInterface[] = [];
  for (const h of sel.interfaces) if (!chosen.some((c) => c.name === h.name)) chosen.push(h);

  const type = serviceTypeFor(mdns.type, httpFaceServesTls(config));
  const port = config.http.port;
  const urlPlan = buildUrlPlan(config);
  const derived = chosen.map((iface) => {
    const ipv4 = formatIPv4(iface.address);
    const url = mdns.url ?? selectUrl(urlPlan, 0, 0, iface).toString('utf8');
    const origin: Origin = { scheme: schemeOf(type), host: ipv4, port };
    // mdns.url always goes into `path` whole; a DHCP URL keeps only its path when the client
    // would rebuild the same scheme, IP and port itself.
    return { name: iface.name, ipv4, url, txt: deriveTxt(url, mdns.url === undefined ? origin : undefined) };
  });
  for (const d of derived) {
    if (!d.txt.ok) {
      const src = mdns.url !== undefined ? 'mdns.url' : `the URL the DHCP face serves on ${d.name} (${d.url})`;
      return { ok: false, error: { code: 'PROVD_ERR_MDNS_URL', message: `${src} ${d.txt.error}; set mdns.url to a URL that can be advertised` } };
    }
  }
  const first = derived[0];
  if (!first || !first.txt.ok) return { ok: false, error: { code: 'PROVD_ERR_MDNS_INTERFACE', message: `${key}: no interface to advertise on` } };
  const txt = first.txt.txt;
  return {
    ok: true,
    ad: {
      instance: INSTANCE_NAME,
      type,
      port,
      hostname: hostLabel(mdns.hostname ?? systemHostname),
      interfaces: derived.map(({ name, ipv4, url, txt: t }) => ({ name, ipv4, url, txt: t.ok ? t.txt : [] })),
      txt,
    },
  };
}

/** clientUrlOn is the URL a Jitsi client on that interface assembles from the advertisement. */
export function clientUrlOn(ad: Advertisement, iface: AdvertisedInterface): string {
  return assembleClientUrl({ scheme: schemeOf(ad.type), host: iface.ipv4, port: ad.port }, iface.txt);
}

/** txtGroups splits the links by TXT record: one ciao service each (links in plan order). */
export function txtGroups(ad: Advertisement): { readonly txt: readonly string[]; readonly interfaces: readonly AdvertisedInterface[] }[] {
  const groups = new Map<string, { txt: readonly string[]; interfaces: AdvertisedInterface[] }>();
  for (const i of ad.interfaces) {
    const k = i.txt.join('\n');
    const g = groups.get(k);
    if (g) g.interfaces.push(i);
    else groups.set(k, { txt: i.txt, interfaces: [i] });
  }
  return [...groups.values()];
}

/** groupingKey names the links and how they are grouped by TXT (a change needs new responders). */
export function groupingKey(ad: Advertisement): string {
  return txtGroups(ad)
    .map((g) => g.interfaces.map((i) => i.name).join(','))
    .join('|');
}

/** sameAdvertisement tells whether two plans publish exactly the same records. */
export function sameAdvertisement(a: Advertisement, b: Advertisement): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
