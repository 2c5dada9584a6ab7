/**
 * status-ui.test.ts: the status page (src/status/ui.ts) over fastify's inject: sign-in and its
 * CSRF, refused tokens (counted, no data), escaping, tenant scoping, the write scope for Lift,
 * bounded search paging, logout. The real browser drives it in status-browser.test.ts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { registerUi, type UiDeps, type Grant } from '../src/status/ui';
import { ActivityLog } from '../src/status/activity-log';
import { BanList } from '../src/limits/bans';
import type { Device } from '../src/store/repository';
import { SessionTable } from '../src/status/sessions';
import { captureLog } from './helpers/log';

const TOKENS: Record<string, Grant> = {
  'tok-all-write': { tenant: null, scopes: ['read', 'write'] },
  'tok-all-read': { tenant: null, scopes: ['read'] },
  'tok-a-write': { tenant: 'a.example', scopes: ['read', 'write'] },
  'tok-none': { tenant: null, scopes: ['metrics'] },
};

function device(key: string, tenant: string, hostname: string, lastSeen = '2026-11-28T03:00:00.000Z'): Device {
  return {
    key,
    uuid: key.slice(5),
    hwaddr: null,
    ip: '10.0.0.9',
    hostname,
    osname: 'Linux',
    arch: null,
    build: null,
    userAgent: null,
    username: `u@${tenant}`,
    tenant,
    firstSeen: lastSeen,
    lastSeen,
    lastOutcome: '200 ok',
    requests: 1,
    failures: 0,
    lastFailureAt: null,
    lastFailure: null,
  };
}

interface Lab {
  readonly app: FastifyInstance;
  readonly bans: BanList;
  readonly failures: string[];
  readonly counters: Map<string, number>;
  readonly recent: ActivityLog;
}

async function lab(devices: Device[], opts: { pageSize?: number; list?: () => Promise<Device[]>; find?: UiDeps['devices']['find']; now?: () => number } = {}): Promise<Lab> {
  const app = Fastify();
  const bans = new BanList({ maxRetry: 1, findTime: 600, banTime: 600, trusted: [] });
  const failures: string[] = [];
  const counters = new Map<string, number>();
  const recent = new ActivityLog(opts.now ? { now: opts.now } : {});
  const deps: UiDeps = {
    verifyToken: async (t) => {
      if (t === 'tok-throws') throw new Error('token store down (test)');
      return TOKENS[t];
    },
    devices: { list: opts.list ?? (async () => devices), ...(opts.find ? { find: opts.find } : {}) },
    bans: () => [{ face: 'http', control: { list: () => bans.list(), lift: (m) => bans.lift(m) } }, { face: 'tftp', control: undefined }],
    faces: () => [
      { name: 'http', state: 'listening' },
      { name: 'dhcp', state: 'stopped' },
    ],
    recent,
    log: captureLog('info').log,
    onLoginFailure: (ip) => failures.push(ip),
    count: (n) => counters.set(n, (counters.get(n) ?? 0) + 1),
    options: { pageSize: opts.pageSize ?? 25, ...(opts.now ? { now: opts.now } : {}) },
  };
  await registerUi(app, deps);
  await app.ready();
  return { app, bans, failures, counters, recent };
}

function setCookies(r: LightMyRequestResponse): string[] {
  const h = r.headers['set-cookie'];
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

function cookieValue(r: LightMyRequestResponse, name: string): string | undefined {
  for (const c of setCookies(r)) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(c);
    if (m) return m[1];
  }
  return undefined;
}

function csrfOf(body: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(body);
  assert.ok(m?.[1], 'a csrf field');
  return m[1];
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** signIn runs the login form; it returns the session cookie header. */
async function signIn(app: FastifyInstance, token: string): Promise<string> {
  const page = await app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  const form = cookieValue(page, 'provd_login') ?? '';
  const r = await app.inject({ method: 'POST', url: '/ui/login', headers: { ...FORM, cookie: `provd_login=${form}` }, payload: new URLSearchParams({ token, csrf: csrfOf(page.body) }).toString() });
  assert.equal(r.statusCode, 303, r.body);
  const s = cookieValue(r, 'provd_session');
  assert.ok(s);
  return `provd_session=${s}`;
}

