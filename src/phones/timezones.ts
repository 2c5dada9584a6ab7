/**
 * timezones.ts: the per-vendor forms of wazo's `timezone` (an IANA name) for the shipped phone
 * templates, from a bounded table of common zones written here. No host tzdata and no clock:
 * the same name always gives the same bytes. A zone outside the table gives no parameters at
 * all (`{}`), so the template leaves them out and the phone keeps its own setting.
 *
 * Each zone has its standard offset and, when it observes summer time, its two transitions as
 * POSIX `Mm.w.d/time` rules (local time). Every vendor form is derived from these:
 *
 * | form | parameters |
 * |---|---|
 * | `posix` | `{ posix }`: `CET-1CEST,M3.5.0,M10.5.0/3` (the short form: summer time one hour ahead, 02:00 transitions left out) |
 * | `yealink` | `local_time.time_zone` (`+1`, `-3:30`), `local_time.summer_time`, and by week `local_time.dst_time_type`, `start_time`, `end_time` (`month/week/weekday/hour`, week 5 = last, 0 = Sunday), `offset_time` (minutes) |
 * | `polycom` | `tcpIpApp.sntp.gmtOffset` (seconds), `tcpIpApp.sntp.daylightSavings.*` (enable, fixedDayEnable, start/stop month, date, dayOfWeek 1 = Sunday, dayOfWeek.lastInMonth, time) |
 * | `snom` | `timezone`: Snom's zone code (`GBR-0`, `FRA+1`) for the zones where the table has one, else nothing |
 * | `grandstream` | `P64`: the POSIX string |
 * | `cisco-spa` | `Time_Zone` (`GMT+01:00`), `Daylight_Saving_Time_Enable`, `Daylight_Saving_Time_Rule` (`start=3/-1/7/2;end=10/-1/7/3;save=1`: day -1 = last, else on or after that day; weekday 7 = Sunday) |
 * | `fanvil`, `gigaset` | the POSIX string (their own zone lists are not in our references yet: unverified) |
 *
 * Facts still to check against the vendors' manuals are listed in src/phones/README.md.
 */

/** Transition is a POSIX `Mm.w.d/h` rule: month 1-12, week 1-5 (5 = last), weekday 0 = Sunday, local hour. */
export interface Transition {
  readonly month: number;
  readonly week: number;
  readonly weekday: number;
  readonly hour: number;
}

/** Zone is one table row: standard offset east of UTC in minutes, abbreviations, summer time. */
export interface Zone {
  readonly name: string;
  readonly offset: number;
  readonly std: string;
  readonly dst?: { readonly abbr: string; readonly start: Transition; readonly end: Transition };
  /** snom is Snom's zone code when we know it. */
  readonly snom?: string;
}

type Rule = 'EU' | 'US' | 'AU' | 'NZ';

const t = (month: number, week: number, hour: number): Transition => ({ month, week, weekday: 0, hour });

/** rule gives the transitions of a summer time rule for a standard offset (EU changes at 01:00 UTC). */
function rule(r: Rule, offset: number): { start: Transition; end: Transition } {
  switch (r) {
    case 'EU': {
      const h = 1 + offset / 60;
      return { start: t(3, 5, h), end: t(10, 5, h + 1) };
    }
    case 'US':
      return { start: t(3, 2, 2), end: t(11, 1, 2) };
    case 'AU':
      return { start: t(10, 1, 2), end: t(4, 1, 3) };
    case 'NZ':
      return { start: t(9, 5, 2), end: t(4, 1, 3) };
  }
}

/**
 * TZDATA is the IANA tz release the table follows; a zone whose rules changed in a release is in
 * TZDATA_CHANGED with that release (the tests compare each row with the host's ICU only when its
 * tz data is at least that recent).
 */
export const TZDATA = '2026c';
export const TZDATA_CHANGED: ReadonlyMap<string, string> = new Map([['America/Vancouver', '2026c']]);

/** Row: name, offset (minutes east), standard abbreviation, [summer abbreviation, rule], snom code. */
type Row = readonly [string, number, string, (readonly [string, Rule])?, string?];

