/**
 * codec.ts: a pure TFTP packet codec (RFC 1350; options RFC 2347, blksize RFC 2348, timeout
 * and tsize RFC 2349, windowsize RFC 7440).
 *
 * decode() never throws: every malformed datagram comes back as a typed DecodeError, so the
 * socket layer can count and drop it. Every field is bounded: a request is at most 512 bytes
 * (RFC 2347 §2), a DATA packet at most 4 + 65464 bytes, at most MAX_OPTIONS options, no option
 * named twice. The encoders take typed values and never throw either (block numbers are taken
 * modulo 2^16, strings are truncated to what a packet may carry).
 *
 * Option values are read by readOptions(): each known option parsed and range-checked, the
 * unknown ones listed, so a server answers with an OACK holding only what was asked (RFC 2347)
 * and a client (probe) can check the OACK it got.
 */

/** Opcode is the 2-byte TFTP opcode (RFC 1350 §5, RFC 2347 §2 for OACK). */
export const enum Opcode {
  RRQ = 1,
  WRQ = 2,
  DATA = 3,
  ACK = 4,
  ERROR = 5,
  OACK = 6,
}

/** ErrorCode is the ERROR packet's code (RFC 1350 appendix; 8 from RFC 2347). */
export const enum ErrorCode {
  NotDefined = 0,
  FileNotFound = 1,
  AccessViolation = 2,
  DiskFull = 3,
  IllegalOperation = 4,
  UnknownTid = 5,
  FileExists = 6,
  NoSuchUser = 7,
  OptionRefused = 8,
}

/** MAX_REQUEST_LEN: "the request packet must not exceed 512 octets" (RFC 2347 §2). */
export const MAX_REQUEST_LEN = 512;
/** DEFAULT_BLKSIZE is RFC 1350's block size. */
export const DEFAULT_BLKSIZE = 512;
/** MIN_BLKSIZE / MAX_BLKSIZE: RFC 2348's valid range. */
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
/** MIN_TIMEOUT / MAX_TIMEOUT: RFC 2349's valid range, seconds. */
export const MIN_TIMEOUT = 1;
export const MAX_TIMEOUT = 255;
/** MIN_WINDOWSIZE / MAX_WINDOWSIZE: RFC 7440's valid range, blocks. */
export const MIN_WINDOWSIZE = 1;
export const MAX_WINDOWSIZE = 65535;
/** MAX_DATAGRAM is the largest TFTP datagram: a DATA header and a 65464-byte block. */
export const MAX_DATAGRAM = 4 + MAX_BLKSIZE;
/** MAX_OPTIONS bounds the options a request or OACK may carry (RFC 2347 registers far fewer). */
export const MAX_OPTIONS = 16;
/** MAX_ERROR_MESSAGE bounds an ERROR packet's message we emit, bytes. */
export const MAX_ERROR_MESSAGE = 255;

/** TftpOption is one option name/value pair, name lower-cased (options are case-insensitive, RFC 2347 §2). */
export interface TftpOption {
  readonly name: string;
  readonly value: string;
}

/** RequestPacket is a RRQ or a WRQ. */
export interface RequestPacket {
  readonly op: 'rrq' | 'wrq';
  /** filename as sent, each byte one char (latin1): the name's bytes survive unchanged. */
  readonly filename: string;
  /** mode lower-cased (`octet`, `netascii`, `mail`, or anything else the client sent). */
  readonly mode: string;
  /** options in the order sent. */
  readonly options: readonly TftpOption[];
}

/** DataPacket is a DATA block. */
export interface DataPacket {
  readonly op: 'data';
  readonly block: number;
  readonly data: Buffer;
}

/** AckPacket acknowledges a block (0 acknowledges an OACK). */
export interface AckPacket {
  readonly op: 'ack';
  readonly block: number;
}

/** ErrorPacket ends a transfer. */
export interface ErrorPacket {
  readonly op: 'error';
  readonly code: number;
  readonly message: string;
}

/** OackPacket acknowledges the options a server accepted (RFC 2347 §2). */
export interface OackPacket {
  readonly op: 'oack';
  readonly options: readonly TftpOption[];
}

/** Packet is any decoded TFTP packet. */
export type Packet = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

/** DecodeErrorCode is a stable reason a datagram was dropped by the decoder. */
export type DecodeErrorCode =
  | 'too-short'
  | 'too-long'
  | 'bad-opcode'
  | 'no-filename'
  | 'no-mode'
  | 'unterminated'
  | 'option-no-value'
  | 'empty-option'
  | 'too-many-options'
  | 'duplicate-option';

/** DecodeError describes why a datagram is not a usable TFTP packet. */
export interface DecodeError {
  readonly code: DecodeErrorCode;
  readonly detail: string;
}

/** DecodeResult is the value decode() returns instead of throwing. */
export type DecodeResult = { readonly ok: true; readonly packet: Packet } | { readonly ok: false; readonly error: DecodeError };

function fail(code: DecodeErrorCode, detail: string): DecodeResult {
  return { ok: false, error: { code, detail } };
}

