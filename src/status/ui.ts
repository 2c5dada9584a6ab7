/**
 * ui.ts: the status page, a fastify plugin mounted on the admin listener (issue 17, item 6).
 *
 * Routes (in an encapsulated scope of its own, with its own form parser):
 *   GET  /                the dashboard, or the login form without a session (`?q=` searches
 *                         the inventory, `?page=` pages it, `?m=` shows a fixed notice)
 *   GET  /ui/live         the dashboard's live part (the auto-refresh fetches it); 401 without a session
 *   POST /ui/login        token + csrf → a session cookie (HttpOnly, SameSite=Strict, Secure on TLS)
 *   POST /ui/logout       csrf → the session ends
 *   POST /ui/bans/lift    csrf, face, scope, subject → the ban ends (write scope)
 *
 * A token is checked by `deps.verifyToken` (the admin API's tokens); the page keeps a session
 * of its own and never the token. A refused token is counted (`ui-login-failures`), logged and
 * handed to `deps.onLoginFailure(ip)` (the bans). The login form carries a CSRF token of its own
 * (double submit: a short-lived SameSite=Strict cookie and a hidden field); every signed-in
 * form carries the session's. A POST whose Origin names another host is refused as well.
 *
 * Tenant scoping: a tenant's token sees only its tenant's devices, failures, counts and user
 * bans (`name@tenant`); address bans belong to no tenant and only an all-tenant token sees them.
 * Every response carries a CSP with a per-response nonce (the inline style and script) that
 * allows nothing else: no external script, style, font, image or frame.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ActivityLog, TenantView } from './activity-log';
import { SessionTable, newSecret, sameSecret, type Grant, type Session } from './sessions';
import { dashboard, live, loginPage, MESSAGES, type BanRow, type DeviceRow, type Part, type Snapshot } from './render';
import type { FaceBans } from '../limits/banstore';
import type { BanRecord } from '../limits/bans';
import type { Device } from '../store/repository';
import { errorMessage } from '../errors';
import type { Logger } from '../log';

export type { Grant } from './sessions';

/** UiBanSource is one face's live bans (undefined: the face keeps none now, e.g. not started). */
export interface UiBanSource {
  readonly face: string;
  readonly control: FaceBans | undefined;
}

/** UiFace is one face's name and state (`listening`, `stopped`, `standby`, …). */
export interface UiFace {
  readonly name: string;
  readonly state: string;
}

/**
 * UiDeviceQuery is one page of the inventory: the tenant (null: all), a lower-case search text
 * ('' = all) to match in the key, hostname, user, address, tenant, OS, MAC, UUID or last outcome,
 * newest lastSeen first.
 */
export interface UiDeviceQuery {
  readonly tenant: string | null;
  readonly search: string;
  readonly limit: number;
  readonly offset: number;
}

/** UiOptions tune the page; all optional. */
export interface UiOptions {
  /** sessionTtlMs: a session's life from login (8 h). */
  readonly sessionTtlMs?: number;
  /** maxSessions: sessions kept at once (256; beyond, the oldest ends). */
  readonly maxSessions?: number;
  /** pageSize: inventory rows per page (25, at most 200). */
  readonly pageSize?: number;
  /** refreshMs: the auto-refresh period (5000; at least 500). */
  readonly refreshMs?: number;
  readonly now?: () => number;
}

/** UiDeps is what the page reads and acts on. */
export interface UiDeps {
  /** verifyToken: the grant of an API token, undefined when refused. */
  verifyToken(token: string): Promise<Grant | undefined>;
  /**
   * devices: the store's device inventory. With `find` (a paged query in the store, e.g. the
   * admin API's), each page reads one page; without it, `list()` is read whole (shared by the
   * pages refreshed within 2 s) and searched here: fine for thousands of devices, see
   * BENCHMARKS.md (Status page) for what a big inventory costs.
   */
  readonly devices: { list(): Promise<Device[]>; find?(q: UiDeviceQuery): Promise<{ rows: Device[]; total: number }> };
  /** bans: each banning face's live bans. */
  bans(): readonly UiBanSource[];
  /** faces: each face's state. */
  faces(): readonly UiFace[];
  readonly recent: ActivityLog;
  readonly log: Logger;
  /** onLoginFailure is told of each refused token (the lead wires it to the bans). */
  onLoginFailure?(ip: string): void;
  /** count increments one of the page's counters (`ui-logins`, `ui-login-failures`, `ui-lifts`, `ui-csrf-refused`). */
  count?(name: string): void;
  readonly options?: UiOptions;
}

