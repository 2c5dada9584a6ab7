/**
 * phones-pg.test.ts: the SIP phone repository on a shared store (PostgreSQL, issue 16 item 3):
 * the kept-in-memory view (src/store/phonemirror.ts) of two stores (two nodes) on one real
 * PostgreSQL server (test/helpers/postgres.ts; skipped with a message where it cannot start).
 * A config and a phone written through node A are known to node B (and to a store opened later);
 * an update and a deletion on B reach A; the view refuses what the embedded store refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPostgresStore, type PostgresOptions } from '../src/store/postgres';
import { hashPassword } from '../src/identity/passwords';
import { parseConfigText } from '../src/config/load';
import { configProblems } from './helpers/config';
import { hashKey } from '../src/identity/keys';
import type { Store } from '../src/store/repository';
import { usePostgres } from './helpers/postgres';
import { waitFor } from './helpers/netns';
import { runCli, startDaemon, type Running } from './helpers/daemon';

const pgs = usePostgres('phones');
const tmp = pgs.tmp;

/** freshDb makes an empty database and the options of a store with the phone view on it (and the database's name). */
async function freshDb(): Promise<PostgresOptions & { name: string }> {
  return { ...(await pgs.freshDb()), phones: true };
}

const MAC = '00:15:65:aa:bb:01';

test('a phone and its config written on node A are known to node B; an update and a deletion on B reach A', async (t) => {
  if (pgs.skip !== false) return t.skip(pgs.skip);
  const opts = await freshDb();
  const a = await openPostgresStore(opts);
  const b = await openPostgresStore(opts);
  const stores: Store[] = [a, b];
  try {
    a.phones.putConfig({ tenant: 'a.example', id: 'base', raw: { sip_proxy: 'pbx.a.example' }, role: 'default' });
    a.phones.putConfig({ tenant: 'a.example', id: 'desk', parents: ['base'], raw: { line: 1 } });
    const added = a.phones.add({ mac: '00-15-65-AA-BB-01', tenant: 'a.example', profile: 'yealink', config: 'desk', users: ['alice'] });
    assert.equal(added.mac, MAC, 'the view answers at once, as the embedded store does');
    const seen = await waitFor('node B to know the phone', () => b.phones.get(MAC), 15_000);
    assert.equal(seen.config, 'desk');
    assert.deepEqual(seen.users, ['alice']);
    assert.deepEqual(b.phones.getConfig('a.example', 'desk')?.parents, ['base']);
    assert.deepEqual(b.phones.getConfig('a.example', 'base')?.raw, { sip_proxy: 'pbx.a.example' });
    assert.equal(b.phones.count({ tenant: 'a.example' }), 1);
    // The view refuses what the embedded store refuses (the MAC is recorded).
    assert.throws(() => b.phones.add({ mac: MAC, tenant: 'a.example', profile: 'yealink' }), (e: unknown) => (e as { code?: string }).code === 'PROVD_ERR_PHONE_STORE');
    b.phones.update(MAC, { users: ['alice', 'bob'] });
    b.phones.observe(MAC, { ip: '192.0.2.40', version: '86.1' });
    await waitFor('node A to see node B update', () => (a.phones.get(MAC)?.users.length === 2 && a.phones.get(MAC)?.ip === '192.0.2.40' ? true : undefined), 15_000);
    // A store opened later (a node starting) loads the view at open.
    const c = await openPostgresStore(opts);
    stores.push(c);
    assert.equal(c.phones.get(MAC)?.version, '86.1');
    assert.equal(b.phones.delete(MAC), true);
    await waitFor('node A to drop the phone deleted on B', () => (a.phones.get(MAC) === undefined ? true : undefined), 15_000);
    assert.equal(a.phones.deleteConfig('a.example', 'desk'), true);
    await waitFor('node C to drop the config deleted on A', () => (c.phones.getConfig('a.example', 'desk') === undefined ? true : undefined), 15_000);
    assert.equal(Number((await pgs.server?.sql(opts.name, 'SELECT COUNT(*) AS n FROM phone_devices'))?.[0]?.['n']), 0);
    assert.equal(a.stats?.()['store-pg-phone-write-errors'], 0);
  } finally {
    for (const s of stores) await s.close();
  }
});

