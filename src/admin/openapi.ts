/**
 * openapi.ts: the admin API's OpenAPI 3.1 document, served at /api/v1/openapi.json. Its schemas
 * are JSON Schema 2020-12 (OpenAPI 3.1's dialect): the tests validate every request they send and
 * every response they get against it (ajv's 2020 build), so a route that answers something the
 * document does not say fails a test. Keep it beside api.ts's API_ROUTES: a test checks that each
 * route has an operation here and each operation a route.
 */
import { version } from '../version';

/** Json is a JSON value (the document is plain data). */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [k: string]: Json };

/** JsonObject is a JSON object. */
export type JsonObject = { readonly [k: string]: Json };

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
const str: JsonObject = { type: 'string' };
const nullableStr: JsonObject = { type: ['string', 'null'] };
const int: JsonObject = { type: 'integer', minimum: 0 };
const strMap: JsonObject = { type: 'object', additionalProperties: { type: 'string' } };
const arr = (items: JsonObject): JsonObject => ({ type: 'array', items });
const obj = (properties: Record<string, JsonObject>, required: readonly string[] = Object.keys(properties), extra = false): JsonObject => ({
  type: 'object',
  properties,
  required: [...required],
  additionalProperties: extra,
});
const pageOf = (item: string): JsonObject => obj({ items: arr(ref(item)), total: int, limit: { type: 'integer', minimum: 1 }, offset: int });

