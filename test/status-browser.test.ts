/**
 * status-browser.test.ts: the status page in a real headless Chromium (issue 17, item 6).
 *
 * A real HTTP face (startFace: its own store, real sockets on 127.0.0.1) and the status page
 * plugin on a fastify of its own on 127.0.0.1, wired to the face: its BanList (banControl()),
 * its store's devices, the process's activity bus. Chromium is driven over W3C WebDriver
 * (test/helpers/webdriver.ts). The browser signs in with a token; a test client POSTs /jitsi and
 * the browser sees the device in the inventory and the count in the minute table (by the page's
 * own auto-refresh); wrong passwords ban a user, the browser sees the ban and clicks Lift, and
 * the right password then gets 200. Also: a refused token shows an error and no data, a
 * `<script>` hostname renders as text, and logout ends the session.
 *
 * Skips with a message where Debian's chromium or chromium-driver is absent.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { activity, type Activity } from '../src/activity';
import { ActivityLog } from '../src/status/activity-log';
import { registerUi, type Grant } from '../src/status/ui';
import { BODY_2_10, DOC_UUID, HTTP_LOOPBACK, hashPassword, provisioningYaml, startFace, type TestFace } from './helpers/prov';
import { Browser, browserMissing } from './helpers/webdriver';

const missing = browserMissing();
const TOKEN = 'status-browser-token-all-write';
const TOKENS: Record<string, Grant> = { [TOKEN]: { tenant: null, scopes: ['read', 'write'] } };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const EVIL_UUID = '11111111-2222-3333-4444-555555555555';
const EVIL_HOST = '<script>window.__pwned=1</script>';

describe('status page in headless Chromium', { skip: missing === undefined ? false : `browser test skipped: ${missing}` }, () => {
  let face: TestFace;
  let ui: FastifyInstance;
  let uiUrl = '';
  let browser: Browser;
  let offLog: () => void;
  const seen: Activity[] = [];
  let offSeen: () => void;
  const loginFailures: string[] = [];

  before(async () => {
    const hashes = { alice: await hashPassword('p@ss w0rd!', 10), bob: await hashPassword('bob pw=#!', 10) };
    face = await startFace(`${HTTP_LOOPBACK.replace('rateLimit: {rate: 0}', 'rateLimit: {rate: 0}, bans: {maxRetry: 3, findTime: 60, banTime: 600}')}${provisioningYaml(hashes)}`);
    const recent = new ActivityLog();
    offLog = recent.attach(activity);
    offSeen = activity.on((a) => seen.push(a));
    ui = Fastify();
    await registerUi(ui, {
      verifyToken: async (t) => TOKENS[t],
      devices: face.store.devices,
      bans: () => [{ face: 'http', control: face.face.banControl() }],
      faces: () => [{ name: 'http', state: face.face.port === undefined ? 'stopped' : 'listening' }],
      recent,
      log: face.log,
      onLoginFailure: (ip) => loginFailures.push(ip),
      options: { refreshMs: 1000 },
    });
    await ui.listen({ host: '127.0.0.1', port: 0 });
    const a = ui.server.address();
    uiUrl = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/`;
    browser = await Browser.start();
  });

  after(async () => {
    await browser?.close();
    offLog?.();
    offSeen?.();
    await ui?.close();
    await face?.close();
  });

  const jitsi = (body: string): Promise<Response> => fetch(`${face.url}/jitsi`, { method: 'POST', headers: FORM, body, signal: AbortSignal.timeout(30_000) });

  test('a refused token shows an error and no data', async () => {
    await browser.navigate(uiUrl);
    await browser.type('#token', 'not-a-token');
    await browser.click('#sign-in');
    const err = await browser.waitFor<string>('the sign-in error', `const e = document.getElementById('login-error'); return e ? e.textContent : null;`);
    assert.match(err, /not accepted/);
    assert.equal(await browser.run<boolean>(`return document.getElementById('live') === null && document.getElementById('devices') === null;`), true, 'no data');
    assert.deepEqual(loginFailures, ['127.0.0.1']);
    assert.equal((await browser.cookies()).some((c) => c.name === 'provd_session'), false);
  });

  test('signed in, the browser sees a provisioning made by a test client appear (inventory and minute table)', async () => {
    await browser.navigate(uiUrl);
    await browser.type('#token', TOKEN);
    await browser.click('#sign-in');
    await browser.waitFor('the dashboard', `return document.getElementById('live') !== null;`);
    const session = (await browser.cookies()).find((c) => c.name === 'provd_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await browser.run<string>(`return document.cookie;`), '', 'the session cookie is out of reach of scripts');
    assert.equal(await browser.run<boolean>(`return document.querySelector('tr[data-key="uuid:${DOC_UUID}"]') === null;`), true, 'not provisioned yet');
    assert.match(await browser.text('#faces-table'), /http\s+listening/);

    const r = await jitsi(BODY_2_10);
    assert.equal(r.status, 200);
    const ok = seen.find((a) => a.ok && a.device === `uuid:${DOC_UUID}`);
    assert.ok(ok, 'the face emitted the provisioning');
    // No navigation from here: the page's auto-refresh brings it in.
    const row = await browser.waitFor<string>('the device row', `const r = document.querySelector('tr[data-key="uuid:${DOC_UUID}"]'); return r ? r.innerText : null;`);
    assert.match(row, /DESKTOP-7Q2/);
    assert.match(row, /alice/);
    const cell = await browser.waitFor<string>(
      'the minute table count',
      `const c = document.querySelector('#minutes tbody tr td[data-series="http ' + arguments[0] + '"]'); return c ? c.textContent : null;`,
      60_000,
      ok.outcome,
    );
    assert.equal(cell, '1');
    // The table of the plot's numbers, once opened, stays open across the auto-refresh.
    await browser.click('#minutes-details summary');
    // An idle dashboard is left alone: with nothing new, two refresh periods later the same DOM.
    await browser.run(`document.getElementById('faces').dataset.stale = '1';`);
    const minute = Math.floor(Date.now() / 60_000);
    await new Promise((r) => setTimeout(r, 2500));
    if (Math.floor(Date.now() / 60_000) === minute) {
      // (across a minute boundary the plot moves on, and the page rightly changes)
      assert.equal(await browser.run<string>(`return document.getElementById('faces').dataset.stale;`), '1', 'an unchanged answer does not replace the page');
    }
    // Something new (a second request): the page is replaced.
    await browser.run(`document.getElementById('faces').dataset.stale = '1';`);
    assert.equal((await jitsi(BODY_2_10)).status, 200);
    await browser.waitFor('a refresh', `const f = document.getElementById('faces'); return f !== null && f.dataset.stale === undefined;`);
    assert.equal(await browser.run<boolean>(`return document.getElementById('minutes-details').open;`), true);
    assert.equal(await browser.run<number>(`return document.querySelectorAll('#plot polyline').length;`), 1, 'one series plotted');
  });

  test('a <script> hostname renders as text and never runs', async () => {
    const body = `user=alice%40example.com&password=p%40ss+w0rd%21&uuid=${EVIL_UUID}&hostname=${encodeURIComponent(EVIL_HOST)}`;
    assert.equal((await jitsi(body)).status, 200);
    await browser.navigate(`${uiUrl}?q=${EVIL_UUID}`);
    const host = await browser.waitFor<string>('the device row', `const r = document.querySelector('tr[data-key="uuid:${EVIL_UUID}"] td.hostname'); return r ? r.textContent : null;`);
    assert.equal(host, EVIL_HOST);
    assert.equal(await browser.run<unknown>(`return window.__pwned === undefined;`), true);
    assert.equal(await browser.run<number>(`return document.querySelectorAll('#live script').length;`), 0);
  });

  test('wrong passwords ban a user; the browser sees the ban and lifts it; the right password then gets 200', async () => {
    const wrong = 'user=bob%40example.com&password=wrong-bob&uuid=22222222-2222-2222-2222-222222222222';
    const right = 'user=bob%40example.com&password=bob+pw%3D%23%21&uuid=22222222-2222-2222-2222-222222222222';
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await jitsi(wrong)).status);
    assert.deepEqual(statuses, [401, 401, 401, 429], 'three failures ban the user');
    assert.equal((await jitsi(right)).status, 429, 'banned: even the right password is refused');
    await browser.navigate(uiUrl);
    const ban = 'tr[data-ban="http user bob@example.com"]';
    await browser.waitFor('the ban row', `return document.querySelector('${ban}') !== null;`);
    assert.match(await browser.text(ban), /bob@example\.com/);
    // The failures are listed with their reason.
    assert.match(await browser.text('#failures-table'), /bad-credentials[\s\S]*bob@example\.com/);
    await browser.click(`${ban} button.lift`);
    const msg = await browser.waitFor<string>('the lift notice', `const m = document.getElementById('message'); return m ? m.textContent : null;`);
    assert.equal(msg, 'Ban lifted.');
    assert.equal(await browser.run<boolean>(`return document.querySelector('${ban}') === null;`), true);
    assert.equal(face.face.banControl()?.list().some((b) => b.subject === 'bob@example.com'), false);
    assert.equal((await jitsi(right)).status, 200);
  });

  test('logout ends the session: the login form again, and the old session opens nothing', async () => {
    await browser.navigate(uiUrl);
    const before = (await browser.cookies()).find((c) => c.name === 'provd_session');
    assert.ok(before);
    await browser.click('#logout');
    await browser.waitFor('the login form', `return document.getElementById('login') !== null;`);
    assert.equal((await browser.cookies()).some((c) => c.name === 'provd_session' && c.value !== ''), false);
    const live = await fetch(`${uiUrl}ui/live`, { headers: { cookie: `provd_session=${before.value}` } });
    assert.equal(live.status, 401);
  });
});
