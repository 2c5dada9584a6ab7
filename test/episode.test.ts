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

test('watch reports the summary once the episode has been quiet, and stop cancels it', async () => {
  // The episode's clock is ours (quiet is judged on it), so a slow host cannot end it early;
  // real timers only drive watch()'s checks.
  let now = 0;
  const e = new Episode(20, () => now);
  const ended: { events: number }[] = [];
  assert.equal(e.hit(), true);
  e.watch((s) => ended.push(s));
  e.hit();
  await new Promise((r) => setTimeout(r, 80)); // several checks pass: no time went by on the episode's clock
  now = 10;
  e.hit(); // events: 3
  assert.equal(ended.length, 0);
  now = 15;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(ended.length, 0, 'not quiet long enough yet (5 of 20 ms)');
  now = 40;
  for (let i = 0; i < 100 && ended.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(ended.length, 1, 'reported once');
  assert.equal(ended[0]?.events, 3);
  assert.equal(e.active, false);

  const f = new Episode(20);
  const late: unknown[] = [];
  f.hit();
  f.watch((s) => late.push(s));
  f.stop();
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(late.length, 0, 'a stopped watch reports nothing');
});
