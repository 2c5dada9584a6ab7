/**
 * wire.ts: a small, pure decoder of DNS messages (RFC 1035 §4) as mDNS uses them (RFC 6762).
 * It reads only what the conflict watcher needs: the header, the questions, and each record's
 * name, type, class, cache-flush bit, TTL and the rdata of A, AAAA, SRV, TXT and PTR. Every loop
 * is bounded by the message length; a malformed message is an error value, never a throw.
 */

/** RType are the record types decoded here (RFC 1035 §3.2.2, RFC 3596, RFC 2782). */
export const enum RType {
  A = 1,
  PTR = 12,
  TXT = 16,
  AAAA = 28,
  SRV = 33,
}

/** RData is the decoded rdata of the types above; other types keep only their length. */
export type RData =
  | { readonly kind: 'a'; readonly address: string }
  | { readonly kind: 'aaaa'; readonly address: string }
  | { readonly kind: 'ptr'; readonly target: string }
  | { readonly kind: 'srv'; readonly priority: number; readonly weight: number; readonly port: number; readonly target: string }
  | { readonly kind: 'txt'; readonly strings: readonly string[] }
  | { readonly kind: 'other'; readonly length: number };

/** DnsRecord is one resource record of the answer, authority or additional section. */
export interface DnsRecord {
  readonly section: 'answer' | 'authority' | 'additional';
  readonly name: string;
  readonly type: number;
  /** cls is the class without the cache-flush bit (RFC 6762 §10.2). */
  readonly cls: number;
  readonly cacheFlush: boolean;
  readonly ttl: number;
  readonly data: RData;
}

/** DnsMessage is a decoded message. */
export interface DnsMessage {
  readonly id: number;
  /** response is the QR bit. */
  readonly response: boolean;
  readonly opcode: number;
  readonly questions: readonly { readonly name: string; readonly type: number; readonly cls: number }[];
  readonly records: readonly DnsRecord[];
}

/** Decoded is the decoder's result. */
export type Decoded = { readonly ok: true; readonly message: DnsMessage } | { readonly ok: false; readonly error: string };

class Malformed extends Error {}

/** MAX_POINTERS bounds compression-pointer chasing (a loop of pointers is malformed). */
const MAX_POINTERS = 64;

function readName(buf: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let off = start;
  let next = -1;
  let jumps = 0;
  let total = 0;
  // Each pass consumes a label or a pointer; both are bounded (name length, pointer count).
  for (;;) {
    if (off >= buf.length) throw new Malformed('name runs past the end');
    const len = buf[off] ?? 0;
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length) throw new Malformed('truncated compression pointer');
      if (++jumps > MAX_POINTERS) throw new Malformed('compression pointer loop');
      if (next < 0) next = off + 2;
      off = ((len & 0x3f) << 8) | (buf[off + 1] ?? 0);
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Malformed(`bad label type 0x${len.toString(16)}`);
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    if (off + 1 + len > buf.length) throw new Malformed('label runs past the end');
    total += len + 1;
    if (total > 255) throw new Malformed('name longer than 255 bytes'); // RFC 1035 §3.1
    labels.push(buf.toString('utf8', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return { name: labels.length === 0 ? '.' : `${labels.join('.')}.`, next };
}

function u16(buf: Buffer, off: number): number {
  if (off + 2 > buf.length) throw new Malformed('truncated field');
  return buf.readUInt16BE(off);
}

function rdata(buf: Buffer, type: number, start: number, length: number): RData {
  const end = start + length;
  switch (type) {
    case RType.A:
      if (length !== 4) throw new Malformed('A rdata is not 4 bytes');
      return { kind: 'a', address: `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}` };
    case RType.AAAA: {
      if (length !== 16) throw new Malformed('AAAA rdata is not 16 bytes');
      const parts: string[] = [];
      for (let i = 0; i < 8; i++) parts.push(buf.readUInt16BE(start + 2 * i).toString(16));
      return { kind: 'aaaa', address: parts.join(':') };
    }
    case RType.PTR:
      return { kind: 'ptr', target: readName(buf, start).name };
    case RType.SRV:
      if (length < 7) throw new Malformed('SRV rdata too short');
      return { kind: 'srv', priority: u16(buf, start), weight: u16(buf, start + 2), port: u16(buf, start + 4), target: readName(buf, start + 6).name };
    case RType.TXT: {
      const strings: string[] = [];
      let off = start;
      while (off < end) {
        const len = buf[off] ?? 0;
        if (off + 1 + len > end) throw new Malformed('TXT string runs past its record');
        strings.push(buf.toString('utf8', off + 1, off + 1 + len));
        off += 1 + len;
      }
      return { kind: 'txt', strings };
    }
    default:
      return { kind: 'other', length };
  }
}

/** decodeDns decodes one DNS message. */
export function decodeDns(buf: Buffer): Decoded {
  try {
    if (buf.length < 12) throw new Malformed('shorter than a DNS header');
    const flags = buf.readUInt16BE(2);
    const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
    // A question takes at least 5 bytes and a record 11: counts beyond that are lies.
    if (counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11 > buf.length - 12) throw new Malformed('section counts exceed the message');
    let off = 12;
    const questions: { name: string; type: number; cls: number }[] = [];
    for (let i = 0; i < counts[0]; i++) {
      const n = readName(buf, off);
      questions.push({ name: n.name, type: u16(buf, n.next), cls: u16(buf, n.next + 2) & 0x7fff });
      off = n.next + 4;
    }
    const records: DnsRecord[] = [];
    const sections = ['answer', 'authority', 'additional'] as const;
    for (let s = 0; s < 3; s++) {
      const count = counts[s + 1] ?? 0;
      for (let i = 0; i < count; i++) {
        const n = readName(buf, off);
        const type = u16(buf, n.next);
        const cls = u16(buf, n.next + 2);
        if (n.next + 10 > buf.length) throw new Malformed('truncated record header');
        const ttl = buf.readUInt32BE(n.next + 4);
        const length = u16(buf, n.next + 8);
        const start = n.next + 10;
        if (start + length > buf.length) throw new Malformed('rdata runs past the end');
        records.push({ section: sections[s] ?? 'answer', name: n.name, type, cls: cls & 0x7fff, cacheFlush: (cls & 0x8000) !== 0, ttl, data: rdata(buf, type, start, length) });
        off = start + length;
      }
    }
    return { ok: true, message: { id: buf.readUInt16BE(0), response: (flags & 0x8000) !== 0, opcode: (flags >> 11) & 0xf, questions, records } };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, error: err.message };
    throw err;
  }
}

/** sameName compares DNS names case-insensitively (RFC 6762 §16: ASCII case-insensitive). */
export function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * encodeQuery builds a multicast (QM) query, RFC 6762 §5.2/§18: id 0, no flags, one question
 * per type for `name`, class IN. Used by a standby node to refresh the active node's records.
 * `name` is dotted (a trailing dot is optional); each label is at most 63 bytes.
 */
export function encodeQuery(name: string, types: readonly number[]): Buffer {
  const labels = name.split('.').filter((l) => l !== '');
  const qname = Buffer.concat([
    ...labels.map((l) => {
      const b = Buffer.from(l, 'utf8');
      if (b.length > 63) throw new RangeError(`DNS label over 63 bytes: ${l}`);
      return Buffer.concat([Buffer.from([b.length]), b]);
    }),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(types.length, 4);
  const questions = types.map((t) => {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(t, 0);
    tail.writeUInt16BE(1, 2); // IN, QU bit clear: answers are multicast, so every node hears them
    return Buffer.concat([qname, tail]);
  });
  return Buffer.concat([header, ...questions]);
}
