import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from '../src/store/driver';
import { openSqliteStore, migrate, STORE_FILE } from '../src/store/sqlite';
import { SCHEMA_VERSION } from '../src/store/migrations';
import { canonicalJson, phoneMac } from '../src/store/phones';
import { StoreBusyError, type Store } from '../src/store/repository';
import { ProvError } from '../src/errors';

/** withStore runs f on a fresh store in a temporary stateDir. */
function withStore(f: (s: Store, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-phones-'));
  const s = openSqliteStore(dir);
  try {
    f(s, dir);
  } finally {
    void s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** refused matches a PROVD_ERR_PHONE_STORE whose message matches `re`. */
const refused = (re: RegExp) => (e: unknown): boolean => e instanceof ProvError && e.code === 'PROVD_ERR_PHONE_STORE' && re.test(e.message);

const T = 'example.com';

describe('phoneMac', () => {
  const cases: [string, string | null][] = [
    ['80:5E:C0:AA:BB:01', '80:5e:c0:aa:bb:01'],
    ['80-5e-c0-aa-bb-01', '80:5e:c0:aa:bb:01'],
    ['805EC0AABB01', '80:5e:c0:aa:bb:01'],
    [' 805ec0aabb01 ', '80:5e:c0:aa:bb:01'],
    ['80:5e-c0:aa:bb:01', null],
    ['80:5e:c0:aa:bb', null],
    ['80:5e:c0:aa:bb:0g', null],
    ['', null],
  ];
  for (const [input, want] of cases) {
    test(`${JSON.stringify(input)} → ${want ?? 'refused'}`, async () => {
      if (want === null) assert.throws(() => phoneMac(input), refused(/not a MAC/));
      else assert.equal(phoneMac(input), want);
    });
  }
});

describe('canonicalJson', () => {
  test('sorts keys at any depth, keeps list order', async () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });
  test('refuses values without a JSON form', async () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), refused(/\$\.a: NaN/));
    assert.throws(() => canonicalJson({ a: [new Date(0)] }), refused(/\$\.a\[0\]: a non-plain object/));
    assert.throws(() => canonicalJson({ a: undefined }), refused(/undefined/));
  });
});

