/**
 * api.ts: the REST admin API (issue 17), a fastify plugin the admin listener mounts: every route
 * under /api/v1, JSON in and out, every error `application/problem+json`
 * `{type, title, status, detail, code}` with a stable PROVD_ERR_* code.
 *
 * Each request goes through, in this order (onRequest, before the body is even read):
 * 1. the source's ban (the HTTP face's BanList: a source banned for token failures gets 429);
 * 2. the bearer token (src/admin/tokens.ts): none, malformed or unknown is 401, counted into the
 *    same BanList and written to the security event log as a `failure … reason=api-token` line
 *    (fail2ban's filter matches it like any other failure);
 * 3. the tenant in the path: another tenant's (or an unconfigured one) is 404, exactly as a
 *    resource that does not exist, whatever the method, the scope or the body;
 * 4. the scope: a change needs `write`, a preview or a key rotation `secrets` (403).
 * Then the body (at most API_BODY_LIMIT bytes) and the query are checked with zod (400 naming
 * the field) and the service layer (src/service/) does the work on the store: a change takes
 * effect at the faces' next request, with no reload.
 *
 * Secrets (password hashes, secret-like attributes and config values, keys) are written with
 * `write` but shown only with `secrets`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ProvError, errorMessage, isProvError, type ErrorCode } from '../errors';
import { parseSubject } from '../control/protocol';
import type { JitsiConfig } from '../jitsi/config';
import type { BanList } from '../limits/bans';
import type { FaceBans } from '../limits/banstore';
import { banLine, failureLine, type EventSink } from '../limits/events';
import type { Logger } from '../log';
import { addDevice, deleteDevice, setDevice, type DeviceAdminDeps } from '../phones/admin';
import type { PhoneService } from '../phones/service';
import { listBans, liftBans } from '../service/bans';
import { deleteClient, findClients, getClient } from '../service/clients';
import { configView, flattenedConfig, putConfig, redactRaw } from '../service/configs';
import { listKeys, rotateKey } from '../service/keys';
import { findPhones, getPhone } from '../service/phones';
import { renderClient, renderPhoneFile } from '../service/render';
import { listTenants } from '../service/tenants';
import { changeAttributes, changePassword, checkPassword, createUser, getTenantUser, listTenantUsers, page, removeUser, userView } from '../service/users';
import { parseUserRef } from '../identity/users';
import { StoreBusyError, type PhoneJsonMap, type Store, type StoredPhone, type StoredToken, type TokenScope } from '../store/repository';
import { OPENAPI } from './openapi';
import type { TokenAuth } from './tokens';

/** API_PREFIX: every route lives under it. */
export const API_PREFIX = '/api/v1';

/** API_BODY_LIMIT bounds a request body (bytes): the largest is a phone config. */
export const API_BODY_LIMIT = 256 * 1024;

/** MAX_PAGE bounds a page (`limit`); DEFAULT_PAGE is a page without one. */
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

/** MAX_OPERATIONS bounds the remembered operations (the oldest finished one goes); MAX_PENDING the running ones. */
export const MAX_OPERATIONS = 1000;
export const MAX_PENDING = 64;

/** ResyncResult is what a resync did: accepted, or why not (src/sip/resync.ts's outcomes). */
export interface ResyncResult {
  readonly outcome: string;
  readonly detail?: string;
}

/** ApiPhones is the SIP phone room the phone routes use (absent: phones not enabled). */
export interface ApiPhones {
  readonly admin: DeviceAdminDeps;
  readonly service: PhoneService;
  /** baseUrl is where phones fetch their files (render previews). */
  readonly baseUrl: string;
}

/** ApiDeps is what the API needs from the daemon. */
export interface ApiDeps {
  readonly store: Store;
  /** provisioning is the current configuration's section (tenants, defaultDomain, passwords, keyGracePeriod). */
  readonly provisioning: () => JitsiConfig;
  readonly tokens: TokenAuth;
  /** bans: the HTTP face's BanList, counting token failures (undefined: not started; nothing counted). */
  readonly bans: () => BanList | undefined;
  /** banControls: every face's live bans, listed and lifted (as the control socket). */
  readonly banControls: () => ReadonlyMap<string, FaceBans>;
  /** events: the security event log. */
  readonly events: () => EventSink | undefined;
  readonly log: Logger;
  readonly phones?: () => ApiPhones | undefined;
  /** resync asks a phone to fetch its files now (the SIP face's NOTIFY); absent: resync answers 503. */
  readonly resync?: (mac: string) => Promise<ResyncResult>;
  /** count increments a counter of the listener's (`api-refused:banned`, `api-refused:api-bad-token`, `api-refused:api-no-token`, `api-answers:<status>`). */
  readonly count?: (name: string) => void;
  readonly now?: () => number;
}