const SESSION_COOKIE = 'provd_session';
const LOGIN_COOKIE = 'provd_login';
/** LOGIN_FORM_TTL_S: a login form's CSRF cookie lasts this long. */
const LOGIN_FORM_TTL_S = 3600;
/** MAX_TOKEN: longer tokens are refused without a check. */
const MAX_TOKEN = 512;
/** MAX_QUERY: the inventory search is cut to this many characters. */
const MAX_QUERY = 200;
/** BODY_LIMIT: the page's forms are small. */
const BODY_LIMIT = 8192;
const FORM = 'application/x-www-form-urlencoded';
/** DEVICES_FRESH_MS: the inventory read is shared by the pages refreshed within this time. */
const DEVICES_FRESH_MS = 2000;
/** DEVICES_IDLE_MS: a read taken DEVICES_SETTLE_MS after the last answer serves this long. */
const DEVICES_IDLE_MS = 60_000;
const DEVICES_SETTLE_MS = 10_000;

/** cookiesOf parses a Cookie header (the names the page uses only). */
function cookiesOf(req: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  const h = req.headers.cookie;
  if (typeof h !== 'string') return out;
  for (const part of h.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (name === SESSION_COOKIE || name === LOGIN_COOKIE) out.set(name, part.slice(i + 1).trim());
  }
  return out;
}

