import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../src/dhcp/ratelimit';

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