/** readStrings splits buf[start, end) into NUL-terminated strings; trailing NUL padding after the last one is tolerated. */
function readStrings(buf: Buffer, start: number, end: number): string[] | DecodeError {
  const out: string[] = [];
  let i = start;
  while (i < end) {
    const nul = buf.indexOf(0, i);
    if (nul < 0 || nul >= end) return { code: 'unterminated', detail: `the string at offset ${i} has no NUL terminator` };
    if (nul === i) {
      // An empty string: allowed only as padding at the very end (some clients pad requests).
      for (let j = i; j < end; j++) if (buf[j] !== 0) return { code: 'empty-option', detail: `an empty string at offset ${i} is followed by more data` };
      return out;
    }
    out.push(buf.toString('latin1', i, nul));
    i = nul + 1;
  }
  return out;
}

function readOptionPairs(strings: readonly string[], what: string): TftpOption[] | DecodeError {
  if (strings.length % 2 !== 0) return { code: 'option-no-value', detail: `${what}: option '${strings[strings.length - 1] ?? ''}' has no value` };
  if (strings.length / 2 > MAX_OPTIONS) return { code: 'too-many-options', detail: `${what}: ${strings.length / 2} options; at most ${MAX_OPTIONS} are accepted` };
  const out: TftpOption[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < strings.length; i += 2) {
    const name = (strings[i] as string).toLowerCase();
    if (seen.has(name)) return { code: 'duplicate-option', detail: `${what}: option '${name}' appears twice` };
    seen.add(name);
    out.push({ name, value: strings[i + 1] as string });
  }
  return out;
}

function isDecodeError(v: unknown): v is DecodeError {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'code' in v;
}

/** decode parses one datagram; it never throws. */
export function decode(buf: Buffer): DecodeResult {
  if (buf.length < 2) return fail('too-short', `${buf.length} bytes; a TFTP packet has at least 2 (the opcode)`);
  if (buf.length > MAX_DATAGRAM) return fail('too-long', `${buf.length} bytes; at most ${MAX_DATAGRAM} are accepted`);
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      if (buf.length > MAX_REQUEST_LEN) return fail('too-long', `a request of ${buf.length} bytes; RFC 2347 allows at most ${MAX_REQUEST_LEN}`);
      if (buf.length === 2 || buf[2] === 0) return fail('no-filename', 'a request needs a filename and a mode');
      const strings = readStrings(buf, 2, buf.length);
      if (isDecodeError(strings)) return { ok: false, error: strings };
      if (strings.length === 0) return fail('no-filename', 'a request needs a filename and a mode');
      if (strings.length === 1) return fail('no-mode', 'a request needs a mode after its filename');
      const options = readOptionPairs(strings.slice(2), 'request');
      if (isDecodeError(options)) return { ok: false, error: options };
      return { ok: true, packet: { op: opcode === Opcode.RRQ ? 'rrq' : 'wrq', filename: strings[0] as string, mode: (strings[1] as string).toLowerCase(), options } };
    }
    case Opcode.DATA:
      if (buf.length < 4) return fail('too-short', `a DATA packet of ${buf.length} bytes has no block number`);
      return { ok: true, packet: { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) } };
    case Opcode.ACK:
      // Bytes after the block number are ignored (some clients pad their ACKs).
      if (buf.length < 4) return fail('too-short', `an ACK of ${buf.length} bytes has no block number`);
      return { ok: true, packet: { op: 'ack', block: buf.readUInt16BE(2) } };
    case Opcode.ERROR: {
      if (buf.length < 4) return fail('too-short', `an ERROR of ${buf.length} bytes has no error code`);
      // The message's NUL is tolerated missing: an ERROR ends the transfer whatever its text.
      const nul = buf.indexOf(0, 4);
      const message = buf.toString('latin1', 4, nul < 0 ? buf.length : nul);
      return { ok: true, packet: { op: 'error', code: buf.readUInt16BE(2), message } };
    }
    case Opcode.OACK: {
      if (buf.length > MAX_REQUEST_LEN) return fail('too-long', `an OACK of ${buf.length} bytes; at most ${MAX_REQUEST_LEN} are accepted`);
      const strings = readStrings(buf, 2, buf.length);
      if (isDecodeError(strings)) return { ok: false, error: strings };
      const options = readOptionPairs(strings, 'OACK');
      if (isDecodeError(options)) return { ok: false, error: options };
      return { ok: true, packet: { op: 'oack', options } };
    }
    default:
      return fail('bad-opcode', `opcode ${opcode} is not a TFTP opcode`);
  }
}

/** asciiz writes strings as NUL-terminated latin1 (each char one byte). */
function asciiz(parts: readonly string[]): Buffer {
  const bufs: Buffer[] = [];
  for (const p of parts) bufs.push(Buffer.from(p, 'latin1'), Buffer.alloc(1));
  return Buffer.concat(bufs);
}

function header(op: Opcode, n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(op, 0);
  b.writeUInt16BE(n & 0xffff, 2);
  return b;
}

