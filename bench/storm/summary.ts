/**
 * summary.ts (bench/storm): the pure parts of the storm's measurement, tested in
 * test/storm-summary.test.ts.
 *
 * - Percentiles are taken over EVERY client that entered a stage. A client that failed there
 *   (a timeout, a refused connection, a 429, a wrong user's document, the pass deadline) is
 *   counted at the stage's timeout, or at the time it really took when that is longer: it is
 *   never left out, so a storm that fails 2 % of its clients shows it in its p99.
 * - The document check: each client must receive its own user's document, recognised by the
 *   property the lab's template writes from the authenticated user (USER_PROPERTY).
 */
import { parseProperties } from '../../src/probe/properties';

/** StageSamples are one stage's times in ms: the clients that passed it and the ones that failed in it. */
export interface StageSamples {
  readonly ok: number[];
  readonly failed: number[];
}

/** Summary is one stage over all its clients, failures counted at the timeout. */
export interface Summary {
  /** n: clients that entered the stage (ok + failed). */
  readonly n: number;
  readonly failed: number;
  /** timeoutMs: the value a failure counts at (at least). */
  readonly timeoutMs: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** emptyStage is a StageSamples to fill. */
export function emptyStage(): StageSamples {
  return { ok: [], failed: [] };
}

/** mergeStage appends b's samples to a. */
export function mergeStage(a: StageSamples, b: StageSamples): void {
  for (const x of b.ok) a.ok.push(x);
  for (const x of b.failed) a.failed.push(x);
}

/**
 * percentile is the nearest-rank percentile of ascending `sorted`: the smallest value with at
 * least p % of the values at or below it (p = 100 gives the max). NaN for no values.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? NaN;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** summarize counts every failure at max(its own time, timeoutMs) and takes p50/p90/p99/max over all. */
export function summarize(s: StageSamples, timeoutMs: number): Summary {
  const all = [...s.ok, ...s.failed.map((x) => Math.max(x, timeoutMs))].sort((a, b) => a - b);
  return {
    n: all.length,
    failed: s.failed.length,
    timeoutMs,
    p50: round1(percentile(all, 50)),
    p90: round1(percentile(all, 90)),
    p99: round1(percentile(all, 99)),
    max: round1(percentile(all, 100)),
  };
}

/** okOnly is p50/p99 over the successes alone: what the bench reported before, kept for comparison only. */
export function okOnly(s: StageSamples): { readonly p50: number; readonly p99: number } {
  const ok = [...s.ok].sort((a, b) => a - b);
  return { p50: round1(percentile(ok, 50)), p99: round1(percentile(ok, 99)) };
}

/** formatMs prints a time for the Markdown row: ms below 1 s, else seconds with one decimal. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms < 1000 ? `${Math.round(ms * 10) / 10} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** USER_PROPERTY is the property of the lab's template that names the authenticated user. */
export const USER_PROPERTY = 'net.java.sip.communicator.impl.protocol.sip.acc1.USER_ID';
/** USER_TEMPLATE is its value in the lab's rule (rendered per request from the user who logged in). */
export const USER_TEMPLATE = '{{ user.name }}@sip.example.com';

/** userValue is what USER_PROPERTY must read for user `name` (USER_TEMPLATE rendered). */
export function userValue(name: string): string {
  return `${name}@sip.example.com`;
}

/** DocumentVerdict: ok, or why the client cannot use the document. */
export type DocumentVerdict = 'ok' | 'parse' | 'no-user-property' | 'wrong-user';

/**
 * checkEntries checks parsed properties belong to user `name`: 'wrong-user' when USER_PROPERTY
 * names anybody else (another client's document), 'no-user-property' when it is missing (a
 * document the client cannot tell apart). The last value of a repeated key wins, as in Java.
 */
export function checkEntries(entries: readonly (readonly [string, string])[], name: string): DocumentVerdict {
  let value: string | undefined;
  for (const [k, v] of entries) if (k === USER_PROPERTY) value = v;
  if (value === undefined) return 'no-user-property';
  return value === userValue(name) ? 'ok' : 'wrong-user';
}

/** checkDocument parses a reply as the client does (ISO-8859-1 Properties) and checks it with checkEntries. */
export function checkDocument(body: Buffer, name: string): DocumentVerdict {
  const p = parseProperties(body);
  return p.ok ? checkEntries(p.entries, name) : 'parse';
}