const SCHEMAS: Record<string, JsonObject> = {
  Problem: obj({ type: str, title: str, status: { type: 'integer', minimum: 400, maximum: 599 }, detail: str, code: { type: 'string', pattern: '^PROVD_ERR_[A-Z_]+$' } }),
  Tenant: obj({ name: str, auth: { enum: ['none', 'credentials', 'url_key', 'url_key+credentials'] }, urlKey: { type: 'boolean' }, attributes: strMap }),
  TenantList: obj({ items: arr(ref('Tenant')) }),
  User: obj(
    { name: str, domain: str, passwordForm: str, attributes: strMap, createdAt: str, updatedAt: str, passwordHash: { type: 'string', description: 'only with the secrets scope' } },
    ['name', 'domain', 'passwordForm', 'attributes', 'createdAt', 'updatedAt'],
  ),
  UserPage: pageOf('User'),
  UserCreate: obj({ name: { type: 'string', minLength: 1, maxLength: 128 }, password: { type: 'string', minLength: 1, maxLength: 1024 }, attributes: strMap }, ['name', 'password']),
  UserPatch: obj({ set: strMap, unset: arr(str) }, []),
  Password: obj({ password: { type: 'string', minLength: 1, maxLength: 1024 } }),
  Client: obj({
    key: str, uuid: nullableStr, hwaddr: nullableStr, ip: str, hostname: nullableStr, osname: nullableStr, arch: nullableStr, build: nullableStr, userAgent: nullableStr,
    username: nullableStr, tenant: str, firstSeen: str, lastSeen: str, lastOutcome: str, requests: int, failures: int, lastFailureAt: nullableStr, lastFailure: nullableStr,
  }),
  ClientPage: pageOf('Client'),
  Phone: obj({
    mac: { type: 'string', pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$' }, tenant: str, profile: str, model: nullableStr, version: nullableStr, serial: nullableStr, ip: nullableStr,
    config: nullableStr, users: arr(str), options: { type: 'object' }, addedAt: str, assignedAt: nullableStr, resetAt: nullableStr, firstSeen: nullableStr, lastSeen: nullableStr,
    previousVersion: nullableStr, versionChangedAt: nullableStr, createdBy: { enum: ['admin', 'auto'] },
  }),
  PhonePage: pageOf('Phone'),
  PhoneResult: obj({ device: ref('Phone'), warnings: arr(str) }),
  PhoneCreate: obj({ mac: str, profile: str, model: str, config: str, users: arr(str), options: strMap }, ['mac', 'profile']),
  PhonePatch: obj({ profile: str, model: str, config: nullableStr, users: arr(str), options: { type: 'object', additionalProperties: nullableStr }, reset: { type: 'boolean' } }, []),
  Operation: obj(
    {
      id: str, kind: { const: 'resync' }, mac: str, status: { enum: ['running', 'succeeded', 'failed'] }, createdAt: str, finishedAt: nullableStr,
      result: { oneOf: [{ type: 'null' }, obj({ outcome: str, detail: str }, ['outcome'])] }, href: str,
    },
    ['id', 'kind', 'mac', 'status', 'createdAt', 'finishedAt', 'result'],
  ),
  Config: obj({ id: str, tenant: str, parents: arr(str), role: { enum: ['default', 'autoprov', 'none'] }, raw: { type: 'object' }, updatedAt: str }),
  ConfigList: obj({ items: arr(ref('Config')) }),
  ConfigPut: obj({ parents: arr(str), raw: { type: 'object' }, role: { enum: ['default', 'autoprov', 'none'] } }, []),
  FlatConfig: obj({ id: str, order: arr(str), raw: { type: 'object' } }),
  Key: obj({ tenant: str, createdAt: nullableStr, validUntil: nullableStr, state: str, urlKey: { const: true } }, ['tenant', 'createdAt', 'validUntil', 'state']),
  KeyList: obj({ items: arr(ref('Key')) }),
  KeyRotate: obj({ grace: { type: 'integer', minimum: 0, maximum: 7776000 } }, []),
  Rotated: obj({ tenant: str, key: str, createdAt: str, previousValidUntil: str, urlKeyWas: { enum: ['none', 'current', 'previous', 'not a key'] } }),
  RenderRequest: obj({ user: str, params: strMap, ip: str, userAgent: str }, []),
  Ban: obj({ face: str, scope: { enum: ['ip', 'user'] }, subject: str, since: str, until: str, reason: str }),
  BanList: obj({ items: arr(ref('Ban')) }),
  Lifted: obj({ lifted: arr(ref('Ban')) }),
  Empty: obj({}, []),
};

/** problem responses every authenticated route may give. */
const problem = (description: string): JsonObject => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const PROBLEMS: Record<string, JsonObject> = {
  '400': problem('malformed request (PROVD_ERR_API_INVALID, or the service\'s code)'),
  '401': problem('no token, or not a valid one (PROVD_ERR_API_AUTH)'),
  '403': problem('the token lacks a scope (PROVD_ERR_API_FORBIDDEN)'),
  '404': problem('no such resource, or another tenant\'s (PROVD_ERR_API_NOT_FOUND)'),
  '409': problem('the change conflicts with the store (exists, still used)'),
  '413': problem('body over the limit (PROVD_ERR_API_INVALID)'),
  '415': problem('not application/json (PROVD_ERR_API_INVALID)'),
  '422': problem('nothing could be rendered (PROVD_ERR_RENDER)'),
  '429': problem('source banned after token failures (PROVD_ERR_API_BANNED)'),
  '500': problem('internal error (PROVD_ERR_INTERNAL)'),
  '503': problem('the store is busy, or no SIP face for a resync'),
};

const json = (schema: JsonObject, description = 'OK'): JsonObject => ({ description, content: { 'application/json': { schema } } });
const body = (name: string): JsonObject => ({ required: true, content: { 'application/json': { schema: ref(name) } } });
const optBody = (name: string): JsonObject => ({ required: false, content: { 'application/json': { schema: ref(name) } } });
const p = (name: string, where: 'path' | 'query' = 'path', schema: JsonObject = str): JsonObject => ({ name, in: where, required: where === 'path', schema });
const PAGING = [p('limit', 'query', { type: 'integer', minimum: 1, maximum: 1000 }), p('offset', 'query', { type: 'integer', minimum: 0 })];
const T = p('tenant');

/** op builds an operation: its parameters, body and answers (the problem answers added). */
function op(summary: string, ok: Record<string, JsonObject>, extra: { parameters?: readonly JsonObject[]; requestBody?: JsonObject; security?: readonly JsonObject[] } = {}): JsonObject {
  return {
    summary,
    ...(extra.parameters ? { parameters: [...extra.parameters] } : {}),
    ...(extra.requestBody ? { requestBody: extra.requestBody } : {}),
    ...(extra.security ? { security: [...extra.security] } : {}),
    responses: { ...ok, ...PROBLEMS },
  };
}
const noContent: Record<string, JsonObject> = { '204': { description: 'done' } };

/** OPENAPI is the document. Paths use OpenAPI's `{name}` templates. */
export const OPENAPI: JsonObject = {
  openapi: '3.1.0',
  jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
  info: {
    title: 'provisiond admin API',
    version,
    description:
      'Tenants (read), users, Jitsi clients, SIP phones, phone configs, provisioning keys, bans, render previews and resync. Bearer tokens from `provisiond token create`; a tenant token sees only its tenant (another tenant\'s resources are 404); secrets need the `secrets` scope.',
  },
  servers: [{ url: '/api/v1' }],
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'pvd_… token (provisiond token create)' } },
    schemas: SCHEMAS,
  },
  paths: {
    '/tenants': { get: op('the tenants this token sees', { '200': json(ref('TenantList')) }) },
    '/tenants/{tenant}': { get: op('one tenant', { '200': json(ref('Tenant')) }, { parameters: [T] }) },
    '/tenants/{tenant}/users': {
      get: op("the tenant's store users", { '200': json(ref('UserPage')) }, { parameters: [T, ...PAGING] }),
      post: op('create a store user', { '201': json(ref('User'), 'created') }, { parameters: [T], requestBody: body('UserCreate') }),
    },
    '/tenants/{tenant}/users/{name}': {
      get: op('one store user', { '200': json(ref('User')) }, { parameters: [T, p('name')] }),
      patch: op("set and unset a user's attributes", { '200': json(ref('User')) }, { parameters: [T, p('name')], requestBody: body('UserPatch') }),
      delete: op('delete a store user', noContent, { parameters: [T, p('name')] }),
    },
    '/tenants/{tenant}/users/{name}/password': { put: op("set a user's password (hashed with scrypt)", noContent, { parameters: [T, p('name')], requestBody: body('Password') }) },
    '/tenants/{tenant}/clients': {
      get: op('find Jitsi clients', { '200': json(ref('ClientPage')) }, {
        parameters: [T, ...PAGING, p('username', 'query'), p('hwaddr', 'query'), p('ip', 'query'), p('q', 'query'), p('failed', 'query', { enum: ['true', 'false'] })],
      }),
    },
    '/tenants/{tenant}/clients/{key}': {
      get: op('one Jitsi client', { '200': json(ref('Client')) }, { parameters: [T, p('key')] }),
      delete: op('forget a Jitsi client', noContent, { parameters: [T, p('key')] }),
    },
    '/tenants/{tenant}/phones': {
      get: op('find SIP phones', { '200': json(ref('PhonePage')) }, { parameters: [T, ...PAGING, p('profile', 'query'), p('model', 'query'), p('config', 'query')] }),
      post: op('record a SIP phone', { '201': json(ref('PhoneResult'), 'created') }, { parameters: [T], requestBody: body('PhoneCreate') }),
    },
    '/tenants/{tenant}/phones/{mac}': {
      get: op('one SIP phone', { '200': json(ref('Phone')) }, { parameters: [T, p('mac')] }),
      patch: op('change a phone: profile, model, config, users, options, reset', { '200': json(ref('PhoneResult')) }, { parameters: [T, p('mac')], requestBody: body('PhonePatch') }),
      delete: op('forget a phone', noContent, { parameters: [T, p('mac')] }),
    },
    '/tenants/{tenant}/phones/{mac}/preview': {
      get: op('the file the phone would get (needs secrets)', { '200': { description: 'the file, byte for byte', content: { '*/*': { schema: { type: 'string' } } } } }, { parameters: [T, p('mac'), p('file', 'query')] }),
    },
    '/tenants/{tenant}/phones/{mac}/resync': {
      post: op('ask the phone to fetch its files now (asynchronous)', { '202': json(ref('Operation'), 'started: GET the Location') }, { parameters: [T, p('mac')], requestBody: optBody('Empty') }),
    },
    '/tenants/{tenant}/operations/{id}': { get: op("an operation's status", { '200': json(ref('Operation')) }, { parameters: [T, p('id')] }) },
    '/tenants/{tenant}/configs': { get: op("the tenant's phone configs", { '200': json(ref('ConfigList')) }, { parameters: [T] }) },
    '/tenants/{tenant}/configs/{id}': {
      get: op('one phone config', { '200': json(ref('Config')) }, { parameters: [T, p('id')] }),
      put: op('create or replace a phone config', { '200': json(ref('Config'), 'replaced'), '201': json(ref('Config'), 'created') }, { parameters: [T, p('id')], requestBody: body('ConfigPut') }),
      delete: op('delete a phone config (refused while a parent or assigned)', noContent, { parameters: [T, p('id')] }),
    },
    '/tenants/{tenant}/configs/{id}/flat': { get: op('the effective raw config after inheritance', { '200': json(ref('FlatConfig')) }, { parameters: [T, p('id')] }) },
    '/tenants/{tenant}/keys': {
      get: op("the tenant's provisioning keys (metadata only)", { '200': json(ref('KeyList')) }, { parameters: [T] }),
      post: op('rotate the provisioning key (the key is returned once; needs write and secrets)', { '201': json(ref('Rotated'), 'rotated') }, { parameters: [T], requestBody: optBody('KeyRotate') }),
    },
    '/tenants/{tenant}/render': {
      post: op('the document a Jitsi client would get (needs secrets)', { '200': { description: 'the Java properties document', content: { 'text/plain': { schema: { type: 'string' } } } } }, { parameters: [T], requestBody: optBody('RenderRequest') }),
    },
    '/bans': { get: op('the live bans this token sees (a tenant token: its users\')', { '200': json(ref('BanList')) }) },
    '/bans/{subject}': { delete: op('lift the bans of an address, user@tenant or user', { '200': json(ref('Lifted')) }, { parameters: [p('subject')] }) },
    '/openapi.json': { get: { summary: 'this document', security: [], responses: { '200': json({ type: 'object' }) } } },
  },
};
