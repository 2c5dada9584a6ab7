/**
 * phones-golden.test.ts: the shipped vendor templates (phones/profiles/<vendor>/templates/)
 * rendered from one fixed fixture config and compared byte for byte with golden files.
 *
 * For every shipped vendor and at least one model each, the fixture (two SIP lines with
 * credentials, NTP, a timezone, a VLAN, syslog, passwords, a function key) is flattened with
 * src/phones/configs.ts (a child config over a site parent, then withDefaults) and each
 * per-device file of the profile, plus the common files we ship a template for, is rendered
 * through src/templates/lookup.ts (shipped templates, an empty custom directory) and compared
 * with test/golden/phones/<vendor>/<model>/<file> (common files: <vendor>/<file>).
 *
 * After a deliberate template change, rewrite the golden files and review the diff:
 *   npm run build && UPDATE_GOLDEN=1 node --test dist/test/phones-golden.test.js && git diff test/golden
 *
 * Also: the same config built with its keys in another order gives the same bytes; a custom
 * `<file>.tpl` in the custom directory wins over the shipped model template at the next render
 * (no reconfigure step); a SIP password appears only in files the profile marks sensitive; every
 * shipped template is used by at least one golden file.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flatten, withDefaults, type PhoneConfig, type RawMap, type RawValue } from '../src/phones/configs';
import { fileNameFor, type Profile } from '../src/phones/profile';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { commonTemplateFileFor, templateFileFor } from '../src/phones/files';
import { PHONE_FILTERS } from '../src/phones/filters';
import { createTemplateLookup, vendorRoots, type TemplateLookup } from '../src/templates/lookup';

const GOLDEN = join(__dirname, '..', '..', 'test', 'golden', 'phones');
const SHIPPED = shippedProfilesDir();
const loaded = loadProfiles(SHIPPED);
const CUSTOM = mkdtempSync(join(tmpdir(), 'provd-golden-'));
after(() => rmSync(CUSTOM, { recursive: true, force: true }));

const PASSWORDS = ['S3cret-line1', 'S3cret-line2'];

/** SITE is the parent config: what a site sets once for every phone. */
const SITE: RawMap = {
  ntp_enabled: true,
  ntp_ip: '192.0.2.123',
  timezone: 'Europe/Paris',
  vlan_enabled: true,
  vlan_id: 42,
  vlan_priority: 5,
  syslog_enabled: true,
  syslog_ip: '192.0.2.9',
  admin_username: 'admin',
  admin_password: 'Adm1n-pass',
  user_password: 'Us3r-pass',
  locale: 'fr_FR',
  sip_proxy_ip: '192.0.2.10',
  http_base_url: 'http://192.0.2.10:8667/k7Qd2fX9aB31',
  X_site: 'lab',
};

/** DEVICE is the device's own config: two lines and a function key. */
const DEVICE: RawMap = {
  sip_lines: {
    '1': { username: '1001', auth_username: 'auth1001', password: PASSWORDS[0] ?? '', display_name: "Anna O'Neil & Co", number: '1001', proxy_ip: '192.0.2.10', proxy_port: 5060 },
    '2': { username: '1002', password: PASSWORDS[1] ?? '', display_name: 'Bob <Desk>', number: '1002', proxy_ip: '192.0.2.11', proxy_port: 5070, outbound_proxy_ip: '192.0.2.12' },
  },
  funckeys: { '1': { type: 'blf', value: '1003', label: 'Carol', line: 1 } },
};

/** reversed copies a raw value with every map's keys inserted in reverse order. */
function reversed(v: RawValue): RawValue {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return (v as readonly RawValue[]).map(reversed);
  const src = v as RawMap;
  const out: Record<string, RawValue> = {};
  for (const k of Object.keys(src).reverse()) {
    const x = src[k];
    if (x !== undefined) out[k] = reversed(x);
  }
  return out;
}

