/**
 * codec.ts: a pure DHCPv4 message codec (RFC 2131 §2, RFC 2132, RFC 3396).
 *
 * decode() never throws: every malformed input comes back as a typed DecodeError, so the
 * socket layer can count and drop it. encode() writes a BOOTP header, the magic cookie, the
 * options in insertion order, END, and zero padding up to the 300-byte BOOTP minimum.
 */
import { Opt, optionDef, checkOptionLength } from './options';

/** BOOTP fixed-header size, before the magic cookie (RFC 2131 §2, figure 1). */
export const HEADER_LEN = 236;
/** The magic cookie 99.130.83.99 that starts the options area (RFC 2131 §3). */
export const MAGIC_COOKIE = 0x63825363;
/** Smallest message BOOTP relays and old clients accept: 236 + a 64-byte vend area (RFC 951, RFC 1542 §2.1). */
export const MIN_MESSAGE_LEN = 300;
/** Largest datagram accepted: an Ethernet MTU. The Jitsi client (dhcp4java) rejects anything larger. */
export const MAX_MESSAGE_LEN = 1500;

/** Op is the BOOTP op field. */
export const enum Op {
  BootRequest = 1,
  BootReply = 2,
}

/** DhcpMessage is a decoded message; addresses are uint32s, options keep their wire order. */
export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** chaddr is the whole 16-byte field; its first hlen bytes are the hardware address. */
  chaddr: Buffer;
  sname: Buffer;
  file: Buffer;
  /** options maps a code to its value; repeated codes are concatenated (RFC 3396 §5). */
  options: Map<number, Buffer>;
}

/** DecodeErrorCode is a stable reason a datagram was dropped by the decoder. */
export type DecodeErrorCode =
  | 'too-short'
  | 'too-long'
  | 'bad-hlen'
  | 'no-cookie'
  | 'option-truncated'
  | 'no-end'
  | 'bad-overload';

/** DecodeError describes why a datagram is not a usable DHCP message. */
export interface DecodeError {
  readonly code: DecodeErrorCode;
  readonly detail: string;
}

/** DecodeResult is the value decode() returns instead of throwing. */
export type DecodeResult = { readonly ok: true; readonly message: DhcpMessage } | { readonly ok: false; readonly error: DecodeError };

function fail(code: DecodeErrorCode, detail: string): DecodeResult {
  return { ok: false, error: { code, detail } };
}

/**
 * walkOptions reads TLV options from buf[start, end) into `into`. It returns an error string,
 * or null when an END was found (or, for `sname`/`file` overload areas, the field ran out).
 */
function walkOptions(buf: Buffer, start: number, end: number, into: Map<number, Buffer>, needEnd: boolean): DecodeError | null {
  let i = start;
  while (i < end) {
    const code = buf[i++] as number;
    if (code === Opt.Pad) continue; // RFC 2132 §3.1: a single byte, no length
    if (code === Opt.End) return null; // RFC 2132 §3.2
    if (i >= end) return { code: 'option-truncated', detail: `option ${code} at offset ${i - 1} has no length byte` };
    const len = buf[i++] as number;
    if (i + len > end) return { code: 'option-truncated', detail: `option ${code} at offset ${i - 2} claims ${len} bytes, ${end - i} remain` };
    const value = buf.subarray(i, i + len);
    i += len;
    const prev = into.get(code);
    // RFC 3396 §5: a repeated option is one long option, concatenated in order.
    into.set(code, prev === undefined ? value : Buffer.concat([prev, value]));
  }
  return needEnd ? { code: 'no-end', detail: 'the options are not terminated by END (255)' } : null;
}