function cookie(req: FastifyRequest, name: string, value: string, maxAge: number): string {
  const secure = req.protocol === 'https' ? '; Secure' : '';
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`;
}

/** fieldOf is a form field (the first value), '' when absent. */
function fieldOf(body: unknown, name: string): string {
  return body instanceof URLSearchParams ? (body.get(name) ?? '') : '';
}

/** queryOf is a query string parameter (a string, bounded), '' when absent. */
function queryOf(req: FastifyRequest, name: string): string {
  const q = req.query;
  if (typeof q !== 'object' || q === null) return '';
  const v = (q as Record<string, unknown>)[name];
  return typeof v === 'string' ? v.slice(0, MAX_QUERY) : '';
}

/** sameOrigin: a POST's Origin (when sent) names this host; Sec-Fetch-Site is not cross-site. */
function sameOrigin(req: FastifyRequest): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** canSee: whether a ban is visible to a view (tenant views: their users' bans only). */
function banVisible(b: Pick<BanRecord, 'scope' | 'subject'>, view: TenantView): boolean {
  if (view === null) return true;
  if (b.scope !== 'user') return false;
  return b.subject.toLowerCase().endsWith(`@${view.toLowerCase()}`);
}

function matches(d: Device, q: string): boolean {
  if (q === '') return true;
  for (const v of [d.key, d.hostname, d.username, d.ip, d.tenant, d.osname, d.hwaddr, d.uuid, d.lastOutcome]) {
    if (v !== null && v.toLowerCase().includes(q)) return true;
  }
  return false;
}

/** registerUi mounts the status page on an admin fastify instance. */
export async function registerUi(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const o = deps.options ?? {};
  const now = o.now ?? Date.now;
  const sessions = new SessionTable({ ttlMs: o.sessionTtlMs, max: o.maxSessions, now });
  const pageSize = Math.min(200, Math.max(1, Math.floor(o.pageSize ?? 25)));
  const refreshMs = Math.max(500, o.refreshMs ?? 5000);
  const count = (name: string): void => {
    try {
      deps.count?.(name);
    } catch {
      // a counter never breaks the page
    }
  };
  const log = deps.log;
  // The inventory (without a paged find) is read whole, and every open page refreshes every few
  // seconds: one read serves all the pages for DEVICES_FRESH_MS, and for up to DEVICES_IDLE_MS
  // while nothing was answered (no device changed) since DEVICES_SETTLE_MS before it (the faces'
  // device writes land shortly after their answers).
  let listed: { at: number; devices: Promise<Device[]> } | undefined;
  const fresh = (l: { at: number }, t: number): boolean =>
    t >= l.at && (t - l.at < DEVICES_FRESH_MS || (t - l.at < DEVICES_IDLE_MS && deps.recent.lastAt < l.at - DEVICES_SETTLE_MS));
  const inventory = (): Promise<Device[]> => {
    const t = now();
    if (listed === undefined || !fresh(listed, t)) {
      const p = deps.devices.list();
      listed = { at: t, devices: p };
      p.catch(() => {
        if (listed?.devices === p) listed = undefined; // a failed read is not kept
      });
    }
    return listed.devices;
  };

  const sessionOf = (req: FastifyRequest): { id: string; session: Session } | undefined => {
    const id = cookiesOf(req).get(SESSION_COOKIE);
    const session = sessions.get(id);
    return id !== undefined && session !== undefined ? { id, session } : undefined;
  };

  /** html sends a page with the security headers and a fresh nonce. */
  const html = (reply: FastifyReply, status: number, render: (nonce: string) => string): FastifyReply => {
    const nonce = randomBytes(16).toString('base64');
    return reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'same-origin') // not no-referrer: Chromium then sends `Origin: null` on the page's own POSTs
      .header(
        'content-security-policy',
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      )
      .send(render(nonce));
  };

  /** login shows the login form with a fresh form CSRF cookie. */
  const login = (req: FastifyRequest, reply: FastifyReply, status: number, error?: string): FastifyReply => {
    const csrf = newSecret();
    reply.header('set-cookie', cookie(req, LOGIN_COOKIE, csrf, LOGIN_FORM_TTL_S));
    return html(reply, status, (nonce) => loginPage({ nonce }, csrf, error));
  };

  const part = async <T>(what: string, f: () => T | Promise<T>): Promise<Part<T>> => {
    try {
      return { ok: true, value: await f() };
    } catch (err) {
      count('ui-section-errors');
      log.warn({ what, err: errorMessage(err) }, 'status page: a section could not be read');
      return { ok: false, error: errorMessage(err) };
    }
  };

  const snapshot = async (req: FastifyRequest, s: Session): Promise<Snapshot> => {
    const view: TenantView = s.grant.tenant;
    const q = queryOf(req, 'q').trim();
    const needle = q.toLowerCase();
    const askedPage = Number.parseInt(queryOf(req, 'page'), 10);
    const bans = await part('bans', () => {
      const rows: BanRow[] = [];
      for (const src of deps.bans()) {
        for (const b of src.control?.list() ?? []) if (banVisible(b, view)) rows.push({ face: src.face, ...b });
      }
      return rows.sort((a, b) => b.since - a.since);
    });
    const devices = await part('devices', async () => {
      const find = deps.devices.find?.bind(deps.devices);
      if (find !== undefined) {
        const first = Number.isFinite(askedPage) ? Math.max(1, askedPage) : 1;
        let got = await find({ tenant: view, search: needle, limit: pageSize, offset: (first - 1) * pageSize });
        const pages = Math.max(1, Math.ceil(got.total / pageSize));
        const page = Math.min(pages, first);
        if (page !== first) got = await find({ tenant: view, search: needle, limit: pageSize, offset: (page - 1) * pageSize });
        const rows: DeviceRow[] = got.rows.slice(0, pageSize);
        return { rows, total: got.total, page, pages };
      }
      const all = (await inventory()).filter((d) => (view === null || d.tenant === view) && matches(d, needle));
      all.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen) || a.key.localeCompare(b.key));
      const pages = Math.max(1, Math.ceil(all.length / pageSize));
      const page = Number.isFinite(askedPage) ? Math.min(pages, Math.max(1, askedPage)) : 1;
      const rows: DeviceRow[] = all.slice((page - 1) * pageSize, page * pageSize);
      return { rows, total: all.length, page, pages };
    });
    const faces = await part('faces', () => deps.faces().map((f) => ({ name: f.name, state: f.state })));
    return { grant: s.grant, csrf: s.csrf, minutes: deps.recent.minutes(view), failures: deps.recent.failures(view), faces, bans, devices, q };
  };

  /** guardPost checks a signed-in POST: same origin and the session's CSRF token. */
  const guardPost = (req: FastifyRequest, reply: FastifyReply): { id: string; session: Session } | undefined => {
    const s = sessionOf(req);
    if (s === undefined) {
      void login(req, reply, 401, 'Your session has ended: sign in again.');
      return undefined;
    }
    if (!sameOrigin(req) || !sameSecret(fieldOf(req.body, 'csrf'), s.session.csrf)) {
      count('ui-csrf-refused');
      log.warn({ ip: req.ip, path: req.url }, 'status page: a POST without the session\'s CSRF token was refused');
      void reply.code(403).header('content-type', 'text/plain; charset=utf-8').send('refused: the form is stale or came from another site; reload the page\n');
      return undefined;
    }
    return s;
  };

  await app.register(async (scope) => {
    if (scope.hasContentTypeParser(FORM)) scope.removeContentTypeParser(FORM);
    scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
      done(null, new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8')));
    });

    scope.get('/', async (req, reply) => {
      const s = sessionOf(req);
      if (s === undefined) return login(req, reply, 200);
      const snap = await snapshot(req, s.session);
      const m = queryOf(req, 'm');
      return html(reply, 200, (nonce) => dashboard({ nonce }, snap, { refreshMs, message: Object.hasOwn(MESSAGES, m) ? m : undefined }));
    });

    scope.get('/ui/live', async (req, reply) => {
      const s = sessionOf(req);
      if (s === undefined) return reply.code(401).header('cache-control', 'no-store').header('content-type', 'text/plain; charset=utf-8').send('sign in first\n');
      const snap = await snapshot(req, s.session);
      return reply.code(200).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').header('x-content-type-options', 'nosniff').send(live(snap));
    });

    scope.post('/ui/login', async (req, reply) => {
      const formCsrf = cookiesOf(req).get(LOGIN_COOKIE);
      if (!sameOrigin(req) || !sameSecret(fieldOf(req.body, 'csrf'), formCsrf)) {
        count('ui-csrf-refused');
        return login(req, reply, 403, 'The sign-in form had expired: try again.');
      }
      const token = fieldOf(req.body, 'token').trim();
      let grant: Grant | undefined;
      if (token.length > 0 && token.length <= MAX_TOKEN) {
        try {
          grant = await deps.verifyToken(token);
        } catch (err) {
          log.error({ err: errorMessage(err) }, 'status page: the token check failed');
          return login(req, reply, 503, 'Tokens cannot be checked now: try again shortly.');
        }
      }
      if (grant === undefined || !(grant.scopes.includes('read') || grant.scopes.includes('write'))) {
        count('ui-login-failures');
        log.warn({ ip: req.ip, reason: grant === undefined ? 'unknown token' : 'no read scope' }, 'status page: sign-in refused');
        try {
          deps.onLoginFailure?.(req.ip);
        } catch (err) {
          log.warn({ err: errorMessage(err) }, 'status page: onLoginFailure failed');
        }
        return login(req, reply, 401, grant === undefined ? 'This token was not accepted.' : 'This token has no read scope.');
      }
      const { id } = sessions.open(grant);
      count('ui-logins');
      log.info({ ip: req.ip, tenant: grant.tenant ?? '*', scopes: grant.scopes.join(',') }, 'status page: signed in');
      return reply
        .code(303)
        .header('set-cookie', [cookie(req, SESSION_COOKIE, id, Math.floor(sessions.ttlMs / 1000)), cookie(req, LOGIN_COOKIE, '', 0)])
        .header('location', '/')
        .header('cache-control', 'no-store')
        .send();
    });

    scope.post('/ui/logout', async (req, reply) => {
      const s = guardPost(req, reply);
      if (s === undefined) return reply;
      sessions.close(s.id);
      log.info({ ip: req.ip }, 'status page: signed out');
      return reply.code(303).header('set-cookie', cookie(req, SESSION_COOKIE, '', 0)).header('location', '/').header('cache-control', 'no-store').send();
    });

    scope.post('/ui/bans/lift', async (req, reply) => {
      const s = guardPost(req, reply);
      if (s === undefined) return reply;
      const grant = s.session.grant;
      if (!grant.scopes.includes('write')) {
        count('ui-lift-refused');
        return reply.code(403).header('content-type', 'text/plain; charset=utf-8').send('refused: lifting a ban needs a token with the write scope\n');
      }
      const face = fieldOf(req.body, 'face');
      const banScope = fieldOf(req.body, 'scope');
      const subject = fieldOf(req.body, 'subject');
      if ((banScope !== 'ip' && banScope !== 'user') || subject === '' || face === '') {
        return reply.code(400).header('content-type', 'text/plain; charset=utf-8').send('bad request: face, scope (ip or user) and subject are required\n');
      }
      let lifted: BanRecord[];
      try {
        const src = deps.bans().find((b) => b.face === face);
        lifted = src?.control?.lift((b) => b.scope === banScope && b.subject === subject && banVisible(b, grant.tenant)) ?? [];
      } catch (err) {
        log.error({ face, err: errorMessage(err) }, 'status page: a ban could not be lifted');
        return reply.code(500).header('content-type', 'text/plain; charset=utf-8').send(`the ban could not be lifted: ${errorMessage(err)}\n`);
      }
      if (lifted.length > 0) {
        count('ui-lifts');
        log.warn({ ip: req.ip, face, scope: banScope, subject, by: grant.tenant ?? '*' }, 'status page: ban lifted');
      }
      return reply
        .code(303)
        .header('location', `/?m=${lifted.length > 0 ? 'lifted' : 'not-found'}`)
        .header('cache-control', 'no-store')
        .send();
    });
  });
}
