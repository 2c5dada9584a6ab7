import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Episode } from '../src/episode';

test('an episode starts once, ends after quietMs without an event, and counts its events', () => {
  let now = 0;
  const e = new Episode(5000, () => now);
  assert.equal(e.active, false);
  assert.equal(e.check(), undefined);
  assert.equal(e.hit(), true, 'the first event starts it');
  now = 1000;
  assert.equal(e.hit(), false);
  now = 5999;
  assert.equal(e.hit(), false, 'events keep it going');
  now = 10_998;
  assert.equal(e.check(), undefined, 'not yet quiet for 5 s');
  now = 10_999;
  assert.deepEqual(e.check(), { events: 3, ms: 5999 });
  assert.equal(e.active, false);
  assert.equal(e.hit(), true, 'the next event starts a new episode');
});