const ROWS: readonly Row[] = [
  ['UTC', 0, 'UTC'],
  ['Etc/UTC', 0, 'UTC'],
  ['Europe/London', 0, 'GMT', ['BST', 'EU'], 'GBR-0'],
  ['Europe/Dublin', 0, 'GMT', ['IST', 'EU'], 'IRL-0'],
  ['Europe/Lisbon', 0, 'WET', ['WEST', 'EU'], 'POR-0'],
  ['Europe/Paris', 60, 'CET', ['CEST', 'EU'], 'FRA+1'],
  ['Europe/Berlin', 60, 'CET', ['CEST', 'EU'], 'GER+1'],
  ['Europe/Madrid', 60, 'CET', ['CEST', 'EU'], 'ESP+1'],
  ['Europe/Rome', 60, 'CET', ['CEST', 'EU'], 'ITA+1'],
  ['Europe/Amsterdam', 60, 'CET', ['CEST', 'EU'], 'NLD+1'],
  ['Europe/Brussels', 60, 'CET', ['CEST', 'EU'], 'BEL+1'],
  ['Europe/Luxembourg', 60, 'CET', ['CEST', 'EU']],
  ['Europe/Vienna', 60, 'CET', ['CEST', 'EU'], 'AUT+1'],
  ['Europe/Zurich', 60, 'CET', ['CEST', 'EU'], 'CHE+1'],
  ['Europe/Stockholm', 60, 'CET', ['CEST', 'EU'], 'SWE+1'],
  ['Europe/Oslo', 60, 'CET', ['CEST', 'EU'], 'NOR+1'],
  ['Europe/Copenhagen', 60, 'CET', ['CEST', 'EU'], 'DNK+1'],
  ['Europe/Warsaw', 60, 'CET', ['CEST', 'EU'], 'POL+1'],
  ['Europe/Prague', 60, 'CET', ['CEST', 'EU'], 'CZE+1'],
  ['Europe/Budapest', 60, 'CET', ['CEST', 'EU'], 'HUN+1'],
  ['Europe/Athens', 120, 'EET', ['EEST', 'EU'], 'GRC+2'],
  ['Europe/Helsinki', 120, 'EET', ['EEST', 'EU'], 'FIN+2'],
  ['Europe/Bucharest', 120, 'EET', ['EEST', 'EU'], 'ROU+2'],
  ['Europe/Sofia', 120, 'EET', ['EEST', 'EU']],
  ['Europe/Kyiv', 120, 'EET', ['EEST', 'EU']],
  ['Europe/Istanbul', 180, '+03'],
  ['Europe/Moscow', 180, 'MSK'],
  ['America/New_York', -300, 'EST', ['EDT', 'US'], 'USA-5'],
  ['America/Toronto', -300, 'EST', ['EDT', 'US'], 'CAN-5'],
  ['America/Chicago', -360, 'CST', ['CDT', 'US'], 'USA-6'],
  ['America/Denver', -420, 'MST', ['MDT', 'US'], 'USA-7'],
  ['America/Phoenix', -420, 'MST'],
  ['America/Los_Angeles', -480, 'PST', ['PDT', 'US'], 'USA-8'],
  // British Columbia stays on UTC-7 all year from 2026-11-01 (tzdata 2026c); snom has no code for it.
  ['America/Vancouver', -420, 'MST'],
  ['America/Anchorage', -540, 'AKST', ['AKDT', 'US']],
  ['America/Halifax', -240, 'AST', ['ADT', 'US']],
  ['America/St_Johns', -210, 'NST', ['NDT', 'US']],
  ['America/Mexico_City', -360, 'CST'],
  ['America/Bogota', -300, '-05'],
  ['America/Lima', -300, '-05'],
  ['America/Sao_Paulo', -180, '-03'],
  ['America/Argentina/Buenos_Aires', -180, '-03'],
  ['Asia/Dubai', 240, '+04'],
  ['Asia/Karachi', 300, 'PKT'],
  ['Asia/Kolkata', 330, 'IST'],
  ['Asia/Kathmandu', 345, '+0545'],
  ['Asia/Bangkok', 420, '+07'],
  ['Asia/Jakarta', 420, 'WIB'],
  ['Asia/Shanghai', 480, 'CST'],
  ['Asia/Hong_Kong', 480, 'HKT'],
  ['Asia/Singapore', 480, '+08'],
  ['Asia/Manila', 480, 'PST'],
  ['Asia/Tokyo', 540, 'JST'],
  ['Asia/Seoul', 540, 'KST'],
  ['Australia/Perth', 480, 'AWST'],
  ['Australia/Darwin', 570, 'ACST'],
  ['Australia/Adelaide', 570, 'ACST', ['ACDT', 'AU']],
  ['Australia/Brisbane', 600, 'AEST'],
  ['Australia/Sydney', 600, 'AEST', ['AEDT', 'AU'], 'AUS+10'],
  ['Australia/Melbourne', 600, 'AEST', ['AEDT', 'AU']],
  ['Australia/Hobart', 600, 'AEST', ['AEDT', 'AU']],
  ['Pacific/Auckland', 720, 'NZST', ['NZDT', 'NZ'], 'NZL+12'],
];

