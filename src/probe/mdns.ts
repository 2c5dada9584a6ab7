/**
 * mdns.ts: the pure Bonjour half of `provisiond probe` (jitsi-client-contract.md §3). It encodes
 * the one-shot query and assembles the URL from the answers exactly as JmDNS 3.6.1 and the Jitsi
 * client do. Decoding reuses src/mdns/wire.ts.
 */
import { RType, sameName, type DnsRecord } from '../mdns/wire';

/** INSTANCE is the only instance name the client resolves. */
export const INSTANCE = 'Provisioning URL';

/** encodeName writes a DNS name as labels (no compression); labels are at most 63 bytes. */
function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    const b = Buffer.from(label, 'utf8');
    if (b.length === 0 || b.length > 63) throw new RangeError(`bad DNS label in ${name}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** encodeQuery builds a standard query (id, no flags) with one IN question per type. */
export function encodeQuery(id: number, questions: readonly { readonly name: string; readonly type: number }[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(questions.length, 4);
  const qs = questions.map((q) => {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(q.type, 0);
    tail.writeUInt16BE(1, 2); // class IN
    return Buffer.concat([encodeName(q.name), tail]);
  });
  return Buffer.concat([header, ...qs]);
}

/** serviceName is `Provisioning URL._https._tcp.local.`. */
export function serviceName(type: '_https._tcp' | '_http._tcp'): string {
  return `${INSTANCE}.${type}.local.`;
}

/** Resolution is what JmDNS knows about the instance after the answers collected so far. */
export interface Resolution {
  readonly port: number | undefined;
  readonly target: string | undefined;
  readonly txt: readonly string[] | undefined;
  readonly ipv4: readonly string[];
}

/** collect folds records into a Resolution for one service name (later records win). */
export function collect(records: readonly DnsRecord[], name: string, prev?: Resolution): Resolution {
  let port = prev?.port;
  let target = prev?.target;
  let txt = prev?.txt;
  const ipv4 = [...(prev?.ipv4 ?? [])];
  for (const r of records) {
    if (r.data.kind === 'srv' && sameName(r.name, name)) {
      port = r.data.port;
      target = r.data.target;
    } else if (r.data.kind === 'txt' && sameName(r.name, name)) {
      txt = r.data.strings;
    }
  }
  if (target !== undefined) {
    for (const r of records) if (r.data.kind === 'a' && sameName(r.name, target) && !ipv4.includes(r.data.address)) ipv4.push(r.data.address);
  }
  return { port, target, txt, ipv4 };
}

/** complete says whether JmDNS would return the info: SRV + an address + a non-empty TXT. */
export function complete(r: Resolution): boolean {
  return r.port !== undefined && r.ipv4.length > 0 && r.txt !== undefined && r.txt.length > 0;
}

/**
 * txtProperties reads TXT strings as JmDNS does: `k=v`, a bare key gives "true", a zero-length
 * string clears everything read so far and stops; order is kept, a repeated key keeps its
 * first position and takes the last value (LinkedHashMap).
 */
export function txtProperties(strings: readonly string[]): Map<string, string> {
  const props = new Map<string, string>();
  for (const s of strings) {
    if (s.length === 0) {
      props.clear();
      break;
    }
    const eq = s.indexOf('=');
    if (eq === 0) continue; // no key
    if (eq < 0) props.set(s, 'true');
    else props.set(s.slice(0, eq), s.slice(eq + 1));
  }
  return props;
}

/**
 * assembleUrl builds the client's URL: `<app>://<first IPv4>:<port>`, then TXT `path` (a full URL
 * if it contains `://`, else appended with a leading `/`), then every other TXT key as `k=v`
 * joined by `&` after a `?`, unescaped, with the client's trailing-`&`/`?` quirks.
 */
export function assembleUrl(app: 'https' | 'http', r: Resolution): string | undefined {
  if (!complete(r)) return undefined;
  const props = txtProperties(r.txt ?? []);
  let url = `${app}://${r.ipv4[0] ?? ''}:${r.port ?? 0}`;
  const path = props.get('path');
  if (path !== undefined) url = path.includes('://') ? path : url + (path.startsWith('/') ? path : `/${path}`);
  const keys = [...props.keys()];
  if (keys.length > 0) url += '?';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (k === 'path') continue;
    url += `${k}=${props.get(k) ?? ''}`;
    if (i + 1 < keys.length) url += '&';
  }
  return url;
}

export { RType };
