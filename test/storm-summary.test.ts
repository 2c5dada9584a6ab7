/**
 * storm-summary.test.ts: the storm bench's measurement code (bench/storm/summary.ts), no
 * sockets and no timings: percentiles over all clients with failures counted at their timeout,
 * and the check that a client received its own user's document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, summarize, okOnly, formatMs, checkDocument, checkEntries, userValue, USER_PROPERTY, type StageSamples } from '../bench/storm/summary';

const times = (count: number, ms: number): number[] => Array.from({ length: count }, () => ms);

test('percentile is nearest-rank over ascending values', () => {
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const rows: [readonly number[], number, number][] = [
    [ten, 50, 5],
    [ten, 90, 9],
    [ten, 99, 10],
    [ten, 100, 10],
    [ten, 0, 1],
    [[7], 99, 7],
    [Array.from({ length: 100 }, (_, i) => i + 1), 99, 99],
  ];
  for (const [xs, p, want] of rows) assert.equal(percentile(xs, p), want, `p${p} of ${xs.length} values`);
  assert.ok(Number.isNaN(percentile([], 50)), 'no values: NaN');
});

test('summarize: failures count at their timeout and move the percentiles', () => {
  const T = 10_000;
  const rows: { name: string; s: StageSamples; want: { n: number; failed: number; p50: number; p90: number; p99: number; max: number } }[] = [
    { name: 'all ok', s: { ok: times(100, 10), failed: [] }, want: { n: 100, failed: 0, p50: 10, p90: 10, p99: 10, max: 10 } },
    // A 429 comes back in 50 ms, but the client is not provisioned: it counts as T, not 50 ms.
    { name: '2 fast 429s in 100', s: { ok: times(98, 10), failed: [50, 50] }, want: { n: 100, failed: 2, p50: 10, p90: 10, p99: T, max: T } },
    { name: '1 failure in 100 shows in the max only', s: { ok: times(99, 10), failed: [3] }, want: { n: 100, failed: 1, p50: 10, p90: 10, p99: 10, max: T } },
    { name: '11 failures in 100 reach p90', s: { ok: times(89, 10), failed: times(11, 1) }, want: { n: 100, failed: 11, p50: 10, p90: T, p99: T, max: T } },
    { name: 'half failed reaches p50', s: { ok: times(49, 10), failed: times(51, 20) }, want: { n: 100, failed: 51, p50: T, p90: T, p99: T, max: T } },
    { name: 'a failure slower than the timeout counts at its own time', s: { ok: times(9, 10), failed: [12_345] }, want: { n: 10, failed: 1, p50: 10, p90: 10, p99: 12_345, max: 12_345 } },
    { name: 'all failed', s: { ok: [], failed: [1, 2] }, want: { n: 2, failed: 2, p50: T, p90: T, p99: T, max: T } },
  ];
  for (const r of rows) {
    const got = summarize(r.s, T);
    assert.deepEqual({ n: got.n, failed: got.failed, p50: got.p50, p90: got.p90, p99: got.p99, max: got.max }, r.want, r.name);
    assert.equal(got.timeoutMs, T);
  }
  // The old report (successes only) hides the same 2 % of failures entirely.
  assert.deepEqual(okOnly({ ok: times(98, 10), failed: [50, 50] }), { p50: 10, p99: 10 });
  const none = summarize({ ok: [], failed: [] }, T);
  assert.equal(none.n, 0);
  assert.ok(Number.isNaN(none.p99), 'no clients: NaN, printed as -');
  assert.equal(formatMs(none.p99), '-');
});

test('summarize rounds to 0.1 ms and does not reorder its input', () => {
  const s: StageSamples = { ok: [3.04, 1.26, 2.55], failed: [] };
  assert.deepEqual([summarize(s, 1).p50, summarize(s, 1).max], [2.6, 3]);
  assert.deepEqual(s.ok, [3.04, 1.26, 2.55]);
});

test('formatMs prints ms below a second, seconds above', () => {
  assert.equal(formatMs(0.44), '0.4 ms');
  assert.equal(formatMs(999.9), '999.9 ms');
  assert.equal(formatMs(1000), '1.0 s');
  assert.equal(formatMs(20_000), '20.0 s');
});

test('checkDocument: only the client’s own user’s document passes', () => {
  const doc = (lines: string[]): Buffer => Buffer.from(`${lines.join('\n')}\n`, 'latin1');
  const own = `${USER_PROPERTY}=${userValue('u7')}`;
  const rows: [string, Buffer, string, ReturnType<typeof checkDocument>][] = [
    ['own document', doc(['net.java.sip.communicator.impl.protocol.sip.acc1=acc1', own]), 'u7', 'ok'],
    ['another user’s document', doc([own]), 'u8', 'wrong-user'],
    ['a user whose name is a prefix', doc([`${USER_PROPERTY}=${userValue('u70')}`]), 'u7', 'wrong-user'],
    ['no property naming the user', doc(['net.java.sip.communicator.impl.protocol.sip.acc1=acc1']), 'u7', 'no-user-property'],
    ['an empty body', Buffer.alloc(0), 'u7', 'no-user-property'],
    ['a malformed \\u escape', doc([`${USER_PROPERTY}=\\u12`]), 'u7', 'parse'],
    ['repeated key: the last value wins, as in Java', doc([own, `${USER_PROPERTY}=${userValue('u9')}`]), 'u7', 'wrong-user'],
    ['a ":" separator with spaces, as Properties reads it', doc([`${USER_PROPERTY} : ${userValue('u7')}`]), 'u7', 'ok'],
  ];
  for (const [name, body, user, want] of rows) assert.equal(checkDocument(body, user), want, name);
  assert.equal(checkEntries([[USER_PROPERTY, userValue('u1')]], 'u1'), 'ok');
});