/** encodeRequest builds a RRQ or WRQ (a client's packet: the probe, tests). */
export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: string, options: readonly TftpOption[] = []): Buffer {
  const opb = Buffer.alloc(2);
  opb.writeUInt16BE(op === 'rrq' ? Opcode.RRQ : Opcode.WRQ, 0);
  const parts = [filename, mode];
  for (const o of options.slice(0, MAX_OPTIONS)) parts.push(o.name, o.value);
  return Buffer.concat([opb, asciiz(parts)]);
}

/** encodeData builds a DATA packet; block is taken modulo 2^16 (rollover). */
export function encodeData(block: number, data: Buffer): Buffer {
  return Buffer.concat([header(Opcode.DATA, block), data.subarray(0, MAX_BLKSIZE)]);
}

/** encodeAck builds an ACK; block is taken modulo 2^16. */
export function encodeAck(block: number): Buffer {
  return header(Opcode.ACK, block);
}

/** encodeError builds an ERROR packet; the message is cut to MAX_ERROR_MESSAGE bytes. */
export function encodeError(code: number, message: string): Buffer {
  return Buffer.concat([header(Opcode.ERROR, code), asciiz([Buffer.from(message, 'latin1').subarray(0, MAX_ERROR_MESSAGE).toString('latin1')])]);
}

/** encodeOack builds an OACK with the options in the order given. */
export function encodeOack(options: readonly TftpOption[]): Buffer {
  const opb = Buffer.alloc(2);
  opb.writeUInt16BE(Opcode.OACK, 0);
  const parts: string[] = [];
  for (const o of options.slice(0, MAX_OPTIONS)) parts.push(o.name, o.value);
  return Buffer.concat([opb, asciiz(parts)]);
}

/** encode serialises any packet (the round trip of decode). */
export function encode(p: Packet): Buffer {
  switch (p.op) {
    case 'rrq':
    case 'wrq':
      return encodeRequest(p.op, p.filename, p.mode, p.options);
    case 'data':
      return encodeData(p.block, p.data);
    case 'ack':
      return encodeAck(p.block);
    case 'error':
      return encodeError(p.code, p.message);
    case 'oack':
      return encodeOack(p.options);
  }
}

/** OptionValue is a known option's parsed value: absent, usable, or present but invalid (with why). */
export type OptionValue = { readonly kind: 'absent' } | { readonly kind: 'ok'; readonly value: number } | { readonly kind: 'bad'; readonly reason: string };

/** KnownOptions are the options of RFC 2348, 2349 and 7440, each parsed. */
export interface KnownOptions {
  /** blksize: 8..65464 (RFC 2348). A larger value is usable: the server answers a smaller one. */
  readonly blksize: OptionValue;
  /** timeout: 1..255 seconds (RFC 2349); the server must answer the same value or drop the option. */
  readonly timeout: OptionValue;
  /** tsize: a size in bytes, 0 in a RRQ (RFC 2349). */
  readonly tsize: OptionValue;
  /** windowsize: 1..65535 blocks (RFC 7440). A larger value is usable: the server answers a smaller one. */
  readonly windowsize: OptionValue;
  /** unknown lists the names of the other options, in order (a server ignores them, RFC 2347). */
  readonly unknown: readonly string[];
}

/** MAX_DIGITS bounds an option's decimal value (tsize up to 2^53 - 1 has 16 digits). */
const MAX_DIGITS = 16;

function parseDecimal(value: string): number | undefined {
  if (value.length === 0 || value.length > MAX_DIGITS || !/^[0-9]+$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

function ranged(value: string, min: number, max: number, larger: boolean): OptionValue {
  const n = parseDecimal(value);
  if (n === undefined) return { kind: 'bad', reason: `'${value.slice(0, 20)}' is not a decimal number` };
  if (n < min) return { kind: 'bad', reason: `${n} is below ${min}` };
  // A larger blksize or windowsize asks for "up to": the server replies with what it takes.
  if (n > max) return larger ? { kind: 'ok', value: max } : { kind: 'bad', reason: `${n} is above ${max}` };
  return { kind: 'ok', value: n };
}

/** readOptions parses the known options of a request or OACK; it never throws. */
export function readOptions(options: readonly TftpOption[]): KnownOptions {
  let blksize: OptionValue = { kind: 'absent' };
  let timeout: OptionValue = { kind: 'absent' };
  let tsize: OptionValue = { kind: 'absent' };
  let windowsize: OptionValue = { kind: 'absent' };
  const unknown: string[] = [];
  for (const o of options) {
    switch (o.name) {
      case 'blksize':
        blksize = ranged(o.value, MIN_BLKSIZE, MAX_BLKSIZE, true);
        break;
      case 'timeout':
        timeout = ranged(o.value, MIN_TIMEOUT, MAX_TIMEOUT, false);
        break;
      case 'tsize': {
        const n = parseDecimal(o.value);
        tsize = n === undefined ? { kind: 'bad', reason: `'${o.value.slice(0, 20)}' is not a decimal number` } : { kind: 'ok', value: n };
        break;
      }
      case 'windowsize':
        windowsize = ranged(o.value, MIN_WINDOWSIZE, MAX_WINDOWSIZE, true);
        break;
      default:
        unknown.push(o.name);
    }
  }
  return { blksize, timeout, tsize, windowsize, unknown };
}