/** fixture flattens the device config over the site config and fills wazo's defaults. */
function fixture(order: 'as-written' | 'reversed' = 'as-written'): RawMap {
  const map = (r: RawMap): RawMap => (order === 'reversed' ? (reversed(r) as RawMap) : r);
  const configs = new Map<string, PhoneConfig>([
    ['site', { id: 'site', parents: [], raw: map(SITE) }],
    ['dev', { id: 'dev', parents: ['site'], raw: map(DEVICE) }],
  ]);
  const r = flatten(configs, 'dev');
  assert.ok(r.ok, r.ok ? '' : r.problems.join('; '));
  return withDefaults(r.raw);
}

/** Case is one vendor and model with a MAC from the vendor's OUIs. */
interface Case {
  readonly vendor: string;
  readonly model: string;
  readonly mac: string;
}

const CASES: readonly Case[] = [
  { vendor: 'yealink', model: 'T46S', mac: '00:15:65:4a:a9:37' },
  { vendor: 'yealink', model: 'W60B', mac: '80:5e:c0:12:34:56' },
  { vendor: 'polycom', model: 'VVX400', mac: '00:04:f2:21:1c:8b' },
  { vendor: 'snom', model: '720', mac: '00:04:13:92:2d:24' },
  { vendor: 'grandstream', model: 'GXP2170', mac: '00:0b:82:86:5e:6a' },
  { vendor: 'grandstream', model: 'HT802', mac: 'c0:74:ad:11:22:33' },
  { vendor: 'cisco-spa', model: 'SPA504G', mac: '00:02:fd:ff:21:03' },
  { vendor: 'fanvil', model: 'X4', mac: '0c:38:3e:07:e1:6c' },
  { vendor: 'gigaset', model: 'N510 IP PRO', mac: '7c:2f:80:e0:d6:05' },
];

/** COMMON lists the common files a vendor ships a template for (y000000000066.cfg: the T46S's hardware id). */
const COMMON: Readonly<Record<string, readonly string[]>> = {
  yealink: ['y000000000000.boot', 'y000000000066.cfg'],
  polycom: ['000000000000.cfg'],
  'cisco-spa': ['spa508g.cfg', 'init.cfg'],
};

/** Rendered is one rendered file and where its golden copy lives. */
interface Rendered {
  readonly vendor: string;
  readonly golden: string;
  readonly file: string;
  readonly text: string;
  readonly sensitive: boolean;
  readonly used: readonly string[];
}

function profileOf(vendor: string): Profile {
  const p = loaded.profiles.get(vendor);
  assert.ok(p, `shipped profile ${vendor} is loaded`);
  return p;
}

function lookupOf(vendor: string, options: { recheckMs?: number } = {}): TemplateLookup {
  return createTemplateLookup(vendorRoots(CUSTOM, vendor, join(SHIPPED, vendor, 'templates')), undefined, { ...options, filters: PHONE_FILTERS });
}

/** renderAll renders every per-device file of each case and the shipped common files. */
function renderAll(raw: RawMap): Rendered[] {
  const out: Rendered[] = [];
  for (const c of CASES) {
    const profile = profileOf(c.vendor);
    const lookup = lookupOf(c.vendor);
    for (const pattern of profile.deviceFiles) {
      const file = fileNameFor(pattern, c.mac, c.model);
      if (file === undefined) continue;
      const r = lookup.render(templateFileFor(lookup, pattern, file), c.model, raw);
      out.push({ vendor: c.vendor, golden: join(c.vendor, c.model.replace(/[^A-Za-z0-9_.-]/g, '_'), file), file, text: r.text, sensitive: profile.sensitiveFiles.has(pattern.source), used: r.used });
    }
  }
  for (const vendor of Object.keys(COMMON).sort()) {
    const lookup = lookupOf(vendor);
    const profile = profileOf(vendor);
    for (const file of COMMON[vendor] ?? []) {
      const pattern = profile.commonFiles.find((p) => p.regex.test(file));
      assert.ok(pattern, `${vendor} ${file} is a common file of the profile`);
      const name = commonTemplateFileFor(lookup, pattern, file);
      assert.ok(name !== undefined, `${vendor} ${file} has a template`);
      const r = lookup.render(name, undefined, raw);
      out.push({ vendor, golden: join(vendor, file), file, text: r.text, sensitive: false, used: r.used });
    }
  }
  return out;
}

