/**
 * log.ts (test helper): a logger whose JSON lines are captured in memory.
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log';

/**
 * KNOWN_SECRETS are the distinctive passwords, keys and secrets the test suite sends (plain and
 * form-encoded). Issue 5: no secret may appear in any captured log line of the whole suite, so
 * every line captured here is checked when the test process exits; a leak fails the file.
 */
export const KNOWN_SECRETS: string[] = [
  'p@ss w0rd!',
  'p%40ss+w0rd%21',
  'bob pw=#!',
  'Sup3r-Secret-Pw',
  'AAAAaaaaBBBBbbbbCCCCccccDDDDdddd',
  'ZZZZzzzzYYYYyyyyXXXXxxxxWWWWwwww',
  's3cret-s3cret-s3cret',
  'hunter2',
];
const captured: string[][] = [];
process.on('exit', () => {
  const leaks: string[] = [];
  for (const raw of captured) {
    for (const line of raw.join('').split('\n')) {
      const hit = KNOWN_SECRETS.find((s) => line.includes(s));
      if (hit !== undefined) leaks.push(`${hit} in ${line.slice(0, 300)}`);
    }
  }
  if (leaks.length > 0) {
    process.stderr.write(`secret leaked into a captured log line:\n${leaks.slice(0, 5).join('\n')}\n`);
    process.exitCode = 1;
  }
});

/** CapturedLog is a logger plus the parsed lines it wrote. */
export interface CapturedLog {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
  readonly text: () => string;
}

/** captureLog returns a debug-level logger that records every line. */
export function captureLog(level: 'debug' | 'info' | 'trace' = 'debug'): CapturedLog {
  const raw: string[] = [];
  captured.push(raw);
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = createLogger(level, sink);
  return {
    log,
    get lines() {
      return raw.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}