describe('status page (inject)', () => {
  test('sign-in: a CSRF-checked form; the session cookie is HttpOnly and SameSite=Strict; the page has a strict CSP and no external resource', async () => {
    const l = await lab([device('uuid:1', 'a.example', 'pc-1')]);
    try {
      const page = await l.app.inject({ method: 'GET', url: '/' });
      assert.match(page.body, /<form id="login" method="post" action="\/ui\/login">/);
      assert.doesNotMatch(page.body, /pc-1/, 'no data before sign-in');
      // Without the form's cookie, or with another value: refused (403), no session.
      const noCookie = await l.app.inject({ method: 'POST', url: '/ui/login', headers: FORM, payload: `token=tok-all-read&csrf=${csrfOf(page.body)}` });
      assert.equal(noCookie.statusCode, 403);
      assert.equal(cookieValue(noCookie, 'provd_session'), undefined);
      const cross = await l.app.inject({
        method: 'POST',
        url: '/ui/login',
        headers: { ...FORM, cookie: `provd_login=${cookieValue(page, 'provd_login') ?? ''}`, origin: 'http://evil.example', host: 'admin.local' },
        payload: `token=tok-all-read&csrf=${csrfOf(page.body)}`,
      });
      assert.equal(cross.statusCode, 403, 'another origin');
      assert.equal(l.counters.get('ui-csrf-refused'), 2);
      const r = await l.app.inject({ method: 'POST', url: '/ui/login', headers: { ...FORM, cookie: `provd_login=${cookieValue(page, 'provd_login') ?? ''}` }, payload: `token=tok-all-read&csrf=${csrfOf(page.body)}` });
      assert.equal(r.statusCode, 303);
      const c = setCookies(r).find((x) => x.startsWith('provd_session='));
      assert.match(c ?? '', /; HttpOnly; SameSite=Strict; Max-Age=\d+/);
      const dash = await l.app.inject({ method: 'GET', url: '/', headers: { cookie: `provd_session=${cookieValue(r, 'provd_session') ?? ''}` } });
      assert.equal(dash.statusCode, 200);
      assert.match(dash.body, /pc-1/);
      const csp = String(dash.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'; script-src 'nonce-[^']+'; style-src 'nonce-[^']+'/);
      assert.doesNotMatch(dash.body, /\bsrc="|href="(https?:)?\/\//, 'no external script, style or link');
      assert.equal(l.counters.get('ui-logins'), 1);
    } finally {
      await l.app.close();
    }
  });

  test('a refused token shows an error and no data, is counted and handed to onLoginFailure; a token without read scope is refused too', async () => {
    const l = await lab([device('uuid:1', 'a.example', 'pc-1')]);
    try {
      for (const token of ['wrong', 'tok-none', 'x'.repeat(600)]) {
        const page = await l.app.inject({ method: 'GET', url: '/' });
        const r = await l.app.inject({ method: 'POST', url: '/ui/login', headers: { ...FORM, cookie: `provd_login=${cookieValue(page, 'provd_login') ?? ''}` }, payload: new URLSearchParams({ token, csrf: csrfOf(page.body) }).toString() });
        assert.equal(r.statusCode, 401);
        assert.match(r.body, /id="login-error"/);
        assert.doesNotMatch(r.body, /pc-1|id="live"/);
        assert.equal(cookieValue(r, 'provd_session'), undefined);
      }
      assert.deepEqual(l.failures, ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
      // A token check that fails is not a refused token: 503, not counted against the source.
      const page = await l.app.inject({ method: 'GET', url: '/' });
      const down = await l.app.inject({ method: 'POST', url: '/ui/login', headers: { ...FORM, cookie: `provd_login=${cookieValue(page, 'provd_login') ?? ''}` }, payload: `token=tok-throws&csrf=${csrfOf(page.body)}` });
      assert.equal(down.statusCode, 503);
      assert.match(down.body, /cannot be checked now/);
      assert.equal(l.failures.length, 3);
      assert.equal(l.counters.get('ui-login-failures'), 3);
      // Without a session: the live part is 401, a POST is refused.
      assert.equal((await l.app.inject({ method: 'GET', url: '/ui/live' })).statusCode, 401);
      assert.equal((await l.app.inject({ method: 'POST', url: '/ui/bans/lift', headers: FORM, payload: 'face=http&scope=ip&subject=1.2.3.4' })).statusCode, 401);
      assert.equal((await l.app.inject({ method: 'GET', url: '/', headers: { cookie: 'provd_session=forged' } })).body.includes('id="login"'), true);
    } finally {
      await l.app.close();
    }
  });

  test('everything from outside is escaped: a <script> hostname, user and search show as text', async () => {
    const evil = '<script>alert(1)</script>"\'&';
    const l = await lab([device('uuid:1', 'a.example', evil)]);
    try {
      l.recent.record({ face: 'http', outcome: 'bad-credentials', ok: false, status: 401, at: Date.now(), user: '<img src=x onerror=alert(2)>@a.example', tenant: 'a.example', reason: '<b>r</b>' });
      const cookie = await signIn(l.app, 'tok-all-read');
      const dash = await l.app.inject({ method: 'GET', url: `/?q=${encodeURIComponent('<script>')}`, headers: { cookie } });
      assert.equal(dash.statusCode, 200);
      assert.ok(!dash.body.includes('<script>alert'), 'no live script tag');
      assert.ok(!dash.body.includes('<img'), 'no live img tag');
      assert.ok(dash.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;'), 'the hostname as text');
      assert.ok(dash.body.includes('value="&lt;script&gt;"'), 'the search box value escaped');
      assert.equal((dash.body.match(/<script/g) ?? []).length, 1, 'only the page\'s own script');
    } finally {
      await l.app.close();
    }
  });

  test('a tenant token sees only its devices, failures, counts and user bans; Lift needs the write scope and the CSRF token', async () => {
    const l = await lab([device('uuid:a1', 'a.example', 'host-of-a'), device('uuid:b1', 'b.example', 'host-of-b')]);
    try {
      const t = Date.now();
      l.recent.record({ face: 'http', outcome: 'bad-credentials', ok: false, status: 401, at: t, user: 'x@a.example', tenant: 'a.example', reason: 'reason-of-a' });
      l.recent.record({ face: 'http', outcome: 'bad-credentials', ok: false, status: 401, at: t, user: 'y@b.example', tenant: 'b.example', reason: 'reason-of-b' });
      l.bans.fail('192.0.2.1', 'x@a.example');
      l.bans.fail('192.0.2.2', 'y@b.example');
      assert.equal(l.bans.list().length, 4, 'two address bans and two user bans');
      const a = await signIn(l.app, 'tok-a-write');
      const page = await l.app.inject({ method: 'GET', url: '/', headers: { cookie: a } });
      for (const seen of ['host-of-a', 'reason-of-a', 'x@a.example']) assert.ok(page.body.includes(seen), seen);
      for (const unseen of ['host-of-b', 'reason-of-b', 'y@b.example', '192.0.2.1', '192.0.2.2']) assert.ok(!page.body.includes(unseen), unseen);
      const csrf = csrfOf(page.body);
      // A foreign ban cannot be lifted by a tenant token (not found), its own can.
      const foreign = await l.app.inject({ method: 'POST', url: '/ui/bans/lift', headers: { ...FORM, cookie: a }, payload: `csrf=${csrf}&face=http&scope=user&subject=y%40b.example` });
      assert.equal(foreign.headers.location, '/?m=not-found');
      const noCsrf = await l.app.inject({ method: 'POST', url: '/ui/bans/lift', headers: { ...FORM, cookie: a }, payload: 'csrf=nope&face=http&scope=user&subject=x%40a.example' });
      assert.equal(noCsrf.statusCode, 403);
      const own = await l.app.inject({ method: 'POST', url: '/ui/bans/lift', headers: { ...FORM, cookie: a }, payload: `csrf=${csrf}&face=http&scope=user&subject=x%40a.example` });
      assert.equal(own.statusCode, 303);
      assert.equal(own.headers.location, '/?m=lifted');
      assert.deepEqual(l.bans.list().map((b) => b.subject).sort(), ['192.0.2.1', '192.0.2.2', 'y@b.example']);
      const bad = await l.app.inject({ method: 'POST', url: '/ui/bans/lift', headers: { ...FORM, cookie: a }, payload: `csrf=${csrf}&face=http&scope=nope&subject=x` });
      assert.equal(bad.statusCode, 400);
      // A read-only token has no Lift button, and its POST is refused.
      const r = await signIn(l.app, 'tok-all-read');
      const rp = await l.app.inject({ method: 'GET', url: '/', headers: { cookie: r } });
      assert.ok(rp.body.includes('192.0.2.1') && rp.body.includes('host-of-b'), 'an all-tenant token sees everything');
      assert.ok(!rp.body.includes('class="lift"'));
      const refused = await l.app.inject({ method: 'POST', url: '/ui/bans/lift', headers: { ...FORM, cookie: r }, payload: `csrf=${csrfOf(rp.body)}&face=http&scope=ip&subject=192.0.2.1` });
      assert.equal(refused.statusCode, 403);
      assert.equal(l.bans.list().length, 3);
    } finally {
      await l.app.close();
    }
  });

  test('the inventory search is paged (bounded page size) and the page number is clamped; logout ends the session', async () => {
    const many = Array.from({ length: 23 }, (_, i) => device(`uuid:dev-${String(i).padStart(2, '0')}`, 'a.example', i % 2 === 0 ? `even-${i}` : `odd-${i}`, `2026-11-28T03:${String(i).padStart(2, '0')}:00.000Z`));
    const l = await lab(many, { pageSize: 5 });
    try {
      const c = await signIn(l.app, 'tok-all-read');
      const p1 = await l.app.inject({ method: 'GET', url: '/?q=EVEN', headers: { cookie: c } });
      assert.match(p1.body, /12 devices matching “EVEN”; page 1 of 3/);
      assert.equal((p1.body.match(/<tr data-key=/g) ?? []).length, 5);
      assert.ok(p1.body.includes('even-22') && !p1.body.includes('even-12'), 'newest first');
      const p9 = await l.app.inject({ method: 'GET', url: '/ui/live?q=even&page=99', headers: { cookie: c } });
      assert.match(p9.body, /page 3 of 3/);
      assert.equal((p9.body.match(/<tr data-key=/g) ?? []).length, 2);
      const long = await l.app.inject({ method: 'GET', url: `/?q=${'a'.repeat(5000)}`, headers: { cookie: c } });
      assert.equal(long.statusCode, 200);
      const csrf = csrfOf(p1.body);
      const out = await l.app.inject({ method: 'POST', url: '/ui/logout', headers: { ...FORM, cookie: c }, payload: `csrf=${csrf}` });
      assert.equal(out.statusCode, 303);
      assert.match(setCookies(out).join(), /provd_session=; .*Max-Age=0/);
      const after = await l.app.inject({ method: 'GET', url: '/', headers: { cookie: c } });
      assert.ok(after.body.includes('id="login"') && !after.body.includes('even-22'), 'the old cookie opens nothing');
    } finally {
      await l.app.close();
    }
  });

  test('the inventory read is shared: 2 s for every page, 60 s while nothing was answered; a failing read shows that section unavailable and is not kept', async () => {
    let t = 1_800_000_000_000;
    let reads = 0;
    let fail = false;
    const l = await lab([], {
      now: () => t,
      list: async () => {
        reads++;
        if (fail) throw new Error('store busy (test)');
        return [device('uuid:1', 'a.example', 'pc-1')];
      },
    });
    try {
      const c = await signIn(l.app, 'tok-all-read');
      const get = async (): Promise<string> => (await l.app.inject({ method: 'GET', url: '/ui/live', headers: { cookie: c } })).body;
      for (let i = 0; i < 5; i++) assert.match(await get(), /pc-1/);
      assert.equal(reads, 1, 'pages refreshed together share one read');
      t += 5000;
      await get();
      assert.equal(reads, 1, 'nothing answered: still served');
      t += 60_000;
      await get();
      assert.equal(reads, 2, 'at most a minute');
      l.recent.record({ face: 'http', outcome: 'provisioned', ok: true, at: t });
      t += 2000;
      await get();
      assert.equal(reads, 3, 'a request was answered since: read again');
      t += 2000;
      await get();
      assert.equal(reads, 4, 'the last read was taken before the writes settled');
      t += 10_000;
      await get();
      t += 5000;
      await get();
      assert.equal(reads, 5, 'settled: served');
      l.recent.record({ face: 'http', outcome: 'provisioned', ok: true, at: t });
      t += 2000;
      fail = true;
      const r = await l.app.inject({ method: 'GET', url: '/', headers: { cookie: c } });
      assert.equal(r.statusCode, 200);
      assert.match(r.body, /The inventory unavailable: store busy \(test\)/);
      assert.match(r.body, /id="faces-table"/);
      assert.equal(l.counters.get('ui-section-errors'), 1);
      fail = false;
      assert.match(await get(), /pc-1/, 'a failed read is not kept');
      assert.equal(reads, 7);
    } finally {
      await l.app.close();
    }
  });

  test('sessions expire and are bounded (the oldest ends first); only a hash of the cookie is kept', () => {
    let t = 0;
    const table = new SessionTable({ ttlMs: 10_000, max: 3, now: () => t });
    const grant = { tenant: null, scopes: ['read'] };
    const ids = [table.open(grant).id, table.open(grant).id, table.open(grant).id];
    assert.ok(table.get(ids[0]));
    const fourth = table.open(grant).id;
    assert.equal(table.size, 3);
    assert.equal(table.get(ids[0]), undefined, 'the oldest ended');
    assert.equal(table.evicted, 1);
    assert.ok(table.get(fourth) && table.get(ids[2]));
    const kept = [...(table as unknown as { sessions: Map<string, unknown> }).sessions.keys()];
    assert.equal(kept.length, 3);
    assert.ok(!kept.includes(fourth) && kept.every((k) => k.length === 43), 'the keys are SHA-256 digests, not the cookie values');
    t = 10_000;
    assert.equal(table.get(fourth), undefined, 'expired');
    assert.equal(table.get('x'.repeat(500)), undefined);
    assert.equal(table.close(ids[1]), true);
    assert.equal(table.close(ids[1]), false);
  });

  test('with a paged find in the store, one page is read per request (tenant, search, clamped page), never the whole list', async () => {
    const asked: unknown[] = [];
    const l = await lab([], {
      pageSize: 10,
      list: async () => assert.fail('list() must not be read when find() exists'),
      find: async (q) => {
        asked.push(q);
        return { rows: q.offset < 30 ? [device(`uuid:p${q.offset}`, 'a.example', `found-at-${q.offset}`)] : [], total: 25 };
      },
    });
    try {
      const c = await signIn(l.app, 'tok-a-write');
      const r = await l.app.inject({ method: 'GET', url: '/?q=Found&page=7', headers: { cookie: c } });
      assert.match(r.body, /25 devices matching “Found”; page 3 of 3/);
      assert.match(r.body, /found-at-20/);
      assert.deepEqual(asked, [
        { tenant: 'a.example', search: 'found', limit: 10, offset: 60 },
        { tenant: 'a.example', search: 'found', limit: 10, offset: 20 },
      ]);
    } finally {
      await l.app.close();
    }
  });
});
