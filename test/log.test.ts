import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLog } from './helpers/log';

test('secret-named fields are redacted at every depth the daemon logs', () => {
  const cap = captureLog('info');
  cap.log.info({ password: 'hunter2', user: { name: 'alice', password: 'hunter2', key: 'k-123' }, req: { headers: { authorization: 'Basic aGk=' } } }, 'x');
  cap.log.child({ face: 'http' }).warn({ secret: 's3cr3t', token: 'tok' }, 'y');
  const text = cap.text();
  for (const s of ['hunter2', 'k-123', 'aGk=', 's3cr3t', '"tok"']) assert.ok(!text.includes(s), `'${s}' leaked: ${text}`);
  assert.match(text, /\[redacted\]/);
  assert.equal(cap.lines[1]?.['face'], 'http');
});

test('lines are single JSON objects with level names and ISO times (journald-friendly)', () => {
  const cap = captureLog('info');
  cap.log.info('hello');
  const [line] = cap.lines;
  assert.equal(line?.['level'], 'info');
  assert.match(String(line?.['time']), /^\d{4}-\d\d-\d\dT/);
  assert.equal(line?.['name'], 'provisiond');
});
