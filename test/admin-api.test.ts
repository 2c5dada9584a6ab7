/**
 * admin-api.test.ts: the REST admin API (src/admin/api.ts) on a fastify instance of its own on
 * 127.0.0.1 (a real socket, `fetch`), beside a real HTTP face sharing its store, so "provisions
 * with no reload" goes through the face's own request path. Every request the tests send and
 * every answer they get is validated against the OpenAPI document (ajv, JSON Schema 2020-12).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import { API_PREFIX, API_ROUTES, apiFrameworkErrors, registerApi, type ResyncResult } from '../src/admin/api';
import { OPENAPI, type Json, type JsonObject } from '../src/admin/openapi';
import { TokenAuth, createToken } from '../src/admin/tokens';
import { createLogger } from '../src/log';
import { deviceAdminDeps } from '../src/service/phones';
import { resyncPhone } from '../src/service/resync';
import { loadPhonesDomain } from '../src/phones/domain';
import { PhoneService } from '../src/phones/service';
import type { FaceBans } from '../src/limits/banstore';
import type { TokenScope } from '../src/store/repository';
import { hashPassword, startFace, type TestFace } from './helpers/prov';

const KEY = 'apiKeyA0123456789abcdefXYZ';
const MAC = '00:15:65:4a:a9:38';
const YEALINK_UA = 'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:38';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const yaml = (pw: string): string => `http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}, bans: {maxRetry: 4, findTime: 600, banTime: 600}}
dhcp: {enabled: false}
mdns: {enabled: false}
provisioning:
  defaultDomain: a.example
  passwords: {scryptCost: 10}
  tenants:
    a.example:
      auth: url_key+credentials
      urlKey: ${KEY}
      attributes: {sipServer: sip.a.example, sipPassword: tenant-secret}
      users: {zed: {password: "${pw}"}}
      rules:
        - subject: default
          properties:
            net.java.sip.communicator.impl.protocol.sip.acc1.USER_ID: "{{ user.attributes.extension | default('none') }}@{{ tenant.attributes.sipServer }}"
    b.example:
      auth: credentials
      users: {bob: {password: "${pw}"}}
      rules: [{subject: default, properties: {k.who: "B"}}]
phones:
  enabled: true
`;

// ---- the OpenAPI document as a validator ----
const ajv = new Ajv2020({ strict: false, allErrors: true });
const DOC_ID = 'https://provisiond.invalid/openapi';
ajv.addSchema({ $id: DOC_ID, components: (OPENAPI['components'] as JsonObject) }, DOC_ID);
const compiled = new Map<string, ValidateFunction>();
function validatorFor(schema: Json): ValidateFunction {
  const text = JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`);
  let v = compiled.get(text);
  if (v === undefined) {
    v = ajv.compile(JSON.parse(text) as object);
    compiled.set(text, v);
  }
  return v;
}
const obj = (v: Json | undefined): JsonObject => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {});
function operation(method: string, template: string): JsonObject {
  const o = obj(obj(obj(OPENAPI['paths'])[template])[method.toLowerCase()]);
  assert.ok(Object.keys(o).length > 0, `the OpenAPI document has no ${method} ${template}`);
  return o;
}

interface Answer {
  readonly status: number;
  readonly type: string;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
}

describe('admin API', () => {
  let f: TestFace;
  let app: FastifyInstance;
  let base: string;
  const tokens: Record<string, string> = {};
  const resyncs: string[] = [];
  let realResync = false;
  const counted = new Map<string, number>();
  let answered = 0;

  /** call sends one request (its body validated against the document first) and validates the answer. */
  async function call(method: string, template: string, params: Record<string, string>, token: string | undefined, body?: unknown, raw?: { body: string; type: string }): Promise<Answer> {
    const op = operation(method, template);
    if (body !== undefined) {
      const schema = obj(obj(obj(obj(op['requestBody'])['content'])['application/json'])['schema']);
      const v = validatorFor(schema);
      assert.ok(v(body), `request body of ${method} ${template} does not match the document: ${ajv.errorsText(v.errors)}`);
    }
    const path = template.replace(/\{(\w+)\}/g, (_m, k: string) => encodeURIComponent(params[k] ?? assert.fail(`no ${k}`)));
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (raw !== undefined) headers['content-type'] = raw.type;
    const res = await fetch(`${base}${API_PREFIX}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : raw !== undefined ? { body: raw.body } : {}) });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const responses = obj(op['responses']);
    const spec = obj(responses[String(res.status)]);
    assert.ok(Object.keys(spec).length > 0, `${method} ${path} answered ${res.status}, which the document does not list: ${text.slice(0, 300)}`);
    let json: unknown;
    if (res.status !== 204) {
      const content = obj(spec['content']);
      const mediaKey = Object.keys(content).find((k) => k === '*/*' || type.startsWith(k)) ?? assert.fail(`${method} ${path} ${res.status}: content-type ${type} is not one the document lists (${Object.keys(content).join(', ')})`);
      if (mediaKey.endsWith('json')) {
        json = JSON.parse(text);
        const v = validatorFor(obj(content[mediaKey])['schema'] ?? {});
        assert.ok(v(json), `${method} ${path} ${res.status}: the answer does not match the document: ${ajv.errorsText(v.errors)}\n${text.slice(0, 500)}`);
      }
    } else {
      assert.equal(text, '', '204 with a body');
    }
    if (res.status >= 400) {
      assert.match(type, /^application\/problem\+json/, `${method} ${path} ${res.status} is not problem+json`);
      const p = json as { status: number; code: string };
      assert.equal(p.status, res.status);
    }
    answered++;
    return { status: res.status, type, headers: res.headers, text, json };
  }
  const problemCode = (a: Answer): string => (a.json as { code: string }).code;

  before(async () => {
    f = await startFace(yaml(await hashPassword('pw', 10)));
    const repo = f.store.tokens ?? assert.fail('the store keeps no tokens');
    const mk = async (name: string, tenant: string | null, scopes: TokenScope[]): Promise<void> => {
      tokens[name] = (await createToken(repo, { tenant, scopes, name })).token;
    };
    await mk('aWrite', 'a.example', ['read', 'write']);
    await mk('aRead', 'a.example', ['read']);
    await mk('aSecrets', 'a.example', ['read', 'write', 'secrets']);
    await mk('bAll', 'b.example', ['read', 'write', 'secrets']);
    await mk('all', null, ['read', 'secrets']);

    const domain = loadPhonesDomain(f.config.phones);
    const admin = deviceAdminDeps(f.store, f.config.provisioning, domain, f.config.phones.devices);
    const service = new PhoneService(f.config, { phones: f.store.phones, users: f.store.sync?.users, keys: f.store.sync?.keys, domain });
    app = Fastify({ frameworkErrors: apiFrameworkErrors });
    await registerApi(app, {
      store: f.store,
      provisioning: () => f.config.provisioning,
      tokens: new TokenAuth(repo),
      bans: () => f.face.banList(),
      banControls: () => new Map<string, FaceBans>([['http', f.face.banControl() ?? assert.fail('no bans')]]),
      events: () => f.face.eventSink(),
      log: createLogger('silent'),
      count: (n) => counted.set(n, (counted.get(n) ?? 0) + 1),
      phones: () => ({ admin, service, baseUrl: `${f.url}/` }),
      resync: async (mac): Promise<ResyncResult> => {
        // The real thing (src/service/resync.ts, as `devices sync`), once a test asks for it.
        if (realResync) return resyncPhone(f.store, f.config, domain, mac, { reboot: false, deadlineMs: 400 });
        resyncs.push(mac);
        await new Promise((r) => setTimeout(r, 50));
        return { outcome: 'accepted' };
      },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  });
  after(async () => {
    await app?.close();
    await f?.close();
  });

  test('the route table and the OpenAPI document describe the same routes; the document is served and is OpenAPI 3.1', async () => {
    const fromTable = API_ROUTES.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`).sort();
    const fromDoc = Object.entries(obj(OPENAPI['paths'])).flatMap(([p, ops]) => Object.keys(obj(ops)).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    assert.deepEqual(fromDoc, fromTable);
    const r = await call('GET', '/openapi.json', {}, undefined);
    assert.equal(r.status, 200);
    assert.equal((r.json as { openapi: string }).openapi, '3.1.0');
  });

  test("tenant A's write token creates a user and a phone; both provision over the HTTP face with no reload", async () => {
    const before = await fetch(`${f.url}/${KEY}/jitsi`, { method: 'POST', headers: FORM, body: 'username=carol&password=carol%20pw&uuid=u-carol' });
    assert.equal(before.status, 401, 'carol provisions before she exists');
    const u = await call('POST', '/tenants/{tenant}/users', { tenant: 'a.example' }, tokens['aWrite'], { name: 'carol', password: 'carol pw', attributes: { extension: '1003', sip_password: 'Carol-SIP' } });
    assert.equal(u.status, 201, u.text);
    assert.equal(u.headers.get('location'), `${API_PREFIX}/tenants/a.example/users/carol`);
    const doc = await fetch(`${f.url}/${KEY}/jitsi`, { method: 'POST', headers: FORM, body: 'username=carol&password=carol%20pw&uuid=u-carol' });
    const docText = await doc.text();
    assert.equal(doc.status, 200, docText);
    assert.match(docText, /USER_ID=1003@sip\.a\.example/);

    const cfg = await call('PUT', '/tenants/{tenant}/configs/{id}', { tenant: 'a.example', id: 'site' }, tokens['aWrite'], { role: 'default', raw: { sip_proxy_ip: '192.0.2.10', X_admin_password: 'cfg-secret' } });
    assert.equal(cfg.status, 201, cfg.text);
    const ph = await call('POST', '/tenants/{tenant}/phones', { tenant: 'a.example' }, tokens['aWrite'], { mac: MAC.toUpperCase(), profile: 'yealink', model: 'T46S', users: ['carol'] });
    assert.equal(ph.status, 201, ph.text);
    const file = await fetch(`${f.url}/${KEY}/0015654aa938.cfg`, { headers: { 'user-agent': YEALINK_UA } });
    const fileText = await file.text();
    assert.equal(file.status, 200, fileText);
    assert.match(fileText, /192\.0\.2\.10/);
    assert.match(fileText, /Carol-SIP/, "the phone's file carries carol's SIP password (its provisioning window is open)");

    // The client and the phone are now in the inventory, found through the API.
    const clients = await call('GET', '/tenants/{tenant}/clients', { tenant: 'a.example' }, tokens['aRead'], undefined);
    assert.deepEqual((clients.json as { items: { key: string }[] }).items.map((c) => c.key), ['uuid:u-carol']);
    const found = await call('GET', '/tenants/{tenant}/clients', { tenant: 'a.example' }, tokens['aRead'], undefined);
    assert.equal((found.json as { total: number }).total, 1);
    const none = await fetch(`${base}${API_PREFIX}/tenants/a.example/clients?username=nobody`, { headers: { authorization: `Bearer ${tokens['aRead']}` } });
    assert.equal(((await none.json()) as { total: number }).total, 0);
    const phones = await call('GET', '/tenants/{tenant}/phones', { tenant: 'a.example' }, tokens['aRead'], undefined);
    assert.deepEqual((phones.json as { items: { mac: string }[] }).items.map((p) => p.mac), [MAC]);
  });

  test("tenant B's token gets 404 on every tenant route with A's resources (the whole route table)", async () => {
    const params: Record<string, string> = { tenant: 'a.example', name: 'carol', key: 'uuid:u-carol', mac: MAC, id: 'site', subject: 'carol@a.example' };
    const rs = await call('POST', '/tenants/{tenant}/phones/{mac}/resync', { tenant: 'a.example', mac: MAC }, tokens['aWrite'], undefined);
    assert.equal(rs.status, 202, rs.text);
    const opId = (rs.json as { id: string }).id;
    const bodies: Record<string, unknown> = {
      'POST /tenants/{tenant}/users': { name: 'mallory', password: 'x' },
      'PATCH /tenants/{tenant}/users/{name}': { set: { x: 'y' } },
      'PUT /tenants/{tenant}/users/{name}/password': { password: 'stolen' },
      'POST /tenants/{tenant}/phones': { mac: '00:15:65:00:00:01', profile: 'yealink' },
      'PATCH /tenants/{tenant}/phones/{mac}': { reset: true },
      'PUT /tenants/{tenant}/configs/{id}': { raw: {} },
      'POST /tenants/{tenant}/keys': {},
      'POST /tenants/{tenant}/render': { user: 'carol' },
    };
    let walked = 0;
    for (const r of API_ROUTES) {
      if (!r.path.includes(':tenant')) continue;
      const template = r.path.replace(/:(\w+)/g, '{$1}');
      const p = { ...params, ...(template.includes('{id}') && template.includes('operations') ? { id: opId } : {}) };
      const a = await call(r.method, template, p, tokens['bAll'], bodies[`${r.method} ${template}`]);
      assert.equal(a.status, 404, `${r.method} ${template} with B's token: ${a.status} ${a.text}`);
      assert.equal(problemCode(a), 'PROVD_ERR_API_NOT_FOUND');
      walked++;
    }
    assert.ok(walked >= 25, `walked ${walked} tenant routes`);
    // The same routes, A's own token, still find A's resources (so the 404s above are the scoping).
    assert.equal((await call('GET', '/tenants/{tenant}/users/{name}', params, tokens['aRead'])).status, 200);
    assert.equal((await call('GET', '/tenants/{tenant}/operations/{id}', { tenant: 'a.example', id: opId }, tokens['aRead'])).status, 200);
    // Routes without a tenant: B sees only B.
    const t = await call('GET', '/tenants', {}, tokens['bAll']);
    assert.deepEqual((t.json as { items: { name: string }[] }).items.map((x) => x.name), ['b.example']);
    const all = await call('GET', '/tenants', {}, tokens['all']);
    assert.deepEqual((all.json as { items: { name: string }[] }).items.map((x) => x.name), ['a.example', 'b.example']);
    // Carol still provisions, unchanged by B's attempts.
    const doc = await fetch(`${f.url}/${KEY}/jitsi`, { method: 'POST', headers: FORM, body: 'username=carol&password=carol%20pw&uuid=u-carol' });
    assert.equal(doc.status, 200, "B's attempts changed carol's password");
  });

  test('read scope cannot write (403); secrets are hidden without the secrets scope and shown with it', async () => {
    const w = await call('POST', '/tenants/{tenant}/users', { tenant: 'a.example' }, tokens['aRead'], { name: 'dave', password: 'x' });
    assert.equal(w.status, 403);
    assert.equal(problemCode(w), 'PROVD_ERR_API_FORBIDDEN');
    const del = await call('DELETE', '/tenants/{tenant}/users/{name}', { tenant: 'a.example', name: 'carol' }, tokens['aRead']);
    assert.equal(del.status, 403);
    const rot = await call('POST', '/tenants/{tenant}/keys', { tenant: 'a.example' }, tokens['aWrite'], {});
    assert.equal(rot.status, 403, 'a key rotation returns the key: it needs secrets');

    const hidden = await call('GET', '/tenants/{tenant}/users/{name}', { tenant: 'a.example', name: 'carol' }, tokens['aWrite']);
    const hu = hidden.json as { passwordHash?: string; attributes: Record<string, string> };
    assert.equal(hu.passwordHash, undefined);
    assert.equal(hu.attributes['sip_password'], '[redacted]');
    assert.equal(hu.attributes['extension'], '1003');
    const shown = await call('GET', '/tenants/{tenant}/users/{name}', { tenant: 'a.example', name: 'carol' }, tokens['aSecrets']);
    const su = shown.json as { passwordHash?: string; attributes: Record<string, string> };
    assert.match(su.passwordHash ?? '', /^\$scrypt\$/);
    assert.equal(su.attributes['sip_password'], 'Carol-SIP');

    const cfgHidden = await call('GET', '/tenants/{tenant}/configs/{id}/flat', { tenant: 'a.example', id: 'site' }, tokens['aRead']);
    assert.ok(!cfgHidden.text.includes('cfg-secret'), 'a config secret shown without the secrets scope');
    const cfgShown = await call('GET', '/tenants/{tenant}/configs/{id}', { tenant: 'a.example', id: 'site' }, tokens['aSecrets']);
    assert.ok(cfgShown.text.includes('cfg-secret'));
    const ten = await call('GET', '/tenants/{tenant}', { tenant: 'a.example' }, tokens['aRead']);
    assert.ok(!ten.text.includes('tenant-secret'));
    assert.equal((ten.json as { urlKey: boolean }).urlKey, true);
    assert.ok(!ten.text.includes(KEY), 'the urlKey itself is shown');
    const prev = await call('GET', '/tenants/{tenant}/phones/{mac}/preview', { tenant: 'a.example', mac: MAC }, tokens['aWrite']);
    assert.equal(prev.status, 403, 'a phone file carries SIP passwords: the preview needs secrets');
    const prev2 = await call('GET', '/tenants/{tenant}/phones/{mac}/preview', { tenant: 'a.example', mac: MAC }, tokens['aSecrets']);
    assert.equal(prev2.status, 200, prev2.text);
    assert.match(prev2.text, /Carol-SIP/);
    const render = await call('POST', '/tenants/{tenant}/render', { tenant: 'a.example' }, tokens['aSecrets'], { user: 'carol' });
    assert.equal(render.status, 200, render.text);
    assert.match(render.text, /USER_ID=1003@sip\.a\.example/);
    const own = await call('POST', '/tenants/{tenant}/render', { tenant: 'b.example' }, tokens['bAll'], { user: 'bob' });
    assert.match(own.text, /k\.who=B/, "B's own token renders B's document (the check below can fail)");
    // A's token cannot render B's document by naming B in the parameters.
    for (const params of [{ username: 'bob@b.example' }, { domain: 'b.example' }, { username: 'bob', domain: 'b.example' }]) {
      const cross = await call('POST', '/tenants/{tenant}/render', { tenant: 'a.example' }, tokens['aSecrets'], { params });
      assert.ok(!/k\.who=B/.test(cross.text), `B's document rendered for A's token with ${JSON.stringify(params)}: ${cross.text}`);
    }

    const keys = await call('POST', '/tenants/{tenant}/keys', { tenant: 'a.example' }, tokens['aSecrets'], { grace: 60 });
    assert.equal(keys.status, 201, keys.text);
    const key = (keys.json as { key: string }).key;
    const list = await call('GET', '/tenants/{tenant}/keys', { tenant: 'a.example' }, tokens['aSecrets']);
    assert.ok(!list.text.includes(key), 'key list shows a key');
    const viaNew = await fetch(`${f.url}/${key}/jitsi`, { method: 'POST', headers: FORM, body: 'username=carol&password=carol%20pw&uuid=u-carol' });
    assert.equal(viaNew.status, 200, 'the rotated key opens the tenant at once (no reload)');
  });

  test('users: attributes, password, delete, all taking effect at once; resync is an operation with a status resource', async () => {
    const p = await call('PATCH', '/tenants/{tenant}/users/{name}', { tenant: 'a.example', name: 'carol' }, tokens['aWrite'], { set: { extension: '2003' }, unset: ['sip_password'] });
    assert.equal(p.status, 200, p.text);
    const doc = await (await fetch(`${f.url}/${KEY}/jitsi`, { method: 'POST', headers: FORM, body: 'username=carol&password=carol%20pw&uuid=u-carol' })).text();
    assert.match(doc, /USER_ID=2003@/);
    assert.equal((await call('PUT', '/tenants/{tenant}/users/{name}/password', { tenant: 'a.example', name: 'carol' }, tokens['aWrite'], { password: 'new pw' })).status, 204);
    const old = await fetch(`${f.url}/${KEY}/jitsi`, { method: 'POST', headers: FORM, body: 'username=carol&password=carol%20pw&uuid=u-carol' });
    assert.equal(old.status, 401, 'the old password still works');
    const cfgUser = await call('PATCH', '/tenants/{tenant}/users/{name}', { tenant: 'a.example', name: 'zed' }, tokens['aWrite'], { set: { x: 'y' } });
    assert.equal(cfgUser.status, 404, 'a configuration-file user is not a store user');

    const rs = await call('POST', '/tenants/{tenant}/phones/{mac}/resync', { tenant: 'a.example', mac: MAC }, tokens['aWrite'], undefined);
    assert.equal(rs.status, 202);
    const href = rs.headers.get('location') ?? assert.fail('no Location');
    const id = href.split('/').pop() ?? '';
    let status = '';
    for (let i = 0; i < 50 && status !== 'succeeded'; i++) {
      const g = await call('GET', '/tenants/{tenant}/operations/{id}', { tenant: 'a.example', id }, tokens['aRead']);
      status = (g.json as { status: string }).status;
      if (status !== 'succeeded') await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 'succeeded');
    assert.ok(resyncs.includes(MAC));

    // The real resync: the vendor's NOTIFY to the phone's last address (the sip_port a silent socket holds); no answer: failed, unreachable.
    const silent = createSocket('udp4');
    const got: string[] = [];
    silent.on('message', (m) => got.push(m.toString('latin1')));
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const port = String(silent.address().port);
      assert.equal((await call('PATCH', '/tenants/{tenant}/phones/{mac}', { tenant: 'a.example', mac: MAC }, tokens['aWrite'], { options: { sip_port: port } })).status, 200);
      for (let i = 0; i < 50; i++) {
        const ph = await call('GET', '/tenants/{tenant}/phones/{mac}', { tenant: 'a.example', mac: MAC }, tokens['aRead']);
        if ((ph.json as { ip: string | null }).ip !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      realResync = true;
      const real = await call('POST', '/tenants/{tenant}/phones/{mac}/resync', { tenant: 'a.example', mac: MAC }, tokens['aWrite'], undefined);
      assert.equal(real.status, 202);
      let op: { status: string; result: { outcome: string; detail?: string } | null } = { status: 'running', result: null };
      for (let i = 0; i < 100 && op.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        op = (await call('GET', '/tenants/{tenant}/operations/{id}', { tenant: 'a.example', id: (real.json as { id: string }).id }, tokens['aRead'])).json as typeof op;
      }
      assert.equal(op.status, 'failed', JSON.stringify(op));
      assert.equal(op.result?.outcome, 'unreachable', JSON.stringify(op));
      assert.ok(got.some((m) => m.startsWith('NOTIFY sip:')), `no NOTIFY reached the phone's port: ${got.length} datagrams`);
    } finally {
      realResync = false;
      silent.close();
    }

    assert.equal((await call('DELETE', '/tenants/{tenant}/phones/{mac}', { tenant: 'a.example', mac: MAC }, tokens['aWrite'])).status, 204);
    const gone = await fetch(`${f.url}/${KEY}/0015654aa938.cfg`, { headers: { 'user-agent': YEALINK_UA } });
    await gone.text();
    assert.notEqual(gone.status, 200, 'a deleted phone still gets its file');
    assert.equal((await call('DELETE', '/tenants/{tenant}/clients/{key}', { tenant: 'a.example', key: 'uuid:u-carol' }, tokens['aWrite'])).status, 204);
    assert.equal((await call('DELETE', '/tenants/{tenant}/users/{name}', { tenant: 'a.example', name: 'carol' }, tokens['aWrite'])).status, 204);
    assert.equal((await call('GET', '/tenants/{tenant}/users/{name}', { tenant: 'a.example', name: 'carol' }, tokens['aWrite'])).status, 404);
  });

  test('garbled requests: problem+json 400/413/415, never a crash; paging limits', async () => {
    const t = tokens['aWrite'];
    const bad = await call('POST', '/tenants/{tenant}/users', { tenant: 'a.example' }, t, undefined, { body: '{"name": "x", ', type: 'application/json' });
    assert.equal(bad.status, 400);
    const extra = await call('POST', '/tenants/{tenant}/users', { tenant: 'a.example' }, t, undefined, { body: JSON.stringify({ name: 'x', password: 'y', admin: true }), type: 'application/json' });
    assert.equal(extra.status, 400);
    assert.match((extra.json as { detail: string }).detail, /admin/);
    const wrongType = await call('POST', '/tenants/{tenant}/users', { tenant: 'a.example' }, t, undefined, { body: 'name=x', type: 'text/plain' });
    assert.equal(wrongType.status, 415);
    const big = await call('PUT', '/tenants/{tenant}/configs/{id}', { tenant: 'a.example', id: 'big' }, t, undefined, { body: JSON.stringify({ raw: { X_big: 'x'.repeat(300 * 1024) } }), type: 'application/json' });
    assert.equal(big.status, 413);
    const badRaw = await call('PUT', '/tenants/{tenant}/configs/{id}', { tenant: 'a.example', id: 'bad' }, t, { raw: { no_such_key: 1 } });
    assert.equal(badRaw.status, 409);
    assert.match((badRaw.json as { detail: string }).detail, /no_such_key/);
    const over = await fetch(`${base}${API_PREFIX}/tenants/a.example/users?limit=100000`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal(over.status, 400);
    assert.match(over.headers.get('content-type') ?? '', /problem\+json/);
    const unknown = await fetch(`${base}${API_PREFIX}/nothing/here`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal(unknown.status, 404);
    assert.match(unknown.headers.get('content-type') ?? '', /problem\+json/);
    const badMac = await call('GET', '/tenants/{tenant}/phones/{mac}', { tenant: 'a.example', mac: 'zz' }, t);
    assert.equal(badMac.status, 404);
    const badEscape = await fetch(`${base}${API_PREFIX}/tenants/a.example/users/%ZZ`, { headers: { authorization: `Bearer ${t}` } });
    const escBody = await badEscape.text();
    assert.ok(badEscape.status === 400 || badEscape.status === 404, `a malformed escape: ${badEscape.status} ${escBody}`);
    assert.match(badEscape.headers.get('content-type') ?? '', /problem\+json/, `a malformed escape: ${escBody}`);
    const longToken = await call('GET', '/tenants', {}, `pvd_${'x'.repeat(8000)}`);
    assert.equal(longToken.status, 401);
    f.face.banControl()?.lift(() => true);
  });

  test('wrong tokens are counted into the HTTP face\'s bans and the security event log; the source is then banned (429)', async () => {
    const wrong = `pvd_${'A'.repeat(43)}`;
    const logPath = join(f.stateDir, 'security.log');
    const apiLines = (): string[] => readFileSync(logPath, 'utf8').split('\n').filter((l) => l.includes('reason=api-'));
    const linesBefore = apiLines().length;
    const countedBefore = counted.get('api-refused:api-bad-token') ?? 0;
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) seen.push((await call('GET', '/tenants', {}, wrong)).status);
    // The HTTP face's own failed logins from 127.0.0.1 above count in the same list: at most
    // maxRetry (4) token failures, then 429 for every request.
    assert.match(seen.join(','), /^(401,){1,4}429(,429)*$/, seen.join(','));
    const good = await call('GET', '/tenants', {}, tokens['all']);
    assert.equal(good.status, 429, 'a banned source gets 429 even with a good token');
    assert.ok(Number(good.headers.get('retry-after')) > 0);
    const log = readFileSync(join(f.stateDir, 'security.log'), 'utf8');
    assert.match(log, /provisiond\[security\]: failure ip=127\.0\.0\.1 reason=api-bad-token user=- tenant=-\n/);
    assert.match(log, /provisiond\[security\]: ban ip=127\.0\.0\.1 scope=ip subject=127\.0\.0\.1 until=/);
    // The fail2ban filter's regex (config/fail2ban/filter.d/provisiond.conf) matches the failure lines.
    const filter = readFileSync(join(__dirname, '..', '..', 'config', 'fail2ban', 'filter.d', 'provisiond.conf'), 'utf8');
    const re = /failregex = \^ (.*)\$/.exec(filter)?.[1] ?? assert.fail('no failregex');
    const js = new RegExp(`^\\S+ ${re.replace('<ADDR>', '(?<addr>\\S+)').replace(/\\\[/g, '\\[').replace(/\\\]/g, '\\]')}$`);
    const failures = apiLines();
    assert.equal(failures.length - linesBefore, seen.filter((x) => x === 401).length, 'one event line per token failure');
    for (const l of failures) assert.equal(js.exec(l)?.groups?.['addr'], '127.0.0.1', l);
    assert.ok(f.face.banControl()?.list().some((b) => b.scope === 'ip' && b.subject === '127.0.0.1'), "the ban is the HTTP face's");
    assert.equal((counted.get('api-refused:api-bad-token') ?? 0) - countedBefore, failures.length - linesBefore);
    assert.ok((counted.get('api-refused:banned') ?? 0) >= 3);
    assert.ok((counted.get('api-answers:404') ?? 0) >= 25, 'answers counted by status');

    // Every route but the document refuses a wrong token with 401 (the ban lifted whenever it bans again).
    const lift = (): number => f.face.banControl()?.lift(() => true).length ?? 0;
    lift();
    for (const r of API_ROUTES) {
      const template = r.path.replace(/:(\w+)/g, '{$1}');
      const p = { tenant: 'a.example', name: 'carol', key: 'k', mac: MAC, id: 'x', subject: '192.0.2.1' };
      let a = await call(r.method, template, p, wrong);
      if (a.status === 429 && lift() > 0) a = await call(r.method, template, p, wrong);
      assert.equal(a.status, r.need.open === true ? 200 : 401, `${r.method} ${template} with a wrong token`);
    }
    lift();
    assert.ok(answered > 60, `${answered} answers validated against the document`);
  });
});
