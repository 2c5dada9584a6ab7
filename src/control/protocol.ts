/**
 * protocol.ts: the control socket's protocol, pure (no socket): one JSON object per line each
 * way, UTF-8, a request at most MAX_REQUEST_BYTES.
 *
 *   → {"cmd":"bans.list"}
 *   ← {"ok":true,"result":{"bans":[{"face":"http","scope":"ip","subject":"192.0.2.7","since":"…","until":"…","reason":"…"}]}}
 *   → {"cmd":"bans.lift","subject":"192.0.2.7"}        (an address, `user@tenant`, or `user` for every tenant)
 *   → {"cmd":"reload","config":"/etc/provisiond/provisiond.yaml"}   (config optional: the daemon's own file)
 *   → {"cmd":"status"}                                  (pid, configuration file, counters)
 *   ← {"ok":false,"code":"PROVD_ERR_…","reason":"bad-json","error":"one line","details":["…"]}
 *
 * Every malformed request gets an answer naming what is wrong (`reason`: too-long, bad-json,
 * not-an-object, unknown-command, bad-field) and is counted; the connection stays usable after
 * a bad JSON line, and is closed after a line over the limit (the rest of it is not read).
 */
import { isIP } from 'node:net';
import { unmapIPv4 } from '../net/ipv4';

/** MAX_REQUEST_BYTES bounds one request line (the longest field is a file path). */
export const MAX_REQUEST_BYTES = 8192;
/** MAX_SUBJECT bounds a ban subject (an address or `user@tenant`). */
const MAX_SUBJECT = 320;

/** COMMANDS are the requests the daemon answers. */
export const COMMANDS = ['status', 'bans.list', 'bans.lift', 'reload'] as const;
export type Command = (typeof COMMANDS)[number];

/** Request is one parsed request. */
export type Request =
  | { readonly cmd: 'status' }
  | { readonly cmd: 'bans.list' }
  | { readonly cmd: 'bans.lift'; readonly subject: Subject }
  | { readonly cmd: 'reload'; readonly config?: string };

/** BadReason says why a request line was refused. */
export type BadReason = 'too-long' | 'bad-json' | 'not-an-object' | 'unknown-command' | 'bad-field';

/** Parsed is a request, or why the line is not one. */
export type Parsed = { readonly ok: true; readonly request: Request } | { readonly ok: false; readonly reason: BadReason; readonly error: string };

/** Subject is what `bans lift` names: an address, a user of one tenant, or a user of any tenant. */
export type Subject = { readonly scope: 'ip'; readonly ip: string } | { readonly scope: 'user'; readonly user: string; readonly anyTenant: boolean };

/** Answer is one response line. */
export type Answer =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: string; readonly error: string; readonly reason?: string; readonly details?: readonly string[] };

/** parseSubject reads a ban subject: an IPv4/IPv6 address, `user@tenant` or `user`; undefined when it is neither. */
export function parseSubject(s: string): Subject | undefined {
  const t = s.trim();
  if (t.length === 0 || t.length > MAX_SUBJECT) return undefined;
  if (isIP(t) !== 0) return { scope: 'ip', ip: unmapIPv4(t.toLowerCase()) };
  // User names as the HTTP face keys them (userKeyOf: `name@domain`, lower-case): no spaces, no
  // control characters, at most one '@'.
  if (!/^[^\s@\p{Cc}]+(@[^\s@\p{Cc}]+)?$/u.test(t)) return undefined;
  return { scope: 'user', user: t.toLowerCase(), anyTenant: !t.includes('@') };
}

/** matches tells whether a ban (scope, subject as the face keeps it) is one the subject names. */
export function matches(subject: Subject, ban: { readonly scope: string; readonly subject: string }): boolean {
  if (subject.scope === 'ip') return ban.scope === 'ip' && unmapIPv4(ban.subject.toLowerCase()) === subject.ip;
  if (ban.scope !== 'user') return false;
  const s = ban.subject.toLowerCase();
  return s === subject.user || (subject.anyTenant && s.startsWith(`${subject.user}@`));
}

/** parseRequest reads one request line (without its newline). */
export function parseRequest(line: string): Parsed {
  if (Buffer.byteLength(line, 'utf8') > MAX_REQUEST_BYTES) return { ok: false, reason: 'too-long', error: `a request is at most ${MAX_REQUEST_BYTES} bytes` };
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: 'bad-json', error: `not JSON: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200) };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reason: 'not-an-object', error: 'a request is one JSON object per line, e.g. {"cmd":"bans.list"}' };
  const o = v as Record<string, unknown>;
  const cmd = o['cmd'];
  if (typeof cmd !== 'string' || !(COMMANDS as readonly string[]).includes(cmd)) {
    return { ok: false, reason: 'unknown-command', error: `unknown command ${JSON.stringify(cmd)?.slice(0, 60) ?? 'undefined'}: one of ${COMMANDS.join(', ')}` };
  }
  const allowed: Record<Command, readonly string[]> = { status: [], 'bans.list': [], 'bans.lift': ['subject'], reload: ['config'] };
  const extra = Object.keys(o).filter((k) => k !== 'cmd' && !(allowed[cmd as Command] ?? []).includes(k));
  if (extra.length > 0) return { ok: false, reason: 'bad-field', error: `${cmd}: unknown field ${JSON.stringify(extra[0]?.slice(0, 60))}` };
  switch (cmd as Command) {
    case 'status':
      return { ok: true, request: { cmd: 'status' } };
    case 'bans.list':
      return { ok: true, request: { cmd: 'bans.list' } };
    case 'bans.lift': {
      const raw = o['subject'];
      const subject = typeof raw === 'string' ? parseSubject(raw) : undefined;
      if (subject === undefined) return { ok: false, reason: 'bad-field', error: 'bans.lift: "subject" must be an IP address, user@tenant or user' };
      return { ok: true, request: { cmd: 'bans.lift', subject } };
    }
    case 'reload': {
      const c = o['config'];
      if (c === undefined) return { ok: true, request: { cmd: 'reload' } };
      if (typeof c !== 'string' || c.length === 0 || c.includes('\0')) return { ok: false, reason: 'bad-field', error: 'reload: "config" must be a file path' };
      return { ok: true, request: { cmd: 'reload', config: c } };
    }
  }
}

/** encodeAnswer writes one response line (with its newline). */
export function encodeAnswer(a: Answer): string {
  return `${JSON.stringify(a)}\n`;
}

/** decodeAnswer reads one response line; undefined when it is not an answer of this protocol. */
export function decodeAnswer(line: string): Answer | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['ok'] === true) return { ok: true, result: o['result'] };
  if (o['ok'] === false && typeof o['code'] === 'string' && typeof o['error'] === 'string') {
    const details = Array.isArray(o['details']) ? o['details'].filter((d): d is string => typeof d === 'string') : [];
    return { ok: false, code: o['code'], error: o['error'], ...(typeof o['reason'] === 'string' ? { reason: o['reason'] } : {}), details };
  }
  return undefined;
}