/** Need is what a route requires of a token. */
interface Need {
  readonly scope: 'read' | 'write';
  readonly secrets?: boolean;
  /** open: no token (the OpenAPI document). */
  readonly open?: boolean;
}

/** ApiRoute is one route of the table (the tests walk it, the OpenAPI document lists it). */
export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** path below API_PREFIX, fastify style (`/tenants/:tenant`). */
  readonly path: string;
  readonly need: Need;
}

/**
 * API_ROUTES is the route table: what each route needs of a token. registerApi refuses a route
 * that is not listed (so a new one cannot skip its scope), the OpenAPI document describes each,
 * and the tests walk it (a foreign tenant's token gets 404 on every tenant route).
 */
export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'GET', path: '/tenants', need: { scope: 'read' } },
  { method: 'GET', path: '/tenants/:tenant', need: { scope: 'read' } },
  { method: 'GET', path: '/tenants/:tenant/users', need: { scope: 'read' } },
  { method: 'POST', path: '/tenants/:tenant/users', need: { scope: 'write' } },
  { method: 'GET', path: '/tenants/:tenant/users/:name', need: { scope: 'read' } },
  { method: 'PATCH', path: '/tenants/:tenant/users/:name', need: { scope: 'write' } },
  { method: 'PUT', path: '/tenants/:tenant/users/:name/password', need: { scope: 'write' } },
  { method: 'DELETE', path: '/tenants/:tenant/users/:name', need: { scope: 'write' } },
  { method: 'GET', path: '/tenants/:tenant/clients', need: { scope: 'read' } },
  { method: 'GET', path: '/tenants/:tenant/clients/:key', need: { scope: 'read' } },
  { method: 'DELETE', path: '/tenants/:tenant/clients/:key', need: { scope: 'write' } },
  { method: 'GET', path: '/tenants/:tenant/phones', need: { scope: 'read' } },
  { method: 'POST', path: '/tenants/:tenant/phones', need: { scope: 'write' } },
  { method: 'GET', path: '/tenants/:tenant/phones/:mac', need: { scope: 'read' } },
  { method: 'PATCH', path: '/tenants/:tenant/phones/:mac', need: { scope: 'write' } },
  { method: 'DELETE', path: '/tenants/:tenant/phones/:mac', need: { scope: 'write' } },
  { method: 'GET', path: '/tenants/:tenant/phones/:mac/preview', need: { scope: 'read', secrets: true } },
  { method: 'POST', path: '/tenants/:tenant/phones/:mac/resync', need: { scope: 'write' } },
  { method: 'GET', path: '/tenants/:tenant/operations/:id', need: { scope: 'read' } },
  { method: 'GET', path: '/tenants/:tenant/configs', need: { scope: 'read' } },
  { method: 'GET', path: '/tenants/:tenant/configs/:id', need: { scope: 'read' } },
  { method: 'PUT', path: '/tenants/:tenant/configs/:id', need: { scope: 'write' } },
  { method: 'DELETE', path: '/tenants/:tenant/configs/:id', need: { scope: 'write' } },
  { method: 'GET', path: '/tenants/:tenant/configs/:id/flat', need: { scope: 'read' } },
  { method: 'GET', path: '/tenants/:tenant/keys', need: { scope: 'read' } },
  { method: 'POST', path: '/tenants/:tenant/keys', need: { scope: 'write', secrets: true } },
  { method: 'POST', path: '/tenants/:tenant/render', need: { scope: 'read', secrets: true } },
  { method: 'GET', path: '/bans', need: { scope: 'read' } },
  { method: 'DELETE', path: '/bans/:subject', need: { scope: 'write' } },
  { method: 'GET', path: '/openapi.json', need: { scope: 'read', open: true } },
];

type Handler = (req: FastifyRequest, reply: FastifyReply, ctx: Ctx) => Promise<unknown>;

/** Ctx is a request's token and the tenant it named ('' on a route without a tenant). */
interface Ctx {
  readonly token: StoredToken;
  readonly tenant: string;
  readonly secrets: boolean;
}

/** ApiProblem is a refusal with its status and code. */
class ApiProblem extends Error {
  constructor(readonly status: number, readonly code: ErrorCode, message: string, readonly headers: Readonly<Record<string, string>> = {}) {
    super(message);
  }
}

const notFound = (what: string): ApiProblem => new ApiProblem(404, 'PROVD_ERR_API_NOT_FOUND', what);

