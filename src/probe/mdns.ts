/**
 * mdns.ts: the pure Bonjour half of `provisiond probe` (jitsi-client-contract.md §3). It encodes
 * the one-shot query and assembles the URL from the answers exactly as JmDNS 3.6.1 and the Jitsi
 * client do. Decoding reuses src/mdns/wire.ts.
 */
import { RType, sameName, type DnsRecord } from '../mdns/wire';
import { assembleClientUrl, txtProperties } from '../mdns/txt';

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

/** assembleUrl builds the client's URL from a complete resolution (src/mdns/txt.ts rules). */
export function assembleUrl(app: 'https' | 'http', r: Resolution): string | undefined {
  if (!complete(r)) return undefined;
  return assembleClientUrl({ scheme: app, host: r.ipv4[0] ?? '', port: r.port ?? 0 }, r.txt ?? []);
}

export { RType, txtProperties };

