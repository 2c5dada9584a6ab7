/**
 * phones-resync-events.test.ts: what resync takes from the phones room: each profile's resync
 * and reboot events and body (sip-phones.md §4.1, profile.ts), and a device's line credentials
 * for the digest of a challenged NOTIFY (credentials.ts). The NOTIFY itself:
 * sip-resync.test.ts; end to end: phones-resync.test.ts.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProfile } from '../src/phones/profile';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { syncDeclared } from '../src/phones/service';
import { directoryLookup, lineCredentials } from '../src/phones/credentials';
import { UserDirectory } from '../src/identity/auth';
import { parseConfigText } from '../src/config/load';
import { openSqliteStore } from '../src/store/sqlite';
import { CISCO_SIP } from './helpers/profiles';

const TMP = mkdtempSync(join(tmpdir(), 'provd-resync-events-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

describe('resync events in the profiles', () => {
  test('each shipped vendor: the resync and the reboot event (sip-phones.md §4.1), no body', () => {
    const want: Record<string, [string, string]> = {
      yealink: ['check-sync;reboot=false', 'check-sync;reboot=true'],
      snom: ['check-sync;reboot=false', 'check-sync;reboot=true'],
      gigaset: ['check-sync;reboot=false', 'check-sync;reboot=true'],
      polycom: ['check-sync', 'check-sync'],
      grandstream: ['resync', 'check-sync;reboot=true'],
      fanvil: ['check-sync', 'check-sync;reboot=true'],
      'cisco-spa': ['resync', 'reboot_now'],
    };
    const shipped = loadProfiles(shippedProfilesDir());
    assert.deepEqual(shipped.problems, []);
    assert.deepEqual([...shipped.profiles.keys()].sort(), Object.keys(want).sort());
    for (const [vendor, events] of Object.entries(want)) {
      const p = shipped.profiles.get(vendor);
      assert.deepEqual([p?.resyncEvent, p?.rebootEvent, p?.resyncBody], [...events, undefined], vendor);
    }
  });

  test("no rebootEvent: the resync event reboots too; Cisco's service-control body per action", () => {
    const r = parseProfile(CISCO_SIP, 'cisco-sip/profile.yaml');
    assert.deepEqual(r.problems, []);
    assert.equal(r.profile?.rebootEvent, 'service-control');
    assert.equal(r.profile?.resyncBody?.contentType, 'text/plain');
    assert.equal(r.profile?.resyncBody?.resync[0], 'action=restart');
    assert.equal(r.profile?.resyncBody?.reboot[0], 'action=reset');
  });

  for (const [name, text, path] of [
    ['a reboot event with a space', CISCO_SIP.replace("resyncEvent: 'service-control'", "resyncEvent: 'service-control'\nrebootEvent: 'reboot now'"), 'rebootEvent'],
    ['a body line with a line break (header injection)', CISCO_SIP.replace("reboot: ['action=reset'", 'reboot: ["action=reset\\r\\nVia: x"'), 'resyncBody.reboot[0]'],
    ['an unknown body key', CISCO_SIP.replace('  contentType: text/plain', '  contentType: text/plain\n  charset: utf-8'), 'resyncBody.charset'],
    ['a content type that is not one', CISCO_SIP.replace('  contentType: text/plain', '  contentType: "text/plain\\r\\nX: y"'), 'resyncBody.contentType'],
  ] as const) {
    test(`profile problem: ${name}`, () => {
      const r = parseProfile(text, 'x.yaml');
      assert.equal(r.profile, undefined);
      assert.ok(r.problems.some((p) => p.path === path), JSON.stringify(r.problems));
    });
  }
});

describe('lineCredentials (src/phones/credentials.ts)', () => {
  const cfg = parseConfigText(
    `
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
      users:
        erin: { password: "plain:pw", attributes: { sip_username: "1001", sip_auth_username: "auth1001", sip_password: "Erin-SIP" } }
        nosip: { password: "plain:pw" }
phones:
  enabled: true
  configs:
    - { id: site, role: default, raw: { sip_proxy_ip: 192.0.2.10 } }
    - { id: lines, parents: [site], raw: { sip_lines: { "1": { username: "2002", password: "Cfg-SIP" } } } }
  devices:
    - { mac: "00:02:fd:00:00:01", profile: cisco-spa, users: [erin] }
    - { mac: "00:02:fd:00:00:02", profile: cisco-spa, config: lines }
    - { mac: "00:02:fd:00:00:03", profile: cisco-spa }
    - { mac: "00:02:fd:00:00:04", profile: cisco-spa, users: [nosip] }
    - { mac: "00:02:fd:00:00:05", profile: cisco-spa, config: lines, users: [erin] }
`,
    'test.yaml',
    { skipPhoneProfiles: true },
  );
  const store = openSqliteStore(join(TMP, 'store'));
  after(() => store.close());
  assert.deepEqual(syncDeclared(store.phones, cfg.phones, cfg.provisioning.defaultDomain).problems, []);
  const users = directoryLookup(new UserDirectory(cfg.provisioning, store.users));
  const creds = (mac: string, line?: number): ReturnType<typeof lineCredentials> => lineCredentials(store.phones, users, mac, line);

  test("a user's SIP attributes: username, auth username, password", () => {
    assert.deepEqual(creds('00:02:fd:00:00:01'), { username: '1001', authUsername: 'auth1001', password: 'Erin-SIP' });
  });
  test("no user: the config chain's line 1 (auth username = username)", () => {
    assert.deepEqual(creds('00:02:fd:00:00:02'), { username: '2002', authUsername: '2002', password: 'Cfg-SIP' });
  });
  test("a user over a config line: the user's credentials win", () => {
    assert.deepEqual(creds('00:02:fd:00:00:05'), { username: '1001', authUsername: 'auth1001', password: 'Erin-SIP' });
  });
  test('a user without SIP attributes: the user name, no password', () => {
    assert.deepEqual(creds('00:02:fd:00:00:04'), { username: 'nosip', authUsername: 'nosip', password: '' });
  });
  test('no line at all, an unknown device, line 2: undefined', () => {
    assert.equal(creds('00:02:fd:00:00:03'), undefined);
    assert.equal(creds('00:02:fd:99:99:99'), undefined);
    assert.equal(creds('00:02:fd:00:00:01', 2), undefined);
  });
});
