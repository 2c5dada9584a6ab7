/**
 * log.ts: the daemon's logger: pino JSON lines on stdout, one child per face.
 *
 * Where stdout goes decides the line format (logFormat): the journal (systemd's JOURNAL_STREAM
 * names stdout's device:inode) gets each line prefixed with its syslog priority (`<3>` for
 * error…) and the message first, then the JSON object (`journalctl -p err` works and
 * `systemctl status` is readable); a terminal gets one human line; anything else (pipes, files)
 * gets the JSON lines unchanged.
 *
 * Secrets never reach a log line: the redact list below censors every field whose name says it
 * holds one, at any of the depths the daemon logs them.
 */
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino, { type Logger, type DestinationStream } from 'pino';
import { z } from 'zod';

export type { Logger };

/** logSchema is the `log` section of the configuration. */
export const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** LogLevel is one of pino's level names. */
export type LogLevel = z.output<typeof logSchema>['level'];

const SECRET_FIELDS = ['password', 'passwd', 'pass', 'passwordHash', 'hash', 'secret', 'key', 'urlKey', 'token', 'authorization', 'cookie'];

/** REDACT_PATHS are the pino redact paths: each secret field at the top level and two levels down. */
export const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

/** LogFormat is how lines are written: JSON, journal (syslog priority prefix), or human (a terminal). */
export type LogFormat = 'json' | 'journal' | 'human';

/**
 * logFormat decides the format for a file descriptor: 'journal' when $JOURNAL_STREAM is its
 * device:inode (systemd connected it to the journal), 'human' on a terminal, 'json' otherwise.
 */
export function logFormat(fd = 1, env: NodeJS.ProcessEnv = process.env): LogFormat {
  const js = env['JOURNAL_STREAM'];
  if (js !== undefined && js !== '') {
    try {
      const st = fstatSync(fd);
      if (js === `${st.dev}:${st.ino}`) return 'journal';
    } catch {
      // no such descriptor: not the journal
    }
  }
  return isatty(fd) ? 'human' : 'json';
}

/** SYSLOG maps pino's level labels to syslog priorities (fatal: crit, error: err, …, debug and trace: debug). */
const SYSLOG: Readonly<Record<string, number>> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** FIXED are the fields every line has: the human format leaves them out of its key=value tail. */
const FIXED = new Set(['level', 'time', 'pid', 'name', 'msg', 'face']);

/** parseLine reads one pino JSON line (undefined when it is not an object). */
function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** oneLine keeps a message on one line (the journal splits a record at a newline). */
const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/**
 * journalLine is `<P>msg {json}`: the syslog priority journald strips and records, the message
 * for `systemctl status`, then the whole JSON object (everything from the first `{` after
 * the message) for whoever parses the journal.
 */
export function journalLine(line: string): string {
  const body = line.endsWith('\n') ? line.slice(0, -1) : line;
  const o = parseLine(body);
  if (!o) return `<6>${body}\n`;
  const prio = SYSLOG[String(o['level'])] ?? 6;
  const msg = typeof o['msg'] === 'string' ? oneLine(o['msg']) : '';
  return `<${prio}>${msg === '' ? '' : `${msg} `}${body}\n`;
}

/** humanLine is one readable line for a terminal: time, level, [face], message, then key=value. */
export function humanLine(line: string): string {
  const body = line.endsWith('\n') ? line.slice(0, -1) : line;
  const o = parseLine(body);
  if (!o) return `${body}\n`;
  const time = typeof o['time'] === 'string' ? o['time'].slice(11, 23) : '';
  const level = String(o['level'] ?? '').toUpperCase().padEnd(5);
  const face = o['face'] !== undefined ? `[${String(o['face'])}] ` : '';
  const rest = Object.entries(o)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`);
  return `${time} ${level} ${face}${oneLine(String(o['msg'] ?? ''))}${rest.length > 0 ? ` ${rest.join(' ')}` : ''}\n`;
}

/** formatted writes each line through `f` to the synchronous stdout destination. */
function formatted(f: (line: string) => string): DestinationStream {
  const out = pino.destination({ dest: 1, sync: true });
  return { write: (line: string) => void out.write(f(line)) };
}

/** createLogger builds the root logger; tests pass their own destination to capture lines. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  if (destination === undefined) {
    const format = logFormat();
    if (format === 'journal') destination = formatted(journalLine);
    else if (format === 'human') destination = formatted(humanLine);
  }
  return pino(
    {
      name: 'provisiond',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
