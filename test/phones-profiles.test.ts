/**
 * phones-profiles.test.ts: vendor profiles (src/phones/profile.ts, profiles.ts) and phone request
 * identification (src/phones/identify.ts), from the facts of sip-phones.md §3.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePattern, compileUserAgent, fileNameFor, formatProfileProblem, parseProfile, regexSafetyProblem, type ProfileProblem } from '../src/phones/profile';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { fileOf, identify, macFrom, MAX_USER_AGENT, type Identification } from '../src/phones/identify';

const shipped = loadProfiles(shippedProfilesDir());

/** cpuMs is the CPU time (user + system, ms) this process spent since `from`. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}
const P = shipped.profiles;

/** MINIMAL is a valid profile; tests break one thing at a time. */
const MINIMAL = [
  'vendor: acme', // 1
  'family: Acme phones', // 2
  'userAgents:', // 3
  "  - '^Acme (?<model>\\w{1,8}) (?<version>[0-9.]{1,16}) (?<mac>[0-9a-f]{12})$'", // 4
  'deviceFiles:', // 5
  "  - '{mac}.cfg'", // 6
  'commonFiles:', // 7
  "  - 'acme.cfg'", // 8
  'sensitiveFiles:', // 9
  "  - '{mac}.cfg'", // 10
  "ouis: ['00:11:22']", // 11
  'models:', // 12
  '  A1:', // 13
  "resyncEvent: 'check-sync'", // 14
  '',
].join('\n');

const withLine = (n: number, text: string): string => {
  const lines = MINIMAL.split('\n');
  lines[n - 1] = text;
  return lines.join('\n');
};