/** TITLES: a problem's title per status. */
const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** STATUS_OF maps the service layer's codes to an HTTP status. */
const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  PROVD_ERR_USER: 400, PROVD_ERR_DEVICE: 400, PROVD_ERR_KEY: 400, PROVD_ERR_USAGE: 400, PROVD_ERR_TOKEN: 400,
  PROVD_ERR_PHONE_STORE: 409, PROVD_ERR_BAN: 404, PROVD_ERR_RENDER: 422, PROVD_ERR_TEMPLATE: 422,
  PROVD_ERR_STORE: 503, PROVD_ERR_STORE_UNREACHABLE: 503, PROVD_ERR_RESYNC: 503,
};

/** sendProblem answers application/problem+json. */
function sendProblem(reply: FastifyReply, status: number, code: ErrorCode, detail: string, headers: Readonly<Record<string, string>> = {}): FastifyReply {
  const title = TITLES[status] ?? 'Error';
  for (const [k, v] of Object.entries(headers)) void reply.header(k, v);
  return reply
    .code(status)
    .type('application/problem+json; charset=utf-8')
    .send(JSON.stringify({ type: `${API_PREFIX}/problems#${code}`, title, status, detail: detail.slice(0, 2000), code }));
}

/** problemOf turns any error into (status, code, detail). */
function problemOf(err: unknown): { status: number; code: ErrorCode; detail: string; headers?: Readonly<Record<string, string>> } {
  if (err instanceof ApiProblem) return { status: err.status, code: err.code, detail: err.message, headers: err.headers };
  if (err instanceof StoreBusyError) return { status: 503, code: 'PROVD_ERR_STORE', detail: 'the store is busy: retry later', headers: { 'retry-after': '1' } };
  if (isProvError(err)) {
    const more = err.details.length > 0 ? `: ${err.details.slice(0, 20).join('; ')}` : '';
    return { status: STATUS_OF[err.code] ?? 400, code: err.code, detail: `${err.message}${more}` };
  }
  // fastify's own: a body too large, not JSON, an unsupported content type.
  const fe = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode === 413 || fe.statusCode === 415 ? fe.statusCode : 400, code: 'PROVD_ERR_API_INVALID', detail: typeof fe.message === 'string' ? fe.message : 'malformed request' };
  }
  return { status: 500, code: 'PROVD_ERR_INTERNAL', detail: 'an unexpected internal error (logged)' };
}

// ---- input schemas (zod): strict objects, bounded strings and collections ----

const name = z.string().min(1).max(128);
const attrKey = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');
const attrMap = z.record(attrKey, z.string().max(1024)).refine((m) => Object.keys(m).length <= 100, 'at most 100 attributes');
const paging = { limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE), offset: z.coerce.number().int().min(0).max(10_000_000).default(0) };
const jsonValue: z.ZodType<PhoneJsonMap[string]> = z.lazy(() => z.union([z.string().max(4096), z.number(), z.boolean(), z.null(), z.array(jsonValue).max(1000), z.record(z.string().max(128), jsonValue)]));
const jsonMap = z.record(z.string().max(128), jsonValue);

const Q = {
  page: z.strictObject(paging),
  clients: z.strictObject({ ...paging, username: name.optional(), hwaddr: z.string().max(64).optional(), ip: z.string().max(64).optional(), q: z.string().min(1).max(128).optional(), failed: z.enum(['true', 'false']).optional() }),
  phones: z.strictObject({ ...paging, profile: name.optional(), model: name.optional(), config: name.optional() }),
  preview: z.strictObject({ file: z.string().min(1).max(255).optional() }),
};

const B = {
  userCreate: z.strictObject({ name, password: z.string().min(1).max(1024), attributes: attrMap.optional() }),
  userPatch: z.strictObject({ set: attrMap.optional(), unset: z.array(attrKey).max(100).optional() }),
  password: z.strictObject({ password: z.string().min(1).max(1024) }),
  phoneCreate: z.strictObject({
    mac: z.string().min(1).max(64), profile: name, model: name.optional(), config: name.optional(),
    users: z.array(name).max(64).optional(), options: z.record(attrKey, z.string().max(1024)).optional(),
  }),
  phonePatch: z.strictObject({
    profile: name.optional(), model: name.optional(), config: name.nullable().optional(),
    users: z.array(name).max(64).optional(), options: z.record(attrKey, z.string().max(1024).nullable()).optional(), reset: z.boolean().optional(),
  }),
  config: z.strictObject({ parents: z.array(name).max(64).optional(), raw: jsonMap.optional(), role: z.enum(['default', 'autoprov', 'none']).optional() }),
  rotate: z.strictObject({ grace: z.number().int().min(0).max(90 * 86_400).optional() }),
  render: z.strictObject({ user: name.optional(), params: z.record(z.string().min(1).max(64), z.string().max(1024)).optional(), ip: z.string().max(64).optional(), userAgent: z.string().max(512).optional() }),
  empty: z.strictObject({}),
};

