/**
 * events.ts: the security event log: one line per failure and per ban, in a stable format that
 * config/fail2ban/filter.d/provisiond.conf matches (and a test checks with fail2ban-regex):
 *
 *   2026-01-19T10:00:00.123Z provisiond[security]: failure ip=192.0.2.7 reason=bad-key user=- tenant=-
 *   2026-01-19T10:00:09.001Z provisiond[security]: ban ip=192.0.2.7 scope=ip until=2026-01-19T10:10:09.001Z
 *
 * The ip comes first, written as is only when node:net validates it as an address (an IPv4-mapped
 * IPv6 address is written in its IPv4 form, so fail2ban sees one client, not two); every other
 * value (user, tenant, an unvalidated ip) is percent-encoded, so no request can forge an `ip=` or
 * a line break. The file is created 0600.
 *
 * The sink never throws on a write (a full disk must not turn a wrong password into a 500 before
 * it is counted): a failed write is reported to its owner, who logs it once per episode and counts
 * it. It follows log rotation: reopen() (SIGHUP) opens the path again, and a write checks, at most
 * once per second, whether the path still names the open file (renamed or deleted: reopened).
 */
import { openSync, writeSync, closeSync, mkdirSync, fstatSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { ProvError, errorMessage } from '../errors';
import { unmapIPv4 } from '../net/ipv4';

/** EventSink writes security event lines; write never throws. */
export interface EventSink {
  write(line: string): void;
  /** reopen opens the path again (log rotation; SIGHUP). It throws when the path cannot be opened. */
  reopen?(): void;
  close(): void;
}

/** safe percent-encodes a value for the event line (no spaces, no line breaks, no '='). */
export function safe(v: string | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  return encodeURIComponent(v.slice(0, 128)).replace(/[=!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * addressField writes a client address for fail2ban's <ADDR>: unencoded when node:net says it is
 * an IPv4 or IPv6 address (no zone id), an IPv4-mapped one unmapped; anything else percent-encoded.
 */
export function addressField(ip: string): string {
  const kind = isIP(ip);
  if (kind === 4) return ip;
  if (kind === 6 && !ip.includes('%')) {
    return unmapIPv4(ip.toLowerCase());
  }
  return safe(ip);
}

/** failureLine formats a failure event. */
export function failureLine(at: Date, ip: string, reason: string, user: string | null | undefined, tenant: string | null | undefined): string {
  return `${at.toISOString()} provisiond[security]: failure ip=${addressField(ip)} reason=${safe(reason)} user=${safe(user)} tenant=${safe(tenant)}`;
}

/**
 * PhoneEvent is a SIP phone event (wazo-provd's two kinds of fail2ban lines, sensitive file and
 * auto-created device, plus a refused or withheld sensitive file and a MAC conflict).
 */
export type PhoneEvent = 'sensitive-served' | 'sensitive-refused' | 'secrets-withheld' | 'device-created' | 'mac-conflict';

/**
 * phoneLine formats a phone event as a failure line (`reason=phone-<event>`, the MAC in `user=`),
 * so the fail2ban filter counts MAC guesses from one source like any other failure.
 */
export function phoneLine(at: Date, ip: string, event: PhoneEvent, mac: string | null | undefined, tenant: string | null | undefined): string {
  return failureLine(at, ip, `phone-${event}`, mac, tenant);
}

/** banLine formats a ban event (an ip-scope subject is an address too). */
export function banLine(at: Date, ip: string, scope: 'ip' | 'user', subject: string, until: Date): string {
  const subj = scope === 'ip' ? addressField(subject) : safe(subject);
  return `${at.toISOString()} provisiond[security]: ban ip=${addressField(ip)} scope=${scope} subject=${subj} until=${until.toISOString()}`;
}

/** unbanLine formats the end of a ban before its time (`provisiond bans lift`); fail2ban's filter ignores it. */
export function unbanLine(at: Date, scope: 'ip' | 'user', subject: string, reason: string): string {
  const subj = scope === 'ip' ? addressField(subject) : safe(subject);
  return `${at.toISOString()} provisiond[security]: unban scope=${scope} subject=${subj} reason=${safe(reason)}`;
}

/** FileSinkOptions: what to do when a write fails, and the rotation check (tests shorten it). */
export interface FileSinkOptions {
  /** onWriteError: a line was lost; `first` is true for the first of an episode (log it once). */
  readonly onWriteError?: (err: unknown, first: boolean) => void;
  /** onRecovered: a write succeeded again after `lost` lines were lost. */
  readonly onRecovered?: (lost: number) => void;
  /** onReopenError: the path was rotated away but cannot be opened again (lines go to the old file). */
  readonly onReopenError?: (err: unknown) => void;
  /** checkMs: at most this often a write checks that the path still names the open file (1000). */
  readonly checkMs?: number;
  readonly now?: () => number;
}

/** FileSink appends lines to a file, following log rotation; see the file comment. */
export class FileSink implements EventSink {
  private fd: number;
  private ino = 0;
  private dev = 0;
  private open = true;
  private lastCheck: number;
  private lost = 0;
  private reopenFailing = false;
  private readonly now: () => number;
  /** writeErrors counts the lines lost because a write failed. */
  writeErrors = 0;

  constructor(
    readonly path: string,
    private readonly opts: FileSinkOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.fd = this.openPath();
    this.lastCheck = this.now();
  }

  /** openPath opens the path for appending (created 0600, its directory 0700) and notes its inode. */
  private openPath(): number {
    let fd: number;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      fd = openSync(this.path, 'a', 0o600);
    } catch (err) {
      throw new ProvError('PROVD_ERR_EVENT_LOG', `cannot open the security event log ${this.path} (http.eventLog) for appending: ${errorMessage(err)}`, { cause: err });
    }
    const st = fstatSync(fd);
    this.ino = st.ino;
    this.dev = st.dev;
    return fd;
  }

  write(line: string): void {
    if (!this.open) return;
    this.followRotation();
    try {
      writeSync(this.fd, `${line}\n`);
    } catch (err) {
      this.writeErrors++;
      this.lost++;
      this.opts.onWriteError?.(err, this.lost === 1);
      return;
    }
    if (this.lost > 0) {
      const lost = this.lost;
      this.lost = 0;
      this.opts.onRecovered?.(lost);
    }
  }

  /** reopen opens the path again and closes the previous descriptor; on failure the old one stays. */
  reopen(): void {
    if (!this.open) return;
    const old = this.fd;
    this.fd = this.openPath();
    this.lastCheck = this.now();
    this.reopenFailing = false;
    if (old !== this.fd) closeSync(old);
  }

  /** followRotation reopens the path when it no longer names the open file (cheap: once per checkMs). */
  private followRotation(): void {
    const t = this.now();
    if (t - this.lastCheck < (this.opts.checkMs ?? 1000)) return;
    this.lastCheck = t;
    let same = false;
    try {
      const st = statSync(this.path);
      same = st.ino === this.ino && st.dev === this.dev;
    } catch {
      same = false; // deleted or moved away
    }
    if (same) return;
    try {
      this.reopen();
    } catch (err) {
      if (!this.reopenFailing) this.opts.onReopenError?.(err);
      this.reopenFailing = true;
    }
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
  }
}

/** fileSink appends lines to `path` (created 0600, its directory 0700 when missing); throws PROVD_ERR_EVENT_LOG. */
export function fileSink(path: string, opts: FileSinkOptions = {}): FileSink {
  return new FileSink(path, opts);
}

/** memorySink keeps lines in memory (tests). */
export function memorySink(): EventSink & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (l) => lines.push(l), close: () => undefined };
}

/** OpenEventLog is a face's security event log and the path it was opened at. */
export interface OpenEventLog {
  readonly sink: EventSink;
  readonly path: string;
}

/** EventLogHooks are how a face counts and logs its event log's trouble. */
export interface EventLogHooks {
  /** face names the face in the lines (the HTTP and TFTP faces each write the file). */
  readonly face: string;
  readonly log: {
    error(fields: Record<string, unknown>, msg: string): void;
    warn(fields: Record<string, unknown>, msg: string): void;
    info(fields: Record<string, unknown>, msg: string): void;
  };
  count(name: string): void;
}

/**
 * eventLogFor returns the security event log a configuration names. With the path unchanged it
 * is the open one, reopened (a reload is logrotate's postrotate; a failed reopen keeps the file
 * already open, and says so). Otherwise the file at the new path is opened — which throws
 * PROVD_ERR_EVENT_LOG, refusing the start or the reload — and the old one closed. A write
 * failure is counted (`event-log-write-errors`) and logged once per episode.
 */
export function eventLogFor(current: OpenEventLog | undefined, path: string, hooks: EventLogHooks): OpenEventLog {
  const { log, face } = hooks;
  if (current?.path === path) {
    try {
      current.sink.reopen?.();
    } catch (err) {
      log.warn({ code: 'PROVD_ERR_EVENT_LOG', path, face, err: errorMessage(err) }, 'security event log not reopened: lines keep going to the file already open');
    }
    return current;
  }
  const sink = fileSink(path, {
    onWriteError: (err, first) => {
      hooks.count('event-log-write-errors');
      if (first) {
        log.error(
          { code: 'PROVD_ERR_EVENT_LOG', path, face, err: errorMessage(err) },
          'security event log cannot be written: failures are still counted and banned, their lines are lost (counted as event-log-write-errors; one line until it is writable again)',
        );
      }
    },
    onRecovered: (lost) => log.info({ path, face, lost }, 'security event log writable again'),
    onReopenError: (err) => log.warn({ code: 'PROVD_ERR_EVENT_LOG', path, face, err: errorMessage(err) }, 'security event log was moved away but cannot be created again: lines keep going to the moved file'),
  });
  current?.sink.close();
  return { sink, path };
}