/** ZONES is the table, by IANA name. */
export const ZONES: ReadonlyMap<string, Zone> = new Map(
  ROWS.map(([name, offset, std, dst, snom]): [string, Zone] => {
    const zone: Zone = {
      name,
      offset,
      std,
      ...(dst === undefined ? {} : { dst: { abbr: dst[0], ...rule(dst[1], offset) } }),
      ...(snom === undefined ? {} : { snom }),
    };
    return [name, zone];
  }),
);

/** SUMMER_MINUTES is the summer time shift of every zone in the table. */
const SUMMER_MINUTES = 60;

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** hm writes minutes as `h` or `h:mm` (no sign). */
function hm(minutes: number): string {
  const m = Math.abs(minutes);
  return m % 60 === 0 ? String(m / 60) : `${Math.floor(m / 60)}:${pad2(m % 60)}`;
}

/** abbr quotes an abbreviation that is not only letters (`<+0545>`). */
const abbr = (a: string): string => (/^[A-Za-z]{3,}$/.test(a) ? a : `<${a}>`);

/** posixOffset is POSIX's sign convention: west of UTC is positive. */
const posixOffset = (east: number): string => `${east > 0 ? '-' : ''}${hm(east)}`;

/** posixRule writes a transition, leaving out POSIX's default time (`/2`). */
const posixRule = (r: Transition): string => `M${r.month}.${r.week}.${r.weekday}${r.hour === 2 ? '' : `/${r.hour}`}`;

/**
 * posixTz derives the POSIX TZ string of a zone in its short form (tzdata's own, which
 * Grandstream's P64 examples use too): `CET-1CEST,M3.5.0,M10.5.0/3`. The summer offset is left
 * out (POSIX's default: one hour more), and so is a transition time of 02:00.
 */
export function posixTz(z: Zone): string {
  const std = `${abbr(z.std)}${posixOffset(z.offset)}`;
  if (z.dst === undefined) return std;
  return `${std}${abbr(z.dst.abbr)},${posixRule(z.dst.start)},${posixRule(z.dst.end)}`;
}

/** signed writes an offset east of UTC as `+1`, `-5`, `+5:30`, `0`. */
function signed(east: number): string {
  return east === 0 ? '0' : `${east > 0 ? '+' : '-'}${hm(east)}`;
}

/** onOrAfter is the first day a `week` can fall on (Cisco, Polycom), -1 for the last. */
const onOrAfter = (r: Transition): number => (r.week === 5 ? -1 : (r.week - 1) * 7 + 1);

/** VendorParams are parameter name → value, for a template to write in its own syntax. */
export type VendorParams = Readonly<Record<string, string>>;