/** parse checks a value with a schema, or refuses naming each field that is wrong. */
function parse<T>(schema: z.ZodType<T>, v: unknown, where: 'body' | 'query'): T {
  const r = schema.safeParse(v ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 10).map((i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new ApiProblem(400, 'PROVD_ERR_API_INVALID', issues.join('; '));
}

/** param reads a path parameter. */
function param(req: FastifyRequest, key: string): string {
  const p = req.params as Record<string, string | undefined>;
  return p[key] ?? '';
}

/** phoneView shows a phone; option values named like secrets are redacted without `secrets`. */
function phoneView(p: StoredPhone, secrets: boolean): StoredPhone {
  return secrets ? p : { ...p, options: redactRaw(p.options) as PhoneJsonMap };
}

/** Operation is an asynchronous operation's status resource. */
interface Operation {
  readonly id: string;
  readonly kind: 'resync';
  readonly tenant: string;
  readonly mac: string;
  status: 'running' | 'succeeded' | 'failed';
  readonly createdAt: string;
  finishedAt: string | null;
  result: ResyncResult | null;
}

/**
 * apiFrameworkErrors answers fastify's own early errors, raised before any route or plugin sees
 * the request (a malformed %-escape in the URL, a malformed Content-Type), as problem+json:
 * pass it to the admin listener's `Fastify({ frameworkErrors: apiFrameworkErrors })`.
 */
export function apiFrameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void sendProblem(reply, 400, 'PROVD_ERR_API_INVALID', err.message);
}

/** registerApi mounts the API's routes under /api/v1 on `app`. */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const now = deps.now ?? Date.now;
  const ctxOf = new WeakMap<FastifyRequest, Ctx>();
  const operations = new Map<string, Operation>();
  let pending = 0;
  let opSeq = 0;
  const count = (name: string): void => deps.count?.(name);

  const phonesOr404 = (): ApiPhones => deps.phones?.() ?? (() => {
    throw notFound('SIP phones are not enabled on this daemon (phones.enabled)');
  })();
  const tenants = (): JitsiConfig['tenants'] => deps.provisioning().tenants;
  const userRef = (tenant: string, n: string): ReturnType<typeof parseUserRef> => {
    try {
      return parseUserRef(`${n}@${tenant}`, undefined, tenant);
    } catch {
      throw notFound(`no user ${n.slice(0, 64)} in tenant ${tenant}`);
    }
  };

  const routes: { route: ApiRoute; handler: Handler }[] = [];
  const add = (method: ApiRoute['method'], path: string, handler: Handler): void => {
    const route = API_ROUTES.find((r) => r.method === method && r.path === path);
    if (route === undefined) throw new ProvError('PROVD_ERR_INTERNAL', `admin API route ${method} ${path} is not in API_ROUTES`);
    routes.push({ route, handler });
  };

  // ---- tenants ----
  add('GET', '/tenants', async (_req, _reply, c) => ({ items: listTenants(tenants(), c.token.tenant, c.secrets) }));
  add('GET', '/tenants/:tenant', async (_req, _reply, c) => listTenants(tenants(), c.tenant, c.secrets)[0]);

  // ---- users ----
  add('GET', '/tenants/:tenant/users', async (req, _reply, c) => {
    const q = parse(Q.page, req.query, 'query');
    const p = page(await listTenantUsers(deps.store.users, c.tenant), q.limit, q.offset);
    return { ...p, items: p.items.map((u) => userView(u, c.secrets)) };
  });
  add('POST', '/tenants/:tenant/users', async (req, reply, c) => {
    const b = parse(B.userCreate, req.body, 'body');
    const ref = parseUserRef(`${b.name}@${c.tenant}`, undefined, c.tenant);
    if ((await getTenantUser(deps.store.users, ref)) !== undefined) throw new ApiProblem(409, 'PROVD_ERR_USER', `${ref.name}@${ref.domain} already exists`);
    await createUser(deps.store.users, deps.provisioning(), ref, () => Promise.resolve(checkPassword(b.password)), b.attributes ?? {});
    void reply.code(201).header('location', `${API_PREFIX}/tenants/${c.tenant}/users/${encodeURIComponent(ref.name)}`);
    return shownUser(c, ref);
  });
  const storedUser = async (c: Ctx, n: string): Promise<ReturnType<typeof userRef>> => {
    const ref = userRef(c.tenant, n);
    if ((await getTenantUser(deps.store.users, ref)) === undefined) throw notFound(`no user ${ref.name} in tenant ${c.tenant}`);
    return ref;
  };
  /** shownUser reads a user back as the token may see it. */
  const shownUser = async (c: Ctx, ref: ReturnType<typeof userRef>): Promise<ReturnType<typeof userView>> => {
    const u = await getTenantUser(deps.store.users, ref);
    if (u === undefined) throw notFound(`no user ${ref.name} in tenant ${c.tenant}`);
    return userView(u, c.secrets);
  };
  add('GET', '/tenants/:tenant/users/:name', async (req, _reply, c) => shownUser(c, userRef(c.tenant, param(req, 'name'))));
  add('PATCH', '/tenants/:tenant/users/:name', async (req, _reply, c) => {
    const ref = await storedUser(c, param(req, 'name'));
    const b = parse(B.userPatch, req.body, 'body');
    await changeAttributes(deps.store.users, deps.provisioning(), ref, b.set ?? {}, b.unset ?? []);
    return shownUser(c, ref);
  });
  add('PUT', '/tenants/:tenant/users/:name/password', async (req, reply, c) => {
    const ref = await storedUser(c, param(req, 'name'));
    const b = parse(B.password, req.body, 'body');
    await changePassword(deps.store.users, deps.provisioning(), ref, () => Promise.resolve(checkPassword(b.password)));
    return reply.code(204).send();
  });
  add('DELETE', '/tenants/:tenant/users/:name', async (req, reply, c) => {
    const ref = await storedUser(c, param(req, 'name'));
    await removeUser(deps.store.users, deps.provisioning(), ref);
    return reply.code(204).send();
  });

  // ---- Jitsi clients (the inventory) ----
  add('GET', '/tenants/:tenant/clients', async (req, _reply, c) => {
    const q = parse(Q.clients, req.query, 'query');
    const list = await findClients(deps.store.devices, { tenant: c.tenant, username: q.username, hwaddr: q.hwaddr, ip: q.ip, q: q.q, ...(q.failed === undefined ? {} : { failed: q.failed === 'true' }) });
    return page(list, q.limit, q.offset);
  });
  add('GET', '/tenants/:tenant/clients/:key', async (req, _reply, c) => (await getClient(deps.store.devices, c.tenant, param(req, 'key'))) ?? Promise.reject(notFound(`no client ${param(req, 'key').slice(0, 80)} in tenant ${c.tenant}`)));
  add('DELETE', '/tenants/:tenant/clients/:key', async (req, reply, c) => {
    if (!(await deleteClient(deps.store.devices, c.tenant, param(req, 'key')))) throw notFound(`no client ${param(req, 'key').slice(0, 80)} in tenant ${c.tenant}`);
    return reply.code(204).send();
  });

  // ---- SIP phones ----
  const phoneOf = (c: Ctx, mac: string): StoredPhone => getPhone(phonesOr404().admin.phones, c.tenant, mac) ?? (() => {
    throw notFound(`no phone ${mac.slice(0, 40)} in tenant ${c.tenant}`);
  })();
  add('GET', '/tenants/:tenant/phones', async (req, _reply, c) => {
    const q = parse(Q.phones, req.query, 'query');
    const r = findPhones(phonesOr404().admin.phones, { tenant: c.tenant, ...(q.profile ? { profile: q.profile } : {}), ...(q.model ? { model: q.model } : {}), ...(q.config ? { config: q.config } : {}), limit: q.limit, offset: q.offset });
    return { items: r.items.map((p) => phoneView(p, c.secrets)), total: r.total, limit: q.limit, offset: q.offset };
  });
  add('POST', '/tenants/:tenant/phones', async (req, reply, c) => {
    const b = parse(B.phoneCreate, req.body, 'body');
    const r = addDevice(phonesOr404().admin, { mac: b.mac, profile: b.profile, model: b.model, config: b.config, tenant: c.tenant, users: b.users ?? [], options: Object.entries(b.options ?? {}).map(([k, v]) => `${k}=${v}`) });
    void reply.code(201).header('location', `${API_PREFIX}/tenants/${c.tenant}/phones/${r.device.mac}`);
    return { device: phoneView(r.device, c.secrets), warnings: r.warnings };
  });
  add('GET', '/tenants/:tenant/phones/:mac', async (req, _reply, c) => phoneView(phoneOf(c, param(req, 'mac')), c.secrets));
  add('PATCH', '/tenants/:tenant/phones/:mac', async (req, _reply, c) => {
    const have = phoneOf(c, param(req, 'mac'));
    const b = parse(B.phonePatch, req.body, 'body');
    const r = setDevice(phonesOr404().admin, have.mac, {
      profile: b.profile, model: b.model, config: b.config, users: b.users, reset: b.reset,
      options: b.options === undefined ? undefined : Object.entries(b.options).map(([k, v]) => `${k}=${v ?? ''}`),
    });
    return { device: phoneView(r.device, c.secrets), warnings: r.warnings };
  });
  add('DELETE', '/tenants/:tenant/phones/:mac', async (req, reply, c) => {
    const have = phoneOf(c, param(req, 'mac'));
    deleteDevice(phonesOr404().admin, have.mac);
    return reply.code(204).send();
  });
  add('GET', '/tenants/:tenant/phones/:mac/preview', async (req, reply, c) => {
    const have = phoneOf(c, param(req, 'mac'));
    const q = parse(Q.preview, req.query, 'query');
    const ph = phonesOr404();
    const r = renderPhoneFile(ph.service, have.mac, { baseUrl: ph.baseUrl, file: q.file });
    if (r.status !== 200) throw new ApiProblem(422, 'PROVD_ERR_RENDER', `the phone would get ${r.status} for ${r.file} (${r.outcome})`);
    return reply.code(200).header('x-provisiond-file', r.file).type(r.contentType).send(r.body);
  });
  add('POST', '/tenants/:tenant/phones/:mac/resync', async (req, reply, c) => {
    const have = phoneOf(c, param(req, 'mac'));
    parse(B.empty, req.body, 'body');
    const resync = deps.resync;
    if (resync === undefined) throw new ApiProblem(503, 'PROVD_ERR_RESYNC', 'no SIP face runs on this daemon to send the resync NOTIFY');
    if (pending >= MAX_PENDING) throw new ApiProblem(503, 'PROVD_ERR_RESYNC', `${MAX_PENDING} resyncs are running: retry later`, { 'retry-after': '5' });
    const op: Operation = { id: `op-${(++opSeq).toString(36)}-${Math.random().toString(36).slice(2, 8)}`, kind: 'resync', tenant: c.tenant, mac: have.mac, status: 'running', createdAt: new Date(now()).toISOString(), finishedAt: null, result: null };
    remember(op);
    pending++;
    void resync(have.mac)
      .then(
        (r) => {
          op.status = r.outcome === 'accepted' || r.outcome === 'sent' ? 'succeeded' : 'failed';
          op.result = r;
        },
        (err: unknown) => {
          op.status = 'failed';
          op.result = { outcome: 'error', detail: errorMessage(err).slice(0, 200) };
        },
      )
      .finally(() => {
        pending--;
        op.finishedAt = new Date(now()).toISOString();
      });
    const href = `${API_PREFIX}/tenants/${c.tenant}/operations/${op.id}`;
    void reply.code(202).header('location', href);
    return { ...opView(op), href };
  });
  add('GET', '/tenants/:tenant/operations/:id', async (req, _reply, c) => {
    const op = operations.get(param(req, 'id'));
    if (op === undefined || op.tenant !== c.tenant) throw notFound(`no operation ${param(req, 'id').slice(0, 40)} in tenant ${c.tenant}`);
    return opView(op);
  });
  const remember = (op: Operation): void => {
    if (operations.size >= MAX_OPERATIONS) {
      for (const [id, o] of operations) {
        if (o.status !== 'running') {
          operations.delete(id);
          break;
        }
      }
    }
    operations.set(op.id, op);
  };
  const opView = (op: Operation): Record<string, unknown> => ({ id: op.id, kind: op.kind, mac: op.mac, status: op.status, createdAt: op.createdAt, finishedAt: op.finishedAt, result: op.result });

  // ---- phone configs ----
  const configOf = (c: Ctx, id: string): NonNullable<ReturnType<DeviceAdminDeps['phones']['getConfig']>> =>
    phonesOr404().admin.phones.getConfig(c.tenant, id) ??
    (() => {
      throw notFound(`no config ${id.slice(0, 64)} in tenant ${c.tenant}`);
    })();
  add('GET', '/tenants/:tenant/configs', async (_req, _reply, c) => ({ items: phonesOr404().admin.phones.listConfigs(c.tenant).map((x) => configView(x, c.secrets)) }));
  add('GET', '/tenants/:tenant/configs/:id', async (req, _reply, c) => configView(configOf(c, param(req, 'id')), c.secrets));
  add('PUT', '/tenants/:tenant/configs/:id', async (req, reply, c) => {
    const id = param(req, 'id');
    if (!/^[^\s\u0000-\u001f\u007f]{1,128}$/.test(id)) throw new ApiProblem(400, 'PROVD_ERR_API_INVALID', 'a config id is 1-128 printable characters without spaces');
    const b = parse(B.config, req.body, 'body');
    const phones = phonesOr404().admin.phones;
    const existed = phones.getConfig(c.tenant, id) !== undefined;
    const saved = putConfig(phones, c.tenant, id, { parents: b.parents, raw: b.raw, role: b.role });
    void reply.code(existed ? 200 : 201);
    return configView(saved, c.secrets);
  });
  add('DELETE', '/tenants/:tenant/configs/:id', async (req, reply, c) => {
    const cfg = configOf(c, param(req, 'id'));
    phonesOr404().admin.phones.deleteConfig(c.tenant, cfg.id);
    return reply.code(204).send();
  });
  add('GET', '/tenants/:tenant/configs/:id/flat', async (req, _reply, c) => {
    const cfg = configOf(c, param(req, 'id'));
    const f = flattenedConfig(phonesOr404().admin.phones, c.tenant, cfg.id);
    if (f === undefined) throw notFound(`no config ${cfg.id} in tenant ${c.tenant}`);
    return { id: cfg.id, order: f.order, raw: c.secrets ? f.raw : redactRaw(f.raw) };
  });

  // ---- provisioning keys ----
  add('GET', '/tenants/:tenant/keys', async (_req, _reply, c) => ({ items: await listKeys(deps.store.keys, tenants(), c.tenant, now()) }));
  add('POST', '/tenants/:tenant/keys', async (req, reply, c) => {
    const b = parse(B.rotate, req.body, 'body');
    const r = await rotateKey(deps.store.keys, tenants(), c.tenant, b.grace ?? deps.provisioning().keyGracePeriod, new Date(now()));
    void reply.code(201);
    return r;
  });

  // ---- render preview (a Jitsi client's document) ----
  add('POST', '/tenants/:tenant/render', async (req, reply, c) => {
    const b = parse(B.render, req.body, 'body');
    const params: Record<string, string> = { ...(b.params ?? {}) };
    let who: { domain?: string; name?: string } = { domain: c.tenant };
    if (b.user !== undefined) {
      const ref = userRef(c.tenant, b.user);
      who = { domain: ref.domain, name: ref.name };
      params['username'] ??= `${ref.name}@${ref.domain}`;
    }
    const body = await renderClient(deps.provisioning(), deps.store.users, { who, params, ip: b.ip ?? '127.0.0.1', userAgent: b.userAgent ?? 'provisiond-api-preview' });
    return reply.code(200).type('text/plain; charset=utf-8').send(body);
  });

  // ---- bans ----
  add('GET', '/bans', async (_req, _reply, c) => ({ items: listBans(deps.banControls(), c.token.tenant) }));
  add('DELETE', '/bans/:subject', async (req, _reply, c) => {
    const raw = param(req, 'subject');
    let subject = parseSubject(raw);
    if (subject === undefined) throw new ApiProblem(400, 'PROVD_ERR_API_INVALID', 'a ban subject is an IP address, user@tenant or user');
    // A tenant token names its own users: `alice` is alice@<its tenant>.
    if (c.token.tenant !== null && subject.scope === 'user' && subject.anyTenant) subject = { scope: 'user', user: `${subject.user}@${c.token.tenant}`, anyTenant: false };
    try {
      return { lifted: liftBans(deps.banControls(), subject, c.token.tenant) };
    } catch (err) {
      if (isProvError(err) && err.code === 'PROVD_ERR_BAN') throw notFound(err.message);
      throw err;
    }
  });

  // ---- the document ----
  add('GET', '/openapi.json', async (_req, reply) => reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(OPENAPI)));

  const byRoute = new Map<string, Need>(routes.map((r) => [`${r.route.method} ${API_PREFIX}${r.route.path}`, r.route.need]));

  await app.register(
    async (api) => {
      // JSON only: fastify's text/plain parser would hand a string to the handlers (415 instead).
      api.removeContentTypeParser('text/plain');
      api.setErrorHandler((err, req, reply) => {
        const p = problemOf(err);
        if (p.status >= 500 && p.code === 'PROVD_ERR_INTERNAL') deps.log.error({ err: errorMessage(err), method: req.method, url: req.routeOptions.url }, 'admin API request failed');
        return sendProblem(reply, p.status, p.code, p.detail, p.headers);
      });
      api.addHook('onResponse', async (_req, reply) => {
        count(`api-answers:${reply.statusCode}`);
      });
      api.setNotFoundHandler((_req, reply) => sendProblem(reply, 404, 'PROVD_ERR_API_NOT_FOUND', 'no such API resource'));

      api.addHook('onRequest', async (req, reply) => {
        const need = byRoute.get(`${req.method === 'HEAD' ? 'GET' : req.method} ${req.routeOptions.url ?? ''}`);
        if (need === undefined || need.open === true) return;
        const ip = req.ip;
        const bans = deps.bans();
        const verdict = bans?.check(ip, undefined);
        if (verdict?.banned === true) {
          count('api-refused:banned');
          return sendProblem(reply, 429, 'PROVD_ERR_API_BANNED', 'this source is banned after repeated token failures', { 'retry-after': String(verdict.retryAfter) });
        }
        const header = req.headers.authorization;
        const m = typeof header === 'string' ? /^Bearer ([^\s]{1,200})$/i.exec(header.trim()) : null;
        const token = m?.[1] === undefined ? undefined : await deps.tokens.resolve(m[1]);
        if (token === undefined) {
          tokenFailure(ip, header === undefined ? 'api-no-token' : 'api-bad-token');
          return sendProblem(reply, 401, 'PROVD_ERR_API_AUTH', header === undefined ? 'an Authorization: Bearer token is required' : 'the token is not valid', { 'www-authenticate': 'Bearer realm="provisiond"' });
        }
        const pathTenant = (req.params as Record<string, string | undefined>)['tenant'];
        let tenant = '';
        if (pathTenant !== undefined) {
          tenant = pathTenant.toLowerCase();
          // Another tenant's resource, or a tenant that is not configured: 404, before any scope or body check.
          if ((token.tenant !== null && token.tenant !== tenant) || !Object.hasOwn(tenants(), tenant)) return sendProblem(reply, 404, 'PROVD_ERR_API_NOT_FOUND', `no tenant ${tenant.slice(0, 64)}`);
        }
        const has = (s: TokenScope): boolean => token.scopes.includes(s);
        if (need.scope === 'write' && !has('write')) return sendProblem(reply, 403, 'PROVD_ERR_API_FORBIDDEN', 'this token may read, not write (scope write)');
        if (need.secrets === true && !has('secrets')) return sendProblem(reply, 403, 'PROVD_ERR_API_FORBIDDEN', 'this answer carries secrets: the token needs the secrets scope');
        ctxOf.set(req, { token, tenant, secrets: has('secrets') });
        return undefined;
      });

      for (const { route, handler } of routes) {
        api.route({
          method: route.method,
          url: route.path,
          bodyLimit: API_BODY_LIMIT,
          handler: async (req, reply) => {
            const c = ctxOf.get(req);
            if (c === undefined && route.need.open !== true) return sendProblem(reply, 401, 'PROVD_ERR_API_AUTH', 'an Authorization: Bearer token is required');
            const out = await handler(req, reply, c ?? { token: OPEN_TOKEN, tenant: '', secrets: false });
            if (reply.sent) return reply;
            if (out === undefined) return reply.code(reply.statusCode === 200 ? 204 : reply.statusCode).send();
            return reply.type('application/json; charset=utf-8').send(JSON.stringify(out));
          },
        });
      }
    },
    { prefix: API_PREFIX },
  );

  /** tokenFailure counts a failed token into the bans and the event log, and counts it here. */
  function tokenFailure(ip: string, reason: string): void {
    count(`api-refused:${reason}`);
    recordTokenFailure(deps, ip, reason);
  }
}

