/**
 * status-activity-log.test.ts: the status page's bounded memory of answered requests
 * (src/status/activity-log.ts), on an injected clock.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityBus, type Activity } from '../src/activity';
import { ActivityLog, WINDOW_MINUTES } from '../src/status/activity-log';

const MIN = 60_000;
/** T0 is the start of a minute. */
const T0 = 1_800_000_000 * 1000 - ((1_800_000_000 * 1000) % MIN);

function rec(over: Partial<Activity> & { at: number }): Activity {
  return { face: 'http', outcome: 'provisioned', ok: true, ...over };
}

describe('status activity log', () => {
  test('counts per minute by face and outcome, over a window of 60 minutes ending now', () => {
    let now = T0 + 30_000;
    const log = new ActivityLog({ now: () => now });
    const bus = new ActivityBus();
    const off = log.attach(bus);
    bus.emit(rec({ at: T0 + 1000 }));
    bus.emit(rec({ at: T0 + 2000 }));
    bus.emit(rec({ at: T0 + 3000, outcome: 'bad-credentials', ok: false, status: 401 }));
    bus.emit(rec({ at: T0 - MIN + 5, face: 'tftp', outcome: 'sent' }));
    let m = log.minutes();
    assert.equal(m.length, WINDOW_MINUTES);
    assert.equal(m[WINDOW_MINUTES - 1]?.minute, T0);
    assert.deepEqual(m[WINDOW_MINUTES - 1]?.counts, [
      { face: 'http', outcome: 'provisioned', ok: true, count: 2 },
      { face: 'http', outcome: 'bad-credentials', ok: false, count: 1 },
    ]);
    assert.deepEqual(m[WINDOW_MINUTES - 2]?.counts, [{ face: 'tftp', outcome: 'sent', ok: true, count: 1 }]);
    // An hour later the first minute has left the window; its slot is reused by the new minute.
    now = T0 + WINDOW_MINUTES * MIN + 10;
    bus.emit(rec({ at: now }));
    m = log.minutes();
    assert.equal(m[WINDOW_MINUTES - 1]?.minute, T0 + WINDOW_MINUTES * MIN);
    assert.deepEqual(m[WINDOW_MINUTES - 1]?.counts, [{ face: 'http', outcome: 'provisioned', ok: true, count: 1 }]);
    assert.equal(m.filter((x) => x.counts.length > 0).length, 1, 'the old minutes are gone');
    // A record older than the window is dropped (counted), one from the future counts now.
    bus.emit(rec({ at: T0 - 5 * MIN }));
    assert.equal(log.dropped, 1);
    bus.emit(rec({ at: now + 10 * MIN }));
    assert.equal(log.minutes()[WINDOW_MINUTES - 1]?.counts[0]?.count, 2);
    off();
    bus.emit(rec({ at: now }));
    assert.equal(log.recorded, 6);
  });

  test('keeps the latest failures, newest first, bounded; a tenant view sees only its own', () => {
    const now = T0;
    const log = new ActivityLog({ now: () => now, maxFailures: 5 });
    for (let i = 0; i < 12; i++) {
      log.record(rec({ at: now, ok: false, outcome: 'bad-credentials', status: 401, reason: `r${i}`, tenant: i % 2 === 0 ? 'a.example' : 'b.example', user: `u${i}@x`, ip: '10.0.0.1', device: `uuid:${i}` }));
    }
    log.record(rec({ at: now })); // a success is not a failure
    const all = log.failures();
    assert.deepEqual(all.map((f) => f.reason), ['r11', 'r10', 'r9', 'r8', 'r7']);
    assert.deepEqual(Object.keys(all[0] ?? {}).sort(), ['at', 'device', 'face', 'ip', 'outcome', 'reason', 'status', 'tenant', 'user']);
    assert.deepEqual(log.failures('a.example').map((f) => f.reason), ['r10', 'r8']);
    assert.deepEqual(log.failures(null, 2).map((f) => f.reason), ['r11', 'r10']);
    assert.deepEqual(log.failures('nobody.example'), []);
  });

  test('tenant views of the counts; a record with no tenant is for all-tenant views only', () => {
    const now = T0;
    const log = new ActivityLog({ now: () => now });
    log.record(rec({ at: now, tenant: 'a.example' }));
    log.record(rec({ at: now, tenant: 'b.example' }));
    log.record(rec({ at: now, tenant: 'b.example' }));
    log.record(rec({ at: now, face: 'dhcp', outcome: 'inform' }));
    const last = (v: string | null): unknown => log.minutes(v)[WINDOW_MINUTES - 1]?.counts;
    assert.deepEqual(last('a.example'), [{ face: 'http', outcome: 'provisioned', ok: true, count: 1 }]);
    assert.deepEqual(last('b.example'), [{ face: 'http', outcome: 'provisioned', ok: true, count: 2 }]);
    assert.deepEqual(last(null), [
      { face: 'http', outcome: 'provisioned', ok: true, count: 3 },
      { face: 'dhcp', outcome: 'inform', ok: true, count: 1 },
    ]);
  });

  test('a minute holds a bounded number of keys: beyond, counted without a tenant, then dropped; long fields are cut', () => {
    const now = T0;
    const log = new ActivityLog({ now: () => now, maxKeysPerMinute: 3 });
    log.record(rec({ at: now, tenant: 't1' }));
    log.record(rec({ at: now, tenant: 't2' }));
    log.record(rec({ at: now, tenant: 't3' })); // the third key: full now
    log.record(rec({ at: now, tenant: 't4' })); // no room for (http, provisioned, t4) nor (http, provisioned, —)
    assert.equal(log.dropped, 1);
    const log2 = new ActivityLog({ now: () => now, maxKeysPerMinute: 2 });
    log2.record(rec({ at: now })); // (http, provisioned, —)
    log2.record(rec({ at: now, tenant: 't1' }));
    for (let i = 0; i < 1000; i++) log2.record(rec({ at: now, tenant: `attacker-${i}` })); // counted without a tenant
    assert.equal(log2.dropped, 0);
    assert.equal(log2.minutes()[WINDOW_MINUTES - 1]?.counts[0]?.count, 1002);
    log2.record(rec({ at: now, ok: false, outcome: 'x'.repeat(5000), reason: 'y'.repeat(5000), user: 'z'.repeat(5000) }));
    const f = log2.failures()[0];
    assert.ok(f && f.outcome.length <= 201 && (f.reason ?? '').length <= 201 && (f.user ?? '').length <= 201);
    assert.equal(log2.dropped, 1, 'a new (face, outcome) in a full minute is dropped, counted');
  });
});