describe('shipped phone templates: golden files', () => {
  const rendered = renderAll(fixture());

  test('every shipped vendor has a case and a templates folder', () => {
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual([...new Set(CASES.map((c) => c.vendor))].sort(), [...loaded.profiles.keys()].sort());
    for (const vendor of loaded.profiles.keys()) assert.ok(existsSync(join(SHIPPED, vendor, 'templates', 'base.tpl')), `${vendor}/templates/base.tpl`);
  });

  test('each rendered file equals its golden file, byte for byte (UPDATE_GOLDEN=1 rewrites them)', () => {
    const update = process.env.UPDATE_GOLDEN === '1';
    for (const r of rendered) {
      const path = join(GOLDEN, r.golden);
      if (update) {
        mkdirSync(join(path, '..'), { recursive: true });
        writeFileSync(path, r.text);
        continue;
      }
      assert.ok(existsSync(path), `golden file ${r.golden} is missing: run with UPDATE_GOLDEN=1 and review it`);
      assert.equal(r.text, readFileSync(path, 'utf8'), `${r.golden} differs from its golden file`);
    }
  });

  test('no golden file is left without a rendered file', () => {
    const expected = new Set(rendered.map((r) => r.golden));
    const walk = (dir: string, rel: string): string[] =>
      readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(dir, join(rel, e.name)) : [join(rel, e.name)]));
    for (const g of walk(GOLDEN, '')) assert.ok(expected.has(g), `stale golden file ${g}`);
  });

  test('every shipped template is used by some golden file', () => {
    const used = new Set(rendered.flatMap((r) => r.used.map((u) => `${r.vendor}/${u}`)));
    for (const vendor of loaded.profiles.keys()) {
      for (const name of readdirSync(join(SHIPPED, vendor, 'templates')).sort()) assert.ok(used.has(`${vendor}/shipped/${name}`), `${vendor}/templates/${name} is not covered`);
    }
  });

  test('the fixture reaches every vendor: both lines and the function key where the vendor has keys', () => {
    for (const r of rendered.filter((x) => x.sensitive)) {
      assert.match(r.text, /1001/, r.golden);
      assert.match(r.text, /1002/, r.golden);
      assert.match(r.text, /192\.0\.2\.123/, `${r.golden}: NTP server`);
      assert.match(r.text, /\b42\b/, `${r.golden}: VLAN id`);
    }
    for (const r of rendered.filter((x) => x.sensitive && !/W60B|HT802|gigaset/.test(x.golden))) assert.match(r.text, /1003/, `${r.golden}: function key`);
  });

  test('XML files escape the display names', () => {
    for (const r of rendered.filter((x) => x.text.startsWith('<?xml') && x.sensitive)) {
      assert.doesNotMatch(r.text, /& Co|<Desk>/, r.golden);
      assert.match(r.text, /&amp; Co/, r.golden);
    }
  });

  test('a SIP password appears only in the files the profile marks sensitive', () => {
    for (const r of rendered) {
      for (const pw of PASSWORDS) {
        if (r.sensitive) assert.ok(r.text.includes(pw), `${r.golden} is sensitive and carries ${pw}`);
        else assert.ok(!r.text.includes(pw), `${r.golden} is not marked sensitive but carries a SIP password`);
      }
    }
    assert.ok(rendered.some((r) => !r.sensitive && r.file.endsWith('.boot')), 'a non-sensitive per-device file is checked');
  });
});