test('the phone room synchronous reads on PostgreSQL: the provisioning keys and the store users the phones name (Store.sync)', async (t) => {
  if (pgs.skip !== false) return t.skip(pgs.skip);
  const opts = await freshDb();
  const a = await openPostgresStore(opts);
  const b = await openPostgresStore(opts);
  try {
    assert.equal(b.sync?.users.get('a.example', 'alice'), undefined);
    await a.users.add({ domain: 'a.example', name: 'Alice', passwordHash: await hashPassword('pw', 10), attributes: { sip_password: 's3cret' } });
    await a.users.add({ domain: 'a.example', name: 'carol', passwordHash: await hashPassword('pw', 10), attributes: { ext: '3' } });
    await a.keys.rotate('a.example', hashKey('key-1'), '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
    a.phones.add({ mac: '00:15:65:aa:bb:03', tenant: 'a.example', profile: 'yealink', users: ['alice'] });
    const alice = await waitFor('node B to know the user the phone names', () => b.sync?.users.get('a.example', 'ALICE'), 15_000);
    assert.deepEqual(alice.attributes, { sip_password: 's3cret' });
    assert.equal(b.sync?.users.get('a.example', 'carol'), undefined, 'a user no phone names is not kept');
    assert.equal(b.sync?.keys.list()[0]?.hash, hashKey('key-1'));
    // The view re-reads only what changed (row versions): a changed user, a user a phone comes to
    // name, a user removed, a new key, all reach node B; the phone itself did not change.
    assert.equal(await a.users.setAttributes('a.example', 'alice', { sip_password: 'n3w' }), true);
    await waitFor('node B to see alice changed', () => (b.sync?.users.get('a.example', 'alice')?.attributes['sip_password'] === 'n3w' ? true : undefined), 15_000);
    a.phones.update('00:15:65:aa:bb:03', { users: ['alice', 'carol'] });
    await waitFor('node B to know carol, now named', () => b.sync?.users.get('a.example', 'carol'), 15_000);
    assert.equal(await a.users.remove('a.example', 'alice'), true);
    await waitFor('node B to drop alice', () => (b.sync?.users.get('a.example', 'alice') === undefined ? true : undefined), 15_000);
    assert.deepEqual(b.phones.get('00:15:65:aa:bb:03')?.users, ['alice', 'carol']);
    await a.keys.rotate('a.example', hashKey('key-2'), '2026-01-02T00:00:00.000Z', '2026-01-02T00:00:00.000Z');
    await waitFor('node B to see the new key', () => (b.sync?.keys.list().some((k) => k.hash === hashKey('key-2')) ? true : undefined), 15_000);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a write is kept in the view and written through on close (a node stopping right after a write)', async (t) => {
  if (pgs.skip !== false) return t.skip(pgs.skip);
  const opts = await freshDb();
  const a = await openPostgresStore(opts);
  a.phones.add({ mac: '00:15:65:aa:bb:02', tenant: 'a.example', profile: 'polycom' });
  await a.close();
  const b = await openPostgresStore(opts);
  try {
    assert.equal(b.phones.get('00:15:65:aa:bb:02')?.profile, 'polycom');
  } finally {
    await b.close();
  }
});

test('a PostgreSQL store opened without phones refuses them (the view is loaded only where asked)', async (t) => {
  if (pgs.skip !== false) return t.skip(pgs.skip);
  const s = await openPostgresStore({ ...(await freshDb()), phones: false });
  try {
    assert.throws(() => s.phones.get(MAC), (e: unknown) => (e as { code?: string }).code === 'PROVD_ERR_STORE');
  } finally {
    await s.close();
  }
});

/** phoneConf writes a daemon configuration with phones served over HTTP from the shared store. */
function phoneConf(name: string, url: string, autoprovision: 'all' | 'off'): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `stateDir: ${join(tmp, `${name}-state`)}
http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}
dhcp: {enabled: false}
mdns: {enabled: false}
store: {url: '${url}'}
provisioning:
  defaultDomain: lab.example
  passwords: {scryptCost: 10}
  tenants:
    lab.example:
      auth: none
      users:
        carol: {password: "plain:carol pw", attributes: {sip_username: "2001", sip_password: "Carol-SIP-secret", display_name: Carol}}
phones:
  enabled: true
  autoprovision: ${autoprovision}
  configs:
    - {id: lab, tenant: lab.example, role: default, raw: {sip_proxy_ip: 192.0.2.20}}
    - {id: auto, tenant: lab.example, role: autoprov, raw: {sip_proxy_ip: 192.0.2.21, ntp_ip: 192.0.2.121}}
`,
  );
  return file;
}

async function serve(cfg: string): Promise<{ d: Running; port: number }> {
  const d = startDaemon(['run', '--config', cfg]);
  try {
    const serving = await d.waitForLog('HTTP face serving', 30_000);
    return { d, port: Number(serving['port']) };
  } catch (err) {
    d.child.kill('SIGKILL');
    throw new Error(`${String(err)}\n${d.stdout()}\n${d.stderr()}`);
  }
}