const FORMS = {
  posix: (z: Zone): VendorParams => ({ posix: posixTz(z) }),
  yealink(z: Zone): VendorParams {
    const out: Record<string, string> = { 'local_time.time_zone': signed(z.offset), 'local_time.summer_time': z.dst === undefined ? '0' : '1' };
    if (z.dst !== undefined) {
      const w = (r: Transition): string => `${r.month}/${r.week}/${r.weekday}/${r.hour}`;
      out['local_time.dst_time_type'] = '1';
      out['local_time.start_time'] = w(z.dst.start);
      out['local_time.end_time'] = w(z.dst.end);
      out['local_time.offset_time'] = String(SUMMER_MINUTES);
    }
    return out;
  },
  polycom(z: Zone): VendorParams {
    const p = 'tcpIpApp.sntp.';
    const out: Record<string, string> = { [`${p}gmtOffset`]: String(z.offset * 60), [`${p}daylightSavings.enable`]: z.dst === undefined ? '0' : '1' };
    if (z.dst !== undefined) {
      out[`${p}daylightSavings.fixedDayEnable`] = '0';
      for (const [k, r] of [['start', z.dst.start], ['stop', z.dst.end]] as const) {
        out[`${p}daylightSavings.${k}.month`] = String(r.month);
        out[`${p}daylightSavings.${k}.date`] = String(r.week === 5 ? 1 : onOrAfter(r));
        out[`${p}daylightSavings.${k}.dayOfWeek`] = String(r.weekday + 1);
        out[`${p}daylightSavings.${k}.dayOfWeek.lastInMonth`] = r.week === 5 ? '1' : '0';
        out[`${p}daylightSavings.${k}.time`] = String(r.hour);
      }
    }
    return out;
  },
  snom: (z: Zone): VendorParams => (z.snom === undefined ? {} : { timezone: z.snom }),
  grandstream: (z: Zone): VendorParams => ({ P64: posixTz(z) }),
  'cisco-spa'(z: Zone): VendorParams {
    const a = Math.abs(z.offset);
    const out: Record<string, string> = {
      Time_Zone: `GMT${z.offset < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`,
      Daylight_Saving_Time_Enable: z.dst === undefined ? 'No' : 'Yes',
    };
    if (z.dst !== undefined) {
      const c = (r: Transition): string => `${r.month}/${onOrAfter(r)}/${r.weekday === 0 ? 7 : r.weekday}/${r.hour}`;
      out['Daylight_Saving_Time_Rule'] = `start=${c(z.dst.start)};end=${c(z.dst.end)};save=${hm(SUMMER_MINUTES)}`;
    }
    return out;
  },
  fanvil: (z: Zone): VendorParams => ({ posix: posixTz(z) }),
  gigaset: (z: Zone): VendorParams => ({ posix: posixTz(z) }),
} as const satisfies Record<string, (z: Zone) => VendorParams>;

/** TimezoneForm names a vendor form of the table. */
export type TimezoneForm = keyof typeof FORMS;

/** TIMEZONE_FORMS lists the forms, sorted. */
export const TIMEZONE_FORMS: readonly TimezoneForm[] = (Object.keys(FORMS) as TimezoneForm[]).sort();

const isForm = (s: string): s is TimezoneForm => Object.prototype.hasOwnProperty.call(FORMS, s);

/**
 * timezoneParams gives the parameters of `form` for the IANA name `zone`: `{}` for a zone outside
 * the table (or not a string), so the phone keeps its own. An unknown form throws: it is a
 * template's typo, shown by `render`.
 */
export function timezoneParams(zone: unknown, form: string): VendorParams {
  if (!isForm(form)) throw new Error(`unknown timezone form ${JSON.stringify(form)} (one of ${TIMEZONE_FORMS.join(', ')})`);
  if (typeof zone !== 'string') return {};
  const z = ZONES.get(zone);
  return z === undefined ? {} : FORMS[form](z);
}

/**
 * tzFilter is the nunjucks filter `tz`: `{% for k, v in timezone | tz('yealink') | dictsort %}`
 * writes the vendor's parameters, nothing for a zone outside the table.
 */
export function tzFilter(zone: unknown, form: unknown): VendorParams {
  return timezoneParams(zone, typeof form === 'string' ? form : String(form));
}
