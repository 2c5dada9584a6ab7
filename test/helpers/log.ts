/**
 * log.ts (test helper): a logger whose JSON lines are captured in memory.
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log';

/** CapturedLog is a logger plus the parsed lines it wrote. */
export interface CapturedLog {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
  readonly text: () => string;
}

/** captureLog returns a debug-level logger that records every line. */
export function captureLog(level: 'debug' | 'info' | 'trace' = 'debug'): CapturedLog {
  const raw: string[] = [];
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