describe('phone configs', () => {
  test('put, get, list, replace; JSON stored canonically (byte-stable reads)', async () => {
    withStore((s, dir) => {
      s.phones.putConfig({ tenant: T, id: 'base', raw: { ntp_ip: '192.0.2.1', sip_lines: { '1': { proxy_ip: 'pbx', display_name: 'A' } } }, role: 'default' }, 't1');
      s.phones.putConfig({ tenant: T, id: 'site', parents: ['base'], raw: { timezone: 'Europe/Paris' } }, 't1');
      s.phones.putConfig({ tenant: 'other.org', id: 'base', raw: {} }, 't1');
      assert.deepEqual(s.phones.getConfig(T, 'site'), { tenant: T, id: 'site', parents: ['base'], raw: { timezone: 'Europe/Paris' }, role: 'none', updatedAt: 't1' });
      assert.deepEqual(s.phones.listConfigs().map((c) => `${c.tenant}/${c.id}`), ['example.com/base', 'example.com/site', 'other.org/base']);
      assert.deepEqual(s.phones.listConfigs(T).map((c) => c.id), ['base', 'site']);
      const put = s.phones.putConfig({ tenant: T, id: 'site', parents: ['base'], raw: { vlan_id: 5 } }, 't2');
      assert.deepEqual([put.raw, put.updatedAt], [{ vlan_id: 5 }, 't2']);
      const raw = new Database(join(dir, STORE_FILE), { readonly: true });
      const row = raw.prepare<[], { raw_config: string }>("SELECT raw_config FROM phone_configs WHERE id = 'base' AND tenant = 'example.com'").get();
      raw.close();
      assert.equal(row?.raw_config, '{"ntp_ip":"192.0.2.1","sip_lines":{"1":{"display_name":"A","proxy_ip":"pbx"}}}');
    });
  });

  test('refusals: unknown parent, own parent, duplicate parent, cycle, second default/autoprov, bad role', async () => {
    withStore((s) => {
      s.phones.putConfig({ tenant: T, id: 'a', role: 'default' });
      s.phones.putConfig({ tenant: T, id: 'b', parents: ['a'], role: 'autoprov' });
      s.phones.putConfig({ tenant: T, id: 'c', parents: ['b'] });
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'x', parents: ['nope'] }), refused(/parent 'nope' does not exist/));
      assert.throws(() => s.phones.putConfig({ tenant: 'other.org', id: 'x', parents: ['a'] }), refused(/does not exist in tenant 'other.org'/), 'parents never cross tenants');
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'x', parents: ['x'] }), refused(/own parent/));
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'x', parents: ['a', 'a'] }), refused(/twice/));
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'a', parents: ['c'], role: 'default' }), refused(/cycle a → c → b → a/));
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'c', parents: ['b'], role: 'default' }), refused(/'a' is already the default config/));
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'c', parents: ['b'], role: 'autoprov' }), refused(/'b' is already the autoprov config/));
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'c', role: 'boss' as 'none' }), refused(/role 'boss'/));
      assert.throws(() => s.phones.putConfig({ tenant: T, id: '' }), refused(/config id/));
      // Re-putting the holder with its own role is fine; another tenant has its own default.
      s.phones.putConfig({ tenant: T, id: 'a', role: 'default' });
      s.phones.putConfig({ tenant: 'other.org', id: 'a', role: 'default' });
      assert.deepEqual(s.phones.listConfigs(T).map((c) => [c.id, c.parents, c.role]), [['a', [], 'default'], ['b', ['a'], 'autoprov'], ['c', ['b'], 'none']], 'nothing changed by the refusals');
    });
  });

  test('delete is refused while the config is a parent or assigned to a device', async () => {
    withStore((s) => {
      s.phones.putConfig({ tenant: T, id: 'base' });
      s.phones.putConfig({ tenant: T, id: 'sales', parents: ['base'] });
      s.phones.putConfig({ tenant: T, id: 'ops', parents: ['base'] });
      assert.throws(() => s.phones.deleteConfig(T, 'base'), refused(/'base' is a parent of 'ops', 'sales'/));
      for (let i = 1; i <= 4; i++) s.phones.add({ mac: `00:15:65:00:00:0${i}`, tenant: T, profile: 'yealink', config: 'sales' });
      assert.throws(() => s.phones.deleteConfig(T, 'sales'), refused(/assigned to 4 device\(s\) \(00:15:65:00:00:01, 00:15:65:00:00:02, 00:15:65:00:00:03, …\)/));
      assert.equal(s.phones.deleteConfig(T, 'ops'), true);
      assert.equal(s.phones.deleteConfig(T, 'ops'), false);
      assert.equal(s.phones.deleteConfig('other.org', 'sales'), false, 'another tenant has no such config');
      for (let i = 1; i <= 4; i++) s.phones.update(`00:15:65:00:00:0${i}`, { config: null });
      assert.equal(s.phones.deleteConfig(T, 'sales'), true);
      assert.equal(s.phones.deleteConfig(T, 'base'), true);
      assert.deepEqual(s.phones.listConfigs(), []);
    });
  });
});

