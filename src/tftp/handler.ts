/**
 * handler.ts: the pure decisions on a request that reached the TFTP port: what it asks for, or
 * why it is refused (with the ERROR packet to send). No socket, no store.
 *
 * A RRQ's file name is read like the HTTP face's phone paths (src/http/server.ts PHONE_PATHS),
 * so that one name gives one answer over both faces:
 *   `device/provisioning/<key>/<file>` (wazo-provd's), `<key>/<file>`, and `<file>` (unkeyed:
 *   the `auth: none` default tenant). Leading `/` and `\` are dropped and `\` is read as `/`
 *   (phones send both, sip-phones.md §5). A name with a `..`, `.` or empty segment, a control
 *   character, or longer than MAX_NAME is refused (ERROR 2, access violation): no traversal, no
 *   ambiguity about which file is meant.
 */
import { ErrorCode, type RequestPacket } from './codec';
import { checkMode } from './transfer';

/** MAX_NAME bounds a request's file name, characters (a request is at most 512 bytes anyway). */
export const MAX_NAME = 400;

/** Asked is a request the main thread must answer: the file of a tenant's key (or unkeyed). */
export interface Asked {
  readonly kind: 'ask';
  readonly key: string | undefined;
  readonly file: string;
  /** name: the normalised name, for logs (the key replaced by `<key>`). */
  readonly logName: string;
}

/** Refused is a request answered with an ERROR at once. */
export interface Refused {
  readonly kind: 'refuse';
  readonly code: ErrorCode;
  readonly message: string;
  /** reason: a stable counter suffix (`refused:<reason>`). */
  readonly reason: string;
}

/** classify decides what a decoded request is. */
export function classify(req: RequestPacket): Asked | Refused {
  if (req.op === 'wrq') return { kind: 'refuse', code: ErrorCode.AccessViolation, message: 'write requests are refused: provisiond serves files, it takes none', reason: 'wrq' };
  const mode = checkMode(req);
  if (mode) return { kind: 'refuse', code: mode.code, message: mode.message, reason: mode.reason };
  return splitName(req.filename);
}

/** splitName reads a file name into key and file (see the file comment). */
export function splitName(raw: string): Asked | Refused {
  const bad = (why: string): Refused => ({ kind: 'refuse', code: ErrorCode.AccessViolation, message: `access violation: ${why}`, reason: 'bad-name' });
  if (raw.length > MAX_NAME) return bad('name too long');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) return bad('control character in the name');
  const name = raw.replace(/\\/g, '/').replace(/^\/+/, '');
  if (name.length === 0) return bad('empty name');
  const segs = name.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) return bad('empty, . or .. segment');
  if (segs.length >= 4 && segs[0] === 'device' && segs[1] === 'provisioning') {
    return { kind: 'ask', key: segs[2], file: segs.slice(3).join('/'), logName: `device/provisioning/<key>/${segs.slice(3).join('/')}` };
  }
  if (segs.length >= 2) return { kind: 'ask', key: segs[0], file: segs.slice(1).join('/'), logName: `<key>/${segs.slice(1).join('/')}` };
  return { kind: 'ask', key: undefined, file: name, logName: name };
}