/** OPEN_TOKEN stands for "no token" on the open routes (never matched against anything). */
const OPEN_TOKEN: StoredToken = { id: '', hash: '', name: '', tenant: null, scopes: [], createdAt: '', lastUsedAt: null };

/**
 * recordTokenFailure counts a refused token from `ip` into the HTTP face's BanList and writes
 * the security event log's `failure` line (and a `ban` line when it bans), as a wrong password
 * is. Shared with the status page's login (`onLoginFailure: (ip) => recordTokenFailure(deps, ip,
 * 'ui-bad-token')`), so a source guessing tokens is banned whichever door it knocks on.
 */
export function recordTokenFailure(deps: Pick<ApiDeps, 'bans' | 'events' | 'log' | 'now'>, ip: string, reason: string): void {
  const at = new Date((deps.now ?? Date.now)());
  const ev = deps.events();
  ev?.write(failureLine(at, ip, reason, null, null));
  for (const e of deps.bans()?.fail(ip, undefined) ?? []) {
    if (e.kind !== 'ban') continue;
    ev?.write(banLine(at, ip, e.scope, e.subject, new Date(e.until)));
    deps.log.warn({ ip, scope: e.scope, subject: e.subject, until: new Date(e.until).toISOString() }, 'address banned after repeated token failures');
  }
}