describe('phone devices', () => {
  test('add, get, update, delete; MAC normalised; assigned/reset times', async () => {
    withStore((s) => {
      s.phones.putConfig({ tenant: T, id: 'base' });
      const d = s.phones.add({ mac: '00-15-65-4A-A9-37', tenant: T, profile: 'yealink', model: 'T46S', version: '66.86.0.15', serial: 'SN1', ip: '192.0.2.10', users: ['Alice', 'bob'], options: { z: 1, a: true } }, 't1');
      assert.deepEqual(d, {
        mac: '00:15:65:4a:a9:37', tenant: T, profile: 'yealink', model: 'T46S', version: '66.86.0.15', serial: 'SN1', ip: '192.0.2.10', config: null,
        users: ['alice', 'bob'], options: { a: true, z: 1 }, addedAt: 't1', assignedAt: 't1', resetAt: null, firstSeen: null, lastSeen: null,
        previousVersion: null, versionChangedAt: null, createdBy: 'admin',
      });
      assert.deepEqual(s.phones.get('0015654AA937'), d);
      const u = s.phones.update('00:15:65:4a:a9:37', { model: 'T48S', options: { b: 2 } }, 't2');
      assert.deepEqual([u?.model, u?.options, u?.assignedAt, u?.resetAt], ['T48S', { b: 2 }, 't1', null], 'no assignment change: assignedAt kept');
      const v = s.phones.update('0015654aa937', { users: ['bob', 'alice'] }, 't3');
      assert.deepEqual([v?.users, v?.assignedAt], [['bob', 'alice'], 't3'], 'line order kept; a new order is an assignment');
      const w = s.phones.update('0015654aa937', { config: 'base', reset: true }, 't4');
      assert.deepEqual([w?.config, w?.assignedAt, w?.resetAt], ['base', 't4', 't4']);
      assert.equal(s.phones.update('00:00:00:00:00:01', { model: 'x' }), undefined);
      assert.equal(s.phones.delete('00:15:65:4A:A9:37'), true);
      assert.equal(s.phones.delete('00:15:65:4A:A9:37'), false);
      assert.equal(s.phones.get('0015654aa937'), undefined);
    });
  });

  test('refusals: MAC unique across tenants, unknown config (of its own tenant), duplicate user, bad MAC', async () => {
    withStore((s) => {
      s.phones.putConfig({ tenant: 'other.org', id: 'base' });
      s.phones.add({ mac: '00:04:f2:00:00:01', tenant: T, profile: 'polycom', createdBy: 'auto' });
      assert.throws(() => s.phones.add({ mac: '0004F2000001', tenant: T, profile: 'polycom' }), refused(/MAC 00:04:f2:00:00:01 is already recorded$/));
      assert.throws(() => s.phones.add({ mac: '00-04-f2-00-00-01', tenant: 'other.org', profile: 'polycom' }), refused(/already recorded in another tenant/));
      assert.throws(() => s.phones.add({ mac: '00:04:f2:00:00:02', tenant: T, profile: 'polycom', config: 'base' }), refused(/config 'base' does not exist in tenant 'example.com'/));
      assert.throws(() => s.phones.update('00:04:f2:00:00:01', { config: 'base' }), refused(/config 'base' does not exist/));
      assert.throws(() => s.phones.add({ mac: '00:04:f2:00:00:02', tenant: T, profile: 'polycom', users: ['a', 'A'] }), refused(/user 'a' is assigned twice/));
      assert.throws(() => s.phones.add({ mac: '00:04:f2:00:00', tenant: T, profile: 'polycom' }), refused(/not a MAC/));
      assert.deepEqual(s.phones.list().map((d) => [d.mac, d.createdBy, d.assignedAt]), [['00:04:f2:00:00:01', 'auto', null]]);
    });
  });

  test('lookups by serial and by (tenant, ip)', async () => {
    withStore((s) => {
      s.phones.add({ mac: '00:0b:82:00:00:01', tenant: T, profile: 'grandstream', serial: 'S1', ip: '10.0.0.5' });
      s.phones.add({ mac: '00:0b:82:00:00:02', tenant: T, profile: 'grandstream', serial: 'S2', ip: '10.0.0.5' });
      s.phones.add({ mac: '00:0b:82:00:00:03', tenant: 'other.org', profile: 'grandstream', ip: '10.0.0.5' });
      assert.deepEqual(s.phones.getBySerial('S2').map((d) => d.mac), ['00:0b:82:00:00:02']);
      assert.deepEqual(s.phones.getBySerial('S9'), []);
      assert.deepEqual(s.phones.getByIp(T, '10.0.0.5').map((d) => d.mac), ['00:0b:82:00:00:01', '00:0b:82:00:00:02'], 'two behind one NAT: the caller decides');
      assert.deepEqual(s.phones.getByIp('other.org', '10.0.0.5').map((d) => d.mac), ['00:0b:82:00:00:03']);
      assert.deepEqual(s.phones.getByIp(T, '10.0.0.6'), []);
    });
  });

  test('list: filters, stable paging, count', async () => {
    withStore((s) => {
      s.phones.putConfig({ tenant: T, id: 'base' });
      const macs: string[] = [];
      // Inserted in a scrambled order: the listing order is (tenant, mac), not insertion order.
      for (const i of [7, 2, 9, 0, 5, 1, 8, 3, 6, 4]) {
        const mac = `80:5e:c0:00:00:0${i}`;
        macs.push(mac);
        s.phones.add({ mac, tenant: i < 8 ? T : 'other.org', profile: i % 2 === 0 ? 'yealink' : 'snom', model: i % 3 === 0 ? 'T46S' : 'T54W', config: i < 4 ? 'base' : null });
      }
      const all = s.phones.list();
      assert.deepEqual(all.map((d) => d.mac.slice(-1)), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], 'example.com (0-7) then other.org (8, 9), by MAC');
      assert.equal(macs.length, 10);
      const pages: string[] = [];
      for (let off = 0; off < 12; off += 3) pages.push(...s.phones.list({ limit: 3, offset: off }).map((d) => d.mac));
      assert.deepEqual(pages, all.map((d) => d.mac), 'pages concatenate to the whole list, no row twice or lost');
      assert.deepEqual(s.phones.list({ tenant: T, profile: 'yealink' }).map((d) => d.mac.slice(-1)), ['0', '2', '4', '6']);
      assert.deepEqual(s.phones.list({ tenant: T, model: 'T46S', limit: 1, offset: 1 }).map((d) => d.mac.slice(-1)), ['3']);
      assert.deepEqual(s.phones.list({ config: 'base' }).map((d) => d.mac.slice(-1)), ['0', '1', '2', '3']);
      assert.deepEqual([s.phones.count(), s.phones.count({ tenant: 'other.org' }), s.phones.count({ profile: 'snom', tenant: T })], [10, 2, 4]);
      assert.deepEqual(s.phones.list({ limit: 0 }), []);
    });
  });

  test('setProfile: a mass change in one transaction; a failure midway changes nothing', async () => {
    withStore((s, dir) => {
      for (let i = 0; i < 5; i++) s.phones.add({ mac: `00:04:13:00:00:0${i}`, tenant: i < 4 ? T : 'other.org', profile: 'snom-old' });
      s.phones.add({ mac: '00:04:13:00:00:09', tenant: T, profile: 'yealink' });
      assert.equal(s.phones.setProfile('snom-old', 'snom', T), 4);
      assert.deepEqual(s.phones.list().map((d) => d.profile), ['snom', 'snom', 'snom', 'snom', 'yealink', 'snom-old']);
      assert.equal(s.phones.setProfile('nothing', 'snom'), 0);
      // A trigger refuses the change of one row in the middle of the statement.
      const raw = new Database(join(dir, STORE_FILE));
      raw.exec("CREATE TRIGGER refuse_one BEFORE UPDATE OF profile ON phone_devices WHEN OLD.mac = '00:04:13:00:00:02' BEGIN SELECT RAISE(ABORT, 'refused midway'); END;");
      raw.close();
      assert.throws(() => s.phones.setProfile('snom', 'snom-new'), /refused midway/);
      assert.deepEqual(s.phones.list().map((d) => d.profile), ['snom', 'snom', 'snom', 'snom', 'yealink', 'snom-old'], 'no row changed');
    });
  });

  test('observe: ip, first/last seen, model; a firmware change is recorded, the last one kept', async () => {
    withStore((s) => {
      s.phones.add({ mac: '00:15:65:00:00:01', tenant: T, profile: 'yealink', ip: '192.0.2.1' }, 't0');
      assert.equal(s.phones.observe('00:15:65:00:00:99', { ip: '192.0.2.9' }), undefined, 'unknown devices are not created');
      const a = s.phones.observe('001565000001', { ip: '192.0.2.2', version: '66.86.0.15', model: 'T46S' }, 't1');
      assert.deepEqual([a?.versionChanged, a?.device.version, a?.device.previousVersion, a?.device.firstSeen, a?.device.lastSeen, a?.device.ip, a?.device.model], [false, '66.86.0.15', null, 't1', 't1', '192.0.2.2', 'T46S'], 'a first version is no change');
      const b = s.phones.observe('001565000001', { ip: '192.0.2.2', version: '66.86.0.15' }, 't2');
      assert.deepEqual([b?.versionChanged, b?.device.lastSeen, b?.device.model], [false, 't2', 'T46S'], 'an absent model keeps the known one');
      const c = s.phones.observe('001565000001', { ip: '192.0.2.3', version: '66.86.0.20' }, 't3');
      assert.deepEqual([c?.versionChanged, c?.device.version, c?.device.previousVersion, c?.device.versionChangedAt, c?.device.firstSeen], [true, '66.86.0.20', '66.86.0.15', 't3', 't1']);
      const d = s.phones.observe('001565000001', { ip: '192.0.2.3' }, 't4');
      assert.deepEqual([d?.versionChanged, d?.device.version, d?.device.previousVersion, d?.device.versionChangedAt], [false, '66.86.0.20', '66.86.0.15', 't3'], 'no version in the request: nothing changes');
      const e = s.phones.observe('001565000001', { ip: '192.0.2.3', version: '66.87.0.1' }, 't5');
      assert.deepEqual([e?.device.previousVersion, e?.device.versionChangedAt], ['66.86.0.20', 't5'], 'bounded: only the last change is kept');
    });
  });

  test('a lock held by another process is a StoreBusyError, and nothing is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-phones-'));
    const s = openSqliteStore(dir, { busyTimeoutMs: 0 });
    const other = new Database(join(dir, STORE_FILE));
    try {
      s.phones.add({ mac: '00:15:65:00:00:01', tenant: T, profile: 'yealink' });
      other.exec('BEGIN IMMEDIATE');
      assert.throws(() => s.phones.observe('00:15:65:00:00:01', { ip: '192.0.2.2' }), StoreBusyError);
      assert.throws(() => s.phones.setProfile('yealink', 'x'), StoreBusyError);
      assert.throws(() => s.phones.putConfig({ tenant: T, id: 'c' }), StoreBusyError);
      assert.equal(s.phones.get('00:15:65:00:00:01')?.ip, null, 'reads go on (WAL)');
      other.exec('ROLLBACK');
      assert.equal(s.phones.observe('00:15:65:00:00:01', { ip: '192.0.2.2' })?.device.ip, '192.0.2.2');
    } finally {
      other.close();
      s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('phone tables in the migration chain', () => {
  test(`a version-6 store with inventory data gains empty phone tables at ${SCHEMA_VERSION}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-phones-'));
    try {
      const raw = new Database(join(dir, STORE_FILE));
      migrate(raw, 6);
      raw.prepare("INSERT INTO users VALUES ('example.com', 'alice', 'plain:x', '{}', 't0', 't0')").run();
      raw.close();
      const s = openSqliteStore(dir);
      assert.equal(s.schemaVersion, SCHEMA_VERSION);
      assert.equal(s.phones.count(), 0);
      assert.ok((await s.users.get(T, 'alice')));
      s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
