/**
 * phones-serve.test.ts: answerPhoneFile (src/phones/serve.ts) against a real SQLite store on a
 * temp dir, the shipped profiles and templates: per-device files with the assigned users' SIP
 * credentials (Yealink, Polycom), common files, 404 on an unknown common file (not a failure),
 * the autoprov modes, NAT mode, the password window with an injected clock, ETag/304, a MAC
 * conflict, hostile User-Agents, and the event lines through fail2ban-regex when installed.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { openSqliteStore } from '../src/store/sqlite';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { PHONE_FILTERS } from '../src/phones/filters';
import { createTemplateLookup, vendorRoots, type TemplateLookup } from '../src/templates/lookup';
import { answerPhoneFile, contentTypeFor, type AutoprovMode, type PhoneFileRequest, type ServeDeps } from '../src/phones/serve';
import type { ContextUser } from '../src/phones/context';
import type { Store } from '../src/store/repository';

const ROOT = join(__dirname, '..', '..');
const FILTER = join(ROOT, 'config', 'fail2ban', 'filter.d', 'provisiond.conf');
const GOLDEN = join(ROOT, 'test', 'golden', 'phones');

/** paramNames lists the parameter names of a rendered file: `name = value` (Yealink) or `name="value"` (Polycom). */
function paramNames(text: string): Set<string> {
  return new Set([...text.matchAll(/(?:^|\s)([A-Za-z][\w.]{0,80})\s?=\s?["\S]/gm)].map((m) => m[1] ?? ''));
}
const SHIPPED = shippedProfilesDir();
const { profiles } = loadProfiles(SHIPPED);
const TMP = mkdtempSync(join(tmpdir(), 'provd-serve-'));
const CUSTOM = join(TMP, 'custom');
after(() => rmSync(TMP, { recursive: true, force: true }));

const lookups = new Map<string, TemplateLookup>();
function lookup(vendor: string): TemplateLookup | undefined {
  if (!profiles.has(vendor)) return undefined;
  let l = lookups.get(vendor);
  if (l === undefined) {
    l = createTemplateLookup(vendorRoots(CUSTOM, vendor, join(SHIPPED, vendor, 'templates')), undefined, { filters: PHONE_FILTERS });
    lookups.set(vendor, l);
  }
  return l;
}

const USERS: Readonly<Record<string, ContextUser>> = {
  alice: { name: 'alice', domain: 'acme', attributes: { sip_username: '1001', sip_password: 'Alice-SIP-secret', display_name: 'Alice', number: '1001' } },
  bob: { name: 'bob', domain: 'acme', attributes: { sip_username: '1002', sip_password: 'Bob-SIP-secret', display_name: 'Bob', number: '1002' } },
};

const T0 = '2026-11-27T10:00:00.000Z';
const YEALINK_MAC = '00:15:65:4a:a9:37';
const POLYCOM_MAC = '00:04:f2:21:1c:8b';
const YEALINK_UA = 'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37';
const POLYCOM_UA = 'FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application';

let n = 0;
/** freshStore opens a store with tenant acme's configs and the two admin-added devices. */
function freshStore(): Store {
  const s = openSqliteStore(join(TMP, `s${n++}`));
  s.phones.putConfig({ tenant: 'acme', id: 'site', raw: { ntp_ip: '192.0.2.123', sip_proxy_ip: '192.0.2.10', admin_password: 'Adm1n-pass', timezone: 'Europe/Paris' }, role: 'default' }, T0);
  s.phones.putConfig({ tenant: 'acme', id: 'auto', raw: { sip_proxy_ip: '192.0.2.10' }, role: 'autoprov' }, T0);
  s.phones.add({ mac: YEALINK_MAC, tenant: 'acme', profile: 'yealink', model: 'T46S', config: 'site', users: ['alice', 'bob'] }, T0);
  s.phones.add({ mac: POLYCOM_MAC, tenant: 'acme', profile: 'polycom', model: 'VVX400', config: 'site', users: ['bob'] }, T0);
  return s;
}

function deps(store: Store, over: Partial<ServeDeps> = {}): ServeDeps {
  return {
    profiles,
    phones: store.phones,
    lookup,
    user: (_t, name) => USERS[name],
    now: () => new Date(Date.parse(T0) + 60_000),
    tenant: { name: 'acme', attributes: {}, urlKey: 'k7Qd2fX9aB31' },
    server: { httpBaseUrl: 'http://192.0.2.10:8667' },
    autoprovision: 'off',
    ...over,
  };
}

const req = (path: string, userAgent: string | undefined, ip = '192.0.2.50', ifNoneMatch?: string): PhoneFileRequest => ({ path, userAgent, ip, ifNoneMatch });

describe('answerPhoneFile: per-device and common files', () => {
  const store = freshStore();
  after(() => store.close());

  test('Yealink per-device file carries both users\' SIP credentials, keyed URL, event line', () => {
    const a = answerPhoneFile(req('/k7Qd2fX9aB31/0015654aa937.cfg', YEALINK_UA), deps(store));
    assert.equal(a.status, 200);
    assert.equal(a.outcome, 'served');
    assert.equal(a.failure, false);
    const text = a.body.toString('utf8');
    assert.match(text, /^#!version:1\.0\.0\.1/);
    for (const s of ['Alice-SIP-secret', 'Bob-SIP-secret', '1001', '1002', 'k7Qd2fX9aB31']) assert.ok(text.includes(s), s);
    assert.equal(a.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.match(a.headers.etag ?? '', /^"[0-9a-f]{64}"$/);
    assert.equal(a.events.length, 1);
    assert.match(a.events[0] ?? '', / failure ip=192\.0\.2\.50 reason=phone-sensitive-served user=00%3A15%3A65%3A4a%3Aa9%3A37 tenant=acme$/);
    assert.deepEqual(a.observe, { mac: YEALINK_MAC, ip: '192.0.2.50', version: '66.86.0.15', model: 'T46S' });
  });

  test('Polycom per-device file (MAC from the path) carries bob\'s credentials', () => {
    const a = answerPhoneFile(req('/k7Qd2fX9aB31/0004f2211c8b-user.cfg', POLYCOM_UA), deps(store));
    assert.equal(a.status, 200);
    const text = a.body.toString('utf8');
    assert.ok(text.includes('Bob-SIP-secret'));
    assert.ok(!text.includes('Alice-SIP-secret'));
    assert.ok(text.includes('reg.1.'), 'Polycom parameter names');
  });

  test('the served files have the golden renders\' shape: every parameter name is one the golden file has', () => {
    for (const [path, ua, golden, want] of [
      ['/k/0015654aa937.cfg', YEALINK_UA, join('yealink', 'T46S', '0015654aa937.cfg'), ['account.1.user_name = 1001', 'account.1.password = Alice-SIP-secret', 'account.2.user_name = 1002', 'account.2.password = Bob-SIP-secret']],
      ['/k/0004f2211c8b-user.cfg', POLYCOM_UA, join('polycom', 'VVX400', '0004f2211c8b-user.cfg'), ['reg.1.address="1002"', 'reg.1.auth.password="Bob-SIP-secret"']],
    ] as const) {
      const text = answerPhoneFile(req(path, ua), deps(store)).body.toString('utf8');
      const names = paramNames(readFileSync(join(GOLDEN, golden), 'utf8'));
      assert.ok(paramNames(text).size > 10, `${path}: parameters found`);
      for (const name of paramNames(text)) assert.ok(names.has(name), `${path}: ${name} is not in ${golden}`);
      for (const l of want) assert.ok(text.includes(l), `${path}: ${l}`);
    }
  });

  test('common files: rendered without secrets, not sensitive, no event line', () => {
    for (const [path, ua] of [
      ['/k/y000000000000.boot', YEALINK_UA],
      ['/k/y000000000066.cfg', YEALINK_UA],
      ['/k/000000000000.cfg', POLYCOM_UA],
    ] as const) {
      const a = answerPhoneFile(req(path, ua), deps(store));
      assert.equal(a.status, 200, path);
      assert.equal(a.outcome, 'served');
      assert.deepEqual(a.events, []);
      const text = a.body.toString('utf8');
      assert.ok(!text.includes('Adm1n-pass') && !text.includes('SIP-secret'), path);
    }
  });

  test('unknown common file → 404 unknown-common, not a failure', () => {
    const a = answerPhoneFile(req('/k/000000000000-license.cfg', POLYCOM_UA), deps(store));
    assert.equal(a.status, 404);
    assert.equal(a.outcome, 'unknown-common');
    assert.equal(a.failure, false);
    assert.deepEqual(a.events, []);
  });

  test('ETag / If-None-Match → 304; same inputs, same bytes', () => {
    const a = answerPhoneFile(req('/k/0015654aa937.cfg', YEALINK_UA), deps(store));
    const b = answerPhoneFile(req('/k/0015654aa937.cfg', YEALINK_UA, '192.0.2.50', a.headers.etag), deps(store));
    assert.equal(b.status, 304);
    assert.equal(b.outcome, 'not-modified');
    assert.equal(b.body.length, 0);
    const c = answerPhoneFile(req('/k/0015654aa937.cfg', YEALINK_UA, '192.0.2.50', '"other"'), deps(store));
    assert.equal(c.status, 200);
    assert.ok(c.body.equals(a.body));
  });

  test('MAC conflict (User-Agent vs path) → 404 and an event line', () => {
    const a = answerPhoneFile(req('/k/0015654aa938.cfg', YEALINK_UA), deps(store));
    assert.equal(a.status, 404);
    assert.equal(a.outcome, 'mac-conflict');
    assert.equal(a.failure, true);
    assert.equal(a.events.length, 1);
    assert.match(a.events[0] ?? '', /reason=phone-mac-conflict/);
  });

  test('a device recorded under another vendor gets no file of this vendor', () => {
    const a = answerPhoneFile(req('/k/0004f2211c8b.cfg', 'Yealink SIP-T46S 66.86.0.15 00:04:f2:21:1c:8b'), deps(store));
    assert.equal(a.status, 404);
    assert.equal(a.outcome, 'unknown-device');
    assert.match(a.events[0] ?? '', /reason=phone-sensitive-refused /);
  });

  test('hostile User-Agents and paths: 404 or a served own file, never a throw, lines stay one line', () => {
    const hostile = [
      'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37\nip=1.2.3.4',
      `Yealink SIP-T46S ${'9'.repeat(600)} 00:15:65:4a:a9:37`,
      'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37 tenant=evil',
      '\u0000\u202e',
    ];
    for (const ua of hostile) {
      const a = answerPhoneFile(req('/k/0015654aa939.cfg', ua, '203.0.113.9'), deps(store));
      assert.equal(a.status, 404, JSON.stringify(ua));
      for (const l of a.events) assert.ok(!/[\n\r]/.test(l) && (l.match(/ ip=/g) ?? []).length === 1, l);
    }
    for (const path of ['/k/../../etc/passwd', '/k/%00.cfg', `/k/${'a'.repeat(2000)}.cfg`, '/k/0015654aa937.cfg/..']) {
      assert.equal(answerPhoneFile(req(path, undefined), deps(store)).status, 404, path);
    }
  });

  test('contentTypeFor by extension', () => {
    assert.equal(contentTypeFor('0004132D24.xml'), 'application/xml; charset=utf-8');
    assert.equal(contentTypeFor('snom720-000413922D24.htm'), 'text/html; charset=utf-8');
    assert.equal(contentTypeFor('firmware.rom'), 'application/octet-stream');
  });
});

describe('answerPhoneFile: unknown devices and autoprov modes', () => {
  // An unknown Yealink (OUI of a loaded profile) and an unknown MAC outside every OUI.
  const YEALINK_NEW = { mac: '00:15:65:00:00:01', file: '001565000001.cfg', ua: 'Yealink SIP-T46S 66.86.0.15 00:15:65:00:00:01' };
  const FOREIGN = { mac: '02:00:00:00:00:01', file: '020000000001.cfg', ua: 'Yealink SIP-T46S 66.86.0.15 02:00:00:00:00:01' };
  const TABLE: { mode: AutoprovMode; inventory: boolean; known: boolean; foreign: boolean }[] = [
    { mode: 'off', inventory: true, known: false, foreign: false },
    { mode: 'known', inventory: false, known: false, foreign: false },
    { mode: 'known', inventory: true, known: true, foreign: false },
    { mode: 'oui', inventory: false, known: true, foreign: false },
    { mode: 'all', inventory: false, known: true, foreign: true },
  ];
  for (const row of TABLE) {
    test(`autoprovision ${row.mode}${row.inventory ? ' (MAC in inventory)' : ''}`, () => {
      const store = freshStore();
      try {
        const inv = new Set(row.inventory ? [YEALINK_NEW.mac] : []);
        const d = deps(store, { autoprovision: row.mode, inventory: (m) => inv.has(m) });
        for (const [c, want] of [
          [YEALINK_NEW, row.known],
          [FOREIGN, row.foreign],
        ] as const) {
          const a = answerPhoneFile(req(`/k/${c.file}`, c.ua), d);
          const stored = store.phones.get(c.mac);
          if (want) {
            assert.equal(a.status, 200, c.mac);
            assert.equal(a.created, true);
            assert.equal(stored?.createdBy, 'auto');
            assert.equal(stored?.config, 'auto');
            assert.ok(a.events.some((l) => /reason=phone-device-created /.test(l)));
            assert.ok(!a.body.toString('utf8').includes('Adm1n-pass'), 'autoprov config, not the default');
          } else {
            assert.equal(a.status, 404, c.mac);
            assert.equal(a.outcome, 'unknown-device');
            assert.equal(a.failure, true);
            assert.equal(stored, undefined);
            assert.ok(a.events.some((l) => /reason=phone-sensitive-refused /.test(l)));
          }
        }
      } finally {
        store.close();
      }
    });
  }

  test('a device of another tenant is not found and not re-created', () => {
    const store = freshStore();
    try {
      store.phones.putConfig({ tenant: 'other', id: 'o', raw: {}, role: 'default' }, T0);
      const a = answerPhoneFile(req('/k/0015654aa937.cfg', YEALINK_UA), deps(store, { tenant: { name: 'other', attributes: {} }, autoprovision: 'all' }));
      assert.equal(a.status, 404);
      assert.equal(store.phones.get(YEALINK_MAC)?.tenant, 'acme');
    } finally {
      store.close();
    }
  });
});

describe('answerPhoneFile: NAT mode and the password window', () => {
  test('without a MAC, a common file finds the device by IP (observe), unless NAT mode', () => {
    const store = freshStore();
    try {
      store.phones.observe(POLYCOM_MAC, { ip: '192.0.2.77' }, T0);
      const a = answerPhoneFile(req('/k/000000000000.cfg', POLYCOM_UA, '192.0.2.77'), deps(store));
      assert.equal(a.observe?.mac, POLYCOM_MAC);
      const b = answerPhoneFile(req('/k/000000000000.cfg', POLYCOM_UA, '192.0.2.77'), deps(store, { natMode: true }));
      assert.equal(b.status, 200);
      assert.equal(b.observe, undefined);
    } finally {
      store.close();
    }
  });

  test('a MAC-named file is never answered by IP: another MAC at the device\'s address is unknown', () => {
    const store = freshStore();
    try {
      store.phones.observe(YEALINK_MAC, { ip: '192.0.2.78' }, T0);
      const a = answerPhoneFile(req('/k/001565000002.cfg', undefined, '192.0.2.78'), deps(store));
      assert.equal(a.status, 404);
      assert.equal(a.outcome, 'unknown-device');
    } finally {
      store.close();
    }
  });

  const at = (ms: number) => () => new Date(Date.parse(T0) + ms);
  const TABLE: { name: string; key: string | undefined; now: () => Date; window: number | undefined; secrets: boolean }[] = [
    { name: 'no key, inside the window', key: undefined, now: at(5 * 60_000), window: 30, secrets: true },
    { name: 'no key, outside the window', key: undefined, now: at(2 * 3600_000), window: 30, secrets: false },
    { name: 'no key, before the addition (clock skew)', key: undefined, now: at(-60_000), window: 30, secrets: false },
    { name: 'no key, no window configured', key: undefined, now: at(2 * 3600_000), window: undefined, secrets: true },
    { name: 'keyed tenant, outside the window', key: 'k7Qd2fX9aB31', now: at(2 * 3600_000), window: 30, secrets: true },
  ];
  for (const row of TABLE) {
    test(`password window: ${row.name}`, () => {
      const store = freshStore();
      try {
        const a = answerPhoneFile(req('/0015654aa937.cfg', YEALINK_UA), deps(store, { tenant: { name: 'acme', attributes: {}, urlKey: row.key }, now: row.now, passwordWindow: row.window }));
        assert.equal(a.status, 200);
        const text = a.body.toString('utf8');
        assert.equal(text.includes('Alice-SIP-secret'), row.secrets);
        assert.equal(text.includes('Adm1n-pass'), row.secrets);
        assert.ok(text.includes('1001'), 'the lines stay, only the secrets go');
        assert.equal(a.outcome, row.secrets ? 'served' : 'secrets-withheld');
        assert.equal(a.failure, !row.secrets);
        assert.match(a.events[0] ?? '', row.secrets ? /reason=phone-sensitive-served/ : /reason=phone-secrets-withheld/);
      } finally {
        store.close();
      }
    });
  }

  test('an assignment or a reset opens the window again', () => {
    const store = freshStore();
    try {
      const later = '2026-11-27T15:00:00.000Z';
      store.phones.update(YEALINK_MAC, { reset: true }, later);
      const now = () => new Date(Date.parse(later) + 10 * 60_000);
      const a = answerPhoneFile(req('/0015654aa937.cfg', YEALINK_UA), deps(store, { tenant: { name: 'acme', attributes: {} }, now, passwordWindow: 30 }));
      assert.equal(a.outcome, 'served');
      assert.ok(a.body.toString('utf8').includes('Alice-SIP-secret'));
    } finally {
      store.close();
    }
  });
});

describe('answerPhoneFile: event lines and fail2ban', () => {
  const fail2banRegex = spawnSync('fail2ban-regex', ['--help'], { encoding: 'utf8' }).status === 0;
  test('every phone event line is matched by the shipped fail2ban filter', { skip: fail2banRegex ? false : 'fail2ban-regex not installed (Debian package fail2ban)' }, () => {
    const store = freshStore();
    try {
      const lines = [
        ...answerPhoneFile(req('/k/0015654aa937.cfg', YEALINK_UA, '198.51.100.4'), deps(store)).events,
        ...answerPhoneFile(req('/k/0015654aa938.cfg', YEALINK_UA, '198.51.100.4'), deps(store)).events,
        ...answerPhoneFile(req('/k/001565000001.cfg', undefined, '2001:db8::4'), deps(store, { autoprovision: 'all' })).events,
      ];
      assert.equal(lines.length, 4); // served, conflict, created + served
      const log = join(TMP, 'events.log');
      writeFileSync(log, `${lines.join('\n')}\n`);
      const r = spawnSync('fail2ban-regex', ['-v', log, FILTER], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Lines: 4 lines, 0 ignored, 4 matched, 0 missed/);
      assert.match(r.stdout, /198\.51\.100\.4/);
      assert.match(r.stdout, /2001:db8::4/);
    } finally {
      store.close();
    }
  });
});