/** decode parses a datagram; it never throws. */
export function decode(buf: Buffer): DecodeResult {
  if (buf.length < HEADER_LEN + 4) return fail('too-short', `${buf.length} bytes; a DHCP message has at least ${HEADER_LEN + 4}`);
  if (buf.length > MAX_MESSAGE_LEN) return fail('too-long', `${buf.length} bytes; at most ${MAX_MESSAGE_LEN} are accepted`);
  const hlen = buf[2] as number;
  if (hlen > 16) return fail('bad-hlen', `hlen ${hlen} exceeds the 16-byte chaddr field`);
  // RFC 2131 §3: the options field starts with the magic cookie 99.130.83.99.
  if (buf.readUInt32BE(HEADER_LEN) !== MAGIC_COOKIE) return fail('no-cookie', 'no DHCP magic cookie (a plain BOOTP message)');
  const options = new Map<number, Buffer>();
  const err = walkOptions(buf, HEADER_LEN + 4, buf.length, options, true);
  if (err) return { ok: false, error: err };
  const sname = buf.subarray(44, 108);
  const file = buf.subarray(108, 236);
  const overload = options.get(Opt.Overload);
  if (overload !== undefined) {
    // RFC 2132 §9.3: 1 = 'file' holds options, 2 = 'sname' does, 3 = both; 'file' is read first.
    const v = overload.length === 1 ? (overload[0] as number) : 0;
    if (v < 1 || v > 3) return fail('bad-overload', `option 52 must be one byte of 1, 2 or 3`);
    if (v & 1) {
      const e = walkOptions(buf, 108, 236, options, false);
      if (e) return { ok: false, error: e };
    }
    if (v & 2) {
      const e = walkOptions(buf, 44, 108, options, false);
      if (e) return { ok: false, error: e };
    }
  }
  return {
    ok: true,
    message: {
      op: buf[0] as number,
      htype: buf[1] as number,
      hlen,
      hops: buf[3] as number,
      xid: buf.readUInt32BE(4),
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: buf.readUInt32BE(12),
      yiaddr: buf.readUInt32BE(16),
      siaddr: buf.readUInt32BE(20),
      giaddr: buf.readUInt32BE(24),
      chaddr: buf.subarray(28, 44),
      sname,
      file,
      options,
    },
  };
}

/** encodedLength returns the number of bytes encode() will produce for a message. */
export function encodedLength(msg: DhcpMessage): number {
  let n = HEADER_LEN + 4 + 1; // header, cookie, END
  for (const v of msg.options.values()) n += v.length === 0 ? 2 : v.length + 2 * Math.ceil(v.length / 255);
  return Math.max(n, MIN_MESSAGE_LEN);
}

/**
 * encode serialises a message. An option longer than 255 bytes is split into consecutive
 * instances (RFC 3396 §6); callers that talk to clients without RFC 3396 support (the Jitsi
 * client) keep values within 255 bytes, which config validation enforces for option 224.
 */
export function encode(msg: DhcpMessage): Buffer {
  const out = Buffer.alloc(encodedLength(msg)); // zero-filled: sname/file/padding stay 0
  out[0] = msg.op;
  out[1] = msg.htype;
  out[2] = msg.hlen;
  out[3] = msg.hops;
  out.writeUInt32BE(msg.xid >>> 0, 4);
  out.writeUInt16BE(msg.secs, 8);
  out.writeUInt16BE(msg.flags, 10);
  out.writeUInt32BE(msg.ciaddr >>> 0, 12);
  out.writeUInt32BE(msg.yiaddr >>> 0, 16);
  out.writeUInt32BE(msg.siaddr >>> 0, 20);
  out.writeUInt32BE(msg.giaddr >>> 0, 24);
  msg.chaddr.copy(out, 28, 0, Math.min(16, msg.chaddr.length));
  msg.sname.copy(out, 44, 0, Math.min(64, msg.sname.length));
  msg.file.copy(out, 108, 0, Math.min(128, msg.file.length));
  out.writeUInt32BE(MAGIC_COOKIE, HEADER_LEN);
  let i = HEADER_LEN + 4;
  for (const [code, value] of msg.options) {
    if (code === Opt.Pad || code === Opt.End) continue;
    let off = 0;
    do {
      const chunk = Math.min(255, value.length - off);
      out[i++] = code;
      out[i++] = chunk;
      value.copy(out, i, off, off + chunk);
      i += chunk;
      off += chunk;
    } while (off < value.length);
  }
  out[i] = Opt.End;
  return out;
}

/** OptionRead is the result of reading a typed option: absent, a value, or a length error. */
export type OptionRead<T> = { readonly kind: 'absent' } | { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'bad'; readonly reason: string };

/** readU8 reads a 1-byte option (e.g. 53), checking its length against the option table. */
export function readU8(msg: DhcpMessage, code: number): OptionRead<number> {
  const v = msg.options.get(code);
  if (v === undefined) return { kind: 'absent' };
  const def = optionDef(code);
  const bad = def ? checkOptionLength(def, v.length) : v.length === 1 ? undefined : 'must be 1 byte';
  if (bad) return { kind: 'bad', reason: `option ${code} (${def?.name ?? 'unknown'}) ${bad}, got ${v.length}` };
  return { kind: 'ok', value: v[0] as number };
}

/** emptyMessage returns a zeroed message, handy for building replies and test fixtures. */
export function emptyMessage(): DhcpMessage {
  return {
    op: 0,
    htype: 0,
    hlen: 0,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: Buffer.alloc(16),
    sname: Buffer.alloc(64),
    file: Buffer.alloc(128),
    options: new Map(),
  };
}