describe('profile format', () => {
  test('the minimal profile parses and compiles', () => {
    const r = parseProfile(MINIMAL, 'acme/profile.yaml');
    assert.deepEqual(r.problems, []);
    assert.equal(r.profile?.vendor, 'acme');
    assert.deepEqual([...(r.profile?.ouis ?? [])], ['00:11:22']);
    assert.deepEqual(r.profile?.models.get('A1'), {});
    const m = parseProfile(MINIMAL.replace('  A1:', "  Z9: { hardwareId: '07' }\n  '300':\n  A1: { lines: 2 }"), 'x.yaml');
    assert.deepEqual([...(m.profile?.models.entries() ?? [])], [['Z9', { hardwareId: '07' }], ['300', {}], ['A1', { lines: 2 }]], 'models keep file order');
  });

  // Each row breaks the minimal profile; the problem must name the file and the line.
  const BAD: { name: string; text: string; line: number; message: RegExp }[] = [
    { name: 'bad YAML (unclosed quote)', text: withLine(8, "  - 'acme.cfg"), line: 8, message: /not valid YAML/ },
    { name: 'bad YAML (duplicate key)', text: withLine(11, 'family: again'), line: 11, message: /not valid YAML/ },
    { name: 'bad regex (unclosed group)', text: withLine(4, "  - '^Acme (?<model>\\w{1,8}'"), line: 4, message: /invalid regular expression/ },
    { name: 'nested quantifier', text: withLine(4, "  - '^Acme (a+)+$'"), line: 4, message: /nested quantifiers/ },
    { name: 'unknown named group', text: withLine(4, "  - '^Acme (?<firmware>[0-9.]{1,8})$'"), line: 4, message: /unknown named group 'firmware'/ },
    { name: 'unknown key', text: withLine(11, "ouiz: ['00:11:22']"), line: 11, message: /unknown key 'ouiz'/ },
    { name: 'unknown placeholder', text: withLine(6, "  - '{serial}.cfg'"), line: 6, message: /unknown placeholder \{serial\}/ },
    { name: 'device file without MAC', text: withLine(6, "  - 'phone.cfg'"), line: 6, message: /holds \{mac\} or \{MAC\}/ },
    { name: 'common file with a MAC', text: withLine(8, "  - '{MAC}.txt'"), line: 8, message: /common file name holds no MAC/ },
    { name: 'sensitive file not a device file', text: withLine(10, "  - '{mac}.xml'"), line: 10, message: /not one of this profile's deviceFiles/ },
    { name: 'bad OUI', text: withLine(11, "ouis: ['00:11']"), line: 11, message: /an OUI is 3 bytes/ },
    { name: 'bad resync event', text: withLine(14, "resyncEvent: 'check sync'"), line: 14, message: /SIP event/ },
    { name: 'unknown model attribute', text: withLine(13, "  A1: { hardwareID: '28' }"), line: 13, message: /unknown key 'hardwareID'/ },
    { name: 'missing key', text: withLine(2, '# no family'), line: 1, message: /family: is required/ },
  ];
  for (const row of BAD) {
    test(`problem: ${row.name} names file and line`, () => {
      const r = parseProfile(row.text, 'site/acme/profile.yaml');
      assert.equal(r.profile, undefined);
      assert.ok(r.problems.length >= 1, 'a problem');
      const p = r.problems[0] as ProfileProblem;
      assert.equal(p.file, 'site/acme/profile.yaml');
      assert.equal(p.line, row.line, formatProfileProblem(p));
      assert.match(formatProfileProblem(p), row.message);
      assert.match(formatProfileProblem(p), new RegExp(`^site/acme/profile\\.yaml:${row.line}:\\d+: `));
    });
  }

  test('an alias bomb is a problem, not a thrown error', () => {
    let text = 'a: &a [x, x, x, x, x, x, x, x, x]\n';
    for (let i = 0, prev = 'a'; i < 12; prev = `b${i}`, i++) text += `b${i}: &b${i} [${Array(9).fill(`*${prev}`).join(', ')}]\n`;
    const r = parseProfile(text, 'bomb.yaml');
    assert.equal(r.profile, undefined);
    assert.match(formatProfileProblem(r.problems[0] as ProfileProblem), /^bomb\.yaml: not valid YAML: .*alias/);
  });

  test('every problem of a file is reported, not only the first', () => {
    const text = withLine(11, "ouiz: ['00:11:22']").replace("  - '{mac}.cfg'\ncommonFiles", "  - '{foo}.cfg'\ncommonFiles");
    const r = parseProfile(text.replace("resyncEvent: 'check-sync'", "resyncEvent: 'check sync'"), 'x.yaml');
    assert.deepEqual(
      r.problems.map((p) => p.line),
      [6, 10, 11, 14], // a bad pattern, the sensitive file it orphans, an unknown key, a bad event: one pass
      r.problems.map(formatProfileProblem).join('\n'),
    );
    const r2 = parseProfile(withLine(4, "  - '(a+)+'").replace("  - '{mac}.cfg'\ncommonFiles", "  - '{foo}.cfg'\ncommonFiles"), 'x.yaml');
    assert.deepEqual(
      r2.problems.map((p) => p.line),
      [4, 6, 10], // the sensitive file no longer names a device file
    );
  });

  test('compilePattern: placeholders, escaping, bounded regexes', () => {
    const rows: [string, string, boolean][] = [
      ['{mac}.cfg', '0015654aa937.cfg', true],
      ['{mac}.cfg', '0015654AA937.cfg', true], // either case is accepted on input
      ['{mac}.cfg', '0015654aa937xcfg', false], // the dot is literal
      ['{mac}.cfg', 'x0015654aa937.cfg', false], // anchored
      ['y0000000000{hwid}.cfg', 'y000000000028.cfg', true],
      ['snom{model}-{MAC}.htm', 'snomD785-000413922D24.htm', true],
      ['{name}.sip.ld', '3111-46135-002.sip.ld', true],
      ['{name}.sip.ld', '../x.sip.ld', false],
    ];
    for (const [src, file, ok] of rows) {
      const p = compilePattern(src);
      assert.ok(typeof p !== 'string', `${src}: ${String(p)}`);
      assert.equal(p.regex.test(file), ok, `${src} ~ ${file}`);
    }
    for (const bad of ['{mac', 'a/{mac}', '{mac}{MAC}', '{x}', '']) assert.equal(typeof compilePattern(bad), 'string', bad);
    assert.equal((compilePattern('{MAC}.xml') as { macCase: string }).macCase, 'upper');
    assert.equal((compilePattern('spa{model}.cfg') as { modelPrefix: string }).modelPrefix, 'spa');
  });

  test('fileNameFor writes the MAC in the case the vendor requests, and round-trips through identify', () => {
    const pat = (src: string) => {
      const p = compilePattern(src);
      assert.ok(typeof p !== 'string', src);
      return p;
    };
    assert.equal(fileNameFor(pat('{mac}.cfg'), '00:15:65:4A:A9:37'), '0015654aa937.cfg');
    assert.equal(fileNameFor(pat('{MAC}.xml'), '00:04:13:92:2d:24'), '000413922D24.xml');
    assert.equal(fileNameFor(pat('snom{model}-{MAC}.htm'), '00:04:13:92:2d:24', 'D785'), 'snomD785-000413922D24.htm');
    assert.equal(fileNameFor(pat('snom{model}-{MAC}.htm'), '00:04:13:92:2d:24'), undefined, 'no model');
    assert.equal(fileNameFor(pat('snom{model}-{MAC}.htm'), '00:04:13:92:2d:24', '../x'), undefined, 'an unfit model');
    assert.equal(fileNameFor(pat('{mac}.cfg'), 'not a mac'), undefined);
    for (const profile of P.values()) {
      for (const p of profile.deviceFiles) {
        const model = [...profile.models.keys()].find((m) => /^[A-Za-z0-9_]+$/.test(m));
        const name = fileNameFor(p, '02:00:00:12:34:56', model);
        assert.ok(name !== undefined, `${profile.vendor} ${p.source}`);
        const got = identify({ path: `/${name}` }, new Map([[profile.vendor, profile]]));
        assert.equal(got?.kind, 'device', `${profile.vendor} ${name}`);
        assert.equal(got?.mac, '02:00:00:12:34:56');
      }
    }
  });

  test('regexSafetyProblem flags nested unbounded quantifiers only', () => {
    const rows: [string, boolean][] = [
      ['(a+)+', true],
      ['(a*)*', true],
      ['(?:a|b+){2,}', true],
      ['((a+)b)+', true],
      ['(a+){1,5}', true],
      ['(a{1,8})+', false],
      ['(a+)?', false],
      ['^x (?:\\s[A-Z]{2,4}){0,3}$', false],
      ['[(a+)]+', false],
      ['\\(a+\\)+', false],
      ['a+b+', false],
    ];
    for (const [src, flagged] of rows) assert.equal(regexSafetyProblem(src) !== undefined, flagged, src);
    assert.equal(typeof compileUserAgent('(?<model>\\w{1,4})'), 'object');
  });
});

describe('loader', () => {
  test('the shipped folder loads the seven vendor families with no problem', () => {
    assert.deepEqual(shipped.problems.map(formatProfileProblem), []);
    assert.deepEqual([...P.keys()], ['cisco-spa', 'fanvil', 'gigaset', 'grandstream', 'polycom', 'snom', 'yealink']);
    for (const p of P.values()) assert.ok(p.userAgents.length > 0 && p.deviceFiles.length > 0 && p.sensitiveFiles.size > 0, p.vendor);
  });

  test('a site folder overrides a vendor entirely, adds vendors, and reports its problems with file and line', () => {
    const root = mkdtempSync(join(tmpdir(), 'provd-profiles-'));
    try {
      const ship = join(root, 'shipped');
      const site = join(root, 'site');
      const put = (dir: string, vendor: string, text: string): string => {
        mkdirSync(join(dir, vendor), { recursive: true });
        const f = join(dir, vendor, 'profile.yaml');
        writeFileSync(f, text);
        return f;
      };
      put(ship, 'acme', MINIMAL);
      put(ship, 'zeta', MINIMAL.replace('vendor: acme', 'vendor: zeta'));
      put(ship, 'omega', MINIMAL.replace('vendor: acme', 'vendor: omega'));
      // site: acme replaced (no userAgents, a different device file), beta added, zeta broken, omega misnamed
      put(site, 'acme', withLine(4, '  []').replace('userAgents:\n  []', 'userAgents: []').replace("'{mac}.cfg'", "'acme-{MAC}.xml'").replace("  - '{mac}.cfg'\nouis", "  - 'acme-{MAC}.xml'\nouis"));
      put(site, 'beta', MINIMAL.replace('vendor: acme', 'vendor: beta'));
      const zeta = put(site, 'zeta', withLine(4, "  - '^Zeta ([a-z'").replace('vendor: acme', 'vendor: zeta'));
      const omega = put(site, 'omega', MINIMAL);
      mkdirSync(join(site, 'empty'));

      const r = loadProfiles(ship, site);
      assert.deepEqual([...r.profiles.keys()], ['acme', 'beta']);
      const acme = r.profiles.get('acme');
      assert.equal(acme?.source, join(site, 'acme', 'profile.yaml'));
      assert.equal(acme?.userAgents.length, 0, 'nothing merged from the shipped acme');
      assert.deepEqual(acme?.deviceFiles.map((p) => p.source), ['acme-{MAC}.xml']);
      const lines = r.problems.map(formatProfileProblem);
      assert.equal(r.problems.length, 3, lines.join('\n'));
      assert.ok(lines.some((l) => l.startsWith(`${join(site, 'empty')}: neither profile.yaml`)), lines.join('\n'));
      assert.ok(lines.some((l) => l.startsWith(`${omega}:1:1: vendor: vendor 'acme' differs from its folder name 'omega'`)), lines.join('\n'));
      assert.ok(lines.some((l) => l.startsWith(`${zeta}:4:`) && /userAgents\[0\]: invalid regular expression/.test(l)), lines.join('\n'));

      // No site folder: the shipped ones; a missing site folder is no problem, a missing shipped one is.
      assert.deepEqual([...loadProfiles(ship).profiles.keys()], ['acme', 'omega', 'zeta']);
      assert.deepEqual(loadProfiles(ship, join(root, 'nope')).problems, []);
      const gone = loadProfiles(join(root, 'nope'));
      assert.equal(gone.profiles.size, 0);
      assert.match(formatProfileProblem(gone.problems[0] as ProfileProblem), /cannot read the profiles folder/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

type Expect = Pick<Identification, 'vendor' | 'kind' | 'sensitive'> & Partial<Pick<Identification, 'model' | 'version' | 'mac'>>;

/** pick keeps the fields a boot-sequence row checks (absent ones stay absent). */
function pick(id: Identification | undefined): Expect | undefined {
  if (!id) return undefined;
  const out: Record<string, unknown> = { vendor: id.vendor, kind: id.kind, sensitive: id.sensitive };
  for (const k of ['model', 'version', 'mac'] as const) if (id[k] !== undefined) out[k] = id[k];
  return out as Expect;
}

/** BOOTS: per vendor, its real User-Agent and its boot sequence (sip-phones.md §3.1, §3.2): common files, then per-device files. */
const BOOTS: { vendor: string; ua: string; id: Partial<Expect>; files: [string, Identification['kind'], boolean, string?][] }[] = [
  {
    vendor: 'yealink',
    ua: 'Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37',
    id: { model: 'T46G', version: '28.72.0.1', mac: '00:15:65:4a:a9:37' },
    files: [
      ['/0015654aa937.boot', 'device', false],
      ['/y000000000000.boot', 'common', false],
      ['/y000000000028.cfg', 'common', false],
      ['/0015654aa937.cfg', 'device', true],
      ['/custom-include.cfg', 'unknown', false],
    ],
  },
  {
    vendor: 'yealink',
    ua: 'Yealink W52P 25.73.0.40 00:15:65:12:34:56',
    id: { model: 'W52P', version: '25.73.0.40', mac: '00:15:65:12:34:56' },
    files: [
      ['/y000000000025.cfg', 'common', false],
      ['/001565123456.cfg', 'device', true],
    ],
  },
  {
    vendor: 'yealink',
    ua: 'yealink SIP VP-T49G 51.80.0.10 00:15:65:ab:cd:ef',
    id: { model: 'T49G', version: '51.80.0.10', mac: '00:15:65:ab:cd:ef' },
    files: [['/001565abcdef.cfg', 'device', true]],
  },
  {
    vendor: 'polycom',
    ua: 'FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application',
    id: { model: 'VVX400', version: '4.1.4.7430' },
    files: [
      ['/0004f2aabbcc.cfg', 'device', false, '00:04:f2:aa:bb:cc'],
      ['/000000000000.cfg', 'common', false],
      ['/sip.ld', 'common', false],
      ['/3111-46135-002.sip.ld', 'common', false],
      ['/0004f2aabbcc-user.cfg', 'device', true, '00:04:f2:aa:bb:cc'],
      ['/common.cfg', 'common', false],
      ['/0004f2aabbcc-license.cfg', 'device', false, '00:04:f2:aa:bb:cc'],
      ['/000000000000-license.cfg', 'common', false],
      ['/0004f2aabbcc-directory.xml', 'device', false, '00:04:f2:aa:bb:cc'],
      ['/000000000000-directory.xml', 'common', false],
      ['/0004f2aabbcc-boot.log', 'device', false, '00:04:f2:aa:bb:cc'],
      ['/0004f2aabbcc-app.log', 'device', false, '00:04:f2:aa:bb:cc'],
      ['/0004f2aabbcc-phone.cfg', 'device', false, '00:04:f2:aa:bb:cc'],
    ],
  },
  {
    vendor: 'snom',
    ua: 'Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)',
    id: { model: 'D785', version: '10.1.33.33', mac: '00:04:13:92:2d:24' },
    files: [
      ['/snomD785.htm', 'common', false],
      ['/snom-general.xml', 'common', false],
      ['/snomD785.xml', 'common', false],
      ['/gui_lang.xml', 'common', false],
      ['/web_lang.xml', 'common', false],
      ['/snomD785-000413922D24.htm', 'device', false],
      ['/000413922D24.xml', 'device', true],
      ['/snomD785-firmware.xml', 'common', false],
    ],
  },
  {
    vendor: 'snom',
    ua: 'Mozilla/4.0 (compatible; Snom M900 05.20.0001 000413b60680)',
    id: { model: 'M900', version: '05.20.0001', mac: '00:04:13:b6:06:80' },
    files: [['/000413B60680.xml', 'device', true]],
  },
  {
    vendor: 'grandstream',
    ua: 'Grandstream Model HW GXP2170 SW 1.0.11.85 DevId 000b82865e6a',
    id: { model: 'GXP2170', version: '1.0.11.85', mac: '00:0b:82:86:5e:6a' },
    files: [
      ['/Grandstream/cfg000b82865e6a', 'device', true],
      ['/Grandstream/cfg000b82865e6a.xml', 'device', true],
      ['/Grandstream/cfggxp2170.xml', 'common', false],
      ['/Grandstream/cfg.xml', 'common', false],
    ],
  },
  {
    vendor: 'cisco-spa',
    ua: 'Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK)',
    id: { model: 'SPA508G', version: '7.4.4', mac: '00:02:fd:ff:21:03' },
    files: [
      ['/spa508g.cfg', 'common', false],
      ['/0002fdff2103.xml', 'device', true],
    ],
  },
  {
    vendor: 'cisco-spa',
    ua: 'Linksys/SPA-942-6.1.5(a) (88019FA42805)',
    id: { model: 'SPA942', version: '6.1.5(a)' },
    files: [
      ['/init.cfg', 'common', false],
      ['/000e08aabbcc.xml', 'device', true, '00:0e:08:aa:bb:cc'],
    ],
  },
  {
    vendor: 'fanvil',
    ua: 'Fanvil X4 2.10.2.6887 0c383e07e16c',
    id: { model: 'X4', version: '2.10.2.6887', mac: '0c:38:3e:07:e1:6c' },
    files: [
      ['/Fanvil/f0X2hw1.100.cfg', 'common', false],
      ['/Fanvil/F0V00X200000.cfg', 'common', false],
      ['/Fanvil/fanvil_x4_hwv2_0.txt', 'common', false],
      ['/Fanvil/0c383e07e16c.cfg', 'device', true],
    ],
  },
  {
    vendor: 'fanvil',
    ua: 'Fanvil X6U Pro 0.0.10 0c383e2cd782',
    id: { model: 'X6U Pro', version: '0.0.10', mac: '0c:38:3e:2c:d7:82' },
    files: [['/0c383e2cd782.cfg', 'device', true]],
  },
  {
    vendor: 'gigaset',
    ua: 'Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605',
    id: { model: 'N870 IP PRO', version: '83.V2.11.0+build.a546b91', mac: '7c:2f:80:e0:d6:05' },
    files: [['/12/3/7C2F80E0D605.xml', 'device', true]],
  },
  {
    vendor: 'gigaset',
    ua: 'N510 IP PRO/42.245.00.000.000',
    id: { model: 'N510 IP PRO', version: '42.245.00.000.000' },
    files: [['/7C2F80E0D606.xml', 'device', true, '7c:2f:80:e0:d6:06']],
  },
];

describe('identification: each vendor boot sequence', () => {
  for (const boot of BOOTS) {
    test(`${boot.vendor}: ${boot.ua}`, () => {
      for (const [path, kind, sensitive, pathMac] of boot.files) {
        const got = identify({ userAgent: boot.ua, path, ip: '192.0.2.50' }, P);
        const mac = boot.id.mac ?? pathMac;
        const expected = { vendor: boot.vendor, kind, sensitive, ...boot.id, ...(mac !== undefined ? { mac } : {}) };
        // A common file names its model, which the User-Agent gave too.
        assert.deepEqual(pick(got), expected, `${boot.vendor} ${path}`);
        assert.equal(got?.ip, '192.0.2.50');
        assert.equal(got?.file, path.slice(path.lastIndexOf('/') + 1));
        assert.equal(got?.macConflict, undefined);
      }
    });
  }

  test('a file that belongs to a profile names the file, kind and pattern exactly', () => {
    assert.deepEqual(identify({ userAgent: 'Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37', path: '/0015654aa937.cfg?x=1', ip: '192.0.2.50' }, P), {
      vendor: 'yealink',
      model: 'T46G',
      version: '28.72.0.1',
      mac: '00:15:65:4a:a9:37',
      ip: '192.0.2.50',
      file: '0015654aa937.cfg',
      kind: 'device',
      pattern: '{mac}.cfg',
      sensitive: true,
    });
  });
});

describe('identification: no User-Agent, MAC conflicts, no match', () => {
  const rows: { path: string; ua?: string; expect: Expect | undefined; why: string }[] = [
    { path: '/y000000000025.cfg', expect: { vendor: 'yealink', kind: 'common', sensitive: false, model: 'W52P' }, why: 'a hardware-id file names the model' },
    { path: '/y000000000044.cfg', expect: { vendor: 'yealink', kind: 'common', sensitive: false, model: 'T23G' }, why: 'a shared id gives the first model listed' },
    { path: '/y000000000099.cfg', expect: { vendor: 'yealink', kind: 'common', sensitive: false }, why: 'an unknown hardware id: no model' },
    { path: '/001565aabbcc.cfg', expect: { vendor: 'yealink', kind: 'device', sensitive: true, mac: '00:15:65:aa:bb:cc' }, why: '{mac}.cfg is Yealink, Polycom and Fanvil: the OUI decides' },
    { path: '/0c383e07e16c.cfg', expect: { vendor: 'fanvil', kind: 'device', sensitive: true, mac: '0c:38:3e:07:e1:6c' }, why: 'Fanvil OUI' },
    { path: '/0004f2aabbcc.cfg', expect: { vendor: 'polycom', kind: 'device', sensitive: false, mac: '00:04:f2:aa:bb:cc' }, why: 'Polycom OUI' },
    { path: '/aabbccddeeff.cfg', expect: undefined, why: 'several vendors and no OUI: no guess' },
    { path: '/000413922D24.xml', expect: { vendor: 'snom', kind: 'device', sensitive: true, mac: '00:04:13:92:2d:24' }, why: '{MAC}.xml is Snom, Gigaset and Cisco: the OUI decides' },
    { path: '/7C2F80E0D605.xml', expect: { vendor: 'gigaset', kind: 'device', sensitive: true, mac: '7c:2f:80:e0:d6:05' }, why: 'Gigaset OUI' },
    { path: '/0004f2aabbcc-user.cfg', expect: { vendor: 'polycom', kind: 'device', sensitive: true, mac: '00:04:f2:aa:bb:cc' }, why: 'only Polycom has -user.cfg' },
    { path: '/000000000000.cfg', expect: { vendor: 'polycom', kind: 'common', sensitive: false }, why: 'the all-zero MAC is the master file, not a device' },
    { path: '/snomD785-000413922D24.htm', expect: { vendor: 'snom', kind: 'device', sensitive: false, model: 'D785', mac: '00:04:13:92:2d:24' }, why: 'model and MAC from the path' },
    { path: '/index.html', expect: undefined, why: 'nothing matches' },
    { path: '/', expect: undefined, why: 'no file name' },
    { path: '/x', ua: 'Jitsi/2.10.5550', expect: undefined, why: 'a User-Agent no profile knows' },
    { path: '/0015654aa937.cfg', ua: 'Mozilla/5.0', expect: { vendor: 'yealink', kind: 'device', sensitive: true, mac: '00:15:65:4a:a9:37' }, why: 'an unknown UA: the path decides' },
    { path: '/%3015654aa937.cfg', expect: undefined, why: 'percent-decoding gives an 11-digit name' },
    { path: '/%30015654aa937.cfg', expect: { vendor: 'yealink', kind: 'device', sensitive: true, mac: '00:15:65:4a:a9:37' }, why: 'percent-decoded' },
    { path: '/..%2F0015654aa937.cfg', expect: undefined, why: 'a decoded slash is refused' },
    { path: '/%E0%A4%A.cfg', expect: undefined, why: 'a bad escape is refused' },
  ];
  for (const row of rows) {
    test(`${row.path} ${row.ua ?? ''}: ${row.why}`, () => {
      assert.deepEqual(pick(identify({ userAgent: row.ua, path: row.path }, P)), row.expect);
    });
  }

  test('several vendors and no OUI: the inventory (KnownVendor) breaks the tie, only to a vendor whose pattern fits', () => {
    const known = (mac: string): string | undefined => (mac === '00:02:fd:ff:21:03' ? 'cisco-spa' : mac === 'aa:bb:cc:dd:ee:ff' ? 'polycom' : undefined);
    assert.deepEqual(pick(identify({ path: '/0002fdff2103.xml' }, P)), undefined, 'no inventory: no guess');
    assert.deepEqual(pick(identify({ path: '/0002fdff2103.xml' }, P, known)), { vendor: 'cisco-spa', kind: 'device', sensitive: true, mac: '00:02:fd:ff:21:03' });
    // Polycom has no {mac}.xml: the inventory never picks a vendor whose pattern does not fit the name.
    assert.deepEqual(pick(identify({ path: '/aabbccddeeff.xml' }, P, known)), undefined);
  });

  test("the file name's MAC differs from the User-Agent's: the UA's is kept and the conflict flagged", () => {
    const got = identify({ userAgent: 'Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37', path: '/001565000001.cfg' }, P);
    assert.equal(got?.mac, '00:15:65:4a:a9:37');
    assert.deepEqual(got?.macConflict, { userAgent: '00:15:65:4a:a9:37', path: '00:15:65:00:00:01' });
    assert.equal(got?.sensitive, true);
    // The same MAC in another case is no conflict.
    assert.equal(identify({ userAgent: 'Yealink SIP-T46G 28.72.0.1 00:15:65:4A:A9:37', path: '/0015654AA937.cfg' }, P)?.macConflict, undefined);
  });

  test('a User-Agent match keeps its vendor even when the file matches another vendor', () => {
    const got = identify({ userAgent: 'Fanvil X4 2.10.2.6887 0c383e07e16c', path: '/0004f2aabbcc-user.cfg' }, P);
    assert.deepEqual(pick(got), { vendor: 'fanvil', kind: 'unknown', sensitive: false, model: 'X4', version: '2.10.2.6887', mac: '0c:38:3e:07:e1:6c' });
  });

  test('macFrom and fileOf', () => {
    const macs: [string | undefined, string | undefined][] = [
      ['00:15:65:4a:a9:37', '00:15:65:4a:a9:37'],
      ['00-08-5D-23-74-29', '00:08:5d:23:74:29'],
      ['000413922D24', '00:04:13:92:2d:24'],
      ['00:15:65:4a:a9-37', undefined],
      ['0015:654a:a937', undefined],
      ['00:15:65:4a:a9:3g', undefined],
      ['', undefined],
      [undefined, undefined],
    ];
    for (const [raw, want] of macs) assert.equal(macFrom(raw), want, String(raw));
    assert.equal(fileOf('/a/b/c.cfg?x=/y#z'), 'c.cfg');
    assert.equal(fileOf('c.cfg'), 'c.cfg', 'a TFTP file name');
    assert.equal(fileOf('/a/'), undefined);
    assert.equal(fileOf('/%2e%2e'), undefined);
  });
});

describe('identification: hostile input', () => {
  const hostile: string[] = [
    `Yealink SIP-T46G ${'1.'.repeat(200)}`,
    `Mozilla/4.0 (compatible; ${'snomD785-SIP 1 '.repeat(30)}`,
    `Grandstream Model HW GXP2170 ${' V1'.repeat(150)}`,
    `Cisco/SPA508G-${'7'.repeat(480)}`,
    `Linksys/${'SPA-'.repeat(120)}`,
    `Fanvil X${'1 '.repeat(250)}`,
    `Gigaset N870${' IP'.repeat(160)}`,
    `FileTransport Polycom${'VVX-'.repeat(120)}`,
    'a'.repeat(MAX_USER_AGENT),
    ' '.repeat(MAX_USER_AGENT),
  ];

  test('a long hostile User-Agent returns fast (capped, linear regexes)', () => {
    const long = `Yealink SIP-T46G ${'1.'.repeat(50_000)} 00:15:65:4a:a9:37`;
    const t0 = process.cpuUsage();
    const got = identify({ userAgent: long, path: `/${'0'.repeat(100_000)}.cfg` }, P);
    const ms = cpuMs(t0);
    assert.equal(got, undefined, 'over the caps: ignored, not truncated');
    // CPU time, not wall time: a starved test process is not a slow regex. A backtracking regex on
    // 100 000 characters takes seconds; the capped, linear path well under a millisecond.
    assert.ok(ms < 250, `${ms} ms of CPU`);
  });

  test('every shipped User-Agent regex stays fast on near-miss strings up to the cap', () => {
    const t0 = process.cpuUsage();
    for (const ua of hostile) {
      assert.ok(ua.length <= MAX_USER_AGENT, `${ua.length}`);
      for (const profile of P.values()) for (const re of profile.userAgents) re.exec(ua);
      identify({ userAgent: ua, path: '/x.cfg' }, P);
    }
    const ms = cpuMs(t0);
    assert.ok(ms < 500, `${ms} ms of CPU`);
  });

  test('identify never throws and keeps its promises on random input (fast-check)', () => {
    const phoneish = fc.oneof(
      fc.string({ maxLength: 600 }),
      fc.constantFrom(...BOOTS.map((b) => b.ua)).chain((ua) => fc.tuple(fc.nat({ max: ua.length }), fc.string({ maxLength: 40 })).map(([i, s]) => ua.slice(0, i) + s + ua.slice(i))),
    );
    const pathish = fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^\/[0-9a-fA-F%./-]{0,40}\.(?:cfg|xml|boot|htm)$/));
    fc.assert(
      fc.property(phoneish, pathish, fc.oneof(fc.constant('192.0.2.1'), fc.string({ maxLength: 70 })), (ua, path, ip) => {
        const got = identify({ userAgent: ua, path, ip }, P);
        if (got === undefined) return;
        assert.ok(P.has(got.vendor));
        if (got.mac !== undefined) assert.match(got.mac, /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/);
        if (got.ip !== undefined) assert.ok(got.ip === '192.0.2.1' || got.ip.length <= 64);
        assert.ok(!got.file.includes('/'));
        assert.equal(got.kind === 'unknown', got.pattern === undefined);
        if (got.sensitive) assert.equal(got.kind, 'device');
      }),
      { numRuns: 3000, interruptAfterTimeLimit: 3000 },
    );
  });

  test('the source address is kept only when it is an IP address', () => {
    const ua = 'Fanvil X4 2.10.2.6887 0c383e07e16c';
    assert.equal(identify({ userAgent: ua, path: '/x', ip: '2001:db8::1' }, P)?.ip, '2001:db8::1');
    assert.equal(identify({ userAgent: ua, path: '/x', ip: 'evil\nline' }, P)?.ip, undefined);
  });

  test('no shipped User-Agent regex has a nested quantifier', () => {
    for (const profile of P.values()) for (const re of profile.userAgents) assert.equal(regexSafetyProblem(re.source), undefined, `${profile.vendor}: ${re.source}`);
  });
});
