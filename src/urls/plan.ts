/**
 * plan.ts: the URL each discovery face hands out on a link or network. The DHCP face puts it in
 * option 224 and the mDNS face derives its TXT record from it, so a client gets the same URL
 * whichever way it discovers provisiond. Pure: compiled once per configuration, then chosen per
 * request from the client's and the receiving interface's addresses.
 *
 * Also here: the provisioning keys a served URL may carry (urlKeysOf) and their redaction in logs.
 */
import { formatIPv4, inCidr, parseCidr, type Cidr } from '../net/ipv4';

/** DEFAULT_QUERY is the query of the default URL; the client fills in the ${…} placeholders. */
export const DEFAULT_QUERY =
  'username=${username}&password=${password}&uuid=${uuid}&hwaddr=${hwaddr}&osname=${osname}&build=${build}';

/** JITSI_PATH is the HTTP face's Jitsi endpoint. */
export const JITSI_PATH = '/jitsi';

/** UrlPlan is the URL choice, compiled once per configuration (see buildUrlPlan). */
export interface UrlPlan {
  /** networks are sorted longest prefix first. */
  readonly networks: readonly { readonly cidr: Cidr; readonly url: Buffer }[];
  readonly url: Buffer | undefined;
  /** defaultUrl builds the fallback URL for an interface address. */
  readonly defaultUrl: (ifaceAddress: number) => Buffer;
}

/** UrlPlanInput is the part of the configuration the URL choice depends on. */
export interface UrlPlanInput {
  readonly dhcp: { readonly url?: string | undefined; readonly networks: readonly { readonly subnet: string; readonly url: string; readonly tenant?: string | undefined }[] };
  /** provisioning gives the tenants' keys for networks that name a tenant. */
  readonly provisioning?: { readonly tenants: Readonly<Record<string, { readonly urlKey?: string | undefined }>> };
  /** http is where the HTTP face listens; with `tls` set it serves HTTPS, so the default URL is https. */
  readonly http: { readonly host: string; readonly port: number; readonly tls?: unknown };
}

/** defaultProvisioningUrl is the URL of the HTTP face's Jitsi endpoint as seen from `host`. */
export function defaultProvisioningUrl(host: string, port: number, tls = false): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${tls ? 'https' : 'http'}://${h}:${port}${JITSI_PATH}?${DEFAULT_QUERY}`;
}

/**
 * keyedUrl puts a provisioning key in front of a URL's path: `http://h:8667/jitsi?…` becomes
 * `http://h:8667/<key>/jitsi?…` (the HTTP face's keyed paths).
 */
export function keyedUrl(url: string, key: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(.*)$/i.exec(url);
  if (!m) return url;
  const rest = m[2] ?? '';
  return `${m[1] ?? ''}/${key}${rest.startsWith('/') ? rest : `/${rest}`}`;
}

/** KEY_PLACEHOLDER stands for a provisioning key in logged URLs (the HTTP face logs `/<key>/jitsi` too). */
export const KEY_PLACEHOLDER = '<key>';

/** urlKeysOf lists the tenants' urlKeys: the secrets a served URL or TXT string may carry. */
export function urlKeysOf(cfg: Pick<UrlPlanInput, 'provisioning'>): string[] {
  const keys = Object.values(cfg.provisioning?.tenants ?? {})
    .map((t) => t.urlKey)
    .filter((k): k is string => typeof k === 'string' && k.length > 0);
  return [...new Set(keys)].sort((a, b) => b.length - a.length);
}

/** redactKeys replaces every occurrence of each key in `text` with `<key>`, for logging. */
export function redactKeys(text: string, keys: readonly string[]): string {
  let out = text;
  for (const k of keys) if (out.includes(k)) out = out.split(k).join(KEY_PLACEHOLDER);
  return out;
}

/** buildUrlPlan compiles the URL rules of a validated configuration. */
export function buildUrlPlan(cfg: UrlPlanInput): UrlPlan {
  const networks = cfg.dhcp.networks
    .map((n) => {
      const r = parseCidr(n.subnet);
      if (!r.ok) throw new Error(`unvalidated subnet ${n.subnet}`); // the schema rejects these first
      const key = n.tenant === undefined ? undefined : cfg.provisioning?.tenants[n.tenant]?.urlKey;
      return { cidr: r.value, url: Buffer.from(key === undefined ? n.url : keyedUrl(n.url, key), 'utf8') };
    })
    .sort((a, b) => b.cidr.prefix - a.cidr.prefix);
  const wildcard = cfg.http.host === '0.0.0.0' || cfg.http.host === '::';
  const tls = cfg.http.tls !== undefined;
  const fixed = wildcard ? undefined : Buffer.from(defaultProvisioningUrl(cfg.http.host, cfg.http.port, tls), 'utf8');
  const cache = new Map<number, Buffer>();
  return {
    networks,
    url: cfg.dhcp.url === undefined ? undefined : Buffer.from(cfg.dhcp.url, 'utf8'),
    defaultUrl: (addr) => {
      if (fixed) return fixed;
      let u = cache.get(addr);
      if (!u) {
        u = Buffer.from(defaultProvisioningUrl(formatIPv4(addr), cfg.http.port, tls), 'utf8');
        cache.set(addr, u);
      }
      return u;
    },
  };
}

/** UrlInterface is an IPv4 interface a discovery face serves on (the DHCP face's ServedInterface). */
export interface UrlInterface {
  readonly name: string;
  /** address is the interface's IPv4 address, as a uint32; the default URL points at it. */
  readonly address: number;
  readonly cidr: Cidr;
}

/**
 * selectUrl picks the URL for a client: the dhcp.networks entry holding ciaddr (longest prefix
 * wins), else the one holding the relay's giaddr, else the one holding the receiving
 * interface's address, else dhcp.url, else the HTTP face's Jitsi endpoint on that interface.
 */
export function selectUrl(plan: UrlPlan, ciaddr: number, giaddr: number, iface: UrlInterface): Buffer {
  for (const probe of [ciaddr, giaddr, iface.address]) {
    if (probe === 0) continue;
    for (const n of plan.networks) if (inCidr(probe, n.cidr)) return n.url;
  }
  return plan.url ?? plan.defaultUrl(iface.address);
}
