/**
 * phones-timezones.test.ts: the timezone table of src/phones/timezones.ts: the POSIX strings and
 * each vendor's form for chosen zones (table), unknown zones and forms, byte stability, and a
 * cross-check of every row against the ICU data of the Node running the tests (the module
 * itself never reads the host's tzdata): the offsets in January and July, and the offset a
 * minute before and after each 2026 transition the table derives.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { posixTz, timezoneParams, tzFilter, TIMEZONE_FORMS, TZDATA_CHANGED, ZONES, type Transition, type Zone } from '../src/phones/timezones';
import { PHONE_FILTERS } from '../src/phones/filters';

describe('timezones: POSIX strings', () => {
  const table: readonly (readonly [string, string])[] = [
    ['UTC', 'UTC0'],
    ['Europe/London', 'GMT0BST,M3.5.0/1,M10.5.0'],
    ['Europe/Paris', 'CET-1CEST,M3.5.0,M10.5.0/3'],
    ['Europe/Helsinki', 'EET-2EEST,M3.5.0/3,M10.5.0/4'],
    ['Europe/Moscow', 'MSK-3'],
    ['Europe/Istanbul', '<+03>-3'],
    ['America/New_York', 'EST5EDT,M3.2.0,M11.1.0'],
    ['America/St_Johns', 'NST3:30NDT,M3.2.0,M11.1.0'],
    ['America/Sao_Paulo', '<-03>3'],
    ['Asia/Kolkata', 'IST-5:30'],
    ['Asia/Kathmandu', '<+0545>-5:45'],
    ['Australia/Sydney', 'AEST-10AEDT,M10.1.0,M4.1.0/3'],
    ['Australia/Adelaide', 'ACST-9:30ACDT,M10.1.0,M4.1.0/3'],
    ['Australia/Brisbane', 'AEST-10'],
    ['America/Vancouver', 'MST7'],
    ['Pacific/Auckland', 'NZST-12NZDT,M9.5.0,M4.1.0/3'],
  ];
  for (const [zone, want] of table) {
    test(`${zone} → ${want}`, () => {
      const z = ZONES.get(zone);
      assert.ok(z);
      assert.equal(posixTz(z), want);
      assert.deepEqual(timezoneParams(zone, 'posix'), { posix: want });
      assert.deepEqual(timezoneParams(zone, 'grandstream'), { P64: want });
    });
  }
  test('every row has a POSIX string of the expected shape', () => {
    const shape = /^(?:[A-Za-z]{3,}|<[+-][0-9]{2,4}>)-?[0-9]{1,2}(?::[0-9]{2})?(?:(?:[A-Za-z]{3,}|<[+-][0-9]{2,4}>),M[0-9]{1,2}\.[1-5]\.[0-6](?:\/[0-9]{1,2})?,M[0-9]{1,2}\.[1-5]\.[0-6](?:\/[0-9]{1,2})?)?$/;
    assert.ok(ZONES.size >= 50);
    for (const z of ZONES.values()) assert.match(posixTz(z), shape, z.name);
  });
});

describe('timezones: vendor forms', () => {
  const table: readonly { readonly zone: string; readonly form: string; readonly want: Readonly<Record<string, string>> }[] = [
    { zone: 'America/St_Johns', form: 'yealink', want: { 'local_time.time_zone': '-3:30', 'local_time.summer_time': '1', 'local_time.dst_time_type': '1', 'local_time.start_time': '3/2/0/2', 'local_time.end_time': '11/1/0/2', 'local_time.offset_time': '60' } },
    { zone: 'Asia/Kolkata', form: 'yealink', want: { 'local_time.time_zone': '+5:30', 'local_time.summer_time': '0' } },
    { zone: 'Asia/Kolkata', form: 'cisco-spa', want: { Time_Zone: 'GMT+05:30', Daylight_Saving_Time_Enable: 'No' } },
    { zone: 'America/New_York', form: 'cisco-spa', want: { Time_Zone: 'GMT-05:00', Daylight_Saving_Time_Enable: 'Yes', Daylight_Saving_Time_Rule: 'start=3/8/7/2;end=11/1/7/2;save=1' } },
    { zone: 'America/St_Johns', form: 'cisco-spa', want: { Time_Zone: 'GMT-03:30', Daylight_Saving_Time_Enable: 'Yes', Daylight_Saving_Time_Rule: 'start=3/8/7/2;end=11/1/7/2;save=1' } },
    { zone: 'Pacific/Auckland', form: 'cisco-spa', want: { Time_Zone: 'GMT+12:00', Daylight_Saving_Time_Enable: 'Yes', Daylight_Saving_Time_Rule: 'start=9/-1/7/2;end=4/1/7/3;save=1' } },
    {
      zone: 'America/New_York',
      form: 'polycom',
      want: {
        'tcpIpApp.sntp.gmtOffset': '-18000',
        'tcpIpApp.sntp.daylightSavings.enable': '1',
        'tcpIpApp.sntp.daylightSavings.fixedDayEnable': '0',
        'tcpIpApp.sntp.daylightSavings.start.month': '3',
        'tcpIpApp.sntp.daylightSavings.start.date': '8',
        'tcpIpApp.sntp.daylightSavings.start.dayOfWeek': '1',
        'tcpIpApp.sntp.daylightSavings.start.dayOfWeek.lastInMonth': '0',
        'tcpIpApp.sntp.daylightSavings.start.time': '2',
        'tcpIpApp.sntp.daylightSavings.stop.month': '11',
        'tcpIpApp.sntp.daylightSavings.stop.date': '1',
        'tcpIpApp.sntp.daylightSavings.stop.dayOfWeek': '1',
        'tcpIpApp.sntp.daylightSavings.stop.dayOfWeek.lastInMonth': '0',
        'tcpIpApp.sntp.daylightSavings.stop.time': '2',
      },
    },
    { zone: 'Asia/Tokyo', form: 'polycom', want: { 'tcpIpApp.sntp.gmtOffset': '32400', 'tcpIpApp.sntp.daylightSavings.enable': '0' } },
    { zone: 'Europe/London', form: 'snom', want: { timezone: 'GBR-0' } },
    { zone: 'America/Los_Angeles', form: 'snom', want: { timezone: 'USA-8' } },
    { zone: 'Asia/Tokyo', form: 'snom', want: {} },
    { zone: 'UTC', form: 'fanvil', want: { posix: 'UTC0' } },
    { zone: 'Europe/Berlin', form: 'gigaset', want: { posix: 'CET-1CEST,M3.5.0,M10.5.0/3' } },
  ];
  for (const row of table) {
    test(`${row.form} ${row.zone}`, () => {
      assert.deepEqual(timezoneParams(row.zone, row.form), row.want);
    });
  }

  test('a zone outside the table, or not a text, gives no parameter in every form', () => {
    for (const form of TIMEZONE_FORMS) {
      for (const zone of ['Mars/Olympus_Mons', 'europe/paris', '', 'Europe/Paris ', undefined, null, 1, { name: 'UTC' }]) assert.deepEqual(timezoneParams(zone, form), {}, `${form} ${String(zone)}`);
    }
  });

  test('an unknown form is refused with the list of forms', () => {
    assert.throws(() => timezoneParams('UTC', 'nokia'), /unknown timezone form "nokia" \(one of cisco-spa, fanvil, gigaset, grandstream, polycom, posix, snom, yealink\)/);
    assert.throws(() => tzFilter('UTC', undefined), /unknown timezone form/);
  });

  test('every form of every zone gives texts, the same twice, and the phones filter is tz', () => {
    for (const z of ZONES.values()) {
      for (const form of TIMEZONE_FORMS) {
        const a = timezoneParams(z.name, form);
        for (const v of Object.values(a)) assert.equal(typeof v, 'string');
        assert.equal(JSON.stringify(timezoneParams(z.name, form)), JSON.stringify(a));
      }
    }
    assert.deepEqual(Object.keys(PHONE_FILTERS), ['tz']);
    assert.deepEqual(PHONE_FILTERS['tz']?.('Asia/Tokyo', 'grandstream'), { P64: 'JST-9' });
  });
});

/** icuOffset is the host ICU's UTC offset of `zone` at `ms`, in minutes east. */
function icuOffset(zone: string, ms: number): number {
  const text = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const m = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(text);
  assert.ok(m, `${zone}: ICU offset ${text}`);
  if (m[1] === undefined) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

/** dayOf is the day of month of a transition in `year` (week 5: the last such weekday). */
function dayOf(year: number, r: Transition): number {
  const first = new Date(Date.UTC(year, r.month - 1, 1)).getUTCDay();
  let day = 1 + ((r.weekday - first + 7) % 7) + (r.week - 1) * 7;
  const days = new Date(Date.UTC(year, r.month, 0)).getUTCDate();
  while (day > days) day -= 7;
  return day;
}

describe('timezones: the table agrees with the ICU data of this Node (a test-only check)', () => {
  // 2027: the first whole year under the rules the table follows (British Columbia's change took
  // effect in November 2026). A zone changed by a tz release newer than this Node's is skipped.
  const year = 2027;
  const hostTz = process.versions.tz ?? '';
  for (const z of ZONES.values()) {
    const since = TZDATA_CHANGED.get(z.name);
    const old = since !== undefined && !(hostTz >= since);
    test(z.name, { skip: old ? `this Node's tz data (${hostTz || 'unknown'}) predates ${since}, which changed ${z.name}` : false }, () => {
      const northern = (zone: Zone): boolean => zone.dst === undefined || zone.dst.start.month < zone.dst.end.month;
      const jan = Date.UTC(year, 0, 15);
      const jul = Date.UTC(year, 6, 15);
      const summer = z.offset + (z.dst === undefined ? 0 : 60);
      assert.equal(icuOffset(z.name, jan), northern(z) ? z.offset : summer, 'January');
      assert.equal(icuOffset(z.name, jul), northern(z) ? summer : z.offset, 'July');
      if (z.dst === undefined) return;
      for (const [r, before, after] of [[z.dst.start, z.offset, summer], [z.dst.end, summer, z.offset]] as const) {
        const at = Date.UTC(year, r.month - 1, dayOf(year, r), r.hour) - before * 60_000;
        assert.equal(icuOffset(z.name, at - 60_000), before, `a minute before ${JSON.stringify(r)}`);
        assert.equal(icuOffset(z.name, at + 60_000), after, `a minute after ${JSON.stringify(r)}`);
      }
    });
  }
});
