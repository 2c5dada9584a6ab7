/**
 * events.ts: the security event log: one line per failure and per ban, in a stable format that
 * config/fail2ban/filter.d/provisiond.conf matches (and a test checks with fail2ban-regex):
 *
 *   2026-01-19T10:00:00.123Z provisiond[security]: failure ip=192.0.2.7 reason=bad-key user=- tenant=-
 *   2026-01-19T10:00:09.001Z provisiond[security]: ban ip=192.0.2.7 scope=ip until=2026-01-19T10:10:09.001Z
 *
 * The ip comes first and every attacker-controlled value (user, tenant) is percent-encoded, so no
 * request can forge an `ip=` or a line break. The file is created 0600.
 */
import { openSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** EventSink writes security event lines. */
export interface EventSink {
  write(line: string): void;
  close(): void;
}

/** safe percent-encodes a value for the event line (no spaces, no line breaks, no '='). */
export function safe(v: string | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  return encodeURIComponent(v.slice(0, 128)).replace(/[=!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** failureLine formats a failure event. */
export function failureLine(at: Date, ip: string, reason: string, user: string | null | undefined, tenant: string | null | undefined): string {
  return `${at.toISOString()} provisiond[security]: failure ip=${safe(ip)} reason=${safe(reason)} user=${safe(user)} tenant=${safe(tenant)}`;
}

/** banLine formats a ban event. */
export function banLine(at: Date, ip: string, scope: 'ip' | 'user', subject: string, until: Date): string {
  return `${at.toISOString()} provisiond[security]: ban ip=${safe(ip)} scope=${scope} subject=${safe(subject)} until=${until.toISOString()}`;
}

/** fileSink appends lines to `path` (created 0600, its directory 0700 when missing). */
export function fileSink(path: string): EventSink {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'a', 0o600);
  let open = true;
  return {
    write: (line) => {
      if (open) writeSync(fd, `${line}\n`);
    },
    close: () => {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** memorySink keeps lines in memory (tests). */
export function memorySink(): EventSink & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (l) => lines.push(l), close: () => undefined };
}
