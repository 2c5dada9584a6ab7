import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../src/limits/ratelimit';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('a source gets its burst, then the sustained rate', () => {
  const c = clock();
  const rl = new RateLimiter({ rate: 10, burst: 5 }, c.now);
  const verdicts = Array.from({ length: 8 }, () => rl.take('a'));
  assert.deepEqual(verdicts, ['allow', 'allow', 'allow', 'allow', 'allow', 'refuse-first', 'refuse', 'refuse']);
  c.advance(100); // one token back
  assert.equal(rl.take('a'), 'allow');
  assert.equal(rl.take('a'), 'refuse');
  assert.equal(rl.take('b'), 'allow', 'sources are independent');
});

test('a steady flood is reported once, however many tokens trickle back', () => {
  const c = clock();
  const rl = new RateLimiter({ rate: 20, burst: 40 }, c.now);
  let firsts = 0;
  let allowed = 0;
  for (let i = 0; i < 5000; i++) {
    // 1000 datagrams per second for 5 s
    const v = rl.take('flood');
    if (v === 'refuse-first') firsts++;
    if (v === 'allow') allowed++;
    c.advance(1);
  }
  assert.equal(firsts, 1);
  assert.ok(allowed >= 40 + 20 * 5 - 2 && allowed <= 40 + 20 * 5 + 1, `allowed ${allowed}`);
  c.advance(2000); // quiet long enough to refill the bucket: the next flood is a new episode
  for (let i = 0; i < 100; i++) if (rl.take('flood') === 'refuse-first') firsts++;
  assert.equal(firsts, 2);
});

test('rate 0 disables the limit', () => {
  const rl = new RateLimiter({ rate: 0, burst: 1 });
  assert.equal(rl.enabled, false);
  for (let i = 0; i < 1000; i++) assert.equal(rl.take('x'), 'allow');
  assert.equal(rl.size, 0);
});

test('the table stays bounded under many sources', () => {
  const c = clock();
  const rl = new RateLimiter({ rate: 1, burst: 1, maxKeys: 100 }, c.now);
  for (let i = 0; i < 10_000; i++) rl.take(`src-${i}`);
  assert.ok(rl.size <= 100, `size ${rl.size}`);
});

// Issue 10, defect 4: when the table filled, sweep() cleared every bucket, so a source being
// refused got a fresh burst as soon as enough other keys (e.g. random chaddrs) had been seen.
test('a full table evicts the least recently used bucket, never every bucket', () => {
  const c = clock();
  const rl = new RateLimiter({ rate: 1, burst: 2, maxKeys: 10 }, c.now);
  assert.deepEqual([rl.take('flood'), rl.take('flood'), rl.take('flood')], ['allow', 'allow', 'refuse-first']);
  for (let i = 0; i < 1000; i++) {
    c.advance(0.5); // 1000 new keys in 0.5 s: far less than the 1 s a token takes to come back
    rl.take(`random-${i}`);
    assert.equal(rl.take('flood'), 'refuse', `the flooding source got a token back after ${i + 1} new keys`);
    assert.ok(rl.size <= 10, `size ${rl.size}`);
  }
});

test('eviction drops the least recently used key first, and an evicted key starts afresh', () => {
  const c = clock();
  const rl = new RateLimiter({ rate: 1, burst: 1, maxKeys: 3 }, c.now);
  for (const k of ['a', 'b', 'c']) assert.equal(rl.take(k), 'allow');
  assert.equal(rl.take('a'), 'refuse-first'); // a is now the most recently used
  assert.equal(rl.take('d'), 'allow'); // table full: b (least recently used) goes
  assert.equal(rl.size, 3);
  assert.equal(rl.take('a'), 'refuse', 'a kept its empty bucket');
  assert.equal(rl.take('c'), 'refuse-first', 'c kept its empty bucket');
  assert.equal(rl.take('b'), 'allow', 'b was evicted and starts with a full bucket');
});