describe('shipped phone templates: byte stability', () => {
  test('the same config built with its keys in another order renders the same bytes', () => {
    const a = renderAll(fixture('as-written'));
    const b = renderAll(fixture('reversed'));
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) assert.equal(a[i]?.text, b[i]?.text, a[i]?.golden);
  });

  test('rendering twice gives the same bytes, with no date or time in them', () => {
    const a = renderAll(fixture());
    const b = renderAll(fixture());
    assert.deepEqual(a.map((r) => r.text), b.map((r) => r.text));
    for (const r of a) assert.doesNotMatch(r.text, /20\d\d-\d\d-\d\d|\d\d:\d\d:\d\d/, r.golden);
  });
});

describe('shipped phone templates: a custom template wins', () => {
  test('custom <file>.tpl wins over the shipped model template at the next render, and removing it brings the shipped one back', () => {
    const profile = profileOf('yealink');
    const pattern = profile.deviceFiles.find((p) => p.source === '{mac}.cfg');
    assert.ok(pattern);
    const file = fileNameFor(pattern, '80:5e:c0:12:34:56', 'W60B');
    assert.equal(file, '805ec0123456.cfg');
    const lookup = lookupOf('yealink', { recheckMs: 0 });
    const raw = fixture();
    const before = lookup.render(templateFileFor(lookup, pattern, file), 'W60B', raw);
    assert.equal(before.template.name, 'W60B.tpl');
    assert.equal(before.template.root, 'shipped');
    assert.deepEqual(before.used, ['shipped/W60B.tpl', 'shipped/base.tpl']);

    const dir = join(CUSTOM, 'yealink');
    mkdirSync(dir, { recursive: true });
    const custom = join(dir, `${file}.tpl`);
    writeFileSync(custom, '#!version:1.0.0.1\naccount.1.user_name = {{ sip_lines["1"].username }}\n{% include "y000000000000.boot.tpl" %}\n');
    try {
      const mine = lookup.render(templateFileFor(lookup, pattern, file), 'W60B', raw);
      assert.equal(mine.template.root, 'custom');
      assert.equal(mine.template.name, `${file}.tpl`);
      assert.deepEqual(mine.used, [`custom/${file}.tpl`, 'shipped/y000000000000.boot.tpl']);
      assert.match(mine.text, /^#!version:1\.0\.0\.1\naccount\.1\.user_name = 1001\n/);
      // another device of the same model keeps the shipped model template
      const other = lookup.render('805ec0abcdef.cfg', 'W60B', raw);
      assert.equal(other.template.root, 'shipped');
    } finally {
      rmSync(custom);
    }
    const again = lookup.render(templateFileFor(lookup, pattern, file), 'W60B', raw);
    assert.equal(again.template.root, 'shipped');
    assert.equal(again.text, before.text);
  });

  test('a custom template named after a per-device pattern wins over the shipped one', () => {
    const profile = profileOf('yealink');
    const pattern = profile.deviceFiles.find((p) => p.source === '{mac}.boot');
    assert.ok(pattern);
    const lookup = lookupOf('yealink', { recheckMs: 0 });
    const dir = join(CUSTOM, 'yealink');
    mkdirSync(dir, { recursive: true });
    const custom = join(dir, '{mac}.boot.tpl');
    writeFileSync(custom, '#!version:1.0.0.1\ninclude:config "site.cfg"\n');
    try {
      const name = templateFileFor(lookup, pattern, '0015654aa937.boot');
      assert.equal(name, '{mac}.boot');
      const r = lookup.render(name, 'T46S', fixture());
      assert.equal(r.template.root, 'custom');
      assert.equal(r.text, '#!version:1.0.0.1\ninclude:config "site.cfg"\n');
    } finally {
      rmSync(custom);
    }
  });
});

describe('templateFileFor', () => {
  /** memLookup is a lookup over an in-memory tree of `custom/` and `shipped/` template names. */
  const memLookup = (names: readonly string[]): TemplateLookup => {
    const tree = new Set(names.map((n) => `/${n}`));
    return createTemplateLookup([{ label: 'custom', dir: '/custom' }, { label: 'shipped', dir: '/shipped' }], {
      stamp: (path) => (tree.has(path) ? '1' : undefined),
      read: () => '',
    });
  };
  const boot = profileOf('yealink').deviceFiles.find((p) => p.source === '{mac}.boot');
  assert.ok(boot);
  const table: readonly { readonly tree: readonly string[]; readonly want: string }[] = [
    { tree: ['shipped/base.tpl'], want: '0015654aa937.boot' },
    { tree: ['shipped/base.tpl', 'shipped/{mac}.boot.tpl'], want: '{mac}.boot' },
    { tree: ['shipped/base.tpl', 'custom/{mac}.boot.tpl'], want: '{mac}.boot' },
    { tree: ['shipped/{mac}.boot.tpl', 'custom/0015654aa937.boot.tpl'], want: '0015654aa937.boot' },
    { tree: ['shipped/{mac}.boot.tpl', 'shipped/0015654aa937.boot.tpl'], want: '0015654aa937.boot' },
    { tree: [], want: '0015654aa937.boot' },
  ];
  for (const row of table) {
    test(`[${row.tree.join(', ')}] → ${row.want}`, () => {
      assert.equal(templateFileFor(memLookup(row.tree), boot, '0015654aa937.boot'), row.want);
    });
  }
});

/** sensitiveFile renders the sensitive per-device file of a case from `raw`. */
function sensitiveFile(c: Case, raw: RawMap): string {
  const profile = profileOf(c.vendor);
  const lookup = lookupOf(c.vendor);
  const pattern = profile.deviceFiles.find((p) => profile.sensitiveFiles.has(p.source));
  assert.ok(pattern, `${c.vendor} has a sensitive per-device file`);
  const file = fileNameFor(pattern, c.mac, c.model);
  assert.ok(file !== undefined);
  return lookup.render(templateFileFor(lookup, pattern, file), c.model, raw).text;
}

/** FIRST_CASE is each vendor's first case. */
const FIRST_CASE: ReadonlyMap<string, Case> = new Map([...CASES].reverse().map((c) => [c.vendor, c]));

describe('shipped phone templates: timezone forms', () => {
  /** TZ_TABLE: per vendor, the lines a zone renders (Paris north, Sydney south, UTC without summer time) and the marker of its parameters. */
  const TZ_TABLE: Readonly<Record<string, { readonly marker: RegExp; readonly zones: Readonly<Record<string, readonly string[]>> }>> = {
    yealink: {
      marker: /local_time\.(time_zone|summer_time)/,
      zones: {
        'Europe/Paris': ['local_time.time_zone = +1\n', 'local_time.summer_time = 1\n', 'local_time.dst_time_type = 1\n', 'local_time.start_time = 3/5/0/2\n', 'local_time.end_time = 10/5/0/3\n', 'local_time.offset_time = 60\n'],
        'Australia/Sydney': ['local_time.time_zone = +10\n', 'local_time.summer_time = 1\n', 'local_time.start_time = 10/1/0/2\n', 'local_time.end_time = 4/1/0/3\n'],
        UTC: ['local_time.time_zone = 0\n', 'local_time.summer_time = 0\n'],
      },
    },
    polycom: {
      marker: /tcpIpApp\.sntp\.(gmtOffset|daylightSavings)/,
      zones: {
        'Europe/Paris': ['tcpIpApp.sntp.gmtOffset="3600"', 'daylightSavings.enable="1"', 'daylightSavings.start.month="3"', 'daylightSavings.start.dayOfWeek.lastInMonth="1"', 'daylightSavings.stop.month="10"', 'daylightSavings.stop.time="3"'],
        'Australia/Sydney': ['tcpIpApp.sntp.gmtOffset="36000"', 'daylightSavings.start.month="10"', 'daylightSavings.start.date="1"', 'daylightSavings.start.dayOfWeek="1"', 'daylightSavings.start.dayOfWeek.lastInMonth="0"', 'daylightSavings.stop.month="4"'],
        UTC: ['tcpIpApp.sntp.gmtOffset="0"', 'daylightSavings.enable="0"'],
      },
    },
    snom: {
      marker: /<timezone /,
      zones: { 'Europe/Paris': ['<timezone perm="">FRA+1</timezone>'], 'Australia/Sydney': ['<timezone perm="">AUS+10</timezone>'], UTC: [] },
    },
    grandstream: {
      marker: /<P64>/,
      zones: { 'Europe/Paris': ['<P64>CET-1CEST,M3.5.0,M10.5.0/3</P64>'], 'Australia/Sydney': ['<P64>AEST-10AEDT,M10.1.0,M4.1.0/3</P64>'], UTC: ['<P64>UTC0</P64>'] },
    },
    'cisco-spa': {
      marker: /Time_Zone|Daylight_Saving/,
      zones: {
        'Europe/Paris': ['<Time_Zone ua="na">GMT+01:00</Time_Zone>', '<Daylight_Saving_Time_Enable ua="na">Yes</Daylight_Saving_Time_Enable>', '<Daylight_Saving_Time_Rule ua="na">start=3/-1/7/2;end=10/-1/7/3;save=1</Daylight_Saving_Time_Rule>'],
        'Australia/Sydney': ['<Time_Zone ua="na">GMT+10:00</Time_Zone>', '<Daylight_Saving_Time_Rule ua="na">start=10/1/7/2;end=4/1/7/3;save=1</Daylight_Saving_Time_Rule>'],
        UTC: ['<Time_Zone ua="na">GMT+00:00</Time_Zone>', '<Daylight_Saving_Time_Enable ua="na">No</Daylight_Saving_Time_Enable>'],
      },
    },
    fanvil: {
      marker: /Time Zone/,
      zones: { 'Europe/Paris': ['Time Zone Name     :CET-1CEST,M3.5.0,M10.5.0/3\n'], 'Australia/Sydney': ['Time Zone Name     :AEST-10AEDT,M10.1.0,M4.1.0/3\n'], UTC: ['Time Zone Name     :UTC0\n'] },
    },
    gigaset: {
      marker: /TIME_ZONE/,
      zones: { 'Europe/Paris': [`value='"CET-1CEST,M3.5.0,M10.5.0/3"'`], 'Australia/Sydney': [`value='"AEST-10AEDT,M10.1.0,M4.1.0/3"'`], UTC: [`value='"UTC0"'`] },
    },
  };

  test('the table covers every shipped vendor', () => {
    assert.deepEqual(Object.keys(TZ_TABLE).sort(), [...loaded.profiles.keys()].sort());
  });

  for (const [vendor, row] of Object.entries(TZ_TABLE)) {
    const c = FIRST_CASE.get(vendor);
    for (const [zone, lines] of Object.entries(row.zones)) {
      test(`${vendor} renders ${zone} in its own form`, () => {
        assert.ok(c);
        const text = sensitiveFile(c, { ...fixture(), timezone: zone });
        for (const l of lines) assert.ok(text.includes(l), `${vendor} ${zone}: ${JSON.stringify(l)} in\n${text}`);
        if (lines.length === 0) assert.doesNotMatch(text, row.marker, `${vendor} has no form for ${zone}: left out`);
        if (zone.includes('/')) assert.ok(!text.includes(zone), `${vendor} ${zone}: the IANA name itself is not written`);
      });
    }
    test(`${vendor}: a zone outside the table leaves the parameters out (the phone keeps its own)`, () => {
      assert.ok(c);
      const text = sensitiveFile(c, { ...fixture(), timezone: 'Mars/Olympus_Mons' });
      assert.doesNotMatch(text, row.marker);
      assert.ok(!text.includes('Mars'));
    });
  }
});

describe('shipped phone templates: 12 lines in numeric order', () => {
  const lines: Record<string, RawValue> = {};
  // inserted in text order ('1', '10', '11', '12', '2', ...), as a map read from JSON or YAML may be
  for (const n of Array.from({ length: 12 }, (_, i) => String(i + 1)).sort()) lines[n] = { username: `20${n.padStart(2, '0')}`, password: 'pw', proxy_ip: '192.0.2.10' };
  const keys: Record<string, RawValue> = {};
  for (const n of ['1', '10', '2', '3']) keys[n] = { type: 'speeddial', value: `30${n.padStart(2, '0')}`, label: `K${n}` };

  for (const c of CASES) {
    test(`${c.vendor} ${c.model}: lines and keys come 1, 2, ..., 10, 11, 12`, () => {
      const text = sensitiveFile(c, { ...fixture(), sip_lines: lines, funckeys: keys });
      const seen = [...text.matchAll(/\b20(\d\d)\b/g)].map((m) => Number(m[1]));
      const firsts = seen.filter((n, i) => seen.indexOf(n) === i);
      assert.ok(firsts.length >= 4, `${c.vendor}: at least 4 lines rendered (${firsts.join(',')})`);
      assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), `${c.vendor}: line order`);
      if (firsts.length === 12) assert.deepEqual(firsts, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      const k = [...text.matchAll(/\b30(\d\d)\b/g)].map((m) => Number(m[1])).filter((n, i, a) => a.indexOf(n) === i);
      assert.deepEqual(k, [...k].sort((a, b) => a - b), `${c.vendor}: key order`);
    });
  }
});

