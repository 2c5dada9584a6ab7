import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { handleProvisioning, type HttpRequestInfo } from '../src/http/handler';
import { Engine } from '../src/jitsi/engine';
import { RateLimiter } from '../src/limits/ratelimit';
import { parseConfigText } from '../src/config/load';
import { createLogger } from '../src/log';
import type { DeviceObservation, DeviceRepository } from '../src/store/repository';

// The handler without any server: a request description in, an answer out.
const engine = new Engine(
  parseConfigText('provisioning:\n  tenants:\n    localdomain:\n      requireCredentials: false\n      rules:\n        - {subject: default, properties: {k.os: "{{ device.osname }}"}}\n', 'h.yaml').provisioning,
  { log: createLogger('silent') },
);
const req = (over: Partial<HttpRequestInfo> = {}): HttpRequestInfo => ({
  method: 'POST',
  contentType: 'application/x-www-form-urlencoded',
  body: Buffer.from('os=Linux&uuid=U-1'),
  query: '',
  ip: '192.0.2.7',
  userAgent: 'Jitsi/2.10.5550',
  requestId: 'r1',
  ...over,
});

describe('handleProvisioning (pure handler)', () => {
  test('records the device and answers with the document', async () => {
    const seen: DeviceObservation[] = [];
    const devices: DeviceRepository = {
      upsert: (o) => {
        seen.push(o);
        return Promise.resolve();
      },
      get: () => Promise.resolve(undefined),
      list: () => Promise.resolve([]),
      count: () => Promise.resolve(seen.length),
      pruneUnprovisioned: () => Promise.resolve(0),
    };
    const a = await handleProvisioning(req(), { engine, devices, limiter: new RateLimiter({ rate: 0, burst: 1 }), now: () => new Date('2026-01-01T00:00:00Z') });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'k.os=Linux\n');
    assert.equal(a.headers['content-type'], 'text/plain; charset=ISO-8859-1');
    assert.deepEqual(
      seen.map((o) => [o.key, o.ip, o.osname, o.outcome, o.at]),
      [['uuid:u-1', '192.0.2.7', 'Linux', '200 ok', '2026-01-01T00:00:00.000Z']],
    );
  });

  test('an inventory failure is reported but does not change the answer', async () => {
    const devices: DeviceRepository = {
      upsert: () => Promise.reject(new Error('disk full')),
      get: () => Promise.resolve(undefined),
      list: () => Promise.resolve([]),
      count: () => Promise.resolve(0),
      pruneUnprovisioned: () => Promise.resolve(0),
    };
    const a = await handleProvisioning(req(), { engine, devices, limiter: new RateLimiter({ rate: 0, burst: 1 }) });
    assert.equal(a.status, 200);
    assert.equal(a.inventoryError, 'disk full');
  });

  test('query and body are merged for a POST (body wins); GET reads the query', async () => {
    const deps = { engine, devices: undefined, limiter: new RateLimiter({ rate: 0, burst: 1 }) };
    assert.equal((await handleProvisioning(req({ query: 'os=Query' }), deps)).body, 'k.os=Linux\n');
    assert.equal((await handleProvisioning(req({ method: 'GET', body: undefined, query: 'os=Mac+OS+X' }), deps)).body, 'k.os=Mac OS X\n');
  });

  test('rate limit per client address: 429 with Retry-After', async () => {
    const deps = { engine, devices: undefined, limiter: new RateLimiter({ rate: 1, burst: 1 }, () => 0) };
    assert.equal((await handleProvisioning(req(), deps)).status, 200);
    const a = await handleProvisioning(req(), deps);
    assert.equal(a.status, 429);
    assert.equal(a.headers['retry-after'], '1');
    assert.equal((await handleProvisioning(req({ ip: '192.0.2.8' }), deps)).status, 200);
  });
});