test('two daemons on one PostgreSQL: a phone auto-created through node A is known to node B (its device row, its config)', async (t) => {
  if (pgs.skip !== false) return t.skip(pgs.skip);
  const { url, name } = await pgs.freshDb();
  const a = await serve(phoneConf('phone-a', url, 'all'));
  const cfgB = phoneConf('phone-b', url, 'off');
  const b = await serve(cfgB);
  const get = (port: number): Promise<Response> => fetch(`http://127.0.0.1:${port}/0015650000a1.cfg`, { headers: { 'user-agent': 'Yealink SIP-T46S 66.86.0.15 00:15:65:00:00:a1' } });
  try {
    const before = await get(b.port);
    assert.equal(before.status, 404, 'node B creates no phone (autoprovision: off)');
    await before.text();
    const ra = await get(a.port);
    const bodyA = await ra.text();
    assert.equal(ra.status, 200, bodyA);
    assert.match(bodyA, /auto_provision\.server\.url = http:\/\/127\.0\.0\.1:/);
    const rows = await waitFor('the device row in PostgreSQL', async () => {
      const r = await pgs.server?.sql(name, "SELECT tenant, config, created_by FROM phone_devices WHERE mac = '00:15:65:00:00:a1'");
      return r !== undefined && r.length === 1 ? r : undefined;
    }, 15_000);
    assert.deepEqual(rows[0], { tenant: 'lab.example', config: 'auto', created_by: 'auto' });
    const bodyB = await waitFor('node B to serve the phone node A created', async () => {
      const r = await get(b.port);
      const text = await r.text();
      return r.status === 200 ? text : undefined;
    }, 15_000, 250);
    const port = (text: string, p: number): string => text.replaceAll(`127.0.0.1:${p}/`, '127.0.0.1:PORT/');
    assert.equal(port(bodyB, b.port), port(bodyA, a.port), 'node B renders the same file from the same rows (its own URL aside)');
    // The CLI on node B's configuration gives the phone a line: node A serves it.
    const set = await runCli(['devices', 'set', '00:15:65:00:00:a1', '--user', 'carol', '--config', cfgB]);
    assert.equal(set.code, 0, set.stderr);
    await waitFor('node A to serve the line set through node B', async () => {
      const r = await get(a.port);
      const text = await r.text();
      return r.status === 200 && text.includes('Carol-SIP-secret') ? true : undefined;
    }, 15_000, 250);
  } finally {
    a.d.child.kill('SIGTERM');
    b.d.child.kill('SIGTERM');
    await Promise.all([a.d.exited, b.d.exited]);
  }
});

test('configuration: phones.enabled, sip.enabled and tftp.enabled with store.url are accepted (each face opens the shared store)', () => {
  const base = "store: {url: 'postgres://provisiond@db.example/provisiond'}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nphones: {enabled: true}\n";
  assert.equal(parseConfigText(base, 'c.yaml').phones.enabled, true);
  for (const face of ['sip', 'tftp']) assert.deepEqual(configProblems(`${base}${face}: {enabled: true}\n`), [], face);
});

test('the store down: a phone write is answered from the view at once, counted, retried, and reaches the store once it is back', async (t) => {
  if (pgs.skip !== false) return t.skip(pgs.skip);
  const opts = await freshDb();
  const a = await openPostgresStore(opts);
  try {
    pgs.server?.halt();
    let resumed = false;
    try {
      const added = a.phones.add({ mac: '00:15:65:aa:bb:09', tenant: 'a.example', profile: 'yealink' });
      assert.equal(added.mac, '00:15:65:aa:bb:09');
      assert.equal(a.phones.get('00:15:65:aa:bb:09')?.profile, 'yealink', 'the view holds it meanwhile');
      await waitFor('a failed write-through', () => ((a.stats?.()['store-pg-phone-write-errors'] ?? 0) > 0 ? true : undefined), 20_000);
      pgs.server?.resume();
      resumed = true;
    } finally {
      if (!resumed) pgs.server?.resume();
    }
    await waitFor('the retried write in PostgreSQL', async () => {
      const r = await pgs.server?.sql(opts.name, "SELECT profile FROM phone_devices WHERE mac = '00:15:65:aa:bb:09'");
      return r?.[0]?.['profile'] === 'yealink' ? true : undefined;
    }, 30_000, 250);
  } finally {
    await a.close();
  }
});