describe('shipped phone templates: the Yealink hardware-id common file', () => {
  test('y0000000000<hwid>.cfg renders from y0000000000{hwid}.cfg.tpl, with no account or password', () => {
    const profile = profileOf('yealink');
    const lookup = lookupOf('yealink');
    const pattern = profile.commonFiles.find((p) => p.source === 'y0000000000{hwid}.cfg');
    assert.ok(pattern);
    for (const hwid of ['66', '77', '28']) {
      const file = `y0000000000${hwid}.cfg`;
      assert.ok(pattern.regex.test(file));
      assert.equal(commonTemplateFileFor(lookup, pattern, file), 'y0000000000{hwid}.cfg');
      const r = lookup.render('y0000000000{hwid}.cfg', undefined, fixture());
      assert.deepEqual(r.used, ['shipped/y0000000000{hwid}.cfg.tpl']);
      assert.doesNotMatch(r.text, /account\.|password|Adm1n|Us3r|S3cret/);
      assert.match(r.text, /local_time\.time_zone = \+1\n/);
    }
  });
});

describe('commonTemplateFileFor', () => {
  const memLookup = (names: readonly string[]): TemplateLookup => {
    const tree = new Set(names.map((n) => `/${n}`));
    return createTemplateLookup([{ label: 'custom', dir: '/custom' }, { label: 'shipped', dir: '/shipped' }], {
      stamp: (path) => (tree.has(path) ? '1' : undefined),
      read: () => '',
    });
  };
  const hw = profileOf('yealink').commonFiles.find((p) => p.source === 'y0000000000{hwid}.cfg');
  assert.ok(hw);
  const table: readonly { readonly tree: readonly string[]; readonly want: string | undefined }[] = [
    { tree: ['shipped/base.tpl'], want: undefined },
    { tree: ['shipped/base.tpl', 'shipped/T46S.tpl'], want: undefined },
    { tree: ['shipped/base.tpl', 'shipped/y0000000000{hwid}.cfg.tpl'], want: 'y0000000000{hwid}.cfg' },
    { tree: ['custom/y0000000000{hwid}.cfg.tpl'], want: 'y0000000000{hwid}.cfg' },
    { tree: ['shipped/y0000000000{hwid}.cfg.tpl', 'custom/y000000000066.cfg.tpl'], want: 'y000000000066.cfg' },
    { tree: [], want: undefined },
  ];
  for (const row of table) {
    test(`[${row.tree.join(', ')}] → ${String(row.want)} (never base.tpl)`, () => {
      assert.equal(commonTemplateFileFor(memLookup(row.tree), hw, 'y000000000066.cfg'), row.want);
    });
  }
});
