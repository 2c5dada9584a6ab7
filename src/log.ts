/**
 * log.ts: the daemon's logger: pino JSON lines on stdout (journald-friendly), one child per face.
 *
 * Secrets never reach a log line: the redact list below censors every field whose name says it
 * holds one, at any of the depths the daemon logs them.
 */
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

/** createLogger builds the root logger; tests pass their own destination to capture lines. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
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
