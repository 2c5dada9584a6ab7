/**
 * store-sightings.test.ts: PhoneSightings (src/store/sightings.ts) buffers phone sightings and
 * writes them in batches: coalesced per phone (latest wins), kept and retried while another
 * process holds the lock (a real SQLite store locked by a second connection), bounded (a new
 * phone beyond the bound is dropped and counted), and flushed at close.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from '../src/store/driver';
import { openSqliteStore, STORE_FILE } from '../src/store/sqlite';
import { PhoneSightings } from '../src/store/sightings';
import { captureLog } from './helpers/log';

const TMP = mkdtempSync(join(tmpdir(), 'provd-sightings-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const A = '00:15:65:00:00:01';
const B = '00:15:65:00:00:02';

let n = 0;
function store(): ReturnType<typeof openSqliteStore> {
  const s = openSqliteStore(join(TMP, `s${n++}`), { busyTimeoutMs: 0 });
  s.phones.add({ mac: A, tenant: 't', profile: 'yealink', version: '1.0' });
  s.phones.add({ mac: B, tenant: 't', profile: 'yealink' });
  return s;
}

describe('PhoneSightings', () => {
  test('nothing is written per request; a flush writes the latest sighting of each phone in one go; a firmware change is recorded', () => {
    const s = store();
    const cap = captureLog('debug');
    const w = new PhoneSightings(s.phones, { log: cap.log, flushMs: 60_000 });
    w.record(A, { ip: '10.0.0.1', version: '1.0' });
    w.record(A, { ip: '10.0.0.2', version: '2.0' });
    w.record(B, { ip: '10.0.0.3' });
    w.record('00:15:65:99:99:99', { ip: '10.0.0.4' }); // not recorded in the store: skipped
    assert.equal(s.phones.get(A)?.ip, null, 'not written yet');
    assert.equal(w.size, 3);
    w.flush();
    assert.equal(w.size, 0);
    assert.equal(s.phones.get(A)?.ip, '10.0.0.2');
    assert.equal(s.phones.get(A)?.version, '2.0');
    assert.equal(s.phones.get(A)?.previousVersion, '1.0');
    assert.equal(s.phones.get(B)?.ip, '10.0.0.3');
    assert.equal(w.stats()['phone-sightings-written'], 2);
    w.close();
    s.close();
  });

  test('another process holds the lock: the sightings wait (counted, logged once), then are written', () => {
    const s = store();
    const cap = captureLog('debug');
    const w = new PhoneSightings(s.phones, { log: cap.log, flushMs: 60_000 });
    const other = new Database(join(TMP, `s${n - 1}`, STORE_FILE));
    other.exec('BEGIN IMMEDIATE');
    w.record(A, { ip: '10.0.0.9' });
    w.flush();
    w.flush();
    assert.equal(w.size, 1, 'kept while locked');
    assert.equal(w.stats()['store-busy:phone-observe'], 2);
    assert.equal(cap.lines.filter((l) => String(l['msg']).startsWith('phone sightings wait')).length, 1);
    other.exec('COMMIT');
    other.close();
    w.flush();
    assert.equal(w.size, 0);
    assert.equal(s.phones.get(A)?.ip, '10.0.0.9');
    assert.ok(cap.lines.some((l) => l['msg'] === 'phone sightings written again'));
    w.close();
    s.close();
  });

  test('bounded: beyond the bound a new phone is dropped and counted, a buffered one still updated', () => {
    const s = store();
    const cap = captureLog('debug');
    const w = new PhoneSightings(s.phones, { log: cap.log, max: 1, flushMs: 60_000 });
    w.record(A, { ip: '10.0.0.1' });
    w.record(B, { ip: '10.0.0.2' });
    w.record(A, { ip: '10.0.0.5' });
    assert.equal(w.stats()['phone-sightings-dropped:buffer-full'], 1);
    w.close();
    assert.equal(s.phones.get(A)?.ip, '10.0.0.5', 'close flushes');
    assert.equal(s.phones.get(B)?.ip, null);
    s.close();
  });
});
