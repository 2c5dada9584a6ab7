/**
 * phones-pg.test.ts: the SIP phone repository on a shared store (PostgreSQL, issue 16 item 3):
 * the kept-in-memory view (src/store/phonemirror.ts) of two stores (two nodes) on one real
 * PostgreSQL server (test/helpers/postgres.ts; skipped with a message where it cannot start).
 * A config and a phone written through node A are known to node B (and to a store opened later);
 * an update and a deletion on B reach A; the view refuses what the embedded store refuses.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgresStore, type PostgresOptions } from '../src/store/postgres';
import { hashPassword } from '../src/identity/passwords';
import { hashKey } from '../src/identity/keys';
import type { Store } from '../src/store/repository';
import { startPostgres, type PgServer } from './helpers/postgres';
import { waitFor } from './helpers/netns';

const POOL = { max: 4, connectTimeout: 3, statementTimeout: 5, maxWaiting: 100 };

let pg: PgServer | undefined;
let skip: string | false = false;

before(async () => {
  const r = await startPostgres();
  if (typeof r === 'string') skip = r;
  else pg = r;
});

after(() => pg?.stop());

async function freshDb(name: string): Promise<PostgresOptions> {
  if (!pg) throw new Error('no server');
  return { url: await pg.createDb(`${name}_${process.pid}`), pool: POOL, phones: true };
}

const MAC = '00:15:65:aa:bb:01';

test('a phone and its config written on node A are known to node B; an update and a deletion on B reach A', async (t) => {
  if (skip !== false) return t.skip(skip);
  const opts = await freshDb('mirror');
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
    assert.equal(Number((await pg?.sql(`mirror_${process.pid}`, 'SELECT COUNT(*) AS n FROM phone_devices'))?.[0]?.['n']), 0);
    assert.equal(a.stats?.()['store-pg-phone-write-errors'], 0);
  } finally {
    for (const s of stores) await s.close();
  }
});

test('the phone room synchronous reads on PostgreSQL: the provisioning keys and the store users the phones name (Store.sync)', async (t) => {
  if (skip !== false) return t.skip(skip);
  const opts = await freshDb('directory');
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
  } finally {
    await a.close();
    await b.close();
  }
});

test('a write is kept in the view and written through on close (a node stopping right after a write)', async (t) => {
  if (skip !== false) return t.skip(skip);
  const opts = await freshDb('closing');
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

test('without phones: true a PostgreSQL store still refuses phones (the daemon does not use the view yet)', async (t) => {
  if (skip !== false) return t.skip(skip);
  const s = await openPostgresStore({ ...(await freshDb('nophones')), phones: false });
  try {
    assert.throws(() => s.phones.get(MAC), (e: unknown) => (e as { code?: string }).code === 'PROVD_ERR_STORE');
  } finally {
    await s.close();
  }
});
